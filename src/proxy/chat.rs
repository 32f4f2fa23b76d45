//! The chat path: one inbound request → one response, with routing, pool selection, failover
//! across deployments and fallback backends, and accounting.
//!
//! Order: body → ingress peek → route → for each candidate backend: dispatch (splice or
//! translate) → lease a deployment → upstream → retryable failure before the first byte? next
//! attempt : egress. The client sees exactly one response.
//!
//! Must not: hold a lock across `.await` (leases and permits are RAII values, not locks).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use super::body::{full, Body};
use super::client::UpstreamError;
use super::dispatch::{self, Prepared};
use super::egress;
use super::error::{ErrorKind, ProxyError};
use super::ingress::{self, Peek};
use super::relay::{EndHook, EndInfo};
use super::state::{ProxyState, Snapshot};
use super::upstream::{self, OutboundRequest};
use crate::analytics::{Record, RequestContext};
use crate::pool::{self, AcquireError};
use crate::protocol::Protocol;
use crate::routing::RouteDecision;

/// What the last failed attempt left behind, to answer with if nothing succeeds.
enum Failure {
    /// An upstream answered with a retryable status (its body already read).
    Upstream {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        backend: String,
        protocol: Protocol,
    },
    Connect(String),
    Timeout(String),
    /// Every deployment was cooling.
    Exhausted {
        backend: String,
        retry_after: u64,
    },
    /// A team-wide limit of `[cluster.limits.<backend>]` was used up.
    TeamLimited(crate::cluster::TeamLimited),
}

/// Facts about one request, for the log line and the analytics record.
#[derive(Clone)]
struct Meter {
    received: Instant,
    received_wall: SystemTime,
    request_id: String,
    inbound: Protocol,
    requested_model: String,
    streamed: bool,
    /// Endpoint, client and Claude Code ids (for the history and the dashboard).
    context: RequestContext,
}

impl Meter {
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        state: &ProxyState,
        backend: &str,
        deployment: &str,
        upstream_model: &str,
        status: u16,
        attempts: u32,
        overhead: Duration,
        end: &EndInfo,
        reason: Option<&str>,
    ) {
        let latency = self.received.elapsed();
        if let Some(cluster) = &state.cluster {
            if let Some(c) = &state.snapshot.load().config.cluster {
                let u = &end.usage;
                let tokens =
                    u.input_tokens + u.cache_read_tokens + u.cache_write_tokens + u.output_tokens;
                cluster.charge_tokens(&c.limits, backend, tokens);
            }
        }
        state.analytics.record(Record {
            timestamp: self.received_wall,
            request_id: self.request_id.clone(),
            inbound: self.inbound,
            backend: backend.to_string(),
            deployment: deployment.to_string(),
            requested_model: self.requested_model.clone(),
            upstream_model: upstream_model.to_string(),
            status,
            streamed: self.streamed,
            attempts,
            latency,
            ttfb: end
                .first_byte
                .map(|t| t.saturating_duration_since(self.received)),
            overhead,
            usage: end.usage,
            context: self.context.clone(),
        });
        if state.options.verbosity >= 1 {
            let how = match (&end.error, end.client_gone) {
                (Some(e), _) => format!(" (stream error: {e})"),
                (None, true) => " (client went away)".to_string(),
                _ => String::new(),
            };
            tracing::info!(
                "{} {} {} -> {}{}{} {} {}ms attempts={} in={} out={}{}",
                self.request_id,
                self.inbound,
                self.requested_model,
                backend,
                if deployment.is_empty() { "" } else { "/" },
                deployment,
                status,
                latency.as_millis(),
                attempts,
                end.usage.input_tokens + end.usage.cache_read_tokens + end.usage.cache_write_tokens,
                end.usage.output_tokens,
                how
            );
        }
        // At the default level, one line per failed request (a client that went away is not a
        // failure of dario's or the upstream's).
        let failed = (status >= 400 && status != 499) || end.error.is_some();
        if failed && state.failure_log.admit(state.started.elapsed().as_secs()) {
            let why = match (&end.error, reason) {
                (Some(e), _) => format!(": stream error: {e}"),
                (None, Some(r)) if !r.is_empty() => format!(": {r}"),
                _ => String::new(),
            };
            let to = if backend.is_empty() {
                String::new()
            } else if deployment.is_empty() {
                format!(" -> {backend}")
            } else {
                format!(" -> {backend}/{deployment}")
            };
            tracing::warn!(
                "{} {} `{}`{to} failed with {status} after {}ms{why}",
                self.request_id,
                self.inbound,
                self.requested_model,
                latency.as_millis(),
            );
        }
    }
}

