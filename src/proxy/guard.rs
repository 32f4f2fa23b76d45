//! Guard: dario's own API key, CORS, the request body's size and read deadline, and the security
//! headers on every response.
//!
//! Owns: who may call dario. Must not: forward the client's dario key anywhere.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::body::{empty, Body, BoxError};
use super::error::ProxyError;
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

/// Refuses requests made by web pages of other origins (CSRF against a local key) and, on a
/// loopback bind, requests whose authority is not a loopback name (DNS rebinding). Browsers always
/// send `Origin` on cross-origin POSTs; command-line tools and SDKs send none.
///
/// The authority is judged whole, wherever the request states it: the URI's authority (an
/// absolute-form request target replaces `Host`, RFC 9112 §3.2.2; HTTP/2 carries `:authority`
/// there) and every `Host` header — more than one `Host` is refused outright.
pub fn check_origin(
    state: &ProxyState,
    uri: &http::Uri,
    headers: &HeaderMap,
) -> Result<(), ProxyError> {
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        if origin != state.cors_origin {
            return Err(ProxyError::origin_not_allowed(
                origin.to_str().unwrap_or("?"),
                state.cors_origin.to_str().unwrap_or("?"),
            ));
        }
    }
    if !state.options.listen.ip().is_loopback() {
        return Ok(());
    }
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(ProxyError::invalid(
            "the request has more than one Host header: send exactly one",
        ));
    }
    let port = state.options.listen.port();
    let refuse = |what: &str| ProxyError::not_loopback(what, port);
    if let Some(authority) = uri.authority() {
        if !is_loopback_host(authority.as_str().as_bytes()) {
            return Err(refuse("the request URI's authority"));
        }
    }
    if let Some(host) = host {
        if !is_loopback_host(host.as_bytes()) {
            return Err(refuse("the Host header"));
        }
    }
    Ok(())
}

/// The whole authority is `localhost`, an IPv4 loopback literal or `[::1]` (any IPv6 loopback
/// literal), optionally followed by `:port` (1–5 digits, at most 65535) — nothing else, so
/// `[::1]evil.example` or `localhost.evil.example` never pass.
fn is_loopback_host(host: &[u8]) -> bool {
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return false,
            },
        };
        match inside.parse::<std::net::Ipv6Addr>() {
            Ok(ip) if ip.is_loopback() => {}
            _ => return false,
        }
        ("", port)
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535)
    });
    if !port_ok {
        return false;
    }
    // Bracketed literal already checked.
    host.starts_with('[')
        || name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Requires `DARIO_API_KEY` when it is set.
pub fn authorize(state: &ProxyState, headers: &HeaderMap) -> Result<(), ProxyError> {
    let Some(expected) = &state.options.api_key else {
        return Ok(());
    };
    match presented_key(headers) {
        None => Err(ProxyError::api_key_missing()),
        Some(p) if keys_match(p, expected.expose().as_bytes()) => Ok(()),
        Some(_) => Err(ProxyError::api_key_invalid()),
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

static X_DARIO_REQUEST_ID: HeaderName = HeaderName::from_static("x-dario-request-id");

/// Adds dario's headers to every response it sends. Header names are constants: a `&str` key
/// would be parsed again on every response.
pub fn decorate(state: &ProxyState, h: &mut HeaderMap, request_id: &str) {
    use http::header;
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(X_DARIO_REQUEST_ID.clone(), v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        state.cors_origin.clone(),
    );
    h.insert(header::VARY, HeaderValue::from_static("origin"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED),
    );
}

/// Reads the whole request body within the size and time limits.
pub async fn read_body<B>(
    state: &ProxyState,
    req: Request<B>,
) -> Result<(http::request::Parts, Bytes), ProxyError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let limits = &state.snapshot.load().config.limits;
    let (max, deadline) = (limits.max_body_bytes, limits.body_read_timeout);
    let too_large = || ProxyError::body_too_large(max);
    let (parts, body) = req.into_parts();
    if let Some(len) = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > max as u64 {
            return Err(too_large());
        }
    }
    let limited = http_body_util::Limited::new(body, max);
    match tokio::time::timeout(deadline, limited.collect()).await {
        Err(_) => Err(ProxyError::body_timeout(deadline)),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(ProxyError::body_unreadable(e)),
        Ok(Ok(collected)) => Ok((parts, collected.to_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:3456",
            "127.0.0.1:3456",
            "127.1.2.3",
            "[::1]:3456",
            "[::1]",
            "LOCALHOST:1",
        ] {
            assert!(is_loopback_host(h.as_bytes()), "{h}");
        }
        for h in [
            "evil.example",
            "evil.example:3456",
            "10.0.0.1:3456",
            "localhost.evil.example",
            "[::2]:1",
            "[::1]evil.example",
            "[::1]:1evil",
            "[::1]:",
            "[::1]:123456",
            "localhost:99999",
            "localhost:",
            "127.0.0.1:1:2",
            "::1",
            "",
        ] {
            assert!(!is_loopback_host(h.as_bytes()), "{h}");
        }
    }
}
