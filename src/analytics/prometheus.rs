//! Prometheus text exposition, format 0.0.4: `# HELP` / `# TYPE` once per family, label values
//! escaped (`\\`, `\"`, `\n`), samples of a family contiguous and sorted by labels, histograms
//! as cumulative `_bucket{le=…}` ending in `+Inf`, then `_sum` and `_count`.
//!
//! Owns: text formatting. Must not: hold analytics locks itself (callers pass plain data).

use std::fmt::Write;

use serde::Serialize;

use super::histogram::PromHistogram;

/// Values the proxy knows and analytics does not: passed in at render time.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LiveGauges {
    /// Upstream requests in flight right now (`dario_in_flight_requests`).
    pub in_flight_requests: u64,
    /// From [`crate::pool::PoolSnapshot::deployment_gauges`].
    pub deployments: Vec<DeploymentGauge>,
}

/// One deployment's gauges.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentGauge {
    pub backend: String,
    pub deployment: String,
    /// 0.0–1.0.
    pub headroom: f64,
    /// Seconds until the cooldown ends; 0 when not cooling.
    pub cooldown_seconds: f64,
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
