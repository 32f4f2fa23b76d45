//! Response: writing a handler's response on an HTTP/1.1 client connection — the head, then
//! the body framed by its length, chunked, or until the connection closes.
//!
//! Owns: the response's framing headers (`content-length`, `transfer-encoding`, `connection`,
//! `date`), gathering whatever body frames are ready into one write, and noticing a client that
//! left while the body waits on its upstream. Must not: hold a frame back once nothing more is
//! ready (a stream's events go out as they come), or change any other header.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::Write as _;
use std::pin::Pin;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Buf;
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderValue, Response, StatusCode, Version};
use http_body::Body as _;

use super::io::Conn;
use crate::proxy::body::Body;

/// Gathered bytes are written once they reach this much, even if more frames are ready.
const WRITE_AT: usize = 64 * 1024;
/// A frame at least this large is written from where it is instead of being copied.
const LARGE_FRAME: usize = 16 * 1024;
/// The gathering buffer is given back when it grew past this.
const KEEP_BUFFER: usize = 16 * 1024;

/// How the body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body bytes at all (HEAD, 1xx, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// An HTTP/1.0 client without a length: the end of the body is the end of the connection.
    UntilClose,
}

/// What the request said that shapes the response.
pub struct Asked {
    pub method_is_head: bool,
    pub version: Version,
    /// Whether the connection may carry another request after this response, as far as the
    /// client and the connection loop are concerned.
    pub keep_alive: bool,
}

/// How writing a response ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// Written whole; the connection may carry another request if `true`.
    Whole { keep_alive: bool },
    /// The client left, or the body broke off: the connection must close now.
    Broken,
}

