//! What HTTP backends share: the client (proxies from the environment for remote hosts,
//! none for loopback), addresses shown without their passwords, streamed lines read with a
//! bound (a server that never ends a line cannot exhaust memory), the schema as daemons
//! get it, retries, and the scheduling of concurrent calls on the ledger.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use serde_json::Value;
use url::Url;

use super::measures::Clock;
use super::schedule::Ledger;
use super::{BatchStats, CallOutput, ChatCall, FollowUp};

/// Tries per call for server errors (5xx, 429) and connections lost before any reply.
pub const TRIES: u32 = 3;

/// Why one try of a call failed.
#[derive(Debug)]
pub enum CallError {
    /// Worth another try after a pause: 5xx, 429, a connection lost before any reply.
    Retry(String),
    /// The server refused the JSON schema; try again at once with the schema in the prompt.
    FormatRefused(String),
    /// Not worth another try.
    Fatal(anyhow::Error),
}

/// What breaks a daemon's reply stream mid-way (not worth another try).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// A line ran past `MAX_LINE_BYTES`.
    #[error("the server sent a line longer than {} MiB", MAX_LINE_BYTES >> 20)]
    LineTooLong,
    /// A line or event that is not JSON; `sent` says who sent what ("Ollama sent a line").
    #[error("{sent} that is not JSON ({error}): {start}")]
    NotJson {
        /// Who sent what.
        sent: &'static str,
        /// The parser's complaint.
        error: String,
        /// The line's first 200 characters.
        start: String,
    },
    /// The server's own error, sent mid-reply by `who`.
    #[error("{who} failed mid-reply: {message}")]
    Failed {
        /// The server as the message names it.
        who: &'static str,
        /// Its message.
        message: String,
    },
    /// Ollama's last line came without any text before it.
    #[error(
        "the daemon finished its reply without any text (neither `message.content` nor \
         `response`): it does not speak Ollama's /api/chat as expected"
    )]
    NoText,
    /// The OpenAI stream's `[DONE]` came without a finish reason.
    #[error("the server ended the stream without a finish reason")]
    NoFinish,
}

impl StreamError {
    /// A line that is not JSON: its first 200 characters.
    pub fn not_json(sent: &'static str, error: &serde_json::Error, line: &str) -> Self {
        Self::NotJson {
            sent,
            error: error.to_string(),
            start: line.chars().take(200).collect(),
        }
    }
}

/// The pause before try `tries + 1`: 0.5 s, 1 s, 2 s...
pub fn backoff(tries: u32) -> Duration {
    Duration::from_millis(250 << tries.min(6))
}

/// `schema` as a daemon is sent it: without llguidance's own keywords and string
/// patterns, which the JSON-schema converters of llama.cpp's server and Ollama handle only
/// in part. The content checks after the reply still apply.
pub fn remote_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| k.as_str() != "pattern" && k.as_str() != "x-guidance")
                .map(|(k, v)| (k.clone(), remote_schema(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(remote_schema).collect()),
        other => other.clone(),
    }
}

/// Runs `calls` on up to `width` requests at once, `call(call, submitted)` making one;
/// follow-ups queue as calls finish. The first failure ends the run: dropping the futures
/// cancels the requests in flight.
async fn run_calls<F, Fut>(
    calls: &[ChatCall],
    width: usize,
    clock: Clock,
    follow_up: FollowUp<'_>,
    call: F,
) -> anyhow::Result<Vec<CallOutput>>
where
    F: Fn(ChatCall, f64) -> Fut,
    Fut: Future<Output = anyhow::Result<CallOutput>>,
{
    let start = clock.now_ms();
    let mut ledger: Ledger<()> = Ledger::new(1..=width.max(1) as i32);
    for c in calls {
        ledger.submit(c.clone(), (), 0, start);
    }
    let mut in_flight = FuturesUnordered::new();
    loop {
        while let Some((i, slot)) = ledger.admit(clock.now_ms()) {
            let e = ledger.entry(i);
            let reply = call(e.call.clone(), e.marks.submitted);
            in_flight.push(async move { (i, slot, reply.await) });
        }
        let Some((i, slot, reply)) = in_flight.next().await else {
            break;
        };
        if let Some(next) = ledger.finish(i, slot, reply?, follow_up) {
            ledger.submit(next, (), 0, clock.now_ms());
        }
    }
    ledger.into_outputs()
}

/// The single-threaded runtime an HTTP engine drives its requests on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `run_calls` on `runtime`, with the batch figures an HTTP engine reports. Ctrl-C ends the
/// whole process (see `interrupt`), the requests in flight with it.
pub fn run_batch<F, Fut>(
    runtime: &tokio::runtime::Runtime,
    calls: &[ChatCall],
    width: usize,
    clock: Clock,
    follow_up: FollowUp<'_>,
    call: F,
) -> anyhow::Result<(Vec<CallOutput>, BatchStats)>
where
    F: Fn(ChatCall, f64) -> Fut,
    Fut: Future<Output = anyhow::Result<CallOutput>>,
{
    let start = clock.now_ms();
    let outputs = runtime.block_on(run_calls(calls, width, clock, follow_up, call))?;
    let stats = BatchStats {
        max_parallel: width.min(calls.len()),
        wall_ms: clock.now_ms() - start,
        ..BatchStats::default()
    };
    Ok((outputs, stats))
}

