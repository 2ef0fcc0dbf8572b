//! Where models are found and how they are fetched, read from the environment once, when
//! the command line is checked: the models folders, the Hugging Face cache and an Ollama
//! store, and the download settings (`HF_HUB_OFFLINE`, `HF_ENDPOINT`, `HF_TOKEN`, proxies,
//! `SYLLABUS_STALL_SECS`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::usage::UsageError;
use crate::engine::BackendKind;
use crate::launch::cache::env_dir;
use crate::launch::payload::Embedded;
use crate::models::hub::{Hub, Proxies, DEFAULT_ENDPOINT, DEFAULT_STALL};
use crate::models::{ModelFolders, ResolveOptions};

/// Which model a run uses, settled when the command line is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelChoice {
    /// A file, catalog alias, Hugging Face file or daemon model name: `--model`, what a
    /// saved syllabus recorded, or the backend's default.
    Named(String),
    /// The model packed inside this executable (in process, no `--model`).
    Packed(Box<Embedded>),
    /// The first model an OpenAI-compatible server lists.
    ServersFirst,
}

impl ModelChoice {
    /// `given` on `backend`, else that backend's default: the packed model or the
    /// catalog's default in process, Ollama's default name, the server's first model.
    pub fn settle(given: Option<String>, backend: BackendKind) -> Result<Self, UsageError> {
        if let Some(name) = given {
            return Ok(Self::Named(name));
        }
        Ok(match backend {
            BackendKind::Llama => match crate::launch::payload::embedded() {
                Ok(Some(packed)) => Self::Packed(Box::new(packed)),
                Ok(None) => Self::Named(crate::models::DEFAULT_MODEL.to_string()),
                Err(e) => {
                    return Err(UsageError(format!(
                        "cannot read this program's own file for a packed model: {e:#}"
                    )))
                }
            },
            BackendKind::Ollama => Self::Named(crate::engine::DEFAULT_OLLAMA_MODEL.to_string()),
            BackendKind::OpenAi => Self::ServersFirst,
        })
    }

    /// The name given, if the choice is a name.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Named(n) => Some(n),
            Self::Packed(_) | Self::ServersFirst => None,
        }
    }
}

/// How `--model` is resolved: downloads allowed unless `offline` (or `HF_HUB_OFFLINE`),
/// a progress bar when `progress`.
pub fn resolve_options(offline: bool, progress: bool) -> ResolveOptions {
    ResolveOptions {
        progress,
        folders: folders(),
        hub: hub(offline),
    }
}

/// Local files only (`models info`).
pub fn local_only() -> ResolveOptions {
    ResolveOptions {
        progress: false,
        folders: folders(),
        hub: Hub::off("models info reads local files only"),
    }
}

/// From `SYLLABUS_MODELS`, `HF_HUB_CACHE`/`HF_HOME`, `OLLAMA_MODELS` and `HOME`.
pub fn folders() -> ModelFolders {
    ModelFolders {
        dirs: search_dirs(),
        hf_cache: hf_cache_dir(),
        ollama_store: ollama_store_dir(),
    }
}

/// Folders searched for files by name, in order: `SYLLABUS_MODELS`, `./models`, then
/// `models/` beside the program.
fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("SYLLABUS_MODELS")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("models"));
    if let Some(dir) = crate::launch::program::program_path()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(dir.join("models"));
    }
    dirs
}

/// The cache root huggingface_hub uses: `HF_HUB_CACHE`, `HUGGINGFACE_HUB_CACHE`,
/// `HF_HOME/hub`, `XDG_CACHE_HOME/huggingface/hub`, then `~/.cache/huggingface/hub`.
fn hf_cache_dir() -> Option<PathBuf> {
    env_dir("HF_HUB_CACHE")
        .or_else(|| env_dir("HUGGINGFACE_HUB_CACHE"))
        .or_else(|| env_dir("HF_HOME").map(|h| h.join("hub")))
        .or_else(|| env_dir("XDG_CACHE_HOME").map(|c| c.join("huggingface").join("hub")))
        .or_else(|| std::env::home_dir().map(|h| h.join(".cache").join("huggingface").join("hub")))
}

/// The store Ollama uses: `OLLAMA_MODELS`, else `~/.ollama/models`.
fn ollama_store_dir() -> Option<PathBuf> {
    env_dir("OLLAMA_MODELS")
        .or_else(|| std::env::home_dir().map(|h| h.join(".ollama").join("models")))
}

/// A variable's value unless it is unset or blank.
fn set(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The download settings: off with `--offline` or `HF_HUB_OFFLINE` (1, ON, YES or TRUE in
/// any case, as huggingface_hub reads it).
fn hub(offline: bool) -> Hub {
    let env_offline = set("HF_HUB_OFFLINE").is_some_and(|v| {
        ["1", "ON", "YES", "TRUE"].contains(&v.trim().to_ascii_uppercase().as_str())
    });
    let stall = set("SYLLABUS_STALL_SECS")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(DEFAULT_STALL, Duration::from_secs);
    // Either case, as reqwest and curl read them.
    let proxy = |k: &str| set(k).or_else(|| set(&k.to_lowercase()));
    Hub {
        offline: if offline {
            Some("--offline")
        } else if env_offline {
            Some("HF_HUB_OFFLINE is set")
        } else {
            None
        },
        endpoint: set("HF_ENDPOINT").map_or_else(
            || DEFAULT_ENDPOINT.to_string(),
            |e| e.trim().trim_end_matches('/').to_string(),
        ),
        token: set("HF_TOKEN"),
        stall,
        proxies: Proxies {
            https: proxy("HTTPS_PROXY"),
            http: proxy("HTTP_PROXY"),
            all: proxy("ALL_PROXY"),
            no_proxy: proxy("NO_PROXY"),
        },
    }
}
