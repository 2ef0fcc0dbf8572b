//! A local HTTP server that speaks the documented Ollama API (`/api/tags`, `/api/show`,
//! streamed `/api/chat` with its timing fields), with faults to inject. Replies are built
//! from the request's JSON schema, so they are valid syllabus parts.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};

/// What goes wrong, on purpose.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Nothing.
    None,
    /// The first chat request gets a 500, later ones succeed.
    Fail500Once,
    /// Every chat request waits this long before answering.
    Slow(Duration),
    /// Module requests (schemas without `modules`) wait this long; the outline is quick.
    SlowModules(Duration),
    /// Chat streams stop after a few pieces, without their `done` line.
    CutStream,
    /// Chat replies are not JSON.
    InvalidJson,
    /// The `done` line carries no timing fields.
    NoTimings,
    /// A JSON schema in `format` gets a 400, as older daemons answer; `"json"` works.
    SchemaRefused,
    /// Module requests wait this long, except the first, which gets a reply that is not
    /// JSON after a quarter of it.
    InvalidFirstModule(Duration),
    /// Every chat request waits this long, then gets a 500.
    Fail500After(Duration),
    /// Chat replies are one line that never ends (8 MiB of it, or until the client leaves).
    EndlessLine,
    /// Chat pieces come in `/api/generate`'s `response` field, as some proxies send them.
    ResponseField,
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// "GET" or "POST".
    pub method: String,
    /// Request path.
    pub path: String,
    /// Parsed JSON body (Null when none).
    pub body: Value,
}

/// A running fake daemon.
pub struct FakeOllama {
    /// Base URL.
    pub url: String,
    /// host:port without scheme, as OLLAMA_HOST is often written.
    pub host_port: String,
    /// Every request received.
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    /// Most chat requests in flight at once.
    pub max_in_flight: Arc<AtomicUsize>,
    /// Chat requests in flight when each chat request arrived (itself included).
    pub in_flight_at_arrival: Arc<Mutex<Vec<usize>>>,
}

impl FakeOllama {
    /// Starts a server that has `models`, with `fault`, pausing `piece_delay` between
    /// streamed pieces.
    pub fn start(models: &[&str], fault: Fault, piece_delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            models: models.iter().map(|m| m.to_string()).collect(),
            fault,
            piece_delay,
            chats: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: Arc::new(AtomicUsize::new(0)),
            in_flight_at_arrival: Arc::new(Mutex::new(Vec::new())),
            module_chats: AtomicUsize::new(0),
            requests: Arc::new(Mutex::new(Vec::new())),
        });
        let server = Self {
            url: format!("http://{addr}"),
            host_port: addr.to_string(),
            requests: state.requests.clone(),
            max_in_flight: state.max_in_flight.clone(),
            in_flight_at_arrival: state.in_flight_at_arrival.clone(),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = state.clone();
                std::thread::spawn(move || {
                    let _ = handle(stream, &state);
                });
            }
        });
        server
    }

    /// The chat requests received so far.
    pub fn chats(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == "/api/chat")
            .map(|r| r.body.clone())
            .collect()
    }
}

struct State {
    models: Vec<String>,
    fault: Fault,
    piece_delay: Duration,
    chats: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: Arc<AtomicUsize>,
    in_flight_at_arrival: Arc<Mutex<Vec<usize>>>,
    module_chats: AtomicUsize,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

fn respond(stream: &mut TcpStream, status: &str, body: &Value) -> std::io::Result<()> {
    let text = body.to_string();
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )
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
    state.requests.lock().unwrap().push(Recorded {
        method: method.clone(),
        path: path.clone(),
        body: body.clone(),
    });
    let known = |name: &Value| {
        name.as_str()
            .is_some_and(|n| state.models.iter().any(|m| m == n))
    };
    match (method.as_str(), path.as_str()) {
        ("GET", "/api/tags") => {
            let models: Vec<Value> = state
                .models
                .iter()
                .map(|m| json!({"name": m, "model": m, "size": 2_330_093_361u64,
                               "details": {"format": "gguf", "family": "qwen2", "quantization_level": "Q4_0"}}))
                .collect();
            respond(&mut stream, "200 OK", &json!({ "models": models }))
        }
        ("GET", "/api/ps") => {
            // Every model held, half of it in GPU memory.
            let models: Vec<Value> = state
                .models
                .iter()
                .map(|m| {
                    json!({"name": m, "model": m, "size": 2_000_000_000u64,
                               "size_vram": 1_000_000_000u64})
                })
                .collect();
            respond(&mut stream, "200 OK", &json!({ "models": models }))
        }
        ("POST", "/api/show") if known(&body["model"]) => respond(
            &mut stream,
            "200 OK",
            &json!({"modelfile": "FROM x", "template": "{{ .Prompt }}",
                    "details": {"format": "gguf", "family": "qwen2", "parameter_size": "4B",
                                "quantization_level": "Q4_0"}}),
        ),
        ("POST", "/api/show") => respond(
            &mut stream,
            "404 Not Found",
            &json!({"error": format!("model '{}' not found", body["model"].as_str().unwrap_or(""))}),
        ),
        ("POST", "/api/chat") if !known(&body["model"]) => respond(
            &mut stream,
            "404 Not Found",
            &json!({"error": format!("model \"{}\" not found, try pulling it first", body["model"].as_str().unwrap_or(""))}),
        ),
        ("POST", "/api/chat") => {
            let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            state.max_in_flight.fetch_max(now, Ordering::SeqCst);
            state.in_flight_at_arrival.lock().unwrap().push(now);
            chat(&mut stream, state, &body, InFlight(&state.in_flight))
        }
        _ => respond(
            &mut stream,
            "404 Not Found",
            &json!({"error": "no such endpoint"}),
        ),
    }
}

