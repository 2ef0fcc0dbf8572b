//! Where a loaded model runs: the device record of the run table and the timing record.

use serde::Serialize;

/// Where a loaded model runs, for the run table and the timing record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceUse {
    /// "Vulkan", "CUDA", or "CPU".
    pub backend: String,
    /// llama.cpp's name for the device ("Vulkan0"), or "CPU".
    pub device: String,
    /// The driver's description of it.
    pub description: String,
    /// Layers on the device (a daemon does not say).
    pub layers_offloaded: Option<u32>,
    /// Layers the model has (a daemon does not say).
    pub layers: Option<u32>,
    /// Device memory the model took (the device's free memory before and after loading),
    /// when the device reports it.
    pub memory_bytes: Option<u64>,
    /// Why this device: the start's decision or a fallback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl DeviceUse {
    /// One line for the run table: "Vulkan0 (llvmpipe ...), 30 of 30 layers, 120 MB".
    pub fn describe(&self) -> String {
        if self.layers_offloaded == Some(0) {
            return "CPU".into();
        }
        let layers = match (self.layers_offloaded, self.layers) {
            (Some(n), Some(of)) => format!(", {n} of {of} layers"),
            _ => String::new(),
        };
        let memory = self
            .memory_bytes
            .map(|b| format!(", {:.0} MB of device memory", b as f64 / 1e6))
            .unwrap_or_default();
        format!("{} ({}){layers}{memory}", self.device, self.description)
    }
}
