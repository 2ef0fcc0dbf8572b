//! The Vulkan devices this machine has, as its Vulkan loader lists them. The loader is
//! opened at run time (never linked), so a machine without it runs as before; and it is
//! opened in a child process (this program, hidden command `gpu-probe`), so a driver
//! that crashes while it starts takes the child down, not the run.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::program::OUTER_EXE;

/// The hidden command the child runs.
pub const COMMAND: &str = "gpu-probe";
/// Longest a driver may take to start.
const LIMIT: Duration = Duration::from_secs(20);
/// Below this much device memory a GPU holds too little of any model to be worth it.
pub const MIN_MEMORY: u64 = 256 << 20;

/// One Vulkan physical device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Index in the loader's list (what `GGML_VK_VISIBLE_DEVICES` takes).
    pub index: usize,
    /// The driver's name for it, e.g. "AMD Radeon 780M" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// discrete, integrated, virtual, cpu or other.
    pub kind: String,
    /// Its largest device-local memory heap, bytes.
    pub memory_bytes: u64,
    /// Vulkan version it supports.
    pub api: String,
    /// Its driver's version (NVIDIA's own numbering on NVIDIA, Mesa's elsewhere): part of
    /// the GPU a model probe's verdict holds for, since a new driver may load what the old
    /// one crashed on, or the other way round.
    #[serde(default)]
    pub driver: String,
}

impl Device {
    /// Whether it is a CPU implementation (Mesa's lavapipe, SwiftShader): a correctness
    /// device, never faster than the CPU build.
    pub fn is_cpu(&self) -> bool {
        self.kind == "cpu"
    }

    /// Whether `auto` would run on it (a CPU implementation only when `cpu_ok`).
    pub fn usable(&self, cpu_ok: bool) -> bool {
        (cpu_ok || !self.is_cpu()) && self.memory_bytes >= MIN_MEMORY
    }

    /// "0 AMD Radeon 780M (integrated, 8.0 GiB)".
    pub fn describe(&self) -> String {
        let kind = if self.is_cpu() {
            "CPU implementation"
        } else {
            &self.kind
        };
        format!(
            "{} {} ({kind}, {:.1} GiB, Vulkan {}, driver {})",
            self.index,
            self.name,
            self.memory_bytes as f64 / (1u64 << 30) as f64,
            self.api,
            self.driver
        )
    }
}

/// What the loader says: its devices, or why it could not be asked.
pub type Listing = Result<Vec<Device>, String>;

/// Lists the devices in this process. Used by the child only: a driver may crash here.
pub fn list_here() -> Listing {
    use ash::vk;
    // SAFETY: loads the system's Vulkan loader; its entry points are only called below.
    let entry = unsafe { ash::Entry::load() }
        .map_err(|e| format!("no Vulkan loader (libvulkan.so.1): {e}"))?;
    let app = vk::ApplicationInfo::default()
        .application_name(c"syllabus")
        .api_version(vk::make_api_version(0, 1, 1, 0));
    let info = vk::InstanceCreateInfo::default().application_info(&app);
    // SAFETY: a plain instance, no layers or extensions; destroyed below.
    let instance = unsafe { entry.create_instance(&info, None) }
        .map_err(|e| format!("the Vulkan driver failed to start ({e})"))?;
    // SAFETY: the instance is live until destroyed at the end.
    let found = unsafe { instance.enumerate_physical_devices() };
    let devices = found.map(|all| {
        all.iter()
            .enumerate()
            .map(|(index, &dev)| {
                let (props, mem) = unsafe {
                    (
                        instance.get_physical_device_properties(dev),
                        instance.get_physical_device_memory_properties(dev),
                    )
                };
                let memory_bytes = mem.memory_heaps[..mem.memory_heap_count as usize]
                    .iter()
                    .filter(|h| h.flags.contains(vk::MemoryHeapFlags::DEVICE_LOCAL))
                    .map(|h| h.size)
                    .max()
                    .unwrap_or(0);
                let kind = match props.device_type {
                    vk::PhysicalDeviceType::DISCRETE_GPU => "discrete",
                    vk::PhysicalDeviceType::INTEGRATED_GPU => "integrated",
                    vk::PhysicalDeviceType::VIRTUAL_GPU => "virtual",
                    vk::PhysicalDeviceType::CPU => "cpu",
                    _ => "other",
                };
                let v = props.api_version;
                let d = props.driver_version;
                let driver = if props.vendor_id == 0x10de {
                    format!("{}.{}.{}", d >> 22, (d >> 14) & 0xff, (d >> 6) & 0xff)
                } else {
                    format!(
                        "{}.{}.{}",
                        vk::api_version_major(d),
                        vk::api_version_minor(d),
                        vk::api_version_patch(d)
                    )
                };
                Device {
                    driver,
                    index,
                    name: props
                        .device_name_as_c_str()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    kind: kind.into(),
                    memory_bytes,
                    api: format!(
                        "{}.{}.{}",
                        vk::api_version_major(v),
                        vk::api_version_minor(v),
                        vk::api_version_patch(v)
                    ),
                }
            })
            .collect()
    });
    // SAFETY: nothing created from the instance outlives it.
    unsafe { instance.destroy_instance(None) };
    devices.map_err(|e| format!("the Vulkan driver cannot list its devices ({e})"))
}

/// The child's side: prints the listing as JSON.
pub fn child() -> anyhow::Result<()> {
    let listing: Result<Vec<Device>, String> = list_here();
    let text = serde_json::to_string(&listing)? + "\n";
    super::output::write_stdout(text.as_bytes())
}

/// Lists the devices through a child process of `exe` (a build of this program).
pub fn list(exe: &Path) -> Listing {
    let mut child = Command::new(exe)
        .arg(COMMAND)
        // The child is a variant of nothing: it must not hand over to one itself.
        .env(OUTER_EXE, exe)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start a process to look for GPUs ({e})"))?;
    let mut out = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the Vulkan driver did not start within {} s",
                    LIMIT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("cannot wait for the GPU probe ({e})")),
        }
    };
    let text = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "the Vulkan driver failed while starting ({status})"
        ));
    }
    serde_json::from_str::<Listing>(text.trim())
        .map_err(|e| format!("the GPU probe said something unreadable ({e})"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(kind: &str, memory_bytes: u64) -> Device {
        Device {
            index: 0,
            name: "x".into(),
            kind: kind.into(),
            memory_bytes,
            api: "1.3.0".into(),
            driver: "25.0.7".into(),
        }
    }

    #[test]
    fn a_cpu_implementation_or_a_tiny_gpu_is_not_used_by_itself() {
        assert!(!device("cpu", 16 << 30).usable(false));
        assert!(device("cpu", 16 << 30).usable(true));
        assert!(!device("integrated", 64 << 20).usable(false));
        assert!(device("integrated", 2 << 30).usable(false));
        assert!(device("discrete", 8 << 30)
            .describe()
            .contains("discrete, 8.0 GiB"));
        assert!(device("cpu", 1 << 30)
            .describe()
            .contains("CPU implementation"));
        // The driver is part of the line, and so of a GPU probe verdict's key.
        assert!(device("cpu", 1 << 30)
            .describe()
            .ends_with("driver 25.0.7)"));
    }
}
