//! The file that starts the Vulkan build stays as its supervisor: signals sent to it are
//! passed on, the exit status passed back. A GPU driver can crash in the middle of a run
//! (a real one, or Debian 12's lavapipe); when the Vulkan build dies by such a crash before
//! it has finished, the supervisor says so in one line and the run goes on in the CPU
//! build (`serve` starts again; `batch` redoes only the courses not yet written).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Names the file the supervised build creates when its command has returned (so a crash
/// after that, in a driver's teardown, is not taken for a run to do again).
pub const FINISHED: &str = "SYLLABUS_FINISHED_MARK";

/// Signals that mean the process crashed (rather than was stopped from outside).
const CRASHES: [i32; 6] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGABRT,
    libc::SIGFPE,
    libc::SIGSYS,
];

/// How the supervised build ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this status.
    Exited(i32),
    /// It died by this signal, passed on from outside or after its command had returned.
    Killed(i32),
    /// It crashed (this signal) before its command had returned.
    Crashed(&'static str),
}

/// The name of crash signal `signal`.
fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGFPE => "SIGFPE",
        _ => "SIGSYS",
    }
}

/// Decides how a build ended from its wait status: `signal` it died by (if any), its
/// exit code otherwise, whether its command had returned, and whether the signal was
/// one passed on from outside.
fn ended(code: Option<i32>, signal: Option<i32>, finished: bool, passed_on: bool) -> Ended {
    match (code, signal) {
        (Some(code), _) => Ended::Exited(code),
        (None, Some(s)) if CRASHES.contains(&s) && !finished && !passed_on => {
            Ended::Crashed(signal_name(s))
        }
        (None, Some(s)) => Ended::Killed(s),
        (None, None) => Ended::Exited(1),
    }
}

/// Runs `exe` (the Vulkan build) with this process's arguments and `env`, as a child:
/// Ctrl-C and SIGTERM reach it, and how it ended comes back.
#[cfg(unix)]
pub fn run(exe: &Path, env: &[(&str, OsString)]) -> anyhow::Result<Ended> {
    use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
    use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

    use signal_hook::iterator::exfiltrator::WithOrigin;
    use signal_hook::iterator::SignalsInfo;
    use signal_hook::low_level::siginfo::Cause;

    let mark = marker();
    let _ = std::fs::remove_file(&mark);
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "syllabus".into());
    let mut command = std::process::Command::new(exe);
    command.arg0(arg0).args(args).env(FINISHED, &mark);
    for (name, value) in env {
        command.env(name, value);
    }
    // Before the child exists, so no signal falls between its start and the watch.
    let mut signals =
        SignalsInfo::<WithOrigin>::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT])
            .context("cannot watch signals for the Vulkan build")?;
    let handle = signals.handle();
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    static CHILD: AtomicI32 = AtomicI32::new(0);
    static PASSED_ON: AtomicBool = AtomicBool::new(false);
    CHILD.store(child.id() as i32, Ordering::SeqCst);
    let watcher = std::thread::spawn(move || {
        for origin in signals.forever() {
            // Ctrl-C on the terminal reaches the whole process group, the child too:
            // passed on again, it would count as a second Ctrl-C.
            if origin.signal == libc::SIGINT && !matches!(origin.cause, Cause::Sent(_)) {
                continue;
            }
            PASSED_ON.store(true, Ordering::SeqCst);
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(CHILD.load(Ordering::SeqCst), origin.signal) };
        }
    });
    let status = child.wait().context("cannot wait for the Vulkan build")?;
    handle.close();
    let _ = watcher.join();
    // The watch's handlers stay installed (doing nothing) when it ends; the run may go on
    // here, whose own watch (`interrupt`) takes SIGINT and SIGTERM: the others get their
    // default back, so a closed terminal still ends it.
    // SAFETY: restoring the default action of two signals nothing else here handles.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_DFL);
        libc::signal(libc::SIGQUIT, libc::SIG_DFL);
    }
    // Written by the build itself, not by a child of it (a probe) that inherited the name.
    let finished = std::fs::read_to_string(&mark).is_ok_and(|pid| pid == child.id().to_string());
    let _ = std::fs::remove_file(&mark);
    Ok(ended(
        status.code(),
        status.signal(),
        finished,
        PASSED_ON.load(Ordering::SeqCst),
    ))
}

/// Runs a child build: needs a Unix system.
#[cfg(not(unix))]
pub fn run(_exe: &Path, _env: &[(&str, String)]) -> anyhow::Result<Ended> {
    anyhow::bail!("starting another build of this program needs a Unix system")
}

/// Where the supervised build marks its end: private to this process.
fn marker() -> PathBuf {
    std::env::temp_dir().join(format!("syllabus-{}.finished", std::process::id()))
}

/// In a supervised build, once its command has returned: marks the run finished (with
/// this process's id: its own children inherit the name too).
pub fn finished() {
    if let Some(mark) = std::env::var_os(FINISHED) {
        let _ = std::fs::write(mark, std::process::id().to_string());
    }
}

/// Ends this process as the supervised build ended: its exit status, or dying by the
/// same signal (so a shell sees what it would have seen).
pub fn exit_as(ended: &Ended) -> ! {
    super::stderr::flush(std::time::Duration::from_secs(2));
    match *ended {
        Ended::Exited(code) => std::process::exit(code),
        Ended::Killed(signal) => {
            // SAFETY: restoring a signal's default action and raising it on ourselves.
            unsafe {
                libc::signal(signal, libc::SIG_DFL);
                libc::raise(signal);
            }
            std::process::exit(128 + signal)
        }
        Ended::Crashed(_) => std::process::exit(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_crash_before_the_end_runs_again() {
        assert_eq!(ended(Some(0), None, true, false), Ended::Exited(0));
        assert_eq!(ended(Some(3), None, false, false), Ended::Exited(3));
        assert_eq!(
            ended(None, Some(libc::SIGSEGV), false, false),
            Ended::Crashed("SIGSEGV")
        );
        assert_eq!(
            ended(None, Some(libc::SIGABRT), false, false),
            Ended::Crashed("SIGABRT")
        );
        // After its command returned (a driver's teardown), or passed on from outside.
        assert_eq!(
            ended(None, Some(libc::SIGSEGV), true, false),
            Ended::Killed(libc::SIGSEGV)
        );
        assert_eq!(
            ended(None, Some(libc::SIGSEGV), false, true),
            Ended::Killed(libc::SIGSEGV)
        );
        // Killed from outside (the out-of-memory killer, a user): not a crash to redo.
        assert_eq!(
            ended(None, Some(libc::SIGKILL), false, false),
            Ended::Killed(libc::SIGKILL)
        );
    }
}
