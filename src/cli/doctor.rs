//! `dario doctor [--json] [--online]`.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[arg(long)]
    pub json: bool,
    /// Also probe each backend's model list (5 s timeout).
    #[arg(long)]
    pub online: bool,
}

pub fn run(_args: DoctorArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("doctor: not built yet")
}
