//! Unit tests of recording, summaries, prices in records and Prometheus output (parsed back by a
//! strict checker written here).

use super::*;
use crate::protocol::Protocol;
use std::collections::HashMap;

/// 2023-11-14T22:15:00Z, a bucket boundary.
const T0: u64 = 1_700_000_100;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn usage(input: u64, output: u64, cr: u64, cw: u64, reasoning: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: cr,
        cache_write_tokens: cw,
        reasoning_tokens: reasoning,
    }
}

fn rec(secs: u64, backend: &str, dep: &str, model: &str, status: u16, latency_ms: u64) -> Record {
    Record {
        timestamp: at(secs),
        request_id: format!("req-{secs}-{latency_ms}"),
        inbound: Protocol::Anthropic,
        backend: backend.to_string(),
        deployment: dep.to_string(),
        requested_model: "sonnet".to_string(),
        upstream_model: model.to_string(),
        status,
        streamed: latency_ms.is_multiple_of(2),
        attempts: 1,
        latency: Duration::from_millis(latency_ms),
        ttfb: Some(Duration::from_millis(latency_ms / 10)),
        overhead: Duration::from_micros(150),
        usage: usage(1000, 100, 0, 0, 0),
        context: Default::default(),
    }
}

fn analytics() -> Analytics {
    Analytics::new(&BTreeMap::new())
}

