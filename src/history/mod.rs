//! Usage history on disk: every request record in `<home>/history.sqlite3` (issue 14).
//!
//! Owns: the database (schema and migrations in `schema`, opening in `store`), the background
//! writer (`writer`) and the queries behind `dario stats` and `/analytics?since=` (`query`).
//!
//! Must not: block the request path or stop the proxy. Recording is [`RecordSink::accept`]: one
//! bounded `try_send` into the writer's channel (a full channel drops the record and counts it).
//! The writer is a plain thread — never a task on the async runtime — that commits a batch every
//! [`BATCH_SIZE`] records or every [`FLUSH_INTERVAL`], whichever comes first, so a SIGKILL loses
//! at most the batch being gathered. It sleeps between batches: recording a request wakes it only
//! when that request fills a batch (a wake-up per request measured +30 µs CPU per request). A database that cannot be opened (corrupt, locked, newer
//! schema, unwritable) is reported once in the log, in `/status` and in `dario doctor`; the proxy
//! keeps serving and counting in memory, and the file is never replaced or renamed.
//! Never stored: keys, prompts, response bodies.

pub mod query;
pub mod schema;
pub mod store;
mod writer;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::analytics::{Record, RecordSink};
use crate::config::HistoryConfig;

pub use query::{parse_since, recent, summarize, HistorySummary, Since};
pub use store::{db_path, inspect, open_read_only, DbInfo};

/// Records per committed batch (at most this many are lost to a SIGKILL).
pub const BATCH_SIZE: usize = 256;
/// A batch is committed at least this often while records arrive.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Records that may wait for the writer before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 16_384;

/// What went wrong with the history database. Every message names the file and the next step.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("could not open the history database `{}`: {source}; check the permissions of dario's home, or set `[history] enabled = false` in config.toml", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("history database `{}`: {source}; if the file is damaged or from another program, move it aside (dario never replaces it), or set `[history] enabled = false` in config.toml", .path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the history database{} has schema version {found}, newer than this dario knows ({known}): upgrade dario, or set `[history] enabled = false` in config.toml", at_path(.path))]
    NewerSchema {
        found: u32,
        known: u32,
        path: Option<PathBuf>,
    },
    #[error("no history database at `{}`: history is written by `dario proxy` (on unless `[history] enabled = false`); send a request through it first", .0.display())]
    Missing(PathBuf),
    #[error("history database `{}` is unusable: {why}; move it aside or set `[history] enabled = false` in config.toml", .path.display())]
    Unusable { path: PathBuf, why: String },
}

fn at_path(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| format!(" `{}`", p.display()))
        .unwrap_or_default()
}

impl HistoryError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        HistoryError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn sqlite(path: &Path, source: rusqlite::Error) -> Self {
        HistoryError::Sqlite {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Names `path` in an error raised without one.
    pub(crate) fn at(self, path: &Path) -> Self {
        match self {
            HistoryError::Sqlite { path: p, source } if p.as_os_str().is_empty() => {
                HistoryError::sqlite(path, source)
            }
            HistoryError::NewerSchema {
                found,
                known,
                path: None,
            } => HistoryError::NewerSchema {
                found,
                known,
                path: Some(path.to_path_buf()),
            },
            e => e,
        }
    }
}

impl From<rusqlite::Error> for HistoryError {
    fn from(source: rusqlite::Error) -> Self {
        HistoryError::Sqlite {
            path: PathBuf::new(),
            source,
        }
    }
}

/// One request as stored (a row of `requests`).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub ts_ms: i64,
    pub request_id: String,
    pub endpoint: String,
    pub inbound: &'static str,
    pub client: String,
    pub session_id: Option<String>,
    pub agent_id: Option<String>,
    pub backend: String,
    pub deployment: String,
    pub requested_model: String,
    pub upstream_model: String,
    pub status: u16,
    pub streamed: bool,
    pub attempts: u32,
    pub latency_us: u64,
    pub ttfb_us: Option<u64>,
    pub overhead_us: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost_usd: f64,
    pub priced: bool,
    pub dropped: String,
}

