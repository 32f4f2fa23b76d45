//! Analytics: one record per request, a ring of recent records, window summaries, price table,
//! Prometheus rendering (SPEC §6, accounting).
//!
//! Owns: counting. Must not: block the request path.
//!
//! Where records go: to the shard of the proxy worker that recorded them (`shards.rs`: one state
//! per worker, so workers never write each other's cache lines; readers add the shards up).
//!
//! How recording stays non-blocking: a shard's aggregates live in one `State` behind a
//! `parking_lot::Mutex`, and [`Analytics::record`] never waits for it. It *tries* the lock; when
//! free (the normal case: only its own worker records there, and nobody else is inside for more
//! than a few µs) it folds the record in directly, plus anything queued. When busy (a reader
//! rendering a summary or `/metrics`, or another thread sharing the shard under a multi-threaded
//! runtime), it pushes the record into the shard's lock-free queue (`std::sync::mpsc`, bounded
//! to 65,536 records by a counter; its blocks are allocated only while records wait, so an idle
//! proxy holds none) whose receiver lives inside `State`: whoever next holds the
//! lock — recorder or reader — drains it first, so readers always see every record whose
//! `record` call returned before they started. Only if that queue is full *and* the lock is still
//! busy is the record dropped, counted in `dario_analytics_dropped_records_total`. No background
//! thread, no unbounded memory, exact counts under any realistic load. (A channel to an
//! aggregator thread was the alternative; it adds a thread and makes reads eventually
//! consistent, which `/analytics` right after a request would show.)
//!
//! What is kept: the last 10,000 records (ring; each shard keeps its own last 10,000, the merge
//! the newest of them); all-time aggregates; 5-minute buckets for the
//! last 24 h, each with per-(backend, deployment, model) aggregates — a summary window (default
//! 60 min) merges the buckets it touches, so windows are bucket-aligned (they cover between
//! `window` and `window + 5 min`; `window_start` says where). Percentiles come from mergeable
//! log-linear histograms (see `histogram.rs`: ≤ 6.25 % relative error). Label cardinality is
//! bounded: past 1,000 distinct (backend, deployment, model) series, new models are counted as
//! model `other`.
//!
//! Every record also goes to the registered [`RecordSink`]s (the history on disk, the dashboard
//! feed) before it is folded in; a sink must not block (`crate::history` does one bounded
//! `try_send`).

mod histogram;
mod prices;
mod prometheus;
mod record;
mod shards;
mod summary;

pub use histogram::{LogHistogram, PromHistogram, LATENCY_BOUNDS, OVERHEAD_BOUNDS};
pub use prices::{default_prices, Price, PriceMatch, PriceTable};
pub use prometheus::{escape_label, DeploymentGauge, LiveGauges};
pub use record::{is_error_status, summary_model, Record, RecordSink, RecordView, RequestContext};
pub use summary::{
    BucketSummary, Burn, GroupSummary, Quantiles, Section, Summary, Tokens, WindowSummary,
};

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The aggregation maps are keyed by names from the configuration and the traffic; foldhash
/// (seeded per process) hashes them in a fraction of SipHash's time on every request.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use crate::config::PriceConfig;
use crate::protocol::Usage;
use crate::timefmt::format_rfc3339;

/// How summaries compute percentiles (shown in `/analytics`).
pub const QUANTILE_METHOD: &str = "nearest-rank over log-linear histograms (8 sub-buckets per power of two, bucket midpoint, clamped to min/max; relative error <= 6.25%)";

/// The summary window of `/analytics` when none is asked for (60 min).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);

/// The longest summary window, in minutes: the retention of [`AnalyticsOptions::default`]
/// (24 h). `/analytics` and the MCP `analytics_summary` tool accept 1 to this.
pub const MAX_WINDOW_MINUTES: u64 = 24 * 60;

/// The model label of series beyond the cardinality cap.
pub const OTHER_MODEL: &str = "other";

/// A kept record: shared with the sinks (the history holds the same `Arc` until its batch is
/// written), so neither copies its strings.
#[derive(Debug, Clone)]
struct Entry {
    rec: Arc<Record>,
    cost_usd: f64,
    priced: bool,
    /// Where the record stands in the ring's global order (`shards.rs`): when it finished.
    seq: Instant,
}

