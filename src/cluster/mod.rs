//! Cluster mode: several dario instances route as one by sharing pool state through one Redis
//! (or a Redis-protocol server such as Valkey). Only built when config.toml has `[cluster]`;
//! docs/cluster.md says how to run it.
//!
//! Owns: the Redis connections (one multiplexed command connection that reconnects itself, one
//! pub/sub connection), the sync between the local pools and Redis — cooldowns, the latest
//! rate-limit readings, sticky bindings — team-wide rate limits (`[cluster.limits.<backend>]`,
//! a sliding window kept atomic by a Lua script), the analytics counters each instance
//! publishes, and the fallback to local state while Redis is away.
//!
//! Must not: make a request wait on Redis longer than `[cluster] timeout_ms` (local state is the
//! source for routing: remote updates arrive through pub/sub into it, and what this instance
//! learns leaves through a bounded channel drained by a background task); hold a lock across an
//! `.await`; write a secret to Redis (deployments are named by backend and alias only, the Redis
//! password never leaves the connection).
//!
//! Redis keys (all under `<namespace>:`): `cooldown:<backend>:<alias>` (`"<until unix ms>|<reason>"`,
//! expiring with the cooldown), `limits:<backend>:<alias>` (JSON readings, 10 min),
//! `sticky:<backend>:<conversation>` (alias, idle TTL of the pools), `rate:<backend>:req` and
//! `rate:<backend>:tok` (team windows), `stats:<instance>` and `instances` (analytics); one
//! pub/sub channel, `events`.

mod limits;
mod sync;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwapOption;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::{ClusterConfig, TeamLimit};
use crate::pool::{CooldownReason, PoolEvent, PoolEvents, WallReading};

pub use limits::TeamLimited;

/// What the cluster reads from the proxy it serves (the proxy's state implements it): the live
/// pools (they are rebuilt on reload) and the analytics it publishes a summary of. A trait, so
/// that `cluster` does not depend on `proxy`, which holds the cluster.
pub trait Host: Send + Sync + 'static {
    /// The pools of the configuration in force now.
    fn pools(&self) -> crate::pool::Pools;
    fn analytics(&self) -> &crate::analytics::Analytics;
}

/// Capacity of the channel between the request path and the background writer; when it is
/// full (Redis slow), new events are dropped and counted, never waited for.
const CHANNEL: usize = 4096;

/// Why the cluster could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("[cluster] redis_url {url} is not usable: {reason}; fix it in config.toml")]
    Url { url: String, reason: String },
}

/// A message on the `events` channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Message {
    Cooldown {
        from: String,
        backend: String,
        alias: String,
        until_ms: u64,
        reason: CooldownReason,
    },
    Limits {
        from: String,
        backend: String,
        alias: String,
        dims: [WallReading; 4],
    },
    Bind {
        from: String,
        backend: String,
        key: String,
        alias: String,
    },
}

/// What the background writer sends to Redis.
#[derive(Debug)]
enum Out {
    Pool(Box<PoolEvent>),
    /// Tokens used by one request on a backend with a team `tpm`.
    Tokens {
        backend: String,
        tokens: u64,
    },
}

