//! Chunked: the decoder of HTTP/1.1's chunked transfer coding (RFC 9112 §7.1) over the bytes
//! read so far — the framing of every streamed upstream response, and of a client's request
//! body sent without a length.
//!
//! Owns: finding each chunk's size line, handing out its data as shared slices of the read
//! buffer (no copy), skipping extensions and trailers, and refusing what is not chunked framing.
//! Must not: read from the connection (the body that uses it does, when this asks for more) or look inside
//! the data.

use bytes::{Buf, Bytes, BytesMut};

/// A size line or trailer line longer than this is refused (no real peer sends one; a peer that
/// does is not speaking HTTP, and must not make dario buffer without bound).
const MAX_LINE: usize = 4096;
/// All trailer lines of one body together.
const MAX_TRAILERS: usize = 16 * 1024;

/// Where the decoder is in the chunked body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunked {
    /// Expecting a size line (`1a;ext=x\r\n`).
    Size,
    /// Inside a chunk's data: this many bytes to go.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last (zero-size) chunk: trailer lines until an empty one; bytes seen so far.
    Trailers(usize),
    /// The body has ended.
    Done,
}

/// What one step of decoding found.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Chunk data (part of a chunk when the rest has not arrived yet).
    Data(Bytes),
    /// The buffered bytes end before the next piece of framing: read more.
    NeedMore,
    /// The last chunk and its trailers have been read.
    End,
}

/// The bytes are not chunked framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid chunked framing: {0}")]
pub struct FramingError(pub &'static str);

impl Chunked {
    /// Decodes from the front of `buf` until it has data to hand out, needs more bytes, or the
    /// body has ended; consumed framing is removed from `buf`. Lenient the way RFC 9112 §2.2
    /// allows a recipient to be (a bare LF ends a line): for upstream responses.
    pub fn step(&mut self, buf: &mut BytesMut) -> Result<Step, FramingError> {
        self.step_with(buf, false)
    }

    /// `step` for a client's request body: strict, because a front proxy that reads chunk
    /// boundaries differently (a bare LF, a CR or LF inside an extension, a malformed trailer)
    /// could otherwise see a second request hidden in this one's body. Only CRLF ends a line;
    /// extensions and trailer lines hold no control characters; trailer lines are fields.
    pub fn step_request(&mut self, buf: &mut BytesMut) -> Result<Step, FramingError> {
        self.step_with(buf, true)
    }

    fn step_with(&mut self, buf: &mut BytesMut, strict: bool) -> Result<Step, FramingError> {
        loop {
            match self {
                Chunked::Done => return Ok(Step::End),
                Chunked::Size => {
                    let Some(line) = take_line(buf, strict)? else {
                        return Ok(Step::NeedMore);
                    };
                    let size = parse_size(&line, strict)?;
                    *self = if size == 0 {
                        Chunked::Trailers(0)
                    } else {
                        Chunked::Data(size)
                    };
                }
                Chunked::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let data = take_counted(buf, left);
                    if *left == 0 {
                        *self = Chunked::DataEnd;
                    }
                    return Ok(Step::Data(data));
                }
                Chunked::DataEnd => match buf.first() {
                    None => return Ok(Step::NeedMore),
                    Some(b'\n') if !strict => {
                        buf.advance(1);
                        *self = Chunked::Size;
                    }
                    Some(b'\r') => match buf.get(1) {
                        None => return Ok(Step::NeedMore),
                        Some(b'\n') => {
                            buf.advance(2);
                            *self = Chunked::Size;
                        }
                        Some(_) => return Err(FramingError("no line break after chunk data")),
                    },
                    Some(_) => return Err(FramingError("no line break after chunk data")),
                },
                Chunked::Trailers(seen) => {
                    let Some(line) = take_line(buf, strict)? else {
                        return Ok(Step::NeedMore);
                    };
                    if strict && !line.is_empty() && !is_field_line(&line) {
                        return Err(FramingError("a trailer line is not a header field"));
                    }
                    if line.is_empty() {
                        *self = Chunked::Done;
                    } else {
                        *seen += line.len();
                        if *seen > MAX_TRAILERS {
                            return Err(FramingError("trailers too large"));
                        }
                    }
                }
            }
        }
    }

    /// The body has ended.
    pub fn is_done(&self) -> bool {
        *self == Chunked::Done
    }
}

