//! The Vulkan build inside the one file, on Mesa's lavapipe (a Vulkan device in software):
//! forced, it writes a syllabus with the model's layers on the device and the record says
//! so; `auto` leaves a CPU implementation alone and runs the CPU build; a broken or absent
//! Vulkan loader changes nothing for the plain file; a GPU that cannot take the model falls
//! back to the CPU build with one line, or fails with that line when forced.
//!
//! The Vulkan build is `SYLLABUS_VULKAN_BUILD` (`.ci/run` builds it, with
//! `--features vulkan`, and sets `SYLLABUS_REQUIRE_VULKAN=1` so CI never skips these).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::cli::{assert_ok, stderr, syllabus};
use serde_json::Value;

/// The test binary carrying the Vulkan build, written into `dir`; `None` (outside CI
/// only) when there is no Vulkan build to join.
fn joined(dir: &Path) -> Option<PathBuf> {
    let build = std::env::var_os("SYLLABUS_VULKAN_BUILD").map(PathBuf::from);
    let Some(build) = build.filter(|b| b.is_file()) else {
        assert!(
            std::env::var_os("SYLLABUS_REQUIRE_VULKAN").is_none(),
            ".ci/run builds the Vulkan build and sets SYLLABUS_VULKAN_BUILD"
        );
        eprintln!("SKIPPED: no Vulkan build (SYLLABUS_VULKAN_BUILD)");
        return None;
    };
    let made = syllabus(dir)
        .arg("cpu")
        .arg("embed")
        .arg(&build)
        .args(["--name", "vulkan", "-o", "joined"])
        .output()
        .unwrap();
    assert_ok(&made);
    Some(dir.join("joined"))
}

/// One shader cache for every test of the run: lavapipe compiles ggml's shaders for the
/// CPU, and with each test's own HOME every device load compiled them all again.
fn shader_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mesa-shader-cache")
}

/// `exe args` in `dir` (HOME there, no model stores), with `env` set, not started.
fn command(exe: &Path, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(exe);
    cmd.current_dir(dir)
        .env("HOME", dir)
        .env("HF_HUB_OFFLINE", "1")
        .env(common::ATTEMPTS.0, common::ATTEMPTS.1)
        .env("MESA_SHADER_CACHE_DIR", shader_cache())
        .args(args);
    for var in [
        "SYLLABUS_CACHE",
        "XDG_CACHE_HOME",
        "SYLLABUS_OUTER_EXE",
        "SYLLABUS_GPU",
        "SYLLABUS_GPU_NOTE",
        "SYLLABUS_GPU_CPU_DEVICES",
        "SYLLABUS_CPU",
        "GGML_VK_VISIBLE_DEVICES",
        "SYLLABUS_MODELS",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// `exe args` in `dir` (see `command`), run to its end.
fn run(exe: &Path, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    command(exe, dir, env, args).output().unwrap()
}

/// The one `syllabus: ` line of a run that failed (exit 1) with it as its error.
fn the_one_error(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let ours: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("syllabus: "))
        .collect();
    assert_eq!(ours.len(), 1, "{err}");
    ours[0].to_string()
}

/// The one line of a run that says the GPU build gave way to the CPU build.
fn the_one_fallback(out: &Output) -> String {
    let err = stderr(out);
    let said: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("running the CPU build"))
        .collect();
    assert_eq!(said.len(), 1, "{err}");
    said[0].to_string()
}

/// Writes 1 module of the test model as JSON with its timing record; returns the record.
fn generate(exe: &Path, dir: &Path, env: &[(&str, &str)], extra: &[&str]) -> (Output, Value) {
    let model = common::model_path();
    let mut args = vec![
        "generate",
        "Introduction to Chemistry",
        "--modules",
        "1",
        "--model",
        model.to_str().unwrap(),
        "-o",
        "out.json",
        "--timings",
        "t.json",
    ];
    args.extend(extra);
    let out = run(exe, dir, env, &args);
    let record = std::fs::read(dir.join("t.json"))
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or(Value::Null);
    (out, record)
}

/// A folder whose `libvulkan.so.1` is not a library: a loader that cannot be loaded.
fn broken_loader(dir: &Path) -> PathBuf {
    let libs = dir.join("libs");
    std::fs::create_dir_all(&libs).unwrap();
    std::fs::write(libs.join("libvulkan.so.1"), b"not a library").unwrap();
    libs
}

#[test]
fn the_plain_file_does_not_link_the_vulkan_loader() {
    let out = std::process::Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_syllabus"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("libc.so"), "{text}");
    assert!(!text.contains("libvulkan"), "{text}");
}

