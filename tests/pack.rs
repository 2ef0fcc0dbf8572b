//! `syllabus pack`: the packed executable runs alone, in an empty folder with an empty
//! environment, and refuses a damaged payload.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::cli::{assert_fails, assert_ok, stderr, syllabus, SHORT};
use serde_json::Value;

/// Packs the test model into `dir/classroom`.
fn pack(dir: &Path) -> PathBuf {
    let out = syllabus(dir)
        .args(["pack", "--model"])
        .arg(common::model_path())
        .args(["-o", "classroom"])
        .output()
        .unwrap();
    assert_ok(&out);
    dir.join("classroom")
}

/// Copies `packed` alone into a fresh empty folder with an empty home.
fn alone(packed: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("home")).unwrap();
    let exe = dir.path().join("classroom");
    std::fs::copy(packed, &exe).unwrap();
    (dir, exe)
}

/// Runs the copy with nothing in its environment but an empty HOME.
fn run(dir: &Path, exe: &Path, args: &[&str]) -> Output {
    Command::new(exe)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir.join("home"))
        .env(common::ATTEMPTS.0, common::ATTEMPTS.1)
        .env(common::THREADS.0, common::THREADS.1)
        .output()
        .unwrap()
}

#[test]
fn packed_executable_runs_alone_and_reuses_its_extracted_model() {
    let work = tempfile::tempdir().unwrap();
    let packed = pack(work.path());
    let model_len = std::fs::metadata(common::model_path()).unwrap().len();
    let plain_len = std::fs::metadata(assert_cmd::cargo::cargo_bin("syllabus"))
        .unwrap()
        .len();
    let packed_len = std::fs::metadata(&packed).unwrap().len();
    assert!(packed_len >= model_len + plain_len && packed_len < model_len + plain_len + 200);

    let (dir, exe) = alone(&packed);
    let args = [
        &["generate"][..],
        &SHORT[..],
        &["--format", "json", "-o", "s.json", "-v"],
    ]
    .concat();
    let first = run(dir.path(), &exe, &args);
    assert_ok(&first);
    assert!(String::from_utf8_lossy(&first.stderr).contains("extracted and verified"));
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("s.json")).unwrap()).unwrap();
    assert_eq!(v["modules"].as_array().unwrap().len(), 1);

    let again = run(dir.path(), &exe, &args);
    assert_ok(&again);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already extracted"));

    let version = run(dir.path(), &exe, &["--version"]);
    assert_ok(&version);
    let text = String::from_utf8(version.stdout).unwrap();
    assert!(
        text.contains("packed model: SmolLM2-135M-Instruct.Q4_1.gguf"),
        "{text}"
    );
    assert!(text.contains(&format!("{model_len} bytes")), "{text}");
    let list = run(dir.path(), &exe, &["models", "list", "--json"]);
    assert_ok(&list);
    let v: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v["embedded"]["size_bytes"], model_len);
    assert_eq!(v["embedded"]["sha256"].as_str().unwrap().len(), 64);

    // Packing from the packed file keeps one program, not two.
    let repacked = run(
        dir.path(),
        &exe,
        &[
            "pack",
            "--model",
            common::model_path().to_str().unwrap(),
            "-o",
            "again",
        ],
    );
    assert_ok(&repacked);
    assert_eq!(
        std::fs::metadata(dir.path().join("again")).unwrap().len(),
        packed_len
    );

    // An explicit --model still wins over the packed one.
    let explicit = run(
        dir.path(),
        &exe,
        &["generate", "Geology", "--model", "elsewhere.gguf"],
    );
    assert_fails(&explicit, 1, "elsewhere.gguf does not exist");

    // The plain binary says nothing of a packed model.
    let plain = syllabus(work.path()).arg("--version").output().unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("packed"));
}

