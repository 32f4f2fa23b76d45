//! Head: a client's HTTP/1.1 request head, parsed (`httparse`) into an `http::Request`, with the
//! framing of the body that follows (RFC 9112 §6.3) and what the connection does afterwards.
//!
//! Owns: the limits on a head (size, header count), which heads are refused and with which
//! status, and the framing rules a request body is read by. Must not: read from the socket (the
//! connection does) or look at a body.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, Version};

use crate::proxy::headers::list_tokens;

/// A request head larger than this is refused with 431. No API client sends heads anywhere
/// near it; the bound keeps a client from making dario buffer without end.
pub const MAX_HEAD: usize = 64 * 1024;
/// Header fields in one request head; more is refused with 431.
const MAX_HEADERS: usize = 128;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (no length and no transfer coding given).
    Empty,
    Length(u64),
    Chunked,
}

/// A parsed request head.
pub struct Parsed {
    /// The request, its body not attached yet.
    pub request: Request<()>,
    pub framing: BodyFraming,
    /// The client allows another request on this connection after this one.
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before it sends the body.
    pub expect_continue: bool,
}

/// A head dario will not serve: answered with `status` and a JSON error, then the connection
/// is closed (what follows a head that could not be read cannot be trusted to be a request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: &'static str,
}

impl Refusal {
    fn bad(message: &'static str) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            message,
        }
    }

    pub const TOO_LARGE: Refusal = Refusal {
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        message: "the request headers are larger than dario accepts: send fewer or shorter headers",
    };
    /// Part of a head came, the rest not within `[limits] header_read_timeout`.
    pub const TIMED_OUT: Refusal = Refusal {
        status: StatusCode::REQUEST_TIMEOUT,
        message: "the request head did not arrive within the header deadline ([limits] header_read_timeout): send the whole head at once",
    };
    const URI_TOO_LONG: Refusal = Refusal {
        status: StatusCode::URI_TOO_LONG,
        message: "the request URI is longer than dario accepts: dario's endpoints take no long query strings",
    };
    const MALFORMED: &'static str = "dario could not parse the request head: a malformed request line, a header line without a colon, a folded (obs-fold) header line, or a NUL or control character in a header value; fix the request the client sends";
}

/// Where one header field lies in the head: name and value as byte ranges.
#[derive(Clone, Copy, Default)]
struct FieldAt {
    name: (u32, u32),
    value: (u32, u32),
}

/// Whether the bytes from `from` on may end a head (an empty line: `\n\n` or `\n\r\n`), so that
/// a head arriving in many small pieces is not parsed again from its start for every piece.
pub fn may_end_head(buf: &[u8], from: usize) -> bool {
    let from = from.saturating_sub(2).min(buf.len());
    memchr::memchr_iter(b'\n', &buf[from..]).any(|i| {
        let rest = &buf[from + i + 1..];
        rest.first() == Some(&b'\n') || rest.starts_with(b"\r\n")
    })
}

/// The connection's look at its buffer for the next head: parsed on the first look, then again
/// only when the bytes that came since (`scanned` marks where the last look ended) may end it or
/// the buffer is over the limit.
pub fn take_head(
    buf: &mut BytesMut,
    scanned: &mut Option<usize>,
) -> Result<Option<Parsed>, Refusal> {
    if buf.is_empty() {
        return Ok(None);
    }
    let worth_parsing = match *scanned {
        None => true,
        Some(from) => may_end_head(buf, from) || buf.len() > MAX_HEAD,
    };
    if !worth_parsing {
        return Ok(None);
    }
    *scanned = Some(buf.len());
    parse(buf)
}

/// Parses a whole request head from the front of `buf` and removes it from `buf`; `Ok(None)`
/// while the head has not all arrived.
pub fn parse(buf: &mut BytesMut) -> Result<Option<Parsed>, Refusal> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut fields = [FieldAt::default(); MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    let len = match parsed.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(Refusal::TOO_LARGE),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::TOO_LARGE),
        Err(httparse::Error::Version) => {
            return Err(Refusal::bad(
                "dario speaks HTTP/1.1 (and HTTP/2 with prior knowledge); the request line names another version",
            ))
        }
        Err(_) => return Err(Refusal::bad(Refusal::MALFORMED)),
    };
    if len > MAX_HEAD {
        return Err(Refusal::TOO_LARGE);
    }
    // Offsets into the head, so the values can be shared slices of it once it is split off.
    let base = buf.as_ptr() as usize;
    let at = |s: &[u8]| ((s.as_ptr() as usize - base) as u32, s.len() as u32);
    let method = Method::from_bytes(parsed.method.unwrap_or_default().as_bytes())
        .map_err(|_| Refusal::bad(Refusal::MALFORMED))?;
    let target = at(parsed.path.unwrap_or_default().as_bytes());
    let version = if parsed.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let count = parsed.headers.len();
    for (field, header) in fields.iter_mut().zip(parsed.headers.iter()) {
        *field = FieldAt {
            name: at(header.name.as_bytes()),
            value: at(header.value),
        };
    }
    let head = buf.split_to(len).freeze();
    let slice = |(start, len): (u32, u32)| head.slice(start as usize..(start + len) as usize);

    let uri = Uri::from_maybe_shared(slice(target)).map_err(|_| {
        if target.1 as usize > u16::MAX as usize - 2 {
            Refusal::URI_TOO_LONG
        } else {
            Refusal::bad("the request target is not a valid URI")
        }
    })?;
    let mut headers = HeaderMap::with_capacity(count);
    for field in &fields[..count] {
        let (start, len) = field.name;
        let name = HeaderName::from_bytes(&head[start as usize..(start + len) as usize])
            .map_err(|_| Refusal::bad(Refusal::MALFORMED))?;
        let value = HeaderValue::from_maybe_shared(slice(field.value))
            .map_err(|_| Refusal::bad(Refusal::MALFORMED))?;
        headers.append(name, value);
    }

    let framing = framing(&headers, version)?;
    let keep_alive = keep_alive(&headers, version);
    let expect_continue = version == Version::HTTP_11
        && framing != BodyFraming::Empty
        && headers
            .get(EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));

    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Ok(Some(Parsed {
        request,
        framing,
        keep_alive,
        expect_continue,
    }))
}

