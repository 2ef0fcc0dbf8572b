//! One call to a model server, as both HTTP engines make it: one deadline for the call and
//! its retries, a pause before each retry of a server error, the schema moved into the
//! prompt once a server refuses it, and the streamed reply read line by line within its
//! bounds, with the call's marks and progress. A `Protocol` says only what differs between
//! servers: the request, what a refusal means, what a line of the stream carries.

use std::cell::Cell;
use std::time::Duration;

use anyhow::{anyhow, bail};
use serde_json::Value;

use super::http::{self, CallError, TRIES};
use super::{ChatCall, Finish, Progress};
use crate::report::call_label;
use crate::timing::{CallMarks, Clock};

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

    /// The clock calls are timed on.
    fn clock(&self) -> Clock;
    /// Limit on one call, retries included.
    fn call_timeout(&self) -> Duration;
    /// Set once the server refused the JSON schema: the schema then goes in the prompt.
    fn schema_refused(&self) -> &Cell<bool>;
    /// The request of one try of `call`.
    fn request(&self, call: &ChatCall) -> reqwest::RequestBuilder;
    /// Why the server cannot be reached at all, and how to start it.
    fn unreachable(&self, e: reqwest::Error) -> anyhow::Error;
    /// What a refusal with `status` and error `body` means.
    fn refusal(&self, status: reqwest::StatusCode, body: &str) -> CallError;
    /// Reads one line of the stream into `reply`; an error is the server's failure.
    fn read(&self, line: &str, reply: &mut Reply) -> Result<Step, String>;
}

/// One call with its retries, within one deadline: the reply and the call's marks.
pub async fn call<P: Protocol>(
    p: &P,
    call: &ChatCall,
    submitted: f64,
    progress: &dyn Progress,
) -> anyhow::Result<(Reply, CallMarks)> {
    let clock = p.clock();
    let mut marks = CallMarks {
        submitted,
        admitted: clock.now_ms(),
        ..CallMarks::default()
    };
    progress.call_started(call);
    let limit = p.call_timeout();
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
                p.schema_refused().set(true);
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
    read_stream(p, resp, (call, marks), progress).await
}

/// Reads the streamed reply line by line to the line that ends it.
async fn read_stream<P: Protocol>(
    p: &P,
    mut resp: reqwest::Response,
    (call, marks): (&ChatCall, &mut CallMarks),
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
        lines.push(&bytes).map_err(fatal)?;
        while let Some(line) = lines.next_line() {
            let before = reply.pieces;
            let step = p.read(line.trim(), &mut reply).map_err(fatal)?;
            if reply.pieces > before {
                if reply.text.len() > http::MAX_REPLY_BYTES {
                    return Err(fatal(format!("{name}: {}", http::too_long_reply())));
                }
                let now = p.clock().now_ms();
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
