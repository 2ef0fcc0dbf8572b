//! The engine interface: run a batch of constrained chat calls and report how each went.
//!
//! The pipeline hands an engine every call of one phase at once (one outline call, or all
//! module calls) with a `Strategy`; the engine decides how to schedule them, with the
//! bookkeeping of `schedule`. Nothing in the pipeline knows which engine runs. The records
//! an engine fills (`CallRecord`, `BatchStats`, ...) live in `measures`.

pub mod device;
pub mod draft;
#[cfg(any(feature = "ollama", feature = "openai"))]
pub mod http;
pub mod llama;
pub mod measures;
#[cfg(feature = "ollama")]
pub mod ollama;
#[cfg(not(feature = "ollama"))]
#[path = "ollama_off.rs"]
pub mod ollama;
#[cfg(feature = "openai")]
pub mod openai;
#[cfg(not(feature = "openai"))]
#[path = "openai_off.rs"]
pub mod openai;
#[cfg(any(feature = "ollama", feature = "openai"))]
pub mod remote;
pub mod schedule;
pub mod shared;
pub mod stream;

use serde::Serialize;
use serde_json::Value;

use self::measures::CallRecord;

/// Why an engine ended a course's calls without their outputs; callers match it by type
/// (`anyhow::Error::downcast_ref`), never by its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The course was abandoned (its client went away): its calls were cut.
    #[error("cancelled")]
    Cancelled,
    /// The server is stopping: every course in flight ends.
    #[error("the server is stopping")]
    Stopping,
    /// The engine failed under every course on it (a decode, memory, a daemon gone).
    #[error("{0}")]
    Failed(String),
}

impl EngineError {
    /// Whether `error` is a course ended on purpose (cancelled, or the server stopping),
    /// not a failure.
    pub fn is_ended(error: &anyhow::Error) -> bool {
        matches!(
            error.downcast_ref::<Self>(),
            Some(Self::Cancelled | Self::Stopping)
        )
    }
}
pub use self::measures::{BatchStats, EngineInfo, Finish, Phase};

/// Why the engine cannot answer a question about a prompt before running it: whether it
/// continues a reply exactly (`Engine::continues`), or how it fits (`Ask::measure`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    /// The conversation does not end with a reply this run wrote.
    #[error("the conversation does not end with a reply of this run")]
    NotThisRun,
    /// The chat template renders an earlier reply otherwise than the model wrote it.
    #[error("the chat template ({template}) does not render an earlier reply exactly as the model wrote it")]
    Rerendered {
        /// The template's name.
        template: String,
    },
    /// The chat template or the tokenizer failed on the prompt.
    #[error("{0}")]
    Template(String),
    /// The shared engine's thread has stopped.
    #[error("the shared engine has stopped")]
    Stopped,
}

/// Model asked of a daemon when `--model` is not given (the old set-up's model).
pub const DEFAULT_OLLAMA_MODEL: &str = "qwen:latest";

/// How module calls are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// One call after another, each from an empty cache (the design before this one, kept as the baseline).
    Sequential,
    /// Shared prompt prefix computed once and copied; calls one after another.
    Prefix,
    /// Shared prefix computed once, forked to every call, all calls decoded together.
    Parallel,
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

    /// Calls in flight at once when up to `limit` could be: only `Parallel` runs more than one.
    pub fn width(self, limit: usize) -> usize {
        match self {
            Self::Parallel => limit.max(1),
            Self::Sequential | Self::Prefix => 1,
        }
    }
}

/// Which backend runs the calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// llama.cpp inside this process.
    Llama,
    /// An Ollama daemon over HTTP (cargo feature `ollama`).
    Ollama,
    /// A server with an OpenAI-compatible API: llama.cpp's server, vLLM... (feature `openai`).
    #[value(name = "openai")]
    OpenAi,
}

impl BackendKind {
    /// Name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Ollama => "ollama",
            Self::OpenAi => "openai",
        }
    }
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

impl Sampling {
    /// The command line's defaults.
    pub const DEFAULT: Self = Self {
        temperature: 0.7,
        top_p: 0.9,
        top_k: 40,
        dry: 0.8,
    };
}

/// A chat message for the model's chat template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// "system", "user" or "assistant".
    pub role: String,
    /// Message text.
    pub content: String,
}

impl ChatMessage {
    /// A message from `role`.
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// Receives a call's reply text piece by piece as it is written.
pub type Pieces = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// What a caller outside the pipeline sets on its call (`serve`'s Ollama and OpenAI APIs):
/// its own sampling, strings that end the reply, and where its text goes as it is written.
#[derive(Clone, Default)]
pub struct CallOptions {
    /// Sampling for this call instead of the engine's.
    pub sampling: Option<Sampling>,
    /// The reply ends before the first of these strings (which is not part of it).
    pub stop: Vec<String>,
    /// Gets the reply's text as it is written (in process only).
    pub pieces: Option<Pieces>,
}

impl std::fmt::Debug for CallOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallOptions")
            .field("sampling", &self.sampling)
            .field("stop", &self.stop)
            .field("pieces", &self.pieces.is_some())
            .finish()
    }
}

