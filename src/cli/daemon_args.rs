//! The daemon flags (`--ollama-url`, `--base-url`, `--api-key-env`, `--parallel`,
//! `--call-timeout-secs`) checked into a `DaemonPlan`, with what the environment adds
//! (`OLLAMA_HOST`, `OPENAI_BASE_URL`, the API key); a flag of a backend this build lacks is
//! refused.

use std::time::Duration;

use super::args::DaemonArgs;
use super::usage::{positive, within, UsageError};
use crate::engine::{ollama, openai, BackendKind};

/// The OpenAI-compatible server when neither `--base-url` nor `OPENAI_BASE_URL` says.
const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080/v1";
/// Daemon calls in flight when `--parallel` is not given.
const DEFAULT_PARALLEL: usize = 1;
/// Per-call limit on a daemon when `--call-timeout-secs` is not given.
const DEFAULT_CALL_TIMEOUT_SECS: f64 = 60.0;

/// An API key read from the environment; never printed.
#[derive(Clone)]
pub struct ApiKey(pub String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(hidden)")
    }
}

/// Checked daemon settings.
#[derive(Debug, Clone)]
pub struct DaemonPlan {
    /// `--ollama-url`, else `OLLAMA_HOST`, unparsed (the Ollama engine reads it as Ollama does).
    pub url: Option<String>,
    /// The OpenAI-compatible server's base URL.
    pub base_url: url::Url,
    /// The variable holding the API key.
    pub api_key_env: String,
    /// The API key that variable holds, if set and not empty.
    pub api_key: Option<ApiKey>,
    /// Calls in flight.
    pub parallel: usize,
    /// Per-call limit.
    pub call_timeout: Duration,
}

/// An error unless this build has the backend.
pub(super) fn backend_enabled(backend: BackendKind) -> Result<(), UsageError> {
    match backend {
        BackendKind::Llama => Ok(()),
        BackendKind::Ollama => ollama::check_enabled().map_err(|e| UsageError(e.into())),
        BackendKind::OpenAi => openai::check_enabled().map_err(|e| UsageError(e.into())),
    }
}

/// An error naming `flag` unless this build has the backend that reads it.
pub(super) fn flag_enabled(flag: &str, backend: BackendKind) -> Result<(), UsageError> {
    backend_enabled(backend).map_err(|e| UsageError(format!("{flag} has no use here: {}", e.0)))
}

impl DaemonArgs {
    /// Checks the values; daemon flags are refused in a build without a daemon backend.
    pub fn plan(&self) -> Result<DaemonPlan, UsageError> {
        if self.ollama_url.is_some() {
            flag_enabled("--ollama-url", BackendKind::Ollama)?;
        }
        if self.base_url.is_some() {
            flag_enabled("--base-url", BackendKind::OpenAi)?;
        }
        if self.api_key_env.is_some() {
            flag_enabled("--api-key-env", BackendKind::OpenAi)?;
        }
        for (set, flag) in [
            (self.parallel.is_some(), "--parallel"),
            (self.call_timeout_secs.is_some(), "--call-timeout-secs"),
        ] {
            if set {
                flag_enabled(flag, BackendKind::Ollama)
                    .or_else(|_| flag_enabled(flag, BackendKind::OpenAi))?;
            }
        }
        let raw = self
            .base_url
            .clone()
            .or_else(|| {
                std::env::var("OPENAI_BASE_URL")
                    .ok()
                    .filter(|u| !u.trim().is_empty())
            })
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let base_url = url::Url::parse(raw.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                UsageError(format!(
                    "--base-url `{raw}` is not an http(s) address, e.g. http://127.0.0.1:8080/v1"
                ))
            })?;
        let api_key_env = match self.api_key_env.as_deref().map(str::trim) {
            Some("") => {
                return Err(UsageError(
                    "--api-key-env is empty; name a variable such as OPENAI_API_KEY".into(),
                ))
            }
            Some(name) => name.to_string(),
            None => "OPENAI_API_KEY".to_string(),
        };
        let parallel = within(
            "--parallel",
            self.parallel.unwrap_or(DEFAULT_PARALLEL),
            1,
            64,
        )?;
        let secs = self.call_timeout_secs.unwrap_or(DEFAULT_CALL_TIMEOUT_SECS);
        let secs = positive("--call-timeout-secs", secs, 86_400.0)?;
        let api_key = std::env::var(&api_key_env)
            .ok()
            .filter(|k| !k.is_empty())
            .map(ApiKey);
        Ok(DaemonPlan {
            url: self.ollama_url.clone().or_else(|| {
                std::env::var("OLLAMA_HOST")
                    .ok()
                    .filter(|h| !h.trim().is_empty())
            }),
            base_url,
            api_key,
            api_key_env,
            parallel,
            call_timeout: Duration::from_secs_f64(secs),
        })
    }
}
