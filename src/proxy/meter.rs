//! Meter: every chat request recorded exactly once — one `analytics::Record` (usage from the
//! relay's end of stream), the team-limit token charge with `[cluster]`, and the log lines (one
//! per request with `-v`, one per failed request at the default level).
//!
//! Owns: the record of a request and when it is written: by the relay's end hook once a
//! response is under way, by the chat path for errors, on drop when the client went away while
//! dario was still waiting (status 499). Must not: block (recording is a non-blocking push) or
//! log a secret (reasons are scrubbed before they get here).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::StatusCode;

use super::egress::relay::{EndHook, EndInfo};
use super::state::ProxyState;
use crate::analytics::{Record, RequestContext};
use crate::protocol::Protocol;

/// Facts about one request, for the log line and the analytics record. Recording consumes it:
/// its strings move into the record instead of being copied.
pub struct Meter {
    received: Instant,
    received_wall: SystemTime,
    request_id: String,
    inbound: Protocol,
    requested_model: String,
    streamed: bool,
    /// Endpoint, client and Claude Code ids (for the history and the dashboard).
    context: RequestContext,
}

/// Where a request went and how it ended: what its record says besides the request's own facts.
/// The names are owned: they move into the record.
#[derive(Default)]
pub struct Outcome<'a> {
    pub backend: String,
    pub deployment: String,
    pub upstream_model: String,
    pub status: u16,
    pub attempts: u32,
    pub overhead: Duration,
    /// Why it failed (dario's message or the upstream's, scrubbed), for the failure log line.
    pub reason: Option<&'a str>,
}

impl Meter {
    /// The facts of a request received at `received` (its body peeked: `requested_model` and
    /// `streamed`; empty and false when the body could not be).
    pub fn new(
        received: Instant,
        request_id: &str,
        inbound: Protocol,
        requested_model: &str,
        streamed: bool,
        parts: Option<&http::request::Parts>,
    ) -> Meter {
        Meter {
            received,
            received_wall: SystemTime::now() - received.elapsed(),
            request_id: request_id.to_string(),
            inbound,
            requested_model: requested_model.to_string(),
            streamed,
            context: parts.map(request_context).unwrap_or_default(),
        }
    }

    fn record(self, state: &ProxyState, o: Outcome<'_>, end: &EndInfo) {
        let Outcome {
            backend,
            deployment,
            upstream_model,
            status,
            attempts,
            overhead,
            reason,
        } = o;
        let finished = Instant::now();
        let latency = finished.saturating_duration_since(self.received);
        if let Some(cluster) = &state.cluster {
            if let Some(c) = &state.snapshot.load().config.cluster {
                let u = &end.usage;
                let tokens =
                    u.input_tokens + u.cache_read_tokens + u.cache_write_tokens + u.output_tokens;
                cluster.charge_tokens(&c.limits, &backend, tokens);
            }
        }
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
        state.analytics.record_at(
            Record {
                timestamp: self.received_wall,
                request_id: self.request_id,
                inbound: self.inbound,
                backend,
                deployment,
                requested_model: self.requested_model,
                upstream_model,
                status,
                streamed: self.streamed,
                attempts,
                latency,
                ttfb: end
                    .first_byte
                    .map(|t| t.saturating_duration_since(self.received)),
                overhead,
                usage: end.usage,
                context: self.context,
            },
            finished,
        );
    }
}

/// Where a request got to, so that it is recorded exactly once however it ends: by the relay's
/// end hook once a response is under way ([`Tracker::end_hook`]), by the chat path for errors
/// ([`Tracker::record`]), and on drop when the client went away while dario was still waiting
/// (status 499, nginx's "client closed request").
pub struct Tracker {
    state: Arc<ProxyState>,
    /// When the request arrived (the meter's, kept for `overhead` after the meter is gone).
    received: Instant,
    /// The request's facts until it is recorded (then `None`: it records once).
    meter: Option<Meter>,
    /// The backend last tried (for the record and `x-dario-backend`).
    pub backend: String,
    pub upstream_model: String,
    pub attempts: u32,
    pub upstream_wait: Duration,
    /// Why the request failed, for the failure log line (dario's message or the upstream's,
    /// scrubbed).
    pub reason: Option<String>,
}

impl Tracker {
    pub fn new(state: &Arc<ProxyState>, meter: Meter) -> Tracker {
        Tracker {
            state: state.clone(),
            received: meter.received,
            meter: Some(meter),
            backend: String::new(),
            upstream_model: String::new(),
            attempts: 0,
            upstream_wait: Duration::ZERO,
            reason: None,
        }
    }

    /// Request fields the upstream could not take (kept with the record).
    pub fn note_dropped(&mut self, dropped: &[String]) {
        if let Some(meter) = &mut self.meter {
            if !dropped.is_empty() {
                meter.context.dropped = dropped.to_vec();
            }
        }
    }

    /// Time spent in dario so far (not waiting for an upstream).
    pub fn overhead(&self) -> Duration {
        self.received.elapsed().saturating_sub(self.upstream_wait)
    }

    /// Records the request now (once; later calls do nothing).
    pub fn record(&mut self, deployment: &str, status: u16, end: &EndInfo) {
        if let Some(meter) = self.meter.take() {
            let overhead = self.overhead();
            let outcome = Outcome {
                // `backend` stays: the error response names it in `x-dario-backend`.
                backend: self.backend.clone(),
                deployment: deployment.to_string(),
                upstream_model: std::mem::take(&mut self.upstream_model),
                status,
                attempts: self.attempts,
                overhead,
                reason: self.reason.as_deref(),
            };
            meter.record(&self.state, outcome, end);
        }
    }

    /// The hook that records a relayed response when it ends; from here on the tracker records
    /// nothing. It owns `held` (the lease and the admission permit), so the deployment counts as
    /// in flight until the stream is over.
    pub fn end_hook<H: Send + 'static>(
        &mut self,
        deployment: &str,
        status: StatusCode,
        overhead: Duration,
        held: H,
    ) -> EndHook {
        let meter = self.meter.take();
        let state = self.state.clone();
        let backend = self.backend.clone();
        let deployment = deployment.to_string();
        let upstream_model = std::mem::take(&mut self.upstream_model);
        let attempts = self.attempts;
        EndHook::new(move |end: EndInfo| {
            let _held = held;
            // Recorded already (cannot happen: the hook is made once, before any record).
            let Some(meter) = meter else { return };
            // A stream that broke mid-way is an error for accounting, whatever the status line
            // said.
            let status = if end.error.is_some() {
                502
            } else if end.client_gone && end.bytes == 0 && end.first_byte.is_none() {
                499
            } else {
                status.as_u16()
            };
            let outcome = Outcome {
                backend,
                deployment,
                upstream_model,
                status,
                attempts,
                overhead,
                reason: None,
            };
            meter.record(&state, outcome, &end);
        })
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
    let meter = Meter::new(received, request_id, inbound, "", false, None);
    let outcome = Outcome {
        status,
        overhead: received.elapsed(),
        ..Outcome::default()
    };
    meter.record(state, outcome, &EndInfo::default());
}
