//! `ProxyError`: every error dario itself produces on the request path, rendered as JSON in the
//! *caller's* protocol with the right status (SPEC §2).
//!
//! Owns: the two error envelopes and the status ↔ type tables. Must not: carry secrets — messages
//! are written by dario, and upstream text reaching here must already be scrubbed.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use super::body::{full, Body};
use crate::protocol::Protocol;
use crate::translate::TranslateError;

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

    /// The whole response in the caller's protocol: status, JSON envelope, `content-type`, and
    /// this error's own headers (`retry-after`, `allow`).
    pub fn into_response(self, protocol: Protocol) -> Response<Body> {
        let mut resp = Response::new(full(self.body(protocol)));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (k, v) in self.extra_headers() {
            h.insert(k, v);
        }
        resp
    }

    // ---- the messages dario answers with (one constructor each) --------------------------

    /// A path dario does not serve.
    pub fn unknown_endpoint(method: &http::Method, path: &str, endpoints: &[&str]) -> Self {
        Self::new(
            ErrorKind::UnknownEndpoint,
            format!(
                "no such endpoint `{method} {path}`: dario serves {}",
                endpoints.join(", ")
            ),
        )
    }

    /// A known path asked for with the wrong method (405 with `Allow`).
    pub fn method_not_allowed(
        method: &http::Method,
        path: &str,
        expected: &http::Method,
        allow: &'static str,
    ) -> Self {
        let mut e = Self::new(
            ErrorKind::MethodNotAllowed,
            format!("method {method} is not allowed on {path}: use {expected}"),
        );
        e.allow = Some(allow);
        e
    }

    /// A browser request from an origin other than the allowed one.
    pub fn origin_not_allowed(origin: &str, allowed: &str) -> Self {
        Self::new(
            ErrorKind::Permission,
            format!(
                "requests from origin `{origin}` are not allowed: dario only accepts browser requests from {allowed} (set DARIO_CORS_ORIGIN to change it)"
            ),
        )
    }

    /// A request naming another host than this machine while dario listens on loopback.
    pub fn not_loopback(what: &str, port: u16) -> Self {
        Self::new(
            ErrorKind::Permission,
            format!("{what} is not this machine: dario listens on loopback only; use http://127.0.0.1:{port}"),
        )
    }

    /// No dario API key presented while `DARIO_API_KEY` is set.
    pub fn api_key_missing() -> Self {
        Self::new(
            ErrorKind::Authentication,
            "dario requires its API key: send DARIO_API_KEY in `x-api-key` or `Authorization: Bearer`",
        )
    }

    /// A dario API key that is not `DARIO_API_KEY`.
    pub fn api_key_invalid() -> Self {
        Self::new(
            ErrorKind::Authentication,
            "invalid dario API key: use the value of DARIO_API_KEY the proxy was started with",
        )
    }

    /// A request body over `[limits] max_body_bytes`.
    pub fn body_too_large(max: usize) -> Self {
        Self::new(
            ErrorKind::RequestTooLarge,
            format!("request body exceeds dario's limit of {max} bytes: shorten the conversation or raise [limits] max_body_bytes"),
        )
    }

    /// A request body not received within `[limits] body_read_timeout` (408).
    pub fn body_timeout(deadline: std::time::Duration) -> Self {
        Self::new(
            ErrorKind::Timeout,
            format!(
                "request body was not received within {} s",
                deadline.as_secs()
            ),
        )
        .with_status(StatusCode::REQUEST_TIMEOUT)
    }

    /// A request body that could not be read.
    pub fn body_unreadable(why: impl std::fmt::Display) -> Self {
        Self::invalid(format!("could not read the request body: {why}"))
    }

    /// The 500 for a request whose handler panicked (the panic's message goes to the log only).
    pub fn internal(request_id: &str) -> Self {
        Self::new(
            ErrorKind::Api,
            format!(
                "dario failed on this request with an internal error (a bug, logged with request id \
                 {request_id}); other requests are unaffected: retry it, and please report it"
            ),
        )
        .with_status(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// No upstream slot (`[limits] max_in_flight`) free, nor room or time in the queue.
    pub fn overloaded(why: &str) -> Self {
        Self::new(
            ErrorKind::Overloaded,
            format!("dario is at capacity: {why}; retry shortly"),
        )
        .with_retry_after(1)
    }

    /// A model name no route takes.
    pub fn no_route(e: &crate::routing::RouteError) -> Self {
        let kind = match e {
            crate::routing::RouteError::EmptyModel { .. } => ErrorKind::InvalidRequest,
            _ => ErrorKind::NotFound,
        };
        Self::new(kind, e.to_string()).with_param("model")
    }

    /// A route that names a backend the configuration does not have.
    pub fn backend_not_configured(model: &str, backend: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            format!(
                "route for `{model}` names backend `{backend}`, which is not configured: run `dario backend list`"
            ),
        )
    }

    /// A backend whose key comes from an environment variable that is not set.
    pub fn key_env_unset(backend: &str, deployment: &str, var: &str) -> Self {
        Self::new(
            ErrorKind::Authentication,
            format!(
                "backend `{backend}`{deployment} takes its key from the environment variable \
                 {var}, which is not set where dario runs: nothing was sent upstream. \
                 Export {var} in the shell that starts `dario proxy` and restart it, or \
                 store the key: `dario backend add {backend} --key …`"
            ),
        )
    }

    /// Every deployment of a backend cooling down.
    pub fn pool_exhausted(backend: &str, retry_after: u64) -> Self {
        Self::new(
            ErrorKind::RateLimit,
            format!("every deployment of backend `{backend}` is cooling down after rate limits or errors; retry in {retry_after} s (see `GET /pool`)"),
        )
        .with_retry_after(retry_after)
    }

    /// A team-wide limit of `[cluster.limits.<backend>]` used up.
    pub fn team_limited(limited: &crate::cluster::TeamLimited) -> Self {
        Self::new(ErrorKind::RateLimit, limited.to_string())
            .with_retry_after(limited.retry_after_secs)
    }

    /// No candidate backend could take the request, and nothing more telling happened.
    pub fn no_usable_backend(model: &str) -> Self {
        Self::new(
            ErrorKind::Api,
            format!("no usable backend for model `{model}`: check `dario route {model}`"),
        )
    }

    /// An upstream 404 from an OpenAI-style base URL that most likely lacks `/v1`.
    pub fn wrong_base_url(backend: &str, upstream_said: &str, hint: &str) -> Self {
        Self::new(
            ErrorKind::UnknownEndpoint,
            format!(
                "backend `{backend}` answered 404 ({upstream_said}). The likely cause: its {hint}"
            ),
        )
    }

    /// A backend whose base URL cannot make a request URL.
    pub fn unusable_base_url(backend: &str, why: &dyn std::fmt::Display) -> Self {
        Self::new(
            ErrorKind::Api,
            format!("backend `{backend}` has an unusable base URL: {why}; fix it with `dario backend add` or in config.toml"),
        )
    }

    /// No response head from a backend within `[limits] first_byte_timeout`.
    pub fn first_byte_timeout(backend: &str, deadline: std::time::Duration) -> Self {
        Self::new(
            ErrorKind::Timeout,
            format!(
                "backend `{backend}` sent no response within {} s",
                deadline.as_secs()
            ),
        )
    }

    /// A request to a backend that failed before a response: `connect` when no connection was
    /// made. `reason` must already be scrubbed.
    pub fn upstream_unreachable(backend: &str, connect: bool, reason: &str) -> Self {
        let message = if connect {
            format!("could not connect to backend `{backend}` ({reason}): check its base URL with `dario backend list` and that the server is up")
        } else {
            format!("request to backend `{backend}` failed: {reason}")
        };
        Self::new(ErrorKind::Api, message)
    }

    /// An upstream response dario must not relay (a redirect, an encoding it did not ask for):
    /// `why` says which, from `egress::unrelayable`.
    pub fn unrelayable(why: String) -> Self {
        Self::new(ErrorKind::Api, why)
    }

    /// An upstream reply that cannot be translated into the caller's protocol.
    pub fn untranslatable_response(backend: &str, why: &str) -> Self {
        Self::new(
            ErrorKind::Api,
            format!("the upstream response from `{backend}` could not be translated: {why}"),
        )
    }

    /// A request that cannot be translated: the client's mistake (400) with the reason.
    pub fn untranslatable_request(e: TranslateError) -> Self {
        if let TranslateError::PreviousResponseNotFound(_) = e {
            return Self::new(ErrorKind::InvalidRequest, e.to_string())
                .with_param("previous_response_id")
                .with_code("previous_response_not_found");
        }
        let kind = if e.status() >= 500 {
            ErrorKind::Api
        } else {
            ErrorKind::InvalidRequest
        };
        Self::new(kind, e.to_string())
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

    #[test]
    fn into_response_is_status_envelope_and_headers() {
        let e = ProxyError::method_not_allowed(
            &http::Method::GET,
            "/v1/messages",
            &http::Method::POST,
            "POST, OPTIONS",
        );
        let body = e.body(Protocol::OpenAi);
        let r = e.into_response(Protocol::OpenAi);
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["allow"], "POST, OPTIONS");
        let o: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            o["error"]["message"],
            "method GET is not allowed on /v1/messages: use POST"
        );
        assert_eq!(o["error"]["code"], "method_not_allowed");

        let r = ProxyError::pool_exhausted("groq", 7).into_response(Protocol::Anthropic);
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "7");
    }
}
