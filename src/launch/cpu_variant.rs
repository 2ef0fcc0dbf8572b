//! One file, every CPU at its speed: a build for x86-64-v4 (AVX-512) can travel inside the
//! x86-64-v3 (AVX2) executable, and at start the program hands over to it when this CPU
//! has AVX-512, so llama.cpp's wider kernels run where they can and the file still runs
//! on any x86-64-v3 machine.
//!
//! The variant is a payload of the executable like a packed model (see `pack`): written
//! into the private cache once, named by its sha256, checked before it runs, reused after.
//! `SYLLABUS_CPU` forces a variant (`x86-64-v3`, `x86-64-v4`; `auto` by default). The
//! Vulkan build travels the same way, one payload before the other; whether it runs is
//! `vulkan`'s call, made first.

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::gpu;
use super::payload::{self, Embedded, Payload};
use super::program::{program_path, OUTER_EXE};
use super::supervise::{self, Ended};
use super::vulkan::{self, Decision, VULKAN};

/// Forces a variant.
pub use super::start::CPU_FORCE as FORCE;

/// The variant this executable was compiled for.
pub fn compiled_variant() -> &'static str {
    if cfg!(target_feature = "avx512f") {
        V4
    } else if cfg!(target_feature = "avx2") {
        V3
    } else {
        "x86-64"
    }
}

const V3: &str = "x86-64-v3";
const V4: &str = "x86-64-v4";

/// The CPU features that decide the variant, as this CPU reports them.
pub fn detected() -> Vec<&'static str> {
    let mut found = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! check {
            ($($f:tt),*) => {
                $(if std::arch::is_x86_feature_detected!($f) { found.push($f); })*
            };
        }
        check!(
            "avx2",
            "fma",
            "f16c",
            "avx512f",
            "avx512bw",
            "avx512cd",
            "avx512dq",
            "avx512vl",
            "avx512vnni",
            "avx512vbmi",
            "avx512bf16"
        );
    }
    found
}

/// What a variant named `name` needs of the CPU: `x86-64-v4` and any `+feature` after it
/// (`x86-64-v4+avx512vnni`); `None` for a name this program does not know.
fn needs(name: &str) -> Option<Vec<&str>> {
    let mut parts = name.split('+');
    if parts.next() != Some(V4) {
        return None;
    }
    let mut all = vec![
        "avx2", "fma", "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl",
    ];
    all.extend(parts);
    Some(all)
}

/// Whether this CPU runs the variant named `name` (e.g. `x86-64-v4`).
pub fn runs(name: &str) -> bool {
    let have = detected();
    needs(name).is_some_and(|n| n.iter().all(|f| have.contains(f)))
}

/// The builds carried in `exe`, last appended first (they sit just before a packed model,
/// if one, each before the next).
pub fn carried(exe: &Path) -> anyhow::Result<Vec<Embedded>> {
    let mut end = match payload::read_trailer(exe)? {
        Some(model) => model.offset,
        None => std::fs::metadata(exe)?.len(),
    };
    let mut all = Vec::new();
    while let Some(v) = payload::read_trailer_at(exe, end, Payload::Variant)? {
        end = v.offset;
        all.push(v);
    }
    Ok(all)
}

/// What `SYLLABUS_CPU` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    Auto,
    V3,
    V4,
}

fn wanted() -> anyhow::Result<Wanted> {
    let raw = &super::start::start().cpu_asked;
    Ok(match raw.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => Wanted::Auto,
        "x86-64-v3" | "v3" | "haswell" | "avx2" => Wanted::V3,
        "x86-64-v4" | "v4" | "skylakex" | "avx512" => Wanted::V4,
        other => bail!(
            "{FORCE}={other} is not a CPU variant: use auto, x86-64-v3 (haswell) or x86-64-v4 (skylakex)"
        ),
    })
}

/// Hands the process over to the build this machine runs best, among those the file
/// carries: the Vulkan build on a usable GPU (see `vulkan`), else the x86-64-v4
/// variant when this CPU runs it (or `SYLLABUS_CPU` says so); returns to run this build
/// otherwise. An error when a forced build cannot run here.
pub fn choose() -> anyhow::Result<()> {
    if super::start::start().outer.is_some() {
        return Ok(());
    }
    let exe = program_path()?;
    let carried = carried(&exe)?;
    match vulkan::decide(&exe, &carried)? {
        Decision::Gpu {
            variant: Some(variant),
            visible,
            note,
        } => {
            // The decision crosses into the Vulkan build: its note, llama.cpp's settings.
            let mut env = vulkan::library_env(visible, true);
            env.push((gpu::NOTE, note.into()));
            env.push((OUTER_EXE, exe.as_os_str().to_owned()));
            let ended = extract(&variant).and_then(|path| supervise::run(&path, &env));
            match ended {
                Ok(Ended::Crashed(signal)) => vulkan::fall_back(&format!(
                    "the Vulkan build died ({signal}: the GPU driver crashed?) before it finished"
                ))?,
                Ok(other) => supervise::exit_as(&other),
                Err(err) => vulkan::fall_back(&format!("cannot start the Vulkan build ({err:#})"))?,
            }
        }
        Decision::Gpu {
            variant: None,
            visible,
            note,
        } => {
            vulkan::set_env(visible, &note, true);
            return Ok(());
        }
        // A note already there says why the GPU build handed back (see `gpu::fall_back`).
        Decision::Cpu { note } if gpu::note().is_none() => {
            vulkan::set_env(None, &note, false);
        }
        Decision::Cpu { .. } => {}
    }
    choose_cpu(&exe, &carried)
}

