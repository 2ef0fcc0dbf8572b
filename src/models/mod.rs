//! Model catalog and resolution of `--model` to a checked GGUF file.
//!
//! `--model` is either a path to a `.gguf` file or an alias from `models/catalog.toml`
//! (compiled into the binary). Aliases resolve to files under `$SYLLABUS_MODELS`, then
//! `./models/`, then `models/` beside the executable. Nothing here touches the network.

pub mod gguf;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

pub use gguf::{GgufError, GgufInfo};

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CatalogEntry {
    /// Short name such as `qwen2:1.5b`.
    pub alias: String,
    /// Hugging Face repository.
    pub repo: String,
    /// File name in the repository.
    pub file: String,
    /// Quantization of the file.
    pub quantization: String,
    /// Size in bytes (approximate when `sha256` is absent).
    pub size_bytes: u64,
    /// Checksum, where known.
    pub sha256: Option<String>,
    /// Free text for people.
    pub note: Option<String>,
}

#[derive(Deserialize)]
struct Catalog {
    model: Vec<CatalogEntry>,
}

/// The alias used when `--model` is not given.
pub const DEFAULT_MODEL: &str = "smollm2:135m";

/// All catalog entries.
pub fn catalog() -> &'static [CatalogEntry] {
    static CATALOG: OnceLock<Vec<CatalogEntry>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        toml::from_str::<Catalog>(include_str!("../../models/catalog.toml"))
            .expect("models/catalog.toml is checked by the unit tests")
            .model
    })
}

/// Looks up an alias.
pub fn find_alias(alias: &str) -> Option<&'static CatalogEntry> {
    catalog()
        .iter()
        .find(|e| e.alias.eq_ignore_ascii_case(alias))
}

/// Why `--model` could not be turned into a usable file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A path that does not exist.
    #[error("model file {0} does not exist")]
    MissingFile(String),
    /// A path that is not a regular file.
    #[error("model path {0} is not a file")]
    NotAFile(String),
    /// An alias not in the catalog.
    #[error(
        "unknown model alias `{alias}`; known aliases: {known}; or give a path to a .gguf file"
    )]
    UnknownAlias {
        /// What was asked for.
        alias: String,
        /// Catalog aliases.
        known: String,
    },
    /// An alias whose file is nowhere to be found.
    #[error("model `{alias}` ({file}) was not found; looked in: {looked}. {how}")]
    NotFound {
        /// Alias asked for.
        alias: String,
        /// File name looked for.
        file: String,
        /// Every path tried.
        looked: String,
        /// How to get the file.
        how: String,
    },
    /// The file is not a valid GGUF model.
    #[error(transparent)]
    Invalid(#[from] GgufError),
}

/// A model file found and checked.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    /// Alias, or the file name for a path.
    pub name: String,
    /// Where the file is.
    pub path: PathBuf,
    /// What its header says.
    pub info: GgufInfo,
}

/// Directories searched for alias files, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("SYLLABUS_MODELS")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("models"));
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(dir.join("models"));
    }
    dirs
}

fn looks_like_path(spec: &str) -> bool {
    spec.ends_with(".gguf")
        || spec.contains(std::path::MAIN_SEPARATOR)
        || spec.contains('/')
        || Path::new(spec).is_file()
}

/// Resolves `--model` to a checked GGUF file.
pub fn resolve(spec: &str) -> Result<ResolvedModel, ModelError> {
    let path = if looks_like_path(spec) {
        let path = PathBuf::from(spec);
        if !path.exists() {
            return Err(ModelError::MissingFile(spec.to_string()));
        }
        if !path.is_file() {
            return Err(ModelError::NotAFile(spec.to_string()));
        }
        path
    } else {
        let entry = find_alias(spec).ok_or_else(|| ModelError::UnknownAlias {
            alias: spec.to_string(),
            known: catalog()
                .iter()
                .map(|e| e.alias.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        locate(entry, &search_dirs())?
    };
    let info = gguf::read(&path)?;
    let name = if looks_like_path(spec) {
        path.file_name()
            .map_or_else(|| spec.to_string(), |n| n.to_string_lossy().into_owned())
    } else {
        spec.to_string()
    };
    Ok(ResolvedModel { name, path, info })
}

/// Finds the file of a catalog entry in `dirs`.
pub fn locate(entry: &CatalogEntry, dirs: &[PathBuf]) -> Result<PathBuf, ModelError> {
    let candidates: Vec<PathBuf> = dirs.iter().map(|d| d.join(&entry.file)).collect();
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        tracing::info!(model = %entry.alias, path = %found.display(), "model found");
        return Ok(found.clone());
    }
    let how = if entry.alias == DEFAULT_MODEL {
        "Run scripts/fetch-test-model.sh to fetch it, or set SYLLABUS_MODELS to a folder holding it.".to_string()
    } else {
        format!(
            "Download {} from https://huggingface.co/{} into ./models/ (or a folder named by SYLLABUS_MODELS), or pass --model PATH.",
            entry.file, entry.repo
        )
    };
    Err(ModelError::NotFound {
        alias: entry.alias.clone(),
        file: entry.file.clone(),
        looked: candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        how,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_the_required_aliases_with_sources() {
        for alias in [
            "qwen2:1.5b",
            "llama3.2:1b",
            "smollm2:135m",
            "qwen2.5:1.5b",
            "qwen2:1.5b-q4_k_m",
        ] {
            let e = find_alias(alias).unwrap_or_else(|| panic!("{alias} missing"));
            assert!(
                e.file.ends_with(".gguf") && e.repo.contains('/') && e.size_bytes > 0,
                "{e:?}"
            );
        }
        assert_eq!(find_alias("QWEN2:1.5B").unwrap().alias, "qwen2:1.5b");
    }

    #[test]
    fn aliases_are_unique() {
        let mut names: Vec<_> = catalog().iter().map(|e| &e.alias).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), catalog().len());
    }

    #[test]
    fn alias_resolves_to_the_first_directory_holding_it() {
        let entry = find_alias("qwen2:1.5b").unwrap();
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(b.path().join(&entry.file), b"x").unwrap();
        let found = locate(entry, &[a.path().into(), b.path().into()]).unwrap();
        assert_eq!(found, b.path().join(&entry.file));
        std::fs::write(a.path().join(&entry.file), b"x").unwrap();
        assert_eq!(
            locate(entry, &[a.path().into(), b.path().into()]).unwrap(),
            a.path().join(&entry.file)
        );
    }

    #[test]
    fn missing_alias_names_every_place_and_the_fix() {
        let entry = find_alias("llama3.2:1b").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let msg = locate(entry, &[dir.path().into()]).unwrap_err().to_string();
        assert!(
            msg.contains(&dir.path().join(&entry.file).display().to_string()),
            "{msg}"
        );
        assert!(
            msg.contains("huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_alias_lists_known_ones() {
        let msg = resolve("gpt5:huge").unwrap_err().to_string();
        assert!(
            msg.contains("unknown model alias") && msg.contains("qwen2:1.5b"),
            "{msg}"
        );
    }

    #[test]
    fn missing_path_and_directory_are_refused() {
        assert!(matches!(
            resolve("/nonexistent/x.gguf"),
            Err(ModelError::MissingFile(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let spec = format!("{}/", dir.path().display());
        assert!(matches!(resolve(&spec), Err(ModelError::NotAFile(_))));
    }
}
