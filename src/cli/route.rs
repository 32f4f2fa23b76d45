//! `dario route <model>`: print the routing decision for a model name.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The model name a client would send.
    pub model: String,
    /// Apply a `--model` override as `dario proxy --model` would.
    #[arg(long = "override")]
    pub model_override: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: RouteArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("route: not built yet")
}
