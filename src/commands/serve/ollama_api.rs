//! Ollama's API, as its documentation describes it (docs/api.md of ollama/ollama):
//! `POST /api/generate` and `/api/chat` (NDJSON streamed by default, or one object with
//! `stream: false`; `format` "json" or a JSON schema, held by the pipeline's grammar;
//! `options`), `GET /api/tags`, `POST /api/show`, `GET /api/ps`, `GET /api/version`.
//! Clients written for an Ollama daemon (LangChain's `OllamaLLM`, the `ollama` package)
//! use this server with only the base URL changed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::api::{AppState, Shared};
use super::chat::{any_seed, finish_reason, nanos, start, Answering, Asked, Said};
use super::error::ApiError;
use crate::engine::{CallOutput, ChatMessage, Sampling};

/// Ollama's `options` this server follows; others are accepted and have no effect.
#[derive(Debug, Default, Deserialize)]
struct Options {
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<i32>,
    seed: Option<i64>,
    num_predict: Option<i64>,
    num_ctx: Option<i64>,
    stop: Option<Vec<String>>,
}

/// What `/api/generate` and `/api/chat` share.
#[derive(Debug, Deserialize)]
struct Common {
    #[serde(default)]
    model: String,
    #[serde(default = "streamed")]
    stream: bool,
    #[serde(default)]
    format: Value,
    #[serde(default)]
    options: Options,
    /// Accepted: the model stays loaded as long as the server runs.
    #[serde(default, rename = "keep_alive")]
    _keep_alive: Value,
}

fn streamed() -> bool {
    true
}

#[derive(Debug, Deserialize)]
struct GenerateBody {
    #[serde(flatten)]
    common: Common,
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    suffix: Option<String>,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    raw: bool,
    #[serde(default)]
    images: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    images: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct ChatBody {
    #[serde(flatten)]
    common: Common,
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    tools: Vec<Value>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// A body as JSON of `T`, with Ollama's kind of error.
pub(super) fn parse<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = super::api::body_bytes(body, super::chat::MAX_CHAT_BODY)?;
    serde_json::from_slice(&body).map_err(|e| bad(format!("invalid request: {e}")))
}

/// `format` as a schema: "json" any JSON object, a schema itself, nothing free text.
fn schema_of(format: &Value) -> Result<Value, ApiError> {
    match format {
        Value::Null => Ok(Value::Null),
        Value::String(s) if s.is_empty() => Ok(Value::Null),
        Value::String(s) if s == "json" => Ok(json!({"type": "object"})),
        Value::Object(_) => Ok(format.clone()),
        other => Err(bad(format!(
            "format must be \"json\" or a JSON schema, not {other}"
        ))),
    }
}

/// The request as the engine runs it, after checking the model's name.
fn asked(s: &Shared, common: &Common, messages: Vec<ChatMessage>) -> Result<Asked, ApiError> {
    if !s.card.answers_to(&common.model) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "model \"{}\" not found, try pulling it first (this server runs {})",
                common.model,
                s.card.name()
            ),
        ));
    }
    let o = &common.options;
    let positive = |v: Option<i64>| v.filter(|&n| n > 0).map(|n| n.min(u32::MAX as i64) as u32);
    Ok(Asked {
        messages,
        schema: schema_of(&common.format)?,
        // Ollama's defaults.
        sampling: Sampling {
            temperature: o.temperature.unwrap_or(0.8),
            top_p: o.top_p.unwrap_or(0.9),
            top_k: o.top_k.unwrap_or(40),
            dry: 0.0,
        },
        stop: o.stop.clone().unwrap_or_default(),
        max_tokens: positive(o.num_predict),
        ctx: positive(o.num_ctx),
        seed: o.seed.map_or_else(any_seed, |n| n as u32),
    })
}

