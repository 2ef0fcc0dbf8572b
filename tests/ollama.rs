//! The Ollama backend against a local server that speaks the Ollama API, with faults.
#![cfg(feature = "ollama")]

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::cli::{assert_fails, assert_ok, syllabus, MARINE_BENCH};
use common::fake_ollama::{FakeOllama, Fault};
use serde_json::Value;

const NO_DELAY: Duration = Duration::ZERO;

/// The fake daemon answers at once: calls get the default number of tries.
fn ollama(dir: &Path, url: &str, extra: &[&str]) -> Output {
    syllabus(dir)
        .env_remove(common::ATTEMPTS.0)
        .args(["generate", "Astronomy for Beginners", "--backend", "ollama"])
        .args([
            "--model",
            "qwen:latest",
            "--modules",
            "3",
            "--format",
            "json",
        ])
        .args(["-o", "s.json", "--timings", "t.json", "--ollama-url", url])
        .args(extra)
        .output()
        .unwrap()
}

fn read_json(dir: &Path, file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
}

#[test]
fn three_modules_with_the_servers_timing_and_what_was_sent() {
    let server = FakeOllama::start(&["qwen:latest"], Fault::None, NO_DELAY);
    let dir = tempfile::tempdir().unwrap();
    let out = ollama(dir.path(), &server.url, &[]);
    assert_ok(&out);
    let s = read_json(dir.path(), "s.json");
    assert_eq!(s["modules"].as_array().unwrap().len(), 3);

    let t = read_json(dir.path(), "t.json");
    assert_eq!(t["backend"], "ollama");
    assert_eq!(t["model"]["name"], "qwen:latest");
    assert_eq!(t["model"]["quantization"], "Q4_0");
    // Where the daemon held the model, as its /api/ps said.
    assert_eq!(t["device"]["backend"], "Ollama", "{}", t["device"]);
    assert_eq!(t["device"]["device"], "GPU+CPU");
    assert_eq!(t["device"]["memory_bytes"], 1_000_000_000u64);
    assert!(t["device"]["layers"].is_null());
    let modules: Vec<&Value> = t["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["phase"] == "module")
        .collect();
    assert_eq!(modules.len(), 3);
    for c in &modules {
        let server = &c["server"];
        assert!(server["eval_count"].as_u64().unwrap() > 0, "{c}");
        assert_eq!(c["generated_tokens"], server["eval_count"]);
        assert!(server["prompt_eval_count"].as_u64().unwrap() > 0);
        assert_eq!(server["total_ms"], 900.0);
        assert_eq!(server["eval_ms"], 500.0);
        let overhead = server["overhead_ms"].as_f64().unwrap();
        let client = c["total_ms"].as_f64().unwrap();
        assert!(
            (overhead - (client - 900.0)).abs() < 1.0,
            "{overhead} vs {client}"
        );
    }

    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(
        requests[0].path, "/api/show",
        "the daemon and model are checked first"
    );
    assert_eq!(requests[0].body["model"], "qwen:latest");
    let chats = server.chats();
    assert_eq!(chats.len(), 4, "one outline and three module calls");
    for chat in &chats {
        assert_eq!(chat["model"], "qwen:latest");
        assert_eq!(chat["stream"], true);
        assert!(
            chat["format"]["properties"].is_object(),
            "schema sent in format"
        );
        assert!(chat["messages"].as_array().unwrap().len() >= 2);
        let o = &chat["options"];
        for key in ["temperature", "top_p", "seed", "num_ctx", "num_predict"] {
            assert!(!o[key].is_null(), "{key} missing in {o}");
        }
        assert_eq!(
            o["num_ctx"], chats[0]["options"]["num_ctx"],
            "fixed for the run"
        );
        assert!(chat["keep_alive"].is_string());
    }
    assert!(chats[0]["format"]["properties"]["modules"].is_object());
    // Module calls continue the outline's conversation, its reply as the daemon wrote it,
    // so the daemon's prompt cache can reuse the slot that ran the outline.
    let outline_messages = chats[0]["messages"].as_array().unwrap();
    for chat in &chats[1..] {
        let m = chat["messages"].as_array().unwrap();
        assert_eq!(m.len(), outline_messages.len() + 2, "{m:?}");
        assert_eq!(m[..outline_messages.len()], outline_messages[..]);
        let reply = &m[outline_messages.len()];
        assert_eq!(reply["role"], "assistant");
        assert!(reply["content"].as_str().unwrap().contains("\"modules\""));
        assert_eq!(m.last().unwrap()["role"], "user");
    }
    assert_eq!(t["module_batches"][0]["prompt_layout"], "continued");
    let seeds: std::collections::HashSet<u64> = chats
        .iter()
        .map(|c| c["options"]["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds.len(), 4, "every call has its own seed");
}

#[test]
fn nothing_listening_fails_fast_and_says_how_to_start_it() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let out = ollama(dir.path(), &format!("http://127.0.0.1:{port}"), &[]);
    assert_fails(&out, 1, "ollama serve");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(!dir.path().join("s.json").exists());
}

#[test]
fn unknown_model_says_to_pull_it() {
    let server = FakeOllama::start(&["qwen:latest"], Fault::None, NO_DELAY);
    let dir = tempfile::tempdir().unwrap();
    let out = syllabus(dir.path())
        .args([
            "generate",
            "Astronomy",
            "--backend",
            "ollama",
            "--model",
            "qwen:7b",
        ])
        .args(["--ollama-url", &server.url])
        .output()
        .unwrap();
    assert_fails(&out, 1, "ollama pull qwen:7b");
}

#[test]
fn a_server_error_is_retried() {
    let server = FakeOllama::start(&["qwen:latest"], Fault::Fail500Once, NO_DELAY);
    let dir = tempfile::tempdir().unwrap();
    let out = ollama(dir.path(), &server.url, &[]);
    assert_ok(&out);
    assert_eq!(server.chats().len(), 5, "four calls, the first sent twice");
}

#[test]
fn a_slow_call_hits_the_timeout() {
    let server = FakeOllama::start(
        &["qwen:latest"],
        Fault::Slow(Duration::from_secs(5)),
        NO_DELAY,
    );
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let out = ollama(dir.path(), &server.url, &["--call-timeout-secs", "1"]);
    assert_fails(&out, 1, "took longer than 1 s");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn the_first_failed_module_call_ends_the_phase() {
    let server = FakeOllama::start(
        &["qwen:latest"],
        Fault::SlowModules(Duration::from_secs(5)),
        NO_DELAY,
    );
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let out = ollama(dir.path(), &server.url, &["--call-timeout-secs", "1"]);
    assert_fails(&out, 1, "took longer than 1 s");
    assert_eq!(server.chats().len(), 2, "the outline, then one module call");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_cut_stream_is_an_error() {
    let server = FakeOllama::start(&["qwen:latest"], Fault::CutStream, NO_DELAY);
    let dir = tempfile::tempdir().unwrap();
    let out = ollama(dir.path(), &server.url, &[]);
    assert_fails(&out, 1, "ended before its last");
}

#[test]
fn invalid_json_is_retried_then_fails() {
    let server = FakeOllama::start(&["qwen:latest"], Fault::InvalidJson, NO_DELAY);
    let dir = tempfile::tempdir().unwrap();
    let out = ollama(dir.path(), &server.url, &[]);
    assert_fails(&out, 1, "the outline gave nothing usable in 5 attempts");
    assert_eq!(server.chats().len(), 5);
    let out = ollama(dir.path(), &server.url, &["--attempts", "2"]);
    assert_fails(&out, 1, "the outline gave nothing usable in 2 attempts");
    assert_eq!(server.chats().len(), 5 + 2);
    let out = ollama(dir.path(), &server.url, &["--attempts", "0"]);
    assert_fails(&out, 2, "--attempts must be between 1 and 20, not 0");
    assert_eq!(server.chats().len(), 5 + 2, "no call for a usage error");
}

#[test]
fn missing_timing_fields_leave_numbers_empty_and_ollama_host_needs_no_scheme() {
    let server = FakeOllama::start(&["qwen:latest"], Fault::NoTimings, NO_DELAY);
    let dir = tempfile::tempdir().unwrap();
    let out = syllabus(dir.path())
        .args(["generate", "Astronomy for Beginners", "--backend", "ollama"])
        .args([
            "--modules",
            "3",
            "--format",
            "json",
            "-o",
            "s.json",
            "--timings",
            "t.json",
        ])
        .env("OLLAMA_HOST", &server.host_port)
        .output()
        .unwrap();
    assert_ok(&out);
    let t = read_json(dir.path(), "t.json");
    assert_eq!(
        t["model"]["name"], "qwen:latest",
        "the old set-up's model is the default"
    );
    for c in t["calls"].as_array().unwrap() {
        assert!(c["server"]["eval_count"].is_null() && c["server"]["overhead_ms"].is_null());
        assert!(
            c["generated_tokens"].as_u64().unwrap() > 0,
            "counted from the stream"
        );
    }
}

#[test]
fn older_daemons_get_json_format_with_the_schema_in_the_prompt() {
    let server = FakeOllama::start(&["qwen:latest"], Fault::SchemaRefused, NO_DELAY);
    let dir = tempfile::tempdir().unwrap();
    let out = ollama(dir.path(), &server.url, &[]);
    assert_ok(&out);
    let chats = server.chats();
    assert!(chats[0]["format"].is_object());
    assert!(chats[1..].iter().all(|c| c["format"] == "json"));
    let last = chats[1]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(last["content"].as_str().unwrap().contains("\"properties\""));
}

#[test]
fn a_rejected_module_is_regenerated_while_the_others_still_run() {
    let server = FakeOllama::start(
        &["qwen:latest"],
        Fault::InvalidFirstModule(Duration::from_secs(2)),
        NO_DELAY,
    );
    let dir = tempfile::tempdir().unwrap();
    let out = ollama(dir.path(), &server.url, &["--parallel", "3"]);
    assert_ok(&out);
    // The outline, 3 modules, then the rejected module again while the other two wait.
    let arrivals = server.in_flight_at_arrival.lock().unwrap().clone();
    assert_eq!(
        arrivals,
        [1, 1, 2, 3, 3],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("t.json")).unwrap()).unwrap();
    let attempts: Vec<_> = record["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 1, 1, 1, 2]);
}

#[test]
fn modules_go_out_concurrently_up_to_parallel() {
    let server = FakeOllama::start(&["qwen:latest"], Fault::None, Duration::from_millis(5));
    let dir = tempfile::tempdir().unwrap();
    let out = ollama(dir.path(), &server.url, &["--parallel", "3"]);
    assert_ok(&out);
    assert_eq!(
        server
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        3
    );
    let server = FakeOllama::start(&["qwen:latest"], Fault::None, Duration::from_millis(5));
    let out = ollama(
        dir.path(),
        &server.url,
        &["--parallel", "3", "--strategy", "sequential"],
    );
    assert_ok(&out);
    assert_eq!(
        server
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[test]
fn ctrl_c_cancels_calls_in_flight() {
    let server = FakeOllama::start(
        &["qwen:latest"],
        Fault::Slow(Duration::from_secs(30)),
        NO_DELAY,
    );
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("syllabus"))
        .args([
            "generate",
            "Astronomy",
            "--backend",
            "ollama",
            "--ollama-url",
            &server.url,
        ])
        .args(["-o", "s.md"])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first chat request is in.
    let start = Instant::now();
    while server.chats().is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(start.elapsed() < Duration::from_secs(15));
    assert_fails(&out, 130, "interrupted");
    assert!(!dir.path().join("s.md").exists());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "no temporary file left: {left:?}");
}

#[test]
fn bench_puts_both_backends_side_by_side() {
    let server = FakeOllama::start(&["qwen:latest"], Fault::None, NO_DELAY);
    let dir = tempfile::tempdir().unwrap();
    let out = syllabus(dir.path())
        .args(MARINE_BENCH)
        .args(["--strategies", "parallel", "--backends", "llama,ollama"])
        .args(["--ollama-url", &server.url, "--json", "b.json", "--model"])
        .arg(common::model_path())
        .output()
        .unwrap();
    assert_ok(&out);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().any(|l| l.starts_with("llama ")), "{table}");
    assert!(table.lines().any(|l| l.starts_with("ollama ")), "{table}");
    let b = read_json(dir.path(), "b.json");
    let backends: Vec<&str> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["backend"].as_str().unwrap())
        .collect();
    assert_eq!(backends, ["llama", "ollama"]);
}

#[test]
fn a_line_that_never_ends_is_refused_at_its_bound() {
    let server = FakeOllama::start(&["qwen:latest"], Fault::EndlessLine, NO_DELAY);
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let out = ollama(dir.path(), &server.url, &[]);
    assert_fails(&out, 1, "longer than 1 MiB");
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn replies_in_the_response_field_are_read() {
    let server = FakeOllama::start(&["qwen:latest"], Fault::ResponseField, NO_DELAY);
    let dir = tempfile::tempdir().unwrap();
    let out = ollama(dir.path(), &server.url, &[]);
    assert_ok(&out);
    assert_eq!(
        read_json(dir.path(), "s.json")["modules"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn one_deadline_covers_a_call_and_its_retries() {
    let server = FakeOllama::start(
        &["qwen:latest"],
        Fault::Fail500After(Duration::from_millis(700)),
        NO_DELAY,
    );
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let out = ollama(dir.path(), &server.url, &["--call-timeout-secs", "1"]);
    assert_fails(&out, 1, "took longer than 1 s");
    // Three tries of 0.7 s each (and their backoff) would take well over 2 s.
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn passwords_in_the_address_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let out = syllabus(dir.path())
        .args(["generate", "Astronomy", "--backend", "ollama"])
        .args(["--ollama-url", "http://teacher:hunter2@127.0.0.1:9"])
        .output()
        .unwrap();
    let err = assert_fails(&out, 1, "cannot reach Ollama at http://127.0.0.1:9/");
    assert!(
        !err.contains("hunter2") && !err.contains("teacher"),
        "{err}"
    );
}
