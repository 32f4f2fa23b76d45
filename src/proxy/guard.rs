//! Guard: dario's own API key, CORS and the security headers on every response.
//!
//! Owns: who may call dario. Must not: forward the client's dario key anywhere.

use http::{HeaderMap, HeaderValue, Response, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::body::{empty, Body};
use super::error::{ErrorKind, ProxyError};
use super::state::ProxyState;

/// The credential a client presented: `x-api-key`, else `Authorization: Bearer …`.
fn presented_key(headers: &HeaderMap) -> Option<&[u8]> {
    if let Some(v) = headers.get("x-api-key") {
        return Some(v.as_bytes());
    }
    let auth = headers.get(http::header::AUTHORIZATION)?.as_bytes();
    if auth.len() > 7 && auth[..7].eq_ignore_ascii_case(b"bearer ") {
        Some(&auth[7..])
    } else {
        None
    }
}

/// Constant-time equality that also hides the length (both sides are hashed first).
fn keys_match(presented: &[u8], expected: &[u8]) -> bool {
    let a = Sha256::digest(presented);
    let b = Sha256::digest(expected);
    a.ct_eq(&b).into()
}

/// Whether the request presents dario's own key (for deciding what is forwarded).
pub fn presents_dario_key(state: &ProxyState, headers: &HeaderMap) -> bool {
    match (&state.options.api_key, presented_key(headers)) {
        (Some(expected), Some(p)) => keys_match(p, expected.expose().as_bytes()),
        _ => false,
    }
}

/// Requires `DARIO_API_KEY` when it is set.
pub fn authorize(state: &ProxyState, headers: &HeaderMap) -> Result<(), ProxyError> {
    let Some(expected) = &state.options.api_key else {
        return Ok(());
    };
    match presented_key(headers) {
        None => Err(ProxyError::new(
            ErrorKind::Authentication,
            "dario requires its API key: send DARIO_API_KEY in `x-api-key` or `Authorization: Bearer`",
        )),
        Some(p) if keys_match(p, expected.expose().as_bytes()) => Ok(()),
        Some(_) => Err(ProxyError::new(
            ErrorKind::Authentication,
            "invalid dario API key: use the value of DARIO_API_KEY the proxy was started with",
        )),
    }
}

const EXPOSED: &str = "x-dario-backend, x-dario-request-id, x-dario-overhead-us, x-dario-dropped, request-id, x-request-id, retry-after";

/// Answers a CORS preflight.
pub fn preflight(state: &ProxyState, headers: &HeaderMap) -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    let allow_headers = headers
        .get("access-control-request-headers")
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_static(
                "content-type, authorization, x-api-key, anthropic-version, anthropic-beta",
            )
        });
    h.insert("access-control-allow-headers", allow_headers);
    h.insert("access-control-max-age", HeaderValue::from_static("600"));
    let _ = state;
    resp
}

/// Adds dario's headers to every response it sends.
pub fn decorate(state: &ProxyState, h: &mut HeaderMap, request_id: &str) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-dario-request-id", v);
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    h.insert("access-control-allow-origin", state.cors_origin.clone());
    h.insert(http::header::VARY, HeaderValue::from_static("origin"));
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static(EXPOSED),
    );
}
