//! The analytics state, one shard per proxy worker, and the readers' merge of the shards.
//!
//! Why: every proxied request is recorded, and with one state for the whole process every worker
//! of `dario proxy --workers N` wrote the same lock, counters, maps, histograms and ring — about a
//! dozen cache lines moving between cores on every request, which is what keeps N workers from
//! serving N times one worker (issue 15). So a record goes to the shard of the worker that
//! recorded it (`crate::worker::index`, the index the upstream pools go by): its own lock,
//! queue, counters and aggregates, on cache lines no other worker writes. With one worker per
//! thread the shard's lock is never contended; under a multi-threaded runtime (the tests',
//! `TOKIO_WORKER_THREADS`) the threads share shard 0 and its lock keeps the counts exact, as the
//! single state did.
//!
//! Readers (`/analytics`, `/metrics`, `/status`, the dashboard, MCP and the cluster publisher,
//! all through [`super::Analytics`]) lock one shard at a time and add the shards up: the result
//! is exactly what one unsharded state would hold (counts, histograms and so percentiles; sums of
//! costs up to the order of floating-point additions), because everything kept is a sum, a
//! union or a min/max — with three rules that make the exceptions exact too:
//!
//! - the cap on (backend, deployment, model) series is global: a shard that sees a series for the
//!   first time asks [`Shared::admit`] (a lock taken once per series and shard, never per record);
//! - a shard evicts 5-minute buckets by the newest bucket *it* has seen, so it may keep a bucket
//!   the whole process would already have dropped; the merge drops those by the newest bucket of
//!   all shards;
//! - the ring of recent records keeps a global order by a sequence "number": the monotonic
//!   clock's reading when the request finished (the meter's, taken for the latency just before
//!   it records; `record` reads the clock itself), raised within a shard to just above the
//!   shard's last one, so a shard's ring is in the order it was recorded in. No shared counter
//!   to write. Each
//!   shard keeps the last `ring_capacity` of its own records, so the newest `ring_capacity` of
//!   the process are always among them; the merge orders by (sequence, shard).
//!
//! Owns: the shards, their queues and counters, and the merge. Must not: be written by a reader
//! beyond draining a queue, or hold two shard locks at once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::{Aggregates, AnalyticsOptions, Entry, Event, Key, State};
use crate::worker::PerWorker;

/// One worker's share of the accounting.
struct Shard {
    /// Normally taken with `try_lock` by its own worker only; readers take it in turn.
    state: Mutex<State>,
    /// Records waiting while `state` is busy (see the module docs of `analytics`).
    tx: Sender<Event>,
    queued: Arc<AtomicUsize>,
    total: AtomicU64,
    dropped: AtomicU64,
}

/// What every shard consults, rarely: the series cap.
pub(super) struct Shared {
    max_series: usize,
    /// Series admitted so far (at most `max_series`); locked only when a shard meets a series it
    /// has not counted yet.
    series: Mutex<HashSet<Key, foldhash::fast::RandomState>>,
}

impl Shared {
    /// Whether `key` is counted under its own name (else under model `other`): every series
    /// until `max_series` distinct ones have been seen, after that only those.
    pub(super) fn admit(&self, key: &Key) -> bool {
        let mut series = self.series.lock();
        if series.contains(key) {
            return true;
        }
        if series.len() < self.max_series {
            series.insert(key.clone());
            return true;
        }
        false
    }
}

/// The shards, one per worker (`crate::worker::MAX_WORKERS`).
pub(super) struct Shards {
    shards: PerWorker<Shard>,
    shared: Shared,
    /// Records that may wait in a shard's queue (`AnalyticsOptions::queue_capacity`).
    queue_capacity: usize,
    ring_capacity: usize,
    /// Buckets kept (the retention in buckets).
    keep: u64,
}

impl Shards {
    pub(super) fn new(opts: &AnalyticsOptions) -> Self {
        let shards = PerWorker::new(|_| {
            let (tx, rx) = channel();
            let queued = Arc::new(AtomicUsize::new(0));
            Shard {
                state: Mutex::new(State::new(rx, queued.clone(), opts.clone())),
                tx,
                queued,
                total: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
            }
        });
        let bucket_secs = opts.bucket.as_secs().max(1);
        Shards {
            shards,
            shared: Shared {
                max_series: opts.max_series,
                series: Mutex::default(),
            },
            queue_capacity: opts.queue_capacity.max(1),
            ring_capacity: opts.ring_capacity,
            keep: (opts.retention.as_secs() / bucket_secs).max(1),
        }
    }

    /// Folds `ev` into the calling worker's shard, or queues it there if the shard is busy; never
    /// waits for a lock.
    pub(super) fn submit(&self, ev: Event) {
        let shard = self.shards.local();
        if matches!(ev, Event::Record(_)) {
            shard.total.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(mut st) = shard.state.try_lock() {
            st.drain(&self.shared);
            st.apply(ev, &self.shared);
            return;
        }
        if shard.queued.fetch_add(1, Ordering::Relaxed) < self.queue_capacity {
            // The receiver lives as long as the shard (it is inside `state`): send cannot fail.
            let _ = shard.tx.send(ev);
            return;
        }
        shard.queued.fetch_sub(1, Ordering::Relaxed);
        match shard.state.try_lock() {
            Some(mut st) => {
                st.drain(&self.shared);
                st.apply(ev, &self.shared);
            }
            None => {
                shard.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(super) fn total(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.total.load(Ordering::Relaxed))
            .sum()
    }

    pub(super) fn dropped(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.dropped.load(Ordering::Relaxed))
            .sum()
    }

    /// Every shard's aggregates added up (of the buckets, those from `first_bucket` on), and the
    /// records kept in the ring. Takes each shard's lock in turn, draining its queue first, so
    /// every record whose `record` call returned before this started is counted.
    pub(super) fn merged(&self, first_bucket: u64) -> (Aggregates, usize) {
        let mut all = Aggregates::default();
        let mut newest = None;
        let mut kept = 0;
        for shard in self.shards.iter() {
            let mut st = shard.state.lock();
            st.drain(&self.shared);
            if let Some((&b, _)) = st.agg.buckets.last_key_value() {
                newest = newest.max(Some(b));
            }
            kept += st.ring.len();
            all.merge(&st.agg, first_bucket);
        }
        if let Some(newest) = newest {
            all.evict(newest, self.keep);
        }
        (all, kept.min(self.ring_capacity))
    }

    /// The newest `limit` records of all shards, newest first.
    pub(super) fn recent(&self, limit: usize) -> Vec<Entry> {
        let mut newest: Vec<(Instant, usize, Entry)> = Vec::new();
        for (i, shard) in self.shards.iter().enumerate() {
            let mut st = shard.state.lock();
            st.drain(&self.shared);
            newest.extend(
                st.ring
                    .iter()
                    .rev()
                    .take(limit)
                    .map(|e| (e.seq, i, e.clone())),
            );
        }
        newest.sort_unstable_by_key(|e| std::cmp::Reverse((e.0, e.1)));
        newest.truncate(limit);
        newest.into_iter().map(|(_, _, e)| e).collect()
    }

    /// Records counted by each shard (tests check where records went).
    #[cfg(test)]
    pub(super) fn totals_by_shard(&self) -> Vec<u64> {
        self.shards
            .iter()
            .map(|s| s.total.load(Ordering::Relaxed))
            .collect()
    }

    /// The calling worker's shard state, locked (tests look inside).
    #[cfg(test)]
    pub(super) fn local_state(&self) -> parking_lot::MutexGuard<'_, State> {
        self.shards.local().state.lock()
    }
}
