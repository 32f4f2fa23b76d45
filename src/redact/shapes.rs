//! Key *shapes*: credentials dario never saw (`sk-…`, `Bearer …`, JWTs, `api_key=…`, URL
//! user-info), found by their form. One scanner, one set of lists ([`super::KEY_PREFIXES`],
//! [`super::CREDENTIAL_NAMES`], [`super::AUTH_SCHEMES`]), two reaches: [`Reach::Prose`] for error
//! text and log lines on the request path (a token must look random, so prose survives) and
//! [`Reach::Everything`] for the MCP server's blind final pass.
//!
//! Must not: allocate when nothing matches (the request path calls it on every error message).

use std::borrow::Cow;

use super::{AUTH_SCHEMES, CREDENTIAL_NAMES, KEY_PREFIXES, MASK};

/// How eagerly a token counts as a credential.
#[derive(Debug, Clone, Copy)]
pub struct Reach {
    /// Key bytes needed after a provider prefix.
    key_body: usize,
    /// Whether those bytes must include a digit.
    key_digit: bool,
    /// The shortest value after a credential name or an auth scheme.
    value: usize,
    /// Auth schemes (`Bearer`, `Basic`) whose following token is masked in running text.
    schemes: usize,
    /// `eyJ…` without a dot is a JWT from this many bytes on.
    jwt_undotted: usize,
    /// `eyJ….…` with a dot is a JWT from this many bytes on.
    jwt_dotted: usize,
}

impl Reach {
    /// Error text and log lines: a provider prefix needs 16+ key bytes with a digit, a named
    /// value or a bearer token 8+ bytes, a JWT two segments — so `sk-learn-style` or "the bearer
    /// of bad news" stay as written.
    pub const PROSE: Reach = Reach {
        key_body: 16,
        key_digit: true,
        value: 8,
        schemes: 1,
        jwt_undotted: usize::MAX,
        jwt_dotted: 17,
    };
    /// The MCP server's final pass, applied blindly to everything it returns: a provider prefix
    /// with 3+ key bytes, any named value, `Bearer`/`Basic` tokens, `eyJ` runs.
    pub const EVERYTHING: Reach = Reach {
        key_body: 3,
        key_digit: false,
        value: 1,
        schemes: 2,
        jwt_undotted: 16,
        jwt_dotted: 4,
    };
}

/// `text` with every key-shaped token replaced by [`MASK`] (error text and logs:
/// [`Reach::PROSE`]). Borrows when there is nothing to remove.
pub fn scrub_key_shapes(text: &str) -> Cow<'_, str> {
    let mut ranges = Vec::new(); // no allocation until a push
    mark(text, Reach::PROSE, &mut ranges);
    if ranges.is_empty() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(apply(text, ranges))
    }
}

/// Bytes that can be part of a credential token.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'/' | b'=' | b'~')
}

/// Bytes that continue a key after its prefix (stricter than [`is_token_byte`]: a key ends at
/// a `.`, `/` or `=` so trailing punctuation in prose survives).
pub(super) fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
}

fn at_word_start(bytes: &[u8], i: usize) -> bool {
    i == 0 || !bytes[i - 1].is_ascii_alphanumeric()
}

fn starts_with_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle)
}

/// Pushes the byte range of every credential-shaped token of `text`.
pub(super) fn mark(text: &str, reach: Reach, ranges: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(end) = mark_at(bytes, i, reach, ranges) {
            i = end;
        } else {
            i += 1;
        }
    }
}

/// If a credential starts at `i`: marks it and returns where scanning goes on.
fn mark_at(
    bytes: &[u8],
    i: usize,
    reach: Reach,
    ranges: &mut Vec<(usize, usize)>,
) -> Option<usize> {
    let rest = &bytes[i..];
    if at_word_start(bytes, i) {
        // Provider key prefixes (`sk-ant-api03-…`, `gsk_…`): the whole token, prefix included.
        if let Some(p) = KEY_PREFIXES.iter().find(|p| rest.starts_with(p.as_bytes())) {
            let body = i + p.len();
            let mut end = body;
            while end < bytes.len() && is_key_byte(bytes[end]) {
                end += 1;
            }
            if end - body >= reach.key_body
                && (!reach.key_digit || bytes[body..end].iter().any(u8::is_ascii_digit))
            {
                ranges.push((i, end));
                return Some(end);
            }
        }
        // JWT-like: `eyJ` + base64url segments.
        if rest.starts_with(b"eyJ") {
            let mut end = i + 3;
            let mut dots = 0;
            while end < bytes.len()
                && (is_key_byte(bytes[end]) || bytes[end] == b'.' || bytes[end] == b'=')
            {
                dots += usize::from(bytes[end] == b'.');
                end += 1;
            }
            let len = end - i;
            if (dots >= 1 && len >= reach.jwt_dotted) || len >= reach.jwt_undotted {
                ranges.push((i, end));
                return Some(end);
            }
        }
        // `Bearer <token>` / `Basic <token>` anywhere in text.
        if let Some(scheme) = AUTH_SCHEMES[..reach.schemes]
            .iter()
            .find(|s| starts_with_ci(rest, s.as_bytes()))
        {
            let after = i + scheme.len();
            if let Some((start, end)) = value_after(bytes, after, b" \t", reach) {
                if start > after {
                    ranges.push((start, end));
                    return Some(end);
                }
            }
        }
        // `name: value`, `"name": "value"`, `name=value` for credential names.
        if let Some(name) = CREDENTIAL_NAMES
            .iter()
            .filter(|n| starts_with_ci(rest, n.as_bytes()))
            .max_by_key(|n| n.len())
        {
            let after = i + name.len();
            let name_ends_word = after >= bytes.len()
                || !(bytes[after].is_ascii_alphanumeric() || matches!(bytes[after], b'_' | b'-'));
            if name_ends_word {
                if let Some((start, end)) = assigned_value(bytes, after, reach) {
                    ranges.push((start, end));
                    return Some(end);
                }
            }
        }
    }
    // URL user-info: `scheme://user:pass@host` → `scheme://***@host`.
    if rest.starts_with(b"://") {
        let start = i + 3;
        let mut end = start;
        while end < bytes.len()
            && !matches!(
                bytes[end],
                b'/' | b'@' | b' ' | b'"' | b'\'' | b'\n' | b'?' | b'#'
            )
        {
            end += 1;
        }
        if end < bytes.len() && bytes[end] == b'@' && end > start {
            ranges.push((start, end));
            return Some(end + 1);
        }
    }
    None
}

