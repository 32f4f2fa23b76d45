//! Prometheus text exposition, format 0.0.4: `# HELP` / `# TYPE` once per family, label values
//! escaped (`\\`, `\"`, `\n`), samples of a family contiguous and sorted by labels, histograms
//! as cumulative `_bucket{le=…}` ending in `+Inf`, then `_sum` and `_count`.
//!
//! Owns: text formatting. Must not: hold analytics locks itself (it renders the shards' merged aggregates).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::add_usage;
use super::histogram::PromHistogram;
use crate::protocol::Usage;

/// One deployment's gauges: the pool's type (`pool::PoolSnapshot::deployment_gauges`).
pub use crate::pool::DeploymentGauge;

/// Values the proxy knows and analytics does not: passed in at render time.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LiveGauges {
    /// Upstream requests in flight right now (`dario_in_flight_requests`).
    pub in_flight_requests: u64,
    /// From [`crate::pool::PoolSnapshot::deployment_gauges`].
    pub deployments: Vec<DeploymentGauge>,
}

/// Escapes a label value.
pub fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A sample value: integers without a fraction, `+Inf`/`-Inf`/`NaN` spelled as Prometheus does.
pub fn format_value(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Writes `# HELP` and `# TYPE` of a family.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes one sample line.
pub fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label(v, out);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    format_value(value, out);
    out.push('\n');
}

/// Writes a histogram's `_bucket`, `_sum` and `_count` samples.
pub fn histogram(out: &mut String, name: &str, labels: &[(&str, &str)], h: &PromHistogram) {
    let bucket = format!("{name}_bucket");
    let mut le = String::new();
    for (bound, cum) in h.cumulative() {
        le.clear();
        format_value(bound, &mut le);
        let mut l: Vec<(&str, &str)> = labels.to_vec();
        l.push(("le", &le));
        sample(out, &bucket, &l, cum as f64);
    }
    sample(out, &format!("{name}_sum"), labels, h.sum());
    sample(out, &format!("{name}_count"), labels, h.count() as f64);
}

impl super::Analytics {
    /// Appends the Prometheus text exposition of every dario metric to `out`.
    pub fn render_prometheus(&self, gauges: &LiveGauges, out: &mut String) {
        // Every shard added up; no bucket is needed (`u64::MAX` takes none).
        let (st, _) = self.shards.merged(u64::MAX);

        family(
            out,
            "dario_requests_total",
            "counter",
            "Requests answered, by backend, model and HTTP status.",
        );
        let mut by_status: Vec<_> = st.by_status.iter().collect();
        by_status.sort();
        for ((backend, model, status), n) in by_status {
            let status = status.to_string();
            sample(
                out,
                "dario_requests_total",
                &[("backend", backend), ("model", model), ("status", &status)],
                *n as f64,
            );
        }

        let mut bm: BTreeMap<(&str, &str), (Usage, f64)> = BTreeMap::new();
        for (k, s) in &st.all_time {
            let e = bm.entry((&k.backend, &k.model)).or_default();
            add_usage(&mut e.0, &s.tokens);
            e.1 += s.cost_usd;
        }
        family(out, "dario_tokens_total", "counter", "Tokens used, by backend, model and kind (input, output, cache_read, cache_write, reasoning; reasoning is part of output).");
        for ((backend, model), (u, _)) in &bm {
            for (kind, v) in [
                ("input", u.input_tokens),
                ("output", u.output_tokens),
                ("cache_read", u.cache_read_tokens),
                ("cache_write", u.cache_write_tokens),
                ("reasoning", u.reasoning_tokens),
            ] {
                sample(
                    out,
                    "dario_tokens_total",
                    &[("backend", backend), ("model", model), ("kind", kind)],
                    v as f64,
                );
            }
        }
        family(out, "dario_cost_usd_total", "counter", "Estimated cost in USD from the price table, by backend and model (unpriced models count 0).");
        for ((backend, model), (_, cost)) in &bm {
            sample(
                out,
                "dario_cost_usd_total",
                &[("backend", backend), ("model", model)],
                *cost,
            );
        }

        for (name, help, pick) in [
            (
                "dario_request_duration_seconds",
                "Time from request arrival to the last byte sent, by backend.",
                0,
            ),
            (
                "dario_time_to_first_byte_seconds",
                "Time from request arrival to the first byte sent to the client, by backend.",
                1,
            ),
            (
                "dario_proxy_overhead_seconds",
                "Time spent inside dario per request, excluding waiting for upstreams, by backend.",
                2,
            ),
        ] {
            family(out, name, "histogram", help);
            for (backend, h) in &st.prom {
                let h = match pick {
                    0 => &h.duration,
                    1 => &h.ttfb,
                    _ => &h.overhead,
                };
                histogram(out, name, &[("backend", backend)], h);
            }
        }

        family(out, "dario_failovers_total", "counter", "Attempts moved to another deployment or backend after a retryable failure, by the backend that failed.");
        for (backend, n) in &st.failovers {
            sample(
                out,
                "dario_failovers_total",
                &[("backend", backend)],
                *n as f64,
            );
        }
        drop(st);

        family(
            out,
            "dario_analytics_dropped_records_total",
            "counter",
            "Analytics records dropped because the recording queue was full.",
        );
        sample(
            out,
            "dario_analytics_dropped_records_total",
            &[],
            self.dropped_records() as f64,
        );

        family(
            out,
            "dario_in_flight_requests",
            "gauge",
            "Upstream requests in flight.",
        );
        sample(
            out,
            "dario_in_flight_requests",
            &[],
            gauges.in_flight_requests as f64,
        );

        let mut deps: Vec<&DeploymentGauge> = gauges.deployments.iter().collect();
        deps.sort_by(|a, b| (&a.backend, &a.deployment).cmp(&(&b.backend, &b.deployment)));
        family(out, "dario_deployment_headroom", "gauge", "Smallest known remaining/limit fraction of a deployment's rate limits (1 when unknown).");
        for d in &deps {
            sample(
                out,
                "dario_deployment_headroom",
                &[("backend", &d.backend), ("deployment", &d.deployment)],
                d.headroom,
            );
        }
        family(
            out,
            "dario_deployment_cooldown_seconds",
            "gauge",
            "Seconds until a cooling deployment is tried again (0 when available).",
        );
        for d in &deps {
            sample(
                out,
                "dario_deployment_cooldown_seconds",
                &[("backend", &d.backend), ("deployment", &d.deployment)],
                d.cooldown_seconds,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_values() {
        let mut s = String::new();
        escape_label("a\\b\"c\nd", &mut s);
        assert_eq!(s, r#"a\\b\"c\nd"#);
        let mut v = String::new();
        for x in [
            1.0,
            0.25,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1e-7,
            12345678.0,
        ] {
            format_value(x, &mut v);
            v.push(' ');
        }
        assert_eq!(v, "1 0.25 +Inf -Inf NaN 0.0000001 12345678 ");
    }

    #[test]
    fn histogram_lines() {
        let mut h = PromHistogram::new(&[0.5]);
        h.observe(std::time::Duration::from_millis(100));
        h.observe(std::time::Duration::from_secs(2));
        let mut out = String::new();
        histogram(&mut out, "x_seconds", &[("backend", "b")], &h);
        assert_eq!(
            out,
            "x_seconds_bucket{backend=\"b\",le=\"0.5\"} 1\n\
             x_seconds_bucket{backend=\"b\",le=\"+Inf\"} 2\n\
             x_seconds_sum{backend=\"b\"} 2.1\n\
             x_seconds_count{backend=\"b\"} 2\n"
        );
    }
}
