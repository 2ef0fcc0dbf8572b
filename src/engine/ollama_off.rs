//! The Ollama backend in a build without the `ollama` feature: the same items as
//! `ollama.rs`, each saying how to get the real one. The command line refuses Ollama flags
//! in such a build before anything reaches here.

use std::time::Duration;

use anyhow::bail;

use super::measures::Clock;
use super::{
    BatchStats, CallOutput, ChatCall, Engine, EngineInfo, FollowUp, Progress, Sampling, Strategy,
};

/// Why every item here fails.
pub const NOT_ENABLED: &str =
    "the Ollama backend is not enabled in this build; rebuild with `cargo build --release --features ollama`";

/// Whether this build has the backend: it does not.
pub fn check_enabled() -> Result<(), &'static str> {
    Err(NOT_ENABLED)
}

/// The daemon URL; never usable in this build.
pub fn base_url(_flag: Option<&str>) -> anyhow::Result<url::Url> {
    bail!(NOT_ENABLED)
}

/// Settings of the Ollama engine.
#[derive(Debug, Clone)]
pub struct OllamaOptions {
    /// Daemon address.
    pub url: url::Url,
    /// Model name as the daemon knows it.
    pub model: String,
    /// Calls in flight at once for module phases.
    pub parallel: usize,
    /// Limit on one call.
    pub call_timeout: Duration,
    /// Sampling settings.
    pub sampling: Sampling,
}

/// No value of this type exists in this build.
#[derive(Debug)]
pub enum OllamaEngine {}

impl OllamaEngine {
    /// Always fails: the backend is not in this build.
    pub fn connect(_opts: OllamaOptions, _clock: Clock) -> anyhow::Result<Self> {
        bail!(NOT_ENABLED)
    }
}

impl Engine for OllamaEngine {
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