fn analytics_with(opts: AnalyticsOptions) -> Analytics {
    Analytics::with_options(&BTreeMap::new(), opts)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

fn within(got: Option<f64>, exact: f64) -> bool {
    got.is_some_and(|g| (g - exact).abs() / exact <= 0.0625)
}

/// A summary with every part populated (two backends, three deployments, priced and unpriced
/// models, errors, retries, cache and reasoning tokens, a failover): for the tests of the
/// `/analytics` body's readers.
pub(crate) fn populated_summary() -> Summary {
    let a = analytics();
    for i in 1..=20u64 {
        a.record(rec(
            T0 + i * 30,
            "anthropic",
            "east",
            "claude-sonnet-4-5",
            200,
            i * 7,
        ));
    }
    let mut r = rec(
        T0 + 700,
        "anthropic",
        "west",
        "claude-sonnet-4-5",
        529,
        2000,
    );
    r.attempts = 2;
    a.record(r);
    a.observe_failover("anthropic");
    for i in 0..3u64 {
        let mut r = rec(T0 + 900 + i, "groq", "default", "llama-3.3-70b", 200, 300);
        r.usage = usage(10, 20, 30, 40, 5);
        a.record(r);
    }
    a.summary(Duration::from_secs(3600), at(T0 + 3100))
}

#[test]
fn summary_on_known_inputs() {
    let a = analytics();
    // 100 requests on anthropic/east, latencies 1..=100 ms, one every 30 s over 50 minutes.
    for i in 1..=100u64 {
        a.record(rec(
            T0 + i * 30,
            "anthropic",
            "east",
            "claude-sonnet-4-5",
            200,
            i,
        ));
    }
    // 10 errors on anthropic/west, 2 attempts each.
    for i in 0..10u64 {
        let mut r = rec(
            T0 + 600 + i,
            "anthropic",
            "west",
            "claude-sonnet-4-5",
            529,
            2000,
        );
        r.attempts = 2;
        r.usage = Usage::default();
        a.record(r);
    }
    // 5 on groq with an unpriced model and cache/reasoning tokens.
    for i in 0..5u64 {
        let mut r = rec(T0 + 900 + i, "groq", "default", "llama-3.3-70b", 200, 300);
        r.usage = usage(10, 20, 30, 40, 5);
        a.record(r);
    }
    let now = at(T0 + 3100);
    let s = a.summary(Duration::from_secs(3600), now);
    let t = &s.window.section.totals;
    assert_eq!(t.requests, 115);
    assert_eq!(t.errors, 10);
    assert_eq!(t.attempts, 100 + 20 + 5);
    assert_eq!(t.retried, 10);
    assert_eq!(t.unpriced_requests, 5);
    assert_eq!(t.tokens.input, 100 * 1000 + 5 * 10);
    assert_eq!(t.tokens.output, 100 * 100 + 5 * 20);
    assert_eq!(t.tokens.cache_read, 150);
    assert_eq!(t.tokens.cache_write, 200);
    assert_eq!(t.tokens.reasoning, 25);
    assert_eq!(t.tokens.total, 100_050 + 10_100 + 150 + 200);
    // sonnet 4.5: 1000·3 + 100·15 = 4500 µUSD per request.
    assert!(close(t.cost_usd, 100.0 * 0.0045), "{}", t.cost_usd);

    let by_backend: HashMap<_, _> = s
        .window
        .section
        .by_backend
        .iter()
        .map(|g| (g.backend.clone().unwrap(), g))
        .collect();
    assert_eq!(by_backend["anthropic"].requests, 110);
    assert_eq!(by_backend["groq"].requests, 5);
    assert!(close(by_backend["groq"].cost_usd, 0.0));
    assert_eq!(
        s.window.section.by_backend[0].backend.as_deref(),
        Some("anthropic")
    );

    let east = s
        .window
        .section
        .by_deployment
        .iter()
        .find(|g| g.deployment.as_deref() == Some("east"))
        .unwrap();
    assert_eq!(east.requests, 100);
    assert_eq!(east.errors, 0);
    assert_eq!(east.streamed, 50);
    assert!(within(east.latency_ms.p50, 50.0), "{:?}", east.latency_ms);
    assert!(within(east.latency_ms.p95, 95.0), "{:?}", east.latency_ms);
    assert_eq!(east.latency_ms.max, Some(100.0));
    assert!(within(east.ttfb_ms.p50, 5.0), "{:?}", east.ttfb_ms);
    assert_eq!(east.overhead_ms.p50, Some(0.15));

    let models: Vec<_> = s
        .window
        .section
        .by_model
        .iter()
        .map(|g| {
            (
                g.backend.as_deref().unwrap(),
                g.model.as_deref().unwrap(),
                g.requests,
            )
        })
        .collect();
    assert_eq!(
        models,
        vec![
            ("anthropic", "claude-sonnet-4-5", 110),
            ("groq", "llama-3.3-70b", 5)
        ]
    );
    assert_eq!(s.unpriced_models, vec!["llama-3.3-70b".to_string()]);
    assert_eq!(s.records_total, 115);
    assert_eq!(s.records_kept, 115);
    assert_eq!(s.all_time.totals.requests, 115);
    assert_eq!(s.quantile_method, QUANTILE_METHOD);
}

#[test]
fn window_is_bucket_aligned_and_all_time_keeps_everything() {
    let a = analytics();
    a.record(rec(T0 - 7200, "b", "d", "gpt-4o", 200, 10)); // two hours before
    a.record(rec(T0 + 10, "b", "d", "gpt-4o", 200, 10));
    a.record(rec(T0 + 1000, "b", "d", "gpt-4o", 500, 10));
    a.record(rec(T0 + 3599, "b", "d", "gpt-4o", 200, 10));
    let now = at(T0 + 3600);
    let s = a.summary(Duration::from_secs(3600), now);
    assert_eq!(s.window.window_start, "2023-11-14T22:15:00.000Z");
    assert_eq!(s.window.bucket_secs, 300);
    assert_eq!(s.window.section.totals.requests, 3);
    assert_eq!(s.window.section.totals.errors, 1);
    assert_eq!(s.all_time.totals.requests, 4);
    // 13 buckets: 12 whole ones and the current one.
    assert_eq!(s.window.buckets.len(), 13);
    assert_eq!(s.window.buckets[0].start, s.window.window_start);
    let per_bucket: Vec<u64> = s.window.buckets.iter().map(|b| b.requests).collect();
    assert_eq!(per_bucket, [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    assert_eq!(s.window.buckets[3].errors, 1);
    // Burn over exactly one hour: 3 × 1100 tokens / 60 min; 3 × gpt-4o cost / 1 h.
    assert_eq!(s.window.burn.span_secs, 3600);
    assert!(close(s.window.burn.tokens_per_min, 3.0 * 1100.0 / 60.0));
    let one = (1000.0 * 2.5 + 100.0 * 10.0) / 1e6;
    assert!(
        close(s.window.burn.usd_per_hour, 3.0 * one),
        "{:?}",
        s.window.burn
    );
    // A 5-minute window sees only the last bucket before now.
    let s5 = a.summary(Duration::from_secs(300), now);
    assert_eq!(s5.window.section.totals.requests, 1);
    assert_eq!(s5.window.buckets.len(), 2);
}

#[test]
fn burn_rate_counts_from_the_first_record_when_younger_than_the_window() {
    let a = analytics();
    a.record(rec(T0 + 1800, "b", "d", "gpt-4o", 200, 10));
    a.record(rec(T0 + 1860, "b", "d", "gpt-4o", 200, 10));
    let s = a.summary(Duration::from_secs(3600), at(T0 + 2400));
    assert_eq!(s.window.burn.span_secs, 600);
    assert!(close(s.window.burn.tokens_per_min, 2200.0 / 10.0));
}

#[test]
fn old_buckets_are_evicted_after_the_retention() {
    let opts = AnalyticsOptions {
        retention: Duration::from_secs(3600),
        ..AnalyticsOptions::default()
    };
    let a = Analytics::with_options(&BTreeMap::new(), opts);
    a.record(rec(T0, "b", "d", "m", 200, 1));
    a.record(rec(T0 + 7200, "b", "d", "m", 200, 1));
    // A record older than the retention relative to the newest is not bucketed.
    a.record(rec(T0 + 60, "b", "d", "m", 200, 1));
    let st = a.shards.local_state();
    assert_eq!(st.agg.buckets.len(), 1);
    assert_eq!(st.agg.all_time.values().map(|s| s.requests).sum::<u64>(), 3);
    drop(st);
    // Asking for more than the retention gives the retention.
    let s = a.summary(Duration::from_secs(86_400), at(T0 + 7200));
    assert_eq!(s.window.window_secs, 3600);
    assert_eq!(s.window.section.totals.requests, 1);
}

#[test]
fn records_carry_cost_and_the_ring_keeps_the_last_ones() {
    let opts = AnalyticsOptions {
        ring_capacity: 3,
        ..AnalyticsOptions::default()
    };
    let a = Analytics::with_options(&BTreeMap::new(), opts);
    for i in 0..5 {
        a.record(rec(T0 + i, "b", "d", "claude-haiku-4-5", 200, 10 + i));
    }
    let mut r = rec(T0 + 9, "b", "d", "", 404, 1);
    r.requested_model = "mystery".into();
    a.record(r);
    let recent = a.recent(10);
    assert_eq!(recent.len(), 3);
    assert_eq!(recent[0].request_id, "req-1700000109-1");
    assert_eq!(recent[0].requested_model, "mystery");
    assert!(!recent[0].priced);
    assert_eq!(recent[0].cost_usd, 0.0);
    assert_eq!(recent[1].request_id, "req-1700000104-14");
    assert!(recent[1].priced);
    // haiku 4.5: 1000·1 + 100·5 = 1500 µUSD
    assert!(close(recent[1].cost_usd, 0.0015));
    assert_eq!(recent[1].timestamp, "2023-11-14T22:15:04.000Z");
    assert_eq!(recent[1].ttfb_ms, Some(1.0));
    assert_eq!(a.recent(1).len(), 1);
    let json = serde_json::to_value(&recent[1]).unwrap();
    assert_eq!(json["usage"]["input_tokens"], 1000);
    assert_eq!(json["inbound"], "anthropic");
    assert_eq!(
        a.summary(Duration::from_secs(3600), at(T0 + 60))
            .unpriced_models,
        ["mystery"]
    );
}

#[test]
fn price_overrides_and_reload() {
    let mut p = BTreeMap::new();
    p.insert(
        "llama-*".to_string(),
        PriceConfig {
            input: 1.0,
            output: 2.0,
            cache_read: None,
            cache_write: None,
        },
    );
    let a = Analytics::new(&p);
    a.record(rec(T0, "groq", "default", "llama-3.3-70b", 200, 5));
    a.set_prices(&BTreeMap::new());
    a.record(rec(T0 + 1, "groq", "default", "llama-3.3-70b", 200, 5));
    let r = a.recent(2);
    assert!(!r[0].priced, "after reload without the override");
    assert!(r[1].priced);
    assert!(close(r[1].cost_usd, (1000.0 + 200.0) / 1e6));
}

#[test]
fn label_cardinality_is_bounded() {
    let opts = AnalyticsOptions {
        max_series: 3,
        ..AnalyticsOptions::default()
    };
    let a = Analytics::with_options(&BTreeMap::new(), opts);
    for i in 0..10 {
        a.record(rec(T0, "b", "d", &format!("model-{i}"), 200, 5));
    }
    let s = a.summary(Duration::from_secs(3600), at(T0));
    let models: Vec<_> = s
        .all_time
        .by_model
        .iter()
        .map(|g| g.model.clone().unwrap())
        .collect();
    assert_eq!(models.len(), 4);
    assert_eq!(s.all_time.by_model[0].model.as_deref(), Some(OTHER_MODEL));
    assert_eq!(s.all_time.by_model[0].requests, 7);
}

#[test]
fn records_are_dropped_only_when_queue_full_and_state_busy() {
    let opts = AnalyticsOptions {
        queue_capacity: 4,
        ..AnalyticsOptions::default()
    };
    let a = Analytics::with_options(&BTreeMap::new(), opts);
    {
        let _busy = a.shards.local_state(); // a reader in the middle of a long render
        for i in 0..10 {
            a.record(rec(T0 + i, "b", "d", "m", 200, 5));
        }
        a.observe_failover("b");
        assert_eq!(a.dropped_records(), 7);
    }
    assert_eq!(a.total_requests(), 10);
    let s = a.summary(Duration::from_secs(3600), at(T0 + 60));
    assert_eq!(
        s.all_time.totals.requests, 4,
        "the queued ones were drained by the reader"
    );
    assert_eq!(s.records_dropped, 7);
    // Once the state is free again, nothing is lost.
    a.record(rec(T0 + 20, "b", "d", "m", 200, 5));
    a.observe_failover("b");
    let s = a.summary(Duration::from_secs(3600), at(T0 + 60));
    assert_eq!(s.all_time.totals.requests, 5);
    assert_eq!(s.failovers.get("b"), Some(&1));
}

#[test]
fn concurrent_recording_from_many_threads_is_exact() {
    let a = Arc::new(analytics());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (a, stop) = (a.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut renders = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut out = String::new();
                a.render_prometheus(&LiveGauges::default(), &mut out);
                let s = a.summary(Duration::from_secs(3600), at(T0 + 3000));
                assert!(s.all_time.totals.requests <= 16_000);
                renders += 1;
            }
            renders
        })
    };
    let writers: Vec<_> = (0..8u64)
        .map(|t| {
            let a = a.clone();
            std::thread::spawn(move || {
                for i in 0..2000u64 {
                    let model = if i % 2 == 0 {
                        "gpt-4o"
                    } else {
                        "claude-sonnet-4-5"
                    };
                    a.record(rec(
                        T0 + (i % 3000),
                        &format!("b{}", t % 3),
                        "d",
                        model,
                        200,
                        1 + i % 500,
                    ));
                    if i % 100 == 0 {
                        a.observe_failover("b0");
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let renders = reader.join().unwrap();
    assert!(renders >= 1);
    assert_eq!(a.total_requests(), 16_000);
    assert_eq!(a.dropped_records(), 0);
    let s = a.summary(Duration::from_secs(3600), at(T0 + 3000));
    assert_eq!(s.all_time.totals.requests, 16_000);
    assert_eq!(s.all_time.totals.tokens.input, 16_000 * 1000);
    assert_eq!(s.failovers["b0"], 8 * 20);
    let per_backend: Vec<u64> = s.all_time.by_backend.iter().map(|g| g.requests).collect();
    assert_eq!(per_backend, [6000, 6000, 4000]);
    let mut out = String::new();
    a.render_prometheus(&LiveGauges::default(), &mut out);
    let fams = parse_exposition(&out).unwrap();
    let total: f64 = fams["dario_requests_total"]
        .samples
        .iter()
        .map(|s| s.value)
        .sum();
    assert_eq!(total, 16_000.0);
}

// ---------------------------------------------------------------------------------------------
// A strict parser of the text exposition format 0.0.4, used to validate what we render.

#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

type Labels = Vec<(String, String)>;
/// (le, cumulative count) pairs, `_count`, whether `_sum` was seen.
type HistSeries = (Vec<(f64, f64)>, Option<f64>, bool);

#[derive(Debug)]
struct Family {
    kind: String,
    samples: Vec<Sample>,
}

fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s
            .parse::<f64>()
            .map_err(|e| format!("bad value {s:?}: {e}")),
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = vec![];
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        loop {
            // label name
            let start = chars.peek().map(|c| c.0).ok_or("unterminated labels")?;
            if r[start..].starts_with('}') {
                chars.next();
                break;
            }
            let eq = r[start..].find('=').ok_or("label without =")? + start;
            let lname = &r[start..eq];
            if !is_label_name(lname) {
                return Err(format!("bad label name {lname:?}"));
            }
            while chars.peek().is_some_and(|c| c.0 <= eq) {
                chars.next();
            }
            if chars.next().map(|c| c.1) != Some('"') {
                return Err("label value not quoted".into());
            }
            let mut val = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")?.1 {
                    '\\' => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => val.push('\\'),
                        '"' => val.push('"'),
                        'n' => val.push('\n'),
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    '"' => break,
                    '\n' => return Err("raw newline in label".into()),
                    c => val.push(c),
                }
            }
            if labels.iter().any(|(k, _): &(String, String)| k == lname) {
                return Err(format!("duplicate label {lname}"));
            }
            labels.push((lname.to_string(), val));
            match chars.next().ok_or("unterminated labels")?.1 {
                ',' => continue,
                '}' => break,
                c => return Err(format!("unexpected {c:?} after label")),
            }
        }
        let consumed = chars.peek().map_or(r.len(), |c| c.0);
        rest = &r[consumed..];
    }
    let value = rest.strip_prefix(' ').ok_or("no space before value")?;
    if value.contains(' ') {
        return Err("timestamps are not emitted".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value: parse_value(value)?,
    })
}

/// Parses and checks: HELP then TYPE once per family before its samples, samples contiguous per
/// family, names matching their family (histogram suffixes), valid labels and values, histogram
/// buckets cumulative with ascending `le` ending in `+Inf` equal to `_count`, counters ≥ 0.
fn parse_exposition(text: &str) -> Result<BTreeMap<String, Family>, String> {
    if !text.ends_with('\n') {
        return Err("must end with a newline".into());
    }
    let mut fams: BTreeMap<String, Family> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut helped: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}: {line:?}", n + 1);
        if let Some(h) = line.strip_prefix("# HELP ") {
            let name = h.split(' ').next().unwrap();
            if !is_metric_name(name) || fams.contains_key(name) {
                return Err(err("bad or repeated HELP".into()));
            }
            helped = Some(name.to_string());
        } else if let Some(t) = line.strip_prefix("# TYPE ") {
            let mut it = t.split(' ');
            let (name, kind) = (it.next().unwrap(), it.next().unwrap_or(""));
            if helped.as_deref() != Some(name) || it.next().is_some() {
                return Err(err("TYPE without its HELP".into()));
            }
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(err(format!("bad type {kind}")));
            }
            fams.insert(
                name.to_string(),
                Family {
                    kind: kind.to_string(),
                    samples: vec![],
                },
            );
            current = Some(name.to_string());
        } else if line.starts_with('#') || line.is_empty() {
            return Err(err("unexpected comment or blank line".into()));
        } else {
            let s = parse_sample(line).map_err(err)?;
            let fam_name = current
                .clone()
                .ok_or_else(|| err("sample before TYPE".into()))?;
            let fam = fams.get_mut(&fam_name).unwrap();
            let ok = match fam.kind.as_str() {
                "histogram" => [
                    format!("{fam_name}_bucket"),
                    format!("{fam_name}_sum"),
                    format!("{fam_name}_count"),
                ]
                .contains(&s.name),
                _ => s.name == fam_name,
            };
            if !ok {
                return Err(err(format!("sample does not belong to family {fam_name}")));
            }
            if fam.kind == "counter" && (s.value.is_nan() || s.value < 0.0) {
                return Err(err("negative counter".into()));
            }
            fam.samples.push(s);
        }
    }
    for (name, f) in &fams {
        if f.kind != "histogram" {
            continue;
        }
        // Group by labels without `le`.
        let mut series: BTreeMap<Labels, HistSeries> = BTreeMap::new();
        for s in &f.samples {
            let base: Vec<_> = s.labels.iter().filter(|l| l.0 != "le").cloned().collect();
            let e = series.entry(base).or_default();
            if s.name.ends_with("_bucket") {
                let le = s
                    .labels
                    .iter()
                    .find(|l| l.0 == "le")
                    .ok_or(format!("{name}: bucket without le"))?;
                e.0.push((parse_value(&le.1)?, s.value));
            } else if s.name.ends_with("_count") {
                e.1 = Some(s.value);
            } else {
                e.2 = true;
            }
        }
        for (labels, (buckets, count, has_sum)) in series {
            let last = buckets
                .last()
                .ok_or(format!("{name}{labels:?}: no buckets"))?;
            if last.0 != f64::INFINITY {
                return Err(format!("{name}{labels:?}: last bucket is not +Inf"));
            }
            if Some(last.1) != count || !has_sum {
                return Err(format!(
                    "{name}{labels:?}: +Inf bucket != _count, or no _sum"
                ));
            }
            for w in buckets.windows(2) {
                if !(w[0].0 < w[1].0 && w[0].1 <= w[1].1) {
                    return Err(format!(
                        "{name}{labels:?}: buckets not cumulative/ascending"
                    ));
                }
            }
        }
    }
    Ok(fams)
}

