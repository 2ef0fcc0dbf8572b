//! Writing output: files atomically (a temporary file in the target folder, then a
//! rename), and standard output that may be a closed pipe.
//!
//! An interrupted or failed run never leaves a half-written file, and an existing file is
//! replaced only by a complete new one. Temporary files are named `.syllabus-<pid>-*.tmp`
//! and registered with `interrupt`; one whose process is gone is removed when a new one is
//! made in its folder.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tempfile::NamedTempFile;

use super::interrupt::{self, Registered};

/// An output file whose temporary file exists from the start of the run: an unwritable
/// folder fails before any model work, and the file appears only when `commit` renames it.
#[derive(Debug)]
pub struct Target {
    path: PathBuf,
    tmp: NamedTempFile,
    _registered: Registered,
}

impl Target {
    /// `create` for a file that is only written when asked for (`--timings`, `--json`, ...).
    pub fn optional(path: Option<&Path>) -> anyhow::Result<Option<Self>> {
        path.map(|p| Self::create(p, None)).transpose()
    }

    /// Creates the temporary file for `path` (mode `mode`, else as `write_atomic_with`).
    pub fn create(path: &Path, mode: Option<u32>) -> anyhow::Result<Self> {
        check_writable(path)?;
        let tmp = temporary(path, mode)?;
        let registered = interrupt::register(tmp.path());
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            _registered: registered,
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` and renames the file into place.
    pub fn commit(mut self, contents: &[u8]) -> anyhow::Result<()> {
        let path = self.path.clone();
        self.tmp
            .as_file_mut()
            .write_all(contents)
            .and_then(|()| self.tmp.as_file().sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        self.tmp
            .persist(&path)
            .with_context(|| format!("cannot move the finished file to {}", path.display()))?;
        Ok(())
    }
}

/// Keeps the file at `path`, if there is one, beside it under the first free name
/// `STEM.previous-N.EXT` (a hard link where the file system allows, else a copy), so a
/// file written over it next loses nothing; returns that name.
pub fn keep_previous(path: &Path) -> anyhow::Result<Option<PathBuf>> {
    if !path.is_file() {
        return Ok(None);
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let ext = path
        .extension()
        .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    for n in 1..10_000 {
        let kept = path.with_file_name(format!("{stem}.previous-{n}{ext}"));
        if kept.symlink_metadata().is_ok() {
            continue;
        }
        let linked =
            std::fs::hard_link(path, &kept).or_else(|_| std::fs::copy(path, &kept).map(|_| ()));
        linked.with_context(|| {
            format!(
                "cannot keep the previous version of {} as {}",
                path.display(),
                kept.display()
            )
        })?;
        return Ok(Some(kept));
    }
    anyhow::bail!(
        "{} has 9,999 previous versions beside it; move some away",
        path.display()
    )
}

/// A private temporary file beside `path`, named for this process; stale ones of ours in
/// the folder (their process gone) are removed first.
fn temporary(path: &Path, mode: Option<u32>) -> anyhow::Result<NamedTempFile> {
    let dir = parent(path);
    remove_stale(dir);
    let prefix = format!(".syllabus-{}-{}-", std::process::id(), host_mark());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(match (mode, std::fs::metadata(path)) {
            (Some(mode), _) => std::fs::Permissions::from_mode(mode),
            (None, Ok(m)) => m.permissions(),
            (None, Err(_)) => std::fs::Permissions::from_mode(0o644),
        });
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder.tempfile_in(dir).with_context(|| {
        format!(
            "cannot create a file in {} for {}",
            dir.display(),
            path.display()
        )
    })
}

/// Temporary files of another machine (a shared folder) are left this long before they
/// count as abandoned: their process cannot be asked about from here.
const FOREIGN_STALE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// This machine, as temporary file names carry it: 8 hex digits of its host name's sha256.
fn host_mark() -> &'static str {
    static MARK: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MARK.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .unwrap_or_default();
        super::digest::sha256_hex(host.trim().as_bytes())[..8].to_string()
    })
}

/// Removes `.syllabus-<pid>-<host>-*.tmp` files in `dir` left by a run that ended without
/// them: of this machine, when their process no longer runs; of another machine (a pid
/// here says nothing about a process there) or of an older version, only when untouched
/// for `FOREIGN_STALE`.
fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(".syllabus-"))
            .filter(|n| n.ends_with(".tmp"))
        else {
            continue;
        };
        let mut parts = rest.split('-');
        let Some(pid) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let here = parts.next() == Some(host_mark());
        let stale = if here {
            pid != std::process::id() && !process_runs(pid)
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > FOREIGN_STALE))
        };
        if stale {
            tracing::info!(file = %entry.path().display(), "removing a temporary file left by an interrupted run");
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` runs (Linux: `/proc/<pid>`); elsewhere assumed to, to keep its files.
fn process_runs(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// Checks before any work that `path` can be written: its folder exists and it is not a folder.
pub fn check_writable(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!(
            "output path {} is a directory; give a file name",
            path.display()
        );
    }
    let dir = parent(path);
    if !dir.is_dir() {
        anyhow::bail!(
            "output folder {} does not exist; create it first",
            dir.display()
        );
    }
    Ok(())
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}

/// Writes `contents` to `path` atomically.
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    write_atomic_with(path, None, |file| {
        file.write_all(contents)
            .with_context(|| format!("cannot write {}", path.display()))
    })
}

/// Fills a temporary file beside `path` with `write`, then renames it over `path`. An
/// error from `write` (or anything after) leaves no file behind. On Unix the file gets
/// `mode`; without one, a replaced file keeps its mode and a new one is readable by
/// others, as `>` would make it (temporary files are otherwise private).
pub fn write_atomic_with(
    path: &Path,
    mode: Option<u32>,
    write: impl FnOnce(&mut std::fs::File) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut tmp = temporary(path, mode)?;
    let _registered = interrupt::register(tmp.path());
    write(tmp.as_file_mut())?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot move the finished file to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_without_leaving_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.md");
        write_atomic(&path, b"one").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644, "new files are readable by others");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        write_atomic(&path, b"two").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "a replaced file keeps its mode");
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn targets_exist_as_temporaries_until_committed_and_stale_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        // A temporary file of a process of this machine that is gone (pid 0 never runs a
        // program); one of another machine sharing the folder, whose pid says nothing here.
        let gone = format!(".syllabus-0-{}-abc.tmp", host_mark());
        std::fs::write(dir.path().join(&gone), b"x").unwrap();
        std::fs::write(dir.path().join(".syllabus-0-0badc0de-abc.tmp"), b"x").unwrap();
        std::fs::write(dir.path().join(".syllabus-notes.tmp"), b"kept: not ours").unwrap();
        let t = Target::create(&dir.path().join("s.md"), None).unwrap();
        let names = || -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let before = names();
        assert_eq!(before.len(), 3, "{before:?}");
        assert!(before
            .iter()
            .any(|n| n.starts_with(&format!(".syllabus-{}-", std::process::id()))));
        t.commit(b"done").unwrap();
        assert_eq!(
            names(),
            [
                ".syllabus-0-0badc0de-abc.tmp",
                ".syllabus-notes.tmp",
                "s.md"
            ]
        );
        assert!(
            Target::create(Path::new("/proc/x.md"), None).is_err(),
            "fails up front"
        );
    }

    #[test]
    fn missing_folder_and_directory_targets_are_refused_up_front() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_writable(&dir.path().join("nope/s.md"))
            .unwrap_err()
            .to_string()
            .contains("does not exist"));
        assert!(check_writable(dir.path())
            .unwrap_err()
            .to_string()
            .contains("is a directory"));
        assert!(check_writable(Path::new("s.md")).is_ok());
    }
}
