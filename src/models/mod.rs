//! Models: the catalog of aliases, where files are looked for, how `--model` resolves to a
//! checked GGUF file, the Hugging Face and Ollama stores, the GGUF header reader, and the
//! `syllabus models` commands. Downloads happen only in `hf`, only when allowed.

pub mod catalog;
pub mod folders;
pub mod ggml;
pub mod gguf;
pub mod hf;
pub mod hub;
mod model_error;
pub mod ollama_store;
pub mod packed;
pub mod resolve;
pub mod shape;
pub mod vocab;

pub use catalog::{catalog, find_alias, CatalogEntry, BETTER_MODEL, DEFAULT_MODEL};
pub use folders::ModelFolders;
pub use gguf::{GgufError, GgufInfo};
pub use resolve::{
    find_local, pull, resolve, Found, ModelError, ResolveOptions, ResolvedModel, Source,
};

/// Why a model's header shows it cannot be used (vocabulary, hyperparameters against its
/// tensors), or nothing: checks that cost no load.
pub fn check_header(info: &GgufInfo) -> Result<(), String> {
    vocab::check(info).and_then(|()| shape::check(info))
}
