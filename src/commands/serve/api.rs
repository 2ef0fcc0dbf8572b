//! The API: a course asked for as JSON (its result at the end, or its progress as
//! server-sent events), finished courses and their downloads, health and models.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::Stream;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::auth::Auth;
use super::error::ApiError;
use super::jobs::{Event, JobRefused, Jobs, Ticket, Work};
use crate::cli::{CourseBody, ServePlan, MAX_FIELD_CHARS};
use crate::engine::EngineInfo;
use crate::render::Format;

/// Largest request body, bytes.
pub const MAX_BODY: usize = 16 * 1024;

/// What every handler shares.
pub struct Shared {
    /// The courses.
    pub jobs: Arc<Jobs>,
    /// The shared engine's course engines, to measure a chat's prompt.
    pub course_engines: crate::engine::shared::CourseEngines,
    /// The model as the Ollama and OpenAI APIs describe it.
    pub card: super::card::Card,
    /// The token check.
    pub auth: Auth,
    /// The server's plan (request limits, defaults).
    pub plan: ServePlan,
    /// The loaded model.
    pub engine: EngineInfo,
    /// Counts of signed-out requests per address.
    pub limiter: super::limit::Limiter,
    /// Finished courses' files, rendered and kept.
    pub downloads: super::downloads::Downloads,
}

/// The state handlers get.
pub type AppState = State<Arc<Shared>>;

pub async fn healthz(State(s): AppState) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "model": s.engine.model, "load": s.jobs.load() }))
}

pub async fn models(State(s): AppState, headers: HeaderMap) -> Result<Response, ApiError> {
    s.auth.check(&headers)?;
    let listed = tokio::task::spawn_blocking(|| crate::commands::models::list(true))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    let catalog: serde_json::Value = serde_json::from_str(&listed).unwrap_or_default();
    Ok(Json(json!({ "loaded": s.engine, "catalog": catalog })).into_response())
}

/// Checks a course request and queues it.
pub fn submit(
    s: &Shared,
    body: &CourseBody,
) -> Result<(Ticket, UnboundedReceiver<Event>), ApiError> {
    let (course, seed) = s
        .plan
        .course(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.0))?;
    queue(
        s,
        Work::Course {
            course: Box::new(course),
            seed,
        },
    )
}

/// Queues `work`, or says why not.
fn queue(s: &Shared, work: Work) -> Result<(Ticket, UnboundedReceiver<Event>), ApiError> {
    let (tx, rx) = unbounded_channel();
    Ok((enqueue(s, work, tx)?, rx))
}

/// Queues `work` whose events go to `tx`, or says why not.
pub fn enqueue(
    s: &Shared,
    work: Work,
    tx: tokio::sync::mpsc::UnboundedSender<Event>,
) -> Result<Ticket, ApiError> {
    s.jobs.submit(work, tx).map_err(|r| match r {
        JobRefused::Full => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the server is busy ({} courses waiting already); try again in a little while",
                s.plan.queue
            ),
        ),
        JobRefused::Closing => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            crate::engine::EngineError::Stopping.to_string(),
        ),
    })
}

/// Waits for the end of a course: its result, or why it failed.
pub async fn outcome(
    rx: &mut UnboundedReceiver<Event>,
) -> Result<Box<super::jobs::Finished>, ApiError> {
    while let Some(event) = rx.recv().await {
        match event {
            Event::Done(done) => return Ok(done),
            Event::Failed { message, stopping } => {
                return Err(ApiError::failed(
                    message,
                    stopping,
                    StatusCode::UNPROCESSABLE_ENTITY,
                ));
            }
            _ => {}
        }
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the course ended without a result",
    ))
}

/// A request body's bytes, or why there are none (413 names `limit`, the route's cap).
pub fn body_bytes(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        let status = e.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the request is larger than {limit} bytes")
        } else {
            e.body_text()
        };
        ApiError::new(status, message)
    })
}

/// A request body as JSON of `T` (an empty body is `T::default()` when `empty` allows).
fn body_json<T: DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
    empty: bool,
) -> Result<T, ApiError> {
    let body = body_bytes(body, MAX_BODY)?;
    if empty && body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request is not valid JSON for this call: {e}"),
        )
    })
}