impl Entry {
    fn view(&self) -> RecordView {
        let r = &self.rec;
        RecordView {
            timestamp: format_rfc3339(r.timestamp),
            request_id: r.request_id.clone(),
            inbound: r.inbound,
            backend: r.backend.clone(),
            deployment: r.deployment.clone(),
            requested_model: r.requested_model.clone(),
            upstream_model: r.upstream_model.clone(),
            status: r.status,
            streamed: r.streamed,
            attempts: r.attempts,
            latency_ms: ms(r.latency),
            ttfb_ms: r.ttfb.map(ms),
            overhead_ms: ms(r.overhead),
            usage: r.usage,
            cost_usd: self.cost_usd,
            priced: self.priced,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

enum Event {
    Record(Entry),
    Failover(String),
}

/// Sizes and spans; [`Default`] is SPEC §6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsOptions {
    /// Records kept for `recent` (10,000).
    pub ring_capacity: usize,
    /// Width of a summary bucket (5 min).
    pub bucket: Duration,
    /// How far back windows can reach (24 h).
    pub retention: Duration,
    /// Records queued while the state is busy before any is dropped (65,536).
    pub queue_capacity: usize,
    /// Distinct (backend, deployment, model) series before new models fold into `other` (1,000).
    pub max_series: usize,
}

impl Default for AnalyticsOptions {
    fn default() -> Self {
        AnalyticsOptions {
            ring_capacity: 10_000,
            bucket: Duration::from_secs(300),
            retention: Duration::from_secs(MAX_WINDOW_MINUTES * 60),
            queue_capacity: 65_536,
            max_series: 1_000,
        }
    }
}

/// One series. The names are shared (`State::intern`): cloning a key for the three maps a
/// record lands in costs reference counts, not allocations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    backend: Arc<str>,
    deployment: Arc<str>,
    model: Arc<str>,
}

#[derive(Debug, Clone, Default)]
struct Stats {
    requests: u64,
    errors: u64,
    streamed: u64,
    unpriced: u64,
    attempts: u64,
    retried: u64,
    tokens: Usage,
    cost_usd: f64,
    latency: LogHistogram,
    ttfb: LogHistogram,
    overhead: LogHistogram,
}

fn add_usage(a: &mut Usage, b: &Usage) {
    a.input_tokens += b.input_tokens;
    a.output_tokens += b.output_tokens;
    a.cache_read_tokens += b.cache_read_tokens;
    a.cache_write_tokens += b.cache_write_tokens;
    a.reasoning_tokens += b.reasoning_tokens;
}

/// Input + output + cache read + cache write (reasoning is part of output).
fn total_tokens(u: &Usage) -> u64 {
    u.input_tokens + u.output_tokens + u.cache_read_tokens + u.cache_write_tokens
}

impl Stats {
    fn add(&mut self, e: &Entry) {
        let r = &e.rec;
        self.requests += 1;
        self.errors += u64::from(r.is_error());
        self.streamed += u64::from(r.streamed);
        self.unpriced += u64::from(!e.priced);
        self.attempts += u64::from(r.attempts);
        self.retried += u64::from(r.attempts > 1);
        add_usage(&mut self.tokens, &r.usage);
        self.cost_usd += e.cost_usd;
        self.latency.record(r.latency);
        if let Some(t) = r.ttfb {
            self.ttfb.record(t);
        }
        self.overhead.record(r.overhead);
    }

    fn merge(&mut self, o: &Stats) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.streamed += o.streamed;
        self.unpriced += o.unpriced;
        self.attempts += o.attempts;
        self.retried += o.retried;
        add_usage(&mut self.tokens, &o.tokens);
        self.cost_usd += o.cost_usd;
        self.latency.merge(&o.latency);
        self.ttfb.merge(&o.ttfb);
        self.overhead.merge(&o.overhead);
    }
}

#[derive(Clone)]
struct PromHists {
    duration: PromHistogram,
    ttfb: PromHistogram,
    overhead: PromHistogram,
}

impl PromHists {
    fn new() -> Self {
        PromHists {
            duration: PromHistogram::new(LATENCY_BOUNDS),
            ttfb: PromHistogram::new(LATENCY_BOUNDS),
            overhead: PromHistogram::new(OVERHEAD_BOUNDS),
        }
    }

