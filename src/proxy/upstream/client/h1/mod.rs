//! H1: HTTP/1.1 on one upstream connection, read and written by the task that proxies the
//! request — no connection task, no channel between the socket and the relay.
//!
//! Owns: writing a request (head and body in one vectored write), reading the response head
//! (`httparse`), the body's framing (content-length, chunked, until close; none for 204/304),
//! and whether the connection can carry another request afterwards. Must not: open
//! connections or pool them (`mod.rs`, `pool.rs`), retry, or look inside a body.
//!
//! Why not hyper's HTTP/1 client: hyper runs every connection as a task of its own that reads
//! the socket and hands each chunk to the response body through a channel, so every relayed
//! stream event cost two task wake-ups and a channel hand-off on top of the read, and every
//! connection held hyper's fixed 8 KiB read and 8 KiB write buffers for its whole life.
//! Measured (BENCHMARKS.md, issue 15): see the Optimisations table.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

pub use crate::proxy::chunked::FramingError;
use crate::proxy::chunked::{take_counted, Chunked, Step};
use crate::proxy::headers::list_tokens;

/// The smallest read: a stream's events are a few hundred bytes, so a connection waiting on a
/// stream holds little; a read that fills the buffer doubles the next one, up to `MAX_READ`.
const MIN_READ: usize = 2 * 1024;
const MAX_READ: usize = 64 * 1024;
/// A connection going back to the pool keeps a read buffer up to this size.
const IDLE_BUFFER: usize = 8 * 1024;
/// A response head larger than this is refused (hyper's default limit is of the same order).
const MAX_HEAD: usize = 64 * 1024;
/// Header fields in one response head.
const MAX_HEADERS: usize = 128;

/// The socket of an upstream connection: TCP, or TLS over TCP (as the connector made it).
pub type Socket = TokioIo<hyper_rustls::MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>>;

/// An open HTTP/1.1 upstream connection with nothing in flight.
pub struct H1Conn {
    /// Boxed: a TLS connection's state is over a kilobyte, and the connection moves in and out
    /// of the pool.
    io: Box<Socket>,
    /// Bytes read from the socket and not yet used.
    buf: BytesMut,
    /// How much the next read asks for.
    read_size: usize,
}

