//! The matcher of configured secrets: every key dario holds — whole, or any run of 8 or more of
//! its bytes — is found in whatever dario relays from an upstream (headers, JSON bodies, stream
//! events, error bodies) or writes itself, and masked at the same length (`*` per byte).
//!
//! Owns: the matcher (built once per config snapshot), same-length masking, and the stream
//! scrubber, which holds back at most 7 bytes at a chunk's end. Must not: buffer a stream, change
//! a body's length (a mask is as long as what it hides, so `content-length` stays true), copy or
//! allocate when nothing matches, or print a secret or any part of one.

use std::borrow::Cow;
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use bytes::{Bytes, BytesMut};

/// The shortest run of a secret that is masked on its own.
pub const FRAGMENT: usize = 8;
/// Secrets shorter than this are ignored (too short to tell from ordinary text).
const MIN_SECRET: usize = 4;
/// The mask byte: a run is masked as `*` per byte (the same character as [`super::MASK`]).
const MASK: u8 = super::MASK.as_bytes()[0];
const GRAM_WORDS: usize = (1 << 16) / 64;

/// The two hashes of a gram: 16 bits each, a word index and a bit mask per table.
const GRAM_MULTIPLIERS: [u32; 2] = [0x9E37_79B1, 0x85EB_CA77];

fn gram_bit(gram: u32, table: usize) -> (usize, u64) {
    let h = (gram.wrapping_mul(GRAM_MULTIPLIERS[table]) >> 16) as usize;
    (h >> 6, 1 << (h & 63))
}

/// Masks configured secrets. Cheap to clone; empty (and free) when no secret is configured.
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Option<Arc<Matcher>>,
}

struct Matcher {
    /// Every 8-byte window of every secret (a secret shorter than 8 bytes: itself).
    ac: AhoCorasick,
    /// Which 4-byte grams occur in a secret (two 2^16-bit tables indexed by two hashes of the
    /// gram, a Bloom filter), when every secret is at least 7 bytes long; see [`Matcher::finds`].
    grams: Option<Box<[[u64; GRAM_WORDS]; 2]>>,
    /// Bytes that occur in some secret: only a run of them can continue a fragment.
    alphabet: [bool; 256],
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor(***)")
    }
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut windows: Vec<&[u8]> = Vec::new();
        let mut alphabet = [false; 256];
        let mut grams = Some(Box::new([[0u64; GRAM_WORDS]; 2]));
        for s in secrets {
            let s = s.as_bytes();
            if s.len() < MIN_SECRET {
                continue;
            }
            s.iter().for_each(|&b| alphabet[b as usize] = true);
            if s.len() < FRAGMENT - 1 {
                grams = None; // too short to always contain an aligned gram: no prefilter
            }
            if let Some(tables) = grams.as_mut() {
                for g in s.windows(4) {
                    let g = u32::from_le_bytes([g[0], g[1], g[2], g[3]]);
                    for (t, table) in tables.iter_mut().enumerate() {
                        let (word, bit) = gram_bit(g, t);
                        table[word] |= bit;
                    }
                }
            }
            if s.len() <= FRAGMENT {
                windows.push(s);
            } else {
                windows.extend(s.windows(FRAGMENT));
            }
        }
        if windows.is_empty() {
            return Redactor::default();
        }
        windows.sort_unstable();
        windows.dedup();
        match AhoCorasick::new(&windows) {
            Ok(ac) => Redactor {
                inner: Some(Arc::new(Matcher {
                    ac,
                    grams,
                    alphabet,
                })),
            },
            // Only a pattern set beyond the automaton's size limits fails; mask nothing rather
            // than refuse to serve (the key-shape scrubber still runs on error text).
            Err(_) => Redactor::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_none()
    }

    /// Whether `bytes` contain a secret or a run of one.
    pub fn finds(&self, bytes: &[u8]) -> bool {
        self.inner.as_ref().is_some_and(|m| m.finds(bytes))
    }

    /// Masks every secret run in `bytes` (`*` per byte); true when something was masked.
    pub fn mask_in_place(&self, bytes: &mut [u8]) -> bool {
        let ranges = self.runs(bytes);
        for &(start, end) in &ranges {
            bytes[start..end].fill(MASK);
        }
        !ranges.is_empty()
    }

    /// The byte ranges of every secret run in `bytes` (overlapping windows of one run merged);
    /// empty, without allocating, when nothing matches.
    pub fn runs(&self, bytes: &[u8]) -> Vec<(usize, usize)> {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        let Some(m) = &self.inner else { return ranges };
        if !m.finds(bytes) {
            return ranges;
        }
        for hit in m.ac.find_overlapping_iter(bytes) {
            match ranges.last_mut() {
                Some(last) if hit.start() <= last.1 => last.1 = last.1.max(hit.end()),
                _ => ranges.push((hit.start(), hit.end())),
            }
        }
        ranges
    }

    /// `bytes` with every secret run masked (the same `Bytes` when nothing matched).
    pub fn scrub_bytes(&self, bytes: Bytes) -> Bytes {
        if !self.finds(&bytes) {
            return bytes;
        }
        let mut owned = BytesMut::from(&bytes[..]);
        self.mask_in_place(&mut owned);
        owned.freeze()
    }

    /// `text` with every secret run masked (borrowed when nothing matched).
    pub fn scrub_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.finds(text.as_bytes()) {
            return Cow::Borrowed(text);
        }
        let mut bytes = text.as_bytes().to_vec();
        self.mask_in_place(&mut bytes);
        // A mask may cut a multi-byte character of a secret; replace what no longer decodes.
        Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Text leaving dario on the request path (upstream error messages, log lines): configured
    /// secrets masked, then key shapes ([`super::scrub_key_shapes`]). Borrowed when clean.
    pub fn scrub_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.scrub_str(text) {
            Cow::Borrowed(t) => super::scrub_key_shapes(t),
            Cow::Owned(t) => Cow::Owned(super::scrub_key_shapes(&t).into_owned()),
        }
    }

    /// A scrubber for one relayed body, fed chunk by chunk.
    pub fn stream(&self) -> StreamScrubber {
        StreamScrubber {
            redactor: self.clone(),
            tail: BytesMut::new(),
        }
    }
}