/// Extracts `variant` into the private cache (an error when the file is damaged); its path.
fn extract(variant: &Embedded) -> anyhow::Result<PathBuf> {
    let name = format!("{}-{}", variant.sha256, variant.name);
    payload::extract(variant, "cpu", &name, 0o700)
}

/// Extracts `variant` and replaces this process by it; returns only when it cannot start.
fn start(variant: &Embedded, outer: &Path) -> anyhow::Result<anyhow::Error> {
    let path = extract(variant)?;
    // The start's note crosses the exec with it.
    let mut env = vec![(OUTER_EXE, outer.as_os_str().to_owned())];
    if let Some(note) = gpu::note() {
        env.push((super::gpu::NOTE, note.into()));
    }
    Ok(super::program::exec(&path, &env, &[]).context(format!("cannot start {}", path.display())))
}

/// The CPU part of `choose`.
fn choose_cpu(exe: &Path, carried: &[Embedded]) -> anyhow::Result<()> {
    let wanted = wanted()?;
    if wanted == Wanted::V3 {
        return Ok(());
    }
    let here = compiled_variant();
    let Some(variant) = carried.iter().find(|v| needs(&v.name).is_some()) else {
        if wanted == Wanted::V4 && here != V4 {
            bail!(
                "{FORCE}=x86-64-v4: {} carries no x86-64-v4 variant; variants in it: {here}",
                exe.display()
            );
        }
        return Ok(());
    };
    if !runs(&variant.name) {
        if wanted == Wanted::Auto {
            return Ok(());
        }
        bail!(
            "{FORCE}=x86-64-v4: this CPU cannot run {} (it has: {}); variants that run here: {here}",
            variant.name,
            detected().join(", ")
        );
    }
    let err = start(variant, exe)?;
    if wanted == Wanted::V4 {
        return Err(err);
    }
    // Logging is not set up yet: said directly.
    super::stderr::say(&format!(
        "syllabus: cannot start the {} variant ({err:#}); running the {here} build",
        variant.name
    ));
    Ok(())
}

/// Writes `out`: the running program with `variant` (a build of this same program for
/// the CPU level `name`, e.g. `x86-64-v4+avx512vnni`, or the `vulkan` build) carried
/// inside, after the builds it carries already. A packed model, if any, is not carried
/// over: pack afterwards.
pub fn embed(variant: &Path, name: &str, out: &Path) -> anyhow::Result<Embedded> {
    if needs(name).is_none() && name != VULKAN {
        bail!(
            "--name {name}: give x86-64-v4, optionally with +feature (e.g. x86-64-v4+avx512vnni), or {VULKAN}"
        );
    }
    let exe = program_path()?;
    if !carried(variant)?.is_empty() || payload::read_trailer(variant)?.is_some() {
        bail!(
            "{} carries payloads of its own; give a plain build",
            variant.display()
        );
    }
    let kind = |n: &str| if n == VULKAN { VULKAN } else { "cpu" };
    if let Some(same) = carried(&exe)?.iter().find(|c| kind(&c.name) == kind(name)) {
        bail!(
            "{} carries {} already; embed {name} into a file without one",
            exe.display(),
            same.name
        );
    }
    payload::append(&exe, variant, Payload::Variant, name, out)
}

/// A line for `--version` and `cpu info`: the variant running, and what this CPU has.
pub fn describe() -> String {
    let carried: String = program_path()
        .ok()
        .and_then(|p| carried(&p).ok())
        .unwrap_or_default()
        .iter()
        .map(|v| {
            format!(
                "; carries {} ({} bytes, sha256 {})",
                v.name, v.length, v.sha256
            )
        })
        .collect();
    let started = super::start::start()
        .outer
        .as_ref()
        .map(|o| format!(", the variant carried in {}", o.display()))
        .unwrap_or_default();
    format!(
        "cpu variant: {}{started} (this CPU: {}){carried}\n",
        compiled_variant(),
        detected().join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names_say_what_they_need() {
        assert_eq!(needs("x86-64-v3"), None);
        assert_eq!(needs("bogus"), None);
        let n = needs("x86-64-v4+avx512vnni").unwrap();
        assert!(n.contains(&"avx512f") && n.contains(&"avx512vnni"));
        assert!(!runs("x86-64-v4+an-unknown-feature"));
    }
}
