//! Where model files are looked for on this machine: folders by name, the Hugging Face
//! cache and an Ollama store, each read from the environment.

use std::path::{Path, PathBuf};

use crate::launch::cache::env_dir;

/// Directories searched for alias files, in order.
pub fn search_dirs() -> Vec<PathBuf> {
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

/// The local places a model is looked for, read from the environment once.
#[derive(Debug, Clone)]
pub struct ModelFolders {
    /// Folders holding files by name.
    pub dirs: Vec<PathBuf>,
    /// Hugging Face cache root.
    pub hf_cache: Option<PathBuf>,
    /// Ollama store root.
    pub ollama_store: Option<PathBuf>,
}

impl ModelFolders {
    /// From `SYLLABUS_MODELS`, `HF_HUB_CACHE`/`HF_HOME`, `OLLAMA_MODELS` and `HOME`.
    pub fn from_env() -> Self {
        Self {
            dirs: search_dirs(),
            hf_cache: hf_cache_dir(),
            ollama_store: ollama_store_dir(),
        }
    }
}

/// The cache root huggingface_hub uses: `HF_HUB_CACHE`, `HUGGINGFACE_HUB_CACHE`,
/// `HF_HOME/hub`, `XDG_CACHE_HOME/huggingface/hub`, then `~/.cache/huggingface/hub`.
pub fn hf_cache_dir() -> Option<PathBuf> {
    env_dir("HF_HUB_CACHE")
        .or_else(|| env_dir("HUGGINGFACE_HUB_CACHE"))
        .or_else(|| env_dir("HF_HOME").map(|h| h.join("hub")))
        .or_else(|| env_dir("XDG_CACHE_HOME").map(|c| c.join("huggingface").join("hub")))
        .or_else(|| std::env::home_dir().map(|h| h.join(".cache").join("huggingface").join("hub")))
}

/// The store Ollama uses: `OLLAMA_MODELS`, else `~/.ollama/models`.
pub fn ollama_store_dir() -> Option<PathBuf> {
    if let Some(dir) = env_dir("OLLAMA_MODELS") {
        return Some(dir);
    }
    std::env::home_dir().map(|h| h.join(".ollama").join("models"))
}