/// Takes the front of `buf`, up to `left` bytes of a body part whose length is known, and
/// counts them off `left` (a chunk's data here, a content-length body in the caller).
pub fn take_counted(buf: &mut BytesMut, left: &mut u64) -> Bytes {
    let take = usize::try_from(*left).map_or(buf.len(), |l| l.min(buf.len()));
    *left -= take as u64;
    buf.split_to(take).freeze()
}

/// Takes one line (without its `\n` or `\r\n`) off the front of `buf`, if a whole one is there;
/// `strict`: only `\r\n` ends a line, and no other `\r` is in it.
fn take_line(buf: &mut BytesMut, strict: bool) -> Result<Option<BytesMut>, FramingError> {
    match memchr::memchr(b'\n', buf) {
        Some(end) => {
            let mut line = buf.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            } else if strict {
                return Err(FramingError("a line ends in a bare LF"));
            }
            if strict && memchr::memchr(b'\r', &line).is_some() {
                return Err(FramingError("a bare CR inside a line"));
            }
            Ok(Some(line))
        }
        None if buf.len() > MAX_LINE => Err(FramingError("line too long")),
        None => Ok(None),
    }
}

/// A control character other than HTAB (never in an extension or a field value).
fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// `name: value`, a token name and a value without control characters.
fn is_field_line(line: &[u8]) -> bool {
    let Some(colon) = memchr::memchr(b':', line) else {
        return false;
    };
    let (name, value) = line.split_at(colon);
    !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && !value.iter().any(|&b| is_control(b))
}

