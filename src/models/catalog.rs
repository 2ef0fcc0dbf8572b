//! The model catalog (`models/catalog.toml`, compiled in): aliases such as `qwen2:1.5b`
//! with their Hugging Face file, quantization, size and checksum.

use std::sync::OnceLock;

use serde::Deserialize;

use super::hf;

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

/// The alias used when `--model` is not given: the smallest model that writes courses a
/// teacher can hand out (the 135M test model shows only that the machinery works).
pub const DEFAULT_MODEL: &str = "qwen2.5-coder:0.5b";

/// A larger model of the same family named to users who want better courses.
pub const BETTER_MODEL: &str = "qwen2:1.5b";

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
pub fn find_hf_file(file: &hf::HfFile) -> Option<&'static CatalogEntry> {
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

/// Every alias, comma-separated, for messages.
pub fn known_aliases() -> String {
    catalog()
        .iter()
        .map(|e| e.alias.as_str())
        .collect::<Vec<_>>()
        .join(", ")
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
}
