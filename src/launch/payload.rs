//! `syllabus pack`: one executable with the model inside, for machines with nothing else.
//!
//! Layout of a packed file: the plain executable, zero padding to a 32-byte boundary, the
//! GGUF payload, then a fixed 128-byte trailer:
//!
//! ```text
//! magic "SYLPACK\0" | version u32 | reserved u32 | offset u64 | length u64 | sha256 [32]
//! | name [64], NUL-padded                                   (integers little-endian)
//! ```
//!
//! llama.cpp loads models from a path, and llama-cpp-2 has no constructor from the
//! `FILE*` loader, so the payload is copied once into a cache folder named by its sha256,
//! hashed while it is copied, and reused by later runs.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::cache::identity;
use super::digest::{copy_hashing, hex};
use super::output;
use super::program::program_path;

const VERSION: u32 = 1;

/// What a payload of the executable is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// A GGUF model (`models::packed`), at the very end of the file.
    Model,
    /// A build of this program for another CPU level (`cpu_variant`), before any model.
    Variant,
}

impl Payload {
    fn magic(self) -> &'static [u8; 8] {
        match self {
            Self::Model => b"SYLPACK\0",
            Self::Variant => b"SYLCPU\0\0",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Variant => "CPU variant",
        }
    }
}
/// Bytes of the trailer at the end of a packed file.
pub const TRAILER_LEN: u64 = 128;
const NAME_LEN: usize = 64;
const ALIGN: u64 = 32;

/// What a packed file's trailer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embedded {
    /// The packed file.
    pub exe: PathBuf,
    /// What it is.
    pub kind: Payload,
    /// Where the GGUF starts.
    pub offset: u64,
    /// GGUF length in bytes.
    pub length: u64,
    /// Hex sha256 of the GGUF.
    pub sha256: String,
    /// Model name given at pack time.
    pub name: String,
}

