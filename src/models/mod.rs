//! Model catalog and resolution of `--model` to a checked GGUF file.
//!
//! `--model` is either a path to a `.gguf` file or an alias from `models/catalog.toml`
//! (compiled into the binary). Aliases resolve to files under `$SYLLABUS_MODELS`, then
//! `./models/`, then `models/` beside the executable. Nothing here touches the network.

pub mod commands;
pub mod gguf;
pub mod hf;
pub mod ollama;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

pub use gguf::{GgufError, GgufInfo};

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
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

impl CatalogEntry {
    /// The entry's file on Hugging Face.
    pub fn hf_file(&self) -> hf::HfFile {
        hf::HfFile {
            repo: self.repo.clone(),
            file: self.file.clone(),
        }
    }
}

/// The catalog entry of a Hugging Face file, if the catalog has it.
fn find_hf_file(file: &hf::HfFile) -> Option<&'static CatalogEntry> {
    catalog()
        .iter()
        .find(|e| e.repo == file.repo && e.file == file.file)
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
    /// Neither a path, a catalog alias, nor a model in the Ollama store.
    #[error(
        "unknown model `{spec}`: not a file, not a catalog alias ({known}), and not in the Ollama store ({looked}); \
         give a path to a .gguf file, an alias, or owner/repo/file.gguf on Hugging Face"
    )]
    Unknown {
        /// What was asked for.
        spec: String,
        /// Catalog aliases.
        known: String,
        /// Where the Ollama store was looked for.
        looked: String,
    },
    /// A known model whose file is nowhere to be found.
    #[error("model `{name}` ({file}) was not found; looked in: {looked}. {how}")]
    NotFound {
        /// Alias or reference asked for.
        name: String,
        /// File name looked for.
        file: String,
        /// Every place tried.
        looked: String,
        /// How to get the file.
        how: String,
    },
    /// A model in the Ollama store whose manifest or blob is broken.
    #[error(transparent)]
    OllamaStore(#[from] ollama::OllamaStoreError),
    /// The download failed.
    #[error(transparent)]
    Download(#[from] hf::DownloadError),
    /// The file is not a valid GGUF model.
    #[error(transparent)]
    Invalid(#[from] GgufError),
}

/// Where a model file was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A path given on the command line.
    Path,
    /// `SYLLABUS_MODELS`, `./models/` or `models/` beside the executable.
    Folder,
    /// The Hugging Face cache.
    HfCache,
    /// An Ollama store.
    OllamaStore,
    /// Downloaded just now.
    Download,
    /// Packed inside this executable.
    Embedded,
}

impl Source {
    /// Words for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Folder => "models folder",
            Self::HfCache => "Hugging Face cache",
            Self::OllamaStore => "Ollama store",
            Self::Download => "downloaded",
            Self::Embedded => "embedded in this executable",
        }
    }
}

/// A model file found and checked.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    /// Alias, or the file name for a path.
    pub name: String,
    /// Where the file is.
    pub path: PathBuf,
    /// Where it was found.
    pub source: Source,
    /// What its header says.
    pub info: GgufInfo,
}

/// Whether resolution may download.
#[derive(Debug, Clone, Copy)]
pub struct ResolveOptions {
    /// Never touch the network.
    pub offline: bool,
    /// Show a download progress bar.
    pub progress: bool,
}

impl ResolveOptions {
    /// Offline when asked or when `HF_HUB_OFFLINE` says so.
    pub fn new(offline_flag: bool, progress: bool) -> Self {
        Self {
            offline: offline_flag || hf::offline_from_env(),
            progress,
        }
    }

    /// Local files only.
    pub fn local() -> Self {
        Self {
            offline: true,
            progress: false,
        }
    }
}

