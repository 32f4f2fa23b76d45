//! The request handler: method/path dispatch, the guard, and the chat path from an inbound body
//! to an upstream response.
//!
//! Owns: the order of steps (guard → admission → body → ingress → routing → dispatch → relay).
//! Must not: parse bodies it only forwards (ingress peeks; translation happens only when the
//! protocols differ).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::admin;
use super::body::{full, Body};
use super::chat;
use super::error::{ErrorKind, ProxyError};
use super::guard;
use super::state::ProxyState;
use crate::protocol::Protocol;

/// What an inbound path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `/`: what this server is. Claude Code probes reachability at start-up with `HEAD /`, and
    /// with `HEAD /api/hello` when non-essential traffic is allowed: both answer the same.
    Root,
    Chat(Protocol),
    CountTokens,
    Models,
    Health,
    Status,
    Pool,
    Analytics,
    Metrics,
    /// `POST /admin/reload`: read the configuration from disk again (`dario reload`).
    Reload,
    /// `/dashboard` and its files, data and feed.
    Dashboard(crate::dashboard::Page),
}

impl Endpoint {
    fn from_path(path: &str) -> Option<Endpoint> {
        Some(match path.trim_end_matches('/') {
            "" | "/api/hello" => Endpoint::Root,
            "/v1/messages" => Endpoint::Chat(Protocol::Anthropic),
            "/v1/messages/count_tokens" => Endpoint::CountTokens,
            "/v1/chat/completions" | "/chat/completions" => Endpoint::Chat(Protocol::OpenAi),
            "/v1/responses" | "/responses" => Endpoint::Chat(Protocol::Responses),
            "/v1/models" | "/models" => Endpoint::Models,
            "/health" => Endpoint::Health,
            "/status" => Endpoint::Status,
            "/pool" => Endpoint::Pool,
            "/analytics" => Endpoint::Analytics,
            "/metrics" => Endpoint::Metrics,
            "/admin/reload" => Endpoint::Reload,
            p => Endpoint::Dashboard(crate::dashboard::Page::from_path(p)?),
        })
    }

    fn method(self) -> Method {
        match self {
            Endpoint::Chat(_) | Endpoint::CountTokens | Endpoint::Reload => Method::POST,
            _ => Method::GET,
        }
    }

    fn allow(self) -> &'static str {
        match self.method() {
            Method::POST => "POST, OPTIONS",
            _ => "GET, HEAD, OPTIONS",
        }
    }
}

/// The protocol whose error envelope a caller expects, for paths that do not say it themselves.
fn caller_protocol(path: &str, headers: &HeaderMap) -> Protocol {
    if path.starts_with("/v1/messages") || headers.contains_key("anthropic-version") {
        Protocol::Anthropic
    } else {
        Protocol::OpenAi
    }
}

/// Entry point for every HTTP request.
pub async fn handle(
    state: Arc<ProxyState>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let received = Instant::now();
    state
        .requests_total
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let request_id = state.next_request_id();
    let path = req.uri().path().to_owned();
    let protocol = caller_protocol(&path, req.headers());

    // A panic while handling one request (a bug) answers that request with a 500 in its caller's
    // protocol and leaves the connection, and every other request, served.
    let routed = std::panic::AssertUnwindSafe(route(&state, req, &request_id, received))
        .catch_unwind()
        .await;
    let mut response = match routed {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => error_response(&e, protocol),
        Err(panic) => error_response(
            &internal_error(&state, &request_id, panic.as_ref()),
            protocol,
        ),
    };
    guard::decorate(&state, response.headers_mut(), &request_id);
    Ok(response)
}

/// The 500 for a request whose handler panicked; the panic's message goes to the log only.
fn internal_error(
    state: &ProxyState,
    request_id: &str,
    panic: &(dyn std::any::Any + Send),
) -> ProxyError {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    tracing::error!(
        "request {request_id}: internal error (a bug in dario: {}); answered 500, other requests are unaffected",
        state.snapshot.load().scrub(&what)
    );
    let mut e = ProxyError::new(
        ErrorKind::Api,
        format!(
            "dario failed on this request with an internal error (a bug, logged with request id \
             {request_id}); other requests are unaffected: retry it, and please report it"
        ),
    );
    e.status = Some(http::StatusCode::INTERNAL_SERVER_ERROR);
    e
}

