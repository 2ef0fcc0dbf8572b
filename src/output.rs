//! Writing output: files atomically (a temporary file in the target folder, then a
//! rename), and standard output that may be a closed pipe.
//!
//! An interrupted or failed run never leaves a half-written file, and an existing file is
//! replaced only by a complete new one.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

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
    let mut builder = tempfile::Builder::new();
    builder.prefix(".syllabus-").suffix(".tmp");
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
    let mut tmp = builder
        .tempfile_in(parent(path))
        .with_context(|| format!("cannot create a temporary file beside {}", path.display()))?;
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