/// Longest line a streaming server may send.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Most text one reply may carry.
pub const MAX_REPLY_BYTES: usize = 4 << 20;

/// Most an error answer or a model list may carry.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The whole body of `resp`, refused once it passes `limit` bytes (a server that sends
/// without end cannot fill this process's memory).
pub async fn read_capped(mut resp: reqwest::Response, limit: usize) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.context("the answer broke off")? {
        if body.len() + chunk.len() > limit {
            anyhow::bail!(
                "the server's answer ran past {} KiB, more than it should ever be",
                limit >> 10
            );
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error answer's text, at most `MAX_BODY_BYTES` of it (cut with a note past that).
pub async fn error_text(resp: reqwest::Response) -> String {
    match read_capped(resp, MAX_BODY_BYTES).await {
        Ok(body) => String::from_utf8_lossy(&body).into_owned(),
        Err(e) => format!("({e:#})"),
    }
}

/// Why a reply past `MAX_REPLY_BYTES` was cut off.
pub fn too_long_reply() -> String {
    format!(
        "the reply ran past {} MiB without ending",
        MAX_REPLY_BYTES >> 20
    )
}

/// Whether `url` names this machine.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A client for `url`: `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` honoured for remote hosts,
/// no proxy for loopback (a proxy would not reach this machine's daemon).
pub fn client(url: &Url, connect_timeout: Duration) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().connect_timeout(connect_timeout);
    if is_loopback(url) {
        builder = builder.no_proxy();
    }
    builder.build().context("cannot build the HTTP client")
}

/// `url` as it may be printed: user name and password removed.
pub fn shown(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

/// An address as typed, user name and password removed (for one that does not parse).
pub fn shown_raw(raw: &str) -> String {
    let (scheme, rest) = match raw.find("://") {
        Some(i) => raw.split_at(i + 3),
        None => ("", raw),
    };
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => raw.to_string(),
    }
}

/// Lines of a streamed body, each at most `MAX_LINE_BYTES`.
#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
}

impl Lines {
    /// Adds received bytes; an error once a line runs past the bound.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        self.buf.extend_from_slice(bytes);
        // `scanned` bytes hold no newline: the open line starts after the last one beyond.
        let open_from = self.buf[self.scanned..]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| self.scanned + i + 1);
        if self.buf.len() - open_from > MAX_LINE_BYTES {
            return Err(StreamError::LineTooLong);
        }
        Ok(())
    }

    /// The next complete line, without its end.
    pub fn next_line(&mut self) -> Option<String> {
        let at = self.buf[self.scanned..].iter().position(|&b| b == b'\n');
        match at {
            Some(i) => {
                let end = self.scanned + i;
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..=end);
                self.scanned = 0;
                Some(line)
            }
            None => {
                self.scanned = self.buf.len();
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks_and_end_at_the_bound() {
        let mut l = Lines::default();
        l.push(b"{\"a\":1}\n{\"b\"").unwrap();
        assert_eq!(l.next_line().as_deref(), Some("{\"a\":1}"));
        assert_eq!(l.next_line(), None);
        l.push(b":2}\n").unwrap();
        assert_eq!(l.next_line().as_deref(), Some("{\"b\":2}"));
        let mut endless = Lines::default();
        let chunk = vec![b'x'; 64 << 10];
        let err = (0..40).find_map(|_| endless.push(&chunk).err()).unwrap();
        assert_eq!(err, StreamError::LineTooLong);
        assert!(err.to_string().contains("longer than 1 MiB"), "{err}");
    }

    #[test]
    fn daemons_get_the_schema_without_llguidance_extras() {
        let s = serde_json::json!({"type": "object", "x-guidance": {}, "properties": {
            "a": {"type": "string", "pattern": "^x$", "maxLength": 3},
            "b": {"type": "array", "items": {"type": "string", "pattern": "y"}}}});
        let r = remote_schema(&s);
        let text = r.to_string();
        assert!(
            !text.contains("pattern") && !text.contains("x-guidance"),
            "{text}"
        );
        assert_eq!(r["properties"]["a"]["maxLength"], 3);
    }

    #[test]
    fn passwords_never_show_and_loopback_is_told_apart() {
        let u = Url::parse("http://user:secret@example.com:11434/").unwrap();
        assert_eq!(shown(&u), "http://example.com:11434/");
        assert_eq!(shown_raw("http://u:p@host:1/x"), "http://host:1/x");
        assert_eq!(shown_raw("u:p@host"), "host");
        assert_eq!(shown_raw("http://host/a@b"), "http://host/a@b");
        for (url, local) in [
            ("http://127.0.0.1:1/", true),
            ("http://localhost:1/", true),
            ("http://[::1]:1/", true),
            ("http://10.0.0.2:1/", false),
            ("https://example.com/", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(url).unwrap()), local, "{url}");
        }
    }
}
