//! One request of the Ollama or OpenAI API on the courses' places and the shared engine:
//! its prompt measured against the engine's memory, its call queued like a course (same
//! queue bound, same course engines: decoded in the shared batch), its text passed on as it is
//! written, and its figures measured. Dropping an `Answering` (the client went away)
//! cancels the call.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use llguidance::api::{GrammarInit, ParserLimits, TopLevelGrammar, ValidationResult};
use serde_json::Value;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::api::{enqueue, Shared};
use super::error::ApiError;
use super::jobs::{Event, Ticket, Work};
use crate::engine::measures::Finish;
use crate::engine::{CallOptions, CallOutput, ChatCall, ChatMessage, Fit, Phase, Sampling};

/// Largest body of an Ollama or OpenAI request, bytes (a conversation, not a course's
/// few fields); the engine's context bounds it further.
pub const MAX_CHAT_BODY: usize = 1024 * 1024;

/// A request, as both APIs ask it.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The conversation, rendered with the model's own template.
    pub messages: Vec<ChatMessage>,
    /// JSON schema the reply must follow; `Value::Null` for free text.
    pub schema: Value,
    /// Its sampling.
    pub sampling: Sampling,
    /// Strings that end the reply.
    pub stop: Vec<String>,
    /// Most tokens to generate (`None`: as many as the context holds).
    pub max_tokens: Option<u32>,
    /// The client's own context size (prompt and reply), when it sets one.
    pub ctx: Option<u32>,
    /// Sampler seed.
    pub seed: u32,
}

/// A seed for a request that set none: each such request samples differently.
pub fn any_seed() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ d.as_secs() as u32);
    nanos.wrapping_mul(0x9E37_79B9)
}

/// What a running request says next.
pub enum Said {
    /// More of the reply's text.
    Piece(String),
    /// The reply is complete: its text and record.
    Done(Box<CallOutput>),
}

/// A request on its way: its text as it comes, then its end.
pub struct Answering {
    /// Holds the request's place: dropped, the call is cancelled.
    _ticket: Ticket,
    rx: UnboundedReceiver<Event>,
    /// When the request arrived.
    pub arrived: Instant,
}

impl Answering {
    /// The next piece of text, or the whole reply; an error when the call failed.
    pub async fn next(&mut self) -> Result<Said, ApiError> {
        while let Some(event) = self.rx.recv().await {
            match event {
                Event::Piece(p) => return Ok(Said::Piece(p)),
                Event::Answered(out) if out.record.finish == Finish::Error => {
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the call was cut before its reply (the server is stopping)",
                    ))
                }
                Event::Answered(out) => return Ok(Said::Done(out)),
                Event::Failed { message, stopping } => {
                    return Err(ApiError::failed(
                        message,
                        stopping,
                        StatusCode::INTERNAL_SERVER_ERROR,
                    ))
                }
                _ => {}
            }
        }
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the request ended without a reply",
        ))
    }

    /// The whole reply, its pieces skipped.
    pub async fn whole(&mut self) -> Result<Box<CallOutput>, ApiError> {
        loop {
            if let Said::Done(out) = self.next().await? {
                return Ok(out);
            }
        }
    }
}

/// Why `schema` cannot hold a reply, if it cannot (the engine's grammar compiler's words).
fn schema_error(schema: &Value) -> Option<String> {
    if schema.is_null() {
        return None;
    }
    let grammar = GrammarInit::Serialized(TopLevelGrammar::from_json_schema(schema.clone()));
    match grammar.validate(None, ParserLimits::default()) {
        ValidationResult::Error(e) => Some(e),
        _ => None,
    }
}

/// Checks `asked` against the engine's memory and queues it; `arrived` is when its
/// request came.
pub async fn start(s: &Arc<Shared>, asked: Asked, arrived: Instant) -> Result<Answering, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    if asked.messages.is_empty() {
        return Err(bad("the request has no messages".into()));
    }
    if let Some(e) = schema_error(&asked.schema) {
        return Err(bad(format!("the JSON schema cannot be used: {e}")));
    }
    let engines = s.course_engines.clone();
    let messages = asked.messages.clone();
    let fit = tokio::task::spawn_blocking(move || engines.measure(&messages))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let max_tokens = budget(&asked, fit).map_err(bad)?;
    let (tx, rx) = unbounded_channel();
    let pieces = tx.clone();
    let call = ChatCall {
        phase: Phase::Chat,
        index: 0,
        group: 0,
        attempt: 1,
        messages: asked.messages,
        schema: asked.schema,
        max_tokens,
        seed: asked.seed,
        options: CallOptions {
            sampling: Some(asked.sampling),
            stop: asked.stop,
            pieces: Some(Arc::new(move |p: &str| {
                let _ = pieces.send(Event::Piece(p.to_string()));
            })),
        },
    };
    let ticket = enqueue(s, Work::Chat(Box::new(call)), tx)?;
    Ok(Answering {
        _ticket: ticket,
        rx,
        arrived,
    })
}

/// The reply's budget: what the client asked, within what its prompt leaves of the
/// window one request may take (and of its own context size); an error when the prompt
/// leaves nothing.
fn budget(asked: &Asked, fit: Fit) -> Result<u32, String> {
    let window = asked
        .ctx
        .map_or(fit.window, |c| (c as usize).min(fit.window));
    let left = window.saturating_sub(fit.prompt_tokens);
    if left == 0 {
        return Err(format!(
            "the prompt is {} tokens; a request here holds at most {window} tokens of prompt and reply",
            fit.prompt_tokens
        ));
    }
    let left = u32::try_from(left).unwrap_or(u32::MAX);
    Ok(asked.max_tokens.map_or(left, |m| m.clamp(1, left)))
}

/// Milliseconds as nanoseconds (Ollama's durations).
pub fn nanos(ms: f64) -> u64 {
    (ms.max(0.0) * 1e6) as u64
}

/// The record's finish as both APIs name it.
pub fn finish_reason(out: &CallOutput) -> &'static str {
    match out.record.finish {
        Finish::Length => "length",
        _ => "stop",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(max_tokens: Option<u32>, ctx: Option<u32>) -> Asked {
        Asked {
            messages: vec![ChatMessage::new("user", "hi")],
            schema: Value::Null,
            sampling: Sampling::DEFAULT,
            stop: Vec::new(),
            max_tokens,
            ctx,
            seed: 1,
        }
    }

    #[test]
    fn a_budget_stays_within_the_window_the_prompt_leaves() {
        let fit = Fit {
            prompt_tokens: 100,
            window: 1000,
        };
        assert_eq!(budget(&asked(None, None), fit), Ok(900));
        assert_eq!(budget(&asked(Some(50), None), fit), Ok(50));
        assert_eq!(budget(&asked(Some(5000), None), fit), Ok(900));
        assert_eq!(budget(&asked(None, Some(300)), fit), Ok(200));
        let err = budget(&asked(None, Some(100)), fit).unwrap_err();
        assert!(err.contains("100 tokens"), "{err}");
    }

    #[test]
    fn a_schema_the_grammar_cannot_hold_is_named() {
        assert!(schema_error(&Value::Null).is_none());
        assert!(schema_error(&serde_json::json!({"type": "object"})).is_none());
        let e = schema_error(&serde_json::json!({"type": "no such type"}));
        assert!(e.is_some());
    }
}
