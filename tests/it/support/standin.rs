//! A stand-in upstream for tests, benchmarks and SDK runs: a real HTTP server on loopback that
//! speaks the Anthropic Messages and OpenAI Chat Completions wire formats (JSON and SSE), records
//! every request it receives, and injects faults (statuses, delays, mid-stream resets, hangs).
//!
//! Replies: a scripted FIFO (`push`) first; when it is empty, a canned reply chosen by the path
//! (`/v1/messages` → Anthropic, `…/chat/completions` → OpenAI Chat, `…/responses` → OpenAI
//! Responses) and the body's `stream` flag.
//! Canned replies carry a scenario picked from the last user message: `[scenario:tools]`,
//! `[scenario:thinking]`, otherwise plain text.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::net::TcpListener;

type BoxBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query exactly as received.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The HTTP version the request arrived in (HTTP/2 when negotiated by ALPN over TLS).
    pub version: http::Version,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("").to_string())
    }
}

/// A scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response.
    Json {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// An event stream: each item is written as one chunk, `pace` apart.
    Sse {
        status: u16,
        headers: Vec<(String, String)>,
        events: Vec<String>,
        pace: Duration,
        /// Reset the connection after this many events (no clean end).
        reset_after: Option<usize>,
        /// After the events, keep the stream open without sending anything.
        hang_after: bool,
    },
    /// Wait, then answer with the inner reply.
    Delay(Duration, Box<Reply>),
    /// Never answer.
    Hang,
}

impl Reply {
    pub fn status(status: u16, body: Value) -> Reply {
        Reply::Json {
            status,
            headers: vec![],
            body: body.to_string(),
        }
    }
    /// An event stream of `events` (one chunk each), status 200, sent at once, ending cleanly.
    pub fn sse(events: Vec<String>) -> Reply {
        Reply::Sse {
            status: 200,
            headers: vec![],
            events,
            pace: Duration::ZERO,
            reset_after: None,
            hang_after: false,
        }
    }

    /// Changes an event stream's status.
    pub fn with_status(mut self, new: u16) -> Reply {
        if let Reply::Sse { status, .. } = &mut self {
            *status = new;
        }
        self
    }

    /// Sends an event stream's events `every` apart.
    pub fn paced(mut self, every: Duration) -> Reply {
        if let Reply::Sse { pace, .. } = &mut self {
            *pace = every;
        }
        self
    }

    /// Resets the connection instead of sending event `n` (0-based).
    pub fn reset_after(mut self, n: usize) -> Reply {
        if let Reply::Sse { reset_after, .. } = &mut self {
            *reset_after = Some(n);
        }
        self
    }

    /// Keeps an event stream open after its events, sending nothing more.
    pub fn hanging(mut self) -> Reply {
        if let Reply::Sse { hang_after, .. } = &mut self {
            *hang_after = true;
        }
        self
    }

    pub fn with_headers(self, extra: &[(&str, &str)]) -> Reply {
        let add = |h: &mut Vec<(String, String)>| {
            for (k, v) in extra {
                h.push((k.to_string(), v.to_string()));
            }
        };
        match self {
            Reply::Json {
                status,
                mut headers,
                body,
            } => {
                add(&mut headers);
                Reply::Json {
                    status,
                    headers,
                    body,
                }
            }
            Reply::Sse {
                status,
                mut headers,
                events,
                pace,
                reset_after,
                hang_after,
            } => {
                add(&mut headers);
                Reply::Sse {
                    status,
                    headers,
                    events,
                    pace,
                    reset_after,
                    hang_after,
                }
            }
            other => other,
        }
    }
}

#[derive(Default)]
struct Shared {
    script: Mutex<std::collections::VecDeque<Reply>>,
    recorded: Mutex<Vec<Recorded>>,
    opened: AtomicUsize,
    closed: AtomicUsize,
    /// Streaming bodies that were dropped before their end (the client went away).
    streams_cut: AtomicUsize,
}

