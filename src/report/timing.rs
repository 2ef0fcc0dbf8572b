//! The run record written by `--timings`: the model, the build, the phases, the engine's
//! batch figures and every call's record (the engine's `measures`), on one time line.

use serde::Serialize;

use crate::course::language::LanguageChoice;
use crate::engine::device::DeviceUse;
use crate::engine::measures::{BatchStats, CallRecord, EngineInfo, Phase};
use crate::launch::build_info::BuildInfo;

/// Peak resident memory of this process so far (Linux `VmHWM`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Wall time of each phase of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Phases {
    /// Finding and loading the model.
    pub load_ms: f64,
    /// The outline call(s).
    pub outline_ms: f64,
    /// All module calls.
    pub modules_ms: f64,
    /// Assembling, validating and writing the output.
    pub finalize_ms: f64,
}

/// The model a run used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRecord {
    /// Alias, file name or daemon model name.
    pub name: String,
    /// Local file, when there is one.
    pub path: Option<String>,
    /// File size in bytes, when known.
    pub size_bytes: Option<u64>,
    /// Quantization such as Q4_0, when known.
    pub quantization: Option<String>,
    /// The chat template in use, when the engine renders prompts itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_template: Option<String>,
}

/// The timing record of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// Version of this record's layout.
    pub schema_version: u32,
    /// "llama" (in process) or "ollama".
    pub backend: String,
    /// The model.
    pub model: ModelRecord,
    /// The device the model ran on and the layers offloaded to it (in process; `null`
    /// for a daemon, which does not say).
    pub device: Option<DeviceUse>,
    /// Module scheduling strategy.
    pub strategy: String,
    /// Generation threads.
    pub threads: usize,
    /// Modules asked for.
    pub modules: usize,
    /// Whole run.
    pub wall_ms: f64,
    /// Time per phase; they add up to `wall_ms`.
    pub phases: Phases,
    /// Peak resident memory of the process, where the platform reports it.
    pub peak_rss_bytes: Option<u64>,
    /// Versions, target and CPU features.
    pub build: BuildInfo,
    /// The language written in, and why (absent in records made without a request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<LanguageChoice>,
    /// Fields kept though they failed their checks, marked "needs review" in the syllabus.
    pub review: usize,
    /// Prompt sizes in tokens, from the first try of each call.
    pub prompt_tokens: PromptTokens,
    /// The module phase's batch figures (shared prefix, parallelism, decode time).
    pub module_batches: Vec<BatchStats>,
    /// Every model call, regenerations included.
    pub calls: Vec<CallRecord>,
}

/// Prompt sizes of a run in tokens: what each phase had to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PromptTokens {
    /// The outline call's prompt.
    pub outline: usize,
    /// The prefix all module calls share (0 when not shared, as with `sequential`).
    pub module_shared_prefix: usize,
    /// The longest module prompt beyond that prefix.
    pub module_suffix_max: usize,
    /// The longest module prompt in all.
    pub module_prompt_max: usize,
}

impl PromptTokens {
    /// From the first try of each call and the first module batch.
    pub fn of(calls: &[CallRecord], batches: &[BatchStats]) -> Self {
        let first = |phase| {
            calls
                .iter()
                .filter(move |c| c.phase == phase && c.attempt == 1)
        };
        let shared = batches.first().map_or(0, |b| b.shared_prefix_tokens);
        Self {
            outline: first(Phase::Outline)
                .map(|c| c.prompt_tokens)
                .max()
                .unwrap_or(0),
            module_shared_prefix: shared,
            module_suffix_max: first(Phase::Module)
                .map(|c| c.prompt_tokens.saturating_sub(shared))
                .max()
                .unwrap_or(0),
            module_prompt_max: first(Phase::Module)
                .map(|c| c.prompt_tokens)
                .max()
                .unwrap_or(0),
        }
    }
}

/// Version of the timing record layout.
pub const TIMING_SCHEMA_VERSION: u32 = 4;

impl RunRecord {
    /// A record of a finished run; its wall time is its phases' sum.
    pub fn new(
        engine: EngineInfo,
        strategy: &str,
        modules: usize,
        phases: Phases,
        module_batches: Vec<BatchStats>,
        calls: Vec<CallRecord>,
    ) -> Self {
        let wall_ms = phases.load_ms + phases.outline_ms + phases.modules_ms + phases.finalize_ms;
        Self {
            schema_version: TIMING_SCHEMA_VERSION,
            backend: engine.backend,
            model: ModelRecord {
                name: engine.model,
                path: engine.path,
                size_bytes: engine.size_bytes,
                quantization: engine.quantization,
                chat_template: engine.chat_template,
            },
            device: engine.device,
            strategy: strategy.to_string(),
            threads: engine.threads,
            modules,
            wall_ms,
            phases,
            peak_rss_bytes: peak_rss_bytes(),
            build: crate::launch::build_info::build_info(),
            language: None,
            review: 0,
            prompt_tokens: PromptTokens::of(&calls, &module_batches),
            module_batches,
            calls,
        }
    }

    /// Tokens generated per second by `phase`'s calls over its `ms` (0 when it took none).
    pub fn phase_tokens_per_s(&self, phase: Phase, ms: f64) -> f64 {
        let calls = self.calls.iter().filter(|c| c.phase == phase);
        let tokens: usize = calls.map(|c| c.generated_tokens).sum();
        if ms > 0.0 {
            tokens as f64 * 1000.0 / ms
        } else {
            0.0
        }
    }

    /// Tokens generated across all calls.
    pub fn generated_tokens(&self) -> usize {
        self.calls.iter().map(|c| c.generated_tokens).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::measures::{CallMarks, CallTokens, Finish};

    #[test]
    fn record_derives_durations_from_marks() {
        let marks = CallMarks {
            submitted: 100.0,
            admitted: 150.0,
            prompt_done: Some(400.0),
            first_token: Some(400.0),
            done: 1400.0,
        };
        let tokens = CallTokens {
            prompt: 300,
            cached: 200,
            generated: 101,
        };
        let r = CallRecord::new(Phase::Module, 2, 1, marks, tokens, Finish::Stop);
        assert_eq!(
            (r.queue_ms, r.prompt_ms, r.ttft_ms, r.gen_ms, r.total_ms),
            (50.0, 250.0, 300.0, 1000.0, 1300.0)
        );
        assert_eq!(r.tokens_per_s, 100.0);
    }

    #[test]
    fn peak_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().unwrap() > 1_000_000);
        }
    }

    #[test]
    fn failed_call_without_tokens_has_zero_rate() {
        let marks = CallMarks {
            submitted: 0.0,
            admitted: 0.0,
            done: 5.0,
            ..Default::default()
        };
        let r = CallRecord::new(
            Phase::Outline,
            0,
            1,
            marks,
            CallTokens::default(),
            Finish::Error,
        );
        assert_eq!(r.tokens_per_s, 0.0);
        assert_eq!(r.ttft_ms, 5.0);
    }
}
