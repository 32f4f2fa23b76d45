//! What `/analytics` (and the MCP `analytics_summary` tool) answers: a [`Summary`] of a window
//! and of all time, by backend, deployment and model, with token totals, cost and latency
//! quantiles.
//!
//! The types are the `/analytics` body on both sides: the proxy serialises them, the MCP
//! server deserialises them (through `admin_api::Analytics`), so every field is required when
//! read — a renamed or missing one is a decode error, never a number that reads as 0. A summary
//! is built when asked for (`/analytics`, the dashboard, the cluster's periodic publish), never
//! per proxied request.
//!
//! Owns: the summary's shape and how aggregates become one. Must not: hold the analytics lock
//! (the state builds a summary from its aggregates and hands them here).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ms, total_tokens, Key, LogHistogram, Stats};

/// `GET /analytics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub generated_at: String,
    /// How the quantiles were computed ([`super::QUANTILE_METHOD`] when written).
    pub quantile_method: Cow<'static, str>,
    pub window: WindowSummary,
    pub all_time: Section,
    /// Requests recorded since start.
    pub records_total: u64,
    /// Records in the ring (at most 10,000).
    pub records_kept: usize,
    pub records_dropped: u64,
    /// Failovers by the backend that failed.
    pub failovers: BTreeMap<String, u64>,
    /// Models seen without a price (cost counted as 0); at most 100 listed.
    pub unpriced_models: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSummary {
    /// The window asked for (capped at the retention).
    pub window_secs: u64,
    /// Start of the first bucket in the window.
    pub window_start: String,
    pub bucket_secs: u64,
    pub burn: Burn,
    #[serde(flatten)]
    pub section: Section,
    /// Every bucket of the window, oldest first (empty ones included).
    pub buckets: Vec<BucketSummary>,
}

/// Consumption rates over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Burn {
    /// Seconds the rates are computed over: from the window start (or from when dario started
    /// counting, if later) to now.
    pub span_secs: u64,
    pub tokens_per_min: f64,
    pub usd_per_hour: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketSummary {
    pub start: String,
    pub requests: u64,
    pub errors: u64,
    pub tokens: u64,
    pub cost_usd: f64,
}

/// Totals and breakdowns of a span of time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub totals: GroupSummary,
    /// Sorted by requests, most first; then by name.
    pub by_backend: Vec<GroupSummary>,
    pub by_deployment: Vec<GroupSummary>,
    pub by_model: Vec<GroupSummary>,
}

impl Section {
    pub(super) fn build<'a>(groups: impl Iterator<Item = (&'a Key, &'a Stats)>) -> Section {
        let mut totals = Stats::default();
        let mut be: BTreeMap<&str, Stats> = BTreeMap::new();
        let mut de: BTreeMap<(&str, &str), Stats> = BTreeMap::new();
        let mut mo: BTreeMap<(&str, &str), Stats> = BTreeMap::new();
        for (k, s) in groups {
            totals.merge(s);
            be.entry(&k.backend).or_default().merge(s);
            de.entry((&k.backend, &k.deployment)).or_default().merge(s);
            mo.entry((&k.backend, &k.model)).or_default().merge(s);
        }
        fn sorted(mut v: Vec<GroupSummary>) -> Vec<GroupSummary> {
            v.sort_by_key(|g| std::cmp::Reverse(g.requests)); // stable: name order kept on ties
            v
        }
        Section {
            totals: GroupSummary::of(None, None, None, &totals),
            by_backend: sorted(
                be.iter()
                    .map(|(b, s)| GroupSummary::of(Some(b), None, None, s))
                    .collect(),
            ),
            by_deployment: sorted(
                de.iter()
                    .map(|((b, d), s)| GroupSummary::of(Some(b), Some(d), None, s))
                    .collect(),
            ),
            by_model: sorted(
                mo.iter()
                    .map(|((b, m), s)| GroupSummary::of(Some(b), None, Some(m), s))
                    .collect(),
            ),
        }
    }
}

/// Token counts by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    /// Part of `output`.
    pub reasoning: u64,
    /// input + output + cache_read + cache_write.
    pub total: u64,
}

/// p50/p95/max in milliseconds (`null` when nothing was measured). Each is required when read
/// (`null` is a value; a missing key is a decode error).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    #[serde(deserialize_with = "Option::deserialize")]
    pub p50: Option<f64>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub p95: Option<f64>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub max: Option<f64>,
}

impl Quantiles {
    fn of(h: &LogHistogram) -> Quantiles {
        Quantiles {
            p50: h.quantile(0.5).map(ms),
            p95: h.quantile(0.95).map(ms),
            max: h.max().map(ms),
        }
    }
}

/// Aggregates of one group (or of everything, for `totals`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub requests: u64,
    /// Status ≥ 400.
    pub errors: u64,
    pub streamed: u64,
    /// Requests whose model had no price.
    pub unpriced_requests: u64,
    /// Upstream attempts in total.
    pub attempts: u64,
    /// Requests that needed more than one attempt.
    pub retried: u64,
    pub tokens: Tokens,
    pub cost_usd: f64,
    pub latency_ms: Quantiles,
    pub ttfb_ms: Quantiles,
    pub overhead_ms: Quantiles,
}

impl GroupSummary {
    fn of(backend: Option<&str>, deployment: Option<&str>, model: Option<&str>, s: &Stats) -> Self {
        let u = &s.tokens;
        GroupSummary {
            backend: backend.map(str::to_string),
            deployment: deployment.map(str::to_string),
            model: model.map(str::to_string),
            requests: s.requests,
            errors: s.errors,
            streamed: s.streamed,
            unpriced_requests: s.unpriced,
            attempts: s.attempts,
            retried: s.retried,
            tokens: Tokens {
                input: u.input_tokens,
                output: u.output_tokens,
                cache_read: u.cache_read_tokens,
                cache_write: u.cache_write_tokens,
                reasoning: u.reasoning_tokens,
                total: total_tokens(u),
            },
            cost_usd: s.cost_usd,
            latency_ms: Quantiles::of(&s.latency),
            ttfb_ms: Quantiles::of(&s.ttfb),
            overhead_ms: Quantiles::of(&s.overhead),
        }
    }
}