fn value(
    fams: &BTreeMap<String, Family>,
    family: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    let f = &fams[family];
    let hits: Vec<_> = f
        .samples
        .iter()
        .filter(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|l| l.0 == *k && l.1 == *v))
        })
        .collect();
    assert_eq!(hits.len(), 1, "{name}{labels:?} in {:?}", f.samples);
    hits[0].value
}

#[test]
fn strict_checker_rejects_bad_exposition() {
    for bad in [
        "x 1\n",
        "# HELP x h\n# TYPE x counter\nx{a=\"1} 1\n",
        "# HELP x h\n# TYPE x counter\nx{a=\"\\q\"} 1\n",
        "# HELP x h\n# TYPE x counter\ny 1\n",
        "# HELP x h\n# TYPE x counter\nx -1\n",
        "# HELP x h\n# TYPE x histogram\nx_bucket{le=\"1\"} 1\nx_sum 1\nx_count 1\n",
        "# HELP x h\n# TYPE x histogram\nx_bucket{le=\"1\"} 2\nx_bucket{le=\"+Inf\"} 1\nx_sum 1\nx_count 1\n",
        "# HELP x h\n# TYPE x gauge\nx 1",
        "# HELP x h\n# TYPE x gauge\nx one\n",
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted: {bad:?}");
    }
    assert!(parse_exposition("# HELP x h\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\"} 1.5\n").is_ok());
}

