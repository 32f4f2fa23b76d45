//! The client-facing HTTP/1.1 server, black box: requests written on a raw socket to a running
//! dario, responses parsed byte by byte (status line, headers, then the body by its framing —
//! content-length, chunked (decoded and checked), or the close). Keep-alive, `100-continue`,
//! chunked and trickled request bodies, HTTP/1.0, `Connection: close`, `HEAD`, preflight,
//! framing refusals, request smuggling, streaming, a client gone while the upstream is slow, and
//! headers reaching the upstream as sent.
//!
//! Asserts what RFC 9112 requires (and what clients rely on), never an HTTP library's incidental
//! choices: no header order, header-name case, reason phrase or `date`.
//!
//! Observed with hyper's server (before dario's own): a bad `content-length` (non-numeric, two
//! different values) or `transfer-encoding: gzip` is refused by hyper before dario sees it — 400,
//! the JSON body of `server/rejects.rs`, `connection: close`, closed; a malformed chunk size is
//! dario's own 400 ("could not read the request body") in the caller's envelope, then closed.
//! `chunked` beside `content-length` is read as chunked, answered with `connection: close`, and
//! closed. HTTP/1.0 is answered `HTTP/1.0`; with `connection: keep-alive` the answer says
//! `keep-alive`, has a content-length and the connection stays open.

use crate::support;

use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bound on every wait for dario (a debug build on a shared machine): a hang fails the test.
const WAIT: Duration = Duration::from_secs(20);
/// How long a connection that should stay open must stay quiet (no bytes, no close).
const QUIET: Duration = Duration::from_millis(300);

// ---- A raw HTTP/1.1 client ------------------------------------------------------------------

/// How a response's body was delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body by rule: a response to `HEAD`, a 1xx, 204 or 304.
    Bodiless,
    Length,
    Chunked,
    /// Read until the server closed the connection.
    Close,
}

#[derive(Debug)]
struct Resp {
    status: u16,
    /// `HTTP/1.1` or `HTTP/1.0`.
    version: String,
    /// Names lowercased (they are case-insensitive), in the order received.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    framing: Framing,
}

impl Resp {
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The single field `name` (panics if it is repeated).
    fn header(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(all.len() <= 1, "{name} repeated: {self:?}");
        all.first().copied()
    }

