//! CPU variants carried inside the executable: forced and automatic choice, extraction into
//! the private cache once (checked by sha256, reused after), refusal of a damaged payload,
//! and a packed file copied alone into an empty folder. The carried "x86-64-v4" build here
//! is a copy of the test binary itself (CI builds llama.cpp once); what it runs is told by
//! `--version` ("the variant carried in ...").

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::cli::{assert_fails, assert_ok, stderr, syllabus, SHORT};

/// Whether this CPU runs x86-64-v4 code (the carried variant's level).
fn cpu_runs_v4() -> bool {
    syllabus::launch::cpu_variant::runs("x86-64-v4")
}

/// `exe args` in `dir` with HOME `dir` and `SYLLABUS_CPU` as given.
fn run(exe: &Path, dir: &Path, cpu: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(exe);
    cmd.current_dir(dir)
        .env("HOME", dir)
        .env("HF_HUB_OFFLINE", "1")
        .env(common::ATTEMPTS.0, common::ATTEMPTS.1)
        .env(common::THREADS.0, common::THREADS.1)
        .env_remove("SYLLABUS_CACHE")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("SYLLABUS_OUTER_EXE")
        .args(args);
    match cpu {
        Some(c) => cmd.env("SYLLABUS_CPU", c),
        None => cmd.env_remove("SYLLABUS_CPU"),
    };
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes `dir/combined`: the test binary carrying a copy of itself as "x86-64-v4".
fn combined(dir: &Path) -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_syllabus"));
    let copy = dir.join("variant");
    std::fs::copy(&exe, &copy).unwrap();
    let out = dir.join("combined");
    let made = syllabus(dir)
        .args(["cpu", "embed", "variant", "-o", "combined"])
        .output()
        .unwrap();
    assert_ok(&made);
    out
}

fn cached(home: &Path) -> Vec<PathBuf> {
    let dir = home.join(".cache/syllabus/cpu");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn identity(path: &Path) -> (u64, i64, i64) {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).unwrap();
    (m.ino(), m.ctime(), m.ctime_nsec())
}

#[test]
fn a_carried_variant_is_chosen_extracted_once_and_a_damaged_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exe = combined(d);
    let home = tempfile::tempdir().unwrap();
    let h = home.path();

    let bogus = run(&exe, h, Some("pentium"), &["--version"]);
    assert_fails(&bogus, 1, "x86-64-v3 (haswell) or x86-64-v4");
    let v3 = run(&exe, h, Some("x86-64-v3"), &["--version"]);
    assert_ok(&v3);
    assert!(!stdout(&v3).contains("carried in"), "{}", stdout(&v3));
    assert!(stdout(&v3).contains("carries x86-64-v4"), "{}", stdout(&v3));
    assert!(
        cached(h).is_empty(),
        "nothing extracted for the x86-64-v3 build"
    );
    let plain = run(
        Path::new(env!("CARGO_BIN_EXE_syllabus")),
        h,
        Some("x86-64-v4"),
        &["--version"],
    );
    assert_fails(&plain, 1, "carries no x86-64-v4 variant");

    let forced = run(&exe, h, Some("x86-64-v4"), &["--version"]);
    if !cpu_runs_v4() {
        assert_fails(&forced, 1, "variants that run here: x86-64-v3");
        eprintln!("this CPU has no AVX-512: the forced variant was refused, as it should be");
        return;
    }
    assert_ok(&forced);
    assert!(
        stdout(&forced).contains(&format!("the variant carried in {}", exe.display())),
        "{}",
        stdout(&forced)
    );
    let files = cached(h);
    assert_eq!(files.len(), 2, "the variant and its stamp: {files:?}");
    let variant = files
        .iter()
        .find(|f| !f.to_string_lossy().ends_with(".verified"))
        .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        let folder = std::fs::metadata(variant.parent().unwrap()).unwrap();
        assert_eq!(folder.permissions().mode() & 0o777, 0o700);
    }
    let first = identity(variant);
    let auto = run(&exe, h, None, &["--version"]);
    assert_ok(&auto);
    assert!(
        stdout(&auto).contains("the variant carried in"),
        "automatic choice"
    );
    assert_eq!(identity(variant), first, "not extracted again");

    // A damaged copy in the cache is replaced; a damaged payload is refused.
    let mut bytes = std::fs::read(variant).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(variant, &bytes).unwrap();
    assert_ok(&run(&exe, h, None, &["--version"]));
    let sha = variant.file_name().unwrap().to_string_lossy()[..64].to_string();
    assert_eq!(
        syllabus::launch::digest::sha256_file(variant).unwrap(),
        sha,
        "the cache holds the checked copy"
    );

    let mut packed = std::fs::read(&exe).unwrap();
    let n = packed.len();
    packed[n - 4096] ^= 0xff;
    let damaged = d.join("damaged");
    std::fs::write(&damaged, &packed).unwrap();
    make_executable(&damaged);
    let fresh = tempfile::tempdir().unwrap();
    let refused = run(&damaged, fresh.path(), None, &["--version"]);
    let err = assert_fails(&refused, 1, "is damaged");
    assert!(err.contains("CPU variant"), "{err}");
    assert!(
        cached(fresh.path()).is_empty(),
        "nothing half-written kept: {:?}",
        cached(fresh.path())
    );
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_packed_file_with_a_variant_runs_alone_in_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exe = combined(d);
    let model = common::model_path();
    let pack = run(
        &exe,
        d,
        Some("x86-64-v3"),
        &["pack", "--model", model.to_str().unwrap(), "-o", "packed"],
    );
    assert_ok(&pack);
    let alone = tempfile::tempdir().unwrap();
    let a = alone.path();
    let file = a.join("syllabus");
    std::fs::copy(d.join("packed"), &file).unwrap();
    make_executable(&file);
    let version = run(&file, a, None, &["--version"]);
    assert_ok(&version);
    assert!(
        stdout(&version).contains("packed model"),
        "{}",
        stdout(&version)
    );
    let args = [&["generate"][..], &SHORT, &["--quiet", "-o", "out.md"]].concat();
    let first = run(&file, a, None, &args);
    assert_ok(&first);
    let md = std::fs::read_to_string(a.join("out.md")).unwrap();
    assert_eq!(md.matches("### Module ").count(), 1, "{md}");
    let snapshot: Vec<(PathBuf, (u64, i64, i64))> = ["models", "cpu"]
        .iter()
        .flat_map(|sub| {
            std::fs::read_dir(a.join(".cache/syllabus").join(sub))
                .map(|d| d.map(|e| e.unwrap().path()).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .map(|p| {
            let id = identity(&p);
            (p, id)
        })
        .collect();
    assert!(!snapshot.is_empty());
    let second = run(&file, a, None, &args);
    assert_ok(&second);
    for (p, id) in &snapshot {
        assert_eq!(identity(p), *id, "{} was extracted again", p.display());
    }
    assert!(
        !stderr(&second).contains("cannot start"),
        "{}",
        stderr(&second)
    );
}
