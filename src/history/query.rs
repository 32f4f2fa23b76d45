//! Reading the history back: a summary of a span of time (totals, per backend / deployment /
//! model / client, time buckets, top Claude Code sessions) for `dario stats` and
//! `/analytics?since=`.
//!
//! Owns: the arithmetic over stored rows. Percentiles are exact (nearest rank over the raw
//! records); before the raw retention only per-minute rollups remain, which add counts, tokens
//! and cost but no percentiles. Must not: write to the database.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection};
use serde::Serialize;

use super::{HistoryError, HistoryRow};
use crate::analytics::{BucketSummary, Burn, Quantiles, Tokens};
use crate::timefmt::format_rfc3339;

/// How summaries from history compute percentiles.
pub const QUANTILE_METHOD: &str = "exact nearest-rank over the raw records of the window (history)";

/// Parses `7d`, `24h`, `90m`, `30s`, `2w` (a span back from now) or `today` (since local
/// midnight, as `today_start` computes it) into a span in seconds.
pub fn parse_since(text: &str) -> Result<Since, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("today") {
        return Ok(Since::Today);
    }
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a span: use e.g. 24h, 7d, 30d, 90m or today"))?;
    let secs = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "" | "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (use s, m, h, d or w)"
            ))
        }
    };
    if n == 0 {
        return Err(format!("`{text}`: the span must be longer than 0"));
    }
    Ok(Since::Span(Duration::from_secs(n.saturating_mul(secs))))
}

/// Where a summary starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// This long before now.
    Span(Duration),
    /// Local midnight today.
    Today,
}

impl Since {
    /// The start, in unix milliseconds, as of `now`.
    pub fn start_ms(self, conn: &Connection, now: SystemTime) -> Result<i64, HistoryError> {
        let now_ms = ms_of(now);
        Ok(match self {
            Since::Span(d) => now_ms - d.as_millis() as i64,
            Since::Today => {
                let secs: i64 = conn.query_row(
                    "SELECT CAST(strftime('%s', ?1, 'unixepoch', 'localtime', 'start of day', 'utc') AS INTEGER)",
                    [now_ms / 1000],
                    |r| r.get(0),
                )?;
                secs * 1000
            }
        })
    }
}

