//! The final redaction pass of the MCP server: every tool, resource and prompt result goes
//! through [`Redactor`] before it leaves the process.
//!
//! Owns: removing configured secret values (and every 8-character piece of them) and anything
//! shaped like a credential (`sk-…`, `sk-ant-…`, `Bearer …`, JWTs, `x-api-key` / `authorization`
//! values, `key=` query values, URL user-info). A match is replaced as a whole token by `***`, so
//! not even a key's prefix survives. Must not: depend on where the text came from — it is the
//! last line of defence, applied blindly to everything.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::redact::KEY_PREFIXES;

/// What a redacted token is replaced with.
pub const MASK: &str = "***";

/// Secret pieces of this many bytes or more are recognised anywhere (so a leaked prefix or
/// fragment of a configured key is caught, not only the whole key).
const WINDOW: usize = 8;

/// Configured secrets shorter than this are not matched (a one- or two-character "key" would
/// mask ordinary text and protects nothing).
const MIN_SECRET_LEN: usize = 3;

// Prefixes that mark a token as a provider API key: `redact::KEY_PREFIXES` (the crate's one list).

/// Header or parameter names whose value is a credential (compared case-insensitively).
const SENSITIVE_NAMES: &[&str] = &[
    "x-api-key",
    "api-key",
    "api_key",
    "apikey",
    "x-goog-api-key",
    "authorization",
    "proxy-authorization",
    "key",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "bearer",
];

/// Authorization schemes kept in front of a masked credential (`Bearer ***`).
const AUTH_SCHEMES: &[&str] = &["bearer", "basic", "token", "digest"];

/// Scrubs secrets out of strings and JSON values.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Secrets shorter than [`WINDOW`]: matched whole.
    short: Vec<String>,
    /// Every [`WINDOW`]-byte piece of every longer secret.
    windows: HashSet<Vec<u8>>,
}

