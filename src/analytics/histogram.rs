//! Two histograms: [`LogHistogram`] for percentiles in summaries, [`PromHistogram`] for the
//! fixed `le` buckets of Prometheus.
//!
//! Quantile method (documented in `/analytics` output as `quantile_method`): durations are kept in
//! microseconds in log-linear buckets — exact below 8 µs, then 8 equal sub-buckets per power of
//! two, so a bucket is at most 12.5 % wide. A quantile is the nearest-rank value (rank
//! ⌈q·n⌉), reported as its bucket's midpoint and clamped to the exact min/max seen: relative error
//! ≤ 6.25 %. Buckets are stored sparsely (sorted `(index, count)` pairs, typically a few dozen),
//! and two histograms merge by adding counts, so 5-minute buckets combine into any window.
//!
//! Owns: counting. Must not: allocate per observation beyond a new occupied bucket.

use std::time::Duration;

const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;

/// Sparse log-linear histogram of durations (µs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogHistogram {
    buckets: Vec<(u16, u64)>,
    count: u64,
    sum_us: u128,
    min_us: u64,
    max_us: u64,
}

fn index_of(v: u64) -> u16 {
    if v < SUB {
        return v as u16;
    }
    let e = 63 - v.leading_zeros(); // floor(log2 v) ≥ SUB_BITS
    let sub = (v >> (e - SUB_BITS)) & (SUB - 1);
    (SUB + u64::from(e - SUB_BITS) * SUB + sub) as u16
}

/// [lower, upper) of bucket `i`, in µs.
fn bounds_of(i: u16) -> (u64, u64) {
    let i = u64::from(i);
    if i < SUB {
        return (i, i + 1);
    }
    let e = (i - SUB) / SUB + u64::from(SUB_BITS);
    let sub = (i - SUB) % SUB;
    let width = 1u64 << (e - u64::from(SUB_BITS));
    let lower = (SUB + sub) * width;
    (lower, lower.saturating_add(width))
}

impl LogHistogram {
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let idx = index_of(us);
        match self.buckets.binary_search_by_key(&idx, |b| b.0) {
            Ok(pos) => self.buckets[pos].1 += 1,
            Err(pos) => self.buckets.insert(pos, (idx, 1)),
        }
        if self.count == 0 || us < self.min_us {
            self.min_us = us;
        }
        self.max_us = self.max_us.max(us);
        self.count += 1;
        self.sum_us += u128::from(us);
    }

    pub fn merge(&mut self, other: &LogHistogram) {
        if other.count == 0 {
            return;
        }
        let mut out = Vec::with_capacity(self.buckets.len() + other.buckets.len());
        let (mut a, mut b) = (
            self.buckets.iter().peekable(),
            other.buckets.iter().peekable(),
        );
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    out.push((x.0, x.1 + y.1));
                    a.next();
                    b.next();
                }
                (Some(x), Some(y)) if x.0 < y.0 => out.push(*a.next().unwrap()),
                (Some(_), Some(_)) => out.push(*b.next().unwrap()),
                (Some(_), None) => out.push(*a.next().unwrap()),
                (None, Some(_)) => out.push(*b.next().unwrap()),
                (None, None) => break,
            }
        }
        self.buckets = out;
        self.min_us = if self.count == 0 {
            other.min_us
        } else {
            self.min_us.min(other.min_us)
        };
        self.max_us = self.max_us.max(other.max_us);
        self.count += other.count;
        self.sum_us += other.sum_us;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn mean(&self) -> Option<Duration> {
        (self.count > 0)
            .then(|| Duration::from_micros((self.sum_us / u128::from(self.count)) as u64))
    }

    pub fn max(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_micros(self.max_us))
    }

    /// The nearest-rank `q`-quantile (0 < q ≤ 1), see the module docs for its accuracy.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for &(i, c) in &self.buckets {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bounds_of(i);
                let mid = lo + (hi - lo) / 2;
                let v = if hi - lo <= 1 { lo } else { mid };
                return Some(Duration::from_micros(v.clamp(self.min_us, self.max_us)));
            }
        }
        Some(Duration::from_micros(self.max_us))
    }
}

/// Bucket bounds (seconds) of the request-duration and time-to-first-byte histograms.
pub const LATENCY_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Bucket bounds (seconds) of the proxy-overhead histogram (time spent inside dario).
pub const OVERHEAD_BOUNDS: &[f64] = &[
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
];

