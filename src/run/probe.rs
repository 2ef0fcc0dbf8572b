//! Every model file is loaded once in a child process before this process trusts it.
//! llama.cpp asserts (SIGABRT) on many inconsistent files, and checking field by field
//! always misses the next one; a child (this binary, hidden command `probe-model`) that
//! loads the file and decodes a few tokens turns any such death into a one-line refusal.
//! The verdict is kept in the private cache under the file's stamp (size, change time,
//! inode: no user can set a change time), so later runs pay nothing.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::engine::llama::offload::{self, Offload};
use crate::engine::llama::{LlamaEngine, LlamaOptions, LoadedModel};
use crate::engine::measures::Clock;
use crate::engine::{
    CallOptions, ChatCall, ChatMessage, Engine, NoProgress, Phase, Sampling, Strategy,
};
use crate::launch::cache;
use crate::launch::gpu::GpuFailed;
use crate::models::{gguf, ResolvedModel, Source};

/// The hidden command the child runs.
pub const COMMAND: &str = "probe-model";
/// Longest a probe may take (loading a large model from a slow disk included).
const LIMIT: Duration = Duration::from_secs(600);
/// Bytes of the child's stderr kept to explain its death.
const KEEP: usize = 64 * 1024;
/// What a passed probe's verdict file holds.
const PASSED: &str = "ok\n";

/// The cache folder of verdicts.
const VERDICTS: &str = "probes";

/// The verdict's file name for the model at `path` with stamp `stamp`, loaded as `gpu` says.
fn verdict_name(path: &Path, stamp: &str, gpu: &str) -> String {
    let key = format!(
        "{}\n{}\n{stamp}{gpu}",
        env!("CARGO_PKG_VERSION"),
        path.display()
    );
    crate::launch::digest::sha256_hex(key.as_bytes())
}

/// Refuses a model file that would kill this process when loaded with its layers where
/// `offload` says: checked by its header, then (first use only) loaded in a child
/// process. Packed models were probed by `pack`, on the CPU. A model that fails on the GPU
/// but passes on the CPU is a `GpuFailed` error: the caller falls back to the CPU.
pub fn vet(model: &ResolvedModel, offload: &Offload) -> anyhow::Result<()> {
    let gpu = offload::gpu_key(offload);
    if model.source == Source::Embedded && gpu.is_none() {
        return Ok(());
    }
    crate::models::check_header(&model.info)
        .map_err(|why| anyhow::anyhow!("{} {why}", model.path.display()))?;
    let path = model
        .path
        .canonicalize()
        .unwrap_or_else(|_| model.path.clone());
    let Some(stamp) = cache::identity(&path) else {
        bail!("cannot read {}", path.display());
    };
    let Some(gpu) = gpu else {
        return vet_as(&path, &stamp, offload, "");
    };
    match vet_as(&path, &stamp, offload, &gpu) {
        Err(on_gpu) if vet_as(&path, &stamp, &Offload::cpu(), "").is_ok() => {
            Err(GpuFailed(format!("{on_gpu:#} (on the CPU it loads)")).into())
        }
        other => other,
    }
}

/// `vet` for one placement (`gpu` its key: empty on the CPU).
fn vet_as(path: &Path, stamp: &str, offload: &Offload, gpu: &str) -> anyhow::Result<()> {
    let name = verdict_name(path, stamp, gpu);
    let verdict = cache::cache_dir().join(VERDICTS).join(&name);
    if cache::is_ours(&verdict) {
        if let Ok(text) = std::fs::read_to_string(&verdict) {
            if text == PASSED {
                return Ok(());
            }
            if let Some(why) = text.strip_prefix("refused\n") {
                bail!("{why}");
            }
        }
    }
    let started = Instant::now();
    let outcome = run_child(path, offload)?;
    tracing::info!(
        file = %path.display(),
        secs = started.elapsed().as_secs_f64(),
        "model probed in a child process"
    );
    let remembered = match &outcome {
        Outcome::Passed => Some(PASSED.to_string()),
        Outcome::Died(why) => Some(format!("refused\n{why}")),
        // A child that failed with a message may have met this machine's limits (memory,
        // a full disk): said, not remembered.
        Outcome::Failed(_) => None,
    };
    if let Some(text) = remembered {
        let kept = cache::folder(VERDICTS)
            .and_then(|dir| crate::launch::output::write_atomic(&dir.join(&name), text.as_bytes()));
        if let Err(e) = kept {
            tracing::debug!("probe verdict not kept: {e:#}");
        }
    }
    match outcome {
        Outcome::Passed => Ok(()),
        Outcome::Died(why) | Outcome::Failed(why) => bail!("{why}"),
    }
}

/// How a probe ended.
enum Outcome {
    Passed,
    /// Crashed (`CRASHES`): the file is refused, and remembered as such.
    Died(String),
    /// Exited with an error (its last line).
    Failed(String),
}

/// Signals by which a load crashes (SIGILL, SIGABRT, SIGBUS, SIGFPE, SIGSEGV): only these
/// say the file (or the driver) is at fault, and only these are remembered.
const CRASHES: [i32; 5] = [4, 6, 7, 8, 11];