impl Redactor {
    /// A redactor for these secret values (empty and very short values are ignored).
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut short = Vec::new();
        let mut windows = HashSet::new();
        for secret in secrets {
            let bytes = secret.as_ref().trim().as_bytes();
            if bytes.len() < MIN_SECRET_LEN {
                continue;
            }
            if bytes.len() < WINDOW {
                let s = String::from_utf8_lossy(bytes).into_owned();
                if !short.contains(&s) {
                    short.push(s);
                }
            } else {
                for w in bytes.windows(WINDOW) {
                    windows.insert(w.to_vec());
                }
            }
        }
        // Longest first, so a secret that contains another is masked whole.
        short.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { short, windows }
    }

    /// The secrets dario's own environment holds even when no config could be loaded:
    /// `DARIO_API_KEY` and variables named like provider keys (`*_API_KEY`, `*_AUTH_TOKEN`,
    /// `*_ACCESS_TOKEN`).
    pub fn env_secrets() -> Vec<String> {
        std::env::vars()
            .filter(|(name, value)| {
                let upper = name.to_ascii_uppercase();
                !value.is_empty()
                    && (upper == "DARIO_API_KEY"
                        || upper.ends_with("_API_KEY")
                        || upper.ends_with("_AUTH_TOKEN")
                        || upper.ends_with("_ACCESS_TOKEN"))
            })
            .map(|(_, value)| value)
            .collect()
    }

    /// Whether this redactor knows any configured secret (pattern rules always apply).
    pub fn has_secrets(&self) -> bool {
        !self.short.is_empty() || !self.windows.is_empty()
    }

    /// `text` with every secret and key-shaped token replaced by `***`.
    pub fn scrub_str(&self, text: &str) -> String {
        let mut ranges = Vec::new();
        self.mark_secrets(text, &mut ranges);
        mark_patterns(text, &mut ranges);
        if ranges.is_empty() {
            return text.to_string();
        }
        apply(text, ranges)
    }

    /// Scrubs every string (and object key) of a JSON value in place; values of fields named
    /// like credentials (`x-api-key`, `authorization`, `token`, …) are masked whole.
    pub fn scrub_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                let scrubbed = self.scrub_str(s);
                if scrubbed != *s {
                    *s = scrubbed;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_value(v)),
            Value::Object(map) => {
                let old = std::mem::take(map);
                for (key, mut v) in old {
                    if is_sensitive_name(&key) {
                        mask_credential_value(&mut v);
                    }
                    self.scrub_value(&mut v);
                    map.insert(self.scrub_str(&key), v);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Scrubs any serialisable result by a round trip through JSON. This is the tool boundary:
    /// structured content, text content, resource text and `_meta` alike.
    pub fn scrub<T: Serialize + DeserializeOwned>(&self, item: T) -> Result<T, serde_json::Error> {
        let mut value = serde_json::to_value(&item)?;
        self.scrub_value(&mut value);
        serde_json::from_value(value)
    }

    fn mark_secrets(&self, text: &str, ranges: &mut Vec<(usize, usize)>) {
        let bytes = text.as_bytes();
        if !self.windows.is_empty() && bytes.len() >= WINDOW {
            for i in 0..=bytes.len() - WINDOW {
                if self.windows.contains(&bytes[i..i + WINDOW]) {
                    ranges.push(widen_to_token(bytes, i, i + WINDOW));
                }
            }
        }
        for secret in &self.short {
            let mut from = 0;
            while let Some(pos) = text[from..].find(secret.as_str()) {
                let start = from + pos;
                let end = start + secret.len();
                ranges.push(widen_to_token(bytes, start, end));
                from = end;
            }
        }
    }
}

fn is_sensitive_name(name: &str) -> bool {
    let name = name.trim().trim_matches(|c| c == '"' || c == '\'');
    SENSITIVE_NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Masks a credential-bearing JSON field: strings become `***` (keeping an auth scheme), other
/// scalars are left alone (a numeric "token" count is not a secret).
fn mask_credential_value(value: &mut Value) {
    if let Value::String(s) = value {
        if s.is_empty() || s == MASK {
            return;
        }
        let trimmed = s.trim_start();
        if let Some((scheme, rest)) = trimmed.split_once(char::is_whitespace) {
            if AUTH_SCHEMES.iter().any(|a| a.eq_ignore_ascii_case(scheme)) && !rest.is_empty() {
                *s = format!("{scheme} {MASK}");
                return;
            }
        }
        *s = MASK.to_string();
    }
}

/// Bytes that can be part of a credential token.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'/' | b'=' | b'~')
}

/// Bytes that continue a key after its prefix (stricter than [`is_token_byte`]: a key ends at
/// a `.`, `/` or `=` so trailing punctuation in prose survives).
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
}

/// Grows `[start, end)` to the surrounding token so a partial match masks the whole key.
fn widen_to_token(bytes: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start > 0 && is_key_byte(bytes[start - 1]) {
        start -= 1;
    }
    while end < bytes.len() && is_key_byte(bytes[end]) {
        end += 1;
    }
    (start, end)
}

fn at_word_start(bytes: &[u8], i: usize) -> bool {
    i == 0 || !bytes[i - 1].is_ascii_alphanumeric()
}

fn starts_with_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle)
}

