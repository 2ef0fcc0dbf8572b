//! The real binary on the real test model: outputs, reproducibility and every bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use common::cli::{assert_fails, assert_ok, syllabus, SHORT, TWO_MODULES};
use serde_json::Value;

fn generate(dir: &Path, args: &[&str]) -> Output {
    let model = common::model_path();
    let mut cmd = syllabus(dir);
    cmd.arg("generate")
        .args(args)
        .arg("--model")
        .arg(&model)
        .arg("--quiet");
    cmd.output().unwrap()
}

fn check_syllabus(text: &str, modules: usize) -> Value {
    let v: Value = serde_json::from_str(text).unwrap();
    for key in ["title", "description", "audience"] {
        assert!(!v[key].as_str().unwrap().trim().is_empty(), "{key}");
    }
    for key in ["prerequisites", "learning_outcomes"] {
        assert!(v[key].as_array().unwrap().len() >= 2, "{key}");
    }
    let list = v["modules"].as_array().unwrap();
    assert_eq!(list.len(), modules);
    let mut titles = std::collections::HashSet::new();
    for (i, m) in list.iter().enumerate() {
        assert_eq!(m["number"], i + 1);
        assert!(
            titles.insert(m["title"].as_str().unwrap().to_lowercase()),
            "duplicate title"
        );
        for key in ["summary", "assessment"] {
            assert!(
                !m[key].as_str().unwrap().trim().is_empty(),
                "module {i} {key}"
            );
        }
        for key in ["learning_objectives", "topics", "activities"] {
            let items = m[key].as_array().unwrap();
            assert!(items.len() >= 2, "module {i} {key}");
            assert!(items.iter().all(|s| !s.as_str().unwrap().trim().is_empty()));
        }
    }
    v
}

/// The TWO_MODULES course generated twice, as the tests below read it: as JSON with its timing
/// record, and as Markdown on stdout. Shared: each run of the test model costs seconds.
struct TwoModules {
    dir: PathBuf,
    json: Output,
    markdown: Output,
}

fn two_modules() -> &'static TwoModules {
    static RUNS: OnceLock<TwoModules> = OnceLock::new();
    RUNS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-two-modules");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let json = [&TWO_MODULES[..], &["-o", "a.json", "--timings", "t.json"]].concat();
        TwoModules {
            json: generate(&dir, &json),
            markdown: generate(&dir, &TWO_MODULES),
            dir,
        }
    })
}

#[test]
fn json_syllabus_is_complete_and_reproducible() {
    let runs = two_modules();
    assert_ok(&runs.json);
    let text = std::fs::read_to_string(runs.dir.join("a.json")).unwrap();
    let v = check_syllabus(&text, 2);
    assert_eq!(v["topic"], TWO_MODULES[0]);
    // The Markdown run had the same request and seed: the same syllabus, only rendered.
    assert_ok(&runs.markdown);
    let rendered = syllabus(&runs.dir)
        .args(["render", "a.json"])
        .output()
        .unwrap();
    assert_ok(&rendered);
    assert_eq!(
        String::from_utf8_lossy(&rendered.stdout),
        String::from_utf8_lossy(&runs.markdown.stdout),
        "same seed, same syllabus"
    );
}

#[test]
fn markdown_goes_to_stdout_and_reads_like_a_syllabus() {
    let out = &two_modules().markdown;
    assert_ok(out);
    let md = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(md.starts_with("# "), "{md}");
    for needle in [
        "## Learning outcomes",
        "### Module 1: ",
        "### Module 2: ",
        "**Learning objectives**",
        "**Assessment:**",
    ] {
        assert!(md.contains(needle), "missing {needle}:\n{md}");
    }
    assert!(!md.contains("\"summary\""), "no raw JSON:\n{md}");
}