/// Writes `response` on `conn`, gathering into `out` (left empty, its capacity kept).
pub async fn write(
    conn: &Conn,
    out: &mut Vec<u8>,
    response: Response<Body>,
    asked: &Asked,
) -> Written {
    let (mut parts, mut body) = response.into_parts();
    let no_body = asked.method_is_head
        || parts.status.is_informational()
        || parts.status == StatusCode::NO_CONTENT
        || parts.status == StatusCode::NOT_MODIFIED;
    let mut keep_alive = asked.keep_alive;
    // dario decides the framing; a handler's own transfer-encoding is never passed on.
    parts.headers.remove(TRANSFER_ENCODING);
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let framing = if parts.status == StatusCode::NO_CONTENT || parts.status.is_informational() {
        parts.headers.remove(CONTENT_LENGTH);
        Framing::None
    } else if let Some(n) = declared {
        if no_body {
            Framing::None
        } else {
            Framing::Length(n)
        }
    } else if let Some(n) = body.size_hint().exact() {
        if parts.status != StatusCode::NOT_MODIFIED {
            parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
        if no_body {
            Framing::None
        } else {
            Framing::Length(n)
        }
    } else if no_body {
        Framing::None
    } else if asked.version == Version::HTTP_11 {
        parts
            .headers
            .insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        Framing::Chunked
    } else {
        keep_alive = false;
        Framing::UntilClose
    };
    if !keep_alive {
        parts
            .headers
            .insert(CONNECTION, HeaderValue::from_static("close"));
    } else if asked.version == Version::HTTP_10 {
        parts
            .headers
            .insert(CONNECTION, HeaderValue::from_static("keep-alive"));
    }

    out.clear();
    encode_head(out, parts.status, &parts.headers);
    let written = if framing == Framing::None {
        drop(body);
        match conn.write_all(out).await {
            Ok(()) => Written::Whole { keep_alive },
            Err(_) => Written::Broken,
        }
    } else {
        write_body(conn, out, &mut body, framing, keep_alive).await
    };
    out.clear();
    if out.capacity() > KEEP_BUFFER {
        *out = Vec::new();
    }
    written
}

/// What is ready of the body, as far as one write goes.
enum Gathered {
    /// Bytes are in `out`; the body has more.
    More,
    /// The body ended; its end is in `out`.
    End,
    /// The client left while the body waited.
    ClientGone,
    /// The body broke off (the upstream failed): the response cannot end properly.
    Failed,
}

async fn write_body(
    conn: &Conn,
    out: &mut Vec<u8>,
    body: &mut Body,
    framing: Framing,
    mut keep_alive: bool,
) -> Written {
    // Bytes of a content-length body still to send.
    let mut left = match framing {
        Framing::Length(n) => n,
        _ => u64::MAX,
    };
    loop {
        let mut large = None;
        let gathered = poll_fn(|cx| loop {
            if out.len() >= WRITE_AT {
                return Poll::Ready(Gathered::More);
            }
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers: HTTP/1.1 responses carry none from dario
                    };
                    if data.is_empty() {
                        continue;
                    }
                    let mut data = data;
                    if left == 0 {
                        // More than the declared length: the response cannot be framed.
                        return Poll::Ready(Gathered::Failed);
                    }
                    if (data.len() as u64) > left {
                        data.truncate(left as usize);
                    }
                    left = left.saturating_sub(data.len() as u64);
                    if framing == Framing::Chunked {
                        let _ = write!(out, "{:x}\r\n", data.len());
                    }
                    if data.len() >= LARGE_FRAME {
                        large = Some(data);
                        return Poll::Ready(Gathered::More);
                    }
                    out.extend_from_slice(&data);
                    if framing == Framing::Chunked {
                        out.extend_from_slice(b"\r\n");
                    }
                }
                Poll::Ready(Some(Err(_))) => return Poll::Ready(Gathered::Failed),
                Poll::Ready(None) => {
                    if framing == Framing::Chunked {
                        out.extend_from_slice(b"0\r\n\r\n");
                    }
                    return Poll::Ready(Gathered::End);
                }
                Poll::Pending => {
                    if !out.is_empty() {
                        return Poll::Ready(Gathered::More);
                    }
                    if conn.poll_client_gone(&mut conn.lock(), cx) {
                        return Poll::Ready(Gathered::ClientGone);
                    }
                    return Poll::Pending;
                }
            }
        })
        .await;
        if matches!(gathered, Gathered::ClientGone) {
            return Written::Broken;
        }
        if conn.write_all(out).await.is_err() {
            return Written::Broken;
        }
        out.clear();
        if let Some(data) = large {
            if conn.write_all(data.chunk()).await.is_err() {
                return Written::Broken;
            }
            if framing == Framing::Chunked {
                out.extend_from_slice(b"\r\n");
            }
        }
        match gathered {
            Gathered::More => {}
            Gathered::End => {
                if framing == Framing::UntilClose || (framing != Framing::Chunked && left > 0) {
                    // Ended short of its length (the client sees a cut body) or by closing.
                    keep_alive = false;
                }
                if !out.is_empty() && conn.write_all(out).await.is_err() {
                    return Written::Broken;
                }
                if framing != Framing::Chunked && framing != Framing::UntilClose && left > 0 {
                    return Written::Broken;
                }
                return Written::Whole { keep_alive };
            }
            Gathered::Failed | Gathered::ClientGone => return Written::Broken,
        }
    }
}

/// The status line and header fields, with `date` added when the handler set none.
fn encode_head(out: &mut Vec<u8>, status: StatusCode, headers: &http::HeaderMap) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !headers.contains_key(DATE) {
        out.extend_from_slice(b"date: ");
        with_date(|date| out.extend_from_slice(date));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

thread_local! {
    /// The `date` value, formatted once per second per thread.
    static DATE_VALUE: RefCell<(u64, Vec<u8>)> = const { RefCell::new((u64::MAX, Vec::new())) };
}

fn with_date(f: impl FnOnce(&[u8])) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE_VALUE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            cached.1 = httpdate::fmt_http_date(now).into_bytes();
            cached.0 = secs;
        }
        f(&cached.1);
    });
}
