//! A local HTTP server that speaks the OpenAI chat-completions API as llama.cpp's server
//! does: `GET /v1/models`, streamed `POST /v1/chat/completions` (server-sent events with
//! `usage` and llama.cpp's `timings` in the last chunk), with faults to inject. Replies are
//! built from the request's JSON schema.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::fake_ollama::instance;

/// What goes wrong, on purpose.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Nothing.
    None,
    /// Every request without the right key gets a 401.
    NeedsKey(&'static str),
    /// The first chat request gets a 500, later ones succeed.
    Fail500Once,
    /// The first chat request gets a 429, later ones succeed.
    Busy429Once,
    /// Chat requests wait this long before answering.
    Slow(Duration),
    /// Chat streams stop after a few pieces, without `[DONE]`.
    CutStream,
    /// Chat replies are not JSON.
    InvalidJson,
    /// A `json_schema` response format gets a 400, as servers without it answer.
    SchemaRefused,
    /// No `timings` in the last chunk (a server other than llama.cpp's).
    NoTimings,
    /// `/models` answers a body without end (stopped by the test server at 64 MiB).
    EndlessModels,
    /// Chat requests get a 500 whose body has no end (stopped at 64 MiB).
    EndlessError,
}

/// Requests as they arrived: path, Authorization header, body.
pub type Requests = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

/// A running fake server.
pub struct FakeOpenAi {
    /// Base URL, `http://127.0.0.1:PORT/v1`.
    pub url: String,
    /// Every request: path, Authorization header, body.
    pub requests: Requests,
}

struct State {
    models: Vec<String>,
    fault: Fault,
    chats: AtomicUsize,
    requests: Requests,
}

impl FakeOpenAi {
    /// Starts a server serving `models`, with `fault`.
    pub fn start(models: &[&str], fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let state = Arc::new(State {
            models: models.iter().map(|m| m.to_string()).collect(),
            fault,
            chats: AtomicUsize::new(0),
            requests: Arc::new(Mutex::new(Vec::new())),
        });
        let requests = state.requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = state.clone();
                std::thread::spawn(move || {
                    let _ = handle(stream, &state);
                });
            }
        });
        Self { url, requests }
    }

    /// The chat request bodies received so far.
    pub fn chats(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.0 == "/v1/chat/completions")
            .map(|r| r.2.clone())
            .collect()
    }
}

fn respond(stream: &mut TcpStream, status: &str, body: &Value) -> std::io::Result<()> {
    let text = body.to_string();
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )
}

/// A chunked body that goes on until the client stops reading (or 64 MiB).
fn endless(stream: &mut TcpStream, status: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )?;
    let piece = "x".repeat(64 << 10);
    for _ in 0..1024 {
        write!(stream, "{:x}\r\n{piece}\r\n", piece.len())?;
    }
    write!(stream, "0\r\n\r\n")
}

fn error(message: &str) -> Value {
    json!({"error": {"message": message, "type": "invalid_request_error"}})
}

fn handle(mut stream: TcpStream, state: &State) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let Some((method, path, headers)) = super::http::read_head(&mut reader)? else {
        return Ok(());
    };
    let length: usize = super::http::header(&headers, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let auth = super::http::header(&headers, "authorization").map(str::to_string);
    state
        .requests
        .lock()
        .unwrap()
        .push((path.clone(), auth.clone(), body.clone()));
    if let Fault::NeedsKey(key) = &state.fault {
        if auth.as_deref() != Some(&format!("Bearer {key}")) {
            return respond(&mut stream, "401 Unauthorized", &error("Invalid API Key"));
        }
    }
    match (method.as_str(), path.as_str(), &state.fault) {
        ("GET", "/v1/models", Fault::EndlessModels) => endless(&mut stream, "200 OK"),
        ("POST", "/v1/chat/completions", Fault::EndlessError) => {
            endless(&mut stream, "500 Internal Server Error")
        }
        ("GET", "/v1/models", _) => {
            let data: Vec<Value> = state
                .models
                .iter()
                .map(|m| json!({"id": m, "object": "model", "owned_by": "llamacpp"}))
                .collect();
            respond(
                &mut stream,
                "200 OK",
                &json!({"object": "list", "data": data}),
            )
        }
        ("POST", "/v1/chat/completions", _) => chat(&mut stream, state, &body),
        _ => respond(&mut stream, "404 Not Found", &error("File Not Found")),
    }
}

fn chat(stream: &mut TcpStream, state: &State, body: &Value) -> std::io::Result<()> {
    let n = state.chats.fetch_add(1, Ordering::SeqCst);
    let format = &body["response_format"];
    match &state.fault {
        Fault::Fail500Once if n == 0 => {
            return respond(
                stream,
                "500 Internal Server Error",
                &error("slot unavailable"),
            )
        }
        Fault::Busy429Once if n == 0 => {
            return respond(stream, "429 Too Many Requests", &error("busy"))
        }
        Fault::SchemaRefused if format["type"] == "json_schema" => {
            return respond(
                stream,
                "400 Bad Request",
                &error("response_format type json_schema is not supported"),
            )
        }
        Fault::Slow(d) => std::thread::sleep(*d),
        _ => {}
    }
    let schema = if format["type"] == "json_schema" {
        format["json_schema"]["schema"].clone()
    } else {
        let last = body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .cloned()
            .unwrap_or(Value::Null);
        let text = last["content"].as_str().unwrap_or_default();
        let start = text
            .find("schema:\n")
            .map_or(text.len(), |i| i + "schema:\n".len());
        serde_json::from_str(&text[start..]).unwrap_or(Value::Null)
    };
    let content = if state.fault == Fault::InvalidJson {
        "{\"title\": \"unfinished".to_string()
    } else {
        instance(&schema, "", n).to_string()
    };
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
    )?;
    let model = body["model"].as_str().unwrap_or_default();
    let pieces: Vec<String> = content
        .chars()
        .collect::<Vec<_>>()
        .chunks(6)
        .map(|c| c.iter().collect())
        .collect();
    for (i, piece) in pieces.iter().enumerate() {
        if state.fault == Fault::CutStream && i == 3 {
            return stream.flush();
        }
        let chunk = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
        write!(stream, "data: {chunk}\n\n")?;
        stream.flush()?;
    }
    let prompt = body.to_string().len() / 4;
    let mut last = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": pieces.len(), "total_tokens": prompt + pieces.len()}});
    if state.fault != Fault::NoTimings {
        last["timings"] = json!({"cache_n": prompt / 2, "prompt_n": prompt - prompt / 2,
            "prompt_ms": 120.5, "predicted_n": pieces.len(), "predicted_ms": 480.0});
    }
    write!(stream, "data: {last}\n\ndata: [DONE]\n\n")?;
    stream.flush()
}
