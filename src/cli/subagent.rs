//! `dario subagent install|remove|status`: thin wrapper over [`crate::subagent`]; renders its
//! results and the follow-up hints (MCP registration, session restart).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::doctor::clients::{self, McpClient};
use crate::subagent::{self, InstallOutcome, RemoveOutcome, Scope, State};

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
        /// Replace a locally modified or foreign dario.md (the old file is kept as dario.md.bak).
        #[arg(long)]
        force: bool,
    },
    /// Remove the sub-agent file (idempotent; keeps a locally modified file unless --force).
    Remove {
        #[arg(long)]
        project: bool,
        /// Remove it even if it was edited or not written by dario.
        #[arg(long)]
        force: bool,
    },
    /// Show whether it is installed, current, stale or locally modified (the default).
    Status {
        /// Only the project file (./.claude/agents/dario.md).
        #[arg(long)]
        project: bool,
        #[arg(long)]
        json: bool,
    },
}

fn scope(project: bool) -> Scope {
    if project {
        Scope::Project
    } else {
        Scope::User
    }
}

pub fn run(args: SubagentArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        Some(SubagentAction::Install { project, force }) => install(scope(project), force),
        Some(SubagentAction::Remove { project, force }) => remove(scope(project), force),
        Some(SubagentAction::Status { project, json }) => status(project, json),
        None => status(false, false),
    }
}

fn install(scope: Scope, force: bool) -> anyhow::Result<ExitCode> {
    let report = subagent::install(scope, force)?;
    let path = report.path.display();
    match &report.outcome {
        InstallOutcome::Created => {
            println!("created {path} (dario sub-agent {})", report.version)
        }
        InstallOutcome::Updated { previous, backup } => {
            println!(
                "updated {path} to dario sub-agent {} (was {})",
                report.version,
                previous.describe()
            );
            if let Some(backup) = backup {
                println!("the previous file is kept as {}", backup.display());
            }
        }
        InstallOutcome::Unchanged => {
            println!("unchanged: {path} is already current ({})", report.version)
        }
    }
    if report.outcome != InstallOutcome::Unchanged {
        println!("Claude Code loads agents when a session starts: start a new session (or run /agents) to use it.");
    }
    let scan = clients::scan(McpClient::ClaudeCode);
    if scan.registrations.is_empty() {
        println!();
        println!("dario's MCP server is not registered in Claude Code yet; the sub-agent works best with it:");
        println!("  {}", clients::register_command(McpClient::ClaudeCode));
    }
    Ok(ExitCode::SUCCESS)
}

fn remove(scope: Scope, force: bool) -> anyhow::Result<ExitCode> {
    let path = subagent::target(scope)?;
    match subagent::remove_at(&path, force)? {
        RemoveOutcome::Removed { .. } => println!("removed {}", path.display()),
        RemoveOutcome::NothingToRemove => {
            println!("nothing to remove: {} does not exist", path.display())
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status(project_only: bool, json: bool) -> anyhow::Result<ExitCode> {
    let statuses = if project_only {
        vec![subagent::status(Scope::Project)?]
    } else {
        subagent::statuses()?
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
        return Ok(ExitCode::SUCCESS);
    }
    for s in &statuses {
        let which = match s.scope {
            Scope::User => "user",
            Scope::Project => "project",
        };
        println!("{which}: {} — {}", s.path.display(), s.state.describe());
        if let Some(fix) = s.state.fix(s.scope) {
            if s.state != State::Current {
                println!("  → {fix}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