/// RFC 9112 §6.3 for requests: a transfer coding ending in chunked, else one agreed length, else
/// no body. A request with both is refused: reading it either way could let a second request
/// hide in the first one's body for a peer that reads it the other way.
fn framing(headers: &HeaderMap, version: Version) -> Result<BodyFraming, Refusal> {
    if headers.contains_key(TRANSFER_ENCODING) {
        if version == Version::HTTP_10 {
            return Err(Refusal::bad(
                "an HTTP/1.0 request cannot use Transfer-Encoding: send a Content-Length",
            ));
        }
        if headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .any(|v| v.to_str().is_err())
        {
            return Err(Refusal::bad(
                "the request's Transfer-Encoding is not plain text: send chunked",
            ));
        }
        if headers.contains_key(CONTENT_LENGTH) {
            return Err(Refusal::bad(
                "the request has both Transfer-Encoding and Content-Length: send one of them",
            ));
        }
        let mut codings = list_tokens(headers, &TRANSFER_ENCODING);
        let last = codings.next_back();
        if !last.is_some_and(|c| c.eq_ignore_ascii_case("chunked")) {
            return Err(Refusal::bad(
                "the request's Transfer-Encoding does not end in chunked, so its length cannot be known: send it chunked or with a Content-Length",
            ));
        }
        if codings.next().is_some() {
            return Err(Refusal {
                status: StatusCode::NOT_IMPLEMENTED,
                message: "dario reads request bodies in the chunked transfer coding only: send the body without other transfer codings",
            });
        }
        return Ok(BodyFraming::Chunked);
    }
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        // Every item counts, also one that is not text (a list-token helper would skip it).
        for item in value.as_bytes().split(|&b| b == b',') {
            let n = std::str::from_utf8(item)
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(Refusal::bad(
                    "the request's Content-Length is not a number: send the body's length in bytes",
                ))?;
            if length.is_some_and(|l| l != n) {
                return Err(Refusal::bad(
                    "the request has Content-Length values that disagree: send one",
                ));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        None | Some(0) => BodyFraming::Empty,
        Some(n) => BodyFraming::Length(n),
    })
}

/// HTTP/1.1 connections stay open unless the client says `close`; HTTP/1.0 ones close unless it
/// says `keep-alive`.
fn keep_alive(headers: &HeaderMap, version: Version) -> bool {
    let says =
        |token: &str| list_tokens(headers, &CONNECTION).any(|t| t.eq_ignore_ascii_case(token));
    if version == Version::HTTP_10 {
        says("keep-alive")
    } else {
        !says("close")
    }
}

