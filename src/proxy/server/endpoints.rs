//! Endpoints: every HTTP request's entry — method + path → endpoint, a panic caught as that
//! request's 500 — and the chat path's spine, one arrow after the other: guard → ingress →
//! routing → failover (pool → dispatch → upstream → egress) → meter.
//!
//! Owns: the order of the steps and which endpoint needs the key. Must not: parse bodies it only
//! forwards (ingress peeks; translation happens only when the protocols differ), or render an
//! error other than through `ProxyError::into_response` in the caller's protocol.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue, Method, Request, Response};

use super::RequestBody;
use crate::protocol::Protocol;
use crate::proxy::body::Body;
use crate::proxy::egress::{self, relay::EndInfo};
use crate::proxy::error::ProxyError;
use crate::proxy::ingress::{self, ChatKind, Inbound};
use crate::proxy::meter::{self, Meter, Tracker};
use crate::proxy::state::{ProxyState, Snapshot};
use crate::proxy::{admin, dashboard, failover, guard};

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
    Dashboard(dashboard::Page),
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
            p => Endpoint::Dashboard(dashboard::Page::from_path(p)?),
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
#[allow(clippy::manual_async_fn)] // see the comment in the body
pub fn handle(
    state: Arc<ProxyState>,
    req: Request<RequestBody>,
) -> impl Future<Output = Result<Response<Body>, Infallible>> {
    // Not an `async fn`: an async fn's future keeps each argument twice (as passed, and moved
    // into its body; rust-lang/rust#62958). The request is 264 bytes, and every request in
    // flight holds this future (BENCHMARKS.md, issue 15).
    async move {
        let received = Instant::now();
        state.requests_total.add(1);
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
            Ok(Err(e)) => e.into_response(protocol),
            Err(panic) => {
                internal_error(&state, &request_id, panic.as_ref()).into_response(protocol)
            }
        };
        guard::decorate(&state, response.headers_mut(), &request_id);
        Ok(response)
    }
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
    ProxyError::internal(request_id)
}