/// A request or response that broke HTTP/1.1 on the upstream connection.
#[derive(Debug, thiserror::Error)]
pub enum H1Error {
    #[error("writing the request to the upstream failed")]
    Write(#[source] std::io::Error),
    #[error("reading the upstream response failed")]
    Read(#[source] std::io::Error),
    #[error("the upstream closed the connection before the response ended")]
    ClosedEarly,
    #[error("the upstream sent a malformed response: {0}")]
    Malformed(&'static str),
    #[error("the upstream sent a malformed response")]
    Framing(#[from] FramingError),
}

impl H1Conn {
    pub fn new(io: Socket) -> Self {
        H1Conn {
            io: Box::new(io),
            buf: BytesMut::new(),
            read_size: MIN_READ,
        }
    }

    /// Whether the connection can be given another request: the upstream has neither closed it
    /// nor sent anything unasked since the last response (checked without waiting).
    pub fn is_reusable(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut probe = [0u8; 1];
        let mut read = tokio::io::ReadBuf::new(&mut probe);
        // Pending: nothing to read and not closed. Anything else — end of file, bytes, an
        // error — means the connection must not carry a request.
        Pin::new(&mut *self.io)
            .poll_read(&mut cx, &mut read)
            .is_pending()
    }

    /// Reads more bytes into the buffer; `Ok(0)` at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < MIN_READ {
            self.buf.reserve(self.read_size);
        }
        let want = self.buf.capacity() - self.buf.len();
        let read = std::pin::pin!(self.io.read_buf(&mut self.buf)).poll(cx);
        if let Poll::Ready(Ok(n)) = read {
            if n == want && self.read_size < MAX_READ {
                self.read_size *= 2;
            }
        }
        read
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Writes a request to the absolute `uri` with its body in one vectored write.
    pub async fn write_request(
        &mut self,
        method: &Method,
        uri: &http::Uri,
        https: bool,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<(), H1Error> {
        let head = encode_head(method, uri, https, headers, body.len());
        let mut out = Buf::chain(head, body.clone());
        self.io
            .write_all_buf(&mut out)
            .await
            .map_err(H1Error::Write)?;
        self.io.flush().await.map_err(H1Error::Write)
    }

    /// Reads the response head (skipping interim 1xx responses) and decides the body's framing.
    pub async fn read_head(&mut self, method: &Method) -> Result<Head, H1Error> {
        loop {
            if let Some(head) = self.parse_head(method)? {
                if head.status.is_informational() {
                    if head.status == StatusCode::SWITCHING_PROTOCOLS {
                        return Err(H1Error::Malformed("unexpected 101 Switching Protocols"));
                    }
                    continue;
                }
                return Ok(head);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(H1Error::Malformed("response head too large"));
            }
            if self.fill().await.map_err(H1Error::Read)? == 0 {
                return Err(H1Error::ClosedEarly);
            }
        }
    }

    /// Parses one head off the front of the buffer, if a whole one is there.
    fn parse_head(&mut self, method: &Method) -> Result<Option<Head>, H1Error> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        // Uninitialised field slots: zeroing 128 of them (4 KiB) cost more than parsing a head.
        let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut []);
        let config = httparse::ParserConfig::default();
        let len =
            match config.parse_response_with_uninit_headers(&mut parsed, &self.buf, &mut fields) {
                Ok(httparse::Status::Complete(len)) if len > MAX_HEAD => {
                    return Err(H1Error::Malformed("response head too large"))
                }
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(H1Error::Malformed("too many header fields"))
                }
                Err(_) => return Err(H1Error::Malformed("invalid response head")),
            };
        let status = parsed
            .code
            .and_then(|c| StatusCode::from_u16(c).ok())
            .ok_or(H1Error::Malformed("invalid status code"))?;
        let version = match parsed.version {
            Some(1) => Version::HTTP_11,
            _ => Version::HTTP_10,
        };
        let mut headers = HeaderMap::with_capacity(parsed.headers.len());
        for field in parsed.headers.iter() {
            let name = HeaderName::from_bytes(field.name.as_bytes())
                .map_err(|_| H1Error::Malformed("invalid header name"))?;
            let value = HeaderValue::from_bytes(field.value)
                .map_err(|_| H1Error::Malformed("invalid header value"))?;
            headers.append(name, value);
        }
        self.buf.advance(len);
        let framing = framing(method, status, &headers)?;
        // Both framings at once is a sign of a smuggling attempt or a broken intermediary
        // (RFC 9112 §6.3): the body is read by Transfer-Encoding, the connection not reused.
        let ambiguous =
            headers.contains_key(TRANSFER_ENCODING) && headers.contains_key(CONTENT_LENGTH);
        let keep_alive = version == Version::HTTP_11
            && !matches!(framing, Framing::UntilClose)
            && !ambiguous
            && !list_tokens(&headers, &CONNECTION).any(|t| t.eq_ignore_ascii_case("close"));
        Ok(Some(Head {
            status,
            version,
            headers,
            framing,
            keep_alive,
        }))
    }
}

/// A response head as read, with the framing of the body after it.
pub struct Head {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The connection can carry another request once this body has been read to its end.
    pub keep_alive: bool,
}

/// How the end of a response body is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// This many bytes to go (`content-length`; zero for 204, 304 and HEAD).
    Length(u64),
    Chunked(Chunked),
    /// Until the upstream closes the connection (neither length nor chunked given).
    UntilClose,
}