#[test]
fn timing_record_has_phases_that_add_up() {
    let runs = two_modules();
    assert_ok(&runs.json);
    let t: Value =
        serde_json::from_str(&std::fs::read_to_string(runs.dir.join("t.json")).unwrap()).unwrap();
    let p = &t["phases"];
    let sum: f64 = ["load_ms", "outline_ms", "modules_ms", "finalize_ms"]
        .iter()
        .map(|k| p[k].as_f64().unwrap())
        .sum();
    let wall = t["wall_ms"].as_f64().unwrap();
    assert!(
        (sum - wall).abs() <= wall * 0.05,
        "phases {sum} vs wall {wall}"
    );
    let calls = t["calls"].as_array().unwrap();
    assert!(
        calls.len() >= 3,
        "one outline and two module calls at least"
    );
    let module_calls = calls.iter().filter(|c| c["phase"] == "module").count();
    assert!(module_calls >= 2, "{module_calls}");
    let ms = |c: &Value, k: &str| c[k].as_f64().unwrap_or_else(|| panic!("{k} in {c}"));
    for c in calls {
        for key in [
            "phase",
            "index",
            "prompt_tokens",
            "cached_tokens",
            "generated_tokens",
            "queue_ms",
            "prompt_ms",
            "ttft_ms",
            "gen_ms",
            "total_ms",
            "tokens_per_s",
            "finish",
        ] {
            assert!(!c[key].is_null(), "{key} missing in {c}");
        }
        assert!(["stop", "length", "error"].contains(&c["finish"].as_str().unwrap()));
        assert!(c["generated_tokens"].as_u64().unwrap() > 0);
        assert!(c["cached_tokens"].as_u64() < c["prompt_tokens"].as_u64());
        // ttft covers the queue and the prompt; total is ttft plus generation.
        assert!(
            ms(c, "ttft_ms") + 0.02 >= ms(c, "queue_ms") + ms(c, "prompt_ms"),
            "{c}"
        );
        assert!(
            (ms(c, "total_ms") - ms(c, "ttft_ms") - ms(c, "gen_ms")).abs() < 0.05,
            "{c}"
        );
        assert!(ms(c, "tokens_per_s") > 0.0);
    }
    let modules: Vec<&Value> = calls.iter().filter(|c| c["phase"] == "module").collect();
    assert!(
        modules
            .iter()
            .all(|c| c["cached_tokens"].as_u64().unwrap() > 0),
        "parallel reuses the prefix"
    );
    assert_eq!(t["schema_version"], 4);
    assert_eq!(t["language"]["name"], "English");
    assert_eq!(t["language"]["source"], "default");
    let p = &t["prompt_tokens"];
    assert!(p["outline"].as_u64().unwrap() > 0 && p["module_prompt_max"].as_u64().unwrap() > 0);
    assert_eq!(
        p["module_shared_prefix"],
        t["module_batches"][0]["shared_prefix_tokens"]
    );
    assert_eq!(t["backend"], "llama");
    assert_eq!(t["strategy"], "parallel");
    assert!(t["threads"].as_u64().unwrap() >= 1);
    assert_eq!(t["model"]["quantization"], "Q4_1");
    assert_eq!(
        t["model"]["size_bytes"].as_u64().unwrap(),
        std::fs::metadata(common::model_path()).unwrap().len()
    );
    assert!(t["model"]["path"].as_str().unwrap().ends_with(".gguf"));
    assert!(!t["model"]["name"].as_str().unwrap().is_empty());
    let build = &t["build"];
    assert_eq!(build["crate_version"], env!("CARGO_PKG_VERSION"));
    assert!(build["llama_cpp_sys_version"]
        .as_str()
        .unwrap()
        .starts_with("0."));
    assert!(build["llama_system_info"].as_str().unwrap().contains("CPU"));
    assert!(build["cpu_features"].is_array());
    assert!(
        t["peak_rss_bytes"].as_u64().unwrap() > 50_000_000,
        "the model is mapped in"
    );
    assert!(
        t["module_batches"][0]["shared_prefix_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (vec!["   "], "topic is empty"),
        (
            vec!["Geology", "--modules", "0"],
            "--modules must be between",
        ),
        (
            vec!["Geology", "--modules", "1000"],
            "--modules must be between",
        ),
        (vec!["Geology", "--format", "rtf"], "invalid value 'rtf'"),
        (vec!["Geology", "--temperature", "-1"], "--temperature"),
    ] {
        let out = generate(dir.path(), &args);
        let err = assert_fails(&out, 2, needle);
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(err.lines().count() <= 4, "short message: {err}");
    }
}

#[test]
fn bad_model_files_exit_1_without_abort() {
    let dir = tempfile::tempdir().unwrap();
    let model = std::fs::read(common::model_path()).unwrap();
    std::fs::write(dir.path().join("empty.gguf"), b"").unwrap();
    std::fs::write(dir.path().join("text.gguf"), b"not a model\n").unwrap();
    std::fs::write(dir.path().join("cut.gguf"), &model[..model.len() / 2]).unwrap();
    std::fs::write(dir.path().join("header.gguf"), &model[..4096]).unwrap();
    // Random bytes, and the real header with its tensor count overwritten.
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.path().join("random.gguf"), random).unwrap();
    let mut corrupt = model.clone();
    corrupt[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(dir.path().join("corrupt.gguf"), corrupt).unwrap();
    for (file, needle) in [
        ("missing.gguf", "does not exist"),
        ("empty.gguf", "is not a GGUF model file"),
        ("text.gguf", "is not a GGUF model file"),
        ("cut.gguf", "truncated"),
        ("header.gguf", "damaged or unsupported GGUF"),
        ("random.gguf", "is not a GGUF model file"),
        ("corrupt.gguf", "damaged or unsupported GGUF"),
    ] {
        let out = syllabus(dir.path())
            .args(["generate", "Geology", "--model", file])
            .output()
            .unwrap();
        assert_fails(&out, 1, needle);
    }
}

#[test]
fn unknown_alias_and_missing_alias_file_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = syllabus(dir.path())
        .args(["generate", "Geology", "--model", "nosuch:1b"])
        .output()
        .unwrap();
    assert_fails(&out, 1, "unknown model");
    let out = syllabus(dir.path())
        .args(["generate", "Geology", "--model", "qwen2:1.5b"])
        .env("SYLLABUS_MODELS", dir.path())
        .output()
        .unwrap();
    let err = assert_fails(&out, 1, "qwen2-1_5b-instruct-q4_0.gguf");
    assert!(
        err.contains(&dir.path().display().to_string()) && err.contains("huggingface.co/Qwen"),
        "{err}"
    );
}

