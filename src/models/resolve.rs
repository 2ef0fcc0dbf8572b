//! Resolution of `--model` to a checked GGUF file: a path, else a catalog alias in the
//! models folders, the Hugging Face cache, an Ollama store, and last (unless offline) a
//! download; or a Hugging Face file or an Ollama name. Every file's header is checked
//! before it is handed on.

use std::path::{Path, PathBuf};

use super::catalog::{find_alias, find_hf_file, known_aliases, CatalogEntry, DEFAULT_MODEL};
use super::folders::ModelFolders;
use super::gguf::{self, GgufInfo};
use super::hub::Hub;
pub use super::model_error::ModelError;
use super::{hf, ollama_store};

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

/// Where to look for a model and whether and how to download it, decided when the
/// command line is checked (`cli::model_places`).
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// Show a download progress bar.
    pub progress: bool,
    /// The local places, in order.
    pub folders: ModelFolders,
    /// How downloads go (or why they do not).
    pub hub: Hub,
}

/// What `--model` names.
#[derive(Debug)]
enum Spec {
    Path(PathBuf),
    Alias(&'static CatalogEntry),
    Hf(hf::HfFile),
    Ollama(ollama_store::OllamaName),
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
    match ollama_store::OllamaName::parse(spec) {
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
    places: &ModelFolders,
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
        ollama_store::OllamaName::parse(&entry.alias),
    ) {
        if let Some(p) = ollama_store::locate(store, &name)? {
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

/// Downloads `file` into the Hugging Face cache as `opts` say, checking `sha256` when given.
fn fetch(
    file: &hf::HfFile,
    sha256: Option<&str>,
    opts: &ResolveOptions,
) -> Result<PathBuf, hf::DownloadError> {
    hf::download(
        file,
        sha256,
        progress_bar(opts.progress),
        &opts.hub,
        opts.folders.hf_cache.as_deref(),
    )
}

/// Downloads a catalog entry or repository file into the Hugging Face cache.
pub fn pull(
    spec: &str,
    opts: &ResolveOptions,
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
    let path = fetch(&file, sha.and_then(|e| e.sha256.as_deref()), opts)?;
    Ok((path, sha))
}

/// Resolves `--model` to a checked GGUF file: a path, then an alias in the models
/// folders, the Hugging Face cache, the Ollama store, and last a download.
pub fn resolve(spec: &str, opts: &ResolveOptions) -> Result<ResolvedModel, ModelError> {
    let places = &opts.folders;
    let (name, found) = match parse_spec(spec) {
        Spec::Path(path) => from_path(spec, path)?,
        Spec::Alias(entry) => (entry.alias.clone(), from_alias(entry, opts, places)?),
        Spec::Hf(file) => (spec.to_string(), from_hf(spec, &file, opts, places)?),
        Spec::Ollama(name) => (name.to_string(), from_ollama(spec, &name, places)?),
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

/// A path given on the command line, with its file name as the model's name.
fn from_path(spec: &str, path: PathBuf) -> Result<(String, Found), ModelError> {
    if !path.exists() {
        return Err(ModelError::MissingFile(spec.to_string()));
    }
    if !path.is_file() {
        return Err(ModelError::NotAFile(spec.to_string()));
    }
    let name = path
        .file_name()
        .map_or_else(|| spec.to_string(), |n| n.to_string_lossy().into_owned());
    let found = Found {
        path,
        source: Source::Path,
    };
    Ok((name, found))
}

/// A catalog alias: the local places in order, then a download.
fn from_alias(
    entry: &CatalogEntry,
    opts: &ResolveOptions,
    places: &ModelFolders,
) -> Result<Found, ModelError> {
    let (found, mut tried) = find_local(entry, places)?;
    match found {
        // A file of the alias's name in a folder (the working directory's `models/` among
        // them) may be anything: it must be the catalog's file.
        Some(f) if f.source == Source::Folder && entry.sha256.is_some() => {
            let want = entry.sha256.as_deref().unwrap_or_default();
            let got =
                crate::launch::cache::sha256_of(&f.path).map_err(|e| ModelError::Unreadable {
                    path: f.path.display().to_string(),
                    why: e.to_string(),
                })?;
            if !got.eq_ignore_ascii_case(want) {
                return Err(ModelError::NotTheCatalogs {
                    path: f.path.display().to_string(),
                    alias: entry.alias.clone(),
                    got,
                    want: want.to_string(),
                });
            }
            Ok(f)
        }
        Some(f) => Ok(f),
        None => download_or_explain(
            &entry.alias,
            &entry.hf_file(),
            entry.sha256.as_deref(),
            opts,
            &mut tried,
        ),
    }
}

/// `owner/repo/file.gguf`: the Hugging Face cache, then a download.
fn from_hf(
    spec: &str,
    file: &hf::HfFile,
    opts: &ResolveOptions,
    places: &ModelFolders,
) -> Result<Found, ModelError> {
    if let Some(path) = places.hf_cache.as_deref().and_then(|c| hf::cached(c, file)) {
        return Ok(Found {
            path,
            source: Source::HfCache,
        });
    }
    let mut tried = Vec::new();
    if let Some(c) = &places.hf_cache {
        tried.push(format!("Hugging Face cache {}", c.display()));
    }
    let sha = find_hf_file(file).and_then(|e| e.sha256.as_deref());
    download_or_explain(spec, file, sha, opts, &mut tried)
}

/// A model in the Ollama store, by its Ollama name.
fn from_ollama(
    spec: &str,
    name: &ollama_store::OllamaName,
    places: &ModelFolders,
) -> Result<Found, ModelError> {
    let found = match &places.ollama_store {
        Some(store) => ollama_store::locate(store, name)?,
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
    Ok(Found {
        path,
        source: Source::OllamaStore,
    })
}

fn download_or_explain(
    name: &str,
    file: &hf::HfFile,
    sha256: Option<&str>,
    opts: &ResolveOptions,
    tried: &mut Vec<String>,
) -> Result<Found, ModelError> {
    let not_found = |tried: &[String], how: String| ModelError::NotFound {
        name: name.to_string(),
        file: file.file.clone(),
        looked: tried.join(", "),
        how,
    };
    let by_hand = if name == DEFAULT_MODEL {
        "Run scripts/setup.sh (or scripts/fetch-default-model.sh) in the source folder, or set SYLLABUS_MODELS to a folder holding it."
            .to_string()
    } else if name == "smollm2:135m" {
        "Run scripts/fetch-test-model.sh, or set SYLLABUS_MODELS to a folder holding it."
            .to_string()
    } else {
        format!(
            "Run `syllabus models pull {name}` where there is network, or download {} into ./models/ (or a folder named by SYLLABUS_MODELS).",
            file.url()
        )
    };
    if opts.hub.offline.is_some() {
        tried.push("no download (offline)".into());
        return Err(not_found(tried, by_hand));
    }
    tracing::info!(repo = %file.repo, file = %file.file, "downloading");
    match fetch(file, sha256, opts) {
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
    use crate::models::catalog::find_alias;

    fn places(dirs: &[&Path], hf: Option<&Path>, ollama: Option<&Path>) -> ModelFolders {
        ModelFolders {
            dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
            hf_cache: hf.map(Path::to_path_buf),
            ollama_store: ollama.map(Path::to_path_buf),
        }
    }

    /// Local files in `places` only.
    fn local(places: ModelFolders) -> ResolveOptions {
        ResolveOptions {
            progress: false,
            folders: places,
            hub: Hub::off("offline"),
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
    fn an_alias_found_in_a_folder_must_be_the_catalogs_file() {
        let entry = find_alias("smollm2:135m").unwrap();
        assert!(entry.sha256.is_some());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(&entry.file),
            b"GGUF and then something else",
        )
        .unwrap();
        let p = places(&[dir.path()], None, None);
        let err = resolve("smollm2:135m", &local(p.clone())).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ModelError::NotTheCatalogs { .. }), "{msg}");
        assert!(msg.contains("is not the catalog's `smollm2:135m`"), "{msg}");
    }

    #[test]
    fn missing_alias_names_every_place_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let p = places(&[dir.path()], Some(dir.path()), Some(dir.path()));
        let msg = resolve("llama3.2:1b", &local(p.clone()))
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
        let msg = resolve("gpt5:huge", &local(p.clone()))
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
            resolve("/nonexistent/x.gguf", &local(p.clone())),
            Err(ModelError::MissingFile(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let spec = format!("{}/", dir.path().display());
        assert!(matches!(
            resolve(&spec, &local(p.clone())),
            Err(ModelError::NotAFile(_))
        ));
    }
}