/// Where a request got to, so that it is recorded exactly once however it ends: by the relay's
/// end hook once a response is under way, by `handle` for errors, and on drop when the client
/// went away while dario was still waiting (status 499, nginx's "client closed request").
struct Tracker {
    state: Arc<ProxyState>,
    meter: Meter,
    /// The backend last tried (for the record and `x-dario-backend`).
    backend: String,
    upstream_model: String,
    attempts: u32,
    upstream_wait: Duration,
    recorded: bool,
    /// Why the request failed, for the failure log line (dario's message or the upstream's,
    /// scrubbed).
    reason: Option<String>,
}

impl Tracker {
    fn overhead(&self) -> Duration {
        self.meter
            .received
            .elapsed()
            .saturating_sub(self.upstream_wait)
    }

    fn record(&mut self, deployment: &str, status: u16, end: &EndInfo) {
        if !self.recorded {
            self.recorded = true;
            self.meter.record(
                &self.state,
                &self.backend,
                deployment,
                &self.upstream_model,
                status,
                self.attempts,
                self.overhead(),
                end,
                self.reason.as_deref(),
            );
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.record(
            "",
            499,
            &EndInfo {
                client_gone: true,
                ..EndInfo::default()
            },
        );
    }
}

/// What the history keeps about who asked: the endpoint, the User-Agent family and Claude Code's
/// session and agent ids (bounded in length; never a credential).
fn request_context(parts: &http::request::Parts) -> RequestContext {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(128).collect::<String>())
            .filter(|v| !v.is_empty())
    };
    let ua = parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    RequestContext {
        endpoint: parts.uri.path().chars().take(64).collect(),
        client: crate::history::client_family(ua).to_string(),
        session_id: header("x-claude-code-session-id"),
        agent_id: header("x-claude-code-agent-id"),
        dropped: Vec::new(),
    }
}

/// Counts a chat request dario refused before reading it (auth, body size or deadline).
pub fn record_refusal(
    state: &ProxyState,
    inbound: Protocol,
    request_id: &str,
    received: Instant,
    status: u16,
) {
    let meter = Meter {
        received,
        received_wall: SystemTime::now() - received.elapsed(),
        request_id: request_id.to_string(),
        inbound,
        requested_model: String::new(),
        streamed: false,
        context: RequestContext::default(),
    };
    meter.record(
        state,
        "",
        "",
        "",
        status,
        0,
        received.elapsed(),
        &EndInfo::default(),
        None,
    );
}

