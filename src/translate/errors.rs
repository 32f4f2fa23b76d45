//! Error envelopes across protocols (TRANSLATION.md §5) and the secret scrubber.
//!
//! Owns: reading any upstream error body (Anthropic, OpenAI, loose JSON, plain text), mapping
//! its type, and removing key-shaped strings from messages. Must not: decide statuses beyond the
//! 529 → 503 rule for OpenAI clients.

use crate::protocol::{anthropic, openai};
use crate::redact::KEY_PREFIXES;
use serde_json::Value;
use std::borrow::Cow;

/// Longest upstream message carried over (longer ones are cut on a char boundary).
const MAX_MESSAGE: usize = 4000;

/// The Anthropic error type for a status, when the upstream gave none we recognise.
pub fn anthropic_error_type_for_status(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 | 403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        s if (400..500).contains(&s) => "invalid_request_error",
        _ => "api_error",
    }
}

/// The status an OpenAI client should see for an upstream status (529 is Anthropic-only).
pub fn error_status_for_openai(status: u16) -> u16 {
    if status == 529 {
        503
    } else {
        status
    }
}

fn openai_type_for_status(status: u16) -> &'static str {
    openai_type_for_anthropic(anthropic_error_type_for_status(status))
}

/// Anthropic error type → OpenAI error type.
fn openai_type_for_anthropic(t: &str) -> &'static str {
    match t {
        "invalid_request_error" => "invalid_request_error",
        "authentication_error" => "authentication_error",
        "permission_error" => "permission_error",
        "not_found_error" => "not_found_error",
        "request_too_large" => "invalid_request_error",
        "rate_limit_error" => "rate_limit_exceeded",
        "overloaded_error" | "api_error" | "timeout_error" => "server_error",
        "billing_error" => "insufficient_quota",
        _ => "server_error",
    }
}

/// OpenAI error type (or code) → Anthropic error type, if recognised.
pub(crate) fn anthropic_type_for_openai(t: &str) -> Option<&'static str> {
    Some(match t {
        "invalid_request_error" | "invalid_request" | "bad_request" => "invalid_request_error",
        "authentication_error" | "invalid_api_key" | "unauthorized" => "authentication_error",
        "permission_error" | "permission_denied" | "forbidden" => "permission_error",
        "not_found_error" | "model_not_found" | "not_found" => "not_found_error",
        "rate_limit_exceeded" | "rate_limit_error" | "tokens" | "requests" => "rate_limit_error",
        "insufficient_quota" => "rate_limit_error",
        "server_error" | "api_error" | "internal_error" => "api_error",
        "overloaded_error" | "service_unavailable" | "overloaded" => "overloaded_error",
        "request_too_large" => "request_too_large",
        _ => return None,
    })
}

const ANTHROPIC_TYPES: [&str; 10] = [
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
    "billing_error",
    "timeout_error",
];

/// What we could read out of an upstream error body.
struct Parsed {
    message: String,
    anthropic_type: Option<&'static str>,
    openai_type: Option<String>,
    code: Option<Value>,
    param: Option<Value>,
}