/// `POST /api/generate`.
pub async fn generate(
    State(s): AppState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    s.auth.check(&headers)?;
    let b: GenerateBody = parse(body)?;
    if b.raw || b.template.as_deref().is_some_and(|t| !t.is_empty()) {
        return Err(bad(
            "this server renders prompts with the model's own chat template: raw and template are not supported",
        ));
    }
    if b.suffix.as_deref().is_some_and(|t| !t.is_empty()) || !b.images.is_empty() {
        return Err(bad("suffix and images are not supported by this model"));
    }
    let mut messages = Vec::new();
    if let Some(system) = b.system.filter(|t| !t.is_empty()) {
        messages.push(ChatMessage::new("system", system));
    }
    if b.prompt.is_empty() && messages.is_empty() {
        return Ok(loaded(&s, Kind::Generate));
    }
    messages.push(ChatMessage::new("user", b.prompt));
    let asked = asked(&s, &b.common, messages)?;
    let answering = start(&s, asked, arrived).await?;
    reply(s, answering, b.common.stream, Kind::Generate).await
}

/// `POST /api/chat`.
pub async fn chat(
    State(s): AppState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    s.auth.check(&headers)?;
    let b: ChatBody = parse(body)?;
    if !b.tools.is_empty() {
        return Err(bad("tools are not supported by this server"));
    }
    if b.messages.is_empty() {
        return Ok(loaded(&s, Kind::Chat));
    }
    let mut messages = Vec::with_capacity(b.messages.len());
    for m in b.messages {
        if !matches!(m.role.as_str(), "system" | "user" | "assistant") {
            return Err(bad(format!(
                "message role \"{}\" is not supported (system, user, assistant)",
                m.role
            )));
        }
        if !m.images.is_empty() {
            return Err(bad("images are not supported by this model"));
        }
        messages.push(ChatMessage::new(&m.role, m.content));
    }
    let asked = asked(&s, &b.common, messages)?;
    let answering = start(&s, asked, arrived).await?;
    reply(s, answering, b.common.stream, Kind::Chat).await
}

/// Which endpoint a reply is for: the text goes in `response` or in `message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Generate,
    Chat,
}

/// `model` and `created_at`, as every reply line begins.
fn head(s: &Shared) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("model".into(), json!(s.card.name()));
    m.insert(
        "created_at".into(),
        json!(humantime::format_rfc3339_nanos(SystemTime::now()).to_string()),
    );
    m
}

/// One line carrying `text`.
fn piece_line(s: &Shared, kind: Kind, text: &str, done: bool) -> Map<String, Value> {
    let mut line = head(s);
    match kind {
        Kind::Generate => line.insert("response".into(), json!(text)),
        Kind::Chat => line.insert(
            "message".into(),
            json!({"role": "assistant", "content": text}),
        ),
    };
    line.insert("done".into(), json!(done));
    line
}

/// Ollama's answer to a request with nothing to say, its way to load a model: it is
/// loaded already.
fn loaded(s: &Shared, kind: Kind) -> Response {
    let mut line = piece_line(s, kind, "", true);
    line.insert("done_reason".into(), json!("load"));
    Json(line).into_response()
}

/// The last line: the reason and the call's figures, measured on this request.
fn done_line(s: &Shared, kind: Kind, out: &CallOutput, text: &str, arrived: Instant) -> Value {
    let mut line = piece_line(s, kind, text, true);
    let r = &out.record;
    let total_ms = arrived.elapsed().as_secs_f64() * 1e3;
    // Before the engine ran the prompt: the request's checks, its wait for a place and
    // for a sequence. The model itself was loaded when the server started.
    let before_ms = (total_ms - r.total_ms).max(0.0) + r.queue_ms;
    line.extend([
        ("done_reason".into(), json!(finish_reason(out))),
        ("total_duration".into(), json!(nanos(total_ms))),
        ("load_duration".into(), json!(nanos(before_ms))),
        ("prompt_eval_count".into(), json!(r.prompt_tokens)),
        ("prompt_eval_duration".into(), json!(nanos(r.prompt_ms))),
        ("eval_count".into(), json!(r.generated_tokens)),
        ("eval_duration".into(), json!(nanos(r.gen_ms))),
    ]);
    Value::Object(line)
}

