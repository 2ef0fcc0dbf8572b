//! Models: the catalog of aliases, where files are looked for, how `--model` resolves to a
//! checked GGUF file, the Hugging Face and Ollama stores, the GGUF header reader, and the
//! `syllabus models` commands. Downloads happen only in `hf`, only when allowed.

pub mod catalog;
pub mod commands;
pub mod gguf;
pub mod hf;
pub mod ollama;
pub mod places;
pub mod resolve;
pub mod vocab;

pub use catalog::{catalog, find_alias, CatalogEntry, DEFAULT_MODEL};
pub use gguf::{GgufError, GgufInfo};
pub use places::{env_dir, search_dirs, Places};
pub use resolve::{
    find_local, pull, resolve, resolve_in, Found, ModelError, ResolveOptions, ResolvedModel, Source,
};
