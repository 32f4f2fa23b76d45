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
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::admin;
use super::body::{full, Body};
use super::error::{ErrorKind, ProxyError};
use super::guard;
use super::ingress;
use super::relay::{self, RelayMode};
use super::state::ProxyState;
use super::upstream::{self, OutboundRequest};
use crate::protocol::Protocol;

/// What an inbound path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Chat(Protocol),
    CountTokens,
    Models,
    Health,
    Status,
    Pool,
    Analytics,
    Metrics,
}

impl Endpoint {
    fn from_path(path: &str) -> Option<Endpoint> {
        Some(match path.trim_end_matches('/') {
            "/v1/messages" => Endpoint::Chat(Protocol::Anthropic),
            "/v1/messages/count_tokens" => Endpoint::CountTokens,
            "/v1/chat/completions" | "/chat/completions" => Endpoint::Chat(Protocol::OpenAi),
            "/v1/models" | "/models" => Endpoint::Models,
            "/health" => Endpoint::Health,
            "/status" => Endpoint::Status,
            "/pool" => Endpoint::Pool,
            "/analytics" => Endpoint::Analytics,
            "/metrics" => Endpoint::Metrics,
            _ => return None,
        })
    }

    fn method(self) -> Method {
        match self {
            Endpoint::Chat(_) | Endpoint::CountTokens => Method::POST,
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

    let mut response = match route(&state, req, &request_id, received).await {
        Ok(r) => r,
        Err(e) => error_response(&e, protocol),
    };
    guard::decorate(&state, response.headers_mut(), &request_id);
    Ok(response)
}

async fn route(
    state: &Arc<ProxyState>,
    req: Request<Incoming>,
    request_id: &str,
    received: Instant,
) -> Result<Response<Body>, ProxyError> {
    let path = req.uri().path();
    if req.method() == Method::OPTIONS {
        return Ok(guard::preflight(state, req.headers()));
    }
    let endpoint = match Endpoint::from_path(path) {
        Some(e) => e,
        None => {
            return Err(ProxyError::new(
                ErrorKind::NotFound,
                format!(
                    "no such endpoint `{path}`: dario serves POST /v1/messages, POST /v1/chat/completions, GET /v1/models, GET /health"
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
    if endpoint != Endpoint::Health {
        guard::authorize(state, req.headers())?;
    }
    match endpoint {
        Endpoint::Health => Ok(admin::health(state)),
        Endpoint::Status => Ok(admin::status(state)),
        Endpoint::Pool => Ok(admin::pool(state)),
        Endpoint::Analytics => Ok(admin::analytics(state, req.uri().query())),
        Endpoint::Metrics => Ok(admin::metrics(state)),
        Endpoint::Models => Ok(admin::models(state, req.headers())),
        Endpoint::Chat(inbound) => chat(state, req, inbound, false, request_id, received).await,
        Endpoint::CountTokens => {
            chat(state, req, Protocol::Anthropic, true, request_id, received).await
        }
    }
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

/// The chat path: one inbound request → one upstream response, streamed back as it arrives.
async fn chat(
    state: &Arc<ProxyState>,
    req: Request<Incoming>,
    inbound: Protocol,
    count_tokens: bool,
    request_id: &str,
    received: Instant,
) -> Result<Response<Body>, ProxyError> {
    let (parts, body) = read_body(state, req).await?;
    let peek = ingress::peek(&body)?;
    let snapshot = state.snapshot.load_full();
    if state.options.verbosity >= 2 {
        let shown = &body[..body.len().min(8 * 1024)];
        tracing::debug!(
            "{request_id} request body ({} bytes): {}",
            body.len(),
            snapshot.scrub(&String::from_utf8_lossy(shown))
        );
    }
    let decision = snapshot
        .routes
        .resolve(&peek.model)
        .map_err(|e| ProxyError::new(ErrorKind::NotFound, e.to_string()).with_param("model"))?;
    let backend = snapshot.config.backends.get(&decision.backend).ok_or_else(|| {
        ProxyError::new(
            ErrorKind::NotFound,
            format!(
                "route for `{}` names backend `{}`, which is not configured: run `dario backend list`",
                peek.model, decision.backend
            ),
        )
    })?;

    if backend.protocol != inbound {
        return Err(ProxyError::new(
            ErrorKind::NotImplemented,
            format!(
                "model `{}` is served by backend `{}`, which speaks the {} protocol; translating from {} is not available in this build",
                peek.model, backend.name, backend.protocol, inbound
            ),
        ));
    }

    // Same protocol: forward the original bytes, splicing `model` only when it changed.
    let upstream_body = if decision.upstream_model != peek.model {
        Bytes::from(ingress::splice_model(
            &body,
            &peek.model_span,
            &decision.upstream_model,
        ))
    } else {
        body
    };
    let path = if count_tokens {
        "/v1/messages/count_tokens"
    } else {
        inbound.chat_path()
    };

    let _permit = state.admission.enter().await?;
    let auth = upstream::choose_auth(
        &backend.credential,
        &parts.headers,
        state.options.api_key.is_some(),
    );
    let request = upstream::build_request(
        &state.client,
        OutboundRequest {
            backend,
            base_url: &backend.base_url,
            path,
            inbound,
            client_headers: &parts.headers,
            auth,
            body: upstream_body,
            anthropic_beta: None,
        },
    );
    let limits = &snapshot.config.limits;
    let sent = Instant::now();
    let upstream = match tokio::time::timeout(limits.first_byte_timeout, request.send()).await {
        Err(_) => {
            return Err(ProxyError::new(
                ErrorKind::Timeout,
                format!(
                    "backend `{}` sent no response within {} s",
                    backend.name,
                    limits.first_byte_timeout.as_secs()
                ),
            ))
        }
        Ok(Err(e)) => return Err(upstream_send_error(&backend.name, &e)),
        Ok(Ok(r)) => r,
    };
    let ttfb = sent.elapsed();

    let status = upstream.status();
    let mut builder = Response::builder().status(status);
    let headers = builder.headers_mut().expect("fresh builder");
    for (name, value) in upstream.headers() {
        if super::headers::forward_response_header(name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(
        "x-dario-backend",
        HeaderValue::from_str(&backend.name).unwrap_or(HeaderValue::from_static("invalid")),
    );
    let overhead = received.elapsed().saturating_sub(ttfb);
    headers.insert(
        "x-dario-overhead-us",
        HeaderValue::from(overhead.as_micros() as u64),
    );

    if !status.is_success() {
        // Error bodies are small: read them (bounded), scrub secrets, forward.
        let bytes = relay::read_error_body(upstream).await;
        let scrubbed = snapshot
            .scrub(&String::from_utf8_lossy(&bytes))
            .into_owned();
        if !headers.contains_key(http::header::CONTENT_TYPE) {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        log_request(
            state,
            request_id,
            inbound,
            &peek.model,
            &backend.name,
            status,
            received,
        );
        return builder
            .body(full(Bytes::from(scrubbed)))
            .map_err(|e| ProxyError::new(ErrorKind::Api, e.to_string()));
    }

    let is_sse = upstream
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mode = RelayMode::Passthrough {
        sse: is_sse,
        watcher: None,
    };
    let body = relay::relay(
        upstream,
        mode,
        inbound,
        limits.stream_idle_timeout,
        relay::EndHook::new({
            let state = state.clone();
            let request_id = request_id.to_owned();
            let model = peek.model.clone();
            let backend_name = backend.name.clone();
            move |_end| {
                log_request(
                    &state,
                    &request_id,
                    inbound,
                    &model,
                    &backend_name,
                    status,
                    received,
                );
            }
        }),
    );
    builder
        .body(body)
        .map_err(|e| ProxyError::new(ErrorKind::Api, e.to_string()))
}

/// Maps a failed upstream send to a dario error that names the backend and says what to check.
fn upstream_send_error(backend: &str, e: &reqwest::Error) -> ProxyError {
    if e.is_connect() {
        ProxyError::new(
            ErrorKind::Api,
            format!("could not connect to backend `{backend}`: check its base URL with `dario backend list` and that the server is up"),
        )
    } else if e.is_timeout() {
        ProxyError::new(ErrorKind::Timeout, format!("backend `{backend}` timed out"))
    } else {
        ProxyError::new(
            ErrorKind::Api,
            format!(
                "request to backend `{backend}` failed: {}",
                crate::proxy::scrub::scrub(&e.to_string())
            ),
        )
    }
}

fn log_request(
    state: &ProxyState,
    request_id: &str,
    inbound: Protocol,
    model: &str,
    backend: &str,
    status: StatusCode,
    received: Instant,
) {
    if state.options.verbosity >= 1 {
        tracing::info!(
            "{request_id} {inbound} {model} -> {backend} {} {}ms",
            status.as_u16(),
            received.elapsed().as_millis()
        );
    }
}
