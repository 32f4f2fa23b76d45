//! Pools: deployments of a backend, their live rate-limit headroom, cooldowns, stickiness (SPEC §5).
//!
//! Owns: per-deployment live state and the selection rule. Every backend has a pool; a backend
//! without `deployments` is a pool of one implicit deployment `default`.
//!
//! Must not: hold a lock across `.await`, do network I/O, or read the clock where a caller can
//! pass `now` (everything takes `now: Instant`, so tests inject time; the only async function,
//! [`Pools::acquire_or_wait`], sleeps until the earliest cooldown end and holds no lock).
//!
//! Concurrency: the pool table is immutable after construction (hot reload builds a new one with
//! [`Pools::rebuild`], sharing the live state of unchanged deployments). Per deployment, the
//! in-flight count is an atomic and the rest of the live state sits behind its own
//! `parking_lot::Mutex`, held only for a few field updates. A pool of several deployments has
//! one sticky table behind a mutex held for one O(log n) lookup/bind per acquire.
//!
//! Selection: among deployments neither excluded (already tried by this request) nor cooling,
//! a still-bound sticky deployment wins while its headroom is above zero; otherwise the highest
//! headroom compared in whole percent (so 0.991 and 0.999 tie), then fewest in flight, then
//! configuration order — except that a deployment whose `key_env` variable is unset ranks after
//! every usable one. The chosen deployment becomes the key's binding (rebind on cooldown or
//! failover happens naturally: the bound one is cooling or excluded, so another is chosen).
//!
//! Cooldown: 429/529 → until `retry-after` (or `retry-after-ms`), else the reset time of the
//! exhausted limit, else exponential 1 s, 2 s, 4 s … capped at 60 s; 500/502/503/504 (and other
//! retryable 5xx), connect errors and first-byte timeouts → `retry-after` if sent, else
//! exponential 1 s … 30 s. The exponent is the number of consecutive failures; any success
//! resets it. A cooldown only ever ends by time passing — there is no "rejected forever" state.

mod events;
mod lease;
mod outcome;
mod ratelimit;
mod snapshot;
mod sticky;

pub use events::{from_unix_ms, to_unix_ms, PoolEvent, PoolEvents, WallReading};
pub use lease::Lease;
pub use outcome::{is_retryable_status, CooldownReason, Outcome};
pub use ratelimit::{
    parse_reset, parse_retry_after, Dimension, LimitReading, RateLimitHeaders, RateLimitState,
};
pub use snapshot::{
    BackendPoolSnapshot, DeploymentGauge, DeploymentSnapshot, LimitSnapshot, PoolSnapshot,
};
pub use sticky::{conversation_key, BindChange, StickyTable};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use crate::config::{Config, Credential};

/// The alias of the implicit deployment of a backend that declares none.
pub const DEFAULT_ALIAS: &str = "default";

/// Where one deployment sends requests: everything the upstream client needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentTarget {
    pub backend: String,
    pub alias: String,
    /// Without a trailing slash (as in `BackendConfig::base_url`).
    pub base_url: String,
    pub credential: Credential,
}

/// Exponential backoff: `base · 2^(n-1)` for the n-th consecutive failure, at most `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub fn delay(&self, consecutive_failures: u32) -> Duration {
        let exp = consecutive_failures.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exp).min(self.cap)
    }
}

/// Tunables of the pools; [`Default`] is SPEC §5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    /// Idle time after which a conversation's binding is forgotten (6 h).
    pub sticky_ttl: Duration,
    /// Bindings kept per pool; the least recently used goes first (10,000).
    pub sticky_cap: usize,
    /// 429/529 without `retry-after` or a usable reset header (1 s → 60 s).
    pub rate_limit_backoff: Backoff,
    /// 5xx, connect errors, first-byte timeouts (1 s → 30 s).
    pub error_backoff: Backoff,
    /// Upper bound of any cooldown, whatever an upstream says (24 h).
    pub max_cooldown: Duration,
    /// How long [`Pools::acquire_or_wait`] waits for a cooling pool (from `Limits::exhaustion_wait`).
    pub exhaustion_wait: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            sticky_ttl: Duration::from_secs(6 * 3600),
            sticky_cap: 10_000,
            rate_limit_backoff: Backoff {
                base: Duration::from_secs(1),
                cap: Duration::from_secs(60),
            },
            error_backoff: Backoff {
                base: Duration::from_secs(1),
                cap: Duration::from_secs(30),
            },
            max_cooldown: Duration::from_secs(24 * 3600),
            exhaustion_wait: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Default)]