async fn route(
    state: &Arc<ProxyState>,
    req: Request<Incoming>,
    request_id: &str,
    received: Instant,
) -> Result<Response<Body>, ProxyError> {
    let path = req.uri().path();
    // Test builds only: a request can ask for a panic, to prove one request's panic stays its own.
    #[cfg(debug_assertions)]
    if req.headers().contains_key("x-dario-test-panic") {
        panic!("injected by x-dario-test-panic");
    }
    if req.method() == Method::OPTIONS {
        return Ok(guard::preflight(state, req.headers()));
    }
    let endpoint = match Endpoint::from_path(path) {
        Some(e) => e,
        None => {
            return Err(ProxyError::new(
                ErrorKind::UnknownEndpoint,
                format!(
                    "no such endpoint `{} {path}`: dario serves {}",
                    req.method(),
                    admin::ENDPOINTS.join(", ")
                ),
            ))
        }
    };
    let method_ok = req.method() == endpoint.method()
        || (endpoint.method() == Method::GET && req.method() == Method::HEAD);
    if !method_ok {
        let mut e = ProxyError::new(
            ErrorKind::MethodNotAllowed,
            format!(
                "method {} is not allowed on {path}: use {}",
                req.method(),
                endpoint.method()
            ),
        );
        e.allow = Some(endpoint.allow());
        return Err(e);
    }
    guard::check_origin(state, req.uri(), req.headers())?;
    match endpoint {
        Endpoint::Chat(inbound) => {
            chat_request(state, req, inbound, false, request_id, received).await
        }
        Endpoint::CountTokens => {
            chat_request(state, req, Protocol::Anthropic, true, request_id, received).await
        }
        Endpoint::Health => Ok(admin::health(state)),
        Endpoint::Root
            if req.method() == Method::GET && crate::dashboard::wants_html(req.headers()) =>
        {
            Ok(crate::dashboard::redirect())
        }
        Endpoint::Root => Ok(admin::root(state)),
        Endpoint::Reload => {
            guard::authorize(state, req.headers())?;
            admin::reload(state).await
        }
        Endpoint::Dashboard(page) => {
            if page.needs_key() {
                guard::authorize(state, req.headers())?;
            }
            crate::dashboard::serve(state, page, req.uri().query()).await
        }
        Endpoint::Analytics if crate::dashboard::since_param(req.uri().query())?.is_some() => {
            guard::authorize(state, req.headers())?;
            let since = crate::dashboard::since_param(req.uri().query())?;
            crate::dashboard::analytics_since(state, since.expect("checked above")).await
        }
        admin_endpoint => {
            guard::authorize(state, req.headers())?;
            Ok(match admin_endpoint {
                Endpoint::Status => admin::status(state),
                Endpoint::Pool => admin::pool(state),
                Endpoint::Analytics if admin::cluster_scope(req.uri().query()) => {
                    admin::analytics_cluster(state).await
                }
                Endpoint::Analytics => admin::analytics(state, req.uri().query())?,
                Endpoint::Models => admin::models(state, req.headers()).await,
                // Metrics (chat endpoints and /health were matched above).
                _ => admin::metrics(state),
            })
        }
    }
}

/// A chat endpoint: guard, body, then the chat path. Refusals before the body is read are
/// counted too.
async fn chat_request(
    state: &Arc<ProxyState>,
    req: Request<Incoming>,
    inbound: Protocol,
    count_tokens: bool,
    request_id: &str,
    received: Instant,
) -> Result<Response<Body>, ProxyError> {
    let refused = |e: &ProxyError| {
        chat::record_refusal(state, inbound, request_id, received, e.status().as_u16())
    };
    guard::authorize(state, req.headers()).inspect_err(refused)?;
    let (parts, body) = read_body(state, req).await.inspect_err(refused)?;
    chat::handle(
        state,
        parts,
        body,
        inbound,
        count_tokens,
        request_id,
        received,
    )
    .await
}

/// Renders a dario error in the caller's protocol.
pub fn error_response(e: &ProxyError, protocol: Protocol) -> Response<Body> {
    let mut resp = Response::new(full(e.body(protocol)));
    *resp.status_mut() = e.status();
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (k, v) in e.extra_headers() {
        h.insert(k, v);
    }
    resp
}

/// Reads the whole request body within the size and time limits.
async fn read_body(
    state: &ProxyState,
    req: Request<Incoming>,
) -> Result<(http::request::Parts, Bytes), ProxyError> {
    let limits = &state.snapshot.load().config.limits;
    let (max, deadline) = (limits.max_body_bytes, limits.body_read_timeout);
    let too_large = || {
        ProxyError::new(
            ErrorKind::RequestTooLarge,
            format!("request body exceeds dario's limit of {max} bytes: shorten the conversation or raise [limits] max_body_bytes"),
        )
    };
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
        Err(_) => Err(ProxyError::new(
            ErrorKind::Timeout,
            format!(
                "request body was not received within {} s",
                deadline.as_secs()
            ),
        )
        .with_status(StatusCode::REQUEST_TIMEOUT)),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(ProxyError::invalid(format!(
            "could not read the request body: {e}"
        ))),
        Ok(Ok(collected)) => Ok((parts, collected.to_bytes())),
    }
}