/// RFC 9112 §6.3, in order: no body for HEAD, 1xx, 204 and 304; chunked if it is the last
/// transfer coding (any other coding: until close); else `content-length` (all values equal);
/// else until close.
fn framing(method: &Method, status: StatusCode, headers: &HeaderMap) -> Result<Framing, H1Error> {
    if method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational()
    {
        return Ok(Framing::Length(0));
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        return Ok(match list_tokens(headers, &TRANSFER_ENCODING).next_back() {
            Some(t) if t.eq_ignore_ascii_case("chunked") => Framing::Chunked(Chunked::Size),
            _ => Framing::UntilClose,
        });
    }
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for part in value.as_bytes().split(|&b| b == b',') {
            let n = std::str::from_utf8(part.trim_ascii())
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(H1Error::Malformed("invalid content-length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(H1Error::Malformed("conflicting content-length values"));
            }
            length = Some(n);
        }
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

/// The request line (the absolute URI's path and query: origin form) and header fields. `Host`
/// comes first: the one in `headers` if set, else the URI's authority without the scheme's
/// default port (as browsers and curl write it). Framing headers are dario's own: any
/// `content-length`, `transfer-encoding` or `connection` in `headers` is left out (the header
/// policy strips them already) and the body's length is written.
fn encode_head(
    method: &Method,
    uri: &http::Uri,
    https: bool,
    headers: &HeaderMap,
    body_len: usize,
) -> Bytes {
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut head = BytesMut::with_capacity(256 + headers.len() * 48);
    head.extend_from_slice(method.as_str().as_bytes());
    head.extend_from_slice(b" ");
    head.extend_from_slice(path.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(host) = headers.get(HOST) {
        field(&mut head, HOST.as_str(), host.as_bytes());
    } else if let Some(authority) = uri.authority() {
        // Host and port only: any `user:password@` in a configured URL never goes on the wire.
        head.extend_from_slice(b"host: ");
        head.extend_from_slice(authority.host().as_bytes());
        match (authority.port_u16(), https) {
            (Some(443), true) | (Some(80), false) | (None, _) => {}
            (Some(port), _) => {
                head.extend_from_slice(b":");
                head.extend_from_slice(itoa::Buffer::new().format(port).as_bytes());
            }
        }
        head.extend_from_slice(b"\r\n");
    }
    for (name, value) in headers {
        if name == HOST || name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION
        {
            continue;
        }
        field(&mut head, name.as_str(), value.as_bytes());
    }
    if body_len > 0 || !(method == Method::GET || method == Method::HEAD) {
        let mut digits = itoa::Buffer::new();
        field(
            &mut head,
            CONTENT_LENGTH.as_str(),
            digits.format(body_len).as_bytes(),
        );
    }
    head.extend_from_slice(b"\r\n");
    head.freeze()
}

fn field(head: &mut BytesMut, name: &str, value: &[u8]) {
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n");
}

/// Where a finished connection goes: back to its pool when it can carry another request.
pub trait Release: Send + 'static {
    fn release(self: Box<Self>, conn: H1Conn);
}

/// A response body read from its connection as the relay polls it. Read to its end on a
/// keep-alive connection, it hands the connection to its `Release`; dropped before that (the
/// client went away, the response was cut), it closes the connection.
pub struct H1Body {
    conn: Option<H1Conn>,
    framing: Framing,
    keep_alive: bool,
    release: Option<Box<dyn Release>>,
    done: bool,
}

impl H1Body {
    pub fn new(conn: H1Conn, head: &Head, release: Option<Box<dyn Release>>) -> Self {
        let mut body = H1Body {
            conn: Some(conn),
            framing: head.framing.clone(),
            keep_alive: head.keep_alive,
            release,
            done: false,
        };
        if body.framing == Framing::Length(0) {
            body.finish();
        }
        body
    }

    /// The body has ended: the connection goes back if it can carry another request (nothing
    /// unread after the body), else it is closed.
    fn finish(&mut self) {
        self.done = true;
        let conn = self.conn.take();
        if let (Some(mut conn), Some(release)) = (conn, self.release.take()) {
            if self.keep_alive && conn.buf.is_empty() {
                // An idle connection keeps little: a buffer grown for a large body is let go.
                if conn.buf.capacity() > IDLE_BUFFER {
                    conn.buf = BytesMut::new();
                }
                conn.read_size = MIN_READ;
                release.release(conn);
            }
        }
    }

    fn fail(&mut self, error: H1Error) -> Poll<Option<Result<Frame<Bytes>, H1Error>>> {
        self.done = true;
        self.conn = None;
        Poll::Ready(Some(Err(error)))
    }
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = H1Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, H1Error>>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            // Hand out what is already buffered, as far as the framing allows.
            let (data, ended) = match &mut this.framing {
                Framing::Length(left) if conn.buf.is_empty() => (None, *left == 0),
                Framing::Length(left) => {
                    let data = take_counted(&mut conn.buf, left);
                    (Some(data), *left == 0)
                }
                Framing::Chunked(decoder) => match decoder.step(&mut conn.buf) {
                    Ok(Step::Data(data)) => (Some(data), false),
                    Ok(Step::End) => (None, true),
                    Ok(Step::NeedMore) => (None, false),
                    Err(e) => return this.fail(e.into()),
                },
                Framing::UntilClose if conn.buf.is_empty() => (None, false),
                Framing::UntilClose => (Some(conn.buf.split().freeze()), false),
            };
            if ended {
                this.finish();
            }
            match data {
                Some(data) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                None if ended => return Poll::Ready(None),
                None => {}
            }
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match conn.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return this.fail(H1Error::Read(e)),
                Poll::Ready(Ok(0)) if this.framing == Framing::UntilClose => {
                    this.done = true;
                    this.conn = None;
                    return Poll::Ready(None);
                }
                Poll::Ready(Ok(0)) => return this.fail(H1Error::ClosedEarly),
                Poll::Ready(Ok(_)) => {}
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(left) if !self.done => SizeHint::with_exact(left),
            _ if self.done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn framing_follows_rfc_9112_in_order() {
        let post = Method::POST;
        let ok = StatusCode::OK;
        let chunked = Framing::Chunked(Chunked::Size);
        let cases: Vec<(Method, StatusCode, HeaderMap, Framing)> = vec![
            (
                post.clone(),
                ok,
                headers(&[("content-length", "12")]),
                Framing::Length(12),
            ),
            (
                post.clone(),
                ok,
                headers(&[("content-length", "12, 12")]),
                Framing::Length(12),
            ),
            (
                post.clone(),
                ok,
                headers(&[("transfer-encoding", "chunked")]),
                chunked.clone(),
            ),
            // Transfer-Encoding wins over Content-Length.
            (
                post.clone(),
                ok,
                headers(&[
                    ("content-length", "5"),
                    ("transfer-encoding", "gzip, Chunked"),
                ]),
                chunked.clone(),
            ),
            (
                post.clone(),
                ok,
                headers(&[("transfer-encoding", "gzip")]),
                Framing::UntilClose,
            ),
            (post.clone(), ok, HeaderMap::new(), Framing::UntilClose),
            (
                post.clone(),
                StatusCode::NO_CONTENT,
                HeaderMap::new(),
                Framing::Length(0),
            ),
            (
                post.clone(),
                StatusCode::NOT_MODIFIED,
                headers(&[("content-length", "9")]),
                Framing::Length(0),
            ),
            (
                Method::HEAD,
                ok,
                headers(&[("content-length", "9")]),
                Framing::Length(0),
            ),
        ];
        for (method, status, h, want) in cases {
            assert_eq!(
                framing(&method, status, &h).unwrap(),
                want,
                "{method} {status} {h:?}"
            );
        }
        for bad in ["12, 13", "-1", "", "1 2", "0x10", "99999999999999999999999"] {
            assert!(
                framing(&post, ok, &headers(&[("content-length", bad)])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_head_carries_dario_framing_and_no_hop_by_hop_fields() {
        let h = headers(&[
            ("user-agent", "dario/1"),
            ("host", "up.example:8080"),
            ("content-length", "999"),
            ("connection", "close"),
            ("transfer-encoding", "chunked"),
            ("x-multi", "a"),
            ("x-multi", "b"),
        ]);
        let uri: http::Uri = "http://ignored:1/v1/chat/completions?x=1".parse().unwrap();
        let head = encode_head(&Method::POST, &uri, false, &h, 42);
        assert_eq!(
            std::str::from_utf8(&head).unwrap(),
            "POST /v1/chat/completions?x=1 HTTP/1.1\r\nhost: up.example:8080\r\n\
             user-agent: dario/1\r\nx-multi: a\r\nx-multi: b\r\ncontent-length: 42\r\n\r\n"
        );
        // Without a Host header: the authority, less the scheme's default port.
        for (url, https, host) in [
            ("https://api.example:443/v1/models", true, "api.example"),
            ("http://api.example:80/v1/models", false, "api.example"),
            ("http://api.example:443/v1/models", false, "api.example:443"),
            ("http://127.0.0.1:8000/v1/models", false, "127.0.0.1:8000"),
            (
                "http://user:secret@api.example:8080/v1/models",
                false,
                "api.example:8080",
            ),
            (
                "https://user:secret@api.example/v1/models",
                true,
                "api.example",
            ),
        ] {
            let get = encode_head(
                &Method::GET,
                &url.parse().unwrap(),
                https,
                &HeaderMap::new(),
                0,
            );
            assert_eq!(
                std::str::from_utf8(&get).unwrap(),
                format!("GET /v1/models HTTP/1.1\r\nhost: {host}\r\n\r\n"),
                "{url}"
            );
        }
    }

    /// A `Release` that keeps the connection it is handed.
    struct Keep(std::sync::Arc<std::sync::Mutex<Option<H1Conn>>>);

    impl Release for Keep {
        fn release(self: Box<Self>, conn: H1Conn) {
            *self.0.lock().unwrap() = Some(conn);
        }
    }

    #[tokio::test]
    async fn a_connection_read_to_its_end_goes_back_with_a_small_buffer() {
        use http_body_util::BodyExt;
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let near = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut far, _) = listener.accept().await.unwrap();
        let mut conn = H1Conn::new(TokioIo::new(hyper_rustls::MaybeHttpsStream::from(
            TokioIo::new(near),
        )));
        // A 300 KiB body makes the read buffer grow well past its start.
        let body = vec![b'x'; 300 * 1024];
        let writer = tokio::spawn(async move {
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
            far.write_all(head.as_bytes()).await.unwrap();
            far.write_all(&body).await.unwrap();
            far
        });
        let head = conn.read_head(&Method::POST).await.unwrap();
        let kept = std::sync::Arc::new(std::sync::Mutex::new(None));
        let body = H1Body::new(conn, &head, Some(Box::new(Keep(kept.clone()))));
        let read = body.collect().await.unwrap().to_bytes();
        assert_eq!(read.len(), 300 * 1024);
        let _far = writer.await.unwrap();
        let conn = kept
            .lock()
            .unwrap()
            .take()
            .expect("the connection went back");
        assert!(
            conn.buf.capacity() <= IDLE_BUFFER,
            "{}",
            conn.buf.capacity()
        );
        assert_eq!(conn.read_size, MIN_READ);
    }
}