/// Marks credential-shaped tokens.
fn mark_patterns(text: &str, ranges: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        // Provider key prefixes: `sk-ant-api03-…`, `gsk_…`. At least three key bytes after
        // the prefix (so the prose word "sk-" alone is left), whole token masked.
        if at_word_start(bytes, i) {
            if let Some(p) = KEY_PREFIXES.iter().find(|p| rest.starts_with(p.as_bytes())) {
                let mut end = i + p.len();
                while end < bytes.len() && is_key_byte(bytes[end]) {
                    end += 1;
                }
                if end - (i + p.len()) >= 3 {
                    ranges.push((i, end));
                    i = end;
                    continue;
                }
            }
            // JWT-like: `eyJ` + base64url, at least one `.` (or long enough on its own).
            if rest.starts_with(b"eyJ") {
                let mut end = i + 3;
                let mut dots = 0;
                while end < bytes.len()
                    && (is_key_byte(bytes[end]) || bytes[end] == b'.' || bytes[end] == b'=')
                {
                    if bytes[end] == b'.' {
                        dots += 1;
                    }
                    end += 1;
                }
                if dots >= 1 || end - i >= 16 {
                    ranges.push((i, end));
                    i = end;
                    continue;
                }
            }
            // `Bearer <token>` / `Basic <token>` anywhere in text.
            if let Some(scheme) = AUTH_SCHEMES[..2]
                .iter()
                .find(|s| starts_with_ci(rest, s.as_bytes()))
            {
                let after = i + scheme.len();
                if let Some((start, end)) = value_after(bytes, after, b" \t") {
                    if start > after {
                        ranges.push((start, end));
                        i = end;
                        continue;
                    }
                }
            }
            // `name: value`, `"name": "value"`, `name=value` for credential names.
            if let Some(name) = SENSITIVE_NAMES
                .iter()
                .filter(|n| starts_with_ci(rest, n.as_bytes()))
                .max_by_key(|n| n.len())
            {
                let after = i + name.len();
                let name_ends_word = after >= bytes.len()
                    || !(bytes[after].is_ascii_alphanumeric()
                        || matches!(bytes[after], b'_' | b'-'));
                if name_ends_word {
                    if let Some((start, end)) = assigned_value(bytes, after) {
                        ranges.push((start, end));
                        i = end;
                        continue;
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
                i = end + 1;
                continue;
            }
        }
        i += 1;
    }
}

/// After a credential name: skips a closing quote, a `:` or `=` separator, spaces and an
/// opening quote, then returns the value (an auth scheme word is kept, its credential masked).
fn assigned_value(bytes: &[u8], mut j: usize) -> Option<(usize, usize)> {
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
            return value_after(bytes, j + s.len(), b" \t");
        }
    }
    let start = j;
    let mut end = j;
    while end < bytes.len() && is_token_byte(bytes[end]) {
        end += 1;
    }
    // An already masked or empty value needs nothing; a JSON `null`/number is not a secret.
    if end == start || bytes[start..end] == *MASK.as_bytes() {
        return None;
    }
    if !quoted && bytes[start..end].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((start, end))
}

/// Skips `separators`, then returns the token that follows (if any).
fn value_after(bytes: &[u8], mut j: usize, separators: &[u8]) -> Option<(usize, usize)> {
    while j < bytes.len() && separators.contains(&bytes[j]) {
        j += 1;
    }
    let start = j;
    while j < bytes.len() && is_token_byte(bytes[j]) {
        j += 1;
    }
    if j == start || bytes[start..j] == *MASK.as_bytes() {
        None
    } else {
        Some((start, j))
    }
}