#[test]
fn prometheus_exposition_parses_back_with_the_right_numbers() {
    let a = analytics();
    for i in 0..3 {
        a.record(rec(
            T0 + i,
            "anthropic",
            "east",
            "claude-sonnet-4-5",
            200,
            40,
        ));
    }
    let mut r = rec(T0 + 5, "anthropic", "west", "claude-sonnet-4-5", 429, 3000);
    r.ttfb = None;
    r.usage = Usage::default();
    a.record(r);
    // A hostile model name: quotes, backslash, newline.
    let mut r = rec(T0 + 6, "local", "default", "we\"ird\\mo\ndel", 200, 700);
    r.usage = usage(1, 2, 3, 4, 1);
    r.overhead = Duration::from_micros(30);
    a.record(r);
    a.observe_failover("anthropic");
    a.observe_failover("anthropic");
    let gauges = LiveGauges {
        in_flight_requests: 7,
        deployments: vec![
            DeploymentGauge {
                backend: "anthropic".into(),
                deployment: "west".into(),
                headroom: 0.25,
                cooldown_seconds: 12.5,
            },
            DeploymentGauge {
                backend: "anthropic".into(),
                deployment: "east".into(),
                headroom: 1.0,
                cooldown_seconds: 0.0,
            },
        ],
    };
    let mut out = String::new();
    a.render_prometheus(&gauges, &mut out);
    let f = parse_exposition(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));

    for (fam, kind) in [
        ("dario_requests_total", "counter"),
        ("dario_tokens_total", "counter"),
        ("dario_cost_usd_total", "counter"),
        ("dario_request_duration_seconds", "histogram"),
        ("dario_time_to_first_byte_seconds", "histogram"),
        ("dario_proxy_overhead_seconds", "histogram"),
        ("dario_failovers_total", "counter"),
        ("dario_in_flight_requests", "gauge"),
        ("dario_deployment_headroom", "gauge"),
        ("dario_deployment_cooldown_seconds", "gauge"),
        ("dario_analytics_dropped_records_total", "counter"),
    ] {
        assert_eq!(f[fam].kind, kind, "{fam}");
    }
    let req = |m: &str, s: &str, b: &str| {
        value(
            &f,
            "dario_requests_total",
            "dario_requests_total",
            &[("backend", b), ("model", m), ("status", s)],
        )
    };
    assert_eq!(req("claude-sonnet-4-5", "200", "anthropic"), 3.0);
    assert_eq!(req("claude-sonnet-4-5", "429", "anthropic"), 1.0);
    assert_eq!(req("we\"ird\\mo\ndel", "200", "local"), 1.0);
    let tok = |m: &str, b: &str, k: &str| {
        value(
            &f,
            "dario_tokens_total",
            "dario_tokens_total",
            &[("backend", b), ("model", m), ("kind", k)],
        )
    };
    assert_eq!(tok("claude-sonnet-4-5", "anthropic", "input"), 3000.0);
    assert_eq!(tok("claude-sonnet-4-5", "anthropic", "output"), 300.0);
    assert_eq!(tok("we\"ird\\mo\ndel", "local", "cache_write"), 4.0);
    assert_eq!(tok("we\"ird\\mo\ndel", "local", "reasoning"), 1.0);
    let cost = value(
        &f,
        "dario_cost_usd_total",
        "dario_cost_usd_total",
        &[("backend", "anthropic"), ("model", "claude-sonnet-4-5")],
    );
    assert!(close(cost, 3.0 * 0.0045), "{cost}");

    let h = |fam: &str, suffix: &str, labels: &[(&str, &str)]| {
        value(&f, fam, &format!("{fam}{suffix}"), labels)
    };
    let d = "dario_request_duration_seconds";
    assert_eq!(h(d, "_count", &[("backend", "anthropic")]), 4.0);
    assert!(close(
        h(d, "_sum", &[("backend", "anthropic")]),
        3.0 * 0.04 + 3.0
    ));
    assert_eq!(
        h(d, "_bucket", &[("backend", "anthropic"), ("le", "0.05")]),
        3.0
    );
    assert_eq!(
        h(d, "_bucket", &[("backend", "anthropic"), ("le", "2.5")]),
        3.0
    );
    assert_eq!(
        h(d, "_bucket", &[("backend", "anthropic"), ("le", "5")]),
        4.0
    );
    assert_eq!(
        h(d, "_bucket", &[("backend", "anthropic"), ("le", "+Inf")]),
        4.0
    );
    // The 429 had no first byte: TTFB counts 3.
    let t = "dario_time_to_first_byte_seconds";
    assert_eq!(h(t, "_count", &[("backend", "anthropic")]), 3.0);
    let o = "dario_proxy_overhead_seconds";
    assert_eq!(
        h(o, "_bucket", &[("backend", "local"), ("le", "0.000025")]),
        0.0
    );
    assert_eq!(
        h(o, "_bucket", &[("backend", "local"), ("le", "0.00005")]),
        1.0
    );

    assert_eq!(
        value(
            &f,
            "dario_failovers_total",
            "dario_failovers_total",
            &[("backend", "anthropic")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &f,
            "dario_in_flight_requests",
            "dario_in_flight_requests",
            &[]
        ),
        7.0
    );
    let g = |fam: &str, dep: &str| {
        value(
            &f,
            fam,
            fam,
            &[("backend", "anthropic"), ("deployment", dep)],
        )
    };
    assert_eq!(g("dario_deployment_headroom", "west"), 0.25);
    assert_eq!(g("dario_deployment_cooldown_seconds", "west"), 12.5);
    assert_eq!(g("dario_deployment_headroom", "east"), 1.0);
    // Deterministic order: rendering twice gives the same text.
    let mut again = String::new();
    a.render_prometheus(&gauges, &mut again);
    assert_eq!(out, again);
}