/// A running stand-in upstream.
pub struct StandIn {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    pub async fn start() -> StandIn {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(addr: SocketAddr) -> StandIn {
        Self::start_with(addr, None).await
    }

    /// The stand-in behind TLS (HTTP/2 and HTTP/1.1 offered by ALPN), for `https://` upstreams.
    pub async fn start_tls(tls: Arc<tokio_rustls::rustls::ServerConfig>) -> StandIn {
        Self::start_with("127.0.0.1:0".parse().unwrap(), Some(tls)).await
    }

    async fn start_with(
        addr: SocketAddr,
        tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    ) -> StandIn {
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let listener = TcpListener::bind(addr).await.expect("bind stand-in");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let s2 = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let shared = s2.clone();
                shared.opened.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let svc_shared = shared.clone();
                    let service = service_fn(move |req| handle(svc_shared.clone(), req));
                    let server = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match acceptor {
                        None => {
                            let _ = server.serve_connection(TokioIo::new(stream), service).await;
                        }
                        Some(acceptor) => {
                            // A failed handshake (the client refused our certificate) is a
                            // connection that carried no request.
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ =
                                    server.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                    }
                    shared.closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        StandIn { addr, shared, task }
    }

    /// Base URL for an Anthropic-protocol backend (no `/v1`).
    pub fn anthropic_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Base URL for an OpenAI-protocol backend (with `/v1`).
    pub fn openai_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn push(&self, reply: Reply) {
        self.shared.script.lock().push_back(reply);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().clone()
    }

    pub fn last(&self) -> Recorded {
        self.requests()
            .pop()
            .expect("the stand-in received no request")
    }

    pub fn opened_connections(&self) -> usize {
        self.shared.opened.load(Ordering::SeqCst)
    }

    pub fn closed_connections(&self) -> usize {
        self.shared.closed.load(Ordering::SeqCst)
    }

    pub fn streams_cut(&self) -> usize {
        self.shared.streams_cut.load(Ordering::SeqCst)
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<BoxBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    // Introspection for out-of-process users (the SDK tests): what was received so far.
    if parts.uri.path() == "/__standin/requests" {
        let list: Vec<Value> = shared
            .recorded
            .lock()
            .iter()
            .map(|r| {
                let headers: serde_json::Map<String, Value> = r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
                    .collect();
                json!({"method": r.method, "uri": r.uri, "headers": headers,
                       "body": String::from_utf8_lossy(&r.body)})
            })
            .collect();
        return Ok(render(shared, Reply::status(200, Value::Array(list))).await);
    }
    let rec = Recorded {
        version: parts.version,
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts.headers.clone(),
        body: body.clone(),
    };
    shared.recorded.lock().push(rec.clone());
    let scripted = shared.script.lock().pop_front();
    let reply = match scripted {
        Some(r) => r,
        None => canned(&rec),
    };
    Ok(render(shared, reply).await)
}

fn full(s: impl Into<Bytes>) -> BoxBody {
    http_body_util::Full::new(s.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn render(
    shared: Arc<Shared>,
    reply: Reply,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response<BoxBody>> + Send>> {
    Box::pin(async move {
        match reply {
            Reply::Hang => {
                std::future::pending::<()>().await;
                unreachable!()
            }
            Reply::Delay(d, inner) => {
                tokio::time::sleep(d).await;
                render(shared, *inner).await
            }
            Reply::Json {
                status,
                headers,
                body,
            } => {
                let mut resp = Response::new(full(body));
                *resp.status_mut() = StatusCode::from_u16(status).unwrap();
                resp.headers_mut()
                    .insert("content-type", "application/json".parse().unwrap());
                for (k, v) in headers {
                    resp.headers_mut().append(
                        http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                        v.parse().unwrap(),
                    );
                }
                resp
            }
            Reply::Sse {
                status,
                headers,
                events,
                pace,
                reset_after,
                hang_after,
            } => {
                let guard = CutGuard {
                    shared: shared.clone(),
                    done: false,
                };
                let stream = futures_util::stream::unfold(
                    (events.into_iter().enumerate(), guard),
                    move |(mut it, mut guard)| async move {
                        match it.next() {
                            Some((i, ev)) => {
                                if reset_after == Some(i) {
                                    // Let what was sent so far reach the peer before the reset.
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                    guard.done = true;
                                    return Some((
                                        Err(std::io::Error::other("stand-in reset")),
                                        (it, guard),
                                    ));
                                }
                                if i > 0 && !pace.is_zero() {
                                    tokio::time::sleep(pace).await;
                                }
                                Some((Ok(Frame::data(Bytes::from(ev))), (it, guard)))
                            }
                            None => {
                                if hang_after {
                                    std::future::pending::<()>().await;
                                }
                                guard.done = true;
                                drop(guard);
                                None
                            }
                        }
                    },
                );
                let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
                *resp.status_mut() = StatusCode::from_u16(status).unwrap();
                resp.headers_mut()
                    .insert("content-type", "text/event-stream".parse().unwrap());
                // A scripted header replaces the default of the same name (so a chunked reply can
                // pose as JSON with a content-length); repeated names are all kept.
                let mut seen = std::collections::HashSet::new();
                for (k, v) in headers {
                    let name = http::HeaderName::from_bytes(k.as_bytes()).unwrap();
                    let value = v.parse().unwrap();
                    if seen.insert(name.clone()) {
                        resp.headers_mut().insert(name, value);
                    } else {
                        resp.headers_mut().append(name, value);
                    }
                }
                resp
            }
        }
    })
}

/// Counts a stream dropped before its end.
struct CutGuard {
    shared: Arc<Shared>,
    done: bool,
}

impl Drop for CutGuard {
    fn drop(&mut self) {
        if !self.done {
            self.shared.streams_cut.fetch_add(1, Ordering::SeqCst);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Canned replies: the same content rendered as Anthropic JSON, Anthropic SSE, OpenAI JSON and
// OpenAI SSE, so tests can compare what a client assembled with what the stand-in sent.

/// The content of a canned reply, provider-neutral.
#[derive(Debug, Clone)]
pub struct Canned {
    pub text: String,
    pub thinking: Option<String>,
    /// (id, name, arguments JSON)
    pub tool_calls: Vec<(String, String, Value)>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
}

/// Picks the scenario from the last user message of a request body.
pub fn scenario_of(body: &Value) -> &'static str {
    // Chat and Messages bodies have `messages`; Responses bodies `input` (a string or items).
    let text = match &body["input"] {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.last().map(|m| m.to_string()).unwrap_or_default(),
        _ => body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .map(|m| m["content"].to_string())
            .unwrap_or_default(),
    };
    if text.contains("[scenario:tools]") {
        "tools"
    } else if text.contains("[scenario:thinking]") {
        "thinking"
    } else {
        "text"
    }
}

pub fn canned_content(scenario: &str) -> Canned {
    match scenario {
        "tools" => Canned {
            text: "Let me check both cities.".into(),
            thinking: None,
            tool_calls: vec![
                (
                    "call_weather_1".into(),
                    "get_weather".into(),
                    json!({"city": "Paris", "unit": "celsius"}),
                ),
                (
                    "call_weather_2".into(),
                    "get_weather".into(),
                    json!({"city": "Tōkyō", "unit": "celsius", "days": [1, 2, 3]}),
                ),
            ],
            input_tokens: 120,
            output_tokens: 45,
            cache_read_tokens: 0,
        },
        "thinking" => Canned {
            text: "The answer is 42.".into(),
            thinking: Some("First, consider the question carefully. Then answer.".into()),
            tool_calls: vec![],
            input_tokens: 30,
            output_tokens: 25,
            cache_read_tokens: 0,
        },
        _ => Canned {
            text: "Hello from the stand-in — ünïcödé ✓.".into(),
            thinking: None,
            tool_calls: vec![],
            input_tokens: 12,
            output_tokens: 9,
            cache_read_tokens: 4,
        },
    }
}

fn canned(rec: &Recorded) -> Reply {
    let body = rec.json();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let model = body["model"].as_str().unwrap_or("unknown").to_string();
    let content = canned_content(scenario_of(&body));
    let path = rec.uri.split('?').next().unwrap_or("");
    if path.ends_with("/messages/count_tokens") {
        return Reply::status(200, json!({"input_tokens": 42}));
    }
    if path.ends_with("/models") {
        return Reply::status(
            200,
            json!({"object": "list", "data": [{"id": "standin-model", "object": "model"}]}),
        );
    }
    if path.ends_with("/responses") {
        let rl = [
            ("x-ratelimit-limit-requests", "1000"),
            ("x-ratelimit-remaining-requests", "999"),
            ("x-request-id", "standin-req-1"),
        ];
        let reply = if stream {
            Reply::sse(responses_sse(&content, &model))
        } else {
            Reply::Json {
                status: 200,
                headers: vec![],
                body: responses_json(&content, &model).to_string(),
            }
        };
        return reply.with_headers(&rl);
    }
    let anthropic = path.ends_with("/v1/messages");
    let rl = if anthropic {
        vec![
            ("anthropic-ratelimit-requests-limit", "1000"),
            ("anthropic-ratelimit-requests-remaining", "999"),
            ("request-id", "req_standin_1"),
        ]
    } else {
        vec![
            ("x-ratelimit-limit-requests", "1000"),
            ("x-ratelimit-remaining-requests", "999"),
            ("x-request-id", "standin-req-1"),
        ]
    };
    let reply = match (anthropic, stream) {
        (true, false) => Reply::Json {
            status: 200,
            headers: vec![],
            body: anthropic_json(&content, &model).to_string(),
        },
        (true, true) => Reply::sse(anthropic_sse(&content, &model)),
        (false, false) => Reply::Json {
            status: 200,
            headers: vec![],
            body: openai_json(&content, &model).to_string(),
        },
        (false, true) => Reply::sse(openai_sse(
            &content,
            &model,
            body["stream_options"]["include_usage"]
                .as_bool()
                .unwrap_or(false),
        )),
    };
    reply.with_headers(&rl)
}

pub fn anthropic_json(c: &Canned, model: &str) -> Value {
    let mut blocks = vec![];
    if let Some(t) = &c.thinking {
        blocks.push(json!({"type": "thinking", "thinking": t, "signature": "sig-standin"}));
    }
    if !c.text.is_empty() {
        blocks.push(json!({"type": "text", "text": c.text}));
    }
    for (id, name, args) in &c.tool_calls {
        blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": args}));
    }
    json!({
        "id": "msg_standin_01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": if c.tool_calls.is_empty() { "end_turn" } else { "tool_use" },
        "stop_sequence": null,
        "usage": {
            "input_tokens": c.input_tokens,
            "output_tokens": c.output_tokens,
            "cache_read_input_tokens": c.cache_read_tokens,
            "cache_creation_input_tokens": 0
        }
    })
}

fn ev(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// Splits a string into pieces of at most `n` chars (on char boundaries).
fn pieces(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}

pub fn anthropic_sse(c: &Canned, model: &str) -> Vec<String> {
    let mut out = vec![ev(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": "msg_standin_01", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": c.input_tokens, "output_tokens": 1,
                      "cache_read_input_tokens": c.cache_read_tokens, "cache_creation_input_tokens": 0}}}),
    )];
    out.push(ev("ping", json!({"type": "ping"})));
    let mut index = 0;
    if let Some(t) = &c.thinking {
        out.push(ev("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}})));
        for p in pieces(t, 12) {
            out.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": p}})));
        }
        out.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": "sig-standin"}})));
        out.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    if !c.text.is_empty() {
        out.push(ev("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})));
        for p in pieces(&c.text, 7) {
            out.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}})));
        }
        out.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    for (id, name, args) in &c.tool_calls {
        out.push(ev("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}})));
        for p in pieces(&args.to_string(), 9) {
            out.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": p}})));
        }
        out.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    out.push(ev("message_delta", json!({"type": "message_delta",
        "delta": {"stop_reason": if c.tool_calls.is_empty() { "end_turn" } else { "tool_use" }, "stop_sequence": null},
        "usage": {"output_tokens": c.output_tokens}})));
    out.push(ev("message_stop", json!({"type": "message_stop"})));
    out
}

pub fn openai_json(c: &Canned, model: &str) -> Value {
    let mut message = json!({"role": "assistant", "content": if c.text.is_empty() { Value::Null } else { json!(c.text) }});
    if let Some(t) = &c.thinking {
        message["reasoning_content"] = json!(t);
    }
    if !c.tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(
            c.tool_calls
                .iter()
                .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}}))
                .collect(),
        );
    }
    json!({
        "id": "chatcmpl-standin01",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null,
                     "finish_reason": if c.tool_calls.is_empty() { "stop" } else { "tool_calls" }}],
        "usage": {
            "prompt_tokens": c.input_tokens + c.cache_read_tokens,
            "completion_tokens": c.output_tokens,
            "total_tokens": c.input_tokens + c.cache_read_tokens + c.output_tokens,
            "prompt_tokens_details": {"cached_tokens": c.cache_read_tokens}
        }
    })
}

pub fn openai_sse(c: &Canned, model: &str, include_usage: bool) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-standin01", "object": "chat.completion.chunk", "created": 1_700_000_000,
                   "model": model, "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
        )
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    if let Some(t) = &c.thinking {
        for p in pieces(t, 12) {
            out.push(chunk(json!({"reasoning_content": p}), Value::Null));
        }
    }
    for p in pieces(&c.text, 7) {
        out.push(chunk(json!({"content": p}), Value::Null));
    }
    for (k, (id, name, args)) in c.tool_calls.iter().enumerate() {
        out.push(chunk(
            json!({"tool_calls": [{"index": k, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
            Value::Null,
        ));
        for p in pieces(&args.to_string(), 9) {
            out.push(chunk(
                json!({"tool_calls": [{"index": k, "function": {"arguments": p}}]}),
                Value::Null,
            ));
        }
    }
    out.push(chunk(
        json!({}),
        json!(if c.tool_calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        }),
    ));
    if include_usage {
        out.push(format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-standin01", "object": "chat.completion.chunk", "created": 1_700_000_000,
               "model": model, "choices": [],
               "usage": {"prompt_tokens": c.input_tokens + c.cache_read_tokens, "completion_tokens": c.output_tokens,
                         "total_tokens": c.input_tokens + c.cache_read_tokens + c.output_tokens,
                         "prompt_tokens_details": {"cached_tokens": c.cache_read_tokens}}})
    ));
    }
    out.push("data: [DONE]\n\n".to_string());
    out
}

