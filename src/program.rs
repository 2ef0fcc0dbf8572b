//! The running program's own file: where packed payloads and the `models` folder beside it
//! are found, also from inside a CPU variant started from it.

use std::path::PathBuf;

use anyhow::Context;

/// Set in a CPU variant's environment (see `cpu`): the program it was started from.
pub const OUTER_EXE: &str = "SYLLABUS_OUTER_EXE";

/// The program file: the outer executable when this process is its CPU variant.
pub fn program_path() -> anyhow::Result<PathBuf> {
    if let Some(outer) = std::env::var_os(OUTER_EXE).filter(|o| !o.is_empty()) {
        return Ok(PathBuf::from(outer));
    }
    std::env::current_exe().context("cannot find the running executable")
}
