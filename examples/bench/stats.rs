//! Percentiles and unit conversions for the reports.

use serde_json::{json, Value};

pub fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

#[derive(Clone, Copy, Default, Debug)]
pub struct Dist {
    pub n: usize,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: u64,
}

impl Dist {
    pub fn of(mut v: Vec<u64>) -> Dist {
        v.sort_unstable();
        let n = v.len();
        Dist {
            n,
            p50: pct(&v, 0.50),
            p99: pct(&v, 0.99),
            p999: pct(&v, 0.999),
            max: v.last().copied().unwrap_or(0),
            mean: if n == 0 {
                0
            } else {
                (v.iter().map(|&x| x as u128).sum::<u128>() / n as u128) as u64
            },
        }
    }
    pub fn json_us(&self) -> Value {
        json!({"n": self.n, "p50_us": us(self.p50), "p99_us": us(self.p99), "p999_us": us(self.p999),
               "max_us": us(self.max), "mean_us": us(self.mean)})
    }
}

pub fn us(ns: u64) -> f64 {
    (ns as f64 / 100.0).round() / 10.0
}

/// `a − b` in µs (one decimal), negative when the target beat the baseline.
pub fn signed_us(a: u64, b: u64) -> f64 {
    ((a as f64 - b as f64) / 100.0).round() / 10.0
}

pub fn ms(ns: u64) -> f64 {
    (ns as f64 / 10_000.0).round() / 100.0
}