struct LiveState {
    limits: RateLimitState,
    cooldown_until: Option<Instant>,
    cooldown_reason: Option<CooldownReason>,
    consecutive_failures: u32,
    last_status: Option<u16>,
    last_error: Option<CooldownReason>,
    responses: u64,
    failures: u64,
}

impl LiveState {
    fn cooling(&self, now: Instant) -> Option<Instant> {
        self.cooldown_until.filter(|&t| t > now)
    }

    /// Cools until `until` (at most `max` from now) unless already cooling longer; true when
    /// the cooldown was set or extended.
    fn cool(
        &mut self,
        until: Instant,
        reason: CooldownReason,
        now: Instant,
        max: Duration,
    ) -> bool {
        let until = until.min(now + max);
        let keep = self.cooling(now).is_some_and(|cur| cur >= until);
        if !keep {
            self.cooldown_until = Some(until);
            self.cooldown_reason = Some(reason);
        }
        !keep
    }
}

#[derive(Debug)]
struct Deployment {
    target: DeploymentTarget,
    in_flight: AtomicU64,
    state: Mutex<LiveState>,
}

#[derive(Debug)]
struct Pool {
    backend: String,
    deployments: Vec<Arc<Deployment>>,
    /// Only pools of two or more deployments need stickiness.
    sticky: Option<Arc<Mutex<StickyTable>>>,
}

#[derive(Debug)]
struct Inner {
    pools: HashMap<String, Arc<Pool>>,
    settings: Arc<PoolSettings>,
    events: Option<Arc<dyn PoolEvents>>,
}

/// All backends' pools. Cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct Pools {
    inner: Arc<Inner>,
}

/// Why no deployment could be leased.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcquireError {
    #[error("backend `{0}` has no pool: it is not configured (run `dario backend list`)")]
    UnknownBackend(String),
    /// Every deployment of the backend is in `exclude`: move on to the route's fallbacks.
    #[error("every deployment of backend `{backend}` was already tried for this request ({tried} tried)")]
    AllTried { backend: String, tried: usize },
    /// Every remaining deployment is cooling down. `retry_after` is whole seconds (at least 1)
    /// until `earliest`, the first moment one of them comes back.
    #[error("every deployment of backend `{backend}` is cooling down after rate limits or errors: retry in {}s", retry_after.as_secs())]
    Exhausted {
        backend: String,
        retry_after: Duration,
        earliest: Instant,
    },
}

impl Pools {
    /// One pool per configured backend, with [`PoolSettings::default`] and the configured
    /// exhaustion wait.
    pub fn new(config: &Config) -> Self {
        let settings = PoolSettings {
            exhaustion_wait: config.limits.exhaustion_wait,
            ..PoolSettings::default()
        };
        Self::with_settings(config, settings)
    }

    pub fn with_settings(config: &Config, settings: PoolSettings) -> Self {
        Self::build(config, Arc::new(settings), None)
    }

    /// The pools for a reloaded config. Deployments whose target (backend, alias, base URL and
    /// credential) is unchanged keep their live state — cooldowns, headroom, in-flight count —
    /// and leases taken from `self` keep reporting into it; sticky bindings to deployments that
    /// still exist are kept.
    pub fn rebuild(&self, config: &Config) -> Self {
        let settings = PoolSettings {
            exhaustion_wait: config.limits.exhaustion_wait,
            ..(*self.inner.settings).clone()
        };
        Self::build(config, Arc::new(settings), Some(&self.inner))
    }

