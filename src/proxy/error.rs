//! `ProxyError`: every error dario itself produces on the request path, rendered as JSON in the
//! *caller's* protocol with the right status (SPEC §2).
//!
//! Owns: the two error envelopes and the status ↔ type tables. Must not: carry secrets — messages
//! are written by dario, and upstream text reaching here must already be scrubbed.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use crate::protocol::Protocol;

/// The kind of failure, one per Anthropic error type (OpenAI types are derived).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    /// A path dario does not serve (not a model problem).
    UnknownEndpoint,
    MethodNotAllowed,
    RequestTooLarge,
    RateLimit,
    Api,
    Overloaded,
    NotImplemented,
    Timeout,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Authentication => StatusCode::UNAUTHORIZED,
            ErrorKind::Permission => StatusCode::FORBIDDEN,
            ErrorKind::NotFound | ErrorKind::UnknownEndpoint => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::RateLimit => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Api => StatusCode::BAD_GATEWAY,
            ErrorKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// Anthropic `error.type`.
    pub fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::MethodNotAllowed | ErrorKind::NotImplemented => {
                "invalid_request_error"
            }
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::NotFound | ErrorKind::UnknownEndpoint => "not_found_error",
            ErrorKind::RequestTooLarge => "request_too_large",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Api | ErrorKind::Timeout => "api_error",
            ErrorKind::Overloaded => "overloaded_error",
        }
    }

    /// OpenAI `error.type` and `error.code`.
    pub fn openai_type_and_code(self) -> (&'static str, Option<&'static str>) {
        match self {
            ErrorKind::InvalidRequest => ("invalid_request_error", None),
            ErrorKind::MethodNotAllowed => ("invalid_request_error", Some("method_not_allowed")),
            ErrorKind::NotImplemented => ("invalid_request_error", Some("not_implemented")),
            ErrorKind::Authentication => ("authentication_error", Some("invalid_api_key")),
            ErrorKind::Permission => ("permission_error", None),
            ErrorKind::NotFound => ("not_found_error", Some("model_not_found")),
            ErrorKind::UnknownEndpoint => ("not_found_error", Some("unknown_url")),
            ErrorKind::RequestTooLarge => ("invalid_request_error", Some("request_too_large")),
            ErrorKind::RateLimit => ("rate_limit_exceeded", Some("rate_limit_exceeded")),
            ErrorKind::Api => ("server_error", None),
            ErrorKind::Timeout => ("server_error", Some("timeout")),
            ErrorKind::Overloaded => ("server_error", Some("overloaded")),
        }
    }
}

/// An error dario answers with, before or instead of an upstream response.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProxyError {
    pub kind: ErrorKind,
    pub message: String,
    /// Overrides `kind.status()` (e.g. 404 for a wrong path but 405 for a wrong method).
    pub status: Option<StatusCode>,
    /// Seconds for a `retry-after` header.
    pub retry_after: Option<u64>,
    /// For 405: the `Allow` header value.
    pub allow: Option<&'static str>,
    /// OpenAI `param`.
    pub param: Option<&'static str>,
    /// OpenAI `code`, when more specific than the kind's.
    pub code: Option<&'static str>,
}

impl ProxyError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProxyError {
            kind,
            message: message.into(),
            status: None,
            retry_after: None,
            allow: None,
            param: None,
            code: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| self.kind.status())
    }

    /// The JSON body in the given protocol's envelope.
    pub fn body(&self, protocol: Protocol) -> Bytes {
        let value = match protocol {
            Protocol::Anthropic => serde_json::json!({
                "type": "error",
                "error": { "type": self.kind.anthropic_type(), "message": self.message },
            }),
            Protocol::OpenAi | Protocol::Responses => {
                let (ty, code) = self.kind.openai_type_and_code();
                let code = self.code.or(code);
                serde_json::json!({
                    "error": { "message": self.message, "type": ty, "param": self.param, "code": code },
                })
            }
        };
        Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
    }

    /// Headers specific to this error (`retry-after`, `allow`).
    pub fn extra_headers(&self) -> Vec<(http::HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        if let Some(secs) = self.retry_after {
            out.push((http::header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        if let Some(allow) = self.allow {
            out.push((http::header::ALLOW, HeaderValue::from_static(allow)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes() {
        let e = ProxyError::new(ErrorKind::NotFound, "no route for model `x`");
        let a: serde_json::Value = serde_json::from_slice(&e.body(Protocol::Anthropic)).unwrap();
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "not_found_error");
        let o: serde_json::Value = serde_json::from_slice(&e.body(Protocol::OpenAi)).unwrap();
        assert_eq!(o["error"]["type"], "not_found_error");
        assert_eq!(o["error"]["message"], "no route for model `x`");
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
    }
}