fn trailer(kind: Payload, offset: u64, length: u64, sha: &[u8; 32], name: &str) -> Vec<u8> {
    let mut t = Vec::with_capacity(TRAILER_LEN as usize);
    t.extend_from_slice(kind.magic());
    t.extend_from_slice(&VERSION.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&offset.to_le_bytes());
    t.extend_from_slice(&length.to_le_bytes());
    t.extend_from_slice(sha);
    let mut n = [0u8; NAME_LEN];
    // Cut on a character boundary so the name reads back as UTF-8.
    let mut end = name.len().min(NAME_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    n[..end].copy_from_slice(&name.as_bytes()[..end]);
    t.extend_from_slice(&n);
    debug_assert_eq!(t.len() as u64, TRAILER_LEN);
    t
}

/// Reads the model trailer of `exe`: `Ok(None)` for a file without a packed model.
pub fn read_trailer(exe: &Path) -> anyhow::Result<Option<Embedded>> {
    let size = std::fs::metadata(exe)
        .with_context(|| format!("cannot open {}", exe.display()))?
        .len();
    read_trailer_at(exe, size, Payload::Model)
}

/// Reads a `kind` trailer of `exe` that ends at byte `end`: `Ok(None)` when there is none.
pub fn read_trailer_at(exe: &Path, end: u64, kind: Payload) -> anyhow::Result<Option<Embedded>> {
    let mut f = File::open(exe).with_context(|| format!("cannot open {}", exe.display()))?;
    if end < TRAILER_LEN {
        return Ok(None);
    }
    let mut t = [0u8; TRAILER_LEN as usize];
    f.seek(SeekFrom::Start(end - TRAILER_LEN))?;
    f.read_exact(&mut t)?;
    if &t[..8] != kind.magic() {
        return Ok(None);
    }
    let u32_at = |i: usize| u32::from_le_bytes(t[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(t[i..i + 8].try_into().expect("8 bytes"));
    let version = u32_at(8);
    if version != VERSION {
        bail!(
            "{} carries a packed {} of format {version}; this program reads format {VERSION}",
            exe.display(),
            kind.what()
        );
    }
    let (offset, length) = (u64_at(16), u64_at(24));
    let payload_end = offset.checked_add(length);
    // A variant is padded so that what follows it starts aligned.
    let slack = match kind {
        Payload::Model => 0,
        Payload::Variant => ALIGN - 1,
    };
    let fits =
        payload_end.is_some_and(|e| e <= end - TRAILER_LEN && end - TRAILER_LEN - e <= slack);
    if !fits {
        bail!(
            "{} is damaged: its packed {} should span bytes {offset}..{} but it ends at byte {}; copy it again",
            exe.display(),
            kind.what(),
            payload_end.map_or("overflow".into(), |e| e.to_string()),
            end - TRAILER_LEN,
        );
    }
    let name_bytes = &t[64..64 + NAME_LEN];
    let name_len = name_bytes.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    Ok(Some(Embedded {
        exe: exe.to_path_buf(),
        kind,
        offset,
        length,
        sha256: hex(&t[32..64]),
        name: String::from_utf8_lossy(&name_bytes[..name_len]).into_owned(),
    }))
}

/// The model packed into the running executable, if any.
pub fn embedded() -> anyhow::Result<Option<Embedded>> {
    read_trailer(&program_path()?)
}

/// Writes `out`: the program part of `exe` (without its packed model), then `src` as a
/// `kind` payload named `name` and its trailer.
pub fn append(
    exe: &Path,
    src: &Path,
    kind: Payload,
    name: &str,
    out: &Path,
) -> anyhow::Result<Embedded> {
    // Packing from a packed binary keeps only its program part (a variant stays).
    let program_len = match read_trailer(exe)? {
        Some(e) => e.offset,
        None => std::fs::metadata(exe)?.len(),
    };
    output::check_writable(out)?;
    let mut payload = File::open(src).with_context(|| format!("cannot read {}", src.display()))?;
    let length = payload.metadata()?.len();
    let offset = program_len.div_ceil(ALIGN) * ALIGN;
    // After a variant, the file ends aligned: a model packed later follows its trailer.
    let tail_pad = match kind {
        Payload::Model => 0,
        Payload::Variant => {
            (offset + length + TRAILER_LEN).next_multiple_of(ALIGN)
                - (offset + length + TRAILER_LEN)
        }
    };
    let mut sha = [0u8; 32];
    output::write_atomic_with(out, Some(0o755), |file| {
        let mut program = File::open(exe)?;
        std::io::copy(&mut (&mut program).take(program_len), file)
            .context("cannot copy the executable")?;
        file.write_all(&vec![0u8; (offset - program_len) as usize])?;
        sha = copy_hashing(&mut payload, file, length)
            .with_context(|| format!("cannot copy {}", src.display()))?;
        file.write_all(&vec![0u8; tail_pad as usize])?;
        file.write_all(&trailer(kind, offset, length, &sha, name))?;
        Ok(())
    })?;
    Ok(Embedded {
        exe: out.to_path_buf(),
        kind,
        offset,
        length,
        sha256: hex(&sha),
        name: name.to_string(),
    })
}

/// Whether the extracted copy at `path` is the packed model: its stamp matches, or its
/// contents hash to the packed sha256 (then the stamp is written).
fn verified(path: &Path, stamp: &Path, e: &Embedded) -> anyhow::Result<bool> {
    // A file someone else owns or could write is never trusted, stamp or not.
    if !super::cache::is_ours(path) {
        return Ok(false);
    }
    let Some(id) = identity(path) else {
        return Ok(false);
    };
    if super::cache::is_ours(stamp) && std::fs::read_to_string(stamp).is_ok_and(|s| s == id) {
        return Ok(true);
    }
    let mut file = File::open(path)?;
    let sha = copy_hashing(&mut file, &mut std::io::sink(), e.length)?;
    if hex(&sha) != e.sha256 {
        return Ok(false);
    }
    output::write_atomic_with(stamp, Some(0o600), |f| Ok(f.write_all(id.as_bytes())?))?;
    Ok(true)
}

/// The payload `e` as a checked file `name` in the cache folder `sub` (mode `mode`):
/// extracted and verified on first use, reused after.
pub fn extract(e: &Embedded, sub: &str, name: &str, mode: u32) -> anyhow::Result<PathBuf> {
    let dir = super::cache::folder(sub)?;
    let path = dir.join(name);
    let stamp = dir.join(format!("{}.verified", e.sha256));
    let same_length = std::fs::metadata(&path).is_ok_and(|m| m.len() == e.length);
    if same_length && verified(&path, &stamp, e)? {
        tracing::info!(path = %path.display(), "packed {} already extracted", e.kind.what());
        return Ok(path);
    }
    let _ = std::fs::remove_file(&stamp);
    output::write_atomic_with(&path, Some(mode), |file| {
        let mut src = File::open(&e.exe)?;
        src.seek(SeekFrom::Start(e.offset))?;
        let sha = copy_hashing(&mut src, file, e.length).with_context(|| {
            format!(
                "cannot read the {} packed in {}",
                e.kind.what(),
                e.exe.display()
            )
        })?;
        if hex(&sha) != e.sha256 {
            bail!(
                "the {} packed in {} is damaged (sha256 {} where the trailer says {}); copy the file again or pack it anew",
                e.kind.what(),
                e.exe.display(),
                hex(&sha),
                e.sha256
            );
        }
        Ok(())
    })?;
    if let Some(id) = identity(&path) {
        output::write_atomic_with(&stamp, Some(0o600), |f| Ok(f.write_all(id.as_bytes())?))?;
    }
    tracing::info!(path = %path.display(), "packed {} extracted and verified", e.kind.what());
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_round_trips_and_names_are_cut_on_char_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("x");
        let mut bytes = b"program".to_vec();
        bytes.resize(32, 0);
        bytes.extend_from_slice(b"GGUFdata");
        let long = "é".repeat(40);
        bytes.extend(trailer(Payload::Model, 32, 8, &[7u8; 32], &long));
        std::fs::write(&exe, &bytes).unwrap();
        let e = read_trailer(&exe).unwrap().unwrap();
        assert_eq!((e.offset, e.length), (32, 8));
        assert_eq!(e.sha256, "07".repeat(32));
        assert_eq!(e.name, "é".repeat(32));
    }

    #[test]
    fn plain_and_truncated_files() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, vec![1u8; 500]).unwrap();
        assert_eq!(read_trailer(&plain).unwrap(), None);
        let cut = dir.path().join("cut");
        let mut bytes = vec![0u8; 64];
        bytes.extend(trailer(Payload::Model, 64, 1000, &[0u8; 32], "m"));
        std::fs::write(&cut, &bytes).unwrap();
        let err = read_trailer(&cut).unwrap_err().to_string();
        assert!(err.contains("is damaged"), "{err}");
    }
}
