//! What analytics is told: one [`Record`] per finished request, with its [`RequestContext`];
//! the [`RecordSink`]s every record also goes to; the rules a record is summarised by (its
//! model, whether it is an error); and [`RecordView`], a kept record as `/analytics` shows it.
//!
//! Owns: the record's shape. Must not: aggregate (the state in `mod.rs` does).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::protocol::{Protocol, Usage};

/// One finished request, as the proxy reports it (passthrough or translated, streamed or not).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// When the request arrived.
    pub timestamp: SystemTime,
    pub request_id: String,
    /// The protocol the client spoke.
    pub inbound: Protocol,
    /// Backend that answered last (empty when the request was never routed).
    pub backend: String,
    /// Deployment alias that answered last.
    pub deployment: String,
    /// Model name the client sent.
    pub requested_model: String,
    /// Model name sent upstream (prices are looked up by it; by `requested_model` when empty).
    pub upstream_model: String,
    /// Status the client got.
    pub status: u16,
    pub streamed: bool,
    /// Upstream attempts made (1 without failover).
    pub attempts: u32,
    /// Arrival to last byte sent.
    pub latency: Duration,
    /// Arrival to first byte sent to the client.
    pub ttfb: Option<Duration>,
    /// Time spent inside dario, excluding waiting for upstreams.
    pub overhead: Duration,
    pub usage: Usage,
    /// Who asked, on which endpoint, and what translation dropped (kept on disk and shown by the
    /// dashboard; not aggregated in memory).
    pub context: RequestContext,
}

/// Facts about a request beyond what the summaries aggregate (SPEC §6 plus issue 14): never a
/// key, never a prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The inbound path (`/v1/messages`, `/v1/chat/completions`, …).
    pub endpoint: String,
    /// The client's User-Agent family (`claude-code`, `anthropic-python`, `curl`, …).
    pub client: String,
    /// Claude Code's `x-claude-code-session-id`, when sent.
    pub session_id: Option<String>,
    /// Claude Code's `x-claude-code-agent-id`, when sent.
    pub agent_id: Option<String>,
    /// Request fields translation could not express (`x-dario-dropped`).
    pub dropped: Vec<String>,
}

/// Where every finished record also goes (the history on disk, the dashboard feed). `accept` is
/// called on the request path: it must not block (a bounded `try_send` or less). The record is
/// shared: a sink that keeps it clones the `Arc`, not the strings.
pub trait RecordSink: Send + Sync {
    fn accept(&self, record: &Arc<Record>, cost_usd: f64, priced: bool);
}

/// The model prices and summaries go by: the upstream model, else the requested one. One rule
/// for the in-memory records and the history on disk.
pub fn summary_model<'a>(upstream_model: &'a str, requested_model: &'a str) -> &'a str {
    if upstream_model.is_empty() {
        requested_model
    } else {
        upstream_model
    }
}

/// Whether a status counts as an error: 4xx/5xx, and 0 (no response at all).
pub fn is_error_status(status: u16) -> bool {
    status >= 400 || status == 0
}

impl Record {
    pub(super) fn model(&self) -> &str {
        summary_model(&self.upstream_model, &self.requested_model)
    }

    /// 4xx/5xx (and 0 = no response at all).
    pub fn is_error(&self) -> bool {
        is_error_status(self.status)
    }
}

/// A kept record as `/analytics` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordView {
    pub timestamp: String,
    pub request_id: String,
    pub inbound: Protocol,
    pub backend: String,
    pub deployment: String,
    pub requested_model: String,
    pub upstream_model: String,
    pub status: u16,
    pub streamed: bool,
    pub attempts: u32,
    pub latency_ms: f64,
    pub ttfb_ms: Option<f64>,
    pub overhead_ms: f64,
    pub usage: Usage,
    pub cost_usd: f64,
    pub priced: bool,
}
