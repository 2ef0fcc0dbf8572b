//! The OpenAI-compatible backend in a build without the `openai` feature: the same items
//! as `openai.rs`, each saying how to get the real one. The command line refuses its flags
//! in such a build before anything reaches here.

use std::time::Duration;

use anyhow::bail;

use super::measures::Clock;
use super::{BatchStats, CallOutput, ChatCall, Engine, EngineInfo, FollowUp, Progress};
use super::{Sampling, Strategy};

/// Why every item here fails.
pub const NOT_ENABLED: &str = "the OpenAI-compatible backend is not enabled in this build; \
     rebuild with `cargo build --release --features openai`";

/// Whether this build has the backend: it does not.
pub fn check_enabled() -> Result<(), &'static str> {
    Err(NOT_ENABLED)
}

/// Settings of the OpenAI-compatible engine.
#[derive(Debug, Clone)]
pub struct OpenAiOptions {
    /// Base URL.
    pub url: url::Url,
    /// Model name as the server knows it.
    pub model: String,
    /// The API key.
    pub api_key: Option<String>,
    /// The variable the key came from.
    pub api_key_env: String,
    /// Calls in flight at once.
    pub parallel: usize,
    /// Limit on one call.
    pub call_timeout: Duration,
    /// Sampling settings.
    pub sampling: Sampling,
}

/// No value of this type exists in this build.
#[derive(Debug)]
pub enum OpenAiEngine {}

impl OpenAiEngine {
    /// Always fails: the backend is not in this build.
    pub fn connect(_opts: OpenAiOptions, _clock: Clock) -> anyhow::Result<Self> {
        bail!(NOT_ENABLED)
    }
}

impl Engine for OpenAiEngine {
    fn info(&self) -> EngineInfo {
        match *self {}
    }

    fn run_with_follow_ups(
        &mut self,
        _calls: &[ChatCall],
        _strategy: Strategy,
        _progress: &dyn Progress,
        _follow_up: FollowUp<'_>,
    ) -> anyhow::Result<(Vec<CallOutput>, BatchStats)> {
        match *self {}
    }
}
