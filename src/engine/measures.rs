//! What the engines measure and say: the phase and finish of a call, batch figures, the
//! engine's description, the run's clock and one record per call. Every time is read from
//! the run's `Clock` as milliseconds since the run started, so phases and calls share one
//! time line and add up.

use std::time::Instant;

use serde::Serialize;

use super::device::DeviceUse;

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

/// How people read a call's name: "outline", "rename 3" or "module 3".
pub fn call_label(phase: Phase, index: usize) -> String {
    match phase {
        Phase::Outline => "outline".to_string(),
        Phase::Rename => format!("rename {}", index + 1),
        Phase::Item => format!("item {}", index + 1),
        Phase::Module => format!("module {}", index + 1),
        Phase::Chat => format!("chat {}", index + 1),
    }
}