impl Matcher {
    /// Whether `bytes` contain a secret run. Every run of 8 (or a whole secret of 7+) bytes
    /// covers a whole 4-byte block at an offset that is a multiple of 4, so only those blocks
    /// are looked up in the gram filter — a multiply and a bit test per 4 bytes, read 8 at a
    /// time — and the automaton runs only around a block that occurs in a secret (12 bytes:
    /// every 8-byte window covering the block). Measured with callgrind on a 2 KiB JSON body:
    /// the automaton alone costs 16 instructions per byte for one key (46 for two), this 4.6.
    fn finds(&self, bytes: &[u8]) -> bool {
        let Some(tables) = &self.grams else {
            return self.ac.is_match(bytes);
        };
        let check = |at: usize, gram: u32| {
            let (word, bit) = gram_bit(gram, 0);
            if tables[0][word] & bit == 0 {
                return false;
            }
            let (word, bit) = gram_bit(gram, 1);
            tables[1][word] & bit != 0
                && self
                    .ac
                    .is_match(&bytes[at.saturating_sub(4)..(at + 8).min(bytes.len())])
        };
        let mut blocks = bytes.chunks_exact(8);
        for (n, block) in blocks.by_ref().enumerate() {
            let v = u64::from_le_bytes([
                block[0], block[1], block[2], block[3], block[4], block[5], block[6], block[7],
            ]);
            if check(n * 8, v as u32) || check(n * 8 + 4, (v >> 32) as u32) {
                return true;
            }
        }
        let rest = blocks.remainder();
        rest.len() >= 4 && {
            let at = bytes.len() - rest.len();
            check(at, u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]))
        }
    }

    /// How many bytes at the end of `bytes` could be the start of a secret run continued in the
    /// next chunk: the trailing run of secret bytes, at most `FRAGMENT - 1` (a longer one was
    /// matched, and masked, within this chunk already).
    fn carry(&self, bytes: &[u8]) -> usize {
        bytes
            .iter()
            .rev()
            .take(FRAGMENT - 1)
            .take_while(|&&b| self.alphabet[b as usize])
            .count()
    }
}

/// `text` with every whole occurrence of each secret (and of its JSON-escaped form) replaced by
/// [`super::MASK`], whatever its length: the text a file digest is taken over, so that a
/// rotated key leaves the digest alone and no raw credential is hashed into anything printed.
pub fn mask_whole<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = text.to_string();
    for raw in secrets {
        if raw.is_empty() {
            continue;
        }
        out = out.replace(raw, super::MASK);
        if let Ok(quoted) = serde_json::to_string(raw) {
            let escaped = &quoted[1..quoted.len() - 1];
            if escaped != raw {
                out = out.replace(escaped, super::MASK);
            }
        }
    }
    out
}

/// Scrubs a body as it is relayed. A chunk comes out as it went in (the same `Bytes`) unless it
/// matched or ends in bytes that could begin a secret run; those few bytes are held back and go
/// out with the next chunk (or [`StreamScrubber::flush`]), so a run split across two chunks is
/// still found.
pub struct StreamScrubber {
    redactor: Redactor,
    tail: BytesMut,
}

impl StreamScrubber {
    /// The scrubbed bytes of `chunk` that can go out now (possibly empty).
    pub fn feed(&mut self, chunk: Bytes) -> Bytes {
        let Some(m) = &self.redactor.inner else {
            return chunk;
        };
        if self.tail.is_empty() {
            let keep = m.carry(&chunk);
            if keep == 0 && !m.finds(&chunk) {
                return chunk;
            }
            let mut owned = BytesMut::from(&chunk[..]);
            self.redactor.mask_in_place(&mut owned);
            let keep = m.carry(&owned);
            self.tail = owned.split_off(owned.len() - keep);
            return owned.freeze();
        }
        let mut joined = std::mem::take(&mut self.tail);
        joined.extend_from_slice(&chunk);
        self.redactor.mask_in_place(&mut joined);
        let keep = m.carry(&joined);
        self.tail = joined.split_off(joined.len() - keep);
        joined.freeze()
    }