/// The reply to a job: its events as they come, or its result at the end. The ticket
/// lives as long as the reply: a client that goes away cancels the job.
async fn reply(
    stream: bool,
    ticket: Ticket,
    mut rx: UnboundedReceiver<Event>,
) -> Result<Response, ApiError> {
    if stream {
        return Ok(Sse::new(events(ticket, rx))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let done = outcome(&mut rx).await;
    drop(ticket);
    Ok(Json(done?).into_response())
}

/// `POST /api/syllabus`: a course.
pub async fn create(
    State(s): AppState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    s.auth.check(&headers)?;
    let body: CourseBody = body_json(body, false)?;
    let (ticket, rx) = submit(&s, &body)?;
    reply(body.stream, ticket, rx).await
}

/// What `POST /api/syllabus/{id}/modules/{n}` may say.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteFields {
    /// What to change, e.g. "more hands-on activities".
    note: Option<String>,
    /// Progress as server-sent events.
    #[serde(default)]
    stream: bool,
}

/// `POST /api/syllabus/{id}/modules/{n}`: module `n` of a finished course written again;
/// the result is a new syllabus (its own id), the first one stays.
pub async fn rewrite(
    State(s): AppState,
    headers: HeaderMap,
    Path((id, n)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    s.auth.check(&headers)?;
    let of = s.jobs.finished(id_of(&id)?).ok_or_else(gone)?;
    let count = of.syllabus.modules.len();
    let index = n
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=count).contains(n))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("module must be between 1 and {count}, not {n}"),
            )
        })?
        - 1;
    let fields: RewriteFields = body_json(body, true)?;
    let note = fields
        .note
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_FIELD_CHARS)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("note is longer than {MAX_FIELD_CHARS} characters; shorten it"),
        ));
    }
    let (ticket, rx) = queue(&s, Work::Module { of, index, note })?;
    reply(fields.stream, ticket, rx).await
}

/// A course's events as server-sent events, holding its ticket until the stream ends.
fn events(
    ticket: Ticket,
    rx: UnboundedReceiver<Event>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    futures_util::stream::unfold(Some((ticket, rx)), |state| async move {
        let (ticket, mut rx) = state?;
        let event = rx.recv().await?;
        let last = matches!(event, Event::Done(_) | Event::Failed { .. });
        // The SSE event's name is the JSON's own `event` tag.
        let data = serde_json::to_value(&event).unwrap_or_default();
        let name = data["event"].as_str().unwrap_or("failed").to_string();
        let sse = SseEvent::default()
            .event(name)
            .json_data(&data)
            .unwrap_or_else(|_| SseEvent::default().event("failed"));
        let next = (!last).then_some((ticket, rx));
        Some((Ok(sse), next))
    })
}

fn id_of(id: &str) -> Result<u64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "no such syllabus"))
}

pub async fn finished(
    State(s): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.auth.check(&headers)?;
    let done = s.jobs.finished(id_of(&id)?).ok_or_else(gone)?;
    Ok(Json(&*done).into_response())
}

fn gone() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such syllabus here (the server keeps the latest 64, until it stops)",
    )
}

/// `?inline=1` shows an HTML syllabus in the browser instead of downloading it.
#[derive(serde::Deserialize)]
pub struct Shown {
    #[serde(default)]
    pub inline: bool,
}

pub async fn download(
    State(s): AppState,
    headers: HeaderMap,
    Path((id, format)): Path<(String, String)>,
    Query(shown): Query<Shown>,
) -> Result<Response, ApiError> {
    s.auth.check(&headers)?;
    let done = s.jobs.finished(id_of(&id)?).ok_or_else(gone)?;
    let (format, mime) = match format.as_str() {
        "markdown" | "md" => (Format::Markdown, "text/markdown; charset=utf-8"),
        "json" => (Format::Json, "application/json"),
        "html" => (Format::Html, "text/html; charset=utf-8"),
        "docx" => (
            Format::Docx,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        "pdf" => (Format::Pdf, "application/pdf"),
        "imscc" => (Format::Imscc, "application/vnd.ims.imsccv1p3"),
        "imscc-1.1" => (Format::Imscc11, "application/vnd.ims.imsccv1p1"),
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "formats: markdown, json, html, docx, pdf, imscc, imscc-1.1",
            ))
        }
    };
    let title = done.syllabus.title.clone();
    let bytes = s
        .downloads
        .file(done, format)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    let disposition = if shown.inline && format == Format::Html {
        "inline".to_string()
    } else {
        super::disposition::attachment(&title, format.extension())
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}
