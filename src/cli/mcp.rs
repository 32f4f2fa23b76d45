//! `dario mcp [--print-config client]`.

use std::process::ExitCode;

use clap::{Args, ValueEnum};

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

pub fn run(_args: McpArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("mcp: not built yet")
}