/// Name of a signal that ends a process, for people.
fn signal_name(signal: i32) -> String {
    let name = match signal {
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        15 => "SIGTERM",
        11 => "SIGSEGV",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

/// The line of the child's stderr that says what went wrong: llama.cpp's assertion, else
/// its last error line.
fn cause(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let pick = lines
        .iter()
        .rev()
        .find(|l| l.contains("GGML_ASSERT") || l.contains("assert"))
        .or_else(|| {
            lines
                .iter()
                .rev()
                .find(|l| l.to_lowercase().contains("error"))
        })?;
    // "…/llama-model.cpp:1234: GGML_ASSERT(x) failed" → from the assertion on.
    let text = match pick.find("GGML_ASSERT") {
        Some(i) => &pick[i..],
        None => pick,
    };
    Some(text.chars().take(200).collect())
}

/// How a probe killed by `signal` ended: a crash refuses the file (or the GPU); a kill
/// from outside (the out-of-memory killer's SIGKILL, a SIGTERM) is said, not held against it.
fn killed(signal: i32, shown: &str, cause: Option<String>, on_gpu: bool) -> Outcome {
    if !CRASHES.contains(&signal) {
        return Outcome::Failed(format!(
            "the probe loading {shown} was stopped by {} from outside (out of memory?); try again",
            signal_name(signal)
        ));
    }
    let why = cause.map(|c| format!(" ({c})")).unwrap_or_default();
    if on_gpu {
        return Outcome::Died(format!(
            "llama.cpp stopped with {} loading {shown} on the GPU{why}",
            signal_name(signal)
        ));
    }
    Outcome::Died(format!(
        "{shown} cannot be used: llama.cpp stopped with {} while loading it{why}; the file is damaged or inconsistent",
        signal_name(signal)
    ))
}

/// Loads `path` in a child process of this program and says how it went.
fn run_child(path: &Path, offload: &Offload) -> anyhow::Result<Outcome> {
    let exe = std::env::current_exe().context("cannot find this program to probe the model")?;
    let mut command = Command::new(exe);
    // The start's note goes with the child, as it would across an exec.
    if let Some(note) = crate::launch::gpu::note() {
        command.env(crate::launch::gpu::NOTE, note);
    }
    let mut child = command
        .arg(COMMAND)
        .arg(path)
        .args(offload::child_args(offload))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start a process to probe the model")?;
    let mut err = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            kept.extend_from_slice(&buf[..n]);
            if kept.len() > KEEP {
                kept.drain(..kept.len() - KEEP);
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{} did not load within {} s in a probe; if it is very large, try again, or set {}=1",
                path.display(),
                LIMIT.as_secs(),
                crate::cli::NO_PROBE_VAR
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().unwrap_or_default();
    if status.success() {
        return Ok(Outcome::Passed);
    }
    let shown = path.display();
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        let on_gpu = offload::gpu_key(offload).is_some();
        return Ok(killed(signal, &shown.to_string(), cause(&stderr), on_gpu));
    }
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().trim_start_matches("syllabus: ").to_string())
        .unwrap_or_else(|| format!("the probe of {shown} failed ({status})"));
    Ok(Outcome::Failed(last))
}

/// The child's side: loads the model at `path` and decodes a few tokens under a grammar,
/// the way a run does; any abort happens here, not in the parent.
pub fn child(path: &Path, offload: &Offload) -> anyhow::Result<()> {
    let info = gguf::read(path)?;
    let resolved = ResolvedModel {
        name: path.display().to_string(),
        path: path.to_path_buf(),
        source: Source::Path,
        info,
    };
    let model = LoadedModel::load(resolved, offload)?;
    let opts = LlamaOptions {
        threads: num_cpus::get_physical().clamp(1, 4),
        max_ctx: 512,
        sampling: Sampling::DEFAULT,
        grammar: true,
        jump_forward: true,
        draft: 0,
    };
    let mut engine = LlamaEngine::new(&model, opts, Clock::new());
    let call = ChatCall {
        phase: Phase::Outline,
        index: 0,
        group: 0,
        attempt: 1,
        messages: vec![
            ChatMessage::new("system", "Answer in JSON."),
            ChatMessage::new("user", "Name one rock."),
        ],
        schema: serde_json::json!({"type": "object",
            "properties": {"rock": {"type": "string", "minLength": 1, "maxLength": 12}},
            "required": ["rock"], "additionalProperties": false}),
        max_tokens: 12,
        seed: 1,
        options: CallOptions::default(),
    };
    engine.reserve(&call, 0, 1, 1)?;
    engine.run(&[call], Strategy::Parallel, &NoProgress)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_crash_is_held_against_the_file() {
        for signal in CRASHES {
            let out = killed(
                signal,
                "m.gguf",
                Some("GGML_ASSERT(x) failed".into()),
                false,
            );
            assert!(matches!(out, Outcome::Died(ref why) if why.contains("GGML_ASSERT")));
        }
        // The out-of-memory killer and a stop from outside: said, never remembered.
        for signal in [9, 15] {
            let out = killed(signal, "m.gguf", None, false);
            assert!(
                matches!(out, Outcome::Failed(ref why) if why.contains("from outside")),
                "signal {signal}"
            );
        }
        let out = killed(11, "m.gguf", None, true);
        assert!(matches!(out, Outcome::Died(ref why) if why.contains("on the GPU")));
    }

    #[test]
    fn the_assertion_is_the_cause_shown() {
        let stderr = "llama_model_loader: loaded meta data\n/src/llama-vocab.cpp:2345: GGML_ASSERT(id < n_tokens) failed\nAborted\n";
        assert_eq!(cause(stderr).unwrap(), "GGML_ASSERT(id < n_tokens) failed");
        assert_eq!(
            cause("load: error loading model: bad\n").unwrap(),
            "load: error loading model: bad"
        );
        assert_eq!(cause("nothing here\n"), None);
        assert_eq!(signal_name(6), "SIGABRT");
    }
}
