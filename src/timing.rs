//! Wall-clock timing and the records of a run: one clock per run, what each call did
//! (phase, finish, tokens, times), batch figures, and the run record written by `--timings`.
//!
//! Every time in a record is read from the run's `Clock` as milliseconds since the run
//! started, so phases and calls share one time line and add up. This module sits below the
//! engines (they fill the records); presenting records to people is `report`'s job.

use std::time::Instant;

use serde::Serialize;

use crate::build_info::BuildInfo;
use crate::gpu::offload::DeviceUse;
use crate::language::LanguageChoice;

/// Which step of the pipeline a call belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The course outline.
    Outline,
    /// A new title for a module whose outline title repeated another (part of the outline phase).
    Rename,
    /// One detailed module.
    Module,
    /// A list item that repeated another module's (or a course outcome), written anew.
    Item,
    /// A request of `serve`'s Ollama or OpenAI API.
    Chat,
}

/// Why generation of a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Finish {
    /// The model ended the reply.
    Stop,
    /// The token budget ran out.
    Length,
    /// The call failed.
    Error,
}

/// Figures for one `Engine::run` as a whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BatchStats {
    /// Tokens of the shared prefix computed once (0 when not shared).
    pub shared_prefix_tokens: usize,
    /// Of those, tokens already in the cache from the previous batch (not computed again).
    pub reused_prefix_tokens: usize,
    /// Of those, tokens computed in this batch (`shared_prefix_tokens - reused_prefix_tokens`).
    pub computed_prefix_tokens: usize,
    /// Prompt tokens found in another group's sequence and shared, not computed (requests
    /// of `serve` that begin alike).
    #[serde(skip_serializing_if = "is_zero")]
    pub borrowed_prefix_tokens: usize,
    /// How the prompts were laid out: "continued" (each call continues the outline's own
    /// conversation, its tokens kept in the cache) or "separate" with the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_layout: Option<String>,
    /// Most calls decoded together.
    pub max_parallel: usize,
    /// Reply tokens the grammar forced, fed without sampling (jump-forward).
    pub forced_tokens: usize,
    /// Tokens proposed beside each call's next one and checked in the same decode.
    #[serde(skip_serializing_if = "is_zero")]
    pub drafted_tokens: usize,
    /// Of those, tokens the sampling chose: decoded without a step of their own.
    #[serde(skip_serializing_if = "is_zero")]
    pub accepted_draft_tokens: usize,
    /// Decode calls made (prompt chunks and generation steps).
    pub decode_calls: usize,
    /// Time inside the engine's decode calls.
    pub decode_ms: f64,
    /// Time of the whole run.
    pub wall_ms: f64,
}

/// What the run report says about the backend and model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineInfo {
    /// "llama" or "ollama".
    pub backend: String,
    /// Model name.
    pub model: String,
    /// Model file, when local.
    pub path: Option<String>,
    /// File size in bytes, when local.
    pub size_bytes: Option<u64>,
    /// Quantization such as Q4_0, when known.
    pub quantization: Option<String>,
    /// The chat template in use, when the engine renders prompts itself.
    pub chat_template: Option<String>,
    /// Generation threads.
    pub threads: usize,
    /// Where the model's layers are (in process), when known.
    pub device: Option<DeviceUse>,
}

#[cfg(test)]
impl EngineInfo {
    /// A fake engine named `name` (backend and model), for tests.
    pub(crate) fn fake(name: &str) -> Self {
        Self {
            backend: name.into(),
            model: name.into(),
            path: None,
            size_bytes: None,
            quantization: None,
            chat_template: None,
            threads: 1,
            device: None,
        }
    }
}

/// Milliseconds since the run started.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    /// Milliseconds since the clock started.
    pub fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }
}

/// Timestamps of one call on the run's clock; turned into a `CallRecord` when it ends.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallMarks {
    /// The call was handed to the engine.
    pub submitted: f64,
    /// The call got a slot (a KV sequence or a connection).
    pub admitted: f64,
    /// Its prompt was fully processed.
    pub prompt_done: Option<f64>,
    /// Its first token was generated.
    pub first_token: Option<f64>,
    /// It ended.
    pub done: f64,
}

/// Token counts of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallTokens {
    /// Prompt tokens in all, cached ones included.
    pub prompt: usize,
    /// Prompt tokens reused from a cache, not recomputed.
    pub cached: usize,
    /// Tokens generated.
    pub generated: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

/// Timing and token counts of one model call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    /// Outline or module.
    pub phase: Phase,
    /// Position within the phase.
    pub index: usize,
    /// 1 for the first try, 2 and 3 for regenerations.
    pub attempt: u32,
    /// Prompt tokens in all.
    pub prompt_tokens: usize,
    /// Prompt tokens reused, not recomputed.
    pub cached_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Waiting for a slot.
    pub queue_ms: f64,
    /// From getting a slot to the prompt being processed.
    pub prompt_ms: f64,
    /// From submission to the first generated token.
    pub ttft_ms: f64,
    /// From the first generated token to the end.
    pub gen_ms: f64,
    /// From submission to the end.
    pub total_ms: f64,
    /// Generated tokens per second of generation time.
    pub tokens_per_s: f64,
    /// Why it ended.
    pub finish: Finish,
    /// The daemon's own figures, for backends that report them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerTiming>,
}

/// What a daemon reports about one call (Ollama's fields, durations in ms); a field the
/// server left out stays empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerTiming {
    /// Prompt tokens the server counted (cached prefix tokens included).
    pub prompt_eval_count: Option<u64>,
    /// Time on new prompt tokens only.
    pub prompt_eval_ms: Option<f64>,
    /// Tokens generated.
    pub eval_count: Option<u64>,
    /// Generation time.
    pub eval_ms: Option<f64>,
    /// Model load time within the call.
    pub load_ms: Option<f64>,
    /// The server's whole time for the call.
    pub total_ms: Option<f64>,
    /// Client wall time minus the server's total: transport and daemon overhead.
    pub overhead_ms: Option<f64>,
    /// Prompt tokens the server found in its cache (llama.cpp's `cache_n`, OpenAI's
    /// `cached_tokens`), when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_count: Option<u64>,
}

impl CallRecord {
    /// Builds a record from a call's timestamps and token counts.
    pub fn new(
        phase: Phase,
        index: usize,
        attempt: u32,
        marks: CallMarks,
        tokens: CallTokens,
        finish: Finish,
    ) -> Self {
        let prompt_done = marks.prompt_done.unwrap_or(marks.done);
        let first = marks.first_token.unwrap_or(marks.done);
        let gen_ms = marks.done - first;
        // The first token comes with the prompt's logits: generation rate counts the rest.
        let tokens_per_s = if gen_ms > 0.0 && tokens.generated > 1 {
            (tokens.generated - 1) as f64 * 1000.0 / gen_ms
        } else {
            0.0
        };
        Self {
            phase,
            index,
            attempt,
            prompt_tokens: tokens.prompt,
            cached_tokens: tokens.cached,
            generated_tokens: tokens.generated,
            queue_ms: round(marks.admitted - marks.submitted),
            prompt_ms: round(prompt_done - marks.admitted),
            ttft_ms: round(first - marks.submitted),
            gen_ms: round(gen_ms),
            total_ms: round(marks.done - marks.submitted),
            tokens_per_s: round(tokens_per_s),
            finish,
            server: None,
        }
    }
}

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
        (strategy, modules): (&str, usize),
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
            build: crate::build_info::build_info(),
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