impl HistoryRow {
    pub fn from_record(r: &Record, cost_usd: f64, priced: bool) -> Self {
        RowRef::from_record(r, cost_usd, priced).to_owned()
    }

    /// The model prices and summaries go by: the upstream model, else the requested one.
    pub fn model(&self) -> &str {
        crate::analytics::summary_model(&self.upstream_model, &self.requested_model)
    }

    pub fn is_error(&self) -> bool {
        crate::analytics::is_error_status(self.status)
    }
}

/// A row of `requests` as the writer binds it, borrowed from a [`HistoryRow`] or straight from
/// a [`Record`] (so recording a request copies none of its strings).
pub(crate) struct RowRef<'a> {
    pub ts_ms: i64,
    pub request_id: &'a str,
    pub endpoint: &'a str,
    pub inbound: &'static str,
    pub client: &'a str,
    pub session_id: Option<&'a str>,
    pub agent_id: Option<&'a str>,
    pub backend: &'a str,
    pub deployment: &'a str,
    pub requested_model: &'a str,
    pub upstream_model: &'a str,
    pub status: u16,
    pub streamed: bool,
    pub attempts: u32,
    pub latency_us: u64,
    pub ttfb_us: Option<u64>,
    pub overhead_us: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost_usd: f64,
    pub priced: bool,
    pub dropped: std::borrow::Cow<'a, str>,
}

impl<'a> RowRef<'a> {
    pub(crate) fn from_record(r: &'a Record, cost_usd: f64, priced: bool) -> Self {
        let us = |d: Duration| d.as_micros().min(i64::MAX as u128) as u64;
        RowRef {
            ts_ms: r
                .timestamp
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            request_id: &r.request_id,
            endpoint: &r.context.endpoint,
            inbound: r.inbound.as_str(),
            client: &r.context.client,
            session_id: r.context.session_id.as_deref(),
            agent_id: r.context.agent_id.as_deref(),
            backend: &r.backend,
            deployment: &r.deployment,
            requested_model: &r.requested_model,
            upstream_model: &r.upstream_model,
            status: r.status,
            streamed: r.streamed,
            attempts: r.attempts,
            latency_us: us(r.latency),
            ttfb_us: r.ttfb.map(us),
            overhead_us: us(r.overhead),
            input_tokens: r.usage.input_tokens,
            output_tokens: r.usage.output_tokens,
            cache_read_tokens: r.usage.cache_read_tokens,
            cache_write_tokens: r.usage.cache_write_tokens,
            reasoning_tokens: r.usage.reasoning_tokens,
            cost_usd,
            priced,
            dropped: match r.context.dropped.as_slice() {
                [] => std::borrow::Cow::Borrowed(""),
                [one] => std::borrow::Cow::Borrowed(one.as_str()),
                many => std::borrow::Cow::Owned(many.join(",")),
            },
        }
    }

    fn to_owned(&self) -> HistoryRow {
        HistoryRow {
            ts_ms: self.ts_ms,
            request_id: self.request_id.to_string(),
            endpoint: self.endpoint.to_string(),
            inbound: self.inbound,
            client: self.client.to_string(),
            session_id: self.session_id.map(str::to_string),
            agent_id: self.agent_id.map(str::to_string),
            backend: self.backend.to_string(),
            deployment: self.deployment.to_string(),
            requested_model: self.requested_model.to_string(),
            upstream_model: self.upstream_model.to_string(),
            status: self.status,
            streamed: self.streamed,
            attempts: self.attempts,
            latency_us: self.latency_us,
            ttfb_us: self.ttfb_us,
            overhead_us: self.overhead_us,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            reasoning_tokens: self.reasoning_tokens,
            cost_usd: self.cost_usd,
            priced: self.priced,
            dropped: self.dropped.to_string(),
        }
    }

    pub(crate) fn model(&self) -> &'a str {
        crate::analytics::summary_model(self.upstream_model, self.requested_model)
    }

    pub(crate) fn is_error(&self) -> bool {
        crate::analytics::is_error_status(self.status)
    }
}

/// What the writer can write: a stored row (tests, imports) or a recorded request.
pub(crate) trait AsRow {
    fn row(&self) -> RowRef<'_>;
}

