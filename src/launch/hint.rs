//! One line, once per machine, when this file is not the fastest build for it: the plain
//! x86-64-v3 build on a CPU with AVX-512, or a file without the Vulkan build on a machine
//! with a usable GPU; it names the command that builds the faster file. Remembered in the
//! private cache, so it is said once, not on every run.

use super::{cache, cpu_variant};
use super::{devices, gpu, vulkan};

/// The cache file that says the hint was given.
const GIVEN: &str = "faster-build-hint";

/// What would be faster here, if anything.
fn advice() -> Option<String> {
    if super::start::start().outer.is_some() {
        return None;
    }
    let exe = super::program::program_path().ok()?;
    let carried = cpu_variant::carried(&exe).ok()?;
    let mut faster = Vec::new();
    let has = |name: &str| carried.iter().any(|c| c.name.starts_with(name));
    if cpu_variant::compiled_variant() == "x86-64-v3"
        && cpu_variant::runs("x86-64-v4")
        && !has("x86-64-v4")
    {
        faster
            .push("this CPU has AVX-512 (about 1.6x faster with the x86-64-v4 build)".to_string());
    }
    if gpu::compiled_backend() == "none" && !has(vulkan::VULKAN) {
        if let Ok(found) = devices::list(&exe) {
            if let Some(d) = found.iter().find(|d| d.usable(false)) {
                faster.push(format!(
                    "this machine has a GPU ({}) that the Vulkan build uses",
                    d.name
                ));
            }
        }
    }
    (!faster.is_empty()).then(|| {
        format!(
            "syllabus: {}: scripts/build-variants.sh (in the source folder) builds the file that runs best here",
            faster.join("; ")
        )
    })
}

/// Says `advice` once per machine, to a person: not when `quiet`, nor to a stderr that is
/// not a terminal (scripts and logs).
pub fn faster_build(quiet: bool) {
    if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return;
    }
    let Ok(dir) = cache::folder("hints") else {
        return;
    };
    let marker = dir.join(GIVEN);
    if marker.exists() {
        return;
    }
    if let Some(line) = advice() {
        super::stderr::say(&line);
    }
    let _ = super::output::write_atomic(&marker, b"looked\n");
}
