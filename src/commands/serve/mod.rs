//! `syllabus serve`: a page for teachers and an HTTP API, with the model loaded once.
//!
//! The thread that loaded the engine keeps one open run of it (`engine::shared`); every
//! request is a course whose pipeline runs on its own thread with a course engine at that shared engine, so
//! courses written at once share the model's batches (`jobs`, on `run::scheduler`). The HTTP side (`api`,
//! `page`, `auth`) runs on a tokio runtime of its own thread. Ctrl-C or SIGTERM stops
//! taking requests, cancels the courses in flight (their clients hear why), and returns.

mod api;
mod auth;
mod card;
mod chat;
mod conns;
mod deadlines;
mod disposition;
mod downloads;
mod error;
mod headers;
mod jobs;
mod limit;
mod ollama_api;
mod openai_api;
mod page;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use self::api::{Shared, MAX_BODY};
use self::auth::Auth;
use self::error::ApiError;
use self::jobs::Jobs;
use crate::cli::ServePlan;
use crate::engine::measures::Clock;
use crate::engine::shared::SharedEngine;
use crate::launch::stderr::say;
use crate::report::progress::Reporter;
use crate::run::course_run::Runner;
use crate::run::session::Session;

/// Longest wait, after a stop signal, for clients to take their last replies.
const CLOSING_GRACE: Duration = Duration::from_secs(10);

/// Runs `syllabus serve` until Ctrl-C or SIGTERM.
pub fn run(plan: &ServePlan) -> anyhow::Result<()> {
    // Bound before the model loads: a port in use fails at once.
    let listener = std::net::TcpListener::bind(plan.listen)
        .with_context(|| format!("cannot listen on {}", plan.listen))?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let run = &plan.run;
    let reporter = Reporter::new(!run.quiet, run.slow_call_secs);
    let session = Session::open(run, &reporter)?;
    let mut engine = session.engine(run, Clock::new(), &reporter)?;
    reporter.finish();
    // Memory for the largest course a request may ask for, that many at once.
    let widest = crate::cli::largest(plan.max_modules);
    crate::pipeline::reserve(engine.as_mut(), &widest, run.strategy, plan.concurrent)?;
    let info = engine.info();
    let shared_engine = SharedEngine::new(info.clone());
    let runner = Runner::new(&session, run)?;
    let card = card::Card::new(
        &session,
        run.model.name(),
        runner.model().and_then(|m| m.sha256.as_deref()),
        &info,
    );
    let shared = Arc::new(Shared {
        jobs: Jobs::new(
            shared_engine.course_engines().clone(),
            runner,
            plan.concurrent,
            plan.queue,
        ),
        course_engines: shared_engine.course_engines().clone(),
        card,
        auth: Auth::new(plan.token.as_deref()),
        plan: plan.clone(),
        engine: info,
        limiter: limit::Limiter::default(),
        downloads: downloads::Downloads::default(),
    });
    let course_engines = shared_engine.course_engines().clone();
    let http = std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            let served = serve_http(listener, shared);
            course_engines.close();
            served
        })?;
    if !run.quiet {
        let reach = if plan.token.is_some() {
            " (with its token)"
        } else {
            ""
        };
        say(&format!(
            "serving {} at http://{addr}/{reach}; Ctrl-C stops",
            session.model_name()
        ));
    }
    // The one line on stdout: where the server is, once it answers.
    crate::launch::output::write_stdout(format!("http://{addr}/\n").as_bytes())?;
    let engine_result = shared_engine.serve(engine.as_mut(), run.strategy);
    let http_result = http
        .join()
        .map_err(|_| anyhow::anyhow!("the HTTP thread panicked"))?;
    engine_result?;
    http_result?;
    if !run.quiet {
        say("stopped");
    }
    Ok(())
}

/// Serves HTTP on `listener` until a stop signal, then shuts the courses down.
fn serve_http(listener: std::net::TcpListener, shared: Arc<Shared>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("http-worker")
        .enable_all()
        .build()
        .context("cannot start the HTTP runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        crate::launch::interrupt::on_signal(Box::new(move || {
            let _ = stop_tx.send(true);
        }));
        let jobs = Arc::clone(&shared.jobs);
        let doors = conns::Doors::default();
        let proxies = shared.plan.proxies.clone();
        conns::serve(listener, router(shared), &doors, &proxies, stop_rx).await;
        say("stopping: no new requests; courses in progress are cancelled (Ctrl-C again stops at once)");
        jobs.shut_down().await;
        // Clients take their last replies (a cancelled course's reason) before the exit.
        doors.closed(CLOSING_GRACE).await;
        Ok(())
    })
}

/// The routes.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(page::index).post(page::form))
        .route("/healthz", get(api::healthz))
        .route("/api/models", get(api::models))
        .route("/api/syllabus", post(api::create))
        .route("/api/syllabus/{id}", get(api::finished))
        .route("/api/syllabus/{id}/{format}", get(api::download))
        .route("/api/syllabus/{id}/modules/{n}", post(api::rewrite))
        .route("/signin", post(page::sign_in))
        .merge(daemon_routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such page") })
        // Inside the sign-in limit: a client past it is refused before its body is read.
        .layer(axum::middleware::from_fn(|req, next| {
            deadlines::body_within(req, next, chat::MAX_CHAT_BODY)
        }))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            signed_out,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(headers::add))
        .with_state(shared)
}

/// Ollama's and OpenAI's APIs: conversations, so bodies up to `MAX_CHAT_BODY`.
fn daemon_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/generate", post(ollama_api::generate))
        .route("/api/chat", post(ollama_api::chat))
        .route("/api/tags", get(ollama_api::tags))
        .route("/api/show", post(ollama_api::show))
        .route("/api/ps", get(ollama_api::ps))
        .route("/api/version", get(ollama_api::version))
        .route("/v1/chat/completions", post(openai_api::completions))
        .route("/v1/models", get(openai_api::models))
        .route_layer(DefaultBodyLimit::max(chat::MAX_CHAT_BODY))
}

/// Middleware: on a server with a token, a request without it counts against its address.
async fn signed_out(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let counted = s.auth.required()
        && req.uri().path() != "/healthz"
        && !s.auth.accepts(auth::credential(req.headers()).as_ref());
    if counted {
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let from = limit::client(peer.ip(), forwarded, &s.plan.proxies);
        if let Err(wait) = s.limiter.allow(from, Instant::now()) {
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests without this server's token; try again in {wait} s"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
    }
    next.run(req).await
}