impl AsRow for HistoryRow {
    fn row(&self) -> RowRef<'_> {
        RowRef {
            ts_ms: self.ts_ms,
            request_id: &self.request_id,
            endpoint: &self.endpoint,
            inbound: self.inbound,
            client: &self.client,
            session_id: self.session_id.as_deref(),
            agent_id: self.agent_id.as_deref(),
            backend: &self.backend,
            deployment: &self.deployment,
            requested_model: &self.requested_model,
            upstream_model: &self.upstream_model,
            status: self.status,
            streamed: self.streamed,
            attempts: self.attempts,
            latency_us: self.latency_us,
            ttfb_us: self.ttfb_us,
            overhead_us: self.overhead_us,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            reasoning_tokens: self.reasoning_tokens,
            cost_usd: self.cost_usd,
            priced: self.priced,
            dropped: std::borrow::Cow::Borrowed(&self.dropped),
        }
    }
}

/// A recorded request waiting for the writer: the record analytics keeps too, shared.
pub(crate) struct Pending {
    record: Arc<Record>,
    cost_usd: f64,
    priced: bool,
}

impl AsRow for Pending {
    fn row(&self) -> RowRef<'_> {
        RowRef::from_record(&self.record, self.cost_usd, self.priced)
    }
}

/// Counters shared by the handle and the writer thread.
#[derive(Debug, Default)]
pub(crate) struct Health {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub failed: AtomicU64,
    pub batches: AtomicU64,
    /// Records sent and not yet taken by the writer; the recorder that makes it a full batch
    /// wakes the writer.
    pub pending: std::sync::atomic::AtomicUsize,
    /// The writer thread, to unpark.
    pub writer: std::sync::OnceLock<std::thread::Thread>,
    /// `[cluster] instance_id` of this process, written with every record (unset when alone).
    pub instance: std::sync::OnceLock<String>,
    /// The last write error (cleared by the next good batch); logged once per streak.
    pub error: Mutex<Option<String>>,
    pub logged: AtomicBool,
}

impl Health {
    pub(crate) fn fail(&self, what: &str, rows: usize) {
        self.failed.fetch_add(rows as u64, Ordering::Relaxed);
        if !self.logged.swap(true, Ordering::Relaxed) {
            tracing::error!("usage history: {what}; requests are still served and counted in memory (see `dario doctor`)");
        }
        *self.error.lock() = Some(what.to_string());
    }

    pub(crate) fn wake_writer(&self) {
        if let Some(t) = self.writer.get() {
            t.unpark();
        }
    }

    pub(crate) fn ok(&self) {
        if self.error.lock().take().is_some() {
            self.logged.store(false, Ordering::Relaxed);
            tracing::warn!("usage history: writing again");
        }
    }
}

/// `history` in `/status` (read back by `admin_api::Status`) and the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryStatus {
    /// `ok`, `degraded` (writes failing), `unavailable` (not open) or `disabled`.
    pub state: Cow<'static, str>,
    pub path: PathBuf,
    pub error: Option<String>,
    pub written: u64,
    /// Records lost because the writer's queue was full.
    pub dropped: u64,
    /// Records lost because their batch could not be written.
    pub failed: u64,
    pub batch_size: usize,
    pub flush_interval_ms: u64,
    pub retention_days: u32,
    pub rollup_retention_days: u32,
}

pub(crate) enum Msg {
    Row(Pending),
    Flush(std::sync::mpsc::Sender<()>),
    Stop,
}

/// The proxy's handle on the history: a [`RecordSink`] plus status and flushing.
pub struct History {
    path: PathBuf,
    config: HistoryConfig,
    tx: Option<SyncSender<Msg>>,
    health: Arc<Health>,
    /// Why the database is not open (None when it is, or when history is disabled).
    unavailable: Option<String>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("path", &self.path)
            .field("open", &self.tx.is_some())
            .finish_non_exhaustive()
    }
}

