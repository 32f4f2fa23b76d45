//! Ingress: what came in — which protocol and which chat endpoint ([`Inbound`]) — and a look at
//! the body just enough to route it (the top-level `model` and `stream`) without building a
//! document; later, a new `model` value spliced into the original bytes.
//!
//! Owns: the inbound request's shape, the borrowed scan and the splice. Must not: re-serialise a
//! body it only forwards, or know where the request goes.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::ProxyError;
use crate::protocol::Protocol;

/// Which kind of chat endpoint was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    /// `/v1/messages`, `/v1/chat/completions`, `/v1/responses`: a completion.
    Completion,
    /// `/v1/messages/count_tokens`: only counting (never a completion, never a fallback that
    /// cannot count).
    CountTokens,
}

/// One chat request as it came in: what every step after ingress reads of it.
#[derive(Debug)]
pub struct Inbound {
    pub protocol: Protocol,
    pub kind: ChatKind,
    pub parts: http::request::Parts,
    pub body: Bytes,
    pub peek: Peek,
}

/// What routing needs from a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peek {
    pub model: String,
    pub stream: bool,
    /// Byte range of the `model` value (including its quotes) in the body.
    pub model_span: std::ops::Range<usize>,
}

#[derive(Deserialize)]
struct Scan<'a> {
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(default)]
    stream: Option<serde_json::Value>,
}

/// Validates the body as one JSON object and extracts `model` and `stream`.
///
/// Unknown fields are skipped by serde without allocation; only `model` is copied out.
pub fn peek(body: &[u8]) -> Result<Peek, ProxyError> {
    if body.is_empty() {
        return Err(ProxyError::invalid(
            "request body is empty: send a JSON object with `model` and `messages` (`input` for /v1/responses)",
        ));
    }
    let scan: Scan<'_> = serde_json::from_slice(body).map_err(|e| {
        ProxyError::invalid(format!("request body is not a valid JSON object: {e}"))
    })?;
    let raw = scan
        .model
        .ok_or_else(|| ProxyError::invalid("`model` is required").with_param("model"))?;
    let model: String = serde_json::from_str(raw.get())
        .map_err(|_| ProxyError::invalid("`model` must be a string").with_param("model"))?;
    if model.is_empty() {
        return Err(ProxyError::invalid("`model` must not be empty").with_param("model"));
    }
    let stream = match scan.stream {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(b)) => b,
        Some(_) => {
            return Err(ProxyError::invalid("`stream` must be a boolean").with_param("stream"))
        }
    };
    // RawValue borrows from `body`: its offset is the span of the value.
    let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
    let end = start + raw.get().len();
    Ok(Peek {
        model,
        stream,
        model_span: start..end,
    })
}

/// Returns `body` with the `model` value replaced by `new_model`, every other byte unchanged.
pub fn splice_model(body: &[u8], span: &std::ops::Range<usize>, new_model: &str) -> Vec<u8> {
    let encoded = serde_json::to_string(new_model).unwrap_or_else(|_| "\"\"".into());
    let mut out = Vec::with_capacity(body.len() + encoded.len());
    out.extend_from_slice(&body[..span.start]);
    out.extend_from_slice(encoded.as_bytes());
    out.extend_from_slice(&body[span.end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peeks_and_splices_without_touching_the_rest() {
        let body = br#"{"z":1, "model" : "sonnet","big":123456789012345678901234567890,"u":"\u00e9\u6f22","stream":true}"#;
        let p = peek(body).unwrap();
        assert_eq!(p.model, "sonnet");
        assert!(p.stream);
        let out = splice_model(body, &p.model_span, "claude-sonnet-4-5");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"z":1, "model" : "claude-sonnet-4-5","big":123456789012345678901234567890,"u":"\u00e9\u6f22","stream":true}"#
        );
    }

    #[test]
    fn escaped_model_names() {
        let body = br#"{"model":"a\"b","messages":[]}"#;
        let p = peek(body).unwrap();
        assert_eq!(p.model, "a\"b");
        assert!(!p.stream);
    }

    #[test]
    fn rejects_bad_bodies() {
        assert!(peek(b"").is_err());
        assert!(peek(b"[1]").is_err());
        assert!(peek(b"{\"messages\":[]}").is_err());
        assert!(peek(b"{\"model\":5}").is_err());
        assert!(peek(b"{\"model\":\"x\",\"stream\":\"yes\"}").is_err());
        assert!(peek(b"{\"model\":\"x\"").is_err());
    }
}
