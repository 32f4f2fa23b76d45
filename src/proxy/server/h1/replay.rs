//! Replay: a client's bytes read the way a connection reads them — a head, its body, the next
//! head — arriving a few bytes at a time, without a socket. What the fuzz target (`fuzz/`
//! `http1_requests`) and tests hold to: any bytes, split anywhere, read the same.
//!
//! Owns: nothing of its own — it drives `head::take_head` and `BodyLeft::take`, the functions
//! the connection and the request body use. Must not: grow a second reading of HTTP/1.1.

use bytes::BytesMut;

use super::head;
use super::io::{BodyLeft, Taken};

/// One thing read from the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// A whole request: its method, target, header fields and body.
    Request {
        method: String,
        target: String,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
    },
    /// A head refused with this status (the connection then closes).
    Refused(u16),
    /// A body whose chunked framing is broken (400, and the connection closes).
    BadBody,
    /// The bytes ended inside a head or a body.
    Incomplete,
}

/// Reads `bytes` as a client connection's input, handed over `piece` bytes at a time.
pub fn replay(bytes: &[u8], piece: usize) -> Vec<Replayed> {
    let piece = piece.max(1);
    let mut rest = bytes;
    let mut buf = BytesMut::new();
    let mut feed = |buf: &mut BytesMut| {
        let n = piece.min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        n > 0
    };
    let mut read = Vec::new();
    loop {
        let mut scanned = None;
        let parsed = loop {
            match head::take_head(&mut buf, &mut scanned) {
                Ok(Some(parsed)) => break parsed,
                Ok(None) if feed(&mut buf) => {}
                Ok(None) => {
                    if !buf.is_empty() {
                        read.push(Replayed::Incomplete);
                    }
                    return read;
                }
                Err(refusal) => {
                    read.push(Replayed::Refused(refusal.status.as_u16()));
                    return read;
                }
            }
        };
        let mut left = BodyLeft::of(parsed.framing);
        let mut body = Vec::new();
        loop {
            match left.take(&mut buf) {
                Ok(Taken::Data(data)) => body.extend_from_slice(&data),
                Ok(Taken::End) => break,
                Ok(Taken::NeedMore(_)) if feed(&mut buf) => {}
                Ok(Taken::NeedMore(_)) => {
                    read.push(Replayed::Incomplete);
                    return read;
                }
                Err(_) => {
                    read.push(Replayed::BadBody);
                    return read;
                }
            }
        }
        let request = parsed.request;
        read.push(Replayed::Request {
            method: request.method().to_string(),
            target: request.uri().to_string(),
            headers: request
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            body,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_the_same_however_the_bytes_are_split() {
        let bytes = b"POST /v1/messages HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\nhello\
GET /health HTTP/1.1\r\nhost: a\r\n\r\n\
POST /x HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\nt: 1\r\n\r\n\
GET /bad HTTP/1.1\r\nx: a\0b\r\n\r\n";
        let whole = replay(bytes, bytes.len());
        assert_eq!(whole.len(), 4, "{whole:?}");
        assert!(matches!(&whole[0], Replayed::Request { body, .. } if body == b"hello"));
        assert!(matches!(&whole[2], Replayed::Request { body, .. } if body == b"abc"));
        assert_eq!(whole[3], Replayed::Refused(400));
        for piece in 1..40 {
            assert_eq!(replay(bytes, piece), whole, "pieces of {piece}");
        }
    }

    #[test]
    fn a_cut_body_and_broken_framing_are_told_apart() {
        let cut = b"POST / HTTP/1.1\r\ncontent-length: 9\r\n\r\nabc";
        assert_eq!(replay(cut, 4), [Replayed::Incomplete]);
        let broken = b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n";
        assert_eq!(replay(broken, 4), [Replayed::BadBody]);
    }
}
