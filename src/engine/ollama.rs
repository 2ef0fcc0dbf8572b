//! The Ollama backend: the same calls, schemas and timing record, sent to a daemon over
//! its native API (`POST /api/chat`, streamed NDJSON).
//!
//! Module calls go out concurrently up to `parallel` (the daemon serves one request at a
//! time unless `OLLAMA_NUM_PARALLEL` is set). The server's own counters and durations are
//! kept beside the client's wall clock, so the report shows the daemon's overhead.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Value};

use super::device::DeviceUse;
use super::http::{self, CallError, StreamError};
use super::measures::{CallMarks, CallTokens, Clock, ServerTiming};
use super::remote::{self, Protocol, Remote, Reply, Step};
use super::{
    BatchStats, CallOutput, ChatCall, Engine, EngineInfo, Finish, FollowUp, Progress, Sampling,
    Strategy,
};

/// Whether this build has the backend (its twin, `ollama_off.rs`, says how to get it).
pub fn check_enabled() -> Result<(), &'static str> {
    Ok(())
}

/// The daemon's address when neither `--ollama-url` nor `OLLAMA_HOST` is given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:11434";
/// Context size asked of the daemon; fixed for the run, as a change reloads the model.
pub const NUM_CTX: u32 = 8192;

/// The daemon URL from `given` (`--ollama-url`, else `OLLAMA_HOST`, as the plan found
/// them), else the default; with or without scheme and port, as Ollama itself reads
/// `OLLAMA_HOST`.
pub fn base_url(given: Option<&str>) -> anyhow::Result<url::Url> {
    let raw = given
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_URL);
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let unusable = || format!("`{}` is not a usable Ollama address", http::shown_raw(raw));
    let mut url = url::Url::parse(&with_scheme).with_context(unusable)?;
    if !raw.contains("://") && url.port().is_none() {
        url.set_port(Some(11434))
            .map_err(|()| anyhow!(unusable()))?;
    }
    // 0.0.0.0 means "listen everywhere" to the daemon; a client connects to loopback.
    if url.host_str() == Some("0.0.0.0") {
        url.set_host(Some("127.0.0.1"))?;
    }
    Ok(url)
}

/// Settings of the Ollama engine.
#[derive(Debug, Clone)]
pub struct OllamaOptions {
    /// Daemon address.
    pub url: url::Url,
    /// Model name as the daemon knows it, e.g. `qwen:latest`.
    pub model: String,
    /// Calls in flight at once for module phases.
    pub parallel: usize,
    /// Limit on one call, from sending to the last byte.
    pub call_timeout: Duration,
    /// Sampling settings (sent as options; the daemon samples).
    pub sampling: Sampling,
}

/// An engine that sends calls to an Ollama daemon.
pub struct OllamaEngine {
    opts: OllamaOptions,
    remote: Remote,
    quantization: Option<String>,
    /// Where the daemon holds the model, as `/api/ps` said after the last run.
    device: Option<DeviceUse>,
}

fn ns_to_ms(v: &Value) -> Option<f64> {
    v.as_f64().map(|ns| ns / 1e6)
}

impl OllamaEngine {
    /// Connects, and checks that the daemon runs and has the model.
    pub fn connect(opts: OllamaOptions, clock: Clock) -> anyhow::Result<Self> {
        let remote = Remote::new(&opts.url, clock, opts.call_timeout)?;
        let mut engine = Self {
            opts,
            remote,
            quantization: None,
            device: None,
        };
        engine.quantization = engine.remote.runtime.block_on(engine.check())?;
        Ok(engine)
    }

    fn not_running(&self, e: reqwest::Error) -> anyhow::Error {
        anyhow!(
            "cannot reach Ollama at {} ({}); start it with `ollama serve`, or point --ollama-url / OLLAMA_HOST at it",
            self.remote.shown(),
            e.without_url()
        )
    }

    /// `POST /api/show`: the model is there; returns its quantization when told.
    async fn check(&self) -> anyhow::Result<Option<String>> {
        let resp = self
            .remote
            .client
            .post(self.remote.endpoint("/api/show"))
            .timeout(self.opts.call_timeout)
            .header("content-type", "application/json")
            .body(json!({"model": self.opts.model}).to_string())
            .send()
            .await
            .map_err(|e| self.not_running(e))?;
        let status = resp.status();
        let body = http::error_text(resp).await;
        if status == reqwest::StatusCode::NOT_FOUND {
            bail!(
                "Ollama at {} does not have the model `{}`; run `ollama pull {}`",
                self.remote.shown(),
                self.opts.model,
                self.opts.model
            );
        }
        if !status.is_success() {
            bail!(
                "Ollama at {} answered {status} to /api/show: {}",
                self.remote.shown(),
                body.trim()
            );
        }
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        Ok(v["details"]["quantization_level"]
            .as_str()
            .map(str::to_string))
    }