/// The response a refused head gets: a JSON error both SDKs can read, and the connection closes.
pub fn refusal_response(refusal: Refusal) -> Bytes {
    let body = serde_json::json!({
        "type": "error",
        "error": {"type": "invalid_request_error", "message": refusal.message, "code": null, "param": null},
    })
    .to_string();
    let reason = refusal.status.canonical_reason().unwrap_or("");
    Bytes::from(format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        refusal.status.as_str(),
        body.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Option<Parsed>, Refusal> {
        let mut buf = BytesMut::from(s.as_bytes());
        parse(&mut buf)
    }

    fn parsed(s: &str) -> Parsed {
        parse_str(s).expect("parses").expect("whole")
    }

    #[test]
    fn a_head_is_parsed_into_a_request_and_removed_from_the_buffer() {
        let mut buf = BytesMut::from(
            &b"POST /v1/messages?x=1 HTTP/1.1\r\nHost: a\r\nX-Two: 1\r\nx-two: 2\r\ncontent-length: 5\r\n\r\nhello"[..],
        );
        let p = parse(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..], b"hello");
        assert_eq!(p.request.method(), Method::POST);
        assert_eq!(p.request.uri().path(), "/v1/messages");
        assert_eq!(p.request.uri().query(), Some("x=1"));
        assert_eq!(p.request.headers()["host"], "a");
        let twos: Vec<_> = p.request.headers().get_all("x-two").iter().collect();
        assert_eq!(twos, ["1", "2"]);
        assert_eq!(p.framing, BodyFraming::Length(5));
        assert!(p.keep_alive);
        assert!(!p.expect_continue);
    }

    #[test]
    fn the_end_of_a_head_is_found_in_the_new_bytes_only() {
        let head = b"GET / HTTP/1.1\r\nhost: a\r\n\r\n";
        assert!(may_end_head(head, 0));
        // The blank line's bytes arriving one by one: seen when its last byte comes.
        for at in 1..head.len() {
            let seen = may_end_head(&head[..at], at.saturating_sub(1));
            assert!(!seen, "{at}");
        }
        assert!(may_end_head(head, head.len() - 1));
        assert!(may_end_head(b"GET / HTTP/1.1\nhost: a\n\n", 20));
        assert!(!may_end_head(b"GET / HTTP/1.1\r\nhost: a\r\n", 0));
    }

    #[test]
    fn a_partial_head_waits_and_an_endless_one_is_431() {
        assert!(parse_str("GET / HTTP/1.1\r\nhost: a\r\n")
            .unwrap()
            .is_none());
        let long = format!("GET / HTTP/1.1\r\nx: {}", "a".repeat(MAX_HEAD));
        assert_eq!(parse_str(&long).err(), Some(Refusal::TOO_LARGE));
        let many: String = (0..200).map(|i| format!("x-{i}: 1\r\n")).collect();
        let r = parse_str(&format!("GET / HTTP/1.1\r\n{many}\r\n"));
        assert_eq!(r.err(), Some(Refusal::TOO_LARGE));
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let f = |headers: &str| {
            parse_str(&format!("POST / HTTP/1.1\r\n{headers}\r\n"))
                .map(|p| p.unwrap().framing)
                .map_err(|r| r.status.as_u16())
        };
        assert_eq!(f(""), Ok(BodyFraming::Empty));
        assert_eq!(f("content-length: 0\r\n"), Ok(BodyFraming::Empty));
        assert_eq!(f("content-length: 12\r\n"), Ok(BodyFraming::Length(12)));
        assert_eq!(
            f("content-length: 12\r\ncontent-length: 12\r\n"),
            Ok(BodyFraming::Length(12))
        );
        assert_eq!(f("content-length: 12, 12\r\n"), Ok(BodyFraming::Length(12)));
        assert_eq!(f("content-length: 12\r\ncontent-length: 13\r\n"), Err(400));
        assert_eq!(f("content-length: abc\r\n"), Err(400));
        assert_eq!(f("content-length: -1\r\n"), Err(400));
        assert_eq!(f("content-length: +5\r\n"), Err(400));
        assert_eq!(f("content-length: 99999999999999999999999\r\n"), Err(400));
        assert_eq!(
            f("transfer-encoding: chunked\r\n"),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            f("Transfer-Encoding: CHUNKED\r\n"),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(f("transfer-encoding: gzip\r\n"), Err(400));
        assert_eq!(
            f("transfer-encoding: chunked\r\ntransfer-encoding: \u{e9}\r\n"),
            Err(400)
        );
        assert_eq!(f("transfer-encoding: gzip, chunked\r\n"), Err(501));
        assert_eq!(f("transfer-encoding: chunked, gzip\r\n"), Err(400));
        assert_eq!(
            f("transfer-encoding: chunked\r\ncontent-length: 5\r\n"),
            Err(400)
        );
        let old = parse_str("POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n");
        assert_eq!(old.err().map(|r| r.status.as_u16()), Some(400));
    }

    #[test]
    fn keep_alive_and_expect_continue() {
        assert!(!parsed("GET / HTTP/1.1\r\nconnection: close\r\n\r\n").keep_alive);
        assert!(!parsed("GET / HTTP/1.1\r\nConnection: TE, Close\r\n\r\n").keep_alive);
        assert!(!parsed("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(parsed("GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n").keep_alive);
        let p = parsed("POST / HTTP/1.1\r\nexpect: 100-Continue\r\ncontent-length: 3\r\n\r\n");
        assert!(p.expect_continue);
        // Nothing to continue to without a body.
        assert!(!parsed("POST / HTTP/1.1\r\nexpect: 100-continue\r\n\r\n").expect_continue);
    }

    #[test]
    fn malformed_heads_are_400() {
        for head in [
            "GET / HTTP/1.1\r\nnocolon\r\n\r\n",
            "GET / HTTP/1.1\r\nx: a\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nx: a\0b\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "G@T / HTTP/1.1\r\n\r\n",
        ] {
            let r = parse_str(head).err();
            assert_eq!(
                r.map(|r| r.status),
                Some(StatusCode::BAD_REQUEST),
                "{head:?}"
            );
        }
    }

    #[test]
    fn a_refusal_is_a_whole_json_response() {
        let bytes = refusal_response(Refusal::TOO_LARGE);
        let text = std::str::from_utf8(&bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let j: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(j["type"], "error");
    }
}