/// Entry point for `POST /v1/messages`, `/v1/messages/count_tokens`, `/v1/chat/completions`.
/// Always answers with a response: errors are rendered here, in the caller's protocol.
pub async fn handle(
    state: &Arc<ProxyState>,
    parts: http::request::Parts,
    body: Bytes,
    inbound: Protocol,
    count_tokens: bool,
    request_id: &str,
    received: Instant,
) -> Result<Response<Body>, ProxyError> {
    let received_wall = SystemTime::now() - received.elapsed();
    let snapshot = state.snapshot.load_full();
    if state.options.verbosity >= 2 {
        let shown = &body[..body.len().min(8 * 1024)];
        tracing::debug!(
            "{request_id} request body ({} bytes): {}",
            body.len(),
            snapshot.scrub(&String::from_utf8_lossy(shown))
        );
    }
    let peek = ingress::peek(&body);
    let mut tracker = Tracker {
        state: state.clone(),
        meter: Meter {
            received,
            received_wall,
            request_id: request_id.to_string(),
            inbound,
            requested_model: peek.as_ref().map(|p| p.model.clone()).unwrap_or_default(),
            streamed: peek.as_ref().is_ok_and(|p| p.stream),
            context: request_context(&parts),
        },
        backend: String::new(),
        upstream_model: String::new(),
        attempts: 0,
        upstream_wait: Duration::ZERO,
        recorded: false,
        reason: None,
    };
    let result = match &peek {
        Ok(peek) => {
            route_and_send(
                state,
                &snapshot,
                &parts,
                &body,
                peek,
                inbound,
                count_tokens,
                &mut tracker,
            )
            .await
        }
        Err(e) => Err(e.clone()),
    };
    match result {
        Ok(resp) => Ok(resp),
        Err(e) => {
            // dario's own refusals are counted too.
            tracker.reason = Some(e.message.clone());
            tracker.record("", e.status().as_u16(), &EndInfo::default());
            let mut resp = super::handler::error_response(&e, inbound);
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

#[allow(clippy::too_many_arguments)]
async fn route_and_send(
    state: &Arc<ProxyState>,
    snapshot: &Arc<Snapshot>,
    parts: &http::request::Parts,
    body: &Bytes,
    peek: &Peek,
    inbound: Protocol,
    count_tokens: bool,
    tracker: &mut Tracker,
) -> Result<Response<Body>, ProxyError> {
    let decision = snapshot.routes.resolve(&peek.model).map_err(|e| {
        let kind = match e {
            crate::routing::RouteError::EmptyModel { .. } => ErrorKind::InvalidRequest,
            _ => ErrorKind::NotFound,
        };
        ProxyError::new(kind, e.to_string()).with_param("model")
    })?;
    let primary = snapshot.config.backends.get(&decision.backend).ok_or_else(|| {
        ProxyError::new(
            ErrorKind::NotFound,
            format!(
                "route for `{}` names backend `{}`, which is not configured: run `dario backend list`",
                peek.model, decision.backend
            ),
        )
    })?;
    tracker.backend = primary.name.clone();
    tracker.upstream_model = decision.upstream_model.clone();

    // count_tokens on a backend that cannot count: a local estimate, flagged as such.
    if count_tokens && primary.protocol != Protocol::Anthropic {
        let n = crate::translate::estimate_tokens_anthropic_request(body)
            .map_err(dispatch::translate_error)?;
        let mut resp = Response::new(full(
            serde_json::to_vec(&serde_json::json!({ "input_tokens": n })).unwrap_or_default(),
        ));
        let h = resp.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            "x-dario-token-count",
            HeaderValue::from_static("estimate; tiktoken o200k_base"),
        );
        if let Ok(v) = HeaderValue::from_str(&primary.name) {
            h.insert("x-dario-backend", v);
        }
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

    send_with_failover(
        state,
        snapshot,
        parts,
        body,
        peek,
        inbound,
        count_tokens,
        &decision,
        tracker,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn send_with_failover(
    state: &Arc<ProxyState>,
    snapshot: &Arc<Snapshot>,
    parts: &http::request::Parts,
    body: &Bytes,
    peek: &Peek,
    inbound: Protocol,
    count_tokens: bool,
    decision: &RouteDecision,
    tracker: &mut Tracker,
) -> Result<Response<Body>, ProxyError> {
    let limits = &snapshot.config.limits;
    let max_attempts = limits.max_attempts.max(1) as u32;
    let candidates: Vec<&str> = std::iter::once(decision.backend.as_str())
        .chain(decision.fallbacks.iter().map(String::as_str))
        .collect();
    // Claude Code's session header, or Codex's.
    let session = ["x-claude-code-session-id", "session-id"]
        .iter()
        .find_map(|h| parts.headers.get(*h))
        .and_then(|v| v.to_str().ok());
    let store = state.responses.clone();
    let history = move |id: &str| store.get(id);
    let error_read_deadline = limits.stream_idle_timeout.min(Duration::from_secs(30));
    let mut failure: Option<Failure> = None;
    let mut first_error: Option<ProxyError> = None;

    'candidates: for (ci, name) in candidates.iter().enumerate() {
        let is_last_candidate = ci + 1 == candidates.len();
        let Some(backend) = snapshot.config.backends.get(*name) else {
            continue;
        };
        // Counting tokens is not a completion: never fall back to a backend that cannot count.
        if count_tokens && backend.protocol != Protocol::Anthropic {
            continue;
        }
        // A team-wide limit (`[cluster.limits.<backend>]`) shared by every instance; counting
        // tokens is not a completion and is not counted.
        if let (Some(cluster), Some(c), false) =
            (&state.cluster, &snapshot.config.cluster, count_tokens)
        {
            if let Err(limited) = cluster.admit(&c.limits, name).await {
                failure.get_or_insert(Failure::TeamLimited(limited));
                continue;
            }
        }
        // Fallbacks get the same resolved model id (a `[[routes]]` rename applies to all).
        let upstream_model = decision.upstream_model.as_str();
        let mut prepared: Prepared = match dispatch::prepare(
            inbound,
            backend,
            &parts.headers,
            body,
            peek,
            upstream_model,
            count_tokens,
            state.system_messages_for(backend),
            &history,
        ) {
            Ok(p) => p,
            Err(e) if ci == 0 => return Err(e),
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        let sticky_key = if snapshot.pools.needs_sticky_key(name) {
            pool::conversation_key(session, body, inbound)
        } else {
            None
        };
        if let (Some(cluster), Some(key)) = (&state.cluster, &sticky_key) {
            // A conversation another instance bound: adopt its deployment (bounded wait).
            cluster.adopt_binding(state, name, key).await;
        }
        let mut tried: Vec<String> = Vec::new();
        loop {
            if tracker.attempts >= max_attempts {
                break 'candidates;
            }
            let acquired = if is_last_candidate {
                snapshot
                    .pools
                    .acquire_or_wait(name, sticky_key.as_deref(), &tried, limits.exhaustion_wait)
                    .await
            } else {
                snapshot
                    .pools
                    .acquire(name, sticky_key.as_deref(), &tried, Instant::now())
            };
            let lease = match acquired {
                Ok(l) => l,
                Err(AcquireError::Exhausted {
                    backend,
                    retry_after,
                    ..
                }) => {
                    if failure.is_none() {
                        failure = Some(Failure::Exhausted {
                            backend,
                            retry_after: retry_after.as_secs().max(1),
                        });
                    }
                    continue 'candidates;
                }
                Err(_) => continue 'candidates,
            };
            // A key expected from an unset environment variable: say so, before any upstream call
            // (the upstream would only answer 401 without saying which credential was missing).
            if let crate::config::Credential::KeyEnv { var, value: None } =
                &lease.target().credential
            {
                let deployment = if snapshot.pools.needs_sticky_key(name) {
                    format!(" (deployment `{}`)", lease.alias())
                } else {
                    String::new()
                };
                first_error.get_or_insert(ProxyError::new(
                    ErrorKind::Authentication,
                    format!(
                        "backend `{name}`{deployment} takes its key from the environment variable \
                         {var}, which is not set where dario runs: nothing was sent upstream. \
                         Export {var} in the shell that starts `dario proxy` and restart it, or \
                         store the key: `dario backend add {name} --key …`"
                    ),
                ));
                tried.push(lease.alias().to_string());
                continue;
            }
            if tracker.attempts > 0 {
                state.analytics.observe_failover(lease.backend());
            }
            tracker.attempts += 1;
            tracker.backend = name.to_string();
            tried.push(lease.alias().to_string());
            let target = lease.target().clone();

            let permit = state.admission.enter().await?;
            let auth = upstream::choose_auth(
                &target.credential,
                &parts.headers,
                state.options.api_key.is_some(),
            );
            let request = upstream::build_request(OutboundRequest {
                backend,
                base_url: &target.base_url,
                path: prepared.path,
                passthrough: prepared.translate_from.is_none(),
                client_headers: &parts.headers,
                client_query: parts.uri.query(),
                auth,
                body: prepared.body.clone(),
                anthropic_beta: if backend.protocol == Protocol::Anthropic {
                    decision.anthropic_beta.as_deref()
                } else {
                    None
                },
            });
            let request = match request {
                Ok(r) => r,
                Err(why) => {
                    // As unreachable as a refused connection: cool the deployment down too.
                    lease.report_connect_error(Instant::now());
                    failure = Some(Failure::Connect(format!(
                        "backend `{name}` has an unusable base URL: {why}; fix it with `dario backend add` or in config.toml"
                    )));
                    continue;
                }
            };
            let sent = Instant::now();
            let outcome =
                tokio::time::timeout(limits.first_byte_timeout, state.client.send(request)).await;
            tracker.upstream_wait += sent.elapsed();
            let response = match outcome {
                Err(_) => {
                    lease.report_timeout(Instant::now());
                    failure = Some(Failure::Timeout(format!(
                        "backend `{name}` sent no response within {} s",
                        limits.first_byte_timeout.as_secs()
                    )));
                    continue;
                }
                Ok(Err(e)) => {
                    lease.report_connect_error(Instant::now());
                    failure = Some(Failure::Connect(connect_message(name, &e, snapshot)));
                    continue;
                }
                Ok(Ok(r)) => r,
            };
            let status = response.status();
            lease.report_response(status.as_u16(), response.headers(), Instant::now());
            if let Some(why) = egress::unrelayable(name, status, response.headers()) {
                drop(response);
                return Err(ProxyError::new(ErrorKind::Api, why));
            }
            if pool::is_retryable_status(status.as_u16()) {
                let headers = response.headers().clone();
                let body = super::relay::read_error_body(response, error_read_deadline).await;
                failure = Some(Failure::Upstream {
                    status,
                    headers,
                    body,
                    backend: name.to_string(),
                    protocol: backend.protocol,
                });
                continue;
            }

            // This response goes to the client, whatever it is.
            let overhead = tracker.overhead();
            let attempts = tracker.attempts;
            let mut resp = if status.is_success() {
                let alias = lease.alias().to_string();
                // From here on the relay's end hook records the request.
                tracker.recorded = true;
                if !prepared.dropped.is_empty() {
                    tracker.meter.context.dropped = prepared.dropped.clone();
                }
                let hook = end_hook(
                    state,
                    &tracker.meter,
                    name,
                    &alias,
                    upstream_model,
                    status,
                    attempts,
                    overhead,
                    (lease, permit),
                );
                egress::success(
                    response,
                    inbound,
                    &prepared,
                    &peek.model,
                    name,
                    snapshot,
                    hook,
                    &state.responses,
                )
                .await
            } else {
                let headers = response.headers().clone();
                let err_body = super::relay::read_error_body(response, error_read_deadline).await;
                // A chat template that takes a system message only at the start: translate
                // again with those messages as user text, on the same deployment.
                if status == StatusCode::BAD_REQUEST
                    && prepared.inline_system_messages
                    && backend.system_messages.is_none()
                    && refuses_mid_system_messages(&err_body)
                {
                    state.learn_system_as_user(name);
                    if let Ok(again) = dispatch::prepare(
                        inbound,
                        backend,
                        &parts.headers,
                        body,
                        peek,
                        upstream_model,
                        count_tokens,
                        crate::translate::SystemMessages::User,
                        &history,
                    ) {
                        prepared = again;
                        tried.pop();
                        continue;
                    }
                }
                tracker.reason = Some(upstream_reason(&err_body, snapshot));
                // A refused credential: say which one was used (its source, never the value).
                let refused_credential = matches!(status.as_u16(), 401 | 403);
                if refused_credential {
                    tracker.reason = Some(format!(
                        "{} (credential sent: {})",
                        tracker.reason.as_deref().unwrap_or(""),
                        target.credential.source_label()
                    ));
                }
                // A 404 from an OpenAI-style base URL without `/v1`: most likely the URL, not
                // the model. Say so, with the upstream's own words.
                let wrong_url = (status == StatusCode::NOT_FOUND
                    && backend.protocol == Protocol::OpenAi)
                    .then(|| crate::config::missing_version_hint(&target.base_url))
                    .flatten();
                if let Some(hint) = wrong_url {
                    let e = ProxyError::new(
                        ErrorKind::UnknownEndpoint,
                        format!(
                            "backend `{name}` answered 404 ({}). The likely cause: its {hint}",
                            tracker.reason.as_deref().unwrap_or("")
                        ),
                    );
                    tracker.reason = Some(e.message.clone());
                    tracker.record(lease.alias(), status.as_u16(), &EndInfo::default());
                    let mut r = super::handler::error_response(&e, inbound);
                    if let Ok(v) = HeaderValue::from_str(name) {
                        r.headers_mut().insert("x-dario-backend", v);
                    }
                    r
                } else {
                    tracker.record(lease.alias(), status.as_u16(), &EndInfo::default());
                    egress::upstream_error(
                        status,
                        &headers,
                        &err_body,
                        name,
                        backend.protocol,
                        inbound,
                        snapshot,
                    )
                }
            };
            resp.headers_mut().insert(
                "x-dario-overhead-us",
                HeaderValue::from(overhead.as_micros() as u64),
            );
            if matches!(status.as_u16(), 401 | 403) {
                // Which credential the upstream refused: its source (`env GROQ_API_KEY (set)`,
                // `passthrough (client's own credential)`…), never its value.
                if let Ok(v) = HeaderValue::from_str(&target.credential.source_label()) {
                    resp.headers_mut().insert("x-dario-credential-source", v);
                }
            }
            if attempts > 1 {
                resp.headers_mut()
                    .insert("x-dario-attempts", HeaderValue::from(attempts));
            }
            return Ok(resp);
        }
    }

    // Nothing succeeded: answer with the most telling failure.
    let error = match failure {
        Some(Failure::Upstream {
            status,
            headers,
            body,
            backend,
            protocol,
        }) => {
            tracker.backend = backend.clone();
            tracker.reason = Some(upstream_reason(&body, snapshot));
            tracker.record("", status.as_u16(), &EndInfo::default());
            let mut r = egress::upstream_error(
                status, &headers, &body, &backend, protocol, inbound, snapshot,
            );
            r.headers_mut()
                .insert("x-dario-attempts", HeaderValue::from(tracker.attempts));
            return Ok(r);
        }
        Some(Failure::Exhausted {
            backend,
            retry_after,
        }) => {
            tracker.backend = backend.clone();
            ProxyError::new(
                ErrorKind::RateLimit,
                format!("every deployment of backend `{backend}` is cooling down after rate limits or errors; retry in {retry_after} s (see `GET /pool`)"),
            )
            .with_retry_after(retry_after)
        }
        Some(Failure::TeamLimited(limited)) => {
            tracker.backend = limited.backend.clone();
            ProxyError::new(ErrorKind::RateLimit, limited.to_string())
                .with_retry_after(limited.retry_after_secs)
        }
        Some(Failure::Connect(msg)) => ProxyError::new(ErrorKind::Api, msg),
        Some(Failure::Timeout(msg)) => ProxyError::new(ErrorKind::Timeout, msg),
        None => first_error.unwrap_or_else(|| {
            ProxyError::new(
                ErrorKind::Api,
                format!(
                    "no usable backend for model `{}`: check `dario route {}`",
                    peek.model, peek.model
                ),
            )
        }),
    };
    Err(error)
}

/// Does an upstream 400 say that a system message may only come first? (Chat templates of
/// local servers: "System message must be at the beginning", "Unexpected role 'system'",
/// "roles must alternate", "only the first message may be a system message".)
fn refuses_mid_system_messages(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]).to_ascii_lowercase();
    text.contains("system")
        && [
            "beginning",
            "first",
            "unexpected role",
            "alternate",
            "position",
            "not allowed",
            "only one system",
        ]
        .iter()
        .any(|k| text.contains(k))
}

/// The start of an upstream error body, on one line and scrubbed, for the failure log line.
fn upstream_reason(body: &[u8], snapshot: &Snapshot) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("upstream said {}", snapshot.scrub(one_line.trim()))
}

fn connect_message(backend: &str, e: &UpstreamError, snapshot: &Snapshot) -> String {
    let text = e.to_string();
    let reason = snapshot.scrub(&text);
    if e.is_connect() {
        format!("could not connect to backend `{backend}` ({reason}): check its base URL with `dario backend list` and that the server is up")
    } else {
        format!("request to backend `{backend}` failed: {reason}")
    }
}

/// The hook that accounts for a relayed response when it ends. It owns the lease and the
/// admission permit, so the deployment counts as in flight until the stream is over.
#[allow(clippy::too_many_arguments)]
fn end_hook(
    state: &Arc<ProxyState>,
    meter: &Meter,
    backend: &str,
    deployment: &str,
    upstream_model: &str,
    status: StatusCode,
    attempts: u32,
    overhead: Duration,
    held: (pool::Lease, tokio::sync::OwnedSemaphorePermit),
) -> EndHook {
    let state = state.clone();
    let meter = meter.clone();
    let backend = backend.to_string();
    let deployment = deployment.to_string();
    let upstream_model = upstream_model.to_string();
    EndHook::new(move |end: EndInfo| {
        let _held = held;
        // A stream that broke mid-way is an error for accounting, whatever the status line said.
        let status = if end.error.is_some() {
            502
        } else if end.client_gone && end.bytes == 0 && end.first_byte.is_none() {
            499
        } else {
            status.as_u16()
        };
        meter.record(
            &state,
            &backend,
            &deployment,
            &upstream_model,
            status,
            attempts,
            overhead,
            &end,
            None,
        );
    })
}