/// A Prometheus histogram with fixed upper bounds; `+Inf` is implicit.
#[derive(Debug, Clone, PartialEq)]
pub struct PromHistogram {
    bounds: &'static [f64],
    /// Non-cumulative counts per bound, plus one for `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl PromHistogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        PromHistogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        let i = self.bounds.partition_point(|&b| b < s);
        self.counts[i] += 1;
        self.sum += s;
        self.count += 1;
    }

    /// (upper bound, cumulative count) pairs, ending with (+∞, count).
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let mut acc = 0;
        self.bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.counts.iter())
            .map(move |(b, c)| {
                acc += c;
                (b, acc)
            })
    }

    /// Adds `other`'s observations (same bounds: both are `LATENCY_BOUNDS` or `OVERHEAD_BOUNDS`).
    pub fn merge(&mut self, other: &PromHistogram) {
        debug_assert_eq!(self.bounds, other.bounds);
        for (c, o) in self.counts.iter_mut().zip(&other.counts) {
            *c += o;
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn index_and_bounds_agree() {
        for v in (0..5000u64).chain([65_535, 1 << 20, 123_456_789, u64::MAX / 3]) {
            let (lo, hi) = bounds_of(index_of(v));
            assert!(lo <= v && v < hi, "{v}: [{lo},{hi})");
            if v >= SUB {
                assert!((hi - lo) as f64 / lo as f64 <= 0.125 + 1e-12, "{v}");
            }
        }
        // Indices are monotonic in the value.
        let mut last = 0;
        for v in 0..100_000u64 {
            let i = index_of(v);
            assert!(i >= last);
            last = i;
        }
    }

    #[test]
    fn quantiles_of_known_inputs_within_the_documented_error() {
        let mut h = LogHistogram::default();
        // 1..=100 ms in scrambled order.
        for i in 0..100u64 {
            h.record(ms((i * 37) % 100 + 1));
        }
        for (q, exact) in [(0.5, 50.0), (0.95, 95.0), (0.99, 99.0), (0.01, 1.0)] {
            let got = h.quantile(q).unwrap().as_secs_f64() * 1000.0;
            assert!(
                (got - exact).abs() / exact <= 0.0625,
                "q={q}: got {got} ms, exact {exact} ms"
            );
        }
        assert_eq!(h.quantile(1.0), Some(ms(100)), "clamped to the exact max");
        assert_eq!(h.mean(), Some(Duration::from_micros(50_500)));
        assert_eq!(h.count(), 100);
    }

    #[test]
    fn single_value_is_exact() {
        let mut h = LogHistogram::default();
        for _ in 0..10 {
            h.record(ms(1234));
        }
        assert_eq!(h.quantile(0.5), Some(ms(1234)));
        assert_eq!(h.quantile(0.95), Some(ms(1234)));
        assert_eq!(LogHistogram::default().quantile(0.5), None);
    }

    #[test]
    fn skewed_distribution() {
        // 90 fast (10 ms), 10 slow (2 s): p50 is fast, p95 is slow.
        let mut h = LogHistogram::default();
        for i in 0..100 {
            h.record(if i % 10 == 0 { ms(2000) } else { ms(10) });
        }
        assert_eq!(h.quantile(0.5), Some(ms(10)));
        let p95 = h.quantile(0.95).unwrap().as_secs_f64();
        assert!((p95 - 2.0).abs() / 2.0 <= 0.0625, "{p95}");
        assert_eq!(h.quantile(0.90), Some(ms(10)), "rank 90 is still fast");
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (
            LogHistogram::default(),
            LogHistogram::default(),
            LogHistogram::default(),
        );
        for i in 0..500u64 {
            let d = Duration::from_micros(i * i * 13 + 5);
            if i % 3 == 0 { &mut a } else { &mut b }.record(d);
            all.record(d);
        }
        let mut m = LogHistogram::default();
        m.merge(&a);
        m.merge(&b);
        m.merge(&LogHistogram::default());
        assert_eq!(m, all);
    }

    #[test]
    fn prom_histogram_is_cumulative_with_inf() {
        let mut h = PromHistogram::new(&[0.1, 1.0]);
        for s in [0.05, 0.1, 0.5, 3.0] {
            h.observe(Duration::from_secs_f64(s));
        }
        let c: Vec<_> = h.cumulative().collect();
        assert_eq!(c, vec![(0.1, 2), (1.0, 3), (f64::INFINITY, 4)]);
        assert_eq!(h.count(), 4);
        assert!((h.sum() - 3.65).abs() < 1e-9);
    }

    #[test]
    fn prom_merge_equals_observing_everything_in_one() {
        let (mut all, mut a, mut b) = (
            PromHistogram::new(LATENCY_BOUNDS),
            PromHistogram::new(LATENCY_BOUNDS),
            PromHistogram::new(LATENCY_BOUNDS),
        );
        for i in 0..200u64 {
            let d = ms(i * i % 7000);
            all.observe(d);
            if i % 3 == 0 {
                a.observe(d)
            } else {
                b.observe(d)
            }
        }
        a.merge(&b);
        assert_eq!(
            a.cumulative().collect::<Vec<_>>(),
            all.cumulative().collect::<Vec<_>>()
        );
        assert_eq!(a.count(), 200);
        assert!((a.sum() - all.sum()).abs() < 1e-9);
    }
}
