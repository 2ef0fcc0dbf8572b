//! The program's private cache folder (extracted packed models and CPU variants, probe
//! verdicts): created 0700, refused when another user owns it, and files in it trusted
//! only when this user owns them and no one else can write them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

/// A folder named by environment variable `key`, unless unset or empty.
pub fn env_dir(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Where extracted models are kept: `SYLLABUS_CACHE`, `XDG_CACHE_HOME/syllabus`,
/// `~/.cache/syllabus`, else a folder of this user's in the system temp folder.
pub fn cache_dir() -> PathBuf {
    env_dir("SYLLABUS_CACHE")
        .or_else(|| env_dir("XDG_CACHE_HOME").map(|c| c.join("syllabus")))
        .or_else(|| std::env::home_dir().map(|h| h.join(".cache").join("syllabus")))
        .unwrap_or_else(|| std::env::temp_dir().join(format!("syllabus-{}", user_id())))
}

#[cfg(unix)]
fn user_id() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn user_id() -> u32 {
    0
}

/// Creates `dir` private to this user (0700), or refuses it when someone else owns it: a
/// folder another user controls could hand this program any model file.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the model cache {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = std::fs::symlink_metadata(dir)
            .with_context(|| format!("cannot read the model cache {}", dir.display()))?;
        if !meta.is_dir() || meta.uid() != user_id() {
            bail!(
                "the model cache {} is not a folder of this user's; set SYLLABUS_CACHE to a folder of your own",
                dir.display()
            );
        }
        if meta.mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot make {} private", dir.display()))?;
        }
    }
    Ok(())
}

/// The cache's folder `sub`, created private (with the cache folder itself) when missing.
pub fn folder(sub: &str) -> anyhow::Result<PathBuf> {
    let dir = cache_dir();
    private_dir(&dir)?;
    let dir = dir.join(sub);
    private_dir(&dir)?;
    Ok(dir)
}

/// What identifies a verified extracted file: its length, change time and inode. Written
/// beside it in the private cache folder, so no other user can forge it.
pub fn identity(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(format!(
            "{} {} {} {}",
            meta.len(),
            meta.ctime(),
            meta.ctime_nsec(),
            meta.ino()
        ))
    }
    #[cfg(not(unix))]
    Some(format!("{} {:?}", meta.len(), meta.modified().ok()?))
}

/// The sha256 of the file at `path` (hex), remembered in the private cache under its
/// identity, so a large model is read through once, not at every run.
pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    let real = path.canonicalize()?;
    let remembered = identity(&real).and_then(|id| {
        let key = super::digest::sha256_hex(format!("{}\n{id}", real.display()).as_bytes());
        folder("sums").ok().map(|dir| dir.join(key))
    });
    if let Some(kept) = remembered.as_ref().filter(|k| is_ours(k)) {
        if let Ok(sum) = std::fs::read_to_string(kept) {
            if sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(sum);
            }
        }
    }
    let sum = super::digest::sha256_file(&real)?;
    if let Some(kept) = remembered {
        // Only a speed-up: a cache that cannot be written costs a read next time.
        let _ = super::output::write_atomic(&kept, sum.as_bytes());
    }
    Ok(sum)
}

/// Whether `path` is a regular file (not a link) this user owns that no one else may
/// write: only then may a stamp or verdict beside it stand for its contents.
pub fn is_ours(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.is_file() && meta.uid() == user_id() && meta.mode() & 0o022 == 0
    }
    #[cfg(not(unix))]
    meta.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_of_ours_that_others_cannot_write_are_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(is_ours(&file));
        for mode in [0o620, 0o602, 0o666] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            assert!(!is_ours(&file), "{mode:o}");
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(!is_ours(&link), "a link is not the file");
        assert!(!is_ours(dir.path()), "a folder is not a file");
        assert!(!is_ours(&dir.path().join("missing")));
    }
}