/// Replaces the (possibly overlapping) byte ranges by `***`. Range ends are always at ASCII
/// bytes or string ends, so slicing stays on character boundaries.
fn apply(text: &str, mut ranges: Vec<(usize, usize)>) -> String {
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
    use serde_json::json;

    fn none() -> Redactor {
        Redactor::new(Vec::<String>::new())
    }

    #[test]
    fn configured_secret_is_masked_whole_and_in_pieces() {
        let secret = "QzX9-canary-8f3Kd0p7LmN2";
        let r = Redactor::new([secret]);
        assert_eq!(r.scrub_str(&format!("key is {secret}.")), "key is ***.");
        // A fragment (8 bytes or more) anywhere is masked as a whole token.
        let out = r.scrub_str("leaked prefix QzX9-canary… in a log");
        assert!(!out.contains("canary"), "{out}");
        let out = r.scrub_str("tail: y8f3Kd0p7LmN2 end");
        assert!(!out.contains("8f3Kd0p7"), "{out}");
        assert!(out.starts_with("tail: ***"), "{out}");
        // No 8-byte piece of the secret survives anywhere.
        let text = format!("a{secret}b {secret} x{}", &secret[5..17]);
        let out = r.scrub_str(&text);
        for w in secret.as_bytes().windows(8) {
            assert!(!out.contains(std::str::from_utf8(w).unwrap()), "{out}");
        }
    }

    #[test]
    fn short_secret_is_masked_exactly() {
        let r = Redactor::new(["abc1234", "", "xy"]);
        assert_eq!(r.scrub_str("v=abc1234 and xy stays"), "v=*** and xy stays");
    }

    #[test]
    fn provider_keys_lose_even_their_prefix() {
        let r = none();
        for (input, expect) in [
            ("key sk-ant-api03-AbCdEf123_- done", "key *** done"),
            ("sk-ant-api03-…", "***…"),
            ("openrouter sk-or-v1-0123456789abcdef", "openrouter ***"),
            ("groq gsk_abcdefghijklmnop", "groq ***"),
            ("(sk-proj-xyz)", "(***)"),
        ] {
            assert_eq!(r.scrub_str(input), expect, "{input}");
        }
        // Words that merely contain the letters are untouched.
        assert_eq!(
            r.scrub_str("task-runner disk-usage"),
            "task-runner disk-usage"
        );
        assert_eq!(r.scrub_str("sk- alone"), "sk- alone");
    }

    #[test]
    fn bearer_and_jwt() {
        let r = none();
        assert_eq!(
            r.scrub_str("Authorization: Bearer abc.def-ghi"),
            "Authorization: Bearer ***"
        );
        assert_eq!(r.scrub_str("bearer xyz123"), "bearer ***");
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        assert_eq!(r.scrub_str(&format!("token {jwt} end")), "token *** end");
        assert_eq!(r.scrub_str("eyJ"), "eyJ");
    }

    #[test]
    fn header_and_parameter_values() {
        let r = none();
        assert_eq!(r.scrub_str("x-api-key: plainvalue123"), "x-api-key: ***");
        assert_eq!(
            r.scrub_str(r#"{"x-api-key":"plainvalue123","n":1}"#),
            r#"{"x-api-key":"***","n":1}"#
        );
        assert_eq!(
            r.scrub_str("https://host/v1?key=abcdef&x=1"),
            "https://host/v1?key=***&x=1"
        );
        assert_eq!(
            r.scrub_str("Authorization: Basic dXNlcjpw"),
            "Authorization: Basic ***"
        );
        assert_eq!(r.scrub_str("api_key = 'quoted-val'"), "api_key = '***'");
        // Names that only start like a credential name are not credentials.
        assert_eq!(r.scrub_str("keyboard: yes"), "keyboard: yes");
        assert_eq!(r.scrub_str("tokens: 1234"), "tokens: 1234");
        assert_eq!(
            r.scrub_str("key_env = GROQ_API_KEY"),
            "key_env = GROQ_API_KEY"
        );
    }

    #[test]
    fn url_userinfo() {
        let r = none();
        assert_eq!(
            r.scrub_str("https://user:pa55@gateway.example/v1"),
            "https://***@gateway.example/v1"
        );
        assert_eq!(
            r.scrub_str("https://api.openai.com/v1"),
            "https://api.openai.com/v1"
        );
    }

    #[test]
    fn json_values_fields_and_keys() {
        let secret = "Canary-Secret-0987654321";
        let r = Redactor::new([secret]);
        let mut v = json!({
            "credential": {"kind": "key", "key": "plain-but-named-key"},
            "headers": {"Authorization": "Bearer zzz", "x-api-key": "whatever"},
            "tokens": 42,
            "token": 7,
            "list": [format!("has {secret} inside"), "sk-ant-api03-xyz"],
            secret: "as a key",
        });
        r.scrub_value(&mut v);
        let s = v.to_string();
        assert!(!s.contains("Canary-S"), "{s}");
        assert!(!s.contains("plain-but"), "{s}");
        assert!(!s.contains("zzz"), "{s}");
        assert!(!s.contains("whatever"), "{s}");
        assert!(!s.contains("sk-ant"), "{s}");
        assert_eq!(v["headers"]["Authorization"], "Bearer ***");
        assert_eq!(v["tokens"], 42);
        assert_eq!(v["token"], 7);
        assert_eq!(v["list"][0], "has *** inside");
    }

    #[test]
    fn idempotent_and_utf8_safe() {
        let r = Redactor::new(["ümlaut-secret-value"]);
        let once = r.scrub_str("é ümlaut-secret-value ü sk-ant-xyz ✓");
        assert_eq!(once, "é *** ü *** ✓");
        assert_eq!(r.scrub_str(&once), once);
    }

    #[test]
    fn round_trip_through_serde() {
        #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Out {
            text: String,
        }
        let r = Redactor::new(["supersecretvalue"]);
        let out = r
            .scrub(Out {
                text: "a supersecretvalue b".into(),
            })
            .unwrap();
        assert_eq!(out.text, "a *** b");
    }
}
