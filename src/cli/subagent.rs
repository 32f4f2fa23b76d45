//! `dario subagent install|remove|status`.

use std::process::ExitCode;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct SubagentArgs {
    #[command(subcommand)]
    pub action: Option<SubagentAction>,
}

#[derive(Debug, Subcommand)]
pub enum SubagentAction {
    /// Write the sub-agent file (idempotent; refuses to overwrite local edits without --force).
    Install {
        /// Install into ./.claude/agents/ instead of the user's Claude config.
        #[arg(long)]
        project: bool,
        #[arg(long)]
        force: bool,
    },
    /// Remove the sub-agent file (idempotent).
    Remove {
        #[arg(long)]
        project: bool,
    },
    /// Show whether it is installed, current, stale or locally modified.
    Status {
        #[arg(long)]
        project: bool,
    },
}

pub fn run(_args: SubagentArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("subagent: not built yet")
}