#[test]
fn a_file_without_the_vulkan_build_refuses_a_forced_gpu_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let exe = Path::new(env!("CARGO_BIN_EXE_syllabus"));
    let out = run(
        exe,
        dir.path(),
        &[("SYLLABUS_GPU", "vulkan")],
        &["cpu", "info"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("SYLLABUS_GPU=vulkan") && err.contains("carries no Vulkan build"));
    let bad = run(
        exe,
        dir.path(),
        &[("SYLLABUS_GPU", "maybe")],
        &["cpu", "info"],
    );
    assert!(
        stderr(&bad).contains("use off, auto or vulkan"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn forced_onto_lavapipe_the_vulkan_build_writes_the_syllabus_with_its_layers_there() {
    let dir = tempfile::tempdir().unwrap();
    let Some(exe) = joined(dir.path()) else {
        return;
    };
    // Lavapipe computes on the CPU's cores and compiles each shader on first use: with
    // every layer there, over 20 minutes for one module on a fresh CI machine; with four
    // and the model's own outline, 10. One layer takes the same way (weights on the
    // device, its shaders run each step), and a one-line outline of the teacher's leaves
    // the model less to write: 23 s here on a cold shader cache (180 s while prompts still
    // went to lavapipe, see `launch::vulkan`, and LLVM ran without its optimisation passes
    // to compile their shaders sooner: now the decoding is most of it, 61 s that way).
    // llama.cpp's own threads wait passively so lavapipe's have the cores.
    std::fs::write(
        dir.path().join("outline.txt"),
        "Atoms and Elements: what matter is made of\n",
    )
    .unwrap();
    let (out, record) = generate(
        &exe,
        dir.path(),
        &[("SYLLABUS_GPU", "vulkan"), ("OMP_WAIT_POLICY", "passive")],
        &["--gpu-layers", "1", "--outline", "outline.txt"],
    );
    assert_ok(&out);
    let device = &record["device"];
    assert_eq!(device["backend"], "Vulkan", "{device}");
    assert!(
        device["description"].as_str().unwrap().contains("llvmpipe"),
        "{device}"
    );
    assert_eq!(device["layers"], 30, "{device}");
    assert_eq!(device["layers_offloaded"], 1, "{device}");
    assert!(device["why"]
        .as_str()
        .unwrap()
        .contains("SYLLABUS_GPU=vulkan"));
    let syllabus: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out.json")).unwrap()).unwrap();
    assert_eq!(syllabus["modules"].as_array().unwrap().len(), 1);
    assert!(
        stderr(&out).contains("device: Vulkan0 (llvmpipe"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn auto_leaves_a_cpu_implementation_alone_and_runs_the_cpu_build() {
    let dir = tempfile::tempdir().unwrap();
    let Some(exe) = joined(dir.path()) else {
        return;
    };
    let info = run(&exe, dir.path(), &[], &["cpu", "info"]);
    assert_ok(&info);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("gpu backend: none"), "{text}");
    assert!(text.contains("CPU implementation"), "{text}");
    assert!(text.contains("carries vulkan"), "{text}");
    let (out, record) = generate(&exe, dir.path(), &[], &[]);
    assert_ok(&out);
    assert_eq!(record["device"]["backend"], "CPU", "{record}");
    assert_eq!(record["device"]["layers_offloaded"], 0);
    assert!(record["device"]["why"]
        .as_str()
        .unwrap()
        .contains("CPU implementation"));
    assert_eq!(
        record["build"]["llama_system_info"]
            .as_str()
            .map(|s| s.contains("CPU")),
        Some(true)
    );
}

#[test]
fn a_broken_vulkan_loader_changes_nothing_for_the_plain_file_and_fails_a_forced_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let Some(exe) = joined(dir.path()) else {
        return;
    };
    let libs = broken_loader(dir.path());
    let env = [("LD_LIBRARY_PATH", libs.to_str().unwrap())];
    let (out, record) = generate(&exe, dir.path(), &env, &[]);
    assert_ok(&out);
    assert_eq!(record["device"]["backend"], "CPU", "{record}");
    assert!(
        record["device"]["why"]
            .as_str()
            .unwrap()
            .contains("no Vulkan loader"),
        "{record}"
    );
    let forced = run(
        &exe,
        dir.path(),
        &[env[0], ("SYLLABUS_GPU", "vulkan")],
        &["cpu", "info"],
    );
    let err = stderr(&forced);
    assert_eq!(forced.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("SYLLABUS_GPU=vulkan: no Vulkan loader"),
        "{err}"
    );
}

#[test]
fn a_gpu_that_cannot_take_the_model_falls_back_in_one_line_or_fails_when_forced() {
    let dir = tempfile::tempdir().unwrap();
    let Some(exe) = joined(dir.path()) else {
        return;
    };
    // Buffers of 100 kB at most on the device: llama.cpp aborts loading the model there
    // (in the probe's child process), and loads it on the CPU.
    let small = ("GGML_VK_FORCE_MAX_BUFFER_SIZE", "100000");
    let forced = generate(&exe, dir.path(), &[small, ("SYLLABUS_GPU", "vulkan")], &[]).0;
    let line = the_one_error(&forced);
    assert!(
        line.contains("SYLLABUS_GPU=vulkan: llama.cpp stopped with SIGABRT"),
        "{line}"
    );
    assert!(line.contains("on the GPU") && line.contains("(on the CPU it loads)"));
    assert!(!dir.path().join("out.json").exists());
    // auto, lavapipe counted as a GPU: the run goes on in the CPU build.
    let env = [small, ("SYLLABUS_GPU_CPU_DEVICES", "1")];
    let (out, record) = generate(&exe, dir.path(), &env, &[]);
    assert_ok(&out);
    let said = the_one_fallback(&out);
    assert!(said.contains("SIGABRT loading"), "{said}");
    assert_eq!(record["device"]["backend"], "CPU", "{record}");
    assert!(record["device"]["why"]
        .as_str()
        .unwrap()
        .starts_with("CPU build: "));
}

/// The children of process `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: the name may hold spaces, so after its ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

/// Whether process `pid` has `file` mapped (the model loaded).
fn maps(pid: u32, file: &Path) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .is_ok_and(|m| m.contains(file.to_str().unwrap()))
}

/// Starts `generate` on the joined file with `env` (stderr piped), waits until its Vulkan
/// build has the model loaded and is writing, and kills that build with SIGSEGV, as a
/// driver crash would; the outcome.
fn crash_mid_run(exe: &Path, dir: &Path, env: &[(&str, &str)]) -> Output {
    use std::process::Stdio;
    let model = common::model_path();
    let args = [
        "generate",
        "Introduction to Chemistry",
        "--modules",
        "1",
        "--gpu-layers",
        "1",
        "-o",
        "out.json",
        "--timings",
        "t.json",
        "--model",
        model.to_str().unwrap(),
    ];
    let child = command(exe, dir, env, &args)
        .env("OMP_WAIT_POLICY", "passive")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let top = child.id();
    let start = std::time::Instant::now();
    let vulkan = loop {
        let loaded = children(top).into_iter().find(|&c| maps(c, &model));
        if let Some(pid) = loaded {
            break pid;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(600),
            "the Vulkan build never loaded the model"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    std::thread::sleep(std::time::Duration::from_secs(3));
    // Rust's own SIGSEGV handler lets the first one by (it is not a fault of its stack);
    // the second finds the default action.
    while std::path::Path::new(&format!("/proc/{vulkan}")).exists()
        && !std::fs::read_to_string(format!("/proc/{vulkan}/stat")).is_ok_and(|s| s.contains(") Z"))
    {
        // SAFETY: kill(2) on a process this test started (the Vulkan build, its grandchild).
        unsafe { libc::kill(vulkan as i32, libc::SIGSEGV) };
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_vulkan_build_that_crashes_mid_run_hands_the_course_to_the_cpu_build() {
    let dir = tempfile::tempdir().unwrap();
    let Some(exe) = joined(dir.path()) else {
        return;
    };
    // auto, lavapipe counted as a GPU: one line, then the CPU build writes the syllabus.
    let out = crash_mid_run(&exe, dir.path(), &[("SYLLABUS_GPU_CPU_DEVICES", "1")]);
    assert_ok(&out);
    let said = the_one_fallback(&out);
    assert!(said.contains("the Vulkan build died (SIGSEGV"), "{said}");
    let syllabus: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out.json")).unwrap()).unwrap();
    assert_eq!(syllabus["modules"].as_array().unwrap().len(), 1);
    let record: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("t.json")).unwrap()).unwrap();
    assert_eq!(record["device"]["backend"], "CPU", "{record}");
    assert!(record["device"]["why"]
        .as_str()
        .unwrap()
        .contains("the Vulkan build died"));

    // Forced: the one line is the error, and nothing is written.
    std::fs::remove_file(dir.path().join("out.json")).unwrap();
    let out = crash_mid_run(&exe, dir.path(), &[("SYLLABUS_GPU", "vulkan")]);
    let line = the_one_error(&out);
    assert!(
        line.contains("SYLLABUS_GPU=vulkan: the Vulkan build died (SIGSEGV"),
        "{line}"
    );
    assert!(!dir.path().join("out.json").exists());
}
