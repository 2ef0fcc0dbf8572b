//! The GPU, when there is one. `devices` lists the Vulkan devices (loader opened at run
//! time, in a child process); `start` decides at start whether the carried Vulkan build
//! runs (`SYLLABUS_GPU=off|auto|vulkan`); `offload` puts a model's layers on the device
//! when that build runs; `supervise` watches it from the file that started it. A GPU that
//! fails (or whose driver crashes mid-run) falls back to the CPU build with one line,
//! unless it was forced; the CPU builds are never worse off for a GPU being there.

pub mod devices;
pub mod offload;
pub mod start;
pub mod supervise;

use anyhow::bail;

/// Forces the GPU build on or off.
pub const FORCE: &str = "SYLLABUS_GPU";
/// Carries the start's decision (one line) into the build that runs.
pub const NOTE: &str = "SYLLABUS_GPU_NOTE";

/// What `SYLLABUS_GPU` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// Never the GPU.
    Off,
    /// The GPU build on a usable GPU (default).
    Auto,
    /// The Vulkan build on any Vulkan device, a CPU implementation included; fails when
    /// it cannot run.
    Vulkan,
}

/// Reads `SYLLABUS_GPU`.
pub fn wanted() -> anyhow::Result<Wanted> {
    let raw = std::env::var(FORCE).unwrap_or_default();
    Ok(match raw.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => Wanted::Auto,
        "off" | "0" | "no" | "cpu" => Wanted::Off,
        "vulkan" | "on" | "1" => Wanted::Vulkan,
        other => bail!("{FORCE}={other} is not a choice: use off, auto or vulkan"),
    })
}

/// The GPU backend this build was compiled with: "vulkan", "cuda", or "none".
pub fn compiled_backend() -> &'static str {
    if cfg!(feature = "vulkan") {
        "vulkan"
    } else if cfg!(feature = "cuda") {
        "cuda"
    } else {
        "none"
    }
}

/// Why this build runs (the start's one line), when the start decided anything.
pub fn note() -> Option<String> {
    std::env::var(NOTE).ok().filter(|n| !n.is_empty())
}

/// A GPU that failed where the CPU would not have: the caller falls back to the CPU.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GpuFailed(pub String);

/// After the GPU failed (`why`): an error when it was forced; otherwise says so in one
/// line and hands the process to the CPU build this file carries, or returns for the
/// caller to run on the CPU here.
pub fn fall_back(why: &str) -> anyhow::Result<()> {
    if wanted()? == Wanted::Vulkan {
        bail!("{FORCE}=vulkan: {why}");
    }
    crate::stderr::say(&format!("syllabus: {why}; running the CPU build"));
    std::env::set_var(NOTE, format!("CPU build: {why}"));
    if let Some(outer) = std::env::var_os(crate::program::OUTER_EXE) {
        // The line must be out before the process is replaced.
        crate::stderr::flush(std::time::Duration::from_secs(2));
        let err = start::restart_outer(std::path::Path::new(&outer), why);
        tracing::warn!("cannot restart {}: {err:#}", outer.to_string_lossy());
    }
    Ok(())
}

/// Lines for `--version` and `cpu info`: the GPU backend of this build and why it runs;
/// with `devices`, the Vulkan devices the loader lists and those llama.cpp uses.
pub fn describe(devices: bool) -> String {
    let mut text = format!(
        "gpu backend: {}; {}\n",
        compiled_backend(),
        note().unwrap_or_else(|| "CPU build".into())
    );
    if !devices {
        return text;
    }
    let listing = std::env::current_exe()
        .map_err(|e| e.to_string())
        .and_then(|exe| self::devices::list(&exe));
    text += &match listing {
        Ok(found) if found.is_empty() => "vulkan devices: none listed\n".to_string(),
        Ok(found) => found
            .iter()
            .map(|d| format!("vulkan device {}\n", d.describe()))
            .collect(),
        Err(why) => format!("vulkan devices: none ({why})\n"),
    };
    if compiled_backend() != "none" {
        text += &offload::llama_devices();
    }
    text
}