/// The live cluster state of this instance.
pub struct Cluster {
    cfg: ClusterConfig,
    instance_id: String,
    client: redis::Client,
    /// The command connection, once made (it reconnects by itself afterwards).
    conn: ArcSwapOption<redis::aio::ConnectionManager>,
    /// Redis answered the last health check and the subscription is live.
    up: AtomicBool,
    /// When Redis was last lost (None while up or never lost), and why.
    down: Mutex<Option<(SystemTime, String)>>,
    /// Woken by a failed write: the supervisor reconnects and re-syncs.
    reconnect: tokio::sync::Notify,
    tx: mpsc::Sender<Out>,
    rx: Mutex<Option<mpsc::Receiver<Out>>>,
    /// The local sliding windows (team limits while Redis is away).
    local: Mutex<HashMap<String, limits::LocalWindow>>,
    stats: Counters,
    started: AtomicBool,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    lookups: AtomicU64,
    lookup_hits: AtomicU64,
    /// Requests that went on with local state because Redis was away or slower than the bound.
    fallbacks: AtomicU64,
    limited: AtomicU64,
    resyncs: AtomicU64,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("instance_id", &self.instance_id)
            .field("redis", &self.cfg.display_url())
            .field("up", &self.up.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// The cluster of `cfg`, not yet connected (see [`Cluster::start`]).
    pub fn new(cfg: &ClusterConfig) -> Result<Arc<Cluster>, ClusterError> {
        use redis::IntoConnectionInfo;
        let bad = |reason: String| ClusterError::Url {
            url: cfg.display_url(),
            reason,
        };
        // rediss:// goes through rustls with the same crypto provider as the upstream client.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut info = cfg
            .redis_url
            .as_str()
            .into_connection_info()
            .map_err(|e| bad(e.to_string()))?;
        if let Some(pw) = &cfg.password {
            let settings = info.redis_settings().clone().set_password(pw.expose());
            info = info.set_redis_settings(settings);
        }
        let client = redis::Client::open(info).map_err(|e| bad(e.to_string()))?;
        let (tx, rx) = mpsc::channel(CHANNEL);
        Ok(Arc::new(Cluster {
            instance_id: cfg.instance_id.clone().unwrap_or_else(default_instance_id),
            cfg: cfg.clone(),
            client,
            conn: ArcSwapOption::empty(),
            up: AtomicBool::new(false),
            down: Mutex::new(None),
            reconnect: tokio::sync::Notify::new(),
            tx,
            rx: Mutex::new(Some(rx)),
            local: Mutex::new(HashMap::new()),
            stats: Counters::default(),
            started: AtomicBool::new(false),
        }))
    }

    /// Starts the background tasks (connect with backoff, subscribe, re-sync, write) on the
    /// current Tokio runtime. Returns at once: a Redis that is down only delays the sharing.
    pub fn start(self: &Arc<Self>, state: Weak<dyn Host>) {
        let Some(rx) = self.rx.lock().take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::warn!("cluster: no async runtime to run on; this instance routes alone");
            return;
        }
        self.started.store(true, Ordering::Relaxed);
        tokio::spawn(sync::supervise(self.clone(), state.clone()));
        tokio::spawn(sync::write(self.clone(), state, rx));
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Whether Redis is reachable and the subscription live right now.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut k = self.cfg.namespace.clone();
        for p in parts {
            k.push(':');
            k.push_str(p);
        }
        k
    }

    fn channel(&self) -> String {
        self.key(&["events"])
    }

    /// The command connection when Redis is up (a cheap clone of a multiplexed handle).
    fn connection(&self) -> Option<redis::aio::ConnectionManager> {
        if !self.is_up() {
            return None;
        }
        self.conn.load().as_deref().cloned()
    }

