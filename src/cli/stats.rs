//! `dario stats [--since SPAN] [--json | --csv]`: usage from the history database (today, 7 and
//! 30 days by default), per backend and model, and the top Claude Code sessions.
//!
//! Reads `<home>/history.sqlite3` read-only, so it works whether or not a proxy runs (a running
//! proxy commits at least every second; see `crate::history`).

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use crate::history::{self, HistorySummary, Since};

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// One span instead of today / 7d / 30d: `24h`, `7d`, `30d`, `90m`, `today`…
    #[arg(long, value_name = "SPAN")]
    pub since: Option<String>,
    /// Print JSON ({database, periods: [{name, summary}]}), the summaries `/analytics?since=` gives.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV: one row per period, backend and model, plus a total row per period.
    #[arg(long)]
    pub csv: bool,
    /// Sessions listed per period.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// The team's totals over every `[cluster]` instance (requests, errors, tokens, cost; last
    /// hour and all time, per backend), as the running proxy reads them from Redis.
    #[arg(long, conflicts_with_all = ["since", "csv"])]
    pub cluster: bool,
}

#[derive(Serialize)]
struct Period {
    name: String,
    summary: HistorySummary,
}

#[derive(Serialize)]
struct Output {
    database: std::path::PathBuf,
    periods: Vec<Period>,
}

pub fn run(args: StatsArgs) -> anyhow::Result<ExitCode> {
    if args.cluster {
        return run_cluster(args.json);
    }
    let home = crate::config::Home::resolve().context("could not locate dario's home directory")?;
    let path = history::db_path(home.dir());
    let conn = history::open_read_only(&path)?;
    let spans: Vec<(String, Since)> = match &args.since {
        Some(s) => vec![(
            s.clone(),
            history::parse_since(s).map_err(|e| anyhow::anyhow!("--since {e}"))?,
        )],
        None => vec![
            ("today".into(), Since::Today),
            ("7d".into(), history::parse_since("7d").expect("valid")),
            ("30d".into(), history::parse_since("30d").expect("valid")),
        ],
    };
    let now = SystemTime::now();
    let mut periods = Vec::new();
    for (name, since) in spans {
        let start = since.start_ms(&conn, now)?;
        periods.push(Period {
            name,
            summary: history::summarize(&conn, start, now)?,
        });
    }
    let out = Output {
        database: path,
        periods,
    };
    let text = if args.json {
        serde_json::to_string_pretty(&out)? + "\n"
    } else if args.csv {
        render_csv(&out)
    } else {
        render_human(&out, args.top)
    };
    // A closed pipe (`dario stats | head`) is not an error.
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("could not write to stdout")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_default()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn render_csv(out: &Output) -> String {
    let mut s = String::from("period,backend,model,requests,errors,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,cache_hit_ratio,cost_usd,latency_p50_ms,latency_p95_ms,ttfb_p50_ms,ttfb_p95_ms\n");
    for p in &out.periods {
        let w = &p.summary.window;
        for g in w.by_model.iter().chain(std::iter::once(&w.totals)) {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{},{:.6},{},{},{},{}",
                csv_field(&p.name),
                csv_field(g.backend.as_deref().unwrap_or("*")),
                csv_field(g.model.as_deref().unwrap_or("*")),
                g.requests,
                g.errors,
                g.tokens.input,
                g.tokens.output,
                g.tokens.cache_read,
                g.tokens.cache_write,
                g.tokens.reasoning,
                g.cache_hit_ratio
                    .map(|v| format!("{v:.4}"))
                    .unwrap_or_default(),
                g.cost_usd,
                opt(g.latency_ms.p50),
                opt(g.latency_ms.p95),
                opt(g.ttfb_ms.p50),
                opt(g.ttfb_ms.p95),
            );
        }
    }
    s
}

fn human_ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 1000.0 => format!("{:.2}s", v / 1000.0),
        Some(v) => format!("{v:.0}ms"),
    }
}

