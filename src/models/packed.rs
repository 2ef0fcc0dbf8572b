//! A model packed into the executable (`syllabus pack`): written beside a copy of the
//! program, and found again as a checked file in the cache when the packed file runs.

use std::path::Path;

use crate::launch::payload::{append, extract, Embedded, Payload};
use crate::launch::program::program_path;
use crate::models::{self, gguf, ResolvedModel, Source};

/// Writes a copy of the running executable with `model` packed in, to `out`.
pub fn pack(model: &ResolvedModel, out: &Path) -> anyhow::Result<Embedded> {
    let exe = program_path()?;
    append(&exe, &model.path, Payload::Model, &model.name, out)
}

/// The embedded model as a checked file: extracted and verified on first use, reused after.
pub fn resolve_embedded(e: &Embedded) -> anyhow::Result<ResolvedModel> {
    let path = extract(e, "models", &format!("{}.gguf", e.sha256), 0o600)?;
    let info = gguf::read(&path).map_err(models::ModelError::from)?;
    Ok(ResolvedModel {
        name: e.name.clone(),
        path,
        source: Source::Embedded,
        info,
    })
}