#[test]
fn empty_analytics_renders_valid_exposition() {
    let a = analytics();
    let mut out = String::new();
    a.render_prometheus(&LiveGauges::default(), &mut out);
    let f = parse_exposition(&out).unwrap();
    assert!(f["dario_requests_total"].samples.is_empty());
    assert_eq!(
        value(
            &f,
            "dario_in_flight_requests",
            "dario_in_flight_requests",
            &[]
        ),
        0.0
    );
    let s = a.summary(Duration::from_secs(3600), SystemTime::now());
    assert_eq!(s.window.section.totals.requests, 0);
    assert_eq!(s.window.section.totals.latency_ms.p50, None);
    assert_eq!(s.window.burn.tokens_per_min, 0.0);
    serde_json::to_string(&s).unwrap();
}

#[test]
fn summary_json_shape() {
    let a = analytics();
    a.record(rec(
        T0 + 10,
        "anthropic",
        "east",
        "claude-sonnet-4-5",
        200,
        40,
    ));
    let v = serde_json::to_value(a.summary(DEFAULT_WINDOW, at(T0 + 60))).unwrap();
    let w = &v["window"];
    for k in [
        "window_secs",
        "window_start",
        "bucket_secs",
        "burn",
        "totals",
        "by_backend",
        "by_deployment",
        "by_model",
        "buckets",
    ] {
        assert!(w.get(k).is_some(), "window.{k}");
    }
    assert_eq!(w["totals"]["tokens"]["total"], 1100);
    assert!(w["totals"].get("backend").is_none());
    assert!(w["totals"].get("tokens_usage").is_none());
    assert_eq!(w["by_deployment"][0]["deployment"], "east");
    assert_eq!(v["all_time"]["by_model"][0]["model"], "claude-sonnet-4-5");
    assert_eq!(v["records_total"], 1);
}

