//! The command line: clap definitions and dispatch, one file per command.
//!
//! Owns: argument parsing and human output. Must not: hold business logic; it calls into the
//! library modules and renders what they return. `anyhow` lives here and in `main.rs` only.

mod backend;
mod claude;
mod codex;
mod doctor;
mod mcp;
mod proxy;
mod reload;
mod route;
mod session;
mod stats;
mod subagent;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// dario — one local LLM endpoint for every tool on this machine.
///
/// Speaks the Anthropic Messages API, the OpenAI Chat Completions API and the OpenAI Responses API
/// on one port; the model name picks the upstream, and dario translates between the protocols
/// when they differ.
#[derive(Debug, Parser)]
#[command(name = "dario", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the router (the default when no command is given).
    Proxy(proxy::ProxyArgs),
    /// Manage backends (upstream providers and their credentials).
    #[command(subcommand)]
    Backend(backend::BackendCommand),
    /// Start Claude Code with dario in front (`dario claude --model groq:llama-3.3-70b-versatile
    /// -- -p "hi"`): base URL, model and context limits set; the proxy started if none runs.
    Claude(claude::ClaudeArgs),
    /// Start the Codex CLI with dario in front (`dario codex --model claude-sonnet-4-5 -- exec
    /// "hi"`): a `dario` model provider on the Responses API; the proxy started if none runs.
    Codex(codex::CodexArgs),
    /// Explain which backend, upstream model and fallbacks a model name gets.
    Route(route::RouteArgs),
    /// Make the running proxy read its configuration again (it also picks up changed files by
    /// itself); says why when it refuses the files on disk.
    Reload(reload::ReloadArgs),
    /// Usage from the history on disk: today / 7 / 30 days per backend and model, top sessions
    /// (`--json`, `--csv`; works whether or not the proxy runs).
    Stats(stats::StatsArgs),
    /// Health report of this machine's dario setup; exit 1 if any check fails.
    Doctor(doctor::DoctorArgs),
    /// Run the read-only MCP server on stdio (for Claude Desktop, Cursor, Claude Code…).
    Mcp(mcp::McpArgs),
    /// Install, remove or inspect the Claude Code sub-agent (`~/.claude/agents/dario.md`).
    Subagent(subagent::SubagentArgs),
    /// Print the version (with build details when -v is given).
    Version {
        #[arg(short, long)]
        verbose: bool,
    },
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => proxy::run(proxy::ProxyArgs::default()),
        Some(Command::Proxy(args)) => proxy::run(args),
        Some(Command::Backend(cmd)) => backend::run(cmd),
        Some(Command::Route(args)) => route::run(args),
        Some(Command::Reload(args)) => reload::run(args),
        Some(Command::Claude(args)) => claude::run(args),
        Some(Command::Codex(args)) => codex::run(args),
        Some(Command::Doctor(args)) => doctor::run(args),
        Some(Command::Stats(args)) => stats::run(args),
        Some(Command::Mcp(args)) => mcp::run(args),
        Some(Command::Subagent(args)) => subagent::run(args),
        Some(Command::Version { verbose }) => {
            print_version(verbose);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Completions { shell }) => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "dario", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn print_version(verbose: bool) {
    println!("dario {}", crate::VERSION);
    if verbose {
        println!(
            "target: {}-{}",
            std::env::consts::ARCH,
            std::env::consts::OS
        );
        println!(
            "profile: {}",
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        );
        println!("tls: rustls (ring)");
    }
}
