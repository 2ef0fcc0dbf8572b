//! One call to a model server, as both HTTP engines make it: one deadline for the call and
//! its retries, a pause before each retry of a server error, the schema moved into the
//! prompt once a server refuses it, and the streamed reply read line by line within its
//! bounds, with the call's marks and progress. A `Protocol` says only what differs between
//! servers: the request, what a refusal means, what a line of the stream carries.

use std::cell::Cell;
use std::time::Duration;

use anyhow::{anyhow, bail};
use serde_json::{json, Value};

use super::http::{self, CallError, StreamError, TRIES};
use super::measures::call_label;
use super::measures::{CallMarks, CallRecord, CallTokens, Clock, ServerTiming};
use super::{BatchStats, CallOutput, ChatCall, Finish, FollowUp, Progress};

/// Longest wait for a server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What an HTTP engine keeps for its calls: the server, a client, the runtime its requests
/// run on, the clock, the call limit, and whether the server refused JSON schemas.
pub struct Remote {
    /// The server's base address.
    pub url: url::Url,
    /// The HTTP client (proxies for remote hosts only).
    pub client: reqwest::Client,
    /// The runtime requests are driven on.
    pub runtime: tokio::runtime::Runtime,
    /// The clock calls are timed on.
    pub clock: Clock,
    /// Limit on one call, retries included.
    pub call_timeout: Duration,
    /// Set once the server refused a JSON schema: the schema then goes in the prompt.
    pub schema_refused: Cell<bool>,
}

impl Remote {
    /// A client for the server at `url`.
    pub fn new(url: &url::Url, clock: Clock, call_timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            url: url.clone(),
            client: http::client(url, CONNECT_TIMEOUT)?,
            runtime: http::runtime()?,
            clock,
            call_timeout,
            schema_refused: Cell::new(false),
        })
    }

    /// The address of `path` on the server.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url.as_str().trim_end_matches('/'))
    }

    /// The server's address for messages, without its password.
    pub fn shown(&self) -> String {
        http::shown(&self.url)
    }

    /// `call`'s messages as JSON; once the server refused schemas, the last one asks for
    /// JSON that follows the schema.
    pub fn messages(&self, call: &ChatCall) -> Vec<Value> {
        let mut messages: Vec<Value> = call
            .messages
            .iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect();
        if self.schema_refused.get() {
            if let Some(last) = messages.last_mut() {
                let text = format!(
                    "{}\n\nAnswer with JSON that follows this schema:\n{}",
                    last["content"].as_str().unwrap_or_default(),
                    http::remote_schema(&call.schema)
                );
                last["content"] = Value::String(text);
            }
        }
        messages
    }
}

/// What one streamed reply carried.
#[derive(Debug)]
pub struct Reply {
    /// The reply's text, its pieces joined.
    pub text: String,
    /// Pieces of text received.
    pub pieces: usize,
    /// Why it ended; `Finish::Error` until the server says.
    pub finish: Finish,
    /// The server's last line with figures (usage, timings, durations), when any.
    pub last: Value,
}

impl Reply {
    /// A piece of the reply's text.
    pub fn push(&mut self, piece: &str) {
        if !piece.is_empty() {
            self.text.push_str(piece);
            self.pieces += 1;
        }
    }
}

/// Whether a line ended the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More lines to come.
    More,
    /// The reply is complete.
    Done,
}

/// What differs between model servers; the rest of a call is `call`'s.
pub trait Protocol {
    /// The server, as messages name it ("Ollama", "the server").
    const NAME: &'static str;
    /// What a stream cut short lacked ("its last (`done`) line").
    const UNFINISHED: &'static str;

    /// The engine's client side.
    fn remote(&self) -> &Remote;
    /// The request of one try of `call`.
    fn request(&self, call: &ChatCall) -> reqwest::RequestBuilder;
    /// Why the server cannot be reached at all, and how to start it.
    fn unreachable(&self, e: reqwest::Error) -> anyhow::Error;
    /// What a refusal with `status` and error `body` means.
    fn refusal(&self, status: reqwest::StatusCode, body: &str) -> CallError;
    /// Reads one line of the stream into `reply`; an error is the server's failure.
    fn read(&self, line: &str, reply: &mut Reply) -> Result<Step, StreamError>;
    /// The tokens and the server's own figures a finished `reply` reports.
    fn figures(&self, reply: &Reply, marks: &CallMarks) -> (CallTokens, ServerTiming);
}

/// Runs `calls` on the server, up to `width` at once, follow-ups as calls finish.
pub fn run_batch<P: Protocol>(
    p: &P,
    calls: &[ChatCall],
    width: usize,
    progress: &dyn Progress,
    follow_up: FollowUp<'_>,
) -> anyhow::Result<(Vec<CallOutput>, BatchStats)> {
    let r = p.remote();
    http::run_batch(
        &r.runtime,
        calls,
        width,
        r.clock,
        follow_up,
        |call, submitted| async move { output(p, &call, submitted, progress).await },
    )
}