#[test]
fn analytics_is_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Analytics>();
}

// ---------------------------------------------------------------------------------------------
// Shards (`shards.rs`): what several workers record, merged, is what one state would hold.

/// Equal JSON, numbers compared as f64 up to rounding (sums of costs and seconds may add in
/// another order), everything else exactly.
fn assert_same_json(a: &serde_json::Value, b: &serde_json::Value, path: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x.is_u64() && y.is_u64() {
                assert_eq!(x, y, "at {path}");
            } else {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!(close(x, y), "at {path}: {x} vs {y}");
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "length at {path}");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert_same_json(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "keys at {path}"
            );
            for (k, v) in x {
                assert_same_json(v, &y[k], &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "at {path}"),
    }
}

/// Equal exposition text, sample values compared as in [`assert_same_json`].
fn assert_same_exposition(a: &str, b: &str) {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    assert_eq!(la.len(), lb.len());
    for (x, y) in la.iter().zip(&lb) {
        if x.starts_with('#') {
            assert_eq!(x, y);
            continue;
        }
        let (nx, vx) = x.rsplit_once(' ').unwrap();
        let (ny, vy) = y.rsplit_once(' ').unwrap();
        assert_eq!(nx, ny);
        let (vx, vy) = (parse_value(vx).unwrap(), parse_value(vy).unwrap());
        assert!(close(vx, vy), "{nx}: {vx} vs {vy}");
    }
}