/// A chunk size: hexadecimal digits, then optional whitespace and `;extensions` (ignored;
/// `strict`: without control characters).
fn parse_size(line: &[u8], strict: bool) -> Result<u64, FramingError> {
    if line.len() > MAX_LINE {
        return Err(FramingError("line too long"));
    }
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    if digits.is_empty() {
        return Err(FramingError("chunk size is not a hexadecimal number"));
    }
    if digits.len() > 15 {
        return Err(FramingError("chunk size too large"));
    }
    let rest = rest.trim_ascii_start();
    if !(rest.is_empty() || rest[0] == b';') {
        return Err(FramingError("chunk size is not a hexadecimal number"));
    }
    if strict && rest.iter().any(|&b| is_control(b)) {
        return Err(FramingError("a control character in a chunk extension"));
    }
    let size = digits.iter().fold(0u64, |size, &d| {
        let value = (d as char).to_digit(16).unwrap_or(0);
        size * 16 + u64::from(value)
    });
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `wire` to a decoder in the given piece sizes; the data and whether it ended.
    fn decode_in_pieces(wire: &[u8], pieces: &[usize]) -> Result<(Vec<u8>, bool), FramingError> {
        decode_with(wire, pieces, false)
    }

    /// `decode_in_pieces`, lenient or `strict` (as for a request body).
    fn decode_with(
        wire: &[u8],
        pieces: &[usize],
        strict: bool,
    ) -> Result<(Vec<u8>, bool), FramingError> {
        let mut decoder = Chunked::Size;
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut rest = wire;
        let mut sizes = pieces.iter().copied().cycle();
        loop {
            match decoder.step_with(&mut buf, strict)? {
                Step::Data(d) => {
                    assert!(!d.is_empty(), "empty data handed out");
                    out.extend_from_slice(&d);
                }
                Step::End => return Ok((out, buf.is_empty() && rest.is_empty())),
                Step::NeedMore if rest.is_empty() => return Ok((out, false)),
                Step::NeedMore => {
                    let n = sizes.next().unwrap_or(1).clamp(1, rest.len());
                    buf.extend_from_slice(&rest[..n]);
                    rest = &rest[n..];
                }
            }
        }
    }

    fn encode(chunks: &[Vec<u8>], ext: bool, trailers: &[&str]) -> Vec<u8> {
        let mut wire = Vec::new();
        for c in chunks.iter().filter(|c| !c.is_empty()) {
            wire.extend_from_slice(format!("{:X}", c.len()).as_bytes());
            if ext {
                wire.extend_from_slice(b" ;name=\"v\"");
            }
            wire.extend_from_slice(b"\r\n");
            wire.extend_from_slice(c);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n");
        for t in trailers {
            wire.extend_from_slice(t.as_bytes());
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"\r\n");
        wire
    }

    proptest! {
        /// Any chunking of any data, read in any piece sizes, decodes to the data and ends
        /// exactly at the end of the framing.
        #[test]
        fn decodes_any_chunking_in_any_pieces(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..12),
            pieces in prop::collection::vec(1usize..64, 1..8),
            ext in any::<bool>(),
            trailer in any::<bool>(),
        ) {
            let trailers: &[&str] = if trailer { &["x-checksum: abc", "x-more: 1"] } else { &[] };
            let wire = encode(&chunks, ext, trailers);
            for strict in [false, true] {
                let (data, ended) = decode_with(&wire, &pieces, strict).unwrap();
                prop_assert_eq!(data, chunks.concat());
                prop_assert!(ended);
            }
        }

        /// Cutting the framing anywhere before its end never reports the end.
        #[test]
        fn a_cut_body_never_ends(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..100), 1..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let wire = encode(&chunks, false, &[]);
            let at = cut.index(wire.len());
            let (_, ended) = decode_in_pieces(&wire[..at], &[7]).unwrap();
            prop_assert!(!ended);
        }

        /// Arbitrary bytes never panic the decoder, and never make it hand out an empty chunk.
        #[test]
        fn arbitrary_bytes_are_data_or_an_error(
            wire in prop::collection::vec(any::<u8>(), 0..400),
            pieces in prop::collection::vec(1usize..32, 1..4),
        ) {
            let _ = decode_in_pieces(&wire, &pieces);
        }
    }

    #[test]
    fn bare_line_feeds_and_uppercase_sizes_are_accepted() {
        let (data, ended) = decode_in_pieces(b"A\nabcdefghij\n0\n\n", &[3]).unwrap();
        assert_eq!(data, b"abcdefghij");
        assert!(ended);
    }

    #[test]
    fn a_request_body_is_held_to_crlf_clean_extensions_and_field_trailers() {
        for (wire, why) in [
            (
                &b"A\nabcdefghij\r\n0\r\n\r\n"[..],
                "a line ends in a bare LF",
            ),
            (b"2\r\nab\n0\r\n\r\n", "no line break after chunk data"),
            (b"2;x\ry\r\nab\r\n0\r\n\r\n", "a bare CR inside a line"),
            (
                b"2;x\0y\r\nab\r\n0\r\n\r\n",
                "a control character in a chunk extension",
            ),
            (
                b"2\r\nab\r\n0\r\nno colon\r\n\r\n",
                "a trailer line is not a header field",
            ),
            (
                b"2\r\nab\r\n0\r\nx y: 1\r\n\r\n",
                "a trailer line is not a header field",
            ),
            (b"2\r\nab\r\n0\r\nx: 1\n\r\n", "a line ends in a bare LF"),
        ] {
            assert_eq!(
                decode_with(wire, &[64], true),
                Err(FramingError(why)),
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
        // The same framings are read leniently from an upstream.
        let (data, _) = decode_in_pieces(b"A\nabcdefghij\r\n0\r\n\r\n", &[64]).unwrap();
        assert_eq!(data, b"abcdefghij");
    }

    #[test]
    fn malformed_framing_is_refused() {
        for (wire, why) in [
            (
                &b"zz\r\nab\r\n"[..],
                "chunk size is not a hexadecimal number",
            ),
            (b"\r\n", "chunk size is not a hexadecimal number"),
            (b"2 x\r\nab\r\n", "chunk size is not a hexadecimal number"),
            (b"2\r\nabX\r\n", "no line break after chunk data"),
            (b"2\r\nab\rX", "no line break after chunk data"),
            (b"10000000000000000\r\n", "chunk size too large"),
        ] {
            assert_eq!(
                decode_in_pieces(wire, &[64]),
                Err(FramingError(why)),
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
        let endless = vec![b'1'; MAX_LINE + 1];
        assert_eq!(
            decode_in_pieces(&endless, &[MAX_LINE + 1]),
            Err(FramingError("line too long"))
        );
        let mut huge_trailers = b"0\r\n".to_vec();
        for _ in 0..20 {
            huge_trailers.extend_from_slice(format!("x-t: {}\r\n", "v".repeat(1000)).as_bytes());
        }
        assert_eq!(
            decode_in_pieces(&huge_trailers, &[512]),
            Err(FramingError("trailers too large"))
        );
    }
}
