//! Error envelopes across protocols (TRANSLATION.md §5).
//!
//! Owns: reading any upstream error body (Anthropic, OpenAI, loose JSON, plain text), mapping
//! its type, and removing key-shaped strings from messages (`redact::scrub_key_shapes`). Must not: decide statuses beyond the
//! 529 → 503 rule for OpenAI clients.

use crate::protocol::{anthropic, openai};
use crate::redact::scrub_key_shapes;
use serde_json::Value;

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
    let scrubbed = scrub_key_shapes(&p.message).into_owned();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn json(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn openai_error_to_anthropic() {
        let body = br#"{"error":{"message":"Rate limit reached for sk-proj-abcdefghijklmnop1234","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        let v = json(&error_to_anthropic(429, body));
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(v["error"]["message"], "Rate limit reached for ***");
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