/// One chat call, constrained to a JSON schema unless its schema is `Value::Null`.
#[derive(Debug, Clone)]
pub struct ChatCall {
    /// Outline or module.
    pub phase: Phase,
    /// Position within its phase (module number - 1).
    pub index: usize,
    /// Calls that may share a prompt prefix: one course's (0 when a run writes one course).
    pub group: usize,
    /// 1 for the first try, 2 and 3 for regenerations.
    pub attempt: u32,
    /// Chat messages, rendered with the model's template.
    pub messages: Vec<ChatMessage>,
    /// JSON schema the reply must follow; `Value::Null`: free text.
    pub schema: Value,
    /// Generation budget in tokens.
    pub max_tokens: u32,
    /// Sampler seed.
    pub seed: u32,
    /// A caller's own sampling, stop strings and text stream (none for the pipeline).
    pub options: CallOptions,
}

#[cfg(test)]
impl ChatCall {
    /// First try of module `index`, without messages or schema, for bookkeeping tests.
    pub(crate) fn bare(index: usize) -> Self {
        Self {
            phase: Phase::Module,
            index,
            group: 0,
            attempt: 1,
            messages: Vec::new(),
            schema: Value::Null,
            max_tokens: 8,
            seed: 0,
            options: CallOptions::default(),
        }
    }
}

/// A call's reply text with its timing record.
#[derive(Debug, Clone)]
pub struct CallOutput {
    /// Generated text.
    pub text: String,
    /// The generated token ids, when the engine has them (in process; empty for a daemon).
    pub tokens: Vec<i32>,
    /// Tokens, times and finish reason.
    pub record: CallRecord,
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
    /// The outline is written and valid: these are the module titles.
    fn outline_ready(&self, _titles: &[String]) {}
    /// Module `index` (0-based) is written and valid.
    fn module_ready(&self, _index: usize, _title: &str) {}
}

/// Progress that shows nothing.
#[derive(Debug, Default)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// A backend that runs chat calls.
pub trait Engine {
    /// Backend and model description for reports.
    fn info(&self) -> EngineInfo;

    /// Announces the largest calls of the run so memory is sized once: up to `sequences`
    /// calls at once in up to `groups` groups, each with at most `extra_prompt_tokens` more
    /// prompt than `like`.
    fn reserve(
        &mut self,
        _like: &ChatCall,
        _extra_prompt_tokens: usize,
        _sequences: usize,
        _groups: usize,
    ) -> anyhow::Result<()> {
        Ok(())
    }

    /// Whether prompts that continue `conversation` (ending with a reply this engine wrote)
    /// can reuse that reply exactly as it was generated; `Err` says why not. Daemons are
    /// sent the messages as they are, so for them it always can.
    fn continues(&mut self, _conversation: &[ChatMessage]) -> Result<(), PromptError> {
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

    /// Like `run_with_follow_ups`, with calls that keep coming from `more` until it has
    /// none while nothing runs. This default runs what `more` gives as batches one after
    /// another (right for daemons, whose prompts always continue); the in-process engine
    /// lets new calls join the running batch. Stats are those of the last batch.
    fn run_open(
        &mut self,
        calls: &[ChatCall],
        strategy: Strategy,
        progress: &dyn Progress,
        follow_up: FollowUp<'_>,
        more: More<'_>,
    ) -> anyhow::Result<(Vec<CallOutput>, BatchStats)> {
        let (mut outputs, mut stats) = (Vec::new(), BatchStats::default());
        let mut next = calls.to_vec();
        // A daemon's calls in flight cannot be cut; withdrawn groups get no follow-ups.
        let mut withdrawn = Vec::new();
        loop {
            if next.is_empty() {
                next = more(Ask {
                    idle: true,
                    continues: &|_| Ok(()),
                    measure: &|_| Ok(Fit::UNKNOWN),
                    withdrawn: &mut withdrawn,
                });
                if next.is_empty() {
                    return Ok((outputs, stats));
                }
            }
            let (outs, s) = self.run_with_follow_ups(&next, strategy, progress, follow_up)?;
            outputs.extend(outs);
            stats = s;
            next.clear();
        }
    }
}

/// Decides, when a call has finished, whether to run another call after it.
pub type FollowUp<'a> = &'a mut dyn FnMut(&ChatCall, &CallOutput) -> Option<ChatCall>;

/// What an open run tells the source of its further calls.
pub struct Ask<'a> {
    /// Nothing is running: the source may wait for calls, and an empty answer ends the run.
    pub idle: bool,
    /// Whether the engine can continue a conversation (`Engine::continues`), for sources
    /// that need to know while the engine is busy.
    pub continues: &'a dyn Fn(&[ChatMessage]) -> Result<(), PromptError>,
    /// How a call of these messages would fit (`Engine` in process; unknown for a daemon).
    pub measure: &'a dyn Fn(&[ChatMessage]) -> Result<Fit, PromptError>,
    /// Groups whose calls the source withdraws (their course was cancelled): the engine
    /// cuts their running calls and drops their waiting ones.
    pub withdrawn: &'a mut Vec<usize>,
}

/// How a prompt fits the engine's memory: its tokens, and the tokens one call may have
/// (prompt and reply) while every other place holds a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// The prompt's tokens; 0 when the engine cannot tell (a daemon).
    pub prompt_tokens: usize,
    /// Prompt and reply tokens one call may take; `usize::MAX` when unknown.
    pub window: usize,
}

impl Fit {
    /// What an engine that cannot measure prompts (a daemon) says of any prompt.
    pub const UNKNOWN: Self = Self {
        prompt_tokens: 0,
        window: usize::MAX,
    };
}

/// Gives an open run its further calls (any group): asked after every step.
pub type More<'a> = &'a mut dyn FnMut(Ask<'_>) -> Vec<ChatCall>;
