//! The engine interface: run a batch of constrained chat calls and report how each went.
//!
//! The pipeline hands an engine every call of one phase at once (one outline call, or all
//! module calls) with a `Strategy`; the engine decides how to schedule them. Nothing in
//! the pipeline knows which engine runs.

pub mod llama;
#[cfg(feature = "ollama")]
pub mod ollama;
pub mod stream;

use serde::Serialize;
use serde_json::Value;

use crate::prompt::ChatMessage;
use crate::timing::CallRecord;

/// How module calls are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// One call after another, each from an empty cache (the old design, as a baseline).
    Sequential,
    /// Shared prompt prefix computed once and copied; calls one after another.
    Prefix,
    /// Shared prefix computed once, forked to every call, all calls decoded together.
    Parallel,
}

/// How people read a call's name: "outline" or "module 3".
pub fn call_label(phase: Phase, index: usize) -> String {
    match phase {
        Phase::Outline => "outline".to_string(),
        Phase::Module => format!("module {}", index + 1),
    }
}

impl Strategy {
    /// Name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sequential => "sequential",
            Self::Prefix => "prefix",
            Self::Parallel => "parallel",
        }
    }
}

/// Which backend runs the calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// llama.cpp inside this process.
    Llama,
    /// An Ollama daemon over HTTP.
    #[cfg(feature = "ollama")]
    Ollama,
}

impl BackendKind {
    /// Name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            #[cfg(feature = "ollama")]
            Self::Ollama => "ollama",
        }
    }
}

/// Which step of the pipeline a call belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The course outline.
    Outline,
    /// One detailed module.
    Module,
}

/// Sampling settings shared by every call of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sampling {
    /// 0 means greedy.
    pub temperature: f32,
    /// Nucleus sampling mass.
    pub top_p: f32,
    /// Candidates kept before top-p.
    pub top_k: i32,
    /// DRY multiplier: penalizes tokens that would repeat an earlier run of the reply; 0 is off.
    pub dry: f32,
}

/// One chat call constrained to a JSON schema.
#[derive(Debug, Clone)]
pub struct ChatCall {
    /// Outline or module.
    pub phase: Phase,
    /// Position within its phase (module number - 1).
    pub index: usize,
    /// 1 for the first try, 2 for a regeneration.
    pub attempt: u32,
    /// Chat messages, rendered with the model's template.
    pub messages: Vec<ChatMessage>,
    /// JSON schema the reply must follow.
    pub schema: Value,
    /// Generation budget in tokens.
    pub max_tokens: u32,
    /// Sampler seed.
    pub seed: u32,
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

/// A call's reply text with its timing record.
#[derive(Debug, Clone)]
pub struct CallOutput {
    /// Generated text.
    pub text: String,
    /// Tokens, times and finish reason.
    pub record: CallRecord,
}

/// Figures for one `Engine::run` as a whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BatchStats {
    /// Tokens of the shared prefix computed once (0 when not shared).
    pub shared_prefix_tokens: usize,
    /// Of those, tokens already in the cache from the previous batch (not computed again).
    pub reused_prefix_tokens: usize,
    /// Most calls decoded together.
    pub max_parallel: usize,
    /// Reply tokens the grammar forced, fed without sampling (jump-forward).
    pub forced_tokens: usize,
    /// Decode calls made (prompt chunks and generation steps).
    pub decode_calls: usize,
    /// Time inside the engine's decode calls.
    pub decode_ms: f64,
    /// Time of the whole run.
    pub wall_ms: f64,
}

/// Receives live progress; the terminal display and quiet mode both implement it.
pub trait Progress {
    /// A step without calls begins (loading the model, say).
    fn stage(&self, _label: &str) {}
    /// A call got a slot and starts processing its prompt.
    fn call_started(&self, _call: &ChatCall) {}
    /// A call has generated `tokens` tokens so far.
    fn tokens(&self, _phase: Phase, _index: usize, _tokens: usize) {}
    /// A call finished.
    fn call_finished(&self, _record: &CallRecord) {}
}

/// Progress that shows nothing.
#[derive(Debug, Default)]
pub struct NoProgress;
impl Progress for NoProgress {}

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
    /// Generation threads.
    pub threads: usize,
}

/// A backend that runs chat calls.
pub trait Engine {
    /// Backend and model description for reports.
    fn info(&self) -> EngineInfo;

    /// Announces the largest calls of the run so memory is sized once: up to `sequences`
    /// calls at once, each with at most `extra_prompt_tokens` more prompt than `like`.
    fn reserve(
        &mut self,
        _like: &ChatCall,
        _extra_prompt_tokens: usize,
        _sequences: usize,
    ) -> anyhow::Result<()> {
        Ok(())
    }

    /// Runs `calls` with `strategy`; outputs are in the order of `calls`.
    fn run(
        &mut self,
        calls: &[ChatCall],
        strategy: Strategy,
        progress: &dyn Progress,
    ) -> anyhow::Result<(Vec<CallOutput>, BatchStats)> {
        self.run_with_follow_ups(calls, strategy, progress, &mut |_, _| None)
    }

    /// Runs `calls` with `strategy`, asking `follow_up` as each call finishes whether another
    /// call (a regeneration) should run; those join the calls still running as soon as
    /// there is room, instead of waiting for the whole batch. Outputs: `calls` in order,
    /// then the follow-ups in the order they were asked for.
    fn run_with_follow_ups(
        &mut self,
        calls: &[ChatCall],
        strategy: Strategy,
        progress: &dyn Progress,
        follow_up: FollowUp<'_>,
    ) -> anyhow::Result<(Vec<CallOutput>, BatchStats)>;
}

/// Decides, when a call has finished, whether to run another call after it.
pub type FollowUp<'a> = &'a mut dyn FnMut(&ChatCall, &CallOutput) -> Option<ChatCall>;