    fn build(config: &Config, settings: Arc<PoolSettings>, old: Option<&Inner>) -> Self {
        let mut pools = HashMap::new();
        for (name, b) in &config.backends {
            let mut targets: Vec<DeploymentTarget> = Vec::new();
            if b.deployments.is_empty() {
                targets.push(DeploymentTarget {
                    backend: name.clone(),
                    alias: DEFAULT_ALIAS.to_string(),
                    base_url: b.base_url.clone(),
                    credential: b.credential.clone(),
                });
            }
            for d in &b.deployments {
                if targets.iter().any(|t| t.alias == d.alias) {
                    continue; // duplicate alias: the first one wins
                }
                targets.push(DeploymentTarget {
                    backend: name.clone(),
                    alias: d.alias.clone(),
                    base_url: d
                        .base_url
                        .clone()
                        .unwrap_or_else(|| b.base_url.clone())
                        .trim_end_matches('/')
                        .to_string(),
                    credential: d.credential.clone().unwrap_or_else(|| b.credential.clone()),
                });
            }
            let old_pool = old.and_then(|o| o.pools.get(name));
            let deployments: Vec<Arc<Deployment>> = targets
                .into_iter()
                .map(|t| {
                    old_pool
                        .and_then(|p| p.deployments.iter().find(|d| d.target == t))
                        .cloned()
                        .unwrap_or_else(|| {
                            Arc::new(Deployment {
                                target: t,
                                in_flight: AtomicU64::new(0),
                                state: Mutex::new(LiveState::default()),
                            })
                        })
                })
                .collect();
            let sticky =
                (deployments.len() > 1).then(|| match old_pool.and_then(|p| p.sticky.clone()) {
                    Some(table) => {
                        let aliases: Vec<&str> = deployments
                            .iter()
                            .map(|d| d.target.alias.as_str())
                            .collect();
                        table.lock().retain_aliases(&aliases);
                        table
                    }
                    None => Arc::new(Mutex::new(StickyTable::new(
                        settings.sticky_ttl,
                        settings.sticky_cap,
                    ))),
                });
            pools.insert(
                name.clone(),
                Arc::new(Pool {
                    backend: name.clone(),
                    deployments,
                    sticky,
                }),
            );
        }
        Pools {
            inner: Arc::new(Inner {
                pools,
                settings,
                events: old.and_then(|o| o.events.clone()),
            }),
        }
    }

    /// These pools, reporting what they learn to `events` (kept by [`Pools::rebuild`]).
    pub fn with_events(self, events: Arc<dyn PoolEvents>) -> Self {
        Pools {
            inner: Arc::new(Inner {
                pools: self.inner.pools.clone(),
                settings: self.inner.settings.clone(),
                events: Some(events),
            }),
        }
    }

    fn deployment(&self, backend: &str, alias: &str) -> Option<&Arc<Deployment>> {
        self.inner
            .pools
            .get(backend)?
            .deployments
            .iter()
            .find(|d| d.target.alias == alias)
    }

    /// Every (backend, alias), in no particular order.
    pub fn deployment_names(&self) -> Vec<(String, String)> {
        self.inner
            .pools
            .values()
            .flat_map(|p| {
                p.deployments
                    .iter()
                    .map(|d| (d.target.backend.clone(), d.target.alias.clone()))
            })
            .collect()
    }

    /// A cooldown learnt from another instance: cools the deployment until `until` unless it is
    /// already cooling longer. The failure count is left alone (the failure was not ours).
    /// False when the deployment is unknown here or nothing changed.
    pub fn apply_cooldown(
        &self,
        backend: &str,
        alias: &str,
        until_unix_ms: u64,
        reason: CooldownReason,
        now: Instant,
        wall_now: SystemTime,
    ) -> bool {
        let Some(d) = self.deployment(backend, alias) else {
            return false;
        };
        let until = from_unix_ms(until_unix_ms, now, wall_now);
        if until <= now {
            return false;
        }
        let max = self.inner.settings.max_cooldown;
        d.state.lock().cool(until, reason, now, max)
    }

    /// Rate-limit readings learnt from another instance (merged like a response's headers).
    pub fn apply_limits(
        &self,
        backend: &str,
        alias: &str,
        dims: &[WallReading; 4],
        now: Instant,
        wall_now: SystemTime,
    ) {
        let Some(d) = self.deployment(backend, alias) else {
            return;
        };
        let mut h = RateLimitHeaders::default();
        for (r, w) in h.dims.iter_mut().zip(dims) {
            r.limit = w.limit;
            r.remaining = w.remaining;
            r.reset_at = w.reset_unix_ms.map(|ms| from_unix_ms(ms, now, wall_now));
        }
        d.state.lock().limits.merge(&h);
    }

    /// Every deployment cooling at `now` after a rate limit or a server error (what another
    /// instance should know after a partition): (backend, alias, until in Unix ms, reason).
    pub fn shared_cooldowns(
        &self,
        now: Instant,
        wall_now: SystemTime,
    ) -> Vec<(String, String, u64, CooldownReason)> {
        let mut out = Vec::new();
        for p in self.inner.pools.values() {
            for d in &p.deployments {
                let st = d.state.lock();
                if let (Some(until), Some(reason)) = (st.cooling(now), st.cooldown_reason) {
                    if matches!(
                        reason,
                        CooldownReason::RateLimited | CooldownReason::ServerError
                    ) {
                        out.push((
                            d.target.backend.clone(),
                            d.target.alias.clone(),
                            to_unix_ms(until, now, wall_now),
                            reason,
                        ));
                    }
                }
            }
        }
        out
    }