#[test]
fn damaged_payload_is_refused_with_a_message() {
    let work = tempfile::tempdir().unwrap();
    let packed = pack(work.path());
    let (dir, exe) = alone(&packed);
    let mut bytes = std::fs::read(&exe).unwrap();
    let middle = bytes.len() - 128 - 40_000_000;
    bytes[middle] ^= 0xff;
    std::fs::write(&exe, &bytes).unwrap();
    let out = run(
        dir.path(),
        &exe,
        &["generate", "Climate Science", "--modules", "2"],
    );
    assert_fails(&out, 1, "is damaged (sha256");
    let cache = dir.path().join("home/.cache/syllabus/models");
    let left: Vec<_> = std::fs::read_dir(&cache).map_or(vec![], |d| d.collect());
    assert!(left.is_empty(), "nothing half-extracted is kept: {left:?}");

    // A copy cut short loses its trailer: it runs as a plain binary and says what is missing.
    let cut = dir.path().join("cut");
    std::fs::write(&cut, &bytes[..bytes.len() - 1000]).unwrap();
    let out = run(
        dir.path(),
        &exe_with_mode(&cut),
        &["generate", "Geology", "--offline"],
    );
    assert_fails(&out, 1, "was not found");
}

fn exe_with_mode(path: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

#[test]
fn pack_refuses_a_bad_model_and_keeps_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.gguf"), b"not a model").unwrap();
    let out = syllabus(dir.path())
        .args(["pack", "--model", "bad.gguf", "-o", "classroom"])
        .output()
        .unwrap();
    assert_fails(&out, 1, "not a GGUF");
    assert!(!dir.path().join("classroom").exists());
}

#[test]
fn the_model_cache_is_private_verified_on_reuse_and_refused_when_not_ours() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let work = tempfile::tempdir().unwrap();
    let packed = pack(work.path());
    let (dir, exe) = alone(&packed);
    let args = ["models", "list", "--json"];
    // Extraction happens when a model is needed: a short generate.
    let gen = [
        &["generate"][..],
        &SHORT[..],
        &["--format", "json", "-o", "s.json", "-v"],
    ]
    .concat();
    assert_ok(&run(dir.path(), &exe, &gen));
    // Later, a run that stops once the model is loaded (its prompt does not fit --ctx):
    // the extraction is what is checked.
    let load = [
        "generate",
        "Geology",
        "--modules",
        "3",
        "--ctx",
        "512",
        "-v",
    ];
    let cache = dir.path().join("home/.cache/syllabus");
    let models = cache.join("models");
    for folder in [&cache, &models] {
        let mode = std::fs::metadata(folder).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} is private", folder.display());
    }
    let v: Value = serde_json::from_slice(&run(dir.path(), &exe, &args).stdout).unwrap();
    let sha = v["embedded"]["sha256"].as_str().unwrap().to_string();
    let file = models.join(format!("{sha}.gguf"));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A flipped byte of the same length is found on reuse, and the copy made anew.
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&file, &bytes).unwrap();
    extracted_anew(&run(dir.path(), &exe, &load));
    assert_eq!(syllabus::launch::digest::sha256_file(&file).unwrap(), sha);

    // A copy others could have written is not trusted on its stamp: made anew.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o620)).unwrap();
    extracted_anew(&run(dir.path(), &exe, &load));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Nor is a copy someone else owns (needs root to set up).
    if effective_uid() == 0 {
        std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
        extracted_anew(&run(dir.path(), &exe, &load));
        assert_eq!(std::fs::metadata(&file).unwrap().uid(), 0);
    }

    // A cache folder that belongs to someone else is refused (needs root to set up).
    if effective_uid() == 0 {
        std::os::unix::fs::chown(&models, Some(65534), Some(65534)).unwrap();
        let refused = run(dir.path(), &exe, &load);
        assert_fails(&refused, 1, "not a folder of this user's");
        assert_eq!(std::fs::metadata(&models).unwrap().uid(), 65534);
    } else {
        eprintln!("SKIPPED the foreign-owner check: it needs root to chown a folder");
    }
}

/// A run that extracted the packed model again, loaded it and then stopped: its prompt
/// does not fit the context it was given.
fn extracted_anew(out: &Output) {
    assert_fails(out, 1, "raise --ctx");
    assert!(
        stderr(out).contains("extracted and verified"),
        "{}",
        stderr(out)
    );
}

/// This process's effective user id, from /proc (no libc in the tests).
fn effective_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .unwrap_or(u32::MAX)
}
