//! The OpenAI-compatible backend: the same calls, schemas and timing record, sent to any
//! server that speaks `POST /v1/chat/completions` with JSON-schema `response_format`
//! (llama.cpp's server, vLLM, SGLang, LM Studio, TGI), streamed as server-sent events.
//!
//! Module calls go out up to `parallel` at a time; the messages are the same as in process
//! (modules continue the outline's conversation), so a server's prompt cache can reuse the
//! outline's prefix. llama.cpp's `timings` (prompt, cached and generated tokens, times) are
//! kept beside the client's clock when the server sends them.

use std::time::Duration;

use anyhow::{anyhow, bail};
use serde_json::{json, Value};

use super::http::{self, CallError, StreamError};
use super::measures::{CallMarks, CallTokens, Clock, ServerTiming};
use super::remote::{self, Protocol, Remote, Reply, Step};
use super::{BatchStats, CallOutput, ChatCall, Engine, EngineInfo, Finish, FollowUp, Progress};
use super::{Sampling, Strategy};

/// Whether this build has the backend (its twin, `openai_off.rs`, says how to get it).
pub fn check_enabled() -> Result<(), &'static str> {
    Ok(())
}

/// Settings of the OpenAI-compatible engine.
#[derive(Debug, Clone)]
pub struct OpenAiOptions {
    /// Base URL, e.g. `http://127.0.0.1:8080/v1`.
    pub url: url::Url,
    /// Model name as the server knows it.
    pub model: String,
    /// The API key, when the environment names one.
    pub api_key: Option<String>,
    /// The variable the key came from, for messages.
    pub api_key_env: String,
    /// Calls in flight at once for module phases.
    pub parallel: usize,
    /// Limit on one call, retries included.
    pub call_timeout: Duration,
    /// Sampling settings (sent; the server samples).
    pub sampling: Sampling,
}

/// An engine that sends calls to an OpenAI-compatible server.
pub struct OpenAiEngine {
    opts: OpenAiOptions,
    remote: Remote,
}

impl OpenAiEngine {
    /// Connects and checks that the server answers and serves the model.
    pub fn connect(opts: OpenAiOptions, clock: Clock) -> anyhow::Result<Self> {
        let remote = Remote::new(&opts.url, clock, opts.call_timeout)?;
        let mut engine = Self { opts, remote };
        engine.opts.model = engine.remote.runtime.block_on(engine.check())?;
        Ok(engine)
    }

    /// `builder` with the API key, when there is one.
    fn authorized(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.opts.api_key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    fn refused_key(&self) -> anyhow::Error {
        anyhow!(
            "the server at {} refused the API key; set {} to a key it accepts (or --api-key-env NAME)",
            self.remote.shown(),
            self.opts.api_key_env
        )
    }

    /// `GET /models`: the server answers and serves the model; returns the model to ask
    /// for (the first listed when none was named).
    async fn check(&self) -> anyhow::Result<String> {
        let named = || match self.opts.model.as_str() {
            "" => "default".to_string(),
            m => m.to_string(),
        };
        let resp = self
            .authorized(self.remote.client.get(self.remote.endpoint("/models")))
            .timeout(self.opts.call_timeout)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        match resp.status().as_u16() {
            401 | 403 => return Err(self.refused_key()),
            // Some servers have no model list: the first call tells.
            404 | 405 => return Ok(named()),
            s if !(200..300).contains(&s) => bail!(
                "the server at {} answered {} to /models",
                self.remote.shown(),
                resp.status()
            ),
            _ => {}
        }
        let body = http::read_capped(resp, http::MAX_BODY_BYTES)
            .await
            .map_err(|e| e.context(format!("/models at {}", self.remote.shown())))?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let ids: Vec<&str> = v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str())
            .collect();
        match (ids.first(), self.opts.model.as_str()) {
            (None, _) => Ok(named()),
            (Some(first), "") => Ok(first.to_string()),
            (Some(_), m) if ids.contains(&m) => Ok(m.to_string()),
            (Some(_), m) => bail!(
                "the server at {} does not serve the model `{m}`; it serves: {}; pass one with --model",
                self.remote.shown(),
                ids.join(", ")
            ),
        }
    }

    fn body(&self, call: &ChatCall) -> Value {
        let messages = self.remote.messages(call);
        let format = if self.remote.schema_refused.get() {
            json!({"type": "json_object"})
        } else {
            let schema = http::remote_schema(&call.schema);
            json!({"type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": true}})
        };
        let s = &self.opts.sampling;
        json!({
            "model": self.opts.model,
            "messages": messages,
            "response_format": format,
            "max_tokens": call.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "seed": call.seed,
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    }
}

impl Protocol for OpenAiEngine {
    const NAME: &'static str = "the server";
    const UNFINISHED: &'static str = "`data: [DONE]`";

