//! Shared helpers for tests that use the real test model.

#![allow(dead_code)]

pub mod browser;
pub mod cli;
pub mod fake_hf;
pub mod fake_ollama;
pub mod fake_openai;
pub mod gguf;
pub mod http;
pub mod server;

use std::path::PathBuf;

use syllabus::course::reply::{OutlineEntry, OutlineReply};
use syllabus::course::CourseRequest;
use syllabus::engine::ChatCall;
use syllabus::pipeline::prompt::Calls;

/// Tries per model call in tests of the test model (`SYLLABUS_ATTEMPTS`): the 135M model
/// fails the content checks in most replies, so five tries each made every run about four
/// times longer without testing more. Tests of the tries themselves set their own.
pub const ATTEMPTS: (&str, &str) = ("SYLLABUS_ATTEMPTS", "1");

/// llama.cpp threads of every model run in tests (`SYLLABUS_THREADS`): `scripts/test.sh` runs
/// two test files at once on 2 cores, and the text a seed gives depends on the thread count,
/// so it is the same on every machine whatever its cores.
pub const THREADS: (&str, &str) = ("SYLLABUS_THREADS", "1");

/// The test model, fetched by scripts/fetch-test-model.sh (CI runs it before the tests).
pub fn model_path() -> PathBuf {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "test model missing at {}: run scripts/fetch-test-model.sh",
        path.display()
    );
    path
}

/// A fixed History-of-Jazz outline of up to 12 modules, so runs decode identical calls.
pub fn jazz_outline(modules: usize) -> (CourseRequest, OutlineReply) {
    let titles = [
        "New Orleans Roots",
        "The Jazz Age",
        "The Swing Era",
        "Bebop",
        "Cool Jazz",
        "Hard Bop",
        "Modal and Free Jazz",
        "Fusion",
        "Latin Jazz",
        "Jazz Education",
        "Jazz Today",
        "Listening Lab",
    ];
    let request = CourseRequest {
        topic: "History of Jazz".into(),
        modules,
        audience: None,
        level: None,
        weeks: None,
        language: "English".into(),
        outline: None,
    };
    let outline = OutlineReply {
        title: "A History of Jazz".into(),
        description: "How jazz grew from New Orleans to the world, style by style.".into(),
        audience: "Adult learners".into(),
        prerequisites: vec!["None".into(), "Curiosity about music".into()],
        learning_outcomes: vec![
            "Name the main styles".into(),
            "Recognise key players".into(),
        ],
        modules: titles[..modules]
            .iter()
            .map(|t| OutlineEntry {
                title: t.to_string(),
                focus: format!("Music and musicians of {t}"),
            })
            .collect(),
    };
    (request, outline)
}

/// The module calls of `jazz_outline(modules)`, seeded from `seed`.
pub fn jazz_module_calls(modules: usize, seed: u32) -> Vec<ChatCall> {
    let (request, outline) = jazz_outline(modules);
    let calls = Calls::new(&request, seed);
    (0..modules).map(|i| calls.module(&outline, i, 1)).collect()
}

/// One item call per module of `jazz_outline(modules)` (a topic to write anew), seeded
/// from `seed`: prompts as long as a module's that share the system turn and the course's
/// lines (about 120 tokens), each with a reply of a few tokens, for tests of the engine's
/// batching that need no long replies.
pub fn jazz_item_calls(modules: usize, seed: u32) -> Vec<ChatCall> {
    let (request, outline) = jazz_outline(modules);
    let calls = Calls::new(&request, seed);
    (0..modules)
        .map(|i| {
            let repeat = syllabus::pipeline::prompt::Repeat {
                module: i,
                field: "topics",
                position: 0,
                item: "Listening to records".into(),
                first: "module 1".into(),
            };
            calls.item(&outline, &repeat, i, 1)
        })
        .collect()
}
