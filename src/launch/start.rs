//! What the start decided, as one value the rest of the program reads: the user's build
//! settings (`SYLLABUS_GPU`, `SYLLABUS_CPU`, `SYLLABUS_GPU_CPU_DEVICES`) and what the file
//! that started this process passed across its exec (`SYLLABUS_OUTER_EXE`,
//! `SYLLABUS_GPU_NOTE`), read from the environment once; then why this build runs, set
//! here when the start or a fallback decides it (never by `set_var` on a running process).

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// Forces the GPU build on or off (`gpu`).
pub const GPU_FORCE: &str = "SYLLABUS_GPU";
/// Forces a CPU variant (`cpu_variant`).
pub const CPU_FORCE: &str = "SYLLABUS_CPU";
/// Carries the start's decision (one line) into the build that runs.
pub const NOTE: &str = "SYLLABUS_GPU_NOTE";
/// Set in a carried build's environment: the program file it was started from.
pub const OUTER_EXE: &str = "SYLLABUS_OUTER_EXE";
/// `SYLLABUS_GPU_CPU_DEVICES=1`: `auto` counts CPU implementations of Vulkan as GPUs, so
/// the GPU path and its fallbacks can be tested on a machine without a GPU.
pub const CPU_DEVICES: &str = "SYLLABUS_GPU_CPU_DEVICES";

/// The start's settings and decision.
#[derive(Debug)]
pub struct Start {
    /// `SYLLABUS_GPU` as set (blank when unset).
    pub gpu_asked: String,
    /// `SYLLABUS_CPU` as set (blank when unset).
    pub cpu_asked: String,
    /// Whether `auto` counts CPU implementations of Vulkan as GPUs.
    pub cpu_devices: bool,
    /// The file this process was started from, when it is a build carried in that file.
    pub outer: Option<PathBuf>,
    /// Why this build runs, once decided.
    note: Mutex<Option<String>>,
}

static START: OnceLock<Start> = OnceLock::new();

/// The start's value, read from the environment on first use.
pub fn start() -> &'static Start {
    START.get_or_init(|| {
        let text = |name: &str| std::env::var(name).unwrap_or_default();
        Start {
            gpu_asked: text(GPU_FORCE),
            cpu_asked: text(CPU_FORCE),
            cpu_devices: text(CPU_DEVICES) == "1",
            outer: std::env::var_os(OUTER_EXE)
                .filter(|o| !o.is_empty())
                .map(PathBuf::from),
            note: Mutex::new(std::env::var(NOTE).ok().filter(|n| !n.is_empty())),
        }
    })
}

impl Start {
    /// Why this build runs (one line), when anything decided it.
    pub fn note(&self) -> Option<String> {
        self.note.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records why this build runs.
    pub fn decided(&self, why: &str) {
        *self.note.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.to_string());
    }
}