    fn mark_up(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            let was_down = self.down.lock().take();
            match was_down {
                Some((_, why)) => tracing::warn!(
                    "cluster: Redis at {} is reachable again (it was: {why}); state re-synced, sharing resumed",
                    self.cfg.display_url()
                ),
                None => tracing::info!(
                    "cluster: instance `{}` sharing pool state through {} (namespace `{}`)",
                    self.instance_id,
                    self.cfg.display_url(),
                    self.cfg.namespace
                ),
            }
        }
    }

    /// Records that Redis is away; logs once per outage.
    fn mark_down(&self, why: &str) {
        let was_up = self.up.swap(false, Ordering::AcqRel);
        let mut down = self.down.lock();
        if down.is_none() {
            *down = Some((SystemTime::now(), why.to_string()));
            drop(down);
            tracing::warn!(
                "cluster: Redis at {} is unreachable ({why}); routing on this instance's local state until it returns{}",
                self.cfg.display_url(),
                if was_up { "" } else { " (will keep retrying)" }
            );
        }
    }

    fn queue(&self, out: Out) {
        if self.tx.try_send(out).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Before choosing a deployment for a conversation this instance has no binding for: asks
    /// Redis (at most `timeout_ms`) which deployment another instance bound it to, and adopts
    /// that binding locally. Does nothing when Redis is away.
    pub async fn adopt_binding(&self, host: &dyn Host, backend: &str, key: &str) {
        let pools = host.pools();
        if pools.binding(backend, key, Instant::now()).is_some() {
            return;
        }
        let Some(mut conn) = self.connection() else {
            self.stats.fallbacks.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.stats.lookups.fetch_add(1, Ordering::Relaxed);
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(&["sticky", backend, key]));
        let got = tokio::time::timeout(
            self.cfg.timeout,
            cmd.query_async::<Option<String>>(&mut conn),
        )
        .await;
        match got {
            Ok(Ok(Some(alias))) => {
                self.stats.lookup_hits.fetch_add(1, Ordering::Relaxed);
                pools.apply_binding(backend, key, &alias, Instant::now(), false);
            }
            Ok(Ok(None)) => {}
            Ok(Err(_)) | Err(_) => {
                self.stats.fallbacks.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The team limit of `backend` for one more request: `Ok` to go on, `Err` with the time to
    /// wait when the team used its requests or tokens for the window. Decided by Redis within
    /// `timeout_ms`; otherwise by this instance's own window (which then holds the whole limit
    /// alone: during a partition the team total can reach the limit once per instance).
    pub async fn admit(
        &self,
        limits: &BTreeMap<String, TeamLimit>,
        backend: &str,
    ) -> Result<(), TeamLimited> {
        let Some(limit) = limits.get(backend).copied() else {
            return Ok(());
        };
        self.admit_limit(backend, limit).await
    }

    async fn admit_limit(&self, backend: &str, limit: TeamLimit) -> Result<(), TeamLimited> {
        let now = Instant::now();
        let decided = match self.connection() {
            Some(mut conn) => {
                let member = format!("{}:{}", self.instance_id, next_seq());
                let req_key = self.key(&["rate", backend, "req"]);
                let tok_key = self.key(&["rate", backend, "tok"]);
                let call = limits::admit_remote(&mut conn, &req_key, &tok_key, limit, &member);
                match tokio::time::timeout(self.cfg.timeout, call).await {
                    Ok(Ok(verdict)) => Some(verdict),
                    _ => None,
                }
            }
            None => None,
        };
        let mut local = self.local.lock();
        let window = local.entry(backend.to_string()).or_default();
        let verdict = match decided {
            Some(v) => {
                if v.is_ok() {
                    window.note_request(now);
                }
                v
            }
            None => {
                self.stats.fallbacks.fetch_add(1, Ordering::Relaxed);
                window.admit(limit, now)
            }
        };
        drop(local);
        verdict.map_err(|mut e| {
            self.stats.limited.fetch_add(1, Ordering::Relaxed);
            e.backend = backend.to_string();
            e
        })
    }

    /// Counts a finished request's tokens against `backend`'s team `tpm` (fire-and-forget).
    pub fn charge_tokens(&self, limits: &BTreeMap<String, TeamLimit>, backend: &str, tokens: u64) {
        if tokens == 0 || limits.get(backend).is_none_or(|l| l.tpm.is_none()) {
            return;
        }
        self.local
            .lock()
            .entry(backend.to_string())
            .or_default()
            .note_tokens(Instant::now(), tokens);
        self.queue(Out::Tokens {
            backend: backend.to_string(),
            tokens,
        });
    }

    /// For `/status`, `/pool`, `doctor` and the MCP `pool_status` tool.
    pub fn status(&self) -> ClusterStatus {
        let down = self.down.lock().clone();
        let s = &self.stats;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ClusterStatus {
            instance_id: self.instance_id.clone(),
            redis: self.cfg.display_url(),
            namespace: self.cfg.namespace.clone(),
            state: std::borrow::Cow::Borrowed(if self.is_up() {
                "connected"
            } else if !self.started.load(Ordering::Relaxed) {
                "not started"
            } else if down.is_some() {
                "unreachable: routing on local state"
            } else {
                "connecting"
            }),
            connected: self.is_up(),
            down_for_secs: down.as_ref().map(|(since, _)| {
                SystemTime::now()
                    .duration_since(*since)
                    .unwrap_or_default()
                    .as_secs()
            }),
            last_error: down.map(|(_, why)| why),
            timeout_ms: self.cfg.timeout.as_millis() as u64,
            team_limits: self.cfg.limits.clone(),
            events_published: load(&s.published),
            events_received: load(&s.received),
            events_dropped: load(&s.dropped),
            sticky_lookups: load(&s.lookups),
            sticky_lookup_hits: load(&s.lookup_hits),
            local_fallbacks: load(&s.fallbacks),
            team_limited: load(&s.limited),
            resyncs: load(&s.resyncs),
        }
    }
}

impl Cluster {
    /// The cluster's lines of `GET /metrics`.
    pub fn render_prometheus(&self, out: &mut String) {
        use std::fmt::Write;
        let s = self.status();
        let id = s.instance_id.replace(['\\', '"'], "_");
        let rows: [(&str, &str, &str, u64); 6] = [
            (
                "dario_cluster_connected",
                "gauge",
                "1 while Redis is reachable and the subscription live.",
                u64::from(s.connected),
            ),
            (
                "dario_cluster_events_published_total",
                "counter",
                "Pool events this instance wrote to Redis.",
                s.events_published,
            ),
            (
                "dario_cluster_events_received_total",
                "counter",
                "Pool events from other instances applied here.",
                s.events_received,
            ),
            (
                "dario_cluster_events_dropped_total",
                "counter",
                "Pool events not shared because the channel to Redis was full.",
                s.events_dropped,
            ),
            (
                "dario_cluster_local_fallbacks_total",
                "counter",
                "Requests that went on with local state (Redis away or slower than timeout_ms).",
                s.local_fallbacks,
            ),
            (
                "dario_cluster_team_limited_total",
                "counter",
                "Requests refused by a team limit ([cluster.limits]).",
                s.team_limited,
            ),
        ];
        for (name, kind, help, value) in rows {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name}{{instance=\"{id}\"}} {value}");
        }
    }
}

impl PoolEvents for Cluster {
    fn send(&self, event: PoolEvent) {
        self.queue(Out::Pool(Box::new(event)));
    }
}

/// The cluster as `/status` shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct ClusterStatus {
    pub instance_id: String,
    /// Without userinfo.
    pub redis: String,
    pub namespace: String,
    /// `connected`, `connecting`, `unreachable: routing on local state`, `not started`.
    pub state: std::borrow::Cow<'static, str>,
    pub connected: bool,
    /// Seconds since Redis was lost, while it is.
    pub down_for_secs: Option<u64>,
    pub last_error: Option<String>,
    pub timeout_ms: u64,
    pub team_limits: BTreeMap<String, TeamLimit>,
    pub events_published: u64,
    pub events_received: u64,
    /// Events not shared because the channel to Redis was full.
    pub events_dropped: u64,
    pub sticky_lookups: u64,
    pub sticky_lookup_hits: u64,
    /// Requests that went on with local state (Redis away or slower than `timeout_ms`).
    pub local_fallbacks: u64,
    /// Requests refused by a team limit.
    pub team_limited: u64,
    /// Times the state was re-synced after (re)connecting.
    pub resyncs: u64,
}

/// What `dario doctor` found at the configured Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Instances that published counters in the last 10 s.
    pub instances: Vec<String>,
}

/// One connection, `PING` and the list of live instances, within `within`; for `dario doctor`.
pub async fn probe(cfg: &ClusterConfig, within: std::time::Duration) -> Result<Probe, String> {
    let c = Cluster::new(cfg).map_err(|e| e.to_string())?;
    let work = async {
        let mut conn = c
            .client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        redis::cmd("ZRANGE")
            .arg(c.key(&["instances"]))
            .arg(0)
            .arg(-1)
            .query_async::<Vec<String>>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(within, work).await {
        Ok(Ok(instances)) => Ok(Probe { instances }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {} s", within.as_secs())),
    }
}

/// A reload that changes how this instance reaches Redis takes effect at the next start (the
/// team limits, read per request, apply at once): says so.
pub fn warn_on_reload(old: Option<&ClusterConfig>, new: Option<&ClusterConfig>) {
    let connection = |c: &ClusterConfig| {
        (
            c.redis_url.clone(),
            c.password_env.clone(),
            c.password.clone(),
            c.namespace.clone(),
            c.instance_id.clone(),
            c.timeout,
        )
    };
    if old.map(connection) != new.map(connection) {
        tracing::warn!(
            "[cluster] connection settings changed: restart dario to use them (team limits apply now)"
        );
    }
}

fn next_seq() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// `<hostname>-<pid>`.
fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_string());
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    format!("{host}-{}", std::process::id())
}

/// Sums the numeric leaves of `b` into `a` (latency quantiles excepted: they do not add up).
fn add_counters(a: &mut serde_json::Value, b: &serde_json::Value) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, bv) in b {
                if k.ends_with("_ms") && bv.is_object() {
                    continue;
                }
                match a.get_mut(k) {
                    Some(av) => add_counters(av, bv),
                    None if !(k.ends_with("_ms") && bv.is_object()) => {
                        a.insert(k.clone(), bv.clone());
                    }
                    None => {}
                }
            }
        }
        (a @ Value::Number(_), Value::Number(b)) => {
            let sum = if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
                Value::from(x + y)
            } else {
                let x = a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0);
                serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
            };
            *a = sum;
        }
        _ => {}
    }
}

pub use sync::cluster_analytics;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_and_quantiles_are_left_out() {
        let mut a = serde_json::json!({"requests": 2, "cost_usd": 0.5, "tokens": {"input": 10},
            "latency_ms": {"p50": 3.0}});
        let b = serde_json::json!({"requests": 3, "cost_usd": 0.25, "tokens": {"input": 5, "output": 1},
            "latency_ms": {"p50": 9.0}});
        add_counters(&mut a, &b);
        assert_eq!(a["requests"], 5);
        assert_eq!(a["cost_usd"], 0.75);
        assert_eq!(a["tokens"]["input"], 15);
        assert_eq!(a["tokens"]["output"], 1);
        assert_eq!(a["latency_ms"]["p50"], 3.0);
    }

    #[test]
    fn messages_name_deployments_by_alias() {
        let m = Message::Cooldown {
            from: "a-1".into(),
            backend: "pool".into(),
            alias: "east".into(),
            until_ms: 5,
            reason: CooldownReason::RateLimited,
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"cooldown","from":"a-1","backend":"pool","alias":"east","until_ms":5,"reason":"rate_limited"}"#
        );
        assert_eq!(serde_json::from_str::<Message>(&text).unwrap(), m);
    }
}