fn ms_of(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn time_of(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// A summary of the history between `window_start` and `generated_at`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistorySummary {
    pub generated_at: String,
    /// Always `history`: these numbers come from the database, not from memory.
    pub source: &'static str,
    pub quantile_method: &'static str,
    pub window: HistoryWindow,
    /// Claude Code sessions of the window, most costly first (at most 10).
    pub sessions: Vec<SessionSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryWindow {
    pub window_secs: u64,
    pub window_start: String,
    pub bucket_secs: u64,
    pub burn: Burn,
    /// Where raw records (and so percentiles) start within the window; earlier spans come from
    /// per-minute rollups.
    pub raw_from: String,
    pub totals: Group,
    pub by_backend: Vec<Group>,
    pub by_deployment: Vec<Group>,
    pub by_model: Vec<Group>,
    pub by_client: Vec<Group>,
    pub buckets: Vec<BucketSummary>,
}

/// Aggregates of one group (or everything, for `totals`). The fields mirror `/analytics`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub requests: u64,
    pub errors: u64,
    pub streamed: u64,
    pub unpriced_requests: u64,
    pub attempts: u64,
    pub retried: u64,
    pub tokens: Tokens,
    /// Cache reads over all prompt tokens (input + cache read + cache write); absent when none.
    pub cache_hit_ratio: Option<f64>,
    pub cost_usd: f64,
    pub latency_ms: Quantiles,
    pub ttfb_ms: Quantiles,
    pub overhead_ms: Quantiles,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionSummary {
    pub session_id: String,
    pub client: String,
    pub first: String,
    pub last: String,
    pub requests: u64,
    pub errors: u64,
    pub agents: u64,
    pub tokens: u64,
    pub cost_usd: f64,
    pub models: Vec<String>,
}

#[derive(Default, Clone)]
struct Acc {
    requests: u64,
    errors: u64,
    streamed: u64,
    unpriced: u64,
    attempts: u64,
    retried: u64,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    reasoning: u64,
    cost: f64,
    latency: Vec<u64>,
    ttfb: Vec<u64>,
    overhead: Vec<u64>,
}

impl Acc {
    fn tokens_total(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_write
    }

    fn add_row(&mut self, r: &HistoryRow) {
        self.requests += 1;
        self.errors += u64::from(r.is_error());
        self.streamed += u64::from(r.streamed);
        self.unpriced += u64::from(!r.priced);
        self.attempts += u64::from(r.attempts);
        self.retried += u64::from(r.attempts > 1);
        self.input += r.input_tokens;
        self.output += r.output_tokens;
        self.cache_read += r.cache_read_tokens;
        self.cache_write += r.cache_write_tokens;
        self.reasoning += r.reasoning_tokens;
        self.cost += r.cost_usd;
        self.latency.push(r.latency_us);
        if let Some(t) = r.ttfb_us {
            self.ttfb.push(t);
        }
        self.overhead.push(r.overhead_us);
    }

    /// Adds the counts of `o` (not its samples).
    fn add_counts(&mut self, o: &Acc) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.streamed += o.streamed;
        self.attempts += o.attempts;
        self.input += o.input;
        self.output += o.output;
        self.cache_read += o.cache_read;
        self.cache_write += o.cache_write;
        self.reasoning += o.reasoning;
        self.cost += o.cost;
    }

    fn group(
        &mut self,
        backend: Option<&str>,
        deployment: Option<&str>,
        model: Option<&str>,
        client: Option<&str>,
    ) -> Group {
        let prompt = self.input + self.cache_read + self.cache_write;
        Group {
            backend: backend.map(str::to_string),
            deployment: deployment.map(str::to_string),
            model: model.map(str::to_string),
            client: client.map(str::to_string),
            requests: self.requests,
            errors: self.errors,
            streamed: self.streamed,
            unpriced_requests: self.unpriced,
            attempts: self.attempts,
            retried: self.retried,
            tokens: Tokens {
                input: self.input,
                output: self.output,
                cache_read: self.cache_read,
                cache_write: self.cache_write,
                reasoning: self.reasoning,
                total: self.tokens_total(),
            },
            cache_hit_ratio: (prompt > 0).then(|| self.cache_read as f64 / prompt as f64),
            cost_usd: self.cost,
            latency_ms: quantiles(&mut self.latency),
            ttfb_ms: quantiles(&mut self.ttfb),
            overhead_ms: quantiles(&mut self.overhead),
        }
    }
}

/// Nearest-rank p50/p95 and the max of microsecond samples, in milliseconds.
fn quantiles(v: &mut [u64]) -> Quantiles {
    if v.is_empty() {
        return Quantiles {
            p50: None,
            p95: None,
            max: None,
        };
    }
    v.sort_unstable();
    let rank = |q: f64| {
        let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1000.0
    };
    Quantiles {
        p50: Some(rank(0.5)),
        p95: Some(rank(0.95)),
        max: Some(v[v.len() - 1] as f64 / 1000.0),
    }
}

/// One row of `minute_rollups`: its key and its counts (no samples, so no percentiles).
struct RollupRow {
    minute: i64,
    backend: String,
    deployment: String,
    model: String,
    counts: Acc,
}

/// The bucket width for a window: 5 min up to a day (as `/analytics`), 1 h up to a week, else 1 day.
fn bucket_secs_for(window_secs: u64) -> u64 {
    if window_secs <= 86_400 {
        300
    } else if window_secs <= 7 * 86_400 {
        3600
    } else {
        86_400
    }
}

/// Summarises the records from `start_ms` to `now`.
pub fn summarize(
    conn: &Connection,
    start_ms: i64,
    now: SystemTime,
) -> Result<HistorySummary, HistoryError> {
    let now_ms = ms_of(now);
    let start_ms = start_ms.min(now_ms);
    let window_secs = ((now_ms - start_ms) / 1000).max(1) as u64;
    let bucket_secs = bucket_secs_for(window_secs);
    let bucket_ms = bucket_secs as i64 * 1000;
    let first_bucket = start_ms.div_euclid(bucket_ms);
    let last_bucket = now_ms.div_euclid(bucket_ms);

    let raw_from_meta: Option<i64> = conn
        .query_row(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'raw_from_ms'",
            [],
            |r| r.get(0),
        )
        .ok();
    let raw_from = raw_from_meta.unwrap_or(i64::MIN).max(start_ms);

    let mut totals = Acc::default();
    let mut by_backend: BTreeMap<String, Acc> = BTreeMap::new();
    let mut by_deployment: BTreeMap<(String, String), Acc> = BTreeMap::new();
    let mut by_model: BTreeMap<(String, String), Acc> = BTreeMap::new();
    let mut by_client: BTreeMap<String, Acc> = BTreeMap::new();
    let mut buckets: BTreeMap<i64, Acc> = BTreeMap::new();
    let mut sessions: BTreeMap<String, (SessionSummary, std::collections::BTreeSet<String>)> =
        BTreeMap::new();
    let mut earliest: Option<i64> = None;

    // Rollups for the part of the window older than the raw records.
    if start_ms < raw_from {
        let mut stmt = conn.prepare(
            "SELECT minute, backend, deployment, model, requests, errors, streamed, attempts,
                input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                reasoning_tokens, cost_usd
             FROM minute_rollups WHERE minute >= ?1 AND minute < ?2",
        )?;
        let rows = stmt.query_map(
            params![start_ms.div_euclid(60_000), raw_from.div_euclid(60_000)],
            |r| {
                let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
                Ok(RollupRow {
                    minute: r.get(0)?,
                    backend: r.get(1)?,
                    deployment: r.get(2)?,
                    model: r.get(3)?,
                    counts: Acc {
                        requests: n(4)?,
                        errors: n(5)?,
                        streamed: n(6)?,
                        attempts: n(7)?,
                        input: n(8)?,
                        output: n(9)?,
                        cache_read: n(10)?,
                        cache_write: n(11)?,
                        reasoning: n(12)?,
                        cost: r.get(13)?,
                        ..Acc::default()
                    },
                })
            },
        )?;
        for r in rows {
            let r = r?;
            let ts = r.minute * 60_000;
            earliest = Some(earliest.map_or(ts, |e: i64| e.min(ts)));
            totals.add_counts(&r.counts);
            by_backend
                .entry(r.backend.clone())
                .or_default()
                .add_counts(&r.counts);
            by_deployment
                .entry((r.backend.clone(), r.deployment.clone()))
                .or_default()
                .add_counts(&r.counts);
            by_model
                .entry((r.backend.clone(), r.model.clone()))
                .or_default()
                .add_counts(&r.counts);
            buckets
                .entry(ts.div_euclid(bucket_ms))
                .or_default()
                .add_counts(&r.counts);
        }
    }

    let mut stmt = conn.prepare(&format!(
        "SELECT {ROW_COLUMNS} FROM requests WHERE ts_ms >= ?1 AND ts_ms <= ?2 ORDER BY ts_ms"
    ))?;
    let rows = stmt.query_map(params![raw_from, now_ms], history_row)?;
    let mut agents: std::collections::HashSet<(String, String)> = Default::default();
    for r in rows {
        let r = r?;
        earliest = Some(earliest.map_or(r.ts_ms, |e: i64| e.min(r.ts_ms)));
        totals.add_row(&r);
        by_backend.entry(r.backend.clone()).or_default().add_row(&r);
        by_deployment
            .entry((r.backend.clone(), r.deployment.clone()))
            .or_default()
            .add_row(&r);
        by_model
            .entry((r.backend.clone(), r.model().to_string()))
            .or_default()
            .add_row(&r);
        by_client.entry(r.client.clone()).or_default().add_row(&r);
        buckets
            .entry(r.ts_ms.div_euclid(bucket_ms))
            .or_default()
            .add_row(&r);
        if let Some(sid) = &r.session_id {
            let t = format_rfc3339(time_of(r.ts_ms));
            let (s, models) = sessions.entry(sid.clone()).or_insert_with(|| {
                (
                    SessionSummary {
                        session_id: sid.clone(),
                        client: r.client.clone(),
                        first: t.clone(),
                        last: t.clone(),
                        requests: 0,
                        errors: 0,
                        agents: 0,
                        tokens: 0,
                        cost_usd: 0.0,
                        models: Vec::new(),
                    },
                    Default::default(),
                )
            });
            s.last = t;
            s.requests += 1;
            s.errors += u64::from(r.is_error());
            s.tokens +=
                r.input_tokens + r.output_tokens + r.cache_read_tokens + r.cache_write_tokens;
            s.cost_usd += r.cost_usd;
            if !r.model().is_empty() {
                models.insert(r.model().to_string());
            }
            if let Some(a) = &r.agent_id {
                if agents.insert((sid.clone(), a.clone())) {
                    s.agents += 1;
                }
            }
        }
    }

    fn sorted(mut v: Vec<Group>) -> Vec<Group> {
        v.sort_by_key(|g| std::cmp::Reverse(g.requests)); // stable: name order kept on ties
        v
    }
    let window_start_ms = first_bucket * bucket_ms;
    let span_start = earliest.unwrap_or(now_ms).max(start_ms);
    let span_secs = ((now_ms - span_start) / 1000).max(1) as u64;
    let totals_group = totals.group(None, None, None, None);
    let burn = Burn {
        span_secs,
        tokens_per_min: totals_group.tokens.total as f64 / (span_secs as f64 / 60.0),
        usd_per_hour: totals_group.cost_usd / (span_secs as f64 / 3600.0),
    };
    let mut sessions: Vec<SessionSummary> = sessions
        .into_values()
        .map(|(mut s, models)| {
            s.models = models.into_iter().collect();
            s
        })
        .collect();
    sessions.sort_by(|a, b| {
        b.cost_usd
            .total_cmp(&a.cost_usd)
            .then(b.requests.cmp(&a.requests))
    });
    sessions.truncate(10);
    Ok(HistorySummary {
        generated_at: format_rfc3339(now),
        source: "history",
        quantile_method: QUANTILE_METHOD,
        window: HistoryWindow {
            window_secs,
            window_start: format_rfc3339(time_of(window_start_ms)),
            bucket_secs,
            burn,
            raw_from: format_rfc3339(time_of(raw_from.max(0))),
            totals: totals_group,
            by_backend: sorted(
                by_backend
                    .iter_mut()
                    .map(|(b, a)| a.group(Some(b), None, None, None))
                    .collect(),
            ),
            by_deployment: sorted(
                by_deployment
                    .iter_mut()
                    .map(|((b, d), a)| a.group(Some(b), Some(d), None, None))
                    .collect(),
            ),
            by_model: sorted(
                by_model
                    .iter_mut()
                    .map(|((b, m), a)| a.group(Some(b), None, Some(m), None))
                    .collect(),
            ),
            by_client: sorted(
                by_client
                    .iter_mut()
                    .map(|(c, a)| a.group(None, None, None, Some(c)))
                    .collect(),
            ),
            buckets: (first_bucket..=last_bucket)
                .map(|b| {
                    let a = buckets.get(&b);
                    BucketSummary {
                        start: format_rfc3339(time_of(b * bucket_ms)),
                        requests: a.map_or(0, |a| a.requests),
                        errors: a.map_or(0, |a| a.errors),
                        tokens: a.map_or(0, |a| a.tokens_total()),
                        cost_usd: a.map_or(0.0, |a| a.cost),
                    }
                })
                .collect(),
        },
        sessions,
    })
}

/// The newest `limit` records, newest first.
pub fn recent(conn: &Connection, limit: usize) -> Result<Vec<HistoryRow>, HistoryError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ROW_COLUMNS} FROM requests ORDER BY ts_ms DESC, id DESC LIMIT ?1"
    ))?;
    let rows = stmt.query_map([limit as i64], history_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The columns [`history_row`] reads, in its order.
const ROW_COLUMNS: &str = "ts_ms, request_id, endpoint, inbound, client, session_id, agent_id,
    backend, deployment, requested_model, upstream_model, status, streamed, attempts, latency_us,
    ttfb_us, overhead_us, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
    reasoning_tokens, cost_usd, priced, dropped";

fn history_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HistoryRow> {
    let inbound: String = r.get(3)?;
    let count = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
    Ok(HistoryRow {
        ts_ms: r.get(0)?,
        request_id: r.get(1)?,
        endpoint: r.get(2)?,
        inbound: if inbound == "openai" {
            "openai"
        } else {
            "anthropic"
        },
        client: r.get(4)?,
        session_id: r.get(5)?,
        agent_id: r.get(6)?,
        backend: r.get(7)?,
        deployment: r.get(8)?,
        requested_model: r.get(9)?,
        upstream_model: r.get(10)?,
        status: r.get(11)?,
        streamed: r.get(12)?,
        attempts: r.get(13)?,
        latency_us: count(14)?,
        ttfb_us: r.get::<_, Option<i64>>(15)?.map(|v| v.max(0) as u64),
        overhead_us: count(16)?,
        input_tokens: count(17)?,
        output_tokens: count(18)?,
        cache_read_tokens: count(19)?,
        cache_write_tokens: count(20)?,
        reasoning_tokens: count(21)?,
        cost_usd: r.get(22)?,
        priced: r.get(23)?,
        dropped: r.get(24)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::writer;
    use super::*;

    fn row(
        ts_ms: i64,
        model: &str,
        status: u16,
        latency_ms: u64,
        session: Option<&str>,
    ) -> HistoryRow {
        HistoryRow {
            ts_ms,
            request_id: format!("req_{ts_ms}"),
            endpoint: "/v1/messages".into(),
            inbound: "anthropic",
            client: "claude-code".into(),
            session_id: session.map(str::to_string),
            agent_id: session.map(|_| "agent-1".to_string()),
            backend: "anthropic".into(),
            deployment: String::new(),
            requested_model: "sonnet".into(),
            upstream_model: model.into(),
            status,
            streamed: true,
            attempts: 1,
            latency_us: latency_ms * 1000,
            ttfb_us: Some(latency_ms * 100),
            overhead_us: 150,
            input_tokens: 100,
            output_tokens: 10,
            cache_read_tokens: 300,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
            cost_usd: 0.5,
            priced: true,
            dropped: String::new(),
        }
    }

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut c).unwrap();
        c
    }

    #[test]
    fn since_parses_spans_and_today() {
        assert_eq!(
            parse_since("7d"),
            Ok(Since::Span(Duration::from_secs(7 * 86_400)))
        );
        assert_eq!(
            parse_since("24h"),
            Ok(Since::Span(Duration::from_secs(86_400)))
        );
        assert_eq!(
            parse_since("90m"),
            Ok(Since::Span(Duration::from_secs(5400)))
        );
        assert_eq!(
            parse_since("30"),
            Ok(Since::Span(Duration::from_secs(30 * 86_400)))
        );
        assert_eq!(parse_since("today"), Ok(Since::Today));
        assert!(parse_since("0d").is_err());
        assert!(parse_since("7y").unwrap_err().contains("unknown unit"));
        assert!(parse_since("soon").is_err());
    }

    #[test]
    fn summary_counts_percentiles_and_sessions() {
        let mut c = db();
        let now_ms = 1_800_000_000_000i64;
        let rows: Vec<HistoryRow> = (1..=20)
            .map(|i| {
                row(
                    now_ms - 60_000 * i,
                    if i % 2 == 0 {
                        "claude-sonnet-5"
                    } else {
                        "claude-haiku-5"
                    },
                    if i == 3 { 529 } else { 200 },
                    i as u64 * 10,
                    (i <= 4).then_some("sess-1"),
                )
            })
            .collect();
        writer::write_batch(&mut c, &rows, None).unwrap();
        // One record outside the window.
        writer::write_batch(
            &mut c,
            &[row(now_ms - 3 * 86_400_000, "x", 200, 1, None)],
            None,
        )
        .unwrap();
        let s = summarize(&c, now_ms - 86_400_000, time_of(now_ms)).unwrap();
        let t = &s.window.totals;
        assert_eq!(t.requests, 20);
        assert_eq!(t.errors, 1);
        assert_eq!(t.tokens.total, 20 * 410);
        assert_eq!(t.cache_hit_ratio, Some(0.75));
        assert!((t.cost_usd - 10.0).abs() < 1e-9);
        // Latencies 10..=200 ms: nearest rank p50 = 100, p95 = 190.
        assert_eq!(t.latency_ms.p50, Some(100.0));
        assert_eq!(t.latency_ms.p95, Some(190.0));
        assert_eq!(t.latency_ms.max, Some(200.0));
        assert_eq!(s.window.by_model.len(), 2);
        assert_eq!(s.window.by_model[0].requests, 10);
        assert_eq!(s.window.buckets.iter().map(|b| b.requests).sum::<u64>(), 20);
        assert_eq!(s.sessions.len(), 1);
        assert_eq!(s.sessions[0].requests, 4);
        assert_eq!(s.sessions[0].errors, 1);
        assert_eq!(s.sessions[0].agents, 1);
        let all = summarize(&c, now_ms - 7 * 86_400_000, time_of(now_ms)).unwrap();
        assert_eq!(all.window.totals.requests, 21);
        assert_eq!(all.window.bucket_secs, 3600);
    }

    #[test]
    fn before_the_raw_retention_rollups_still_count() {
        let mut c = db();
        let now_ms = 1_800_000_000_000i64;
        let old = now_ms - 100 * 86_400_000;
        writer::write_batch(
            &mut c,
            &[
                row(old, "m", 200, 5, None),
                row(old + 1, "m", 500, 7, None),
                row(now_ms - 1000, "m", 200, 9, None),
            ],
            None,
        )
        .unwrap();
        let cfg = crate::config::HistoryConfig::default();
        writer::prune(&c, &cfg, now_ms).unwrap();
        let raw: i64 = c
            .query_row("SELECT count(*) FROM requests", [], |r| r.get(0))
            .unwrap();
        assert_eq!(raw, 1);
        let s = summarize(&c, now_ms - 365 * 86_400_000, time_of(now_ms)).unwrap();
        assert_eq!(s.window.totals.requests, 3);
        assert_eq!(s.window.totals.errors, 1);
        assert_eq!(s.window.totals.tokens.total, 3 * 410);
        // Percentiles only from the raw record.
        assert_eq!(s.window.totals.latency_ms.p50, Some(9.0));
        // Past the rollup retention nothing is left.
        writer::prune(&c, &cfg, now_ms + 400 * 86_400_000).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM minute_rollups", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }
}
