//! The real binary against what should not crash it: model files that are well-formed but
//! hostile, Ctrl-C and SIGTERM mid-run, a stderr closed early, outputs that cannot be
//! written. Every refusal is one line with a reason, never a panic or an abort.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::{assert_fails, stderr, syllabus};
use common::gguf::{Gguf, Raw};

/// The test model with `edit` applied, written as `name` in `dir`.
fn hostile(dir: &Path, name: &str, edit: impl FnOnce(&mut Gguf)) -> PathBuf {
    let mut g = Gguf::read(&common::model_path());
    edit(&mut g);
    let path = dir.join(name);
    g.write(&path);
    path
}

/// Runs `generate` on `model` and checks it is refused with one line naming `needle`.
fn refused(dir: &Path, model: &Path, needle: &str) {
    let out = syllabus(dir)
        .args(["generate", "Geology", "--modules", "2", "--model"])
        .arg(model)
        .output()
        .unwrap();
    let err = assert_fails(&out, 1, needle);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line:\n{err}");
    assert!(lines[0].starts_with("syllabus: "), "{err}");
}

#[test]
fn hostile_vocabularies_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let long_token = hostile(dir.path(), "long-token.gguf", |g| {
        let mut tokens = g.get("tokenizer.ggml.tokens").unwrap().as_strings();
        tokens[1000] = vec![b'a'; 4096];
        g.set("tokenizer.ggml.tokens", Raw::strings(&tokens));
    });
    refused(dir.path(), &long_token, "a token of 4096 bytes");
    let none = hostile(dir.path(), "none.gguf", |g| {
        g.set("tokenizer.ggml.model", Raw::string("none"));
    });
    refused(dir.path(), &none, "has no tokenizer");
    let bos = hostile(dir.path(), "bos.gguf", |g| {
        g.set("tokenizer.ggml.bos_token_id", Raw::u32(1_000_000));
    });
    refused(dir.path(), &bos, "as its bos token but has only");
    let unknown = hostile(dir.path(), "unknown.gguf", |g| {
        g.set("tokenizer.ggml.model", Raw::string("tiktoken9"));
    });
    refused(dir.path(), &unknown, "llama.cpp does not know");
}

#[test]
fn hostile_hyperparameters_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let twice = hostile(dir.path(), "twice.gguf", |g| {
        let mut tokens = g.get("tokenizer.ggml.tokens").unwrap().as_strings();
        tokens[1000] = tokens[1001].clone();
        g.set("tokenizer.ggml.tokens", Raw::strings(&tokens));
    });
    refused(dir.path(), &twice, "twice in its vocabulary");
    let none = hostile(dir.path(), "no-layers.gguf", |g| {
        g.set("llama.block_count", Raw::u32(0));
    });
    refused(dir.path(), &none, "llama.block_count is 0");
    let many = hostile(dir.path(), "many-layers.gguf", |g| {
        g.set("llama.block_count", Raw::u32(100_000));
    });
    refused(dir.path(), &many, "100000 layers");
    let wide = hostile(dir.path(), "wide.gguf", |g| {
        g.set("llama.embedding_length", Raw::u32(1024));
    });
    refused(dir.path(), &wide, "token_embd.weight has 576");
}

#[test]
fn a_file_that_aborts_llama_cpp_is_refused_by_the_probe_and_remembered() {
    // No header check looks at experts: llama.cpp asserts on this one (SIGABRT) when
    // it loads the file, here in the probe's child process.
    let dir = tempfile::tempdir().unwrap();
    let experts = hostile(dir.path(), "experts.gguf", |g| {
        g.set("llama.expert_used_count", Raw::u32(1));
    });
    refused(
        dir.path(),
        &experts,
        "stopped with SIGABRT while loading it",
    );
    let start = Instant::now();
    refused(dir.path(), &experts, "GGML_ASSERT");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "the verdict is remembered: {:?}",
        start.elapsed()
    );
    // The same file changed is probed again: its stamp moved.
    let mut g = common::gguf::Gguf::read(&experts);
    g.set("llama.expert_used_count", Raw::u32(0));
    g.write(&experts);
    let out = syllabus(dir.path())
        .arg("generate")
        .args(common::cli::SHORT)
        .args(["-o", "g.md", "--model"])
        .arg(&experts)
        .output()
        .unwrap();
    common::cli::assert_ok(&out);
}