/// One chat request in flight; it leaves when dropped, or just before its last line is
/// written: the client may send its next request as soon as it reads that line.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn chat(
    stream: &mut TcpStream,
    state: &State,
    body: &Value,
    in_flight: InFlight<'_>,
) -> std::io::Result<()> {
    let n = state.chats.fetch_add(1, Ordering::SeqCst);
    let module = body["format"]["properties"]["modules"].is_null();
    let mut invalid = state.fault == Fault::InvalidJson;
    match &state.fault {
        Fault::Fail500Once if n == 0 => {
            return respond(
                stream,
                "500 Internal Server Error",
                &json!({"error": "llama runner process has terminated"}),
            )
        }
        Fault::Slow(d) => std::thread::sleep(*d),
        Fault::Fail500After(d) => {
            std::thread::sleep(*d);
            return respond(
                stream,
                "500 Internal Server Error",
                &json!({"error": "busy"}),
            );
        }
        Fault::SlowModules(d) if module => std::thread::sleep(*d),
        Fault::InvalidFirstModule(d) if module => {
            // The invalid one answers after a quarter of the wait: all have arrived by then.
            invalid = state.module_chats.fetch_add(1, Ordering::SeqCst) == 0;
            std::thread::sleep(if invalid { *d / 4 } else { *d });
        }
        Fault::SchemaRefused if body["format"].is_object() => {
            return respond(
                stream,
                "400 Bad Request",
                &json!({"error": "invalid format: expected \"json\" or a JSON schema"}),
            )
        }
        _ => {}
    }
    let schema = if body["format"].is_object() {
        body["format"].clone()
    } else {
        // "json": the schema is in the last message, after the client's marker.
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
    let content = if invalid {
        "{\"title\": \"unfinished".to_string()
    } else {
        instance(&schema, "", n).to_string()
    };
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n"
    )?;
    if state.fault == Fault::EndlessLine {
        let chunk = vec![b'x'; 64 << 10];
        for _ in 0..128 {
            if stream.write_all(&chunk).is_err() {
                break;
            }
        }
        return Ok(());
    }
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
        let line = if state.fault == Fault::ResponseField {
            json!({"model": model, "created_at": "2026-11-26T00:00:00Z", "response": piece, "done": false})
        } else {
            json!({"model": model, "created_at": "2026-11-26T00:00:00Z",
                   "message": {"role": "assistant", "content": piece}, "done": false})
        };
        writeln!(stream, "{line}")?;
        stream.flush()?;
        std::thread::sleep(state.piece_delay);
    }
    let mut done = json!({"model": model, "created_at": "2026-11-26T00:00:01Z",
                          "message": {"role": "assistant", "content": ""},
                          "done": true, "done_reason": "stop"});
    if state.fault != Fault::NoTimings {
        let prompt_tokens = body.to_string().len() / 4;
        for (k, v) in [
            ("total_duration", 900_000_000u64),
            ("load_duration", 20_000_000),
            ("prompt_eval_count", prompt_tokens as u64),
            ("prompt_eval_duration", 300_000_000),
            ("eval_count", pieces.len() as u64),
            ("eval_duration", 500_000_000),
        ] {
            done[k] = json!(v);
        }
    }
    drop(in_flight);
    writeln!(stream, "{done}")?;
    stream.flush()
}

/// A value valid for `schema`, distinct per `path` and request `salt`.
pub fn instance(schema: &Value, path: &str, salt: usize) -> Value {
    match schema["type"].as_str() {
        Some("object") => {
            let mut out = Map::new();
            if let Some(props) = schema["properties"].as_object() {
                for (k, s) in props {
                    out.insert(k.clone(), instance(s, &format!("{path}{k} "), salt));
                }
            }
            Value::Object(out)
        }
        Some("array") => {
            let n = schema["minItems"].as_u64().unwrap_or(1).max(2) as usize;
            let n = n.min(schema["maxItems"].as_u64().unwrap_or(n as u64) as usize);
            Value::Array(
                (0..n)
                    .map(|i| instance(&schema["items"], &format!("{path}{} ", i + 1), salt))
                    .collect(),
            )
        }
        _ => {
            let max = schema["maxLength"].as_u64().unwrap_or(60) as usize;
            let text = format!("{}r{salt}", path.replace('_', " "));
            Value::String(text.chars().take(max.max(1)).collect())
        }
    }
}
