//! `scripts/variant-cargo.sh`, the cargo call `scripts/build-variants.sh` makes for each
//! carried build, on a small crate instead of llama.cpp: the x86-64-v4 flags reach the
//! program (it does not compile without AVX-512 enabled) and never a build script (one
//! compiled for AVX-512 dies of SIGILL on a host without it, as zerocopy's did).

use std::path::Path;
use std::process::Command;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_x86_64_v4_build_flags_reach_the_program_and_not_its_build_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let krate = dir.path();
    write(
        krate,
        "Cargo.toml",
        "[package]\nname = \"v4probe\"\nversion = \"0.1.0\"\nedition = \"2021\"\nbuild = \"build.rs\"\n[workspace]\n",
    );
    write(
        krate,
        "build.rs",
        "fn main() {\n    if cfg!(target_feature = \"avx512f\") {\n        panic!(\"the build script was compiled for AVX-512\");\n    }\n}\n",
    );
    write(
        krate,
        "src/main.rs",
        "#[cfg(not(all(target_feature = \"avx512f\", target_feature = \"avx512vnni\")))]\ncompile_error!(\"the program was not compiled for x86-64-v4\");\nfn main() {}\n",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/variant-cargo.sh");
    let target = krate.join("target");
    let out = Command::new("bash")
        .arg(&script)
        .arg("x86-64-v4")
        .current_dir(krate)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let path = Command::new("bash")
        .arg(&script)
        .args(["x86-64-v4", "--print-path"])
        .current_dir(krate)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    let folder = String::from_utf8(path.stdout).unwrap();
    assert!(
        Path::new(folder.trim()).join("v4probe").is_file(),
        "no program where --print-path says: {folder}"
    );
}

#[test]
fn an_unknown_variant_is_refused() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/variant-cargo.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("x86-64-v9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown variant"));
}
