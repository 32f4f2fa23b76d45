//! The proxy's workers as seen by the state they share: which worker the calling thread is, and
//! [`PerWorker`], one slot per worker on cache lines of its own.
//!
//! Why (issue 15: `--workers N` should serve N times what one worker does): a cache line that
//! every worker writes on every request moves between cores on every request, and the workers
//! then wait on each other however little they share. So what the request path writes — counters,
//! the analytics aggregates, the upstream connection pools — lives in one slot per worker, and
//! readers (`/metrics`, `/status`, `/analytics`) add the slots up off the request path.
//!
//! `proxy::server` marks each worker thread with its index ([`set_index`]: 0 for the thread that
//! serves alone, 1.. for the extra workers of `--workers N`). A thread never marked is worker 0:
//! under a multi-threaded runtime (the tests', `TOKIO_WORKER_THREADS`) all threads share slot 0,
//! so what a slot holds must be safe to share (atomics, locks). Sharding is for speed, never for
//! correctness: every count stays exact however threads map to slots.
//!
//! Owns: the worker index and the slots. Must not: know what the slots hold.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Slots per [`PerWorker`]: the most workers `dario proxy --workers` starts. A worker index past
/// the last slot (none today) shares the last slot.
pub const MAX_WORKERS: usize = 64;

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// Marks the calling thread as worker `index` (its slot in every [`PerWorker`], its upstream
/// connection pool).
pub fn set_index(index: usize) {
    INDEX.with(|i| i.set(index));
}

/// The calling thread's slot: its worker index, capped at the last slot.
pub fn index() -> usize {
    INDEX.with(|i| i.get()).min(MAX_WORKERS - 1)
}

/// `T` aligned to 128 bytes (two cache lines: the adjacent-line prefetcher of x86 fetches lines
/// in pairs), so that two slots never share a line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One `T` per worker, each on lines of its own; a worker uses [`PerWorker::local`], readers
/// [`PerWorker::iter`] over all of them.
pub struct PerWorker<T> {
    slots: Box<[Padded<T>]>,
}

impl<T> PerWorker<T> {
    /// [`MAX_WORKERS`] slots, slot `i` made by `make(i)`.
    pub fn new(make: impl FnMut(usize) -> T) -> Self {
        PerWorker {
            slots: (0..MAX_WORKERS).map(make).map(Padded).collect(),
        }
    }

    /// The calling worker's slot.
    pub fn local(&self) -> &T {
        &self.slots[index()]
    }

    /// Every slot, by worker index.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|s| &s.0)
    }
}

impl<T: Default> Default for PerWorker<T> {
    fn default() -> Self {
        PerWorker::new(|_| T::default())
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for PerWorker<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A counter every worker adds to in its own slot; reading it adds the slots up.
#[derive(Debug, Default)]
pub struct Counter(PerWorker<AtomicU64>);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.local().fetch_add(n, Ordering::Relaxed);
    }

    /// The sum over every worker (each slot read once; not one atomic snapshot of all of them).
    pub fn get(&self) -> u64 {
        self.0.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn each_thread_counts_in_its_own_slot_and_the_sum_is_exact() {
        let c = Arc::new(Counter::default());
        let threads: Vec<_> = (0..4usize)
            .map(|w| {
                let c = c.clone();
                std::thread::spawn(move || {
                    set_index(w * 3);
                    for _ in 0..1000 {
                        c.add(1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // An unmarked thread is worker 0 and shares its slot.
        c.add(5);
        assert_eq!(c.get(), 4005);
        let per_slot: Vec<u64> = c.0.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        assert_eq!(&per_slot[..10], [1005, 0, 0, 1000, 0, 0, 1000, 0, 0, 1000]);
    }

    #[test]
    fn indices_past_the_last_slot_share_it_and_slots_do_not_share_lines() {
        std::thread::spawn(|| {
            set_index(MAX_WORKERS + 10);
            assert_eq!(index(), MAX_WORKERS - 1);
        })
        .join()
        .unwrap();
        let p: PerWorker<AtomicU64> = PerWorker::default();
        let addrs: Vec<usize> = p.iter().map(|s| s as *const _ as usize).collect();
        assert_eq!(addrs.len(), MAX_WORKERS);
        assert!(addrs.windows(2).all(|w| w[1] - w[0] >= 128));
    }
}
