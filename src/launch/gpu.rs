//! What is asked of the GPU (`SYLLABUS_GPU=off|auto|vulkan`), what this build can use, and
//! the start's decision as the build that runs sees it. `devices` lists the Vulkan devices
//! (loader opened at run time, in a child process); `vulkan` decides at start whether the
//! carried Vulkan build runs and falls back from it; `supervise` watches it from the file
//! that started it; `engine::llama::offload` puts a model's layers on the device. A GPU
//! that fails (or whose driver crashes mid-run) falls back to the CPU build with one line,
//! unless it was forced; the CPU builds are never worse off for a GPU being there.

use anyhow::bail;

/// Forces the GPU build on or off; the start's decision (one line) into the build that runs.
pub use super::start::{GPU_FORCE as FORCE, NOTE};

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

/// What `SYLLABUS_GPU` asks for (read at start).
pub fn wanted() -> anyhow::Result<Wanted> {
    let raw = &super::start::start().gpu_asked;
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
    super::start::start().note()
}

/// A GPU that failed where the CPU would not have: the caller falls back to the CPU.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GpuFailed(pub String);
