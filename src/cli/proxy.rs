//! `dario proxy`: parse flags, load config (refusing one that names a backend that does not
//! exist), print the start-up summary, run the server until a signal; reload the configuration
//! when its files change, on SIGHUP and on `POST /admin/reload`.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::config::{self, Secret};
use crate::proxy::{self, ProxyOptions};

#[derive(Debug, Args, Default)]
pub struct ProxyArgs {
    /// Address to bind (loopback by default).
    #[arg(long, env = "DARIO_HOST")]
    pub host: Option<String>,
    /// Port to bind.
    #[arg(long, env = "DARIO_PORT")]
    pub port: Option<u16>,
    /// Force this model (optionally `backend:model`) for every request.
    #[arg(long)]
    pub model: Option<String>,
    /// Allow binding a non-loopback address without DARIO_API_KEY.
    #[arg(long)]
    pub allow_unauthenticated: bool,
    /// Worker threads, each serving its own connections on its own single-threaded runtime
    /// (like nginx's worker processes). Default 1: on a small machine shared with the tools
    /// that call dario, one thread is the cheapest per request (BENCHMARKS.md).
    #[arg(long, env = "DARIO_WORKERS", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: Option<u16>,
    /// -v: one log line per request; -vv: also redacted bodies (capped at 8 KiB).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

pub fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let filter = match args.verbose {
        0 => "dario=warn",
        1 => "dario=info",
        _ => "dario=debug",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DARIO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .try_init();

    // Defaults apply when neither the flag nor the environment gives a value.
    let host = args
        .host
        .clone()
        .or_else(|| std::env::var("DARIO_HOST").ok())
        .unwrap_or_else(|| crate::DEFAULT_HOST.to_string());
    let port = args
        .port
        .or_else(|| {
            std::env::var("DARIO_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
        })
        .unwrap_or(crate::DEFAULT_PORT);
    let ip: IpAddr = if host == "localhost" {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host.parse()
            .with_context(|| format!("--host `{host}` is not an IP address (try 127.0.0.1)"))?
    };
    let home = config::Home::resolve().context("could not locate dario's home directory")?;
    let config = config::load(&home).context("could not load dario's configuration")?;
    config::check_references(&config).context(
        "dario's configuration names a backend that does not exist, so the models routed there \
         would fail; fix it and start dario again (`dario doctor` lists every problem)",
    )?;
    let checks = crate::doctor::offline_checks();
    let home = std::sync::Arc::new(home);
    let api_key = std::env::var("DARIO_API_KEY")
        .ok()
        .filter(|k| !k.is_empty())
        .map(Secret::new);
    let options = ProxyOptions {
        listen: SocketAddr::new(ip, port),
        api_key,
        cors_origin: std::env::var("DARIO_CORS_ORIGIN")
            .ok()
            .filter(|s| !s.is_empty()),
        model_override: args.model.clone(),
        verbosity: args.verbose,
    };

    // Every worker (this thread and `--workers - 1` more) runs a single-threaded runtime: a
    // local router's work per request is tens of microseconds, and work-stealing across threads
    // costs more in wake-ups than it gains (BENCHMARKS.md).
    let workers = usize::from(args.workers.unwrap_or(1));
    let mut builder = tokio::runtime::Builder::new_current_thread();
    let runtime = builder
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    // Usage history on disk: opened here, before serving; a database that cannot be used is
    // logged and reported, and the proxy serves without it.
    let history = std::sync::Arc::new(crate::history::History::open(home.dir(), &config.history));
    let history_for_close = history.clone();
    let result = runtime.block_on(async move {
        let summary_config = config.clone();
        let bound = proxy::bind(config, options, args.allow_unauthenticated).await?;
        bound.state.attach_history(history);
        eprintln!(
            "dario {} listening on http://{}  (Anthropic: /v1/messages · OpenAI: /v1/chat/completions, /v1/responses)",
            crate::VERSION,
            bound.local_addr()
        );
        eprint!(
            "{}",
            startup_summary(
                &summary_config,
                bound.local_addr(),
                args.model.as_deref(),
                &checks,
                args.verbose
            )
        );
        let _ = bound.state.home.set(home.clone());
        if let Err(e) = proxy::spawn_watcher(
            bound.state.clone(),
            home.clone(),
            std::time::Duration::from_millis(500),
        ) {
            tracing::warn!(
                "cannot watch {} for changes ({e}): run `dario reload` after editing the configuration",
                home.dir().display()
            );
        }
        #[cfg(unix)]
        spawn_reload_on_sighup(bound.state.clone(), home);
        bound
            .serve_workers(workers, proxy::shutdown_signal())
            .await;
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    });
    // Commit what the history writer still holds before saying so.
    history_for_close.close();
    if result.is_ok() {
        eprintln!("dario stopped");
    }
    result
}

/// SIGHUP re-reads the configuration and swaps it in whole; a bad file keeps the old config.
#[cfg(unix)]
fn spawn_reload_on_sighup(
    state: std::sync::Arc<crate::proxy::ProxyState>,
    home: std::sync::Arc<config::Home>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("SIGHUP handler unavailable: use `dario reload` instead");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let (state, home) = (state.clone(), home.clone());
            let done =
                tokio::task::spawn_blocking(move || proxy::reload_and_log(&state, &home, "SIGHUP"))
                    .await;
            if let Err(e) = done {
                tracing::error!("reload failed: {e}");
            }
        }
    });
}