/// The output items of a canned reply in the Responses API's spelling.
fn responses_output(c: &Canned) -> Vec<Value> {
    let mut out = vec![];
    if let Some(t) = &c.thinking {
        out.push(json!({"id": "rs_standin_0", "type": "reasoning",
                        "summary": [{"type": "summary_text", "text": t}]}));
    }
    if !c.text.is_empty() {
        out.push(json!({"id": "msg_standin_1", "type": "message", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": c.text, "annotations": [], "logprobs": []}]}));
    }
    for (i, (id, name, args)) in c.tool_calls.iter().enumerate() {
        out.push(
            json!({"id": format!("fc_standin_{i}"), "type": "function_call", "status": "completed",
                        "call_id": id, "name": name, "arguments": args.to_string()}),
        );
    }
    out
}

fn responses_object(c: &Canned, model: &str, status: &str, output: Vec<Value>) -> Value {
    let usage = if status == "completed" {
        json!({"input_tokens": c.input_tokens + c.cache_read_tokens,
               "input_tokens_details": {"cached_tokens": c.cache_read_tokens},
               "output_tokens": c.output_tokens,
               "output_tokens_details": {"reasoning_tokens": 0},
               "total_tokens": c.input_tokens + c.cache_read_tokens + c.output_tokens})
    } else {
        Value::Null
    };
    json!({"id": "resp_standin_01", "object": "response", "created_at": 1_700_000_000, "status": status,
           "error": null, "incomplete_details": null, "instructions": null, "metadata": {},
           "model": model, "output": output, "parallel_tool_calls": true, "temperature": null,
           "tool_choice": "auto", "tools": [], "top_p": null, "usage": usage})
}

pub fn responses_json(c: &Canned, model: &str) -> Value {
    responses_object(c, model, "completed", responses_output(c))
}

/// The Responses API event stream of a canned reply, as OpenAI sends it (`event:` lines,
/// `sequence_number` on every event).
pub fn responses_sse(c: &Canned, model: &str) -> Vec<String> {
    let mut seq = 0u64;
    let mut out = vec![];
    let mut push = |out: &mut Vec<String>, name: &str, mut data: Value| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(seq);
        seq += 1;
        out.push(ev(name, data));
    };
    push(
        &mut out,
        "response.created",
        json!({"response": responses_object(c, model, "in_progress", vec![])}),
    );
    push(
        &mut out,
        "response.in_progress",
        json!({"response": responses_object(c, model, "in_progress", vec![])}),
    );
    let items = responses_output(c);
    for (i, item) in items.iter().enumerate() {
        let id = item["id"].clone();
        match item["type"].as_str().unwrap_or("") {
            "reasoning" => {
                push(
                    &mut out,
                    "response.output_item.added",
                    json!({"output_index": i, "item": {"id": id, "type": "reasoning", "summary": []}}),
                );
                push(
                    &mut out,
                    "response.reasoning_summary_part.added",
                    json!({"item_id": id, "output_index": i, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
                );
                let t = item["summary"][0]["text"].as_str().unwrap_or("");
                for p in pieces(t, 12) {
                    push(
                        &mut out,
                        "response.reasoning_summary_text.delta",
                        json!({"item_id": id, "output_index": i, "summary_index": 0, "delta": p}),
                    );
                }
                push(
                    &mut out,
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": i, "summary_index": 0, "text": t}),
                );
                push(
                    &mut out,
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id, "output_index": i, "summary_index": 0, "part": {"type": "summary_text", "text": t}}),
                );
            }
            "message" => {
                push(
                    &mut out,
                    "response.output_item.added",
                    json!({"output_index": i, "item": {"id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
                );
                push(
                    &mut out,
                    "response.content_part.added",
                    json!({"item_id": id, "output_index": i, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
                );
                for p in pieces(&c.text, 7) {
                    push(
                        &mut out,
                        "response.output_text.delta",
                        json!({"item_id": id, "output_index": i, "content_index": 0, "delta": p, "logprobs": []}),
                    );
                }
                push(
                    &mut out,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": i, "content_index": 0, "text": c.text, "logprobs": []}),
                );
                push(
                    &mut out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": i, "content_index": 0, "part": item["content"][0]}),
                );
            }
            _ => {
                let mut added = item.clone();
                added["arguments"] = json!("");
                added["status"] = json!("in_progress");
                push(
                    &mut out,
                    "response.output_item.added",
                    json!({"output_index": i, "item": added}),
                );
                let args = item["arguments"].as_str().unwrap_or("");
                for p in pieces(args, 9) {
                    push(
                        &mut out,
                        "response.function_call_arguments.delta",
                        json!({"item_id": id, "output_index": i, "delta": p}),
                    );
                }
                push(
                    &mut out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": i, "arguments": args}),
                );
            }
        }
        push(
            &mut out,
            "response.output_item.done",
            json!({"output_index": i, "item": item}),
        );
    }
    push(
        &mut out,
        "response.completed",
        json!({"response": responses_object(c, model, "completed", items)}),
    );
    out
}