fn parse_upstream(status: u16, body: &[u8]) -> Parsed {
    let mut p = Parsed {
        message: String::new(),
        anthropic_type: None,
        openai_type: None,
        code: None,
        param: None,
    };
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let err = v.get("error").unwrap_or(&v);
        match err {
            Value::String(s) => p.message = s.clone(),
            Value::Object(o) => {
                p.message = o
                    .get("message")
                    .or_else(|| o.get("detail"))
                    .or_else(|| o.get("msg"))
                    .map(|m| match m {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or_default();
                let t = o.get("type").and_then(Value::as_str);
                let code = o.get("code");
                if let Some(t) = t {
                    if let Some(known) = ANTHROPIC_TYPES.iter().find(|k| **k == t) {
                        p.anthropic_type = Some(known);
                    } else {
                        p.anthropic_type = anthropic_type_for_openai(t);
                    }
                    p.openai_type = Some(t.to_owned());
                }
                // A specific code beats a generic type (`invalid_request_error` + code
                // `request_too_large`, `server_error` + `overloaded`).
                let generic = matches!(
                    p.anthropic_type,
                    None | Some("invalid_request_error") | Some("api_error")
                );
                if generic {
                    if let Some(c) = code
                        .and_then(Value::as_str)
                        .and_then(anthropic_type_for_openai)
                    {
                        p.anthropic_type = Some(c);
                    }
                }
                p.code = code.cloned().filter(|c| !c.is_null());
                p.param = o.get("param").cloned().filter(|c| !c.is_null());
            }
            _ => {}
        }
        if p.message.is_empty() {
            if let Some(Value::String(s)) = v.get("message").or_else(|| v.get("detail")) {
                p.message = s.clone();
            }
        }
    } else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if !text.is_empty() && !text.starts_with('<') {
            p.message = text.to_owned();
        }
    }
    if p.message.is_empty() {
        p.message = format!("upstream returned HTTP {status}");
    }
    let scrubbed = scrub_secrets(&p.message).into_owned();
    p.message = truncate(scrubbed, MAX_MESSAGE);
    p
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

pub(crate) fn anthropic_envelope(kind: &str, message: &str) -> Vec<u8> {
    let env = anthropic::ErrorEnvelope {
        kind: "error".into(),
        error: anthropic::ErrorBody {
            kind: kind.into(),
            message: message.into(),
        },
    };
    serde_json::to_vec(&env).unwrap_or_default()
}

pub(crate) fn openai_envelope(kind: &str, code: Option<Value>, message: &str) -> Vec<u8> {
    let env = openai::ErrorEnvelope {
        error: openai::ErrorBody {
            message: message.into(),
            kind: Some(kind.into()),
            param: Some(Value::Null),
            code: Some(code.unwrap_or(Value::Null)),
        },
    };
    serde_json::to_vec(&env).unwrap_or_default()
}

/// An upstream error body (any shape, maybe not JSON) → an Anthropic error envelope. The
/// message is kept (scrubbed of secrets); the type is mapped per TRANSLATION.md §5, falling back
/// to the status.
pub fn error_to_anthropic(status: u16, upstream_body: &[u8]) -> Vec<u8> {
    let p = parse_upstream(status, upstream_body);
    let kind = p
        .anthropic_type
        .unwrap_or_else(|| anthropic_error_type_for_status(status));
    anthropic_envelope(kind, &p.message)
}

/// An upstream error body (any shape) → an OpenAI error envelope
/// `{"error": {"message", "type", "param", "code"}}`. Pair it with [`error_status_for_openai`].
pub fn error_to_openai(status: u16, upstream_body: &[u8]) -> Vec<u8> {
    let p = parse_upstream(status, upstream_body);
    // An OpenAI-shaped body keeps its own type and code; an Anthropic one is mapped.
    let (kind, code) = match (&p.openai_type, p.anthropic_type) {
        (Some(t), Some(a)) if ANTHROPIC_TYPES.contains(&t.as_str()) => {
            let code = match a {
                "overloaded_error" => Some(Value::String("overloaded".into())),
                "request_too_large" => Some(Value::String("request_too_large".into())),
                "rate_limit_error" => Some(Value::String("rate_limit_exceeded".into())),
                _ => None,
            };
            (openai_type_for_anthropic(a).to_owned(), code)
        }
        (Some(t), _) => (t.clone(), p.code.clone()),
        (None, _) => (openai_type_for_status(status).to_owned(), p.code.clone()),
    };
    let env = openai::ErrorEnvelope {
        error: openai::ErrorBody {
            message: p.message,
            kind: Some(kind),
            param: Some(p.param.unwrap_or(Value::Null)),
            code: Some(code.unwrap_or(Value::Null)),
        },
    };
    serde_json::to_vec(&env).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Secret scrubbing.

const REDACTED: &str = "[redacted]";

// Key prefixes of common providers come from `redact::KEY_PREFIXES`; a token starting with one
// (at a word boundary) and having at least 16 more key characters including a digit is a key.

/// Names after which a value (`key=…`, `"api_key": "…"`, `x-api-key: …`) is a secret.
const KEY_NAMES: [&str; 7] = [
    "api_key",
    "api-key",
    "apikey",
    "access_token",
    "x-api-key",
    "token",
    "password",
];

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_token_char(b: u8) -> bool {
    is_key_char(b) || matches!(b, b'.' | b'~' | b'+' | b'/' | b'=')
}

/// Remove key-shaped strings from text: provider keys (`sk-…`, `sk-ant-…`, `gsk_…`, `AIza…`…),
/// `Bearer <token>`, JWT-like `eyJ….….…`, and values after `api_key=`/`token:`-like names. Each
/// becomes `[redacted]` whole (no prefix survives). Borrows when there is nothing to remove.
pub fn scrub_secrets(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `text` already copied to `out`
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !is_key_char(b[i - 1]);
        let hit = if boundary { secret_at(b, i) } else { None };
        match hit {
            Some((start, end)) => {
                let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
                o.push_str(&text[copied..start]);
                o.push_str(REDACTED);
                copied = end;
                i = end;
            }
            None => i += 1,
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

/// If a secret starts at `i`, the byte range to redact.
fn secret_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let rest = &b[i..];
    // Provider key prefixes.
    for p in KEY_PREFIXES {
        if rest.starts_with(p.as_bytes()) {
            let end = run(b, i + p.len(), is_key_char);
            let body = &b[i + p.len()..end];
            if body.len() >= 16 && body.iter().any(u8::is_ascii_digit) {
                return Some((i, end));
            }
        }
    }
    // Bearer tokens (keep the word, redact the token).
    if rest.len() > 7 && rest[..7].eq_ignore_ascii_case(b"bearer ") {
        let start = i + 7 + run_len(&b[i + 7..], |c| c == b' ');
        let end = run(b, start, is_token_char);
        if end - start >= 8 {
            return Some((start, end));
        }
    }
    // JWT-like: eyJ<b64url>.<b64url>[.<b64url>]
    if rest.starts_with(b"eyJ") {
        let b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        let e1 = run(b, i, b64);
        if e1 - i >= 10 && b.get(e1) == Some(&b'.') {
            let e2 = run(b, e1 + 1, b64);
            if e2 - e1 > 5 {
                let mut end = e2;
                if b.get(e2) == Some(&b'.') {
                    end = run(b, e2 + 1, b64);
                }
                return Some((i, end));
            }
        }
    }
    // name=value / name: value / "name": "value"
    for name in KEY_NAMES {
        if rest.len() > name.len() && rest[..name.len()].eq_ignore_ascii_case(name.as_bytes()) {
            let mut j = i + name.len();
            if b.get(j).is_some_and(|c| is_key_char(*c)) {
                continue; // part of a longer word (`tokens`, `token_count`)
            }
            j += run_len(&b[j..], |c| c == b'"' || c == b'\'');
            j += run_len(&b[j..], |c| c == b' ');
            if !matches!(b.get(j), Some(b'=') | Some(b':')) {
                continue;
            }
            j += 1;
            j += run_len(&b[j..], |c| c == b' ' || c == b'"' || c == b'\'');
            let end = run(b, j, is_token_char);
            if end - j >= 8 {
                return Some((j, end));
            }
        }
    }
    None
}

fn run(b: &[u8], from: usize, f: impl Fn(u8) -> bool) -> usize {
    from + run_len(&b[from.min(b.len())..], f)
}

fn run_len(b: &[u8], f: impl Fn(u8) -> bool) -> usize {
    b.iter().take_while(|c| f(**c)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn the_shared_prefix_list_reaches_error_text() {
        // Prefixes that only the MCP scrubber knew before the lists were merged (issue 18).
        for key in [
            "AKIAIOSFODNN7EXAMPLE",
            "rk-live0123456789abcdefgh",
            "glpat-0123456789abcdefghij",
            "fw_0123456789abcdefghij",
        ] {
            let text = format!("bad key {key} here");
            let out = scrub_secrets(&text);
            assert!(!out.contains(&key[5..]), "{out}");
        }
    }

    #[test]
    fn scrubs_key_shapes() {
        let cases = [
            (
                "invalid x-api-key sk-ant-api03-AbCdEf0123456789xyz_-QQ given",
                "invalid x-api-key [redacted] given",
            ),
            (
                "Incorrect API key provided: sk-proj-abcDEF1234567890abcd.",
                "Incorrect API key provided: [redacted].",
            ),
            (
                "Authorization: Bearer abc.DEF-123_456~xyz",
                "Authorization: Bearer [redacted]",
            ),
            (
                "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig_nature-x expired",
                "token [redacted] expired",
            ),
            ("api_key=abcdef123456 rest", "api_key=[redacted] rest"),
            (
                r#"{"api_key": "abcdef123456"}"#,
                r#"{"api_key": "[redacted]"}"#,
            ),
            ("groq gsk_0123456789abcdefABCDEF", "groq [redacted]"),
        ];
        for (input, want) in cases {
            assert_eq!(scrub_secrets(input), want, "{input}");
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
            assert!(matches!(scrub_secrets(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn openai_error_to_anthropic() {
        let body = br#"{"error":{"message":"Rate limit reached for sk-proj-abcdefghijklmnop1234","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        let v = json(&error_to_anthropic(429, body));
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(v["error"]["message"], "Rate limit reached for [redacted]");
    }

    #[test]
    fn anthropic_error_to_openai_table() {
        let table = [
            ("invalid_request_error", 400, "invalid_request_error"),
            ("authentication_error", 401, "authentication_error"),
            ("permission_error", 403, "permission_error"),
            ("not_found_error", 404, "not_found_error"),
            ("request_too_large", 413, "invalid_request_error"),
            ("rate_limit_error", 429, "rate_limit_exceeded"),
            ("api_error", 500, "server_error"),
            ("overloaded_error", 529, "server_error"),
        ];
        for (a, status, o) in table {
            let body = format!(r#"{{"type":"error","error":{{"type":"{a}","message":"m"}}}}"#);
            let v = json(&error_to_openai(status, body.as_bytes()));
            assert_eq!(v["error"]["type"], o, "{a}");
            assert_eq!(v["error"]["message"], "m");
            assert!(v["error"].get("param").is_some() && v["error"].get("code").is_some());
            // And back: the OpenAI type maps to the original Anthropic type (or its status).
            let back = json(&error_to_anthropic(
                status,
                &error_to_openai(status, body.as_bytes()),
            ));
            assert_eq!(back["error"]["type"], a, "{a} back");
        }
        assert_eq!(error_status_for_openai(529), 503);
        assert_eq!(error_status_for_openai(429), 429);
    }

    #[test]
    fn non_json_and_odd_shapes() {
        let v = json(&error_to_anthropic(502, b"Bad Gateway"));
        assert_eq!(v["error"]["type"], "api_error");
        assert_eq!(v["error"]["message"], "Bad Gateway");
        let v = json(&error_to_anthropic(503, b"<html>oops</html>"));
        assert_eq!(v["error"]["type"], "overloaded_error");
        assert_eq!(v["error"]["message"], "upstream returned HTTP 503");
        let v = json(&error_to_openai(404, br#"{"error":"model not found"}"#));
        assert_eq!(v["error"]["message"], "model not found");
        assert_eq!(v["error"]["type"], "not_found_error");
        let v = json(&error_to_openai(422, br#"{"detail":"bad field"}"#));
        assert_eq!(v["error"]["message"], "bad field");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        let v = json(&error_to_anthropic(400, b""));
        assert_eq!(v["error"]["message"], "upstream returned HTTP 400");
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "é".repeat(5000);
        let body = serde_json::to_vec(&serde_json::json!({"error": {"message": long}})).unwrap();
        let v = json(&error_to_anthropic(400, &body));
        assert!(v["error"]["message"].as_str().unwrap().len() <= MAX_MESSAGE + 3);
    }
}
