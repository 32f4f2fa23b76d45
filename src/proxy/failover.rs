//! Failover: one chat request tried on the route's candidates — the primary backend, then its
//! fallbacks — and on each backend's deployments, until one upstream answers with something to
//! relay. A retryable failure (connect error, first-byte timeout, 429/5xx) before the first byte
//! moves to the next deployment or backend; the client sees exactly one response.
//!
//! Each attempt: team limit (`[cluster]`) → dispatch (splice or translate) → lease a deployment
//! (pool) → admission → upstream → egress, with the lease and permit handed to the meter's end
//! hook. Must not: hold a lock across `.await` (leases and permits are RAII values, not locks),
//! or retry after a byte went to the client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use super::body::Body;
use super::dispatch::{self, Prepared};
use super::egress;
use super::egress::relay::EndInfo;
use super::error::ProxyError;
use super::ingress::{ChatKind, Inbound};
use super::meter::Tracker;
use super::state::{ProxyState, Snapshot};
use super::upstream::{self, OutboundRequest};
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
    /// No usable answer from the last deployment tried: unreachable, unusable base URL, or no
    /// first byte in time.
    Unanswered(ProxyError),
    /// Every deployment was cooling.
    Exhausted { backend: String, retry_after: u64 },
    /// A team-wide limit of `[cluster.limits.<backend>]` was used up.
    TeamLimited(crate::cluster::TeamLimited),
}

/// Sends `chat` to the first candidate of `decision` that answers (see the module header).
/// `Err` is dario's own answer (no upstream response to relay), for the caller to render.
pub async fn send(
    state: &Arc<ProxyState>,
    snapshot: &Arc<Snapshot>,
    chat: &Inbound,
    decision: &RouteDecision,
    tracker: &mut Tracker,
) -> Result<Response<Body>, ProxyError> {
    let Inbound {
        protocol: inbound,
        kind,
        ref parts,
        ref peek,
        ..
    } = *chat;
    // Counting tokens is not a completion: no fallback that cannot count, no team limit.
    let counting = kind == ChatKind::CountTokens;
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
        if counting && backend.protocol != Protocol::Anthropic {
            continue;
        }
        // A team-wide limit (`[cluster.limits.<backend>]`) shared by every instance; counting
        // tokens is not a completion and is not counted.
        if let (Some(cluster), Some(c), false) =
            (&state.cluster, &snapshot.config.cluster, counting)
        {
            if let Err(limited) = cluster.admit(&c.limits, name).await {
                failure.get_or_insert(Failure::TeamLimited(limited));
                continue;
            }
        }
        // Fallbacks get the same resolved model id (a `[[routes]]` rename applies to all).
        let upstream_model = decision.upstream_model.as_str();
        let mut prepared: Prepared = match dispatch::prepare(
            chat,
            backend,
            upstream_model,
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
            pool::conversation_key(session, &chat.body, inbound)
        } else {
            None
        };
        if let (Some(cluster), Some(key)) = (&state.cluster, &sticky_key) {
            // A conversation another instance bound: adopt its deployment (bounded wait).
            cluster.adopt_binding(state.as_ref(), name, key).await;
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
                first_error.get_or_insert(ProxyError::key_env_unset(name, &deployment, var));
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
                    failure = Some(Failure::Unanswered(ProxyError::unusable_base_url(
                        name, &why,
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
                    failure = Some(Failure::Unanswered(ProxyError::first_byte_timeout(
                        name,
                        limits.first_byte_timeout,
                    )));
                    continue;
                }
                Ok(Err(e)) => {
                    lease.report_connect_error(Instant::now());
                    let reason = e.to_string();
                    failure = Some(Failure::Unanswered(ProxyError::upstream_unreachable(
                        name,
                        e.is_connect(),
                        &snapshot.scrub(&reason),
                    )));
                    continue;
                }
                Ok(Ok(r)) => r,
            };
            let status = response.status();
            lease.report_response(status.as_u16(), response.headers(), Instant::now());
            if let Some(why) = egress::unrelayable(name, status, response.headers()) {
                drop(response);
                return Err(ProxyError::unrelayable(why));
            }
            if pool::is_retryable_status(status.as_u16()) {
                let headers = response.headers().clone();
                let body = upstream::read_error_body(response, error_read_deadline).await;
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
                tracker.note_dropped(&prepared.dropped);
                let hook = tracker.end_hook(&alias, status, overhead, (lease, permit));
                egress::success(
                    response,
                    chat,
                    &prepared,
                    name,
                    snapshot,
                    hook,
                    &state.responses,
                )
                .await
            } else {
                let headers = response.headers().clone();
                let err_body = upstream::read_error_body(response, error_read_deadline).await;
                // A chat template that takes a system message only at the start: translate
                // again with those messages as user text, on the same deployment.
                if status == StatusCode::BAD_REQUEST
                    && prepared.inline_system_messages
                    && backend.system_messages.is_none()
                    && refuses_mid_system_messages(&err_body)
                {
                    state.learn_system_as_user(name);
                    if let Ok(again) = dispatch::prepare(
                        chat,
                        backend,
                        upstream_model,
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
                    let e = ProxyError::wrong_base_url(
                        name,
                        tracker.reason.as_deref().unwrap_or(""),
                        &hint,
                    );
                    tracker.reason = Some(e.message.clone());
                    tracker.record(lease.alias(), status.as_u16(), &EndInfo::default());
                    let mut r = e.into_response(inbound);
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
            ProxyError::pool_exhausted(&backend, retry_after)
        }
        Some(Failure::TeamLimited(limited)) => {
            tracker.backend = limited.backend.clone();
            ProxyError::team_limited(&limited)
        }
        Some(Failure::Unanswered(e)) => e,
        None => first_error.unwrap_or_else(|| ProxyError::no_usable_backend(&peek.model)),
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
