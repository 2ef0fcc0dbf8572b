//! The OpenAI-compatible backend against a local server that speaks the documented API
//! (llama.cpp's server flavour: `timings` in the last chunk), with its failures.
#![cfg(feature = "openai")]

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::cli::{assert_fails, assert_ok, syllabus};
use common::fake_openai::{FakeOpenAi, Fault};
use serde_json::Value;

/// The fake server answers at once: calls get the default number of tries.
fn openai(dir: &Path, url: &str, extra: &[&str]) -> Output {
    syllabus(dir)
        .env_remove(common::ATTEMPTS.0)
        .args([
            "generate",
            "Urban Gardening",
            "--backend",
            "openai",
            "--modules",
            "3",
        ])
        .args([
            "--format",
            "json",
            "-o",
            "s.json",
            "--timings",
            "t.json",
            "--base-url",
            url,
        ])
        .args(extra)
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap()
}

fn read_json(dir: &Path, file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
}

#[test]
fn three_modules_with_the_servers_timings_and_what_was_sent() {
    let server = FakeOpenAi::start(&["qwen2.5-0.5b"], Fault::None);
    let dir = tempfile::tempdir().unwrap();
    let out = openai(dir.path(), &server.url, &[]);
    assert_ok(&out);
    assert_eq!(
        read_json(dir.path(), "s.json")["modules"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let t = read_json(dir.path(), "t.json");
    assert_eq!(t["backend"], "openai");
    assert_eq!(
        t["model"]["name"], "qwen2.5-0.5b",
        "the first model the server lists"
    );
    for c in t["calls"].as_array().unwrap() {
        let s = &c["server"];
        assert_eq!(s["prompt_eval_ms"], 120.5, "{c}");
        assert_eq!(s["eval_ms"], 480.0);
        assert!(s["cached_count"].as_u64().unwrap() > 0);
        assert_eq!(c["cached_tokens"], s["cached_count"]);
        assert_eq!(c["generated_tokens"], s["eval_count"]);
    }
    let chats = server.chats();
    assert_eq!(chats.len(), 4);
    for chat in &chats {
        assert_eq!(chat["stream"], true);
        assert_eq!(chat["stream_options"]["include_usage"], true);
        let f = &chat["response_format"];
        assert_eq!(f["type"], "json_schema");
        assert_eq!(f["json_schema"]["strict"], true);
        let schema = f["json_schema"]["schema"].to_string();
        assert!(
            !schema.contains("pattern") && !schema.contains("x-guidance"),
            "{schema}"
        );
        for key in ["max_tokens", "temperature", "top_p", "seed"] {
            assert!(!chat[key].is_null(), "{key}");
        }
    }
    // Modules continue the outline's conversation.
    let outline = chats[0]["messages"].as_array().unwrap();
    let module = chats[1]["messages"].as_array().unwrap();
    assert_eq!(module[..outline.len()], outline[..]);
    assert_eq!(module[outline.len()]["role"], "assistant");
}

#[test]
fn the_key_comes_from_the_environment_and_is_never_printed() {
    let server = FakeOpenAi::start(&["m"], Fault::NeedsKey("sk-test-123"));
    let dir = tempfile::tempdir().unwrap();
    let out = openai(dir.path(), &server.url, &[]);
    let err = assert_fails(&out, 1, "OPENAI_API_KEY");
    assert!(err.contains("refused the API key"), "{err}");
    let out = syllabus(dir.path())
        .args([
            "generate",
            "Urban Gardening",
            "--backend",
            "openai",
            "--modules",
            "2",
        ])
        .args([
            "--base-url",
            &server.url,
            "--api-key-env",
            "MY_KEY",
            "-o",
            "s.md",
        ])
        .env("MY_KEY", "sk-test-123")
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("sk-test-123"));
}

#[test]
fn an_unknown_model_names_the_ones_served() {
    let server = FakeOpenAi::start(&["a", "b"], Fault::None);
    let dir = tempfile::tempdir().unwrap();
    let out = openai(dir.path(), &server.url, &["--model", "c"]);
    assert_fails(&out, 1, "it serves: a, b");
}

#[test]
fn busy_and_failing_servers_are_retried() {
    for fault in [Fault::Fail500Once, Fault::Busy429Once] {
        let server = FakeOpenAi::start(&["m"], fault);
        let dir = tempfile::tempdir().unwrap();
        assert_ok(&openai(dir.path(), &server.url, &[]));
    }
}

#[test]
fn refused_schemas_fall_back_to_json_object_with_the_schema_in_the_prompt() {
    let server = FakeOpenAi::start(&["m"], Fault::SchemaRefused);
    let dir = tempfile::tempdir().unwrap();
    let out = openai(dir.path(), &server.url, &[]);
    assert_ok(&out);
    let last = server.chats().last().unwrap().clone();
    assert_eq!(last["response_format"]["type"], "json_object");
}

#[test]
fn cut_streams_timeouts_bad_json_and_no_server_fail_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cut = FakeOpenAi::start(&["m"], Fault::CutStream);
    assert_fails(
        &openai(dir.path(), &cut.url, &[]),
        1,
        "before `data: [DONE]`",
    );
    let slow = FakeOpenAi::start(&["m"], Fault::Slow(Duration::from_secs(5)));
    let start = Instant::now();
    let out = openai(dir.path(), &slow.url, &["--call-timeout-secs", "1"]);
    assert_fails(&out, 1, "took longer than 1 s");
    assert!(start.elapsed() < Duration::from_secs(4));
    let bad = FakeOpenAi::start(&["m"], Fault::InvalidJson);
    assert_fails(
        &openai(dir.path(), &bad.url, &[]),
        1,
        "the outline gave nothing usable in 5 attempts",
    );
    for fault in [Fault::EndlessModels, Fault::EndlessError] {
        let endless = FakeOpenAi::start(&["m"], fault);
        let start = Instant::now();
        assert_fails(
            &openai(dir.path(), &endless.url, &[]),
            1,
            "ran past 1024 KiB",
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
    }
    assert_fails(
        &openai(dir.path(), "http://127.0.0.1:9/v1", &[]),
        1,
        "cannot reach the server at http://127.0.0.1:9/v1",
    );
}

#[test]
fn servers_without_timings_leave_them_empty() {
    let server = FakeOpenAi::start(&["m"], Fault::NoTimings);
    let dir = tempfile::tempdir().unwrap();
    assert_ok(&openai(dir.path(), &server.url, &[]));
    let t = read_json(dir.path(), "t.json");
    let c = &t["calls"][0];
    assert!(c["server"]["prompt_eval_ms"].is_null());
    assert!(
        c["server"]["prompt_eval_count"].as_u64().unwrap() > 0,
        "usage still counts"
    );
}
