//! The teachers' page: one form, live progress, the syllabus on the page, downloads. Its
//! HTML, CSS and script are inside the binary (a minijinja template); without JavaScript the
//! form still posts and the finished syllabus opens as its HTML page.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::{context, Environment};

use super::api::{outcome, submit, Shared};
use super::auth::{self, Auth, Credential};
use crate::cli::{CourseBody, CourseFields};

/// The page's template; its one script has no template code, so its hash is fixed.
pub(super) const TEMPLATE: &str = include_str!("page.html");

/// Modules the form proposes.
const FORM_MODULES: usize = 6;

fn render(s: &Shared, status: StatusCode, extra: minijinja::Value) -> Response {
    let mut env = Environment::new();
    let page = env
        .add_template("page.html", TEMPLATE)
        .and_then(|()| env.get_template("page.html"))
        .and_then(|t| {
            t.render(context! {
                model => s.engine.model,
                max_modules => s.plan.max_modules,
                modules => FORM_MODULES.min(s.plan.max_modules),
                seed => s.plan.run.seed,
                ..extra
            })
        });
    match page {
        Ok(body) => html(status, body),
        Err(e) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the page template failed: {e}"),
        ),
    }
}

/// `GET /`: the form, or the sign-in when the server has a token and the browser has not
/// given it. A token in the address (`?token=`) does not sign in: it would stay in the
/// browser's history and the logs.
pub async fn index(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if s.auth.required() && !signed_in(&s, &headers) {
        return render(&s, StatusCode::OK, context! { signin => true });
    }
    render(&s, StatusCode::OK, context! {})
}

/// `POST /signin`: the page's sign-in form; the token becomes a cookie, then back to `/`.
pub async fn sign_in(
    State(s): State<Arc<Shared>>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let given = form.ok().and_then(|Form(f)| f.get("token").cloned());
    match given {
        Some(t) if s.auth.required() && s.auth.accepts(Some(&Credential::Token(t.clone()))) => {
            let mut r = see_other("/");
            if let Ok(v) = HeaderValue::from_str(&Auth::cookie(&t)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        _ if !s.auth.required() => see_other("/"),
        _ => render(
            &s,
            StatusCode::UNAUTHORIZED,
            context! { signin => true, error => "That is not this server's token." },
        ),
    }
}

/// A number field of the form: empty is absent.
fn number<T: std::str::FromStr>(
    form: &HashMap<String, String>,
    key: &str,
) -> Result<Option<T>, String> {
    match form.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{key} must be a whole number, not \"{v}\"")),
    }
}

fn fields(form: &HashMap<String, String>) -> Result<CourseBody, String> {
    let text = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    Ok(CourseBody {
        course: CourseFields {
            topic: form.get("topic").cloned().unwrap_or_default(),
            modules: number(form, "modules")?,
            audience: text("audience"),
            level: text("level"),
            weeks: number(form, "weeks")?,
            language: text("language"),
            outline: None,
        },
        seed: number(form, "seed")?,
        stream: false,
    })
}

/// `POST /` without JavaScript: writes the course, then opens its HTML page.
pub async fn form(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    if let Err(e) = s.auth.check(&headers) {
        if e.status == StatusCode::UNAUTHORIZED {
            return render(&s, e.status, context! { signin => true });
        }
        return e.into_response();
    }
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return render(&s, e.status(), context! { error => e.body_text() }),
    };
    let failed = |status: StatusCode, message: String| {
        render(&s, status, context! { error => message, values => &form })
    };
    let fields = match fields(&form) {
        Ok(f) => f,
        Err(message) => return failed(StatusCode::BAD_REQUEST, message),
    };
    let (ticket, mut rx) = match submit(&s, &fields) {
        Ok(t) => t,
        Err(e) => return failed(e.status, e.message),
    };
    let done = outcome(&mut rx).await;
    drop(ticket);
    match done {
        Ok(done) => see_other(&format!("/api/syllabus/{}/html?inline=true", done.id)),
        Err(e) => failed(e.status, e.message),
    }
}

/// A redirect that works for a form post (303: the browser follows with GET).
fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The page as HTML with `status`.
fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

/// Whether the browser gave the server's token.
fn signed_in(s: &Shared, headers: &HeaderMap) -> bool {
    s.auth.accepts(auth::credential(headers).as_ref())
}
