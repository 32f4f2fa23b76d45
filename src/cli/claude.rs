//! `dario claude [--model M] [-- ARGS]`: start Claude Code with dario in front of it.
//!
//! Sets `ANTHROPIC_BASE_URL` to the proxy, the chosen model (for the main loop, sub-agents and
//! background tasks alike), and `CLAUDE_CODE_MAX_CONTEXT_TOKENS` / `CLAUDE_CODE_MAX_OUTPUT_TOKENS`
//! from what dario knows of that model; starts `dario proxy` for the session when none answers
//! on the port, and stops it when Claude Code exits.
//!
//! Owns: that environment and the child processes. Must not: touch Claude Code's own
//! credentials — a model that routes to Anthropic gets whatever Claude Code itself sends.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Args;

use super::session;

use crate::config::{self, Credential, Home};
use crate::protocol::Protocol;
use crate::routing::{self, RouteTable};

#[derive(Debug, Args)]
pub struct ClaudeArgs {
    /// The model Claude Code should use (any name dario routes, e.g. `groq:llama-3.3-70b-versatile`).
    #[arg(long)]
    pub model: Option<String>,
    /// The proxy's port (started on it when nothing answers there).
    #[arg(long, env = "DARIO_PORT", default_value_t = crate::DEFAULT_PORT)]
    pub port: u16,
    /// The Claude Code executable.
    #[arg(long, env = "DARIO_CLAUDE_BIN", default_value = "claude")]
    pub claude_bin: String,
    /// Print the environment and the command instead of running them.
    #[arg(long)]
    pub print_env: bool,
    /// Arguments for Claude Code (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
}

pub fn run(args: ClaudeArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve()?;
    let cfg = config::load(&home)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let env = claude_env(&cfg, args.model.as_deref(), addr)?;
    if args.print_env {
        session::print_env(&env, &args.claude_bin, &args.args);
        return Ok(ExitCode::SUCCESS);
    }
    let _proxy = session::ensure_proxy(&home, addr, "claude-session-proxy.log")?;
    session::run_client(
        &args.claude_bin,
        &args.args,
        &env,
        "install Claude Code (npm install -g @anthropic-ai/claude-code) or pass --claude-bin",
    )
}

/// The variables Claude Code gets: where dario is, which model, and its limits.
pub fn claude_env(
    cfg: &config::Config,
    model: Option<&str>,
    addr: SocketAddr,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut env: Vec<(String, String)> =
        vec![("ANTHROPIC_BASE_URL".to_string(), format!("http://{addr}"))];
    let Some(model) = model else {
        return Ok(env);
    };
    let table = RouteTable::new(cfg, None);
    let decision = table
        .resolve(model)
        .map_err(|e| anyhow::anyhow!("{e}: see `dario route {model}`"))?;
    // One model for everything Claude Code asks for: the main loop, sub-agents, background tasks.
    for var in [
        "ANTHROPIC_MODEL",
        "ANTHROPIC_DEFAULT_OPUS_MODEL",
        "ANTHROPIC_DEFAULT_SONNET_MODEL",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL",
        "CLAUDE_CODE_SUBAGENT_MODEL",
    ] {
        env.push((var.to_string(), model.to_string()));
    }
    let mut info = routing::model_info(&decision.upstream_model, &cfg.models);
    if info.max_input_tokens.is_none() {
        info = routing::model_info(model, &cfg.models);
    }
    for (k, v) in routing::model_info::claude_code_env(model, &info) {
        env.push((k.to_string(), v.to_string()));
    }
    // Claude Code wants some credential before it sends anything. A backend with its own key
    // ignores the client's, so a placeholder is enough there; an Anthropic passthrough backend
    // gets Claude Code's own login, so nothing is set.
    let backend = cfg.backend(&decision.backend);
    let own_key = backend.is_some_and(|b| {
        b.protocol != Protocol::Anthropic || !matches!(b.credential, Credential::Passthrough)
    });
    let has_key = std::env::var_os("ANTHROPIC_API_KEY").is_some()
        || std::env::var_os("ANTHROPIC_AUTH_TOKEN").is_some();
    if own_key && !has_key {
        let token = std::env::var("DARIO_API_KEY").unwrap_or_else(|_| "dario".to_string());
        env.push(("ANTHROPIC_API_KEY".to_string(), token));
    }
    Ok(env)
}
