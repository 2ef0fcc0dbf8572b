//! Records build facts for the timing report: versions, target, profile and CPU features;
//! finds the fonts the PDF output embeds.

use std::env;
use std::path::{Path, PathBuf};

/// The fonts PDFs embed, by the variable that names each, and where Debian puts them
/// (`SYLLABUS_FONT_DIR` is looked in first).
const FONTS: [(&str, &str, &str); 4] = [
    ("SYLLABUS_FONT_SANS", "dejavu", "DejaVuSans.ttf"),
    ("SYLLABUS_FONT_SANS_BOLD", "dejavu", "DejaVuSans-Bold.ttf"),
    ("SYLLABUS_FONT_CJK", "droid", "DroidSansFallbackFull.ttf"),
    ("SYLLABUS_FONT_KOREAN", "nanum", "NanumGothic.ttf"),
];

fn find_font(folder: &str, file: &str) -> Option<PathBuf> {
    let mut places = Vec::new();
    if let Ok(dir) = env::var("SYLLABUS_FONT_DIR") {
        places.push(Path::new(&dir).join(file));
    }
    places.push(
        Path::new("/usr/share/fonts/truetype")
            .join(folder)
            .join(file),
    );
    places.into_iter().find(|p| p.is_file())
}

fn fonts() {
    println!("cargo:rerun-if-env-changed=SYLLABUS_FONT_DIR");
    for (var, folder, file) in FONTS {
        let Some(path) = find_font(folder, file) else {
            panic!(
                "{file} not found: the PDF output embeds DejaVu Sans, Droid Sans Fallback and \
                 Nanum Gothic (Debian: apt-get install fonts-dejavu-core fonts-droid-fallback \
                 fonts-nanum, which scripts/setup.sh does), or set SYLLABUS_FONT_DIR to a \
                 folder holding {file}"
            );
        };
        println!("cargo:rerun-if-changed={}", path.display());
        println!("cargo:rustc-env={var}={}", path.display());
    }
}

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
    fonts();
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
