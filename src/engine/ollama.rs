//! The Ollama backend: the same calls, schemas and timing record, sent to a daemon over
//! its native API (`POST /api/chat`, streamed NDJSON).
//!
//! Module calls go out concurrently up to `parallel` (the daemon serves one request at a
//! time unless `OLLAMA_NUM_PARALLEL` is set). The server's own counters and durations are
//! kept beside the client's wall clock, so the report shows the daemon's overhead.

use std::cell::Cell;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Value};

use super::http::{self, CallError};
use super::remote::{self, Protocol, Reply, Step};
use super::{
    BatchStats, CallOutput, ChatCall, Engine, EngineInfo, Finish, FollowUp, Progress, Sampling,
    Strategy,
};
use crate::timing::{CallRecord, CallTokens, Clock, ServerTiming};

/// Whether this build has the backend (its twin, `ollama_off.rs`, says how to get it).
pub fn check_enabled() -> Result<(), &'static str> {
    Ok(())
}

/// The daemon's address when neither `--ollama-url` nor `OLLAMA_HOST` is given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:11434";
/// Context size asked of the daemon; fixed for the run, as a change reloads the model.
pub const NUM_CTX: u32 = 8192;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The daemon URL: `--ollama-url`, else `OLLAMA_HOST`, else the default; with or without
/// scheme and port, as Ollama itself reads `OLLAMA_HOST`.
pub fn base_url(flag: Option<&str>) -> anyhow::Result<url::Url> {
    let env = std::env::var("OLLAMA_HOST").ok();
    let raw = flag
        .or(env.as_deref())
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
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    clock: Clock,
    quantization: Option<String>,
    /// Set once the daemon refused a JSON schema in `format` (older daemons).
    schema_refused: Cell<bool>,
}

fn ns_to_ms(v: &Value) -> Option<f64> {
    v.as_f64().map(|ns| ns / 1e6)
}

impl OllamaEngine {
    /// Connects, and checks that the daemon runs and has the model.
    pub fn connect(opts: OllamaOptions, clock: Clock) -> anyhow::Result<Self> {
        let runtime = http::runtime()?;
        let client = http::client(&opts.url, CONNECT_TIMEOUT)?;
        let mut engine = Self {
            opts,
            client,
            runtime,
            clock,
            quantization: None,
            schema_refused: Cell::new(false),
        };
        engine.quantization = engine.runtime.block_on(engine.check())?;
        Ok(engine)
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.opts.url.as_str().trim_end_matches('/'))
    }

    fn not_running(&self, e: reqwest::Error) -> anyhow::Error {
        anyhow!(
            "cannot reach Ollama at {} ({}); start it with `ollama serve`, or point --ollama-url / OLLAMA_HOST at it",
            http::shown(&self.opts.url),
            e.without_url()
        )
    }

    /// `POST /api/show`: the model is there; returns its quantization when told.
    async fn check(&self) -> anyhow::Result<Option<String>> {
        let resp = self
            .client
            .post(self.endpoint("/api/show"))
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
                http::shown(&self.opts.url),
                self.opts.model,
                self.opts.model
            );
        }
        if !status.is_success() {
            bail!(
                "Ollama at {} answered {status} to /api/show: {}",
                http::shown(&self.opts.url),
                body.trim()
            );
        }
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        Ok(v["details"]["quantization_level"]
            .as_str()
            .map(str::to_string))
    }

    fn request_body(&self, call: &ChatCall) -> Value {
        let mut messages: Vec<Value> = call
            .messages
            .iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect();
        let format = if self.schema_refused.get() {
            // Older daemons take only "json": the schema goes into the prompt instead.
            if let Some(last) = messages.last_mut() {
                let text = format!(
                    "{}\n\nAnswer with JSON that follows this schema:\n{}",
                    last["content"].as_str().unwrap_or_default(),
                    http::remote_schema(&call.schema)
                );
                last["content"] = Value::String(text);
            }
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

    /// One call with retries and the time limit; returns its output.
    async fn call(
        &self,
        call: &ChatCall,
        submitted: f64,
        progress: &dyn Progress,
    ) -> anyhow::Result<CallOutput> {
        let (reply, marks) = remote::call(self, call, submitted, progress).await?;
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
        let mut record = CallRecord::new(
            call.phase,
            call.index,
            call.attempt,
            marks,
            tokens,
            reply.finish,
        );
        record.server = Some(server);
        progress.call_finished(&record);
        Ok(CallOutput {
            text: reply.text,
            tokens: Vec::new(),
            record,
        })
    }
}

impl Protocol for OllamaEngine {
    const NAME: &'static str = "Ollama";
    const UNFINISHED: &'static str = "its last (`done`) line";

    fn clock(&self) -> Clock {
        self.clock
    }

    fn call_timeout(&self) -> Duration {
        self.opts.call_timeout
    }

    fn schema_refused(&self) -> &Cell<bool> {
        &self.schema_refused
    }

    fn request(&self, call: &ChatCall) -> reqwest::RequestBuilder {
        self.client
            .post(self.endpoint("/api/chat"))
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
            400 if !self.schema_refused.get() => CallError::FormatRefused(message),
            500..=599 => CallError::Retry(format!("{status}: {message}")),
            _ => CallError::Fatal(anyhow!("Ollama answered {status}: {message}")),
        }
    }

    /// NDJSON: `message.content` pieces (or `/api/generate`'s `response`, as some
    /// proxies send), to a line with `done` and the server's figures.
    fn read(&self, line: &str, reply: &mut Reply) -> Result<Step, String> {
        if line.is_empty() {
            return Ok(Step::More);
        }
        let v: Value = serde_json::from_str(line).map_err(|e| {
            let start: String = line.chars().take(200).collect();
            format!("Ollama sent a line that is not JSON ({e}): {start}")
        })?;
        if let Some(err) = v["error"].as_str() {
            return Err(format!("Ollama failed mid-reply: {err}"));
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
            return Err("the daemon finished its reply without any text (neither \
                        `message.content` nor `response`): it does not speak Ollama's \
                        /api/chat as expected"
                .into());
        }
        reply.finish = match v["done_reason"].as_str() {
            Some("length") => Finish::Length,
            _ => Finish::Stop,
        };
        reply.last = v;
        Ok(Step::Done)
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
        let this = &*self;
        http::run_batch(
            &self.runtime,
            (calls, width),
            self.clock,
            follow_up,
            |call, submitted| async move { this.call(&call, submitted, progress).await },
        )
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
