//! At start, before anything else: whether the Vulkan build runs, and on which device.
//! The plain file carries it like a CPU variant (see `cpu_variant`) and hands over to it when the
//! loader lists a usable GPU; a machine without the loader, or with only a CPU
//! implementation of Vulkan, runs the CPU builds and pays nothing but the look.

use std::ffi::OsString;
use std::path::Path;

use anyhow::bail;

use super::devices::{self, Device};
use super::gpu::{compiled_backend, wanted, Wanted, FORCE, NOTE};
use super::payload::Embedded;
use super::program::OUTER_EXE;

/// Name of the Vulkan build inside the file.
pub const VULKAN: &str = "vulkan";
/// ggml's own choice of Vulkan devices: set when the device is one it would skip.
const VISIBLE: &str = "GGML_VK_VISIBLE_DEVICES";

/// What runs.
#[derive(Debug)]
pub enum Decision {
    /// The Vulkan build: carried (`Some`, to be started) or this one (`None`).
    Gpu {
        variant: Option<Embedded>,
        /// A device to show llama.cpp alone (a CPU implementation it would skip).
        visible: Option<usize>,
        note: String,
    },
    /// The CPU builds, and why.
    Cpu { note: String },
}

/// The device `auto` runs on: a discrete GPU first, then the one with most memory.
fn best(devices: &[Device]) -> Option<&Device> {
    let cpu_ok = super::start::start().cpu_devices;
    devices
        .iter()
        .filter(|d| d.usable(cpu_ok))
        .max_by_key(|d| (d.kind == "discrete", d.memory_bytes))
}

/// Decides from `SYLLABUS_GPU`, the builds `exe` carries and the devices it lists.
pub fn decide(exe: &Path, carried: &[Embedded]) -> anyhow::Result<Decision> {
    let wanted = wanted()?;
    let variant = carried.iter().find(|v| v.name == VULKAN).cloned();
    let here = compiled_backend() == VULKAN;
    let cpu = |why: String| Ok(Decision::Cpu { note: why });
    if wanted == Wanted::Off {
        return cpu(format!("CPU build: {FORCE}=off"));
    }
    if variant.is_none() && !here {
        if wanted == Wanted::Vulkan {
            bail!(
                "{FORCE}=vulkan: {} carries no Vulkan build (scripts/build-variants.sh writes a file that does)",
                exe.display()
            );
        }
        return cpu("CPU build: this file carries no GPU build".into());
    }
    let found = match devices::list(exe) {
        Ok(found) => found,
        Err(why) if wanted == Wanted::Vulkan => bail!("{FORCE}=vulkan: {why}"),
        Err(why) => return cpu(format!("CPU build: {why}")),
    };
    let (device, visible) = match (best(&found), wanted) {
        (Some(d), _) => (d, d.is_cpu().then_some(d.index)),
        (None, Wanted::Vulkan) => match found.iter().find(|d| !d.is_cpu()).or(found.first()) {
            Some(d) => (d, d.is_cpu().then_some(d.index)),
            None => bail!("{FORCE}=vulkan: the Vulkan loader lists no device"),
        },
        (None, _) => {
            let why =
                match found.as_slice() {
                    [] => "the Vulkan loader lists no device".to_string(),
                    [d] if d.is_cpu() => format!(
                    "the only Vulkan device is a CPU implementation ({}; {FORCE}=vulkan uses it)",
                    d.name
                ),
                    all => format!(
                    "no Vulkan device with {} MiB or more that is not a CPU implementation ({})",
                    devices::MIN_MEMORY >> 20,
                    all.iter().map(Device::describe).collect::<Vec<_>>().join("; ")
                ),
                };
            return cpu(format!("CPU build: {why}"));
        }
    };
    let how = if wanted == Wanted::Vulkan {
        format!("{FORCE}=vulkan")
    } else {
        "auto".into()
    };
    Ok(Decision::Gpu {
        variant: if here { None } else { variant },
        visible,
        note: format!("Vulkan build on {} ({how})", device.describe()),
    })
}

/// OpenMP's wait policy: llama.cpp's CPU threads spin between steps by default, which
/// takes the cores from a driver that needs them (lavapipe's own threads: 8.4x slower
/// here) and only burns power beside a GPU.
const OMP_WAIT: &str = "OMP_WAIT_POLICY";