impl History {
    /// Opens `<home>/history.sqlite3` and starts the writer thread. Never fails: a database that
    /// cannot be used is logged once and reported by [`History::status`]; the proxy runs on.
    pub fn open(home: &Path, config: &HistoryConfig) -> History {
        let path = db_path(home);
        let mut h = History {
            path: path.clone(),
            config: config.clone(),
            tx: None,
            health: Arc::new(Health::default()),
            unavailable: None,
            thread: Mutex::new(None),
        };
        if !config.enabled {
            return h;
        }
        match store::open_for_writing(&path) {
            Ok(conn) => {
                let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_CAPACITY);
                match writer::spawn(conn, rx, h.health.clone(), config.clone()) {
                    Ok(handle) => {
                        let _ = h.health.writer.set(handle.thread().clone());
                        h.tx = Some(tx);
                        *h.thread.lock() = Some(handle);
                    }
                    Err(e) => {
                        h.unavailable = Some(format!("could not start the history writer: {e}"))
                    }
                }
            }
            Err(e) => h.unavailable = Some(e.to_string()),
        }
        if let Some(why) = &h.unavailable {
            tracing::error!(
                "usage history is off for this run: {why}. Requests are still served and counted in memory."
            );
        }
        h
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn config(&self) -> &HistoryConfig {
        &self.config
    }

    /// Is the database open for writing?
    pub fn is_open(&self) -> bool {
        self.tx.is_some()
    }

    pub fn status(&self) -> HistoryStatus {
        let h = &self.health;
        let error = self.unavailable.clone().or_else(|| h.error.lock().clone());
        let state = if !self.config.enabled {
            "disabled"
        } else if self.tx.is_none() {
            "unavailable"
        } else if error.is_some() {
            "degraded"
        } else {
            "ok"
        };
        HistoryStatus {
            state: state.into(),
            path: self.path.clone(),
            error,
            written: h.written.load(Ordering::Relaxed),
            dropped: h.dropped.load(Ordering::Relaxed),
            failed: h.failed.load(Ordering::Relaxed),
            batch_size: BATCH_SIZE,
            flush_interval_ms: FLUSH_INTERVAL.as_millis() as u64,
            retention_days: self.config.retention_days,
            rollup_retention_days: self.config.rollup_retention_days,
        }
    }

    /// Waits (blocking; call from a blocking thread) until every record accepted before the
    /// call is committed, or `timeout` passes. False when the writer did not answer in time.
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        let Some(tx) = &self.tx else { return false };
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        if tx.send(Msg::Flush(done_tx)).is_err() {
            return false;
        }
        self.health.wake_writer();
        done_rx.recv_timeout(timeout).is_ok()
    }

    /// Commits what is queued and stops the writer (blocking; at shutdown).
    /// Tags every record written from now on with this instance id (cluster mode).
    pub fn set_instance(&self, instance_id: &str) {
        let _ = self.health.instance.set(instance_id.to_owned());
    }

    pub fn close(&self) {
        // Only a running writer is waited for (it drains the channel, so the send returns).
        let Some(t) = self.thread.lock().take() else {
            return;
        };
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Stop);
            self.health.wake_writer();
        }
        let _ = t.join();
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.close();
    }
}