#[allow(clippy::manual_async_fn)] // see the comment in the body
fn route<'a>(
    state: &'a Arc<ProxyState>,
    req: Request<RequestBody>,
    request_id: &'a str,
    received: Instant,
) -> impl Future<Output = Result<Response<Body>, ProxyError>> + 'a {
    // Not an `async fn`: see `handle`.
    async move {
        let path = req.uri().path();
        // Test builds only: a request can ask for a panic, to prove one request's panic stays its own.
        #[cfg(debug_assertions)]
        if req.headers().contains_key("x-dario-test-panic") {
            panic!("injected by x-dario-test-panic");
        }
        if req.method() == Method::OPTIONS {
            return Ok(guard::preflight(state, req.headers()));
        }
        let Some(endpoint) = Endpoint::from_path(path) else {
            return Err(ProxyError::unknown_endpoint(
                req.method(),
                path,
                admin::ENDPOINTS,
            ));
        };
        let method_ok = req.method() == endpoint.method()
            || (endpoint.method() == Method::GET && req.method() == Method::HEAD);
        if !method_ok {
            return Err(ProxyError::method_not_allowed(
                req.method(),
                path,
                &endpoint.method(),
                endpoint.allow(),
            ));
        }
        guard::check_origin(state, req.uri(), req.headers())?;
        match endpoint {
            Endpoint::Chat(protocol) => {
                let chat = Chat {
                    protocol,
                    kind: ChatKind::Completion,
                    request_id,
                    received,
                };
                chat.serve(state, req).await
            }
            Endpoint::CountTokens => {
                let chat = Chat {
                    protocol: Protocol::Anthropic,
                    kind: ChatKind::CountTokens,
                    request_id,
                    received,
                };
                chat.serve(state, req).await
            }
            Endpoint::Health => Ok(admin::health(state)),
            Endpoint::Root
                if req.method() == Method::GET && dashboard::wants_html(req.headers()) =>
            {
                Ok(dashboard::redirect())
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
                dashboard::serve(state, page, req.uri().query()).await
            }
            Endpoint::Analytics if dashboard::since_param(req.uri().query())?.is_some() => {
                guard::authorize(state, req.headers())?;
                let since = dashboard::since_param(req.uri().query())?;
                dashboard::analytics_since(state, since.expect("checked above")).await
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
}

/// Where a chat request came in: what its path needs before the body is read.
struct Chat<'a> {
    protocol: Protocol,
    kind: ChatKind,
    request_id: &'a str,
    received: Instant,
}

impl<'a> Chat<'a> {
    /// The chat path, one arrow after the other. `Err` only for a refusal before the body is
    /// read (the key, the body's size or deadline), which is counted here and rendered by
    /// `handle` like every error of a request; once the body is read, every error is rendered
    /// here, in the inbound protocol, with the backend and attempts it got to.
    #[allow(clippy::manual_async_fn)] // see the comment in the body
    fn serve(
        self,
        state: &'a Arc<ProxyState>,
        req: Request<RequestBody>,
    ) -> impl Future<Output = Result<Response<Body>, ProxyError>> + 'a {
        // Not an `async fn`: see `handle`.
        async move {
            // guard: the key, then the body within its size and time limits.
            let refused = |e: &ProxyError| {
                meter::record_refusal(
                    state,
                    self.protocol,
                    self.request_id,
                    self.received,
                    e.status().as_u16(),
                )
            };
            guard::authorize(state, req.headers()).inspect_err(refused)?;
            let (parts, body) = guard::read_body(state, req).await.inspect_err(refused)?;

            // ingress: what came in, and what routing needs of the body.
            let snapshot = state.snapshot.load_full();
            if state.options.verbosity >= 2 {
                let shown = &body[..body.len().min(8 * 1024)];
                tracing::debug!(
                    "{} request body ({} bytes): {}",
                    self.request_id,
                    body.len(),
                    snapshot.scrub(&String::from_utf8_lossy(shown))
                );
            }
            let peek = ingress::peek(&body);
            let meter = Meter::new(
                self.received,
                self.request_id,
                self.protocol,
                peek.as_ref().map_or("", |p| p.model.as_str()),
                peek.as_ref().is_ok_and(|p| p.stream),
                Some(&parts),
            );
            // meter: from here on the request is recorded exactly once, however it ends.
            let mut tracker = Tracker::new(state, meter);
            let result = match peek {
                Ok(peek) => {
                    let request = Inbound {
                        protocol: self.protocol,
                        kind: self.kind,
                        parts,
                        body,
                        peek,
                    };
                    route_chat(state, &snapshot, &request, &mut tracker).await
                }
                Err(e) => Err(e),
            };
            let e = match result {
                Ok(resp) => return Ok(resp),
                Err(e) => e,
            };
            // dario's own refusals are counted too.
            tracker.reason = Some(e.message.clone());
            tracker.record("", e.status().as_u16(), &EndInfo::default());
            let mut resp = e.into_response(self.protocol);
            if let Ok(v) = HeaderValue::from_str(&tracker.backend) {
                if !tracker.backend.is_empty() {
                    resp.headers_mut().insert("x-dario-backend", v);
                }
            }
            if tracker.attempts > 1 {
                resp.headers_mut()
                    .insert("x-dario-attempts", HeaderValue::from(tracker.attempts));
            }
            Ok(resp)
        }
    }
}

/// routing: the model name → a decision; then failover over its candidates (or, for counting
/// tokens on a backend that cannot count, a local estimate flagged as such).
async fn route_chat(
    state: &Arc<ProxyState>,
    snapshot: &Arc<Snapshot>,
    request: &Inbound,
    tracker: &mut Tracker,
) -> Result<Response<Body>, ProxyError> {
    let model = &request.peek.model;
    let decision = snapshot
        .routes
        .resolve(model)
        .map_err(|e| ProxyError::no_route(&e))?;
    let primary = snapshot
        .config
        .backends
        .get(&decision.backend)
        .ok_or_else(|| ProxyError::backend_not_configured(model, &decision.backend))?;
    tracker.backend = primary.name.clone();
    tracker.upstream_model = decision.upstream_model.clone();

    if request.kind == ChatKind::CountTokens && primary.protocol != Protocol::Anthropic {
        let n = crate::translate::estimate_tokens_anthropic_request(&request.body)
            .map_err(ProxyError::untranslatable_request)?;
        let resp = egress::token_estimate(n, &primary.name);
        tracker.record(
            "",
            200,
            &EndInfo {
                completed: true,
                ..EndInfo::default()
            },
        );
        return Ok(resp);
    }
    failover::send(state, snapshot, request, &decision, tracker).await
}