/// A folder named by environment variable `key`, unless unset or empty.
pub fn env_dir(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
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

/// The local places a model is looked for, read from the environment once.
#[derive(Debug, Clone)]
pub struct Places {
    /// Folders holding files by name.
    pub dirs: Vec<PathBuf>,
    /// Hugging Face cache root.
    pub hf_cache: Option<PathBuf>,
    /// Ollama store root.
    pub ollama_store: Option<PathBuf>,
}

impl Places {
    /// From `SYLLABUS_MODELS`, `HF_HUB_CACHE`/`HF_HOME`, `OLLAMA_MODELS` and `HOME`.
    pub fn from_env() -> Self {
        Self {
            dirs: search_dirs(),
            hf_cache: hf::cache_dir(),
            ollama_store: ollama::store_dir(),
        }
    }
}

/// What `--model` names.
#[derive(Debug)]
enum Spec {
    Path(PathBuf),
    Alias(&'static CatalogEntry),
    Hf(hf::HfFile),
    Ollama(ollama::OllamaName),
}

fn parse_spec(spec: &str) -> Spec {
    let path = Path::new(spec);
    if path.exists() {
        return Spec::Path(path.to_path_buf());
    }
    if let Some(entry) = find_alias(spec) {
        return Spec::Alias(entry);
    }
    if !spec.starts_with('.') {
        if let Some(file) = hf::HfFile::parse(spec) {
            return Spec::Hf(file);
        }
    }
    if spec.ends_with(".gguf") || spec.contains(std::path::MAIN_SEPARATOR) {
        return Spec::Path(path.to_path_buf());
    }
    match ollama::OllamaName::parse(spec) {
        Some(name) => Spec::Ollama(name),
        None => Spec::Path(path.to_path_buf()),
    }
}

/// A model found on this machine, before its header is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// File path.
    pub path: PathBuf,
    /// Where.
    pub source: Source,
}

/// Looks for a catalog entry in every local place, in order; lists the places tried.
pub fn find_local(
    entry: &CatalogEntry,
    places: &Places,
) -> Result<(Option<Found>, Vec<String>), ModelError> {
    let mut tried = Vec::new();
    for dir in &places.dirs {
        let p = dir.join(&entry.file);
        if p.is_file() {
            return Ok((
                Some(Found {
                    path: p,
                    source: Source::Folder,
                }),
                tried,
            ));
        }
        tried.push(p.display().to_string());
    }
    if let Some(cache) = &places.hf_cache {
        if let Some(p) = hf::cached(cache, &entry.hf_file()) {
            return Ok((
                Some(Found {
                    path: p,
                    source: Source::HfCache,
                }),
                tried,
            ));
        }
        tried.push(format!("Hugging Face cache {}", cache.display()));
    }
    if let (Some(store), Some(name)) = (
        &places.ollama_store,
        ollama::OllamaName::parse(&entry.alias),
    ) {
        if let Some(p) = ollama::locate(store, &name)? {
            return Ok((
                Some(Found {
                    path: p,
                    source: Source::OllamaStore,
                }),
                tried,
            ));
        }
        tried.push(format!("Ollama store {}", store.display()));
    }
    Ok((None, tried))
}

fn progress_bar(show: bool) -> indicatif::ProgressBar {
    if show && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    }
}

/// Downloads a catalog entry or repository file into the Hugging Face cache.
pub fn pull(
    spec: &str,
    progress: bool,
) -> Result<(PathBuf, Option<&'static CatalogEntry>), ModelError> {
    let (file, sha) = match (find_alias(spec), hf::HfFile::parse(spec)) {
        (Some(e), _) => (e.hf_file(), Some(e)),
        (None, Some(f)) => {
            let known = find_hf_file(&f);
            (f, known)
        }
        (None, None) => {
            return Err(ModelError::Unknown {
                spec: spec.to_string(),
                known: known_aliases(),
                looked: "not looked: pull fetches from Hugging Face only".into(),
            })
        }
    };
    let path = hf::download(
        &file,
        sha.and_then(|e| e.sha256.as_deref()),
        progress_bar(progress),
    )?;
    Ok((path, sha))
}

