//! `syllabus cpu` (which build runs here, and embedding a build into the file) and the
//! text of `--version`.

use std::path::Path;

use crate::engine::llama::offload;
use crate::launch::gpu::{compiled_backend, note};
use crate::launch::{cpu_variant, devices, output, payload, stderr};

/// `--version`: this build, the build that runs, the packed model if any.
pub fn version() -> anyhow::Result<String> {
    let mut text = format!("syllabus {}\n", env!("CARGO_PKG_VERSION"));
    text += &cpu_variant::describe();
    text += &gpu_lines(false);
    if let Some(e) = payload::embedded()? {
        text += &format!(
            "packed model: {} ({} bytes, sha256 {})\n",
            e.name, e.length, e.sha256
        );
    }
    Ok(text)
}

/// `cpu info`: the CPU variant and the GPU devices, on stdout.
pub fn info() -> anyhow::Result<()> {
    let text = cpu_variant::describe() + &gpu_lines(true);
    output::write_stdout(text.as_bytes())
}

/// `cpu embed`: writes `output`, this file with the build `variant` carried inside as `name`.
pub fn embed(variant: &Path, name: &str, output: &Path) -> anyhow::Result<()> {
    let e = cpu_variant::embed(variant, name, output)?;
    stderr::say(&format!(
        "wrote {}: {} ({} bytes, sha256 {}) inside",
        output.display(),
        e.name,
        e.length,
        e.sha256
    ));
    Ok(())
}

/// The GPU backend of this build and why it runs;
/// with `devices`, the Vulkan devices the loader lists and those llama.cpp uses.
fn gpu_lines(devices: bool) -> String {
    let mut text = format!(
        "gpu backend: {}; {}\n",
        compiled_backend(),
        note().unwrap_or_else(|| "CPU build".into())
    );
    if !devices {
        return text;
    }
    let listing = std::env::current_exe()
        .map_err(|e| e.to_string())
        .and_then(|exe| devices::list(&exe));
    text += &match listing {
        Ok(found) if found.is_empty() => "vulkan devices: none listed\n".to_string(),
        Ok(found) => found
            .iter()
            .map(|d| format!("vulkan device {}\n", d.describe()))
            .collect(),
        Err(why) => format!("vulkan devices: none ({why})\n"),
    };
    if compiled_backend() != "none" {
        text += &offload::llama_devices();
    }
    text
}