/// The `i`-th record of the shard tests: three backends, two deployments, seven models (two
/// priced) against a cap of five series, errors, retries, missing TTFBs, timestamps over
/// 8,000 s (beyond the one-hour retention below) with some arriving late.
fn shard_test_record(i: u64) -> Record {
    let model = match i % 7 {
        0 => "gpt-4o".to_string(),
        1 => "claude-sonnet-4-5".to_string(),
        m => format!("local-{m}"),
    };
    let secs = if i.is_multiple_of(13) {
        T0 + i * 2
    } else {
        T0 + i * 20
    };
    let status = match i {
        i if i.is_multiple_of(37) => 0,
        i if i.is_multiple_of(11) => 529,
        _ => 200,
    };
    let mut r = rec(
        secs,
        &format!("b{}", i % 3),
        &format!("d{}", i % 2),
        &model,
        status,
        1 + (i * 37) % 900,
    );
    r.request_id = format!("req-{i}");
    r.attempts = 1 + u32::from(i.is_multiple_of(5));
    if i.is_multiple_of(4) {
        r.ttfb = None;
    }
    r.overhead = Duration::from_micros(20 + (i * 13) % 400);
    r.usage = usage(100 + i, 10 + i % 50, i % 3 * 7, i % 5, i % 4);
    r
}

fn shard_test_options() -> AnalyticsOptions {
    AnalyticsOptions {
        ring_capacity: 50,
        retention: Duration::from_secs(3600),
        max_series: 5,
        ..AnalyticsOptions::default()
    }
}

