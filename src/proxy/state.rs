//! Shared state of a running proxy: the config snapshot (swapped whole on reload), the upstream
//! client, admission control, counters.
//!
//! Owns: what every request reads. Must not: hold a lock across `.await` (the snapshot is an
//! `ArcSwap`; counters are atomics).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use http::HeaderValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ProxyError;
use crate::config::{Config, Secret};
use crate::routing::RouteTable;

/// An immutable view of the configuration; in-flight requests keep the one they started with.
pub struct Snapshot {
    pub config: Arc<Config>,
    pub routes: RouteTable,
    /// Deployments and their live state; a reload rebuilds it keeping unchanged deployments' state.
    pub pools: crate::pool::Pools,
    pub digest: String,
    /// Masks every configured secret (and any 8-byte run of one) in what dario relays or logs.
    pub redactor: crate::redact::Redactor,
}

impl Snapshot {
    /// Scrubs configured secrets (whole and in runs) and key shapes from text leaving dario.
    pub fn scrub<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        self.redactor.scrub_text(text)
    }
}

impl Snapshot {
    pub fn new(config: Config, model_override: Option<&str>, previous: Option<&Snapshot>) -> Self {
        let routes = RouteTable::new(&config, model_override);
        let pools = match previous {
            Some(prev) => prev.pools.rebuild(&config),
            None => crate::pool::Pools::new(&config),
        };
        let digest = config.digest();
        let redactor =
            crate::redact::Redactor::new(config.secret_values().into_iter().map(|s| s.expose()));
        Snapshot {
            config: Arc::new(config),
            routes,
            pools,
            digest,
            redactor,
        }
    }
}

/// Options the proxy runs with (from the command line and environment).
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    pub listen: SocketAddr,
    pub api_key: Option<Secret>,
    pub cors_origin: Option<String>,
    pub model_override: Option<String>,
    pub verbosity: u8,
}

/// Bounded in-flight requests with a bounded wait queue (SPEC §2).
pub struct Admission {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_queue: usize,
    queue_timeout: std::time::Duration,
}

impl Admission {
    pub fn new(max_in_flight: usize, max_queue: usize, queue_timeout: std::time::Duration) -> Self {
        Admission {
            slots: Arc::new(Semaphore::new(max_in_flight.max(1))),
            waiting: AtomicUsize::new(0),
            max_queue,
            queue_timeout,
        }
    }

    /// A slot for one upstream request, waiting in the queue if needed; 503 when the queue is
    /// full or the wait runs out.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, ProxyError> {
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Ok(p);
        }
        let overloaded = ProxyError::overloaded;
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(overloaded("the request queue is full"));
        }
        let res =
            tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match res {
            Ok(Ok(p)) => Ok(p),
            _ => Err(overloaded("no upstream slot became free in time")),
        }
    }

    pub fn in_flight(&self, max: usize) -> usize {
        max.saturating_sub(self.slots.available_permits())
    }

    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// Everything a request handler reads.
pub struct ProxyState {
    pub snapshot: ArcSwap<Snapshot>,
    pub client: super::upstream::client::UpstreamClient,
    pub options: ProxyOptions,
    pub cors_origin: HeaderValue,
    pub admission: Admission,
    pub started: Instant,
    /// HTTP requests received (all endpoints), counted per worker (`crate::worker`).
    pub requests_total: crate::worker::Counter,
    pub analytics: crate::analytics::Analytics,
    /// Upstream model lists for `GET /v1/models`.
    pub models: super::models::ModelCache,
    /// Bounds the failure lines written at the default level.
    pub failure_log: super::failure_log::FailureLog,
    /// Recent translated Responses API responses, for `previous_response_id`.
    pub responses: Arc<super::responses_store::ResponseStore>,
    /// Usage history on disk, when the binary attached it (`dario proxy` does; tests may).
    pub history: std::sync::OnceLock<Arc<crate::history::History>>,
    /// The dashboard's live feed of finished requests.
    pub feed: Arc<super::feed::Feed>,
    /// Turns true when the server stops accepting (long-lived streams such as the dashboard's
    /// feed end then, so they do not hold up shutdown).
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Backends (by name) that refused a system message after the first position: translated
    /// requests to them carry mid-conversation system messages as user text from then on.
    system_as_user: parking_lot::RwLock<Vec<String>>,
    /// Per worker: request ids are numbered by (worker, that worker's count), see
    /// [`ProxyState::next_request_id`].
    request_seq: crate::worker::PerWorker<AtomicU64>,
    request_salt: u64,
    /// Where the configuration was loaded from, when it came from disk (`dario proxy`): what
    /// `POST /admin/reload` reads again. Unset for proxies built in code.
    pub home: std::sync::OnceLock<Arc<crate::config::Home>>,
    /// `[cluster]`: pool state shared with other instances through Redis (`None` = alone; read
    /// at start-up, a reload does not change the connection).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

impl ProxyState {
    pub fn new(
        config: Config,
        options: ProxyOptions,
    ) -> Result<Arc<Self>, super::upstream::client::ClientBuildError> {
        let limits = config.limits.clone();
        let client = super::upstream::client::UpstreamClient::new(&limits)?;
        let cors = options
            .cors_origin
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{}", options.listen.port()));
        let analytics = crate::analytics::Analytics::new(&config.prices);
        let feed = Arc::new(super::feed::Feed::default());
        analytics.add_sink(feed.clone());
        let cluster = config.cluster.as_ref().and_then(|c| {
            crate::cluster::Cluster::new(c)
                .map_err(|e| tracing::error!("{e}; this instance routes alone"))
                .ok()
        });
        let mut snapshot = Snapshot::new(config, options.model_override.as_deref(), None);
        if let Some(c) = &cluster {
            snapshot.pools = snapshot.pools.with_events(c.clone());
        }
        let state = Arc::new(ProxyState {
            snapshot: ArcSwap::from_pointee(snapshot),
            client,
            cors_origin: HeaderValue::from_str(&cors)
                .unwrap_or_else(|_| HeaderValue::from_static("http://localhost")),
            admission: Admission::new(limits.max_in_flight, limits.max_queue, limits.queue_timeout),
            options,
            started: Instant::now(),
            requests_total: Default::default(),
            responses: Arc::default(),
            failure_log: Default::default(),
            analytics,
            models: Default::default(),
            history: Default::default(),
            feed,
            stopping: tokio::sync::watch::Sender::new(false),
            system_as_user: Default::default(),
            request_seq: Default::default(),
            request_salt: startup_salt(),
            home: std::sync::OnceLock::new(),
            cluster,
        });
        if let Some(c) = &state.cluster {
            let weak = Arc::downgrade(&state);
            let host: std::sync::Weak<dyn crate::cluster::Host> = weak;
            c.start(host);
        }
        Ok(state)
    }

