//! JSON strings written fast: the escaper translation uses for long text (message content,
//! tool descriptions and arguments, thinking) and for the hot stream events.
//!
//! serde_json escapes a string one byte at a time through a 256-entry table (~9 instructions per
//! byte, measured); prose and code rarely need an escape, so this escaper looks at sixteen bytes
//! at a time (two words, each checked with a bit trick) and copies the runs between escapes
//! whole. Its output is byte for byte what serde_json writes (`\"`, `\\`, `\b \f \n \r \t`, `\u00XX` in lower-case hex for other control
//! characters; nothing else escaped), checked by a property test.
//!
//! Owns: escaping, the serde adapter that hands an escaped string to serde_json verbatim, and
//! reading a body with its UTF-8 checked once ([`from_slice`]).
//! Must not: change what a string says, or be used with a serializer that is not JSON.

use bytes::BufMut;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use std::cell::Cell;

/// Below this length serde_json's own escaper is as cheap: the verbatim route has a fixed cost
/// (the scratch buffer, the copy out of it).
const VERBATIM_FROM: usize = 32;

/// A scratch buffer larger than this after use is let go rather than kept for the thread.
const SCRATCH_KEEP: usize = 64 * 1024;

const LO: u64 = u64::from_ne_bytes([0x01; 8]);
const HI: u64 = u64::from_ne_bytes([0x80; 8]);

/// Whether any of the eight bytes needs an escape: a control character (< 0x20), `"` or `\`.
#[inline]
fn word_needs_escape(w: u64) -> bool {
    let control = w.wrapping_sub(LO * 0x20) & !w & HI;
    let q = w ^ (LO * u64::from(b'"'));
    let quote = q.wrapping_sub(LO) & !q & HI;
    let b = w ^ (LO * u64::from(b'\\'));
    let backslash = b.wrapping_sub(LO) & !b & HI;
    (control | quote | backslash) != 0
}

/// The escape for one byte, or `None` when it stands for itself.
#[inline]
fn escape_of(byte: u8) -> Option<&'static str> {
    Some(match byte {
        b'"' => "\\\"",
        b'\\' => "\\\\",
        b'\n' => "\\n",
        b'\r' => "\\r",
        b'\t' => "\\t",
        0x08 => "\\b",
        0x0c => "\\f",
        0x00..=0x1f => CONTROL[byte as usize],
        _ => return None,
    })
}

/// `\u00XX` for every control character (only the ones without a short escape are used).
static CONTROL: [&str; 32] = [
    "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
    "\\u0008", "\\u0009", "\\u000a", "\\u000b", "\\u000c", "\\u000d", "\\u000e", "\\u000f",
    "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
    "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
];

/// Hands `s` as a JSON string literal, quotes included, to `put` piece by piece: the runs that
/// need no escape whole, each escape on its own.
fn escape_with(s: &str, mut put: impl FnMut(&str)) {
    let bytes = s.as_bytes();
    put("\"");
    let mut run = 0; // start of the bytes not yet handed over
    let mut i = 0;
    while i < bytes.len() {
        // Sixteen bytes at a time while none needs an escape.
        if let Some(block) = bytes.get(i..i + 16) {
            let (a, b) = block.split_at(8);
            let a = u64::from_ne_bytes(a.try_into().expect("eight bytes"));
            let b = u64::from_ne_bytes(b.try_into().expect("eight bytes"));
            if !word_needs_escape(a) && !word_needs_escape(b) {
                i += 16;
                continue;
            }
        }
        // A block with an escape, or the last partial one: byte by byte to its end.
        let end = (i + 16).min(bytes.len());
        while i < end {
            if let Some(esc) = escape_of(bytes[i]) {
                // Escaped bytes are ASCII, so `run..i` lies on character boundaries.
                put(&s[run..i]);
                put(esc);
                run = i + 1;
            }
            i += 1;
        }
    }
    put(&s[run..]);
    put("\"");
}

/// Appends `s` as a JSON string literal, quotes included.
pub fn escape_into<B: BufMut + ?Sized>(out: &mut B, s: &str) {
    escape_with(s, |piece| out.put_slice(piece.as_bytes()));
}

thread_local! {
    /// The thread's escape buffer, taken out while in use (a use inside a use, or one after the
    /// thread's storage is gone, just starts an empty one).
    static SCRATCH: Cell<String> = const { Cell::new(String::new()) };
}

/// The struct name through which serde_json's serializers recognise a raw value and write it
/// verbatim (what `serde_json::value::RawValue` itself serializes as). `RawValue` offers no
/// way to make one from text known to be valid without parsing it again (+~2.2 instructions a
/// byte, measured), so the escaped text goes through the same door. The tests below fail if a
/// serde_json release changes it: the text would come out wrapped in an object.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Text that is already a JSON value, written verbatim by serde_json.
struct Verbatim<'a>(&'a str);

impl Serialize for Verbatim<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut st = ser.serialize_struct(RAW_VALUE_TOKEN, 1)?;
        st.serialize_field(RAW_VALUE_TOKEN, self.0)?;
        st.end()
    }
}

