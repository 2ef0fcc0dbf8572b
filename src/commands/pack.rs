//! `syllabus pack`: this program with a model inside, written to a new file.

use std::path::Path;

use crate::engine::llama::offload::Offload;
use crate::launch::stderr;
use crate::models::{self, packed, ResolveOptions};
use crate::run::probe;

/// Resolves `model` as `models` says, probes it (when `probe`), writes `output`.
pub fn run(model: &str, models: &ResolveOptions, output: &Path, probe: bool) -> anyhow::Result<()> {
    let resolved = models::resolve(model, models)?;
    // A packed model is trusted where it runs: it is probed here, once, on the CPU.
    if probe {
        probe::vet(&resolved, &Offload::cpu())?;
    }
    let packed = packed::pack(&resolved, output)?;
    let total = std::fs::metadata(output)?.len();
    stderr::say(&format!(
        "wrote {}: {} ({} bytes, sha256 {}) inside; {} bytes in all, {} of them the program",
        output.display(),
        packed.name,
        packed.length,
        packed.sha256,
        total,
        total - packed.length
    ));
    Ok(())
}