    /// Records every request in `history` from now on too (once; later calls are ignored).
    pub fn attach_history(&self, history: Arc<crate::history::History>) {
        if let Some(c) = &self.cluster {
            history.set_instance(c.instance_id());
        }
        if self.history.set(history.clone()).is_ok() {
            self.analytics.add_sink(history);
        }
    }

    /// Where mid-conversation system messages go on `backend`: its configured mode, else inline
    /// until it has refused them once.
    pub fn system_messages_for(
        &self,
        backend: &crate::config::BackendConfig,
    ) -> crate::translate::SystemMessages {
        use crate::translate::SystemMessages;
        match backend.system_messages {
            Some(mode) => mode,
            None if self.system_as_user.read().contains(&backend.name) => SystemMessages::User,
            None => SystemMessages::Inline,
        }
    }

    /// Remembers that `backend` refuses system messages after the first position.
    pub fn learn_system_as_user(&self, backend: &str) {
        let mut known = self.system_as_user.write();
        if !known.iter().any(|b| b == backend) {
            tracing::info!(
                "backend `{backend}` refuses system messages after the first one; sending them as user text from now on (set `system_messages` in its backend file to choose)"
            );
            known.push(backend.to_string());
        }
    }

    /// Swaps in a new configuration. In-flight requests finish on the snapshot they started with.
    pub fn reload(&self, config: Config) {
        self.analytics.set_prices(&config.prices);
        let previous = self.snapshot.load_full();
        crate::cluster::warn_on_reload(previous.config.cluster.as_ref(), config.cluster.as_ref());
        let snapshot = Snapshot::new(
            config,
            self.options.model_override.as_deref(),
            Some(&previous),
        );
        self.snapshot.store(Arc::new(snapshot));
    }

    /// `req_` + 16 hex digits, unique within the process and unpredictable across processes.
    ///
    /// Unique without a process-wide counter (one cache line every worker would write on every
    /// request): the number mixed is the worker's slot in the top 8 bits and that slot's own
    /// count (atomic: a slot may be shared, see `crate::worker`) in the low 56, so two requests
    /// never get the same number; the mix below is a bijection of it (odd multiplier, then
    /// xor-shifts and odd multipliers), so they never get the same id either.
    pub fn next_request_id(&self) -> String {
        let count = self.request_seq.local().fetch_add(1, Ordering::Relaxed);
        request_id(self.request_salt, crate::worker::index(), count)
    }
}

/// Bits of a request number below the worker slot.
const SLOT_SHIFT: u32 = 56;
const _: () = assert!(crate::worker::MAX_WORKERS <= 1 << (64 - SLOT_SHIFT));

/// The id of the `count`-th request of worker slot `slot` (see [`ProxyState::next_request_id`]).
fn request_id(salt: u64, slot: usize, count: u64) -> String {
    let n = ((slot as u64) << SLOT_SHIFT) | (count & ((1 << SLOT_SHIFT) - 1));
    // splitmix64 of (salt + n): cheap, well distributed, no syscalls.
    let mut z = salt.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    format!("req_{z:016x}")
}

fn startup_salt() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// What the cluster reads of a running proxy.
impl crate::cluster::Host for ProxyState {
    fn pools(&self) -> crate::pool::Pools {
        self.snapshot.load().pools.clone()
    }
    fn analytics(&self) -> &crate::analytics::Analytics {
        &self.analytics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_of_different_workers_never_collide() {
        let salt = startup_salt();
        let mut seen = std::collections::HashSet::new();
        for slot in [0, 1, 2, crate::worker::MAX_WORKERS - 1] {
            for count in (0..2000).chain([1 << 40, (1 << SLOT_SHIFT) - 1]) {
                let id = request_id(salt, slot, count);
                assert_eq!(id.len(), 20);
                assert!(id.starts_with("req_"));
                assert!(id[4..].bytes().all(|b| b.is_ascii_hexdigit()));
                assert!(seen.insert(id), "slot {slot}, count {count}");
            }
        }
        // Another process (another salt) numbers differently.
        assert_ne!(request_id(salt, 0, 0), request_id(salt ^ 1, 0, 0));
    }
}