/// After a credential name: skips a closing quote, a `:` or `=` separator, spaces and an
/// opening quote, then returns the value (an auth scheme word is kept, its credential masked).
/// An unquoted run of fewer than 8 digits is a count, not a credential.
fn assigned_value(bytes: &[u8], mut j: usize, reach: Reach) -> Option<(usize, usize)> {
    if j < bytes.len() && matches!(bytes[j], b'"' | b'\'') {
        j += 1;
    }
    while j < bytes.len() && bytes[j] == b' ' {
        j += 1;
    }
    if j >= bytes.len() || !matches!(bytes[j], b':' | b'=') {
        return None;
    }
    j += 1;
    while j < bytes.len() && matches!(bytes[j], b' ' | b'\t') {
        j += 1;
    }
    let quoted = j < bytes.len() && matches!(bytes[j], b'"' | b'\'');
    if quoted {
        j += 1;
    }
    // Keep an auth scheme in front of the credential.
    for scheme in AUTH_SCHEMES {
        let s = scheme.as_bytes();
        if starts_with_ci(&bytes[j..], s)
            && bytes
                .get(j + s.len())
                .is_some_and(|b| *b == b' ' || *b == b'\t')
        {
            return value_after(bytes, j + s.len(), b" \t", reach);
        }
    }
    let (start, end) = value_after(bytes, j, b"", reach)?;
    if !quoted && end - start < 8 && bytes[start..end].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((start, end))
}

/// Skips `separators`, then returns the token that follows (if it is long enough and not
/// already a mask).
fn value_after(
    bytes: &[u8],
    mut j: usize,
    separators: &[u8],
    reach: Reach,
) -> Option<(usize, usize)> {
    while j < bytes.len() && separators.contains(&bytes[j]) {
        j += 1;
    }
    let start = j;
    while j < bytes.len() && is_token_byte(bytes[j]) {
        j += 1;
    }
    if j - start < reach.value.max(1) || bytes[start..j] == *MASK.as_bytes() {
        None
    } else {
        Some((start, j))
    }
}

/// Replaces the (possibly overlapping) byte ranges by [`MASK`], one mask for adjoining ranges.
/// Ranges are widened to character boundaries.
pub(super) fn apply(text: &str, mut ranges: Vec<(usize, usize)>) -> String {
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut last_masked_end: Option<usize> = None;
    for (start, end) in ranges {
        let start = start.max(pos);
        if end <= start {
            continue;
        }
        let start = floor_char_boundary(text, start);
        let end = ceil_char_boundary(text, end);
        out.push_str(&text[pos..start]);
        if last_masked_end != Some(start) || !out.ends_with(MASK) {
            out.push_str(MASK);
        }
        pos = end;
        last_masked_end = Some(end);
    }
    out.push_str(&text[pos..]);
    out
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prefix_of_the_one_list_reaches_error_text() {
        // Prefixes that only the MCP scrubber knew before the lists were merged (issue 18), and
        // those only the proxy path knew.
        for key in [
            "AKIAIOSFODNN7EXAMPLE",
            "rk-live0123456789abcdefgh",
            "glpat-0123456789abcdefghij",
            "fw_0123456789abcdefghij",
            "r8_0123456789abcdefghij",
            "csk-0123456789abcdefghij",
        ] {
            let text = format!("bad key {key} here");
            let out = scrub_key_shapes(&text);
            assert!(!out.contains(&key[5..]), "{out}");
        }
    }

    #[test]
    fn scrubs_key_shapes() {
        let cases = [
            (
                "invalid x-api-key sk-ant-api03-AbCdEf0123456789xyz_-QQ given",
                "invalid x-api-key *** given",
            ),
            (
                "Incorrect API key provided: sk-proj-abcDEF1234567890abcd.",
                "Incorrect API key provided: ***.",
            ),
            (
                "Authorization: Bearer abc.DEF-123_456~xyz",
                "Authorization: Bearer ***",
            ),
            (
                "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig_nature-x expired",
                "token *** expired",
            ),
            ("api_key=abcdef123456 rest", "api_key=*** rest"),
            (r#"{"api_key": "abcdef123456"}"#, r#"{"api_key": "***"}"#),
            ("groq gsk_0123456789abcdefABCDEF", "groq ***"),
        ];
        for (input, want) in cases {
            assert_eq!(scrub_key_shapes(input), want, "{input}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for s in [
            "use scikit-learn and sk-learn-style names",
            "task-12345678901234567890 is done",
            "max_tokens: 4096 exceeds the limit",
            "tokens: 12345678",
            "the bearer of bad news",
            "",
        ] {
            assert!(matches!(scrub_key_shapes(s), Cow::Borrowed(_)), "{s}");
        }
    }
}
