//! OpenAI's chat API: `POST /v1/chat/completions` (one object, or server-sent chunks with
//! `stream`; `response_format` `json_schema` and `json_object` held by the pipeline's
//! grammar; `max_tokens`/`max_completion_tokens`, `temperature`, `top_p`, `seed`, `stop`;
//! `usage` counted) and `GET /v1/models`. Errors take OpenAI's shape.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{AppState, Shared};
use super::chat::{any_seed, finish_reason, start, Answering, Asked, Said};
use super::error::ApiError;
use crate::engine::{CallOutput, ChatMessage, Sampling};

/// An error in OpenAI's shape: `{"error": {"message", "type", ...}}`.
pub struct OpenAiError(ApiError);

impl From<ApiError> for OpenAiError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let kind = match self.0.status {
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => "invalid_request_error",
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::NOT_FOUND => "not_found_error",
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => "server_busy",
            _ => "server_error",
        };
        let body = json!({"error": {"message": self.0.message, "type": kind, "param": null, "code": null}});
        let mut r = self.0.into_response();
        *r.body_mut() = axum::body::Body::from(body.to_string());
        r
    }
}

/// A message's content: text, or parts of which only text is read.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

/// `stop`: one string or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
struct CompletionBody {
    #[serde(default)]
    model: String,
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    response_format: Option<Value>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    seed: Option<i64>,
    stop: Option<Stop>,
    n: Option<u32>,
    #[serde(default)]
    tools: Vec<Value>,
}

fn bad(message: impl Into<String>) -> OpenAiError {
    OpenAiError(ApiError::new(StatusCode::BAD_REQUEST, message))
}

/// `response_format` as a schema: `json_schema` its schema, `json_object` any object,
/// `text` or nothing free text.
fn schema_of(format: Option<&Value>) -> Result<Value, OpenAiError> {
    let Some(f) = format.filter(|f| !f.is_null()) else {
        return Ok(Value::Null);
    };
    match f["type"].as_str() {
        Some("text") => Ok(Value::Null),
        Some("json_object") => Ok(json!({"type": "object"})),
        Some("json_schema") => match &f["json_schema"]["schema"] {
            Value::Object(_) => Ok(f["json_schema"]["schema"].clone()),
            _ => Err(bad(
                "response_format.json_schema.schema must be a JSON schema",
            )),
        },
        _ => Err(bad(
            "response_format.type must be text, json_object or json_schema",
        )),
    }
}

/// The conversation: each message's text.
fn messages_of(messages: Vec<Message>) -> Result<Vec<ChatMessage>, OpenAiError> {
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        let role = match m.role.as_str() {
            "system" | "developer" => "system",
            "user" => "user",
            "assistant" => "assistant",
            other => {
                return Err(bad(format!(
                    "message role \"{other}\" is not supported (system, developer, user, assistant)"
                )))
            }
        };
        let text = match m.content {
            None => String::new(),
            Some(Content::Text(t)) => t,
            Some(Content::Parts(parts)) => {
                if let Some(p) = parts.iter().find(|p| p.kind != "text") {
                    return Err(bad(format!(
                        "content of type \"{}\" is not supported: text only",
                        p.kind
                    )));
                }
                parts.into_iter().map(|p| p.text).collect()
            }
        };
        out.push(ChatMessage::new(role, text));
    }
    Ok(out)
}

/// Numbers each completion of this server.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `POST /v1/chat/completions`.
pub async fn completions(
    State(s): AppState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let arrived = Instant::now();
    s.auth.check(&headers)?;
    let b: CompletionBody = super::ollama_api::parse(body)?;
    if b.n.is_some_and(|n| n != 1) {
        return Err(bad("n must be 1"));
    }
    if !b.tools.is_empty() {
        return Err(bad("tools are not supported by this server"));
    }
    if !s.card.answers_to(&b.model) {
        return Err(OpenAiError(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "The model `{}` does not exist (this server runs {})",
                b.model,
                s.card.name()
            ),
        )));
    }
    let stop = match b.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) => v,
    };
    let asked = Asked {
        messages: messages_of(b.messages)?,
        schema: schema_of(b.response_format.as_ref())?,
        // llama.cpp's server defaults where the request says nothing.
        sampling: Sampling {
            temperature: b.temperature.unwrap_or(0.8),
            top_p: b.top_p.unwrap_or(0.95),
            top_k: 40,
            dry: 0.0,
        },
        stop,
        max_tokens: b.max_completion_tokens.or(b.max_tokens),
        ctx: None,
        seed: b.seed.map_or_else(any_seed, |n| n as u32),
    };
    let answering = start(&s, asked, arrived).await?;
    let id = format!("chatcmpl-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let usage = b.stream_options.unwrap_or_default().include_usage;
    if b.stream {
        return Ok(streamed(s, answering, id, usage).into_response());
    }
    let mut answering = answering;
    let out = answering.whole().await?;
    Ok(Json(json!({
        "id": id,
        "object": "chat.completion",
        "created": unix_now(),
        "model": s.card.name(),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": out.text},
            "logprobs": null,
            "finish_reason": finish_reason(&out),
        }],
        "usage": usage_of(&out),
        "system_fingerprint": null,
    }))
    .into_response())
}