/// One call made and recorded, with the server's figures beside the client's clock.
async fn output<P: Protocol>(
    p: &P,
    call: &ChatCall,
    submitted: f64,
    progress: &dyn Progress,
) -> anyhow::Result<CallOutput> {
    let (reply, marks) = super::remote::call(p, call, submitted, progress).await?;
    let (tokens, server) = p.figures(&reply, &marks);
    let (phase, index, attempt) = (call.phase, call.index, call.attempt);
    let mut record = CallRecord::new(phase, index, attempt, marks, tokens, reply.finish);
    record.server = Some(server);
    progress.call_finished(&record);
    Ok(CallOutput {
        text: reply.text,
        tokens: Vec::new(),
        record,
    })
}

/// One call with its retries, within one deadline: the reply and the call's marks.
async fn call<P: Protocol>(
    p: &P,
    call: &ChatCall,
    submitted: f64,
    progress: &dyn Progress,
) -> anyhow::Result<(Reply, CallMarks)> {
    let clock = p.remote().clock;
    let mut marks = CallMarks {
        submitted,
        admitted: clock.now_ms(),
        ..CallMarks::default()
    };
    progress.call_started(call);
    let limit = p.remote().call_timeout;
    let deadline = tokio::time::Instant::now() + limit;
    let mut tries = 0;
    let name = P::NAME;
    let reply = loop {
        tries += 1;
        let attempt = tokio::time::timeout_at(deadline, try_call(p, call, &mut marks, progress));
        match attempt.await {
            Err(_) => bail!(
                "a call to {name} ({}) took longer than {} s; raise --call-timeout-secs or use a smaller model",
                call_label(call.phase, call.index),
                limit.as_secs_f64()
            ),
            Ok(Ok(reply)) => break reply,
            Ok(Err(CallError::Fatal(e))) => return Err(e),
            Ok(Err(CallError::FormatRefused(message))) => {
                tracing::warn!(%message, "{name} refused a JSON schema; sending plain JSON mode with the schema in the prompt");
                p.remote().schema_refused.set(true);
            }
            Ok(Err(CallError::Retry(message))) if tries < TRIES => {
                tracing::warn!(%message, try = tries, "a call to {name} failed; trying again");
                tokio::time::sleep(http::backoff(tries)).await;
            }
            Ok(Err(CallError::Retry(message))) => bail!("{name} failed {TRIES} times: {message}"),
        }
        marks.prompt_done = None;
        marks.first_token = None;
    };
    marks.done = clock.now_ms();
    Ok((reply, marks))
}

/// One try: send, then read the stream to its end.
async fn try_call<P: Protocol>(
    p: &P,
    call: &ChatCall,
    marks: &mut CallMarks,
    progress: &dyn Progress,
) -> Result<Reply, CallError> {
    let resp = p.request(call).send().await.map_err(|e| {
        if e.is_connect() {
            CallError::Fatal(p.unreachable(e))
        } else {
            CallError::Retry(e.without_url().to_string())
        }
    })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(p.refusal(status, &http::error_text(resp).await));
    }
    read_stream(p, resp, call, marks, progress).await
}

/// Reads the streamed reply line by line to the line that ends it.
async fn read_stream<P: Protocol>(
    p: &P,
    mut resp: reqwest::Response,
    call: &ChatCall,
    marks: &mut CallMarks,
    progress: &dyn Progress,
) -> Result<Reply, CallError> {
    let name = P::NAME;
    let fatal = |m: String| CallError::Fatal(anyhow!(m));
    let mut lines = http::Lines::default();
    let mut reply = Reply {
        text: String::new(),
        pieces: 0,
        finish: Finish::Error,
        last: Value::Null,
    };
    loop {
        let bytes = match resp.chunk().await {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) => {
                let why = e.without_url();
                return Err(fatal(format!(
                    "the reply stream from {name} broke off: {why}"
                )));
            }
        };
        lines.push(&bytes).map_err(|e| fatal(e.to_string()))?;
        while let Some(line) = lines.next_line() {
            let before = reply.pieces;
            let step = p
                .read(line.trim(), &mut reply)
                .map_err(|e| fatal(e.to_string()))?;
            if reply.pieces > before {
                if reply.text.len() > http::MAX_REPLY_BYTES {
                    return Err(fatal(format!("{name}: {}", http::too_long_reply())));
                }
                let now = p.remote().clock.now_ms();
                marks.prompt_done.get_or_insert(now);
                marks.first_token.get_or_insert(now);
                progress.tokens(call.phase, call.index, reply.pieces);
            }
            if step == Step::Done {
                return Ok(reply);
            }
        }
    }
    Err(fatal(format!(
        "the reply stream from {name} ended before {}, after {} pieces",
        P::UNFINISHED,
        reply.pieces
    )))
}

/// The error message a server's JSON error body carries (`{"error": "..."}` or
/// `{"error": {"message": "..."}}`), else the body itself, shortened.
pub fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .or(v["error"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.trim().chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(
            error_message(r#"{"error":"model not found"}"#),
            "model not found"
        );
        assert_eq!(
            error_message(r#"{"error":{"message":"bad key"}}"#),
            "bad key"
        );
        assert_eq!(error_message(" Bad Gateway \n"), "Bad Gateway");
        assert_eq!(error_message(&"x".repeat(500)).len(), 300);
    }
}
