//! `dario proxy`: parse flags, load config, run the server until a signal.

use std::process::ExitCode;

use clap::Args;

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
    /// -v: one log line per request; -vv: also redacted bodies (capped at 8 KiB).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

pub fn run(_args: ProxyArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("proxy: not built yet")
}