    fn merge(&mut self, o: &PromHists) {
        self.duration.merge(&o.duration);
        self.ttfb.merge(&o.ttfb);
        self.overhead.merge(&o.overhead);
    }
}

/// What the summaries and `/metrics` are computed from: one shard's (see `shards.rs`), or all
/// shards' added together by a reader.
#[derive(Default)]
struct Aggregates {
    all_time: HashMap<Key, Stats>,
    /// Bucket number (unix seconds / bucket width) → aggregates.
    buckets: BTreeMap<u64, HashMap<Key, Stats>>,
    by_status: HashMap<(Arc<str>, Arc<str>, u16), u64>,
    prom: BTreeMap<Arc<str>, PromHists>,
    failovers: BTreeMap<String, u64>,
    unpriced_models: BTreeSet<String>,
    first_record: Option<SystemTime>,
}

impl Aggregates {
    /// Adds `o` in, of its buckets only those from `first_bucket` on.
    fn merge(&mut self, o: &Aggregates, first_bucket: u64) {
        for (k, s) in &o.all_time {
            self.all_time.entry(k.clone()).or_default().merge(s);
        }
        for (&b, groups) in o.buckets.range(first_bucket..) {
            let into = self.buckets.entry(b).or_default();
            for (k, s) in groups {
                into.entry(k.clone()).or_default().merge(s);
            }
        }
        for (k, n) in &o.by_status {
            *self.by_status.entry(k.clone()).or_default() += n;
        }
        for (b, h) in &o.prom {
            match self.prom.get_mut(b) {
                Some(mine) => mine.merge(h),
                None => {
                    self.prom.insert(b.clone(), h.clone());
                }
            }
        }
        for (b, n) in &o.failovers {
            *self.failovers.entry(b.clone()).or_default() += n;
        }
        for m in &o.unpriced_models {
            if self.unpriced_models.len() >= MAX_UNPRICED_LISTED {
                break;
            }
            self.unpriced_models.insert(m.clone());
        }
        if let Some(t) = o.first_record {
            if self.first_record.is_none_or(|f| t < f) {
                self.first_record = Some(t);
            }
        }
    }

    /// Drops the buckets that `newest` puts beyond the retention (`keep` buckets).
    fn evict(&mut self, newest: u64, keep: u64) {
        while let Some((&k, _)) = self.buckets.first_key_value() {
            if k + keep > newest {
                break;
            }
            self.buckets.pop_first();
        }
    }
}

/// One shard's state (see `shards.rs`): its aggregates, its ring of recent records and the
/// receiving end of its queue.
struct State {
    rx: Receiver<Event>,
    /// Records in `rx` (shared with the senders, who keep it under the capacity).
    queued: Arc<AtomicUsize>,
    opts: AnalyticsOptions,
    bucket_secs: u64,
    agg: Aggregates,
    /// Oldest first; `Entry::seq` increases along it.
    ring: VecDeque<Entry>,
    /// Backend, deployment and model names seen, shared by every key that uses them.
    names: std::collections::HashSet<Arc<str>, foldhash::fast::RandomState>,
}

const MAX_UNPRICED_LISTED: usize = 100;
/// Names kept for sharing; past this (a flood of distinct model names) new names are simply
/// not shared.
const MAX_INTERNED_NAMES: usize = 4096;

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

impl State {
    fn new(rx: Receiver<Event>, queued: Arc<AtomicUsize>, opts: AnalyticsOptions) -> Self {
        State {
            rx,
            queued,
            bucket_secs: opts.bucket.as_secs().max(1),
            opts,
            agg: Aggregates::default(),
            ring: VecDeque::new(),
            names: Default::default(),
        }
    }

    /// Buckets kept: the retention in buckets, at least one.
    fn keep(&self) -> u64 {
        (self.opts.retention.as_secs() / self.bucket_secs).max(1)
    }

