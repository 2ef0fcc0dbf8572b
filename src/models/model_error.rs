//! Why `--model` could not be turned into a usable file: one error for every way of
//! finding one (a path, an alias, a Hugging Face file, an Ollama name, a download).

use super::gguf::GgufError;
use super::{hf, ollama_store};

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
    /// A file of an alias's name in a models folder that is not the catalog's file.
    #[error("{path} is not the catalog's `{alias}` (its sha256 is {got}, the catalog's {want}): remove or rename it, or give it to --model as a path")]
    NotTheCatalogs {
        /// The file found.
        path: String,
        /// The alias asked for.
        alias: String,
        /// Its sha256.
        got: String,
        /// The catalog's.
        want: String,
    },
    /// A file that could not be read.
    #[error("cannot read {path}: {why}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// A model in the Ollama store whose manifest or blob is broken.
    #[error(transparent)]
    OllamaStore(#[from] ollama_store::OllamaStoreError),
    /// The download failed.
    #[error(transparent)]
    Download(#[from] hf::DownloadError),
    /// The file is not a valid GGUF model.
    #[error(transparent)]
    Invalid(#[from] GgufError),
}