#[test]
fn a_tiny_file_claiming_millions_of_tensors_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&3u32.to_le_bytes());
    bytes.extend_from_slice(&(1u64 << 24).to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    let path = dir.path().join("claims.gguf");
    std::fs::write(&path, bytes).unwrap();
    let start = Instant::now();
    refused(dir.path(), &path, "damaged or unsupported GGUF");
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// Starts `args` on the test model in `dir`.
fn long_run(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(assert_cmd::cargo::cargo_bin("syllabus"))
        .args(args)
        .arg("--model")
        .arg(common::model_path())
        .env(common::ATTEMPTS.0, common::ATTEMPTS.1)
        .env(common::THREADS.0, common::THREADS.1)
        .current_dir(dir)
        .env("HF_HUB_OFFLINE", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `generate` of 8 modules, the run of the bars.
const GENERATE: &[&str] = &[
    "generate",
    "History of Jazz",
    "--modules",
    "8",
    "-o",
    "s.md",
    "--timings",
    "t.json",
    "--quiet",
];

/// Sends `signal` 2 s into `args`; checks it stops within 1.5 s with `code` and one line,
/// leaving no output and no temporary file.
fn interrupted(args: &[&str], signal: &str, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.md"), "precious").unwrap();
    let child = long_run(dir.path(), args);
    std::thread::sleep(Duration::from_secs(2));
    let sent = Instant::now();
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_millis(1500),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
    // Lines printed before the signal may stay (bench names the model it loaded).
    assert_eq!(
        stderr(&out).trim().lines().last(),
        Some("syllabus: interrupted"),
        "{}",
        stderr(&out)
    );
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["keep.md"], "no output, no temporary file");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep.md")).unwrap(),
        "precious"
    );
}

#[test]
fn ctrl_c_stops_a_run_at_once_and_leaves_nothing() {
    interrupted(GENERATE, "-INT", 130);
}

#[test]
fn sigterm_stops_a_run_at_once_and_leaves_nothing() {
    interrupted(GENERATE, "-TERM", 143);
}

#[test]
fn ctrl_c_stops_a_bench_as_a_whole() {
    // Two strategies, two runs each: the signal lands in the first of four runs.
    let bench = [
        "bench",
        "History of Jazz",
        "--modules",
        "8",
        "--runs",
        "2",
        "--strategies",
        "sequential,parallel",
        "--json",
        "b.json",
        "--svg",
        "b.svg",
    ];
    interrupted(&bench, "-INT", 130);
}

/// Runs `generate -o s.md` with stdout and stderr into one pipe that is read for `keep`
/// bytes and then closed (`2>&1 | head -c N`): the run must finish and write its file.
fn closed_pipe_after(keep: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (mut reader, writer) = std::io::pipe().unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("syllabus"))
        .arg("generate")
        .args(common::cli::SHORT)
        .args(["-o", "s.md", "-v"])
        .arg("--model")
        .arg(common::model_path())
        .env(common::ATTEMPTS.0, common::ATTEMPTS.1)
        .env(common::THREADS.0, common::THREADS.1)
        .current_dir(dir.path())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .env("HF_HUB_OFFLINE", "1")
        .spawn()
        .unwrap();
    let mut got = vec![0u8; keep];
    if keep > 0 {
        reader.read_exact(&mut got).unwrap();
    }
    drop(reader);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "after {keep} bytes: {status:?}");
    let text = std::fs::read_to_string(dir.path().join("s.md")).unwrap();
    assert!(text.starts_with("# "), "{text}");
}

#[test]
fn a_closed_stderr_never_ends_a_run() {
    closed_pipe_after(0);
    closed_pipe_after(300);
}

/// A stderr nobody reads (a full pipe) does not stall the run either.
#[test]
fn a_full_stderr_never_stalls_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    // The smallest pipe there is (one page): the run's debug lines fill it at once.
    // SAFETY: F_SETPIPE_SZ on a pipe this test owns.
    let sized = unsafe {
        libc::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&writer),
            libc::F_SETPIPE_SZ,
            4096,
        )
    };
    assert!(sized > 0);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("syllabus"))
        .arg("generate")
        .args(common::cli::SHORT)
        .args(["-o", "s.md", "-vv"])
        .arg("--model")
        .arg(common::model_path())
        .env(common::ATTEMPTS.0, common::ATTEMPTS.1)
        .env(common::THREADS.0, common::THREADS.1)
        .current_dir(dir.path())
        .stderr(writer)
        .env("HF_HUB_OFFLINE", "1")
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "stalled");
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(reader);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(dir.path().join("s.md").is_file());
}

#[test]
fn an_unwritable_output_fails_before_the_model_loads() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let out = syllabus(dir.path())
        .args([
            "generate",
            "Geology",
            "--modules",
            "8",
            "-o",
            "/proc/x.md",
            "--model",
        ])
        .arg(common::model_path())
        .output()
        .unwrap();
    assert_fails(&out, 1, "cannot create a file in /proc");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let out = syllabus(dir.path())
        .args(["generate", "Geology", "-o", "s.json", "--timings", "s.json"])
        .output()
        .unwrap();
    assert_fails(&out, 2, "both name");
}

#[test]
fn a_model_trained_on_2048_tokens_runs() {
    // Every call fits in 2,048 tokens; the budgets are clamped to what the model was
    // trained on instead of refusing it up front. (Whether the tiny model then writes a
    // valid syllabus depends on the draw; what matters here is that its calls run.)
    let dir = tempfile::tempdir().unwrap();
    let short = hostile(dir.path(), "short.gguf", |g| {
        g.set("llama.context_length", Raw::u32(2048));
    });
    let out = syllabus(dir.path())
        .args([
            "generate",
            "Introduction to Marine Biology",
            "--modules",
            "1",
        ])
        .args(["--seed", "3", "-o", "s.json", "--model"])
        .arg(&short)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("does not fit the context"), "{err}");
    assert!(!err.contains("could not create a context"), "{err}");
    match out.status.code() {
        Some(0) => {
            let s: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.path().join("s.json")).unwrap()).unwrap();
            assert_eq!(s["modules"].as_array().unwrap().len(), 1);
        }
        // Nothing usable from the tiny model, after its calls ran.
        Some(1) => assert!(err.contains("gave nothing usable"), "{err}"),
        other => panic!("exit {other:?}: {err}"),
    }
}