impl RecordSink for History {
    fn accept(&self, record: &Arc<Record>, cost_usd: f64, priced: bool) {
        let Some(tx) = &self.tx else { return };
        let row = Pending {
            record: record.clone(),
            cost_usd,
            priced,
        };
        match tx.try_send(Msg::Row(row)) {
            Ok(()) => {
                // One wake-up per batch, not per request.
                if self.health.pending.fetch_add(1, Ordering::Relaxed) + 1 == BATCH_SIZE {
                    self.health.wake_writer();
                }
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.health.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The family of a client's User-Agent: `claude-code`, `anthropic-python`, `openai-node`,
/// `curl`, `browser`…; else its first product token (lower case, at most 32 characters of
/// `[a-z0-9._-]`), or `unknown`.
pub fn client_family(ua: &str) -> std::borrow::Cow<'static, str> {
    use std::borrow::Cow;
    let lower = ua.to_ascii_lowercase();
    let known: &[(&str, &str)] = &[
        ("claude-cli/", "claude-code"),
        ("claude-code", "claude-code"),
        ("anthropic/python", "anthropic-python"),
        ("anthropic/js", "anthropic-node"),
        ("openai/python", "openai-python"),
        ("asyncopenai/python", "openai-python"),
        ("openai/js", "openai-node"),
        ("curl/", "curl"),
        ("python-requests/", "python-requests"),
        ("python-urllib/", "python-urllib"),
        ("mozilla/", "browser"),
    ];
    for (needle, family) in known {
        if lower.starts_with(needle) || (needle.len() > 6 && lower.contains(needle)) {
            return Cow::Borrowed(family);
        }
    }
    let token: String = lower
        .split(['/', ' '])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(32)
        .collect();
    if token.is_empty() {
        Cow::Borrowed("unknown")
    } else {
        Cow::Owned(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Protocol, Usage};

    fn record(i: u64) -> Record {
        Record {
            timestamp: std::time::SystemTime::now(),
            request_id: format!("req_{i}"),
            inbound: Protocol::OpenAi,
            backend: "b".into(),
            deployment: String::new(),
            requested_model: "m".into(),
            upstream_model: String::new(),
            status: 200,
            streamed: false,
            attempts: 1,
            latency: Duration::from_millis(i),
            ttfb: None,
            overhead: Duration::from_micros(10),
            usage: Usage {
                input_tokens: i,
                ..Usage::default()
            },
            context: Default::default(),
        }
    }

    #[test]
    fn accepted_records_are_committed_on_flush_and_close() {
        let tmp = tempfile::tempdir().unwrap();
        let h = History::open(tmp.path(), &HistoryConfig::default());
        assert_eq!(h.status().state, "ok");
        for i in 0..10 {
            h.accept(&Arc::new(record(i)), 0.5, true);
        }
        assert!(h.flush_blocking(Duration::from_secs(30)));
        assert_eq!(h.status().written, 10);
        let conn = open_read_only(h.path()).unwrap();
        let n: i64 = conn
            .query_row("SELECT sum(input_tokens) FROM requests", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 45);
        h.accept(&Arc::new(record(100)), 0.5, true);
        h.close();
        assert_eq!(h.status().written, 11);
        // After close nothing more is taken (and nothing blocks).
        h.accept(&Arc::new(record(101)), 0.5, true);
        assert_eq!(h.status().dropped, 1);
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (tx, _rx) = std::sync::mpsc::sync_channel(2);
        let h = History {
            path: PathBuf::from("/nonexistent/history.sqlite3"),
            config: HistoryConfig::default(),
            tx: Some(tx),
            health: Arc::new(Health::default()),
            unavailable: None,
            thread: Mutex::new(None),
        };
        for i in 0..5 {
            h.accept(&Arc::new(record(i)), 0.0, false);
        }
        assert_eq!(h.status().dropped, 3);
    }

    #[test]
    fn an_unusable_database_leaves_history_unavailable() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(db_path(tmp.path()), [0u8; 4096]).unwrap();
        let h = History::open(tmp.path(), &HistoryConfig::default());
        let st = h.status();
        assert_eq!(st.state, "unavailable");
        assert!(st.error.unwrap().contains("history.sqlite3"));
        h.accept(&Arc::new(record(1)), 0.0, false);
        assert!(!h.flush_blocking(Duration::from_secs(1)));
        assert_eq!(std::fs::read(db_path(tmp.path())).unwrap(), vec![0u8; 4096]);
    }

    #[test]
    fn client_families() {
        for (ua, fam) in [
            ("claude-cli/2.1.332 (external, cli)", "claude-code"),
            ("Anthropic/Python 0.52.0", "anthropic-python"),
            ("OpenAI/Python 1.99.0", "openai-python"),
            ("AsyncOpenAI/Python 1.99.0", "openai-python"),
            ("OpenAI/JS 5.0.0", "openai-node"),
            ("curl/8.5.0", "curl"),
            ("Mozilla/5.0 (X11; Linux x86_64)", "browser"),
            ("MyTool/1.0", "mytool"),
            ("", "unknown"),
            ("\u{1F600}", "unknown"),
        ] {
            assert_eq!(client_family(ua), fam, "{ua}");
        }
    }
}