/// The reply: NDJSON lines as the text comes, or one object at the end.
async fn reply(
    s: Arc<Shared>,
    mut answering: Answering,
    stream: bool,
    kind: Kind,
) -> Result<Response, ApiError> {
    if !stream {
        let out = answering.whole().await?;
        let line = done_line(&s, kind, &out, &out.text, answering.arrived);
        return Ok(Json(line).into_response());
    }
    let lines = futures_util::stream::unfold(Some((s, answering)), move |state| async move {
        let (s, mut answering) = state?;
        let (line, next) = match answering.next().await {
            Ok(Said::Piece(p)) => (Value::Object(piece_line(&s, kind, &p, false)), true),
            Ok(Said::Done(out)) => (done_line(&s, kind, &out, "", answering.arrived), false),
            // Ollama streams an error as a line of its own.
            Err(e) => (json!({ "error": e.message }), false),
        };
        let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
        bytes.push(b'\n');
        Some((
            Ok::<_, Infallible>(Bytes::from(bytes)),
            next.then_some((s, answering)),
        ))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response())
}

/// The model as `/api/tags` and `/api/ps` list it.
fn listed(s: &Shared) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), json!(s.card.name()));
    m.insert("model".into(), json!(s.card.name()));
    m.insert("size".into(), json!(s.card.size));
    m.insert("digest".into(), json!(s.card.digest));
    m.insert("details".into(), s.card.details());
    m
}

/// `GET /api/tags`: the one model this server runs.
pub async fn tags(State(s): AppState, headers: HeaderMap) -> Result<Response, ApiError> {
    s.auth.check(&headers)?;
    let mut m = listed(&s);
    m.insert("modified_at".into(), json!(s.card.modified_at));
    Ok(Json(json!({ "models": [m] })).into_response())
}

/// `GET /api/ps`: the model, loaded for as long as the server runs.
pub async fn ps(State(s): AppState, headers: HeaderMap) -> Result<Response, ApiError> {
    s.auth.check(&headers)?;
    let mut m = listed(&s);
    let on_gpu = s
        .engine
        .device
        .as_ref()
        .and_then(|d| d.layers_offloaded)
        .is_some_and(|n| n > 0);
    m.insert("expires_at".into(), json!("2318-08-22T00:00:00Z"));
    m.insert(
        "size_vram".into(),
        json!(if on_gpu { s.card.size } else { 0 }),
    );
    Ok(Json(json!({ "models": [m] })).into_response())
}

/// `GET /api/version`: this program's version.
pub async fn version() -> Json<Value> {
    Json(json!({ "version": env!("CARGO_PKG_VERSION") }))
}

#[derive(Debug, Deserialize)]
struct ShowBody {
    #[serde(default)]
    model: String,
    #[serde(default)]
    name: String,
}

/// `POST /api/show`: the model's details, template and figures.
pub async fn show(
    State(s): AppState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    s.auth.check(&headers)?;
    let b: ShowBody = parse(body)?;
    let name = if b.model.is_empty() {
        &b.name
    } else {
        &b.model
    };
    if name.is_empty() || !s.card.answers_to(name) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("model \"{name}\" not found"),
        ));
    }
    let c = &s.card;
    let mut info = Map::new();
    info.insert("general.architecture".into(), json!(c.family));
    if let Some(n) = c.context_length {
        info.insert(format!("{}.context_length", c.family), json!(n));
    }
    Ok(Json(json!({
        "modelfile": format!("# served by syllabus {}\nFROM {}\n", env!("CARGO_PKG_VERSION"), c.name()),
        "parameters": "",
        "template": c.template,
        "details": c.details(),
        "model_info": info,
        "capabilities": ["completion"],
        "modified_at": c.modified_at,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_json_a_schema_or_nothing() {
        assert_eq!(schema_of(&Value::Null).unwrap(), Value::Null);
        assert_eq!(schema_of(&json!("")).unwrap(), Value::Null);
        assert_eq!(
            schema_of(&json!("json")).unwrap(),
            json!({"type": "object"})
        );
        let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert_eq!(schema_of(&schema).unwrap(), schema);
        assert_eq!(
            schema_of(&json!("yaml")).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