    fn drain(&mut self, ctx: &shards::Shared) {
        while let Ok(ev) = self.rx.try_recv() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.apply(ev, ctx);
        }
    }

    fn apply(&mut self, ev: Event, ctx: &shards::Shared) {
        match ev {
            Event::Record(e) => self.ingest(e, ctx),
            Event::Failover(b) => *self.agg.failovers.entry(b).or_default() += 1,
        }
    }

    /// The shared copy of `name`.
    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.names.get(name) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(name);
        if self.names.len() < MAX_INTERNED_NAMES {
            self.names.insert(shared.clone());
        }
        shared
    }

    fn ingest(&mut self, mut e: Entry, ctx: &shards::Shared) {
        let r = e.rec.clone();
        let mut key = Key {
            backend: self.intern(&r.backend),
            deployment: self.intern(&r.deployment),
            model: self.intern(r.model()),
        };
        match self.agg.all_time.get_mut(&key) {
            Some(s) => s.add(&e),
            None => {
                // A series new to this shard: the cap on series counts across all shards.
                if !ctx.admit(&key) {
                    key.model = self.intern(OTHER_MODEL);
                }
                self.agg.all_time.entry(key.clone()).or_default().add(&e);
            }
        }

        let b = unix_secs(r.timestamp) / self.bucket_secs;
        let keep = self.keep();
        let newest = self
            .agg
            .buckets
            .last_key_value()
            .map_or(b, |(k, _)| (*k).max(b));
        if b + keep > newest {
            self.agg
                .buckets
                .entry(b)
                .or_default()
                .entry(key.clone())
                .or_default()
                .add(&e);
        }
        self.agg.evict(newest, keep);

        *self
            .agg
            .by_status
            .entry((key.backend.clone(), key.model.clone(), r.status))
            .or_default() += 1;
        let h = self
            .agg
            .prom
            .entry(key.backend)
            .or_insert_with(PromHists::new);
        h.duration.observe(r.latency);
        if let Some(t) = r.ttfb {
            h.ttfb.observe(t);
        }
        h.overhead.observe(r.overhead);
        if !e.priced
            && self.agg.unpriced_models.len() < MAX_UNPRICED_LISTED
            && !self.agg.unpriced_models.contains(&*key.model)
        {
            self.agg.unpriced_models.insert(key.model.to_string());
        }
        if self.agg.first_record.is_none_or(|t| r.timestamp < t) {
            self.agg.first_record = Some(r.timestamp);
        }
        // Increasing along the shard's ring, whatever order the callers' clock readings came in.
        if let Some(last) = self.ring.back() {
            if e.seq <= last.seq {
                e.seq = last.seq + Duration::from_nanos(1);
            }
        }
        self.ring.push_back(e);
        while self.ring.len() > self.opts.ring_capacity {
            self.ring.pop_front();
        }
    }
}

/// Request accounting. Share it behind an `Arc`; every method takes `&self`.
pub struct Analytics {
    prices: ArcSwap<PriceTable>,
    shards: shards::Shards,
    opts: AnalyticsOptions,
    created: SystemTime,
    sinks: ArcSwap<Vec<Arc<dyn RecordSink>>>,
}

impl std::fmt::Debug for Analytics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analytics")
            .field("total", &self.total_requests())
            .field("dropped", &self.dropped_records())
            .finish_non_exhaustive()
    }
}

impl Analytics {
    /// Default sizes (SPEC §6) and the built-in price table with `prices` overriding it.
    pub fn new(prices: &BTreeMap<String, PriceConfig>) -> Self {
        Self::with_options(prices, AnalyticsOptions::default())
    }

    pub fn with_options(prices: &BTreeMap<String, PriceConfig>, opts: AnalyticsOptions) -> Self {
        Analytics {
            prices: ArcSwap::from_pointee(PriceTable::new(prices)),
            shards: shards::Shards::new(&opts),
            opts,
            created: SystemTime::now(),
            sinks: ArcSwap::from_pointee(Vec::new()),
        }
    }

    /// Replaces the price overrides (hot reload). Records already kept keep their cost.
    pub fn set_prices(&self, prices: &BTreeMap<String, PriceConfig>) {
        self.prices.store(Arc::new(PriceTable::new(prices)));
    }

    /// The current price table.
    pub fn prices(&self) -> Arc<PriceTable> {
        self.prices.load_full()
    }

    /// Accounts one request. Never waits for a lock (see the module docs).
    pub fn record(&self, r: Record) {
        self.record_at(r, Instant::now());
    }