    /// `GET /api/ps`: how much of the model the daemon holds in GPU memory (`None` when it
    /// does not say: an older daemon, or the model already unloaded).
    async fn loaded(&self) -> Option<DeviceUse> {
        let resp = self
            .remote
            .client
            .get(self.remote.endpoint("/api/ps"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        let v: Value = serde_json::from_str(&http::error_text(resp).await).ok()?;
        let m = v["models"].as_array()?.iter().find(|m| {
            m["name"] == self.opts.model.as_str() || m["model"] == self.opts.model.as_str()
        })?;
        let (size, vram) = (m["size"].as_u64()?, m["size_vram"].as_u64()?);
        let share = if size == 0 {
            0.0
        } else {
            vram as f64 / size as f64
        };
        let device = match vram {
            0 => "CPU",
            v if v >= size => "GPU",
            _ => "GPU+CPU",
        };
        Some(DeviceUse {
            backend: "Ollama".into(),
            device: device.into(),
            description: format!(
                "{:.0}% of the model in GPU memory, as /api/ps says",
                share * 100.0
            ),
            layers_offloaded: None,
            layers: None,
            memory_bytes: Some(vram),
            why: None,
        })
    }

    fn request_body(&self, call: &ChatCall) -> Value {
        let messages = self.remote.messages(call);
        // Older daemons take only "json": the schema is then in the prompt.
        let format = if self.remote.schema_refused.get() {
            json!("json")
        } else {
            http::remote_schema(&call.schema)
        };
        let s = &self.opts.sampling;
        json!({
            "model": self.opts.model,
            "messages": messages,
            "format": format,
            "stream": true,
            "keep_alive": "5m",
            "options": {
                "temperature": s.temperature,
                "top_p": s.top_p,
                "top_k": s.top_k,
                "seed": call.seed,
                "num_ctx": NUM_CTX,
                "num_predict": call.max_tokens,
            },
        })
    }
}

impl Protocol for OllamaEngine {
    const NAME: &'static str = "Ollama";
    const UNFINISHED: &'static str = "its last (`done`) line";

    fn remote(&self) -> &Remote {
        &self.remote
    }

    fn request(&self, call: &ChatCall) -> reqwest::RequestBuilder {
        self.remote
            .client
            .post(self.remote.endpoint("/api/chat"))
            .header("content-type", "application/json")
            .body(self.request_body(call).to_string())
    }

    fn unreachable(&self, e: reqwest::Error) -> anyhow::Error {
        self.not_running(e)
    }

    fn refusal(&self, status: reqwest::StatusCode, body: &str) -> CallError {
        let message = remote::error_message(body);
        match status.as_u16() {
            404 => CallError::Fatal(anyhow!(
                "Ollama does not have the model `{}` ({message}); run `ollama pull {}`",
                self.opts.model,
                self.opts.model
            )),
            400 if !self.remote.schema_refused.get() => CallError::FormatRefused(message),
            500..=599 => CallError::Retry(format!("{status}: {message}")),
            _ => CallError::Fatal(anyhow!("Ollama answered {status}: {message}")),
        }
    }

    /// NDJSON: `message.content` pieces (or `/api/generate`'s `response`, as some
    /// proxies send), to a line with `done` and the server's figures.
    fn read(&self, line: &str, reply: &mut Reply) -> Result<Step, StreamError> {
        if line.is_empty() {
            return Ok(Step::More);
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| StreamError::not_json("Ollama sent a line", &e, line))?;
        if let Some(err) = v["error"].as_str() {
            return Err(StreamError::Failed {
                who: "Ollama",
                message: err.into(),
            });
        }
        reply.push(
            v["message"]["content"]
                .as_str()
                .or(v["response"].as_str())
                .unwrap_or(""),
        );
        if v["done"].as_bool() != Some(true) {
            return Ok(Step::More);
        }
        if reply.pieces == 0 {
            return Err(StreamError::NoText);
        }
        reply.finish = match v["done_reason"].as_str() {
            Some("length") => Finish::Length,
            _ => Finish::Stop,
        };
        reply.last = v;
        Ok(Step::Done)
    }

    fn figures(&self, reply: &Reply, marks: &CallMarks) -> (CallTokens, ServerTiming) {
        let done = &reply.last;
        let server = ServerTiming {
            prompt_eval_count: done["prompt_eval_count"].as_u64(),
            prompt_eval_ms: ns_to_ms(&done["prompt_eval_duration"]),
            eval_count: done["eval_count"].as_u64(),
            eval_ms: ns_to_ms(&done["eval_duration"]),
            load_ms: ns_to_ms(&done["load_duration"]),
            total_ms: ns_to_ms(&done["total_duration"]),
            overhead_ms: ns_to_ms(&done["total_duration"])
                .map(|server| marks.done - marks.submitted - server),
            cached_count: None,
        };
        let tokens = CallTokens {
            prompt: server.prompt_eval_count.unwrap_or(0) as usize,
            // The daemon does not say how much of the prompt its cache held.
            cached: 0,
            generated: server.eval_count.map_or(reply.pieces, |n| n as usize),
        };
        (tokens, server)
    }
}

impl Engine for OllamaEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            backend: "ollama".into(),
            model: self.opts.model.clone(),
            path: None,
            size_bytes: None,
            quantization: self.quantization.clone(),
            chat_template: None,
            threads: 0,
            device: self.device.clone(),
        }
    }

    fn run_with_follow_ups(
        &mut self,
        calls: &[ChatCall],
        strategy: Strategy,
        progress: &dyn Progress,
        follow_up: FollowUp<'_>,
    ) -> anyhow::Result<(Vec<CallOutput>, BatchStats)> {
        let width = strategy.width(self.opts.parallel);
        let ran = remote::run_batch(self, calls, width, progress, follow_up);
        if ran.is_ok() {
            self.device = self.remote.runtime.block_on(self.loaded());
        }
        ran
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_as_ollama_reads_them() {
        let u = |s: &str| base_url(Some(s)).unwrap().to_string();
        assert_eq!(u("127.0.0.1"), "http://127.0.0.1:11434/");
        assert_eq!(u("example.com:8080"), "http://example.com:8080/");
        assert_eq!(u("https://example.com"), "https://example.com/");
        assert_eq!(u("http://0.0.0.0:11434"), "http://127.0.0.1:11434/");
        assert_eq!(u("0.0.0.0"), "http://127.0.0.1:11434/");
        assert!(base_url(Some("http://")).is_err());
    }
}
