//! Response: writing a handler's response on an HTTP/1.1 client connection — the head, then
//! the body framed by its length, chunked, or until the connection closes.
//!
//! Owns: the response's framing headers (`content-length`, `transfer-encoding`, `connection`,
//! `date`), gathering whatever body frames are ready into one vectored write (frames are never
//! copied; only the head and chunk framing are written into a buffer), and noticing a client that
//! left while the body waits on its upstream. Must not: hold a frame back once nothing more is
//! ready (a stream's events go out as they come), or change any other header.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderValue, Response, StatusCode, Version};
use http_body::Body as _;

use super::io::Conn;
use crate::proxy::body::Body;

/// Gathered body bytes are written once they reach this much, even if more frames are ready.
const WRITE_AT: usize = 64 * 1024;
/// Pieces (head, framing, body frames) in one write at most.
const MAX_PIECES: usize = 64;
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
    /// Pieces are gathered; the body has more.
    More,
    /// The body ended; its end is gathered.
    End,
    /// The client left while the body waited.
    ClientGone,
    /// The body broke off (the upstream failed): the response cannot end properly.
    Failed,
}

/// One piece of a gathered write: framing written into `out` (a range of it), or a body frame
/// as it came (never copied).
enum Piece {
    Out(usize, usize),
    Data(Bytes),
}

/// The pieces of one write, in order.
struct Pieces {
    list: Vec<Piece>,
    /// Body bytes gathered (what `WRITE_AT` bounds).
    data: usize,
}

impl Pieces {
    /// Writes `bytes` into `out` as the next piece of framing.
    fn framing(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        let from = out.len();
        out.extend_from_slice(bytes);
        self.mark(from, out.len());
    }

    /// `out[from..to]` as the next piece (joined to the previous piece when that was framing
    /// too).
    fn mark(&mut self, from: usize, to: usize) {
        if from == to {
            return;
        }
        if let Some(Piece::Out(_, end)) = self.list.last_mut() {
            if *end == from {
                *end = to;
                return;
            }
        }
        self.list.push(Piece::Out(from, to));
    }

    fn data(&mut self, data: Bytes) {
        self.data += data.len();
        self.list.push(Piece::Data(data));
    }

    /// Enough for one write (a chunk adds up to three pieces).
    fn is_full(&self) -> bool {
        self.data >= WRITE_AT || self.list.len() + 3 > MAX_PIECES
    }
}

/// Writes the gathered pieces (one `writev` when the socket takes them all), then empties
/// them and `out`.
async fn write_pieces(conn: &Conn, out: &mut Vec<u8>, pieces: &mut Pieces) -> std::io::Result<()> {
    let mut done = 0usize;
    loop {
        // The slices live in this block only: held across the wait for the socket below, the
        // 1 KiB array would be part of every connection's task for its whole life.
        let wrote = {
            let mut slices = [IoSlice::new(&[]); MAX_PIECES];
            let mut n = 0;
            let mut skip = done;
            for piece in &pieces.list {
                let bytes: &[u8] = match piece {
                    Piece::Out(from, to) => &out[*from..*to],
                    Piece::Data(data) => data,
                };
                if skip >= bytes.len() {
                    skip -= bytes.len();
                    continue;
                }
                slices[n] = IoSlice::new(&bytes[skip..]);
                skip = 0;
                n += 1;
                if n == MAX_PIECES {
                    break;
                }
            }
            if n == 0 {
                break;
            }
            conn.stream.try_write_vectored(&slices[..n])
        };
        match wrote {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(written) => done += written,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => conn.stream.writable().await?,
            Err(e) => return Err(e),
        }
    }
    pieces.list.clear();
    pieces.data = 0;
    out.clear();
    Ok(())
}

async fn write_body(
    conn: &Conn,
    out: &mut Vec<u8>,
    body: &mut Body,
    framing: Framing,
    keep_alive: bool,
) -> Written {
    // Bytes of a content-length body still to send.
    let mut left = match framing {
        Framing::Length(n) => n,
        _ => u64::MAX,
    };
    let mut pieces = Pieces {
        list: Vec::with_capacity(4),
        data: 0,
    };
    // The head is the first piece.
    pieces.mark(0, out.len());
    loop {
        let gathered = poll_fn(|cx| loop {
            if pieces.is_full() {
                return Poll::Ready(Gathered::More);
            }
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(mut data) = frame.into_data() else {
                        continue; // trailers: HTTP/1.1 responses carry none from dario
                    };
                    if data.is_empty() {
                        continue;
                    }
                    if left == 0 {
                        // More than the declared length: the response cannot be framed.
                        return Poll::Ready(Gathered::Failed);
                    }
                    if (data.len() as u64) > left {
                        data.truncate(left as usize);
                    }
                    left = left.saturating_sub(data.len() as u64);
                    if framing == Framing::Chunked {
                        let mut line = [0u8; 18];
                        pieces.framing(out, size_line(data.len(), &mut line));
                        pieces.data(data);
                        pieces.framing(out, b"\r\n");
                    } else {
                        pieces.data(data);
                    }
                }
                Poll::Ready(Some(Err(_))) => return Poll::Ready(Gathered::Failed),
                Poll::Ready(None) => {
                    if framing == Framing::Chunked {
                        pieces.framing(out, b"0\r\n\r\n");
                    }
                    return Poll::Ready(Gathered::End);
                }
                Poll::Pending => {
                    if !pieces.list.is_empty() {
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
        if matches!(gathered, Gathered::ClientGone | Gathered::Failed) {
            return Written::Broken;
        }
        if write_pieces(conn, out, &mut pieces).await.is_err() {
            return Written::Broken;
        }
        if let Gathered::End = gathered {
            if matches!(framing, Framing::Length(_)) && left > 0 {
                // Ended short of its declared length: the client sees a cut body.
                return Written::Broken;
            }
            return Written::Whole { keep_alive };
        }
    }
}

/// A chunk's size line, `n` in lowercase hexadecimal then CRLF, written at the end of `line`.
fn size_line(n: usize, line: &mut [u8; 18]) -> &[u8] {
    line[16..].copy_from_slice(b"\r\n");
    let mut at = 16;
    let mut n = n;
    loop {
        at -= 1;
        line[at] = b"0123456789abcdef"[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    &line[at..]
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

#[cfg(test)]
mod tests {
    use super::size_line;

    #[test]
    fn a_size_line_is_lowercase_hex_and_crlf() {
        for n in [0usize, 1, 9, 10, 0x1a, 0x400, 0xdead_beef, usize::MAX] {
            let mut line = [0u8; 18];
            let got = size_line(n, &mut line);
            assert_eq!(got, format!("{n:x}\r\n").as_bytes(), "{n}");
        }
    }
}