    /// The deployment alias `key` is bound to on `backend` here, if any.
    pub fn binding(&self, backend: &str, key: &str, now: Instant) -> Option<String> {
        let table = self.inner.pools.get(backend)?.sticky.as_ref()?;
        let t = table.lock();
        t.get(key, now).map(str::to_string)
    }

    /// A binding learnt from another instance. `only_if_present`: re-bind a conversation this
    /// instance already knows, and ignore others. Unknown aliases are ignored.
    pub fn apply_binding(
        &self,
        backend: &str,
        key: &str,
        alias: &str,
        now: Instant,
        only_if_present: bool,
    ) {
        let Some(p) = self.inner.pools.get(backend) else {
            return;
        };
        let Some(table) = &p.sticky else { return };
        if !p.deployments.iter().any(|d| d.target.alias == alias) {
            return;
        }
        let mut t = table.lock();
        if only_if_present {
            t.rebind_if_present(key, alias, now);
        } else {
            t.bind(key, alias, now);
        }
    }

    pub fn settings(&self) -> &PoolSettings {
        &self.inner.settings
    }

    /// The deployment targets of a backend, in configuration order.
    pub fn targets(&self, backend: &str) -> Vec<DeploymentTarget> {
        self.inner
            .pools
            .get(backend)
            .map(|p| p.deployments.iter().map(|d| d.target.clone()).collect())
            .unwrap_or_default()
    }

    /// Whether `backend` is a pool of several deployments, i.e. whether a conversation key is
    /// worth computing for it ([`conversation_key`] parses the body; skip it otherwise).
    pub fn needs_sticky_key(&self, backend: &str) -> bool {
        self.inner
            .pools
            .get(backend)
            .is_some_and(|p| p.sticky.is_some())
    }

    /// Leases the best deployment of `backend` for one attempt (see the module docs for the
    /// rule). `exclude` lists aliases already tried by this request. The lease counts as in
    /// flight until dropped.
    pub fn acquire(
        &self,
        backend: &str,
        sticky_key: Option<&str>,
        exclude: &[String],
        now: Instant,
    ) -> Result<Lease, AcquireError> {
        let pool = self
            .inner
            .pools
            .get(backend)
            .ok_or_else(|| AcquireError::UnknownBackend(backend.to_string()))?;
        let excluded = |d: &Deployment| exclude.contains(&d.target.alias);
        let mut sticky = match (sticky_key, &pool.sticky) {
            (Some(k), Some(t)) => Some((k, t.lock())),
            _ => None,
        };
        let bound: Option<&str> = sticky.as_ref().and_then(|(k, t)| t.get(k, now));

        // (index, credential usable, headroom in whole percent, in flight)
        let mut best: Option<(usize, bool, u32, u64)> = None;
        let mut chosen: Option<usize> = None;
        let mut earliest: Option<Instant> = None;
        let mut candidates = 0usize;
        for (i, d) in pool.deployments.iter().enumerate() {
            if excluded(d) {
                continue;
            }
            candidates += 1;
            let (cooling, headroom) = {
                let st = d.state.lock();
                (st.cooling(now), st.limits.headroom(now))
            };
            if let Some(until) = cooling {
                earliest = Some(earliest.map_or(until, |e| e.min(until)));
                continue;
            }
            if bound == Some(d.target.alias.as_str()) && headroom > 0.0 && d.credential_usable() {
                chosen = Some(i);
                break;
            }
            let usable = d.credential_usable();
            let pct = (headroom * 100.0).round() as u32;
            let flying = d.in_flight.load(Ordering::Relaxed);
            let better = match best {
                None => true,
                Some((_, bu, bp, bf)) => {
                    (usable, pct, std::cmp::Reverse(flying)) > (bu, bp, std::cmp::Reverse(bf))
                }
            };
            if better {
                best = Some((i, usable, pct, flying));
            }
        }
        let Some(i) = chosen.or(best.map(|b| b.0)) else {
            drop(sticky);
            return Err(match earliest {
                Some(earliest) => AcquireError::Exhausted {
                    backend: backend.to_string(),
                    retry_after: retry_after_secs(earliest, now),
                    earliest,
                },
                None => AcquireError::AllTried {
                    backend: backend.to_string(),
                    tried: pool.deployments.len() - candidates,
                },
            });
        };
        let dep = pool.deployments[i].clone();
        let change = sticky
            .as_mut()
            .map(|(k, t)| (*k, t.bind(k, &dep.target.alias, now)));
        drop(sticky);
        if let (Some(events), Some((key, change))) = (&self.inner.events, change) {
            if change != BindChange::Touched {
                events.send(PoolEvent::Bound {
                    backend: backend.to_string(),
                    key: key.to_string(),
                    alias: dep.target.alias.clone(),
                    new: change == BindChange::New,
                });
            }
        }
        dep.in_flight.fetch_add(1, Ordering::Relaxed);
        Ok(Lease {
            dep,
            settings: self.inner.settings.clone(),
            events: self.inner.events.clone(),
        })
    }