fn human_count(n: u64) -> String {
    match n {
        n if n >= 10_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 10_000 => format!("{:.1}k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

fn render_human(out: &Output, top: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "usage history: {}", out.database.display());
    for p in &out.periods {
        let w = &p.summary.window;
        let t = &w.totals;
        let _ = writeln!(
            s,
            "\n== {} (since {}) — {} requests, {} errors, {} tokens, ${:.4}",
            p.name,
            w.window_start,
            t.requests,
            t.errors,
            human_count(t.tokens.total),
            t.cost_usd
        );
        if t.requests == 0 {
            let _ = writeln!(s, "   no requests");
            continue;
        }
        let header = [
            "backend", "model", "reqs", "errs", "in", "out", "cache r", "cache w", "hit", "cost",
            "p50", "p95", "ttfb50", "ttfb95",
        ];
        let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
        for g in w.by_model.iter().chain(std::iter::once(t)) {
            rows.push(vec![
                g.backend.clone().unwrap_or_else(|| "total".into()),
                g.model.clone().unwrap_or_default(),
                g.requests.to_string(),
                g.errors.to_string(),
                human_count(g.tokens.input),
                human_count(g.tokens.output),
                human_count(g.tokens.cache_read),
                human_count(g.tokens.cache_write),
                g.cache_hit_ratio
                    .map(|r| format!("{:.0}%", r * 100.0))
                    .unwrap_or_else(|| "-".into()),
                format!("${:.4}", g.cost_usd),
                human_ms(g.latency_ms.p50),
                human_ms(g.latency_ms.p95),
                human_ms(g.ttfb_ms.p50),
                human_ms(g.ttfb_ms.p95),
            ]);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i < 2 {
                        format!("{c:<w$}", w = widths[i])
                    } else {
                        format!("{c:>w$}", w = widths[i])
                    }
                })
                .collect();
            let _ = writeln!(s, "   {}", line.join("  ").trim_end());
        }
        if !p.summary.sessions.is_empty() && top > 0 {
            let _ = writeln!(s, "   top sessions:");
            for x in p.summary.sessions.iter().take(top) {
                let _ = writeln!(
                    s,
                    "     {}  {}  {} requests  {} tokens  ${:.4}  {}",
                    x.session_id,
                    x.client,
                    x.requests,
                    human_count(x.tokens),
                    x.cost_usd,
                    x.models.join(",")
                );
            }
        }
    }
    s
}

/// `dario stats --cluster`: `GET /analytics?scope=cluster` from the running proxy (which sums
/// what every instance publishes to the shared Redis), rendered or as JSON.
fn run_cluster(as_json: bool) -> anyhow::Result<ExitCode> {
    use crate::mcp::live::{Fetch, LiveClient};
    let client = LiveClient::from_env();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let v = match runtime.block_on(client.get("/analytics?scope=cluster")) {
        Fetch::Ok(v) => v,
        Fetch::NotRunning(why) => anyhow::bail!(
            "no dario proxy answers at {} ({why}): `dario stats --cluster` asks the running \
             proxy, which reads the team's counters from Redis; start it with `dario proxy` \
             (with [cluster] in config.toml), or run `dario stats` for this machine's history",
            client.address()
        ),
        Fetch::Failed(why) => anyhow::bail!(
            "the proxy at {} did not give the cluster's counters: {why}",
            client.address()
        ),
    };
    let text = if as_json {
        serde_json::to_string_pretty(&v)? + "\n"
    } else {
        render_cluster(&v)
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn render_cluster(v: &serde_json::Value) -> String {
    let mut s = String::new();
    let ids: Vec<&str> = v["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["instance_id"].as_str())
        .collect();
    let _ = writeln!(
        s,
        "cluster `{}`: {} instance(s) publishing: {} (asked: {})",
        v["namespace"].as_str().unwrap_or(""),
        ids.len(),
        ids.join(", "),
        v["instance_id"].as_str().unwrap_or("?")
    );
    let line = |g: &serde_json::Value| {
        format!(
            "{:>9} requests {:>6} errors {:>12} tokens  ${:.4}",
            g["requests"].as_u64().unwrap_or(0),
            g["errors"].as_u64().unwrap_or(0),
            g["tokens"]["total"].as_u64().unwrap_or(0),
            g["cost_usd"].as_f64().unwrap_or(0.0)
        )
    };
    let minutes = v["window_secs"].as_u64().unwrap_or(3600) / 60;
    for (name, label) in [
        ("window", format!("last {minutes} min")),
        ("all_time", "all time".into()),
    ] {
        let _ = writeln!(s, "\n{label}: {}", line(&v[name]["totals"]));
        for b in v[name]["by_backend"].as_array().into_iter().flatten() {
            let _ = writeln!(
                s,
                "  {:<20} {}",
                b["backend"].as_str().unwrap_or("?"),
                line(b)
            );
        }
    }
    if let Some(note) = v["note"].as_str() {
        let _ = writeln!(s, "\n({note})");
    }
    s
}