#[test]
fn alias_resolves_from_syllabus_models() {
    let dir = tempfile::tempdir().unwrap();
    let models = common::model_path().parent().unwrap().to_path_buf();
    let out = syllabus(dir.path())
        .arg("generate")
        .args(SHORT)
        .args(["--quiet", "--model", "smollm2:135m"])
        .env("SYLLABUS_MODELS", &models)
        .output()
        .unwrap();
    assert_ok(&out);
}

#[test]
fn prompt_too_large_for_the_context_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = generate(dir.path(), &["Geology", "--modules", "3", "--ctx", "512"]);
    assert_fails(&out, 1, "raise --ctx");
}

#[test]
fn failed_run_keeps_the_existing_output_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.json"), "precious").unwrap();
    let out = generate(
        dir.path(),
        &["Geology", "--modules", "3", "--ctx", "512", "-o", "s.json"],
    );
    assert_fails(&out, 1, "raise --ctx");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("s.json")).unwrap(),
        "precious"
    );
    // HOME is this folder here: the model probe's verdict is kept in its .cache.
    let left = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != ".cache")
        .count();
    assert_eq!(left, 1, "no temporary files left");
}

#[test]
fn missing_output_folder_is_refused_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let out = generate(dir.path(), &["Geology", "-o", "no/such/dir/s.md"]);
    assert_fails(&out, 1, "does not exist");
}