    /// [`Pools::acquire`], but when every remaining deployment is cooling and the first comes
    /// back within `max_wait`, sleeps until then and tries again. When none would come back in
    /// time, returns `Exhausted` at once rather than waiting for nothing. Holds no lock while
    /// sleeping.
    pub async fn acquire_or_wait(
        &self,
        backend: &str,
        sticky_key: Option<&str>,
        exclude: &[String],
        max_wait: Duration,
    ) -> Result<Lease, AcquireError> {
        let deadline = Instant::now() + max_wait;
        loop {
            match self.acquire(backend, sticky_key, exclude, Instant::now()) {
                Err(AcquireError::Exhausted { earliest, .. }) if earliest <= deadline => {
                    tokio::time::sleep_until(earliest.into()).await;
                }
                other => return other,
            }
        }
    }

    /// Everything about every pool at `now`, for `/pool`, `/status` and the MCP `pool_status`.
    pub fn snapshot(&self, now: Instant) -> PoolSnapshot {
        let mut backends: Vec<BackendPoolSnapshot> = self
            .inner
            .pools
            .values()
            .map(|p| {
                let deployments: Vec<DeploymentSnapshot> =
                    p.deployments.iter().map(|d| d.snapshot(now)).collect();
                BackendPoolSnapshot {
                    backend: p.backend.clone(),
                    available: deployments.iter().filter(|d| !d.cooling).count(),
                    sticky_keys: p.sticky.as_ref().map_or(0, |t| {
                        let mut t = t.lock();
                        t.expire(now);
                        t.len()
                    }),
                    deployments,
                }
            })
            .collect();
        backends.sort_by(|a, b| a.backend.cmp(&b.backend));
        PoolSnapshot { backends }
    }
}

fn retry_after_secs(earliest: Instant, now: Instant) -> Duration {
    let d = earliest.saturating_duration_since(now);
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

impl Deployment {
    /// False for a key read from an environment variable that is not set: such a deployment is
    /// chosen only when nothing else is available (the request would fail to authenticate).
    fn credential_usable(&self) -> bool {
        !matches!(
            self.target.credential,
            Credential::KeyEnv { value: None, .. }
        )
    }

    fn snapshot(&self, now: Instant) -> DeploymentSnapshot {
        let st = self.state.lock();
        let cooling = st.cooling(now);
        DeploymentSnapshot {
            alias: self.target.alias.clone(),
            base_url: crate::safe_url::display(&self.target.base_url),
            credential: self.target.credential.source_label(),
            credential_missing: !self.credential_usable(),
            headroom: st.limits.headroom(now),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            cooling: cooling.is_some(),
            cooldown_remaining_ms: cooling
                .map_or(0, |t| t.saturating_duration_since(now).as_millis() as u64),
            cooldown_reason: cooling.and(st.cooldown_reason),
            consecutive_failures: st.consecutive_failures,
            last_status: st.last_status,
            last_error: st.last_error,
            responses: st.responses,
            failures: st.failures,
            limits: Dimension::ALL
                .iter()
                .filter_map(|&d| {
                    let r = st.limits.dims[d as usize];
                    if r.limit.is_none() && r.remaining.is_none() && r.reset_at.is_none() {
                        return None;
                    }
                    Some(LimitSnapshot {
                        dimension: d,
                        limit: r.limit,
                        remaining: r.remaining,
                        reset_in_ms: r
                            .reset_at
                            .map(|t| t.saturating_duration_since(now).as_millis() as u64),
                    })
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
