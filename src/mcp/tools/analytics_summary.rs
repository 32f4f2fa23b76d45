//! `analytics_summary`: the running proxy's usage summary over a window.
//!
//! Owns: this tool's output type, how it is built from its inputs, and its text. Must not: do
//! I/O (the server gathers inputs through `server::run`).

use super::*;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AnalyticsOut {
    pub proxy: ProxyState,
    pub window_minutes: u32,
    /// The proxy's summary (`GET /analytics?window=N`): requests, errors, tokens, cost,
    /// latency percentiles per backend and model, burn rate. `null` when not running.
    pub analytics: Option<Value>,
    /// Why `analytics` is null, when it is.
    pub analytics_error: Option<String>,
}

pub fn analytics_summary(window_minutes: u32, proxy: ProxyState, fetch: Fetch) -> AnalyticsOut {
    let (analytics, analytics_error) = match fetch {
        Fetch::Ok(v) => (Some(v), None),
        Fetch::NotRunning(e) => (
            None,
            Some(format!("{e} — analytics live in the proxy's memory only")),
        ),
        Fetch::Failed(e) => (None, Some(e)),
    };
    AnalyticsOut {
        proxy,
        window_minutes,
        analytics,
        analytics_error,
    }
}

impl Rendered for AnalyticsOut {
    fn render(&self) -> String {
        let mut out = format!(
            "Usage over the last {} minute(s).\n{}\n\n",
            self.window_minutes,
            proxy_line(&self.proxy)
        );
        match (&self.analytics, &self.analytics_error) {
            (Some(a), _) => out.push_str(
                &render_analytics(a, self.window_minutes).unwrap_or_else(|| render_value(a, 0)),
            ),
            (None, Some(_)) if !self.proxy.running => out.push_str(
                "No analytics: they live in the proxy's memory only, and the proxy is not running.\n",
            ),
            (None, Some(e)) => out.push_str(&format!("No analytics: {e}\n")),
            (None, None) => {}
        }
        out
    }
}

/// Validates `window_minutes`, with an actionable message.
pub fn window_minutes(args: &AnalyticsArgs) -> Result<u32, String> {
    match args.window_minutes {
        None => Ok(DEFAULT_WINDOW_MINUTES),
        Some(n) if (1..=MAX_WINDOW_MINUTES).contains(&n) => Ok(n),
        Some(n) => Err(format!(
            "window_minutes must be between 1 and {MAX_WINDOW_MINUTES} (24 h, what the proxy keeps); got {n}. Omit it for the default of {DEFAULT_WINDOW_MINUTES}."
        )),
    }
}

fn group_line(g: &Value) -> String {
    format!(
        "{} req, {} err, {} tokens, ${:.4}, latency p50 {} / p95 {}, TTFB p50 {}",
        g.get("requests").and_then(Value::as_u64).unwrap_or(0),
        g.get("errors").and_then(Value::as_u64).unwrap_or(0),
        num(g, "/tokens/total").unwrap_or(0.0),
        num(g, "/cost_usd").unwrap_or(0.0),
        ms(g, "/latency_ms/p50"),
        ms(g, "/latency_ms/p95"),
        ms(g, "/ttfb_ms/p50"),
    )
}

/// The proxy's `/analytics` summary: window totals, burn rate, per backend and model, all time.
/// `None` when the body does not have the expected shape.
pub fn render_analytics(a: &Value, window_minutes: u32) -> Option<String> {
    let w = a.get("window")?;
    let t = w.get("totals")?;
    let mut out = format!("Window (last {window_minutes} min): {}\n", group_line(t));
    out.push_str(&format!(
        "  tokens: {} in, {} out, {} cache read, {} cache write ({} reasoning)\n",
        num(t, "/tokens/input").unwrap_or(0.0),
        num(t, "/tokens/output").unwrap_or(0.0),
        num(t, "/tokens/cache_read").unwrap_or(0.0),
        num(t, "/tokens/cache_write").unwrap_or(0.0),
        num(t, "/tokens/reasoning").unwrap_or(0.0),
    ));
    if let Some(b) = w.get("burn") {
        out.push_str(&format!(
            "  burn: {:.1} tokens/min, ${:.4}/h\n",
            num(b, "/tokens_per_min").unwrap_or(0.0),
            num(b, "/usd_per_hour").unwrap_or(0.0)
        ));
    }
    for (title, key, label) in [
        ("By backend", "by_backend", &["backend"][..]),
        ("By model", "by_model", &["backend", "model"][..]),
    ] {
        let groups = w
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if groups.is_empty() {
            continue;
        }
        out.push_str(&format!("{title}:\n"));
        for g in groups {
            let name: Vec<&str> = label
                .iter()
                .filter_map(|k| g.get(*k).and_then(Value::as_str))
                .collect();
            out.push_str(&format!("  {}: {}\n", name.join(" "), group_line(&g)));
        }
    }
    if let Some(all) = a.pointer("/all_time/totals") {
        out.push_str(&format!("All time: {}\n", group_line(all)));
    }
    if let Some(f) = a.get("failovers").and_then(Value::as_object) {
        if !f.is_empty() {
            let list: Vec<String> = f.iter().map(|(k, v)| format!("{k} {v}")).collect();
            out.push_str(&format!(
                "Failovers (by failing backend): {}\n",
                list.join(", ")
            ));
        }
    }
    if let Some(u) = a.get("unpriced_models").and_then(Value::as_array) {
        if !u.is_empty() {
            let list: Vec<&str> = u.iter().filter_map(Value::as_str).collect();
            out.push_str(&format!(
                "Models without a price (cost counted as 0): {}\n",
                list.join(", ")
            ));
        }
    }
    Some(out)
}
