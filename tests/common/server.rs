//! `syllabus serve` on the test model, as a child process, and a small HTTP client for it.

use std::io::{BufRead, BufReader, Read as _};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running server; killed when dropped.
pub struct Server {
    /// The child process.
    pub child: Child,
    /// Its address, e.g. `http://127.0.0.1:43121/`.
    pub url: String,
    /// Its temporary HOME.
    _home: tempfile::TempDir,
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Starts `syllabus serve --listen 127.0.0.1:0 --model <test model> extra...` and waits
    /// until it answers (it prints its address once the model is loaded).
    pub fn start(extra: &[&str]) -> Self {
        let home = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_syllabus"))
            .current_dir(home.path())
            .env("HOME", home.path())
            .env("HF_HUB_OFFLINE", "1")
            .env(super::ATTEMPTS.0, super::ATTEMPTS.1)
            .env(super::THREADS.0, super::THREADS.1)
            .env_remove("SYLLABUS_TOKEN")
            .env_remove("RUST_LOG")
            .args(["serve", "--listen", "127.0.0.1:0", "--model"])
            .arg(super::model_path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.starts_with("http://"), "the server printed {line:?}");
        Self {
            child,
            url: line.trim().to_string(),
            _home: home,
            _stdout: stdout,
        }
    }

    /// The server's URL for `path` (without its leading slash).
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path.trim_start_matches('/'))
    }

    /// Sends SIGTERM and waits up to `limit` for the exit; the exit code.
    pub fn stop(&mut self, limit: Duration) -> Option<i32> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                start.elapsed() < limit,
                "the server did not stop within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A reply: status, headers (lower-case names) and body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        super::http::header(&self.headers, name)
    }
}

/// One HTTP/1.1 request with `Connection: close`; the whole reply.
pub fn request(url: &str, method: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut stream = open(url, method, headers, body);
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = super::http::header(&headers, "transfer-encoding") == Some("chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// JSON POST to `url`.
pub fn post_json(url: &str, body: &Value) -> Reply {
    let json = [("Content-Type", "application/json")];
    request(url, "POST", &json, body.to_string().as_bytes())
}

/// Sends a request and returns the open connection, reply unread.
pub fn open(url: &str, method: &str, headers: &[(&str, &str)], body: &[u8]) -> std::net::TcpStream {
    use std::io::Write as _;
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(600)))
        .unwrap();
    let mut head = format!(
        "{method} /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    stream
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Reads server-sent events from `stream` until one named in `until` arrives; every
/// event's data (as JSON) up to it.
pub fn events_until(stream: &mut impl BufRead, until: &[&str]) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).unwrap() == 0 {
            return seen;
        }
        if let Some(data) = line.trim().strip_prefix("data:") {
            let v: Value = serde_json::from_str(data.trim()).unwrap();
            let name = v["event"].as_str().unwrap_or_default().to_string();
            seen.push(v);
            if until.contains(&name.as_str()) {
                return seen;
            }
        }
    }
}

/// Polls `/healthz` until `pred` holds of its `load`, for up to `limit`.
pub fn wait_for_load(server: &Server, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let start = std::time::Instant::now();
    loop {
        let health = request(&server.at("healthz"), "GET", &[], b"").json();
        if pred(&health["load"]) {
            return health;
        }
        assert!(start.elapsed() < limit, "healthz never showed it: {health}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
