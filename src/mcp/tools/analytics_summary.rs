//! `analytics_summary`: the running proxy's usage summary over a window.
//!
//! Owns: this tool's output type, how it is built from its inputs, and its text. Must not: do
//! I/O (the server gathers inputs through `server::run`).

use super::*;
use crate::analytics::GroupSummary;

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
            (Some(a), _) => match render_analytics(a, self.window_minutes) {
                Ok(text) => out.push_str(&text),
                Err(e) => {
                    out.push_str(&format!(
                        "The proxy's /analytics body is not the shape this dario {} reads ({e}); as sent:\n",
                        crate::VERSION
                    ));
                    out.push_str(&render_value(a, 1));
                }
            },
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

fn group_line(g: &GroupSummary) -> String {
    format!(
        "{} req, {} err, {} tokens, ${:.4}, latency p50 {} / p95 {}, TTFB p50 {}",
        g.requests,
        g.errors,
        g.tokens.total,
        g.cost_usd,
        ms(g.latency_ms.p50),
        ms(g.latency_ms.p95),
        ms(g.ttfb_ms.p50),
    )
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |x| format!("{x:.0} ms"))
}

/// The proxy's `/analytics` body (`admin_api::Analytics`, the type the proxy writes): window
/// totals, burn rate, per backend and model, all time. The decode error when the body is not of
/// that type (the caller shows the body as it is then, so a field renamed on one side never
/// shows as 0).
pub fn render_analytics(body: &Value, window_minutes: u32) -> Result<String, String> {
    let a = crate::admin_api::Analytics::deserialize(body).map_err(|e| e.to_string())?;
    let (s, w) = (&a.summary, &a.summary.window);
    let t = &w.section.totals;
    let mut out = format!("Window (last {window_minutes} min): {}\n", group_line(t));
    out.push_str(&format!(
        "  tokens: {} in, {} out, {} cache read, {} cache write ({} reasoning)\n",
        t.tokens.input,
        t.tokens.output,
        t.tokens.cache_read,
        t.tokens.cache_write,
        t.tokens.reasoning,
    ));
    out.push_str(&format!(
        "  burn: {:.1} tokens/min, ${:.4}/h\n",
        w.burn.tokens_per_min, w.burn.usd_per_hour
    ));
    for (title, groups) in [
        ("By backend", &w.section.by_backend),
        ("By model", &w.section.by_model),
    ] {
        if groups.is_empty() {
            continue;
        }
        out.push_str(&format!("{title}:\n"));
        for g in groups {
            let name: Vec<&str> = [&g.backend, &g.model]
                .into_iter()
                .filter_map(|n| n.as_deref())
                .collect();
            out.push_str(&format!("  {}: {}\n", name.join(" "), group_line(g)));
        }
    }
    out.push_str(&format!("All time: {}\n", group_line(&s.all_time.totals)));
    if !s.failovers.is_empty() {
        let list: Vec<String> = s
            .failovers
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        out.push_str(&format!(
            "Failovers (by failing backend): {}\n",
            list.join(", ")
        ));
    }
    if !s.unpriced_models.is_empty() {
        out.push_str(&format!(
            "Models without a price (cost counted as 0): {}\n",
            s.unpriced_models.join(", ")
        ));
    }
    if let Some(id) = &a.instance_id {
        out.push_str(&format!(
            "Instance {id} only (`dario stats --cluster` sums every instance).\n"
        ));
    }
    Ok(out)
}
