//! `syllabus models list | pull | info`: what people see of the catalog and files.

use serde::Serialize;

use crate::cli::model_places;
use crate::models::catalog::{catalog, CatalogEntry};
use crate::models::gguf;
use crate::models::resolve::{find_local, Source};

#[derive(Serialize)]
struct ListRow<'a> {
    #[serde(flatten)]
    entry: &'a CatalogEntry,
    present: bool,
    path: Option<String>,
    source: Option<Source>,
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

/// `models list`: every alias and where it is present.
pub fn list(json: bool) -> anyhow::Result<String> {
    let places = model_places::folders();
    let mut rows = Vec::new();
    for entry in catalog() {
        // A broken Ollama manifest should not hide the rest of the list.
        let found = find_local(entry, &places).ok().and_then(|(f, _)| f);
        rows.push(ListRow {
            entry,
            present: found.is_some(),
            path: found.as_ref().map(|f| f.path.display().to_string()),
            source: found.map(|f| f.source),
        });
    }
    let packed = crate::launch::payload::embedded()?;
    if json {
        let embedded = packed.as_ref().map(
            |e| serde_json::json!({"name": e.name, "size_bytes": e.length, "sha256": e.sha256}),
        );
        return Ok(serde_json::to_string_pretty(
            &serde_json::json!({ "embedded": embedded, "models": rows }),
        )? + "\n");
    }
    let mut out = String::new();
    if let Some(e) = &packed {
        out += &format!(
            "packed in this executable: {} ({}, sha256 {}), the default --model\n\n",
            e.name,
            mb(e.length),
            e.sha256
        );
    }
    out += &format!(
        "{:<20} {:<7} {:>8}  {}\n",
        "alias", "quant", "size", "Hugging Face file / local copy"
    );
    for r in &rows {
        out += &format!(
            "{:<20} {:<7} {:>8}  {}/{}\n{:39}{}\n",
            r.entry.alias,
            r.entry.quantization,
            mb(r.entry.size_bytes),
            r.entry.repo,
            r.entry.file,
            "",
            match (&r.path, r.source) {
                (Some(p), Some(s)) => format!("present: {p} ({})", s.describe()),
                _ => "not on this machine".into(),
            }
        );
    }
    Ok(out)
}

/// `models pull`: downloads and reports where the file landed.
pub fn pull(spec: &str, quiet: bool) -> anyhow::Result<String> {
    let opts = model_places::resolve_options(false, !quiet);
    let (path, entry) = crate::models::resolve::pull(spec, &opts)?;
    let info = gguf::read(&path)?;
    Ok(format!(
        "{} ({}, {}) is in {}{}\n",
        entry.map_or(spec, |e| e.alias.as_str()),
        info.quantization().unwrap_or("?"),
        mb(info.file_size),
        path.display(),
        if entry.and_then(|e| e.sha256.as_ref()).is_some() {
            ", sha256 checked"
        } else {
            ""
        }
    ))
}

#[derive(Serialize)]
struct Info<'a> {
    name: &'a str,
    path: String,
    source: Source,
    file_size: u64,
    gguf_version: u32,
    architecture: Option<&'a str>,
    parameters: u64,
    quantization: Option<&'static str>,
    context_length: Option<i128>,
    vocab_size: Option<u64>,
    chat_template: bool,
    tensors: u64,
}

/// `models info`: header facts of a local file, never downloading.
pub fn info(spec: &str, json: bool) -> anyhow::Result<String> {
    let m = crate::models::resolve::resolve(spec, &model_places::local_only())?;
    let i = &m.info;
    let info = Info {
        name: &m.name,
        path: m.path.display().to_string(),
        source: m.source,
        file_size: i.file_size,
        gguf_version: i.version,
        architecture: i.architecture(),
        parameters: i.parameters,
        quantization: i.quantization(),
        context_length: i.context_length(),
        vocab_size: i.vocab_size(),
        chat_template: i.has_chat_template(),
        tensors: i.tensor_count,
    };
    if json {
        return Ok(serde_json::to_string_pretty(&info)? + "\n");
    }
    let opt = |v: Option<String>| v.unwrap_or_else(|| "unknown".into());
    Ok(format!(
        "model          {}\npath           {} ({})\nfile size      {} ({} bytes)\narchitecture   {}\nparameters     {:.1} M\nquantization   {}\ncontext length {}\nvocabulary     {}\nchat template  {}\ntensors        {} (GGUF v{})\n",
        info.name,
        info.path,
        info.source.describe(),
        mb(info.file_size),
        info.file_size,
        opt(info.architecture.map(str::to_string)),
        info.parameters as f64 / 1e6,
        opt(info.quantization.map(str::to_string)),
        opt(info.context_length.map(|c| c.to_string())),
        opt(info.vocab_size.map(|v| v.to_string())),
        if info.chat_template { "present" } else { "absent (the architecture's default is used)" },
        info.tensors,
        info.gguf_version,
    ))
}