#[test]
fn records_from_several_workers_merge_into_exactly_one_state() {
    const N: u64 = 400;
    // Worker of the i-th record: an irregular interleaving of workers 0, 1, 2 and 5; worker 5
    // records none of the last 100, so its shard's newest bucket lags the others' and it keeps
    // buckets that the process as a whole has evicted.
    const WORKERS: [usize; 4] = [0, 1, 2, 5];
    let worker_of = |i: u64| {
        if i >= N - 100 {
            WORKERS[(i % 3) as usize]
        } else {
            WORKERS[((i * 7 + i / 3) % 4) as usize]
        }
    };

    let reference = analytics_with(shard_test_options());
    for i in 0..N {
        reference.record(shard_test_record(i));
        if i.is_multiple_of(9) {
            reference.observe_failover(&format!("b{}", i / 9 % 3));
        }
    }

    // The same records in the same order, each recorded by its worker's thread: a turn counter
    // hands the records from thread to thread. After recording, a thread waits for the clock to
    // move on, so the next record's ring sequence is larger whichever shard takes it.
    let sharded = Arc::new(analytics_with(shard_test_options()));
    let turn = Arc::new((std::sync::Mutex::new(0u64), std::sync::Condvar::new()));
    let threads: Vec<_> = WORKERS
        .iter()
        .map(|&w| {
            let (a, turn) = (sharded.clone(), turn.clone());
            std::thread::spawn(move || {
                crate::worker::set_index(w);
                let (next, cv) = &*turn;
                for i in (0..N).filter(|&i| worker_of(i) == w) {
                    let mut at = cv.wait_while(next.lock().unwrap(), |n| *n != i).unwrap();
                    a.record(shard_test_record(i));
                    if i.is_multiple_of(9) {
                        a.observe_failover(&format!("b{}", i / 9 % 3));
                    }
                    let recorded = std::time::Instant::now();
                    while std::time::Instant::now() <= recorded {}
                    *at += 1;
                    cv.notify_all();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    // Each worker recorded into its own shard.
    let by_shard = sharded.shards.totals_by_shard();
    for w in WORKERS {
        let expected = (0..N).filter(|&i| worker_of(i) == w).count() as u64;
        assert!(expected >= 50);
        assert_eq!(by_shard[w], expected, "shard {w}");
    }
    assert_eq!(by_shard.iter().sum::<u64>(), N);

    assert_eq!(sharded.total_requests(), N);
    assert_eq!(sharded.dropped_records(), 0);
    let oldest_bucket = |a: &Arc<Analytics>, w: usize| {
        let a = a.clone();
        std::thread::spawn(move || {
            crate::worker::set_index(w);
            *a.shards
                .local_state()
                .agg
                .buckets
                .first_key_value()
                .unwrap()
                .0
        })
        .join()
        .unwrap()
    };
    assert!(oldest_bucket(&sharded, 5) < oldest_bucket(&sharded, 1));
    for (window, now) in [(3600, T0 + N * 20), (600, T0 + N * 20), (3600, T0 + 5000)] {
        let (want, got) = (
            reference.summary(Duration::from_secs(window), at(now)),
            sharded.summary(Duration::from_secs(window), at(now)),
        );
        // The reference really has what is being compared: capped series, an evicted bucket,
        // failovers, unpriced models, errors, late records.
        assert!(want
            .all_time
            .by_model
            .iter()
            .any(|g| g.model.as_deref() == Some(OTHER_MODEL)));
        assert!(want.all_time.totals.errors > 0 && want.failovers.len() == 3);
        assert!(!want.unpriced_models.is_empty());
        assert_eq!(want.records_kept, 50);
        assert_same_json(
            &serde_json::to_value(&want).unwrap(),
            &serde_json::to_value(&got).unwrap(),
            &format!("summary({window}s at {now})"),
        );
        // Counts and percentiles exactly (the JSON comparison allows rounding in float sums).
        assert_eq!(want.all_time.totals.tokens, got.all_time.totals.tokens);
        assert_eq!(
            want.all_time.totals.latency_ms,
            got.all_time.totals.latency_ms
        );
        assert_eq!(
            want.window.section.totals.ttfb_ms,
            got.window.section.totals.ttfb_ms
        );
        assert_eq!(
            want.window.section.totals.overhead_ms,
            got.window.section.totals.overhead_ms
        );
    }
    // The window ending at T0 + 5000 s reaches back into buckets the newest records evicted,
    // which worker 5's shard still holds: the merge leaves them out, as the one state did.
    let early = sharded.summary(Duration::from_secs(3600), at(T0 + 5000));
    let kept_from = (T0 + N * 20) / 300 - 11;
    assert_eq!(
        early.window.buckets.iter().map(|b| b.requests).sum::<u64>(),
        (0..N)
            .map(shard_test_record)
            .filter(|r| (kept_from..=(T0 + 5000) / 300).contains(&(unix_secs(r.timestamp) / 300)))
            .count() as u64
    );

    let (mut want, mut got) = (String::new(), String::new());
    reference.render_prometheus(&LiveGauges::default(), &mut want);
    sharded.render_prometheus(&LiveGauges::default(), &mut got);
    assert_same_exposition(&want, &got);

    // The ring: the same records in the same (global) order, newest first.
    let ids = |a: &Analytics, n| -> Vec<String> {
        a.recent(n).into_iter().map(|r| r.request_id).collect()
    };
    let newest: Vec<String> = (N - 50..N).rev().map(|i| format!("req-{i}")).collect();
    assert_eq!(ids(&reference, 1000), newest);
    assert_eq!(ids(&sharded, 1000), newest);
    assert_eq!(ids(&sharded, 7), newest[..7]);
    assert_eq!(
        serde_json::to_value(reference.recent(50)).unwrap(),
        serde_json::to_value(sharded.recent(50)).unwrap()
    );
}

#[test]
fn concurrent_recording_from_many_workers_is_exact() {
    // Eight threads on four shards (two per shard: each shard's lock is contended too), a reader
    // rendering all the while.
    let a = Arc::new(analytics());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (a, stop) = (a.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut renders = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut out = String::new();
                a.render_prometheus(&LiveGauges::default(), &mut out);
                let s = a.summary(Duration::from_secs(3600), at(T0 + 3000));
                assert!(s.all_time.totals.requests <= 16_000);
                assert!(a.recent(10).len() <= 10);
                renders += 1;
            }
            renders
        })
    };
    let writers: Vec<_> = (0..8u64)
        .map(|t| {
            let a = a.clone();
            std::thread::spawn(move || {
                crate::worker::set_index(t as usize % 4 + 3);
                for i in 0..2000u64 {
                    let mut r = rec(
                        T0 + (i % 3000),
                        &format!("b{}", t % 3),
                        "d",
                        "gpt-4o",
                        200,
                        1 + i % 500,
                    );
                    r.request_id = format!("{t}-{i}");
                    a.record(r);
                    if i.is_multiple_of(100) {
                        a.observe_failover("b0");
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() >= 1);
    assert_eq!(a.total_requests(), 16_000);
    assert_eq!(a.dropped_records(), 0);
    let by_shard = a.shards.totals_by_shard();
    assert_eq!(by_shard[3..7], [4000, 4000, 4000, 4000]);
    let s = a.summary(Duration::from_secs(3600), at(T0 + 3000));
    assert_eq!(s.all_time.totals.requests, 16_000);
    assert_eq!(s.all_time.totals.tokens.input, 16_000 * 1000);
    assert_eq!(s.failovers["b0"], 8 * 20);
    let per_backend: Vec<u64> = s.all_time.by_backend.iter().map(|g| g.requests).collect();
    assert_eq!(per_backend, [6000, 6000, 4000]);
    assert_eq!(s.records_kept, 10_000);
    // Each thread's own records stay in its order in the merged ring.
    let recent = a.recent(10_000);
    assert_eq!(recent.len(), 10_000);
    for t in 0..8 {
        let mine: Vec<u64> = recent
            .iter()
            .filter_map(|r| r.request_id.strip_prefix(&format!("{t}-"))?.parse().ok())
            .collect();
        assert!(mine.windows(2).all(|w| w[0] > w[1]), "thread {t}");
    }
}
