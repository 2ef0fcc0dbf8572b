//! Time limits at the doors beside `conns`' own: a request's body must arrive within
//! `BODY_TIMEOUT` (a body trickled a byte at a time would hold its connection busy for
//! ever), and a response whose client takes nothing for `WRITE_STALL` is cut.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How long a client has to send a whole request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a response may wait for the client to take its next bytes.
pub const WRITE_STALL: Duration = Duration::from_secs(60);

/// A socket whose writes fail once the client has taken nothing for `WRITE_STALL`: a
/// client that stops reading does not hold its connection (and a course) forever.
pub struct Stalling<S> {
    inner: S,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Stalling<S> {
    /// `inner` with the stall limit on its writes.
    pub fn new(inner: S) -> Self {
        Stalling {
            inner,
            stalled: None,
        }
    }

    /// A write or flush `polled` on the socket: pending for at most `WRITE_STALL` in a
    /// row, then an error.
    fn limited<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(WRITE_STALL)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client took nothing for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Stalling<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.limited(cx, polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.limited(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Stalling<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// Middleware: reads a request's whole body within `BODY_TIMEOUT` (a body trickled a byte
/// at a time is cut with 408), at most `limit` bytes (413 past it).
pub async fn body_within(
    req: axum::extract::Request,
    next: axum::middleware::Next,
    limit: usize,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, limit)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            let (status, message) = if too_large {
                (
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request is larger than {limit} bytes"),
                )
            } else {
                (
                    axum::http::StatusCode::BAD_REQUEST,
                    format!("cannot read the request: {e}"),
                )
            };
            return super::error::ApiError::new(status, message).into_response();
        }
        Err(_) => {
            let mut r = super::error::ApiError::new(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request's body took longer than {} s to arrive",
                    BODY_TIMEOUT.as_secs()
                ),
            )
            .into_response();
            r.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            return r;
        }
    };
    next.run(axum::extract::Request::from_parts(parts, Body::from(bytes)))
        .await
}