    /// The held-back bytes, at the end of the body.
    pub fn flush(&mut self) -> Option<Bytes> {
        (!self.tail.is_empty()).then(|| std::mem::take(&mut self.tail).freeze())
    }

    /// Whether bytes are held back.
    pub fn holding(&self) -> bool {
        !self.tail.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-ant-api03-Qw7Er9Ty1Ui3Op5As8Df0Gh2Jk4";

    fn leaks(text: &[u8]) -> bool {
        KEY.as_bytes()
            .windows(FRAGMENT)
            .any(|w| text.windows(FRAGMENT).any(|t| t == w))
    }

    #[test]
    fn whole_prefix_and_middle_runs_are_masked_at_the_same_length() {
        let r = Redactor::new([KEY, "short"]);
        let text = format!("a {KEY} b {} c {} d short e", &KEY[..10], &KEY[15..24]);
        let out = r.scrub_str(&text);
        assert!(!leaks(out.as_bytes()), "{out}");
        assert!(!out.contains("short"));
        assert_eq!(out.len(), text.len());
        assert!(out.starts_with("a *****") && out.ends_with(" e"), "{out}");
        // Seven bytes of a key are not a run worth hiding (and too common to tell apart).
        assert_eq!(r.scrub_str(&KEY[3..10]), &KEY[3..10]);
        assert!(matches!(r.scrub_str("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn empty_redactor_is_free() {
        let r = Redactor::new(["abc"]);
        assert!(r.is_empty());
        let chunk = Bytes::from_static(b"sk-ant-whatever");
        let mut s = r.stream();
        let out = s.feed(chunk.clone());
        assert_eq!(out.as_ptr(), chunk.as_ptr());
    }

    #[test]
    fn a_run_split_at_every_position_across_two_chunks_is_masked() {
        let r = Redactor::new([KEY]);
        let body = format!("{{\"text\":\"x {} y\"}}", &KEY[12..30]);
        for cut in 0..=body.len() {
            let mut s = r.stream();
            let mut out = Vec::new();
            out.extend_from_slice(&s.feed(Bytes::copy_from_slice(&body.as_bytes()[..cut])));
            out.extend_from_slice(&s.feed(Bytes::copy_from_slice(&body.as_bytes()[cut..])));
            if let Some(t) = s.flush() {
                out.extend_from_slice(&t);
            }
            assert_eq!(out.len(), body.len(), "cut {cut}");
            assert!(!leaks(&out), "cut {cut}: {}", String::from_utf8_lossy(&out));
        }
    }

    #[test]
    fn a_run_of_8_is_found_at_every_offset_and_every_key_position() {
        let r = Redactor::new([KEY]);
        assert!(
            r.inner.as_ref().unwrap().grams.is_some(),
            "the prefilter is on"
        );
        for start in 0..=KEY.len() - FRAGMENT {
            for pad in 0..8 {
                let text = format!("{}{} tail", "x".repeat(pad), &KEY[start..start + FRAGMENT]);
                assert!(
                    r.finds(text.as_bytes()),
                    "key offset {start}, text offset {pad}"
                );
            }
        }
        // A secret of 7 bytes keeps the prefilter; a shorter one turns it off, both are found.
        for (secret, prefiltered) in [("Ab3De6G", true), ("Ab3De", false)] {
            let r = Redactor::new([secret]);
            assert_eq!(r.inner.as_ref().unwrap().grams.is_some(), prefiltered);
            for pad in 0..8 {
                let text = format!("{}{secret}.", "y".repeat(pad));
                assert!(r.finds(text.as_bytes()), "{secret} at {pad}");
            }
        }
    }

    #[test]
    fn chunks_ending_outside_a_run_go_out_untouched() {
        let r = Redactor::new([KEY]);
        let mut s = r.stream();
        let chunk = Bytes::from_static(b"data: {\"text\":\"hello\"}\n\n");
        let out = s.feed(chunk.clone());
        assert_eq!(out.as_ptr(), chunk.as_ptr(), "no copy");
        assert!(!s.holding());
    }

    #[test]
    fn byte_by_byte_feeding_never_leaks() {
        let r = Redactor::new([KEY]);
        let body = format!("k={KEY}&m={}.", &KEY[5..17]);
        let mut s = r.stream();
        let mut out = Vec::new();
        for b in body.bytes() {
            out.extend_from_slice(&s.feed(Bytes::copy_from_slice(&[b])));
        }
        out.extend_from_slice(&s.flush().unwrap_or_default());
        assert_eq!(out.len(), body.len());
        assert!(!leaks(&out), "{}", String::from_utf8_lossy(&out));
    }
}
