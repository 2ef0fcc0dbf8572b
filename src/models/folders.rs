//! Where model files are looked for on this machine: folders by name, the Hugging Face
//! cache and an Ollama store. The command line's plan finds them (`cli::model_places`).

use std::path::PathBuf;

/// The local places a model is looked for.
#[derive(Debug, Clone)]
pub struct ModelFolders {
    /// Folders holding files by name.
    pub dirs: Vec<PathBuf>,
    /// Hugging Face cache root.
    pub hf_cache: Option<PathBuf>,
    /// Ollama store root.
    pub ollama_store: Option<PathBuf>,
}