fn known_aliases() -> String {
    catalog()
        .iter()
        .map(|e| e.alias.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolves `--model` to a checked GGUF file: a path, then an alias in the models
/// folders, the Hugging Face cache, the Ollama store, and last a download.
pub fn resolve(spec: &str, opts: ResolveOptions) -> Result<ResolvedModel, ModelError> {
    resolve_in(spec, opts, &Places::from_env())
}

/// `resolve` over the given places.
pub fn resolve_in(
    spec: &str,
    opts: ResolveOptions,
    places: &Places,
) -> Result<ResolvedModel, ModelError> {
    let (name, found) = match parse_spec(spec) {
        Spec::Path(path) => {
            if !path.exists() {
                return Err(ModelError::MissingFile(spec.to_string()));
            }
            if !path.is_file() {
                return Err(ModelError::NotAFile(spec.to_string()));
            }
            let name = path
                .file_name()
                .map_or_else(|| spec.to_string(), |n| n.to_string_lossy().into_owned());
            (
                name,
                Found {
                    path,
                    source: Source::Path,
                },
            )
        }
        Spec::Alias(entry) => {
            let (found, mut tried) = find_local(entry, places)?;
            let found = match found {
                Some(f) => f,
                None => download_or_explain(
                    &entry.alias,
                    &entry.hf_file(),
                    entry.sha256.as_deref(),
                    opts,
                    &mut tried,
                )?,
            };
            (entry.alias.clone(), found)
        }
        Spec::Hf(file) => {
            let mut tried = Vec::new();
            let found = match places
                .hf_cache
                .as_deref()
                .and_then(|c| hf::cached(c, &file))
            {
                Some(path) => Found {
                    path,
                    source: Source::HfCache,
                },
                None => {
                    if let Some(c) = &places.hf_cache {
                        tried.push(format!("Hugging Face cache {}", c.display()));
                    }
                    let sha = find_hf_file(&file).and_then(|e| e.sha256.as_deref());
                    download_or_explain(spec, &file, sha, opts, &mut tried)?
                }
            };
            (spec.to_string(), found)
        }
        Spec::Ollama(name) => {
            let found = match &places.ollama_store {
                Some(store) => ollama::locate(store, &name)?,
                None => None,
            };
            let Some(path) = found else {
                return Err(ModelError::Unknown {
                    spec: spec.to_string(),
                    known: known_aliases(),
                    looked: places
                        .ollama_store
                        .as_ref()
                        .map_or_else(|| "no home folder".into(), |s| s.display().to_string()),
                });
            };
            (
                name.to_string(),
                Found {
                    path,
                    source: Source::OllamaStore,
                },
            )
        }
    };
    tracing::info!(model = %name, path = %found.path.display(), from = found.source.describe(), "model found");
    let info = gguf::read(&found.path)?;
    Ok(ResolvedModel {
        name,
        path: found.path,
        source: found.source,
        info,
    })
}

fn download_or_explain(
    name: &str,
    file: &hf::HfFile,
    sha256: Option<&str>,
    opts: ResolveOptions,
    tried: &mut Vec<String>,
) -> Result<Found, ModelError> {
    let not_found = |tried: &[String], how: String| ModelError::NotFound {
        name: name.to_string(),
        file: file.file.clone(),
        looked: tried.join(", "),
        how,
    };
    let by_hand = if name == DEFAULT_MODEL {
        "Run scripts/fetch-test-model.sh, or set SYLLABUS_MODELS to a folder holding it."
            .to_string()
    } else {
        format!(
            "Run `syllabus models pull {name}` where there is network, or download {} into ./models/ (or a folder named by SYLLABUS_MODELS).",
            file.url()
        )
    };
    if opts.offline {
        tried.push("no download (offline)".into());
        return Err(not_found(tried, by_hand));
    }
    tracing::info!(repo = %file.repo, file = %file.file, "downloading");
    match hf::download(file, sha256, progress_bar(opts.progress)) {
        Ok(path) => Ok(Found {
            path,
            source: Source::Download,
        }),
        Err(e) => {
            tried.push(format!("download: {e}"));
            Err(not_found(tried, by_hand))
        }
    }
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

    fn places(dirs: &[&Path], hf: Option<&Path>, ollama: Option<&Path>) -> Places {
        Places {
            dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
            hf_cache: hf.map(Path::to_path_buf),
            ollama_store: ollama.map(Path::to_path_buf),
        }
    }

    #[test]
    fn alias_resolves_to_the_first_directory_holding_it() {
        let entry = find_alias("qwen2:1.5b").unwrap();
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(b.path().join(&entry.file), b"x").unwrap();
        let p = places(&[a.path(), b.path()], None, None);
        let found = find_local(entry, &p).unwrap().0.unwrap();
        assert_eq!(found.path, b.path().join(&entry.file));
        std::fs::write(a.path().join(&entry.file), b"x").unwrap();
        assert_eq!(
            find_local(entry, &p).unwrap().0.unwrap().path,
            a.path().join(&entry.file)
        );
    }

    #[test]
    fn missing_alias_names_every_place_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let p = places(&[dir.path()], Some(dir.path()), Some(dir.path()));
        let msg = resolve_in("llama3.2:1b", ResolveOptions::local(), &p)
            .unwrap_err()
            .to_string();
        let file = &find_alias("llama3.2:1b").unwrap().file;
        for needle in [
            dir.path().join(file).display().to_string(),
            "Hugging Face cache".into(),
            "Ollama store".into(),
            "offline".into(),
            "huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF".into(),
            "syllabus models pull llama3.2:1b".into(),
        ] {
            assert!(msg.contains(&needle), "{needle} not in {msg}");
        }
    }

    #[test]
    fn unknown_name_lists_known_aliases() {
        let dir = tempfile::tempdir().unwrap();
        let p = places(&[], None, Some(dir.path()));
        let msg = resolve_in("gpt5:huge", ResolveOptions::local(), &p)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("unknown model") && msg.contains("qwen2:1.5b"),
            "{msg}"
        );
    }

    #[test]
    fn specs_are_told_apart() {
        assert!(matches!(parse_spec("qwen2:1.5b"), Spec::Alias(_)));
        assert!(matches!(parse_spec("qwen:latest"), Spec::Ollama(_)));
        assert!(matches!(parse_spec("org/repo/m.gguf"), Spec::Hf(_)));
        assert!(matches!(parse_spec("./org/repo/m.gguf"), Spec::Path(_)));
        assert!(matches!(parse_spec("m.gguf"), Spec::Path(_)));
        assert!(matches!(parse_spec("/abs/m.gguf"), Spec::Path(_)));
    }

    #[test]
    fn missing_path_and_directory_are_refused() {
        let p = places(&[], None, None);
        assert!(matches!(
            resolve_in("/nonexistent/x.gguf", ResolveOptions::local(), &p),
            Err(ModelError::MissingFile(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let spec = format!("{}/", dir.path().display());
        assert!(matches!(
            resolve_in(&spec, ResolveOptions::local(), &p),
            Err(ModelError::NotAFile(_))
        ));
    }
}