fn usage_of(out: &CallOutput) -> Value {
    let r = &out.record;
    json!({
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.generated_tokens,
        "total_tokens": r.prompt_tokens + r.generated_tokens,
        "prompt_tokens_details": {"cached_tokens": r.cached_tokens},
    })
}

/// What the stream of one completion has sent so far.
enum Sent {
    Nothing,
    Text,
    Finished(Box<CallOutput>),
    Over,
}

/// The completion as server-sent chunks, then `[DONE]`.
fn streamed(
    s: Arc<Shared>,
    answering: Answering,
    id: String,
    usage: bool,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let created = unix_now();
    let chunk = move |s: &Shared, delta: Value, finish: Value| {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": s.card.name(),
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        })
    };
    let state = (s, answering, Sent::Nothing);
    let events = futures_util::stream::unfold(Some(state), move |state| {
        let chunk = chunk.clone();
        async move {
            let (s, mut answering, sent) = state?;
            let data = |v: Value| SseEvent::default().data(v.to_string());
            let (event, next) = match sent {
                Sent::Nothing => (
                    data(chunk(
                        &s,
                        json!({"role": "assistant", "content": ""}),
                        Value::Null,
                    )),
                    Some(Sent::Text),
                ),
                Sent::Text => match answering.next().await {
                    Ok(Said::Piece(p)) => (
                        data(chunk(&s, json!({"content": p}), Value::Null)),
                        Some(Sent::Text),
                    ),
                    Ok(Said::Done(out)) => {
                        let last = chunk(&s, json!({}), json!(finish_reason(&out)));
                        (data(last), Some(Sent::Finished(out)))
                    }
                    Err(e) => {
                        let body = json!({"error": {"message": e.message, "type": "server_error"}});
                        (data(body), Some(Sent::Over))
                    }
                },
                Sent::Finished(out) if usage => {
                    let mut c = chunk(&s, json!({}), Value::Null);
                    c["choices"] = json!([]);
                    c["usage"] = usage_of(&out);
                    (data(c), Some(Sent::Over))
                }
                Sent::Finished(_) | Sent::Over => (SseEvent::default().data("[DONE]"), None),
            };
            Some((Ok(event), next.map(|n| (s, answering, n))))
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// `GET /v1/models`: the one model this server runs.
pub async fn models(State(s): AppState, headers: HeaderMap) -> Result<Response, OpenAiError> {
    s.auth.check(&headers)?;
    Ok(Json(json!({
        "object": "list",
        "data": [{"id": s.card.name(), "object": "model", "created": unix_now(), "owned_by": "syllabus"}],
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_formats_become_schemas() {
        assert_eq!(schema_of(None).ok(), Some(Value::Null));
        let text = json!({"type": "text"});
        assert_eq!(schema_of(Some(&text)).ok(), Some(Value::Null));
        let object = json!({"type": "json_object"});
        assert_eq!(
            schema_of(Some(&object)).ok(),
            Some(json!({"type": "object"}))
        );
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        let f = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": schema}});
        assert_eq!(schema_of(Some(&f)).ok(), Some(schema));
        assert!(schema_of(Some(&json!({"type": "yaml"}))).is_err());
    }

    #[test]
    fn parts_of_text_are_joined_and_roles_checked() {
        let m: Vec<Message> = serde_json::from_value(json!([
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
        ]))
        .unwrap();
        let m = messages_of(m).ok().unwrap();
        assert_eq!(m[0], ChatMessage::new("system", "Be brief."));
        assert_eq!(m[1], ChatMessage::new("user", "Hi there"));
        let tool: Vec<Message> =
            serde_json::from_value(json!([{"role": "tool", "content": "x"}])).unwrap();
        assert!(messages_of(tool).is_err());
    }
}
