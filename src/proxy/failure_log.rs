//! The failure log lines written at the default level, bounded: at most [`PER_SECOND`] a second;
//! the rest are counted and summed up in one line when a later second starts. A flood of wrong
//! API keys, or a dead upstream under load, must not fill a terminal or a disk — `/analytics`
//! and `/metrics` still count every request.
//!
//! Owns: the decision "write this failure's line or count it". Must not: lock (atomics only).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// Failure lines written per second, at most.
pub const PER_SECOND: u32 = 20;

#[derive(Debug, Default)]
pub struct FailureLog {
    second: AtomicU64,
    lines: AtomicU32,
    suppressed: AtomicU64,
}

impl FailureLog {
    /// Whether to write the line of a failure that happened at `now_secs` (any monotonic count
    /// of seconds). Starting a new second first writes how many lines the earlier ones held back.
    pub fn admit(&self, now_secs: u64) -> bool {
        let current = self.second.load(Relaxed);
        if now_secs > current
            && self
                .second
                .compare_exchange(current, now_secs, Relaxed, Relaxed)
                .is_ok()
        {
            self.lines.store(0, Relaxed);
            let held_back = self.suppressed.swap(0, Relaxed);
            if held_back > 0 {
                tracing::warn!(
                    "{held_back} more failed requests were not logged one by one (at most {PER_SECOND} lines a second); /analytics and /metrics count them all"
                );
            }
        }
        if self.lines.fetch_add(1, Relaxed) < PER_SECOND {
            true
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            false
        }
    }

    /// Lines held back and not yet summed up.
    pub fn held_back(&self) -> u64 {
        self.suppressed.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_per_second_lines_then_a_count() {
        let log = FailureLog::default();
        let admitted = (0..1000).filter(|_| log.admit(7)).count();
        assert_eq!(admitted, PER_SECOND as usize);
        assert_eq!(log.held_back(), 1000 - PER_SECOND as u64);
        // The next second writes again, after summing up the held-back ones.
        assert!(log.admit(8));
        assert_eq!(log.held_back(), 0);
        let admitted = (0..100).filter(|_| log.admit(8)).count();
        assert_eq!(admitted, PER_SECOND as usize - 1);
    }
}