/// `serialize_with` for a long text field: escaped here and handed to serde_json verbatim.
/// Short strings take serde_json's own route.
pub fn serialize<S: Serializer>(s: &str, ser: S) -> Result<S::Ok, S::Error> {
    if s.len() < VERBATIM_FROM {
        return ser.serialize_str(s);
    }
    let mut buf = SCRATCH.try_with(Cell::take).unwrap_or_default();
    buf.clear();
    buf.reserve(s.len() + 2);
    escape_with(s, |piece| buf.push_str(piece));
    let result = Verbatim(&buf).serialize(ser);
    if buf.capacity() <= SCRATCH_KEEP {
        // Kept for the thread's next string; dropped if its storage is already gone.
        let _ = SCRATCH.try_with(|cell| cell.set(buf));
    }
    result
}

/// [`serialize`] for an optional field; `None` writes `null` (pair it with
/// `skip_serializing_if = "Option::is_none"` to leave the field out instead).
pub fn serialize_opt<S: Serializer, T: AsRef<str>>(
    v: &Option<T>,
    ser: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(s) => serialize(s.as_ref(), ser),
        None => ser.serialize_none(),
    }
}

/// `serde_json::from_slice`, with the UTF-8 check done once for the whole body: `from_slice`
/// checks every string on its own (~100 instructions of fixed cost each, measured — more than
/// the parse of a short key), `from_str` trusts text already checked. Bytes that are not UTF-8
/// take `from_slice` for its exact error. For a body mostly skipped (a peek at a few fields)
/// `from_slice` is cheaper: it never checks the strings it skips.
pub fn from_slice<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(s: &str) -> String {
        let mut v = Vec::new();
        escape_into(&mut v, s);
        String::from_utf8(v).unwrap()
    }

    #[derive(serde::Serialize)]
    struct Field<'a> {
        #[serde(serialize_with = "serialize")]
        text: &'a str,
    }

    #[test]
    fn the_word_test_flags_exactly_the_words_holding_an_escapable_byte() {
        let escapable = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
        for filler in [0x20u8, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff] {
            for b in 0..=255u8 {
                for at in 0..8 {
                    let mut w = [filler; 8];
                    w[at] = b;
                    assert_eq!(
                        word_needs_escape(u64::from_ne_bytes(w)),
                        escapable(b) || escapable(filler),
                        "byte {b:#x} at {at} among {filler:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn one_escape_among_clean_bytes_at_every_position() {
        for b in 0..=0x7fu8 {
            for at in 0..40 {
                let mut s = "abcdefghijklmnopqrstuvwxyz0123456789ABCD"
                    .to_string()
                    .into_bytes();
                s[at] = b;
                let s = String::from_utf8(s).unwrap();
                assert_eq!(
                    ours(&s),
                    serde_json::to_string(&s).unwrap(),
                    "byte {b:#x} at {at}"
                );
            }
        }
    }

    #[test]
    fn every_byte_that_needs_an_escape_gets_serde_jsons_escape() {
        for b in 0u8..=0x7f {
            let s = format!("abc{}defghijkl", b as char);
            assert_eq!(ours(&s), serde_json::to_string(&s).unwrap(), "byte {b:#x}");
        }
        let s = "quote \" backslash \\ tab \t nul \0 del \x7f é✓ 漢字 😀";
        assert_eq!(ours(s), serde_json::to_string(s).unwrap());
    }

    #[test]
    fn a_long_field_is_written_as_serde_json_would() {
        let text = "line one\n\t\"quoted\" \\ é✓\u{1}".repeat(40);
        let via_ours = serde_json::to_string(&Field { text: &text }).unwrap();
        let plain = serde_json::to_string(&serde_json::json!({ "text": text })).unwrap();
        assert_eq!(via_ours, plain);
        // Into a `Value` too (serde_json parses raw values there).
        let v = serde_json::to_value(Field { text: &text }).unwrap();
        assert_eq!(v["text"], text.as_str());
    }

    #[test]
    fn from_slice_reads_and_refuses_as_serde_json_does() {
        let ok: serde_json::Value =
            from_slice("{\"a\":\"\\u00e9é\",\"b\":[1,2]}".as_bytes()).unwrap();
        assert_eq!(ok, serde_json::json!({"a": "éé", "b": [1, 2]}));
        for bad in [&b"{\"a\":\"\xff\"}"[..], b"{\"a\":", b"[1,]", b"\xff"] {
            let ours = from_slice::<serde_json::Value>(bad)
                .unwrap_err()
                .to_string();
            let theirs = serde_json::from_slice::<serde_json::Value>(bad)
                .unwrap_err()
                .to_string();
            assert_eq!(ours, theirs);
        }
    }

    proptest! {
        #[test]
        fn escapes_exactly_like_serde_json(s in ".*") {
            prop_assert_eq!(ours(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn escapes_mostly_plain_text_exactly_like_serde_json(
            s in "[a-z \"\\\\\n\t\u{0}-\u{1f}é✓]{0,300}",
        ) {
            prop_assert_eq!(ours(&s), serde_json::to_string(&s).unwrap());
            let field = serde_json::to_string(&Field { text: &s }).unwrap();
            prop_assert_eq!(field, serde_json::to_string(&serde_json::json!({ "text": s })).unwrap());
        }
    }
}
