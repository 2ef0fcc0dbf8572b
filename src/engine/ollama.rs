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

use super::http::{self, CallError, TRIES};
use super::{
    BatchStats, CallOutput, ChatCall, Engine, EngineInfo, Finish, FollowUp, Progress, Sampling,
    Strategy,
};
use crate::report::call_label;
use crate::timing::{CallMarks, CallRecord, CallTokens, Clock, ServerTiming};

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

    /// One try of one call: send, then read the stream to its `done` line.
    async fn try_call(
        &self,
        call: &ChatCall,
        marks: &mut CallMarks,
        progress: &dyn Progress,
    ) -> Result<(String, usize, Value), CallError> {
        let resp = self
            .client
            .post(self.endpoint("/api/chat"))
            .header("content-type", "application/json")
            .body(self.request_body(call).to_string())
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    CallError::Fatal(self.not_running(e))
                } else {
                    CallError::Retry(e.without_url().to_string())
                }
            })?;
        let status = resp.status();
        if !status.is_success() {
            let body = http::error_text(resp).await;
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| body.trim().to_string());
            return Err(match status.as_u16() {
                404 => CallError::Fatal(anyhow!(
                    "Ollama does not have the model `{}` ({message}); run `ollama pull {}`",
                    self.opts.model,
                    self.opts.model
                )),
                400 if !self.schema_refused.get() => CallError::FormatRefused(message),
                500..=599 => CallError::Retry(format!("{status}: {message}")),
                _ => CallError::Fatal(anyhow!("Ollama answered {status}: {message}")),
            });
        }
        self.read_stream(resp, call, marks, progress).await
    }

    /// Reads a streamed reply to its `done` line: the text, the pieces, and the last line.
    async fn read_stream(
        &self,
        mut resp: reqwest::Response,
        call: &ChatCall,
        marks: &mut CallMarks,
        progress: &dyn Progress,
    ) -> Result<(String, usize, Value), CallError> {
        let mut text = String::new();
        let mut lines = http::Lines::default();
        let mut chunks = 0usize;
        let fatal = |m: String| CallError::Fatal(anyhow!(m));
        loop {
            let bytes = match resp.chunk().await {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(e) => {
                    let why = e.without_url();
                    return Err(fatal(format!(
                        "the reply stream from Ollama broke off: {why}"
                    )));
                }
            };
            lines.push(&bytes).map_err(fatal)?;
            while let Some(line) = lines.next_line() {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(line).map_err(|e| {
                    let start: String = line.chars().take(200).collect();
                    fatal(format!(
                        "Ollama sent a line that is not JSON ({e}): {start}"
                    ))
                })?;
                if let Some(err) = v["error"].as_str() {
                    return Err(fatal(format!("Ollama failed mid-reply: {err}")));
                }
                // `/api/chat` streams `message.content`; some Ollama-API proxies stream
                // `/api/generate`'s `response` field instead.
                let piece = v["message"]["content"].as_str().or(v["response"].as_str());
                if let Some(piece) = piece.filter(|p| !p.is_empty()) {
                    text.push_str(piece);
                    if text.len() > http::MAX_REPLY_BYTES {
                        return Err(fatal(format!("Ollama: {}", http::too_long_reply())));
                    }
                    chunks += 1;
                    let now = self.clock.now_ms();
                    marks.prompt_done.get_or_insert(now);
                    marks.first_token.get_or_insert(now);
                    progress.tokens(call.phase, call.index, chunks);
                }
                if v["done"].as_bool() == Some(true) {
                    if chunks == 0 {
                        return Err(fatal(
                            "the daemon finished its reply without any text (neither \
                             `message.content` nor `response`): it does not speak Ollama's \
                             /api/chat as expected"
                                .into(),
                        ));
                    }
                    return Ok((text, chunks, v));
                }
            }
        }
        Err(fatal(format!(
            "the reply stream from Ollama ended before its last (`done`) line, after {chunks} pieces"
        )))
    }

    /// One call with retries and the time limit; returns its output.
    async fn call(
        &self,
        call: &ChatCall,
        submitted: f64,
        progress: &dyn Progress,
    ) -> anyhow::Result<CallOutput> {
        let mut marks = CallMarks {
            submitted,
            admitted: self.clock.now_ms(),
            ..CallMarks::default()
        };
        progress.call_started(call);
        let limit = self.opts.call_timeout;
        // One deadline for the call, retries included.
        let deadline = tokio::time::Instant::now() + limit;
        let mut tries = 0;
        let (text, chunks, done) = loop {
            tries += 1;
            let attempt =
                tokio::time::timeout_at(deadline, self.try_call(call, &mut marks, progress));
            match attempt.await {
                Err(_) => bail!(
                    "an Ollama call ({}) took longer than {} s; raise --call-timeout-secs or use a smaller model",
                    call_label(call.phase, call.index),
                    limit.as_secs_f64()
                ),
                Ok(Ok(reply)) => break reply,
                Ok(Err(CallError::Fatal(e))) => return Err(e),
                Ok(Err(CallError::FormatRefused(message))) => {
                    tracing::warn!(%message, "the daemon refused a JSON schema in `format`; sending \"json\" with the schema in the prompt");
                    self.schema_refused.set(true);
                }
                Ok(Err(CallError::Retry(message))) if tries < TRIES => {
                    tracing::warn!(%message, try = tries, "Ollama call failed; trying again");
                    tokio::time::sleep(http::backoff(tries)).await;
                }
                Ok(Err(CallError::Retry(message))) => {
                    bail!("Ollama failed {TRIES} times: {message}")
                }
            }
            marks.prompt_done = None;
            marks.first_token = None;
        };
        marks.done = self.clock.now_ms();
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
        let finish = match done["done_reason"].as_str() {
            Some("length") => Finish::Length,
            _ => Finish::Stop,
        };
        let tokens = CallTokens {
            prompt: server.prompt_eval_count.unwrap_or(0) as usize,
            // The daemon does not say how much of the prompt its cache held.
            cached: 0,
            generated: server.eval_count.map_or(chunks, |n| n as usize),
        };
        let mut record =
            CallRecord::new(call.phase, call.index, call.attempt, marks, tokens, finish);
        record.server = Some(server);
        progress.call_finished(&record);
        Ok(CallOutput {
            text,
            tokens: Vec::new(),
            record,
        })
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
