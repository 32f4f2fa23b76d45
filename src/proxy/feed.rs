//! The dashboard's live feed: finished requests as the page shows them, on a broadcast channel.
//!
//! Owns: the row view of a record (names, counts and times) and the publisher the analytics feed
//! it through. Must not: serialise anything while nobody watches, or block (a slow watcher skips).
//! Apart from `dashboard` so that the proxy's state can hold the feed without depending on the
//! dashboard's endpoints.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::analytics::{Record, RecordSink};
use crate::history::HistoryRow;

/// A record as the dashboard shows it: names, counts and times; never a key or a prompt.
pub fn row_view(r: &HistoryRow) -> Value {
    json!({
        "timestamp": crate::timefmt::format_rfc3339(
            std::time::UNIX_EPOCH + Duration::from_millis(r.ts_ms.max(0) as u64)),
        "request_id": r.request_id,
        "endpoint": r.endpoint,
        "inbound": r.inbound,
        "client": r.client,
        "session_id": r.session_id,
        "agent_id": r.agent_id,
        "backend": r.backend,
        "deployment": r.deployment,
        "requested_model": r.requested_model,
        "upstream_model": r.upstream_model,
        "status": r.status,
        "streamed": r.streamed,
        "attempts": r.attempts,
        "latency_ms": r.latency_us as f64 / 1000.0,
        "ttfb_ms": r.ttfb_us.map(|t| t as f64 / 1000.0),
        "overhead_ms": r.overhead_us as f64 / 1000.0,
        "tokens": {
            "input": r.input_tokens,
            "output": r.output_tokens,
            "cache_read": r.cache_read_tokens,
            "cache_write": r.cache_write_tokens,
            "reasoning": r.reasoning_tokens,
            "total": r.input_tokens + r.output_tokens + r.cache_read_tokens + r.cache_write_tokens,
        },
        "cost_usd": r.cost_usd,
        "priced": r.priced,
        "dropped": r.dropped.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
    })
}

/// The live feed's publisher: a [`RecordSink`] that serialises a record only while someone
/// watches, and sends it on a broadcast channel (a slow watcher skips, never blocks).
pub struct Feed {
    tx: tokio::sync::broadcast::Sender<Arc<str>>,
    watchers: AtomicUsize,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            tx: tokio::sync::broadcast::Sender::new(256),
            watchers: AtomicUsize::new(0),
        }
    }
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("watchers", &self.watchers.load(Ordering::Relaxed))
            .finish()
    }
}

impl Feed {
    /// A new watcher: its receiver, and the guard that counts it while it lives.
    pub fn watch(self: &Arc<Self>) -> (tokio::sync::broadcast::Receiver<Arc<str>>, Watching) {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        (self.tx.subscribe(), Watching(self.clone()))
    }
}

impl RecordSink for Feed {
    fn accept(&self, record: &Arc<Record>, cost_usd: f64, priced: bool) {
        if self.watchers.load(Ordering::Relaxed) == 0 {
            return;
        }
        let view = row_view(&HistoryRow::from_record(record, cost_usd, priced));
        let _ = self.tx.send(Arc::from(view.to_string()));
    }
}

/// Counts a watcher for as long as it lives.
pub struct Watching(Arc<Feed>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}
