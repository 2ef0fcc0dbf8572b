//! Chat templates: a model file without one, or with one llama.cpp cannot apply, gets
//! llama.cpp's built-in template for its architecture, with a warning, and runs.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{assert_ok, stderr, syllabus, SHORT};
use common::gguf::{Gguf, Raw};
use syllabus::engine::llama::LoadedModel;
use syllabus::engine::ChatMessage;
use syllabus::models;

/// The test model with its chat template removed or replaced, written into `dir`.
fn variant(dir: &Path, name: &str, template: Option<&str>) -> PathBuf {
    let mut g = Gguf::read(&common::model_path());
    match template {
        Some(t) => g.set("tokenizer.chat_template", Raw::string(t)),
        None => g.remove("tokenizer.chat_template"),
    };
    let path = dir.join(name);
    g.write(&path);
    path
}

fn load(path: &Path) -> LoadedModel {
    let resolved = models::resolve(
        path.to_str().unwrap(),
        &syllabus::cli::model_places::local_only(),
    )
    .unwrap();
    LoadedModel::load(resolved, &syllabus::engine::llama::offload::Offload::cpu()).unwrap()
}

fn chat() -> Vec<ChatMessage> {
    vec![
        ChatMessage::new("system", "Be brief."),
        ChatMessage::new("user", "Hello"),
    ]
}

#[test]
fn file_templates_llama_cpp_can_apply_are_used() {
    let model = load(&common::model_path());
    assert_eq!(model.template_name(), "from the file");
}

#[test]
fn a_file_without_a_template_gets_the_builtin_one_for_its_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let model = load(&variant(dir.path(), "none.gguf", None));
    // SmolLM2 is a llama-architecture model with ChatML tokens.
    assert!(
        model.template_name().starts_with("built-in chatml"),
        "{}",
        model.template_name()
    );
    assert!(model.template_name().contains("no chat template"));
    let ids = model.tokenize_chat(&chat()).unwrap();
    let reference = load(&common::model_path()).tokenize_chat(&chat()).unwrap();
    assert_eq!(
        ids, reference,
        "the same ChatML prompt as the file's own template gives"
    );
}

#[test]
fn a_template_llama_cpp_cannot_apply_falls_back_and_the_run_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let jinja = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
    let path = variant(dir.path(), "jinja.gguf", Some(jinja));
    let model = load(&path);
    assert!(
        model.template_name().contains("cannot apply"),
        "{}",
        model.template_name()
    );
    drop(model);
    let out = syllabus(dir.path())
        .arg("generate")
        .args(SHORT)
        .args([
            "--format",
            "json",
            "-o",
            "s.json",
            "--timings",
            "t.json",
            "--model",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(
        stderr(&out).contains("built-in chatml template"),
        "{}",
        stderr(&out)
    );
    let t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("t.json")).unwrap()).unwrap();
    assert!(t["model"]["chat_template"]
        .as_str()
        .unwrap()
        .starts_with("built-in chatml"));
}
