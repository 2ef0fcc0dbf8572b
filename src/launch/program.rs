//! The running program's own file: where packed payloads and the `models` folder beside it
//! are found, also from inside a CPU variant started from it.

use std::path::PathBuf;

use anyhow::Context;

/// Set in a CPU variant's environment (see `cpu_variant`): the program it was started from.
pub use super::start::OUTER_EXE;

/// The program file: the outer executable when this process is its CPU variant.
pub fn program_path() -> anyhow::Result<PathBuf> {
    if let Some(outer) = &super::start::start().outer {
        return Ok(outer.clone());
    }
    std::env::current_exe().context("cannot find the running executable")
}

/// Replaces this process by `exe` with the same arguments, `env` set and `remove` unset;
/// returns only on failure.
#[cfg(unix)]
pub fn exec(
    exe: &std::path::Path,
    env: &[(&str, std::ffi::OsString)],
    remove: &[&str],
) -> anyhow::Error {
    use std::os::unix::process::CommandExt as _;
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "syllabus".into());
    let mut command = std::process::Command::new(exe);
    command.arg0(arg0).args(args);
    for name in remove {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    anyhow::Error::from(command.exec())
}

/// Replaces this process: needs a Unix system.
#[cfg(not(unix))]
pub fn exec(
    _exe: &std::path::Path,
    _env: &[(&str, std::ffi::OsString)],
    _remove: &[&str],
) -> anyhow::Error {
    anyhow::anyhow!("starting another build of this program needs a Unix system")
}
