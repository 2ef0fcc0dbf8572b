//! Records build facts for the timing report: versions, target, profile and CPU features.

use std::env;

fn locked_version(lock: &str, package: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{package}\"") {
            let version = lines.next()?.trim().strip_prefix("version = ")?;
            return Some(version.trim_matches('"').to_string());
        }
    }
    None
}

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=build.rs");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let llama = locked_version(&lock, "llama-cpp-sys-2").unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SYLLABUS_LLAMA_CPP_SYS={llama}");
    let target = env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=SYLLABUS_TARGET={target}");
    let profile = env::var("PROFILE").unwrap_or_default();
    println!("cargo:rustc-env=SYLLABUS_PROFILE={profile}");
    // The SIMD features the code was compiled for (llama.cpp's build follows them).
    let wanted = [
        "sse3",
        "ssse3",
        "sse4.1",
        "sse4.2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "bmi2",
        "avx512f",
        "avx512bw",
        "avx512vnni",
        "avxvnni",
        "neon",
        "dotprod",
        "i8mm",
        "sve",
    ];
    let features: Vec<String> = env::var("CARGO_CFG_TARGET_FEATURE")
        .unwrap_or_default()
        .split(',')
        .filter(|f| wanted.contains(f))
        .map(str::to_string)
        .collect();
    println!(
        "cargo:rustc-env=SYLLABUS_CPU_FEATURES={}",
        features.join(",")
    );
}
