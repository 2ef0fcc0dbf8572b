//! The GPU flags shared by every command that loads a model: how many layers go to the GPU
//! and on which device, checked into an `Offload`.

use clap::Args;

use super::usage::UsageError;
use crate::engine::llama::offload::{Layers, Offload};

/// `--gpu-layers` and `--device`.
#[derive(Debug, Clone, Default, Args)]
pub struct GpuArgs {
    /// Model layers on the GPU when the GPU build runs: a number, 0 (none) or auto (as
    /// many as fit beside the KV cache of --ctx) [default: auto].
    #[arg(long, value_name = "N|auto")]
    pub gpu_layers: Option<String>,
    /// The GPU to use when there are several: llama.cpp's name (Vulkan0), its index
    /// among the GPUs, or part of its description (see `syllabus cpu info`).
    #[arg(long, value_name = "NAME|INDEX")]
    pub device: Option<String>,
}

impl GpuArgs {
    /// Checks the flags; `room_cells` is the run's KV budget (`--ctx`).
    pub fn plan(&self, room_cells: usize) -> Result<Offload, UsageError> {
        let layers = match self.gpu_layers.as_deref() {
            None => Layers::Auto,
            Some(raw) => raw
                .parse::<Layers>()
                .map_err(|why| UsageError(format!("--gpu-layers: {why}")))?,
        };
        let device = match self.device.as_deref().map(str::trim) {
            Some("") => return Err(UsageError("--device is empty".into())),
            other => other.map(str::to_string),
        };
        Ok(Offload {
            layers,
            device,
            room_cells,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_a_count_or_auto() {
        let args = |l: &str| GpuArgs {
            gpu_layers: Some(l.into()),
            device: None,
        };
        assert_eq!(args("auto").plan(4096).unwrap().layers, Layers::Auto);
        assert_eq!(args("12").plan(4096).unwrap().layers, Layers::Count(12));
        assert!(args("-1")
            .plan(4096)
            .unwrap_err()
            .0
            .contains("--gpu-layers"));
        assert!(GpuArgs::default().plan(1).is_ok());
    }
}
