//! `dario mcp [--print-config client]`: run the read-only MCP server on stdio, or print the
//! snippet that registers it with an MCP client.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::doctor::snippets::{self, ClientKind};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum McpClient {
    ClaudeDesktop,
    Cursor,
    ClaudeCode,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Print the snippet that registers dario's MCP server in this client, and exit.
    #[arg(long, value_enum)]
    pub print_config: Option<McpClient>,
}

pub fn run(args: McpArgs) -> anyhow::Result<ExitCode> {
    if let Some(client) = args.print_config {
        return print_config(client);
    }
    init_logging();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for `dario mcp`")?;
    let result = runtime.block_on(crate::mcp::serve_stdio());
    // Do not wait for stray blocking work (a slow file read) once the client is gone.
    runtime.shutdown_timeout(Duration::from_millis(100));
    result.context("`dario mcp` stopped")?;
    Ok(ExitCode::SUCCESS)
}

/// Logs go to stderr only (stdout carries protocol frames). `DARIO_LOG` sets the filter,
/// default `warn`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DARIO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

fn print_config(client: McpClient) -> anyhow::Result<ExitCode> {
    let launch = snippets::installed_exe();
    let kind = match client {
        McpClient::ClaudeDesktop => ClientKind::ClaudeDesktop,
        McpClient::Cursor => ClientKind::Cursor,
        McpClient::ClaudeCode => ClientKind::ClaudeCode,
    };
    let snippet = snippets::snippet(kind, &launch.exe, &snippets::carried_env());
    println!("{}", snippet.text);
    eprintln!("{}", snippet.instructions);
    if let Some(note) = &launch.note {
        eprintln!("{note}");
    }
    Ok(ExitCode::SUCCESS)
}
