//! Error replies: JSON `{"error": ...}` with the status a client expects (400 bad input,
//! 401 no token, 403 another site, 413 too large, 503 queue full or stopping); bad input
//! never gives a 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error reply.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl ApiError {
    /// A job that failed: 503 when the server's stop ended it, else `otherwise`.
    pub fn failed(message: String, stopping: bool, otherwise: StatusCode) -> Self {
        let status = if stopping {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            otherwise
        };
        Self::new(status, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        }
        r
    }
}