    /// [`Analytics::record`] for a request that finished at `finished` (its place in the order
    /// of recent records; the proxy's meter has just read the clock for the latency, and passes
    /// that reading instead of reading it again).
    pub fn record_at(&self, r: Record, finished: Instant) {
        let cost = self.prices.load().cost(r.model(), &r.usage);
        let r = Arc::new(r);
        for sink in self.sinks.load().iter() {
            sink.accept(&r, cost.unwrap_or(0.0), cost.is_some());
        }
        let entry = Entry {
            cost_usd: cost.unwrap_or(0.0),
            priced: cost.is_some(),
            rec: r,
            seq: finished,
        };
        self.shards.submit(Event::Record(entry));
    }

    /// Sends every record from now on to `sink` too.
    pub fn add_sink(&self, sink: Arc<dyn RecordSink>) {
        self.sinks.rcu(|v| {
            let mut v = Vec::clone(v);
            v.push(sink.clone());
            v
        });
    }

    /// Counts one failover (an attempt moved to another deployment or backend), labelled by the
    /// backend that failed.
    pub fn observe_failover(&self, backend: &str) {
        self.shards.submit(Event::Failover(backend.to_string()));
    }

    /// Requests recorded since start (dropped ones included).
    pub fn total_requests(&self) -> u64 {
        self.shards.total()
    }

    /// Records and failovers lost because the queue was full while the state was busy.
    pub fn dropped_records(&self) -> u64 {
        self.shards.dropped()
    }

    /// The most recent kept records, newest first, at most `limit`.
    pub fn recent(&self, limit: usize) -> Vec<RecordView> {
        self.shards
            .recent(limit.min(self.opts.ring_capacity))
            .iter()
            .map(|e| e.view())
            .collect()
    }

    /// Usage over the last `window` (bucket-aligned, at most the retention) and all time, as of
    /// `now`.
    pub fn summary(&self, window: Duration, now: SystemTime) -> Summary {
        let bucket_secs = self.opts.bucket.as_secs().max(1);
        let window = window.clamp(Duration::from_secs(1), self.opts.retention);
        let now_s = unix_secs(now);
        let first_bucket = now_s.saturating_sub(window.as_secs()) / bucket_secs;
        let last_bucket = now_s / bucket_secs;
        let window_start = first_bucket * bucket_secs;
        let (agg, records_kept) = self.shards.merged(first_bucket);

        let mut win: HashMap<&Key, Stats> = HashMap::default();
        let mut series = Vec::new();
        for b in first_bucket..=last_bucket {
            let mut bs = Stats::default();
            if let Some(groups) = agg.buckets.get(&b) {
                for (k, s) in groups {
                    win.entry(k).or_default().merge(s);
                    bs.requests += s.requests;
                    bs.errors += s.errors;
                    add_usage(&mut bs.tokens, &s.tokens);
                    bs.cost_usd += s.cost_usd;
                }
            }
            series.push(BucketSummary {
                start: format_rfc3339(UNIX_EPOCH + Duration::from_secs(b * bucket_secs)),
                requests: bs.requests,
                errors: bs.errors,
                tokens: total_tokens(&bs.tokens),
                cost_usd: bs.cost_usd,
            });
        }
        // Future buckets (clock skew) still count in the window totals.
        for (_, groups) in agg.buckets.range(last_bucket + 1..) {
            for (k, s) in groups {
                win.entry(k).or_default().merge(s);
            }
        }
        let window_section = Section::build(win.iter().map(|(k, s)| (*k, s)));
        let data_start = agg
            .first_record
            .map_or(self.created, |t| t.min(self.created));
        let span_start = unix_secs(data_start).max(window_start);
        let span_secs = now_s.saturating_sub(span_start).max(1);
        let burn = Burn {
            span_secs,
            tokens_per_min: window_section.totals.tokens.total as f64 / (span_secs as f64 / 60.0),
            usd_per_hour: window_section.totals.cost_usd / (span_secs as f64 / 3600.0),
        };
        Summary {
            generated_at: format_rfc3339(now),
            quantile_method: QUANTILE_METHOD.into(),
            window: WindowSummary {
                window_secs: window.as_secs(),
                window_start: format_rfc3339(UNIX_EPOCH + Duration::from_secs(window_start)),
                bucket_secs,
                burn,
                section: window_section,
                buckets: series,
            },
            all_time: Section::build(agg.all_time.iter()),
            records_total: self.total_requests(),
            records_kept,
            records_dropped: self.dropped_records(),
            failovers: agg.failovers,
            unpriced_models: agg.unpriced_models.into_iter().collect(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