/// ggml's Vulkan backend spins on the CPU while a graph finishes, which on a CPU
/// implementation takes a core from the work it waits for; serialized, it sleeps instead.
const SERIALIZE: &str = "GGML_VK_SERIALIZE_SUBMISSIONS";

/// The batch from which ggml's scheduler sends the work of layers the CPU holds to the
/// device as well (32 by default). A CPU implementation would do the same sums on the same
/// cores the slow way, after compiling its matrix shaders: a 248-token prompt with one layer
/// on lavapipe took 131 s that way and 0.9 s on the CPU. So never, there.
const OP_OFFLOAD_MIN_BATCH: &str = "GGML_OP_OFFLOAD_MIN_BATCH";

/// The settings llama.cpp's libraries read from the environment for the build that runs;
/// `gpu` when that build is the Vulkan one.
pub fn library_env(visible: Option<usize>, gpu: bool) -> Vec<(&'static str, OsString)> {
    let mut env = Vec::new();
    if let Some(i) = visible {
        env.push((VISIBLE, i.to_string().into()));
        env.push((SERIALIZE, "1".into()));
        env.push((OP_OFFLOAD_MIN_BATCH, i32::MAX.to_string().into()));
    }
    if gpu && std::env::var_os(OMP_WAIT).is_none() {
        env.push((OMP_WAIT, "passive".into()));
    }
    env
}

/// Starts the decision in this process (this build runs it): its note in `start`, and
/// the settings llama.cpp's libraries read in the environment, before any thread starts.
pub fn set_env(visible: Option<usize>, note: &str, gpu: bool) {
    super::start::start().decided(note);
    for (name, value) in library_env(visible, gpu) {
        std::env::set_var(name, value);
    }
}

/// Replaces this process (the Vulkan build) by the outer file's CPU build, with the same
/// arguments; returns only on failure.
pub fn restart_outer(outer: &Path, why: &str) -> anyhow::Error {
    let env = [
        (FORCE, "off".into()),
        (NOTE, format!("CPU build: {why}").into()),
    ];
    super::program::exec(
        outer,
        &env,
        &[
            OUTER_EXE,
            VISIBLE,
            OMP_WAIT,
            SERIALIZE,
            OP_OFFLOAD_MIN_BATCH,
        ],
    )
}

/// After the GPU failed (`why`): an error when it was forced; otherwise says so in one
/// line and hands the process to the CPU build this file carries, or returns for the
/// caller to run on the CPU here.
pub fn fall_back(why: &str) -> anyhow::Result<()> {
    if wanted()? == Wanted::Vulkan {
        bail!("{FORCE}=vulkan: {why}");
    }
    super::stderr::say(&format!("syllabus: {why}; running the CPU build"));
    let start = super::start::start();
    start.decided(&format!("CPU build: {why}"));
    if let Some(outer) = &start.outer {
        // The line must be out before the process is replaced.
        super::stderr::flush(std::time::Duration::from_secs(2));
        let err = restart_outer(outer, why);
        tracing::warn!("cannot restart {}: {err:#}", outer.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(index: usize, kind: &str, gib: u64) -> Device {
        Device {
            index,
            name: format!("d{index}"),
            kind: kind.into(),
            memory_bytes: gib << 30,
            api: "1.3.0".into(),
            driver: "25.0.7".into(),
        }
    }

    #[test]
    fn on_a_cpu_implementation_the_host_layers_keep_their_work() {
        let has = |env: &[(&str, OsString)]| {
            env.iter()
                .any(|(k, v)| *k == OP_OFFLOAD_MIN_BATCH && *v == *i32::MAX.to_string())
        };
        assert!(has(&library_env(Some(0), true)));
        assert!(
            !has(&library_env(None, true)),
            "a real GPU takes the prompt's work"
        );
    }

    #[test]
    fn auto_takes_a_discrete_gpu_over_a_larger_integrated_one() {
        let all = [
            device(0, "cpu", 32),
            device(1, "integrated", 16),
            device(2, "discrete", 8),
        ];
        assert_eq!(best(&all).unwrap().index, 2);
        assert!(best(&all[..1]).is_none());
    }
}