    /// Whether the comma-separated field `name` holds `token` (case-insensitively).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.all(name)
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not a JSON body ({e}): {self:?} {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One client connection to dario and the bytes read from it but not yet parsed.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(dario: &Dario) -> Conn {
        let s = tokio::time::timeout(WAIT, TcpStream::connect(dario.addr))
            .await
            .expect("connect in time")
            .expect("connect");
        s.set_nodelay(true).unwrap();
        Conn { s, buf: Vec::new() }
    }

    async fn send(&mut self, bytes: &[u8]) {
        tokio::time::timeout(WAIT, self.s.write_all(bytes))
            .await
            .expect("write in time")
            .expect("write");
    }

    /// Reads more bytes into the buffer; 0 when dario closed the connection.
    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(WAIT, self.s.read(&mut chunk))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "dario sent nothing for {WAIT:?}; unparsed so far: {:?}",
                    String::from_utf8_lossy(&self.buf)
                )
            })
            .expect("read");
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// Takes `n` bytes off the front of the buffer, reading as needed.
    async fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(
                self.fill().await > 0,
                "closed after {} of {n} bytes",
                self.buf.len()
            );
        }
        self.buf.drain(..n).collect()
    }

    /// Takes one CRLF-terminated line (without the CRLF).
    async fn line(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = memchr::memmem::find(&self.buf, b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..i + 2).collect();
                return line[..i].to_vec();
            }
            assert!(
                self.buf.len() < 64 * 1024,
                "a line over 64 KiB: {:?}",
                String::from_utf8_lossy(&self.buf[..200])
            );
            assert!(
                self.fill().await > 0,
                "closed mid-line: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    /// Reads a status line and header section (RFC 9112 §4, §5), strictly.
    async fn head(&mut self) -> (String, u16, Vec<(String, String)>) {
        let status_line = String::from_utf8(self.line().await).expect("status line is text");
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap().to_string();
        assert!(
            version == "HTTP/1.1" || version == "HTTP/1.0",
            "status line {status_line:?}"
        );
        let code = parts.next().unwrap_or("");
        assert!(
            code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()),
            "status line {status_line:?}"
        );
        assert!(parts.next().is_some(), "status line {status_line:?}");
        let mut headers = Vec::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                break;
            }
            let line = String::from_utf8(line).expect("header line is text");
            assert!(
                !line.starts_with([' ', '\t']),
                "obs-fold in a response: {line:?}"
            );
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("header line without a colon: {line:?}"));
            assert!(
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && !b"\"(),/:;<=>?@[\\]{}".contains(&b)),
                "not a token: {name:?}"
            );
            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
        (version, code.parse().unwrap(), headers)
    }

    /// Reads one chunk (RFC 9112 §7.1) and returns its data; `None` for the last chunk, whose
    /// trailer section is read and dropped. Panics on any framing error.
    async fn chunk(&mut self) -> Option<Vec<u8>> {
        let line = String::from_utf8(self.line().await).expect("chunk size line is text");
        let size = line.split(';').next().unwrap();
        assert!(
            !size.is_empty() && size.bytes().all(|b| b.is_ascii_hexdigit()),
            "bad chunk size line {line:?}"
        );
        let size = usize::from_str_radix(size, 16).expect("chunk size fits");
        if size == 0 {
            // Trailer section, then the empty line.
            while !self.line().await.is_empty() {}
            return None;
        }
        let data = self.take(size).await;
        assert_eq!(
            self.take(2).await,
            b"\r\n",
            "chunk data not followed by CRLF"
        );
        Some(data)
    }

    /// Reads a whole response to a `method` request, its body by its framing (RFC 9112 §6.3).
    async fn response(&mut self, method: &str) -> Resp {
        let (version, status, headers) = self.head().await;
        let mut r = Resp {
            status,
            version,
            headers,
            body: Vec::new(),
            framing: Framing::Bodiless,
        };
        if method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304 {
            return r;
        }
        let lengths = r.all("content-length");
        if !r.all("transfer-encoding").is_empty() {
            assert!(lengths.is_empty(), "both framings sent: {r:?}");
            assert!(
                r.all("transfer-encoding")
                    .last()
                    .unwrap()
                    .rsplit(',')
                    .next()
                    .unwrap()
                    .trim()
                    .eq_ignore_ascii_case("chunked"),
                "a transfer coding other than chunked last: {r:?}"
            );
            r.framing = Framing::Chunked;
            while let Some(data) = self.chunk().await {
                r.body.extend_from_slice(&data);
            }
        } else if let Some(first) = lengths.first() {
            assert!(lengths.iter().all(|l| l == first), "lengths differ: {r:?}");
            let n: usize = first.parse().expect("a numeric content-length");
            r.framing = Framing::Length;
            r.body = self.take(n).await;
        } else {
            r.framing = Framing::Close;
            while self.fill().await > 0 {}
            r.body = std::mem::take(&mut self.buf);
        }
        r
    }

    /// Sends `request` and reads the response to it.
    async fn roundtrip(&mut self, request: &[u8]) -> Resp {
        self.send(request).await;
        let method = std::str::from_utf8(request)
            .ok()
            .and_then(|r| r.split(' ').next())
            .unwrap_or("")
            .to_string();
        self.response(&method).await
    }

    /// dario closes the connection (in time) and sends nothing more.
    async fn expect_closed(&mut self) {
        assert!(
            self.buf.is_empty(),
            "bytes after the response: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let mut rest = Vec::new();
        // A reset is a close too (dario may close with bytes of ours unread).
        let _ = tokio::time::timeout(WAIT, self.s.read_to_end(&mut rest))
            .await
            .expect("dario must close the connection");
        assert!(
            rest.is_empty(),
            "bytes after the response: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// The connection stays open and quiet: no stray bytes, no close.
    async fn expect_open(&mut self) {
        assert!(
            self.buf.is_empty(),
            "bytes after the response: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let mut one = [0u8; 1];
        match tokio::time::timeout(QUIET, self.s.read(&mut one)).await {
            Err(_) => {}
            Ok(Ok(0)) => panic!("dario closed the connection"),
            Ok(Ok(_)) => panic!("a stray byte after the response: {:?}", one[0] as char),
            Ok(Err(e)) => panic!("the connection failed: {e}"),
        }
    }
}

// ---- Requests -------------------------------------------------------------------------------

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";

/// An OpenAI chat body for the stand-in's `openai` backend.
fn chat_body(content: &str, stream: bool) -> String {
    serde_json::json!({
        "model": "gpt-4o",
        "stream": stream,
        "messages": [{"role": "user", "content": content}],
    })
    .to_string()
}

/// A `POST /v1/chat/completions` with a content-length and `extra` header lines.
fn chat_request(body: &str, extra: &str) -> Vec<u8> {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn assert_health(r: &Resp) {
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["status"], "ok", "{r:?}");
}

/// A 200 chat completion from the stand-in, relayed.
fn assert_completion(r: &Resp) {
    assert_eq!(r.status, 200, "{r:?} {}", r.text());
    assert_eq!(r.json()["object"], "chat.completion", "{}", r.text());
}

async fn started() -> (StandIn, Dario) {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    (up, dario)
}

// ---- Connections ----------------------------------------------------------------------------

/// Five requests in turn on one connection are each answered whole; the connection stays open.
#[tokio::test]
async fn keep_alive_carries_five_requests_in_turn() {
    let (up, dario) = started().await;
    let mut c = Conn::open(&dario).await;
    for i in 0..5 {
        let r = if i % 2 == 0 {
            let body = chat_body(&format!("request {i}"), false);
            let r = c.roundtrip(&chat_request(&body, "")).await;
            assert_completion(&r);
            assert_eq!(up.last().body, body.as_bytes(), "request {i}");
            r
        } else {
            let r = c.roundtrip(HEALTH).await;
            assert_health(&r);
            r
        };
        assert_eq!(r.version, "HTTP/1.1", "response {i}: {r:?}");
        assert!(
            matches!(r.framing, Framing::Length | Framing::Chunked),
            "response {i}: {r:?}"
        );
        assert!(!r.has_token("connection", "close"), "response {i}: {r:?}");
        assert!(c.buf.is_empty(), "bytes beyond response {i}");
    }
    c.expect_open().await;
    assert_eq!(up.requests().len(), 3);
    // Still served after the pause.
    assert_health(&c.roundtrip(HEALTH).await);
}

/// `Connection: close` on HTTP/1.1: answered, then dario closes the connection.
#[tokio::test]
async fn connection_close_is_answered_then_closed() {
    let (up, dario) = started().await;
    let mut c = Conn::open(&dario).await;
    assert_health(&c.roundtrip(HEALTH).await);
    let body = chat_body("last one", false);
    let r = c
        .roundtrip(&chat_request(&body, "connection: close\r\n"))
        .await;
    assert_completion(&r);
    assert_ne!(r.framing, Framing::Close, "{r:?}");
    assert_eq!(up.last().body, body.as_bytes());
    c.expect_closed().await;
}

/// HTTP/1.0 without keep-alive: a well-framed answer (never chunked), then dario closes.
#[tokio::test]
async fn http10_is_answered_then_closed() {
    let (up, dario) = started().await;
    let mut c = Conn::open(&dario).await;
    let r = c
        .roundtrip(b"GET /health HTTP/1.0\r\nhost: 127.0.0.1\r\n\r\n")
        .await;
    assert_health(&r);
    assert!(r.all("transfer-encoding").is_empty(), "{r:?}");
    assert!(!r.has_token("connection", "keep-alive"), "{r:?}");
    if r.framing == Framing::Length {
        c.expect_closed().await;
    }

    let body = chat_body("from an old client", false);
    let mut c = Conn::open(&dario).await;
    let request = String::from_utf8(chat_request(&body, ""))
        .unwrap()
        .replacen("HTTP/1.1", "HTTP/1.0", 1);
    let r = c.roundtrip(request.as_bytes()).await;
    assert_completion(&r);
    assert!(r.all("transfer-encoding").is_empty(), "{r:?}");
    if r.framing == Framing::Length {
        c.expect_closed().await;
    }
    assert_eq!(up.last().body, body.as_bytes());
}

/// HTTP/1.0 + `Connection: keep-alive`: answered; kept open only if the answer says keep-alive.
#[tokio::test]
async fn http10_keep_alive_is_answered_and_kept_only_if_announced() {
    let (_up, dario) = started().await;
    let mut c = Conn::open(&dario).await;
    let request = b"GET /health HTTP/1.0\r\nhost: 127.0.0.1\r\nconnection: keep-alive\r\n\r\n";
    let r = c.roundtrip(request).await;
    assert_health(&r);
    assert!(r.all("transfer-encoding").is_empty(), "{r:?}");
    if r.has_token("connection", "keep-alive") {
        assert_eq!(r.framing, Framing::Length, "{r:?}");
        c.expect_open().await;
        let again = c.roundtrip(request).await;
        assert_health(&again);
    } else if r.framing == Framing::Length {
        c.expect_closed().await;
    }
}

// ---- Request bodies -------------------------------------------------------------------------

/// `Expect: 100-continue`: `100` before the body is sent, then the answer; exact body upstream.
#[tokio::test]
async fn expect_100_continue_gets_100_before_the_body() {
    let (up, dario) = started().await;
    let body = chat_body("after the go-ahead", false);
    let request = String::from_utf8(chat_request(&body, "expect: 100-continue\r\n")).unwrap();
    let (head, rest) = request.split_at(request.find("\r\n\r\n").unwrap() + 4);
    assert_eq!(rest, body);
    let mut c = Conn::open(&dario).await;
    c.send(head.as_bytes()).await;
    let interim = c.response("POST").await;
    assert_eq!(interim.status, 100, "{interim:?}");
    assert!(c.buf.is_empty(), "nothing but the 100 before the body");
    assert!(up.requests().is_empty());
    c.send(body.as_bytes()).await;
    let r = c.response("POST").await;
    assert_completion(&r);
    assert_eq!(up.last().body, body.as_bytes());
    c.expect_open().await;
}

/// A chunked body in pieces, with an extension and a trailer, arrives exactly; connection reused.
#[tokio::test]
async fn a_chunked_request_body_with_extension_and_trailer_arrives_exactly() {
    let (up, dario) = started().await;
    let body = chat_body(&"chunked ünïcödé ".repeat(20), false);
    let (a, rest) = body.as_bytes().split_at(5);
    let (b, c_) = rest.split_at(200);
    let mut c = Conn::open(&dario).await;
    c.send(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n").await;
    let mut writes: Vec<Vec<u8>> = vec![b"5;ext=1\r\n".to_vec(), a.to_vec(), b"\r\n".to_vec()];
    writes.push(format!("{:X}\r\n", b.len()).into_bytes());
    writes.push(b[..100].to_vec());
    writes.push([&b[100..], b"\r\n"].concat());
    writes.push([format!("{:x}\r\n", c_.len()).as_bytes(), c_, b"\r\n"].concat());
    writes.push(b"0\r\nx-trailer: yes\r\n\r\n".to_vec());
    for w in writes {
        c.send(&w).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = c.response("POST").await;
    assert_completion(&r);
    assert_eq!(up.requests().len(), 1);
    assert_eq!(up.last().body, body.as_bytes());
    assert_health(&c.roundtrip(HEALTH).await);
    c.expect_open().await;
}

/// A 1 MiB+ content-length body written in many small pieces reaches the upstream exactly.
#[tokio::test]
async fn a_large_body_in_small_pieces_arrives_exactly() {
    let (up, dario) = started().await;
    let body = chat_body(&"a long user message — ünïcödé ✓ ".repeat(32 * 1024), false);
    assert!(body.len() > 1024 * 1024);
    let request = chat_request(&body, "");
    let mut c = Conn::open(&dario).await;
    for piece in request.chunks(997) {
        c.send(piece).await;
    }
    let r = c.response("POST").await;
    assert_completion(&r);
    let got = up.last().body;
    assert_eq!(got.len(), body.len());
    assert!(got == body.as_bytes(), "the body changed on the way");
    c.expect_open().await;
}

/// A request head trickled one byte per write is answered normally.
#[tokio::test]
async fn a_head_trickled_byte_by_byte_is_answered() {
    let (up, dario) = started().await;
    let body = chat_body("trickled", false);
    let request = chat_request(&body, "x-extra: some value\r\n");
    let head_len = memchr::memmem::find(&request, b"\r\n\r\n").unwrap() + 4;
    let mut c = Conn::open(&dario).await;
    for b in &request[..head_len] {
        c.send(&[*b]).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    c.send(&request[head_len..]).await;
    let r = c.response("POST").await;
    assert_completion(&r);
    assert_eq!(up.last().body, body.as_bytes());
    assert_eq!(up.last().header("x-extra").as_deref(), Some("some value"));
    // And a GET trickled the same way.
    for b in HEALTH {
        c.send(&[*b]).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_health(&c.response("GET").await);
}

// ---- Bodiless responses ---------------------------------------------------------------------

/// `HEAD /health`: a head and no body bytes; the next request on the connection is answered.
#[tokio::test]
async fn head_gets_no_body_and_the_connection_goes_on() {
    let (_up, dario) = started().await;
    let mut c = Conn::open(&dario).await;
    let r = c
        .roundtrip(b"HEAD /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
    // No body bytes: nothing arrives until the next request.
    c.expect_open().await;
    assert_health(&c.roundtrip(HEALTH).await);
    c.expect_open().await;
}

/// A CORS preflight is a 204 without body, `transfer-encoding` or `content-length`; reusable.
#[tokio::test]
async fn a_preflight_is_a_bodiless_204_and_the_connection_goes_on() {
    let (_up, dario) = started().await;
    let mut c = Conn::open(&dario).await;
    let r = c
        .roundtrip(b"OPTIONS /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\norigin: http://localhost:3000\r\naccess-control-request-method: POST\r\naccess-control-request-headers: content-type, x-api-key\r\n\r\n")
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert!(r.all("transfer-encoding").is_empty(), "{r:?}");
    assert!(r.all("content-length").is_empty(), "RFC 9110 §8.6: {r:?}");
    assert!(r.has_token("access-control-allow-methods", "POST"), "{r:?}");
    assert!(
        r.has_token("access-control-allow-headers", "x-api-key"),
        "{r:?}"
    );
    c.expect_open().await;
    assert_health(&c.roundtrip(HEALTH).await);
}

// ---- Framing refusals -----------------------------------------------------------------------

/// Untrustworthy body framing gets a JSON 400 and a close, and nothing goes upstream.
#[tokio::test]
async fn bad_body_framing_is_a_400_and_a_close() {
    let (up, dario) = started().await;
    let body = chat_body("hi", false);
    let head = "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n";
    let cases: Vec<(&str, String)> = vec![
        (
            "content-length: abc",
            format!("{head}content-length: abc\r\n\r\n{body}"),
        ),
        (
            "two different content-lengths",
            format!(
                "{head}content-length: {}\r\ncontent-length: {}\r\n\r\n{body}",
                body.len(),
                body.len() - 1
            ),
        ),
        (
            "transfer-encoding: gzip",
            format!("{head}transfer-encoding: gzip\r\n\r\n{body}"),
        ),
        (
            "malformed chunk size",
            format!("{head}transfer-encoding: chunked\r\n\r\nzz\r\n{body}\r\n0\r\n\r\n"),
        ),
        // Framings a lenient front proxy could read differently (request smuggling): a size
        // line ending in a bare LF, a bare LF inside an extension, a trailer that is no field.
        (
            "chunk size line ending in a bare LF",
            format!(
                "{head}transfer-encoding: chunked\r\n\r\n{:x}\n{body}\r\n0\r\n\r\n",
                body.len()
            ),
        ),
        (
            "bare LF inside a chunk extension",
            format!(
                "{head}transfer-encoding: chunked\r\n\r\n{:x};a\nb\r\n{body}\r\n0\r\n\r\n",
                body.len()
            ),
        ),
        (
            "trailer line without a colon",
            format!(
                "{head}transfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\nnot a field\r\n\r\n",
                body.len()
            ),
        ),
    ];
    for (what, request) in cases {
        let mut c = Conn::open(&dario).await;
        let r = c.roundtrip(request.as_bytes()).await;
        assert_eq!(r.status, 400, "{what}: {r:?}");
        assert_ne!(r.framing, Framing::Close, "{what}: {r:?}");
        let j = r.json();
        assert_eq!(j["error"]["type"], "invalid_request_error", "{what}: {j}");
        assert!(
            j["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {j}"
        );
        c.expect_closed().await;
    }
    assert!(
        up.requests().is_empty(),
        "a badly framed request went upstream"
    );
    let mut c = Conn::open(&dario).await;
    assert_health(&c.roundtrip(HEALTH).await);
}

/// Chunked beside a content-length: read as chunked, closed after the answer, no smuggled answer.
#[tokio::test]
async fn chunked_beside_content_length_never_answers_a_smuggled_request() {
    let (up, dario) = started().await;
    let smuggled = "GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";
    let body = chat_body("the real one", false);

    // 1. The smuggled request is the chunk data; the content-length ends the body before it.
    let chunk = format!("{:x}\r\n", smuggled.len());
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\ntransfer-encoding: chunked\r\n\r\n{chunk}{smuggled}\r\n0\r\n\r\n",
        chunk.len()
    );
    let mut c = Conn::open(&dario).await;
    let r = c.roundtrip(request.as_bytes()).await;
    // Read as chunked the body is `GET /health …`: not JSON.
    assert_eq!(r.status, 400, "{r:?} {}", r.text());
    assert!(!r.text().contains("\"status\":\"ok\""), "{}", r.text());
    c.expect_closed().await;
    assert!(up.requests().is_empty());

    // 2. The smuggled request follows the chunked body; the content-length covers both.
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\ntransfer-encoding: chunked\r\n\r\n{chunked}{smuggled}",
        chunked.len() + smuggled.len()
    );
    let mut c = Conn::open(&dario).await;
    let r = c.roundtrip(request.as_bytes()).await;
    if r.status == 200 {
        assert_completion(&r);
        assert_eq!(up.requests().len(), 1);
        assert_eq!(up.last().body, body.as_bytes(), "read as chunked");
    } else {
        assert_eq!(r.status, 400, "{r:?}");
        assert!(up.requests().is_empty());
    }
    assert_ne!(r.framing, Framing::Close, "{r:?}");
    // Closed after the answer: the trailing `GET /health` is never answered.
    c.expect_closed().await;
}

// ---- Streaming ------------------------------------------------------------------------------

/// `n` OpenAI stream events, then `[DONE]` (a stream without its final event is reported
/// incomplete by dario, with an error event of its own).
fn events(n: usize) -> Vec<String> {
    let mut all: Vec<String> = (0..n)
        .map(|i| format!("data: {{\"n\":{i},\"text\":\"ünï {i}\"}}\n\n"))
        .collect();
    all.push("data: [DONE]\n\n".into());
    all
}

/// A streamed answer is validly chunked (or close-delimited) and decodes to what upstream sent.
#[tokio::test]
async fn a_stream_is_validly_framed_and_arrives_whole() {
    let (up, dario) = started().await;
    let sent = events(6);
    up.push(Reply::sse(sent.clone()).paced(Duration::from_millis(5)));
    let mut c = Conn::open(&dario).await;
    let r = c
        .roundtrip(&chat_request(&chat_body("stream", true), ""))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.text(), sent.concat());
    match r.framing {
        Framing::Chunked => {
            c.expect_open().await;
            assert_health(&c.roundtrip(HEALTH).await);
        }
        Framing::Close => {}
        other => panic!("a stream framed by {other:?}"),
    }
}

/// A burst of events all ready at once (more than one vectored write takes) arrives whole and
/// in order, validly framed.
#[tokio::test]
async fn a_burst_of_events_ready_at_once_arrives_whole() {
    let (up, dario) = started().await;
    let sent = events(500);
    up.push(Reply::sse(sent.clone()));
    let mut c = Conn::open(&dario).await;
    let r = c
        .roundtrip(&chat_request(&chat_body("stream", true), ""))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), sent.concat());
    assert_eq!(r.framing, Framing::Chunked, "{r:?}");
    c.expect_open().await;
    assert_health(&c.roundtrip(HEALTH).await);
}

/// The first event of a stream reaches the client while the upstream is still open.
#[tokio::test]
async fn a_streamed_event_arrives_before_the_upstream_finishes() {
    let (up, dario) = started().await;
    let sent = events(1);
    up.push(Reply::sse(sent.clone()).hanging());
    let mut c = Conn::open(&dario).await;
    c.send(&chat_request(&chat_body("stream", true), "")).await;
    let (_, status, headers) = c.head().await;
    assert_eq!(status, 200);
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let mut got = Vec::new();
    while got.len() < sent[0].len() {
        if chunked {
            let data = c.chunk().await.expect("the stream ended early");
            got.extend_from_slice(&data);
        } else {
            assert!(c.fill().await > 0, "the stream ended early");
            got.append(&mut c.buf);
        }
    }
    assert_eq!(String::from_utf8_lossy(&got), sent[0]);
    assert_eq!(up.streams_cut(), 0, "the upstream is still sending");
    drop(c);
    assert_eq!(
        count_reaching(|| up.streams_cut(), 1).await,
        1,
        "the upstream stream outlived its client"
    );
}

/// A stream to an HTTP/1.0 client is not chunked: delimited by the close, and whole.
#[tokio::test]
async fn a_stream_to_an_http10_client_ends_with_the_close() {
    let (up, dario) = started().await;
    let sent = events(4);
    up.push(Reply::sse(sent.clone()));
    let mut c = Conn::open(&dario).await;
    let request = String::from_utf8(chat_request(&chat_body("stream", true), ""))
        .unwrap()
        .replacen("HTTP/1.1", "HTTP/1.0", 1);
    let r = c.roundtrip(request.as_bytes()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.all("transfer-encoding").is_empty(), "{r:?}");
    assert_eq!(r.framing, Framing::Close, "{r:?}");
    assert_eq!(r.text(), sent.concat());
}

// ---- Cancellation ---------------------------------------------------------------------------

/// A client gone while a non-streaming upstream is slow: the upstream request is cancelled.
#[tokio::test]
async fn a_client_gone_while_the_upstream_is_slow_cancels_the_upstream_request() {
    let (up, dario) = started().await;
    up.push(Reply::Delay(
        Duration::from_secs(120),
        Box::new(Reply::status(200, serde_json::json!({"late": true}))),
    ));
    let mut c = Conn::open(&dario).await;
    c.send(&chat_request(&chat_body("slow", false), "")).await;
    assert_eq!(
        count_reaching(|| up.requests().len(), 1).await,
        1,
        "the request reached the upstream"
    );
    assert_eq!(up.closed_connections(), 0);
    drop(c);
    assert_eq!(
        count_reaching(|| up.closed_connections(), 1).await,
        1,
        "the upstream request outlived its client"
    );
    no_request_in_flight(&dario).await;
}

// ---- Headers --------------------------------------------------------------------------------

/// Repeated headers reach the upstream in order, a mixed-case name with its value as sent.
#[tokio::test]
async fn repeated_and_mixed_case_headers_reach_the_upstream_as_sent() {
    let (up, dario) = started().await;
    let body = chat_body("headers", false);
    let mut c = Conn::open(&dario).await;
    let r = c
        .roundtrip(&chat_request(
            &body,
            "X-Custom: one\r\nx-custom: Two, three\r\nX-MiXeD-CaSe: Value As Sent\r\nX-CUSTOM: four\r\n",
        ))
        .await;
    assert_completion(&r);
    let rec = up.last();
    let values: Vec<&str> = rec
        .headers
        .get_all("x-custom")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(values, ["one", "Two, three", "four"], "{:?}", rec.headers);
    assert_eq!(
        rec.header("x-mixed-case").as_deref(),
        Some("Value As Sent"),
        "{:?}",
        rec.headers
    );
}
