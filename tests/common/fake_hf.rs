//! A local HTTP server that serves one file as the Hugging Face Hub's `resolve` endpoint
//! does for hf-hub: ranged GETs answered 206 with `content-range`, `etag` and
//! `x-repo-commit` headers.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The commit the fake repository is at.
pub const COMMIT: &str = "9d5d5c38b6e2d1a0f0e1c2b3a4958677e8f9a0b1";

/// One request as received: path, `Range` and `Authorization` headers.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Request path.
    pub path: String,
    /// First byte asked for.
    pub range_start: Option<u64>,
    /// Authorization header.
    pub authorization: Option<String>,
}

/// A running fake Hub.
pub struct FakeHub {
    /// Base URL, for HF_ENDPOINT.
    pub url: String,
    /// Requests received.
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

struct Served {
    path: String,
    bytes: Vec<u8>,
    etag: String,
    /// Answer 500 once to the first data range starting at or after this byte.
    fail_from: Option<u64>,
    failed: AtomicBool,
    /// Answer data ranges with headers, then nothing (a stalled server).
    stall: bool,
}

impl FakeHub {
    /// Serves `bytes` as `repo/file` (etag `etag`); fails once from `fail_from` when given.
    pub fn start(
        repo: &str,
        file: &str,
        bytes: Vec<u8>,
        etag: &str,
        fail_from: Option<u64>,
    ) -> Self {
        Self::serve(repo, file, bytes, etag, fail_from, false)
    }

    /// Serves metadata for `repo/file`, then stalls on every data range.
    pub fn stalling(repo: &str, file: &str, bytes: Vec<u8>) -> Self {
        Self::serve(repo, file, bytes, "etag1", None, true)
    }

    fn serve(
        repo: &str,
        file: &str,
        bytes: Vec<u8>,
        etag: &str,
        fail_from: Option<u64>,
        stall: bool,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let served = Arc::new(Served {
            path: format!("/{repo}/resolve/main/{file}"),
            bytes,
            etag: etag.to_string(),
            fail_from,
            failed: AtomicBool::new(false),
            stall,
        });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (served, log) = (served.clone(), log.clone());
                std::thread::spawn(move || {
                    let _ = handle(stream, &served, &log);
                });
            }
        });
        Self { url, seen }
    }
}

fn handle(mut stream: TcpStream, served: &Served, log: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let Some((_, path, headers)) = super::http::read_head(&mut reader)? else {
            return Ok(());
        };
        let range = super::http::header(&headers, "range")
            .and_then(|v| v.strip_prefix("bytes="))
            .and_then(|r| {
                let (a, b) = r.split_once('-')?;
                Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))
            });
        let authorization = super::http::header(&headers, "authorization").map(str::to_string);
        log.lock().unwrap().push(Seen {
            path: path.clone(),
            range_start: range.map(|r| r.0),
            authorization,
        });
        if path != served.path {
            write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
            )?;
            continue;
        }
        let len = served.bytes.len() as u64;
        let (start, end) = range.unwrap_or((0, len - 1));
        let end = end.min(len - 1);
        let metadata_probe = start == 0 && end == 0;
        if let Some(from) = served.fail_from {
            if !metadata_probe && start >= from && !served.failed.swap(true, Ordering::SeqCst) {
                write!(
                    stream,
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
                )?;
                continue;
            }
        }
        let body = &served.bytes[start as usize..=end as usize];
        if served.stall && !metadata_probe {
            write!(
                stream,
                "HTTP/1.1 206 Partial Content\r\ncontent-length: {}\r\ncontent-range: bytes {start}-{end}/{len}\r\n\r\n",
                body.len()
            )?;
            stream.flush()?;
            std::thread::sleep(std::time::Duration::from_secs(120));
            return Ok(());
        }
        write!(
            stream,
            "HTTP/1.1 206 Partial Content\r\ncontent-length: {}\r\ncontent-range: bytes {start}-{end}/{len}\r\netag: \"{}\"\r\nx-repo-commit: {COMMIT}\r\naccept-ranges: bytes\r\n\r\n",
            body.len(),
            served.etag
        )?;
        stream.write_all(body)?;
        stream.flush()?;
    }
}
