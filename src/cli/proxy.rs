//! `dario proxy`: parse flags, load config, run the server until a signal.

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
        .unwrap_or_else(|| "127.0.0.1".to_string());
    let port = args
        .port
        .or_else(|| {
            std::env::var("DARIO_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
        })
        .unwrap_or(3456);
    let ip: IpAddr = if host == "localhost" {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host.parse()
            .with_context(|| format!("--host `{host}` is not an IP address (try 127.0.0.1)"))?
    };
    let home = config::Home::resolve().context("could not locate dario's home directory")?;
    let config = config::load(&home).context("could not load dario's configuration")?;
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
        let bound = proxy::bind(config, options, args.allow_unauthenticated).await?;
        bound.state.attach_history(history);
        eprintln!(
            "dario {} listening on http://{}  (Anthropic: /v1/messages · OpenAI: /v1/chat/completions)",
            crate::VERSION,
            bound.local_addr()
        );
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
        tracing::warn!("SIGHUP handler unavailable: hot reload disabled");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let home = home.clone();
            let loaded = tokio::task::spawn_blocking(move || config::load(&home)).await;
            match loaded {
                Ok(Ok(cfg)) => {
                    state.reload(cfg);
                    tracing::warn!(
                        "configuration reloaded (digest {})",
                        state.snapshot.load().digest
                    );
                }
                Ok(Err(e)) => {
                    tracing::error!("reload rejected, keeping the previous configuration: {e}")
                }
                Err(e) => tracing::error!("reload failed: {e}"),
            }
        }
    });
}