/// What `dario proxy` says at start-up, after the "listening on" line: the backends with
/// protocol, URL and credential *source* (never a key), the default backend, the doctor rows
/// that failed or warn (offline ones), and the lines that point clients at it.
pub fn startup_summary(
    cfg: &config::Config,
    listen: SocketAddr,
    model_override: Option<&str>,
    checks: &[crate::doctor::Check],
    verbose: u8,
) -> String {
    use crate::config::BackendSource;
    use crate::doctor::Status;
    use std::fmt::Write;

    let mut out = String::new();
    let files = if cfg.files.is_empty() {
        "no config files: built-in backends only".to_string()
    } else {
        crate::doctor::backends::file_names(cfg).join(", ")
    };
    let _ = writeln!(
        out,
        "config    {} ({files})",
        config::display_path(&cfg.home)
    );
    let rows: Vec<[String; 5]> = cfg
        .backends
        .values()
        .map(|b| {
            let source = match &b.source {
                BackendSource::BuiltIn => "built-in".to_string(),
                BackendSource::BackendFile(p) | BackendSource::ConfigToml(p) => {
                    p.strip_prefix(&cfg.home).unwrap_or(p).display().to_string()
                }
            };
            let pool = if b.deployments.is_empty() {
                String::new()
            } else {
                format!(" · pool of {}", b.deployments.len())
            };
            [
                b.name.clone(),
                b.protocol.to_string(),
                crate::safe_url::display_marked(&b.base_url),
                b.credential.source_label(),
                format!("{source}{pool}"),
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2, w3) = (width(0), width(1), width(2), width(3));
    for (i, r) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:<10}{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
            if i == 0 { "backends" } else { "" },
            r[0],
            r[1],
            r[2],
            r[3],
            r[4]
        );
    }
    let template = crate::routing::RouteTable::new(cfg, model_override).template();
    match &template.default_backend {
        Some(d) => {
            let _ = writeln!(out, "default   {d} ({})", template.default_reason);
        }
        None => {
            let _ = writeln!(
                out,
                "default   none ({}): a model no rule claims gets a 404",
                template
                    .default_reason
                    .strip_prefix("none: ")
                    .unwrap_or(&template.default_reason)
            );
        }
    }
    if let Some(m) = model_override {
        let _ = writeln!(out, "override  every request uses model `{m}` (--model)");
    }
    let mut problems = 0;
    for c in checks
        .iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Warn))
    {
        problems += 1;
        let _ = writeln!(out, "{} {:<10} {}", c.status.tag(), c.label, c.detail);
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "           → {fix}");
        }
    }
    if problems > 0 {
        let _ = writeln!(out, "          (`dario doctor` shows every check)");
    }
    let host = if listen.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if listen.ip().is_ipv6() {
        format!("[{}]", listen.ip())
    } else {
        listen.ip().to_string()
    };
    let base = format!("http://{host}:{}", listen.port());
    let _ = writeln!(
        out,
        "Claude Code:  ANTHROPIC_BASE_URL={base} claude   (any model: dario claude --model <model>)"
    );
    let _ = writeln!(
        out,
        "OpenAI SDKs:  OPENAI_BASE_URL={base}/v1   (SDKs insist on an API key: any placeholder works where dario holds the backend's key)"
    );
    let _ = writeln!(
        out,
        "Codex CLI:    dario codex --model <model>   (the Responses API at {base}/v1/responses, any backend)"
    );
    let _ = writeln!(
        out,
        "{}",
        if verbose == 0 {
            "Failed requests are logged here; -v logs every request. Config changes are picked up as they are saved."
        } else {
            "Every request is logged here. Config changes are picked up as they are saved."
        }
    );
    out
}
