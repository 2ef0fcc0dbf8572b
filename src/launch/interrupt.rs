//! Ctrl-C and SIGTERM: the process stops at once, whatever runs (loading, decoding, a
//! daemon call, packing), with one line and exit status 128 + the signal (130 for Ctrl-C),
//! after removing the temporary files it registered. Finished files are never touched:
//! outputs are written to registered temporary files and renamed only when complete.
//! A command that stops gracefully (`serve`) sets a hook: the first signal calls it, a
//! second one stops the process at once.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use signal_hook::consts::{SIGINT, SIGTERM};

/// Called on the first signal instead of stopping, when set.
static ON_SIGNAL: Mutex<Option<Box<dyn FnOnce() + Send>>> = Mutex::new(None);

/// Makes the next Ctrl-C or SIGTERM call `hook` instead of stopping the process; a
/// signal after that stops it at once.
pub fn on_signal(hook: Box<dyn FnOnce() + Send>) {
    *ON_SIGNAL.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
}

/// Temporary files to remove when the process is interrupted.
static TEMPORARIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn temporaries() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    TEMPORARIES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the thread that handles Ctrl-C and SIGTERM for the whole process.
pub fn install() -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let hook = ON_SIGNAL.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(hook) = hook {
                    hook();
                    continue;
                }
                for path in temporaries().iter() {
                    let _ = std::fs::remove_file(path);
                }
                let _ = writeln!(std::io::stderr(), "syllabus: interrupted");
                // SAFETY: `_exit` ends the process without running destructors or atexit
                // handlers, which could race llama.cpp's threads still computing.
                unsafe { libc::_exit(128 + signal) };
            }
        })?;
    Ok(())
}

/// A registered temporary file; unregistered when dropped (once renamed or removed).
#[derive(Debug)]
pub struct Registered(PathBuf);

/// Registers `path` for removal if the process is interrupted.
pub fn register(path: &Path) -> Registered {
    temporaries().push(path.to_path_buf());
    Registered(path.to_path_buf())
}

impl Drop for Registered {
    fn drop(&mut self) {
        temporaries().retain(|p| p != &self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_lasts_while_the_guard_lives() {
        let path = Path::new("/nonexistent/.syllabus-test.tmp");
        let guard = register(path);
        assert!(temporaries().iter().any(|p| p == path));
        drop(guard);
        assert!(!temporaries().iter().any(|p| p == path));
    }
}