    fn remote(&self) -> &Remote {
        &self.remote
    }

    fn request(&self, call: &ChatCall) -> reqwest::RequestBuilder {
        self.authorized(
            self.remote
                .client
                .post(self.remote.endpoint("/chat/completions")),
        )
        .json(&self.body(call))
    }

    fn unreachable(&self, e: reqwest::Error) -> anyhow::Error {
        anyhow!(
            "cannot reach the server at {} ({}); start it (e.g. llama-server -m MODEL.gguf --port 8080) or point --base-url at it",
            self.remote.shown(),
            e.without_url()
        )
    }

    fn refusal(&self, status: reqwest::StatusCode, body: &str) -> CallError {
        let message = remote::error_message(body);
        let about_format = message.contains("response_format") || message.contains("json_schema");
        match status.as_u16() {
            401 | 403 => CallError::Fatal(self.refused_key()),
            404 => CallError::Fatal(anyhow!(
                "the server does not have the model `{}` ({message}); pass one it serves with --model",
                self.opts.model
            )),
            400 | 422 if about_format && !self.remote.schema_refused.get() => {
                CallError::FormatRefused(message)
            }
            429 | 500..=599 => CallError::Retry(format!("{status}: {message}")),
            _ => CallError::Fatal(anyhow!("the server answered {status}: {message}")),
        }
    }

    /// Server-sent events: `data: {...}` chunks with `choices[0].delta.content`, the finish
    /// reason, `usage` and llama.cpp's `timings`, then `data: [DONE]`.
    fn read(&self, line: &str, reply: &mut Reply) -> Result<Step, StreamError> {
        let Some(data) = line.strip_prefix("data:").map(str::trim) else {
            return Ok(Step::More);
        };
        if data == "[DONE]" {
            if reply.finish == Finish::Error {
                return Err(StreamError::NoFinish);
            }
            return Ok(Step::Done);
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| StreamError::not_json("the server sent an event", &e, data))?;
        if let Some(err) = v["error"]["message"].as_str().or(v["error"].as_str()) {
            return Err(StreamError::Failed {
                who: "the server",
                message: err.into(),
            });
        }
        let choice = &v["choices"][0];
        reply.push(choice["delta"]["content"].as_str().unwrap_or(""));
        match choice["finish_reason"].as_str() {
            Some("length") => reply.finish = Finish::Length,
            Some(_) => reply.finish = Finish::Stop,
            None => {}
        }
        if !v["usage"].is_null() || !v["timings"].is_null() {
            reply.last = v;
        }
        Ok(Step::More)
    }

    /// `usage` and llama.cpp's `timings`, whichever the server sent.
    fn figures(&self, reply: &Reply, marks: &CallMarks) -> (CallTokens, ServerTiming) {
        let (usage, t) = (&reply.last["usage"], &reply.last["timings"]);
        let cached = t["cache_n"]
            .as_u64()
            .or(usage["prompt_tokens_details"]["cached_tokens"].as_u64());
        let prompt = usage["prompt_tokens"]
            .as_u64()
            .or_else(|| Some(t["prompt_n"].as_u64()? + cached.unwrap_or(0)));
        let generated = usage["completion_tokens"]
            .as_u64()
            .or(t["predicted_n"].as_u64());
        let (prompt_ms, predicted_ms) = (t["prompt_ms"].as_f64(), t["predicted_ms"].as_f64());
        let total = prompt_ms.zip(predicted_ms).map(|(a, b)| a + b);
        let server = ServerTiming {
            prompt_eval_count: prompt,
            prompt_eval_ms: prompt_ms,
            eval_count: generated,
            eval_ms: predicted_ms,
            load_ms: None,
            total_ms: total,
            overhead_ms: total.map(|s| marks.done - marks.submitted - s),
            cached_count: cached,
        };
        let tokens = CallTokens {
            prompt: prompt.unwrap_or(0) as usize,
            cached: cached.unwrap_or(0) as usize,
            generated: generated.map_or(reply.pieces, |n| n as usize),
        };
        (tokens, server)
    }
}

impl Engine for OpenAiEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            backend: "openai".into(),
            model: self.opts.model.clone(),
            path: None,
            size_bytes: None,
            quantization: None,
            chat_template: None,
            threads: 0,
            device: None,
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
        remote::run_batch(self, calls, width, progress, follow_up)
    }
}
