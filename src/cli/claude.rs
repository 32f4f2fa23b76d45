//! `dario claude [--model M] [-- ARGS]`: start Claude Code with dario in front of it.
//!
//! Sets `ANTHROPIC_BASE_URL` to the proxy, the chosen model (for the main loop, sub-agents and
//! background tasks alike), and `CLAUDE_CODE_MAX_CONTEXT_TOKENS` / `CLAUDE_CODE_MAX_OUTPUT_TOKENS`
//! from what dario knows of that model; starts `dario proxy` for the session when none answers
//! on the port, and stops it when Claude Code exits.
//!
//! Owns: that environment and the child processes. Must not: touch Claude Code's own
//! credentials — a model that routes to Anthropic gets whatever Claude Code itself sends.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use crate::config::{self, Credential, Home};
use crate::protocol::Protocol;
use crate::routing::{self, RouteTable};

#[derive(Debug, Args)]
pub struct ClaudeArgs {
    /// The model Claude Code should use (any name dario routes, e.g. `groq:llama-3.3-70b-versatile`).
    #[arg(long)]
    pub model: Option<String>,
    /// The proxy's port (started on it when nothing answers there).
    #[arg(long, env = "DARIO_PORT", default_value_t = 3456)]
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
        for (k, v) in &env {
            println!("{k}={}", shell_quote(v));
        }
        println!("{} {}", args.claude_bin, args.args.join(" "));
        return Ok(ExitCode::SUCCESS);
    }

    let mut proxy = ProxyGuard(None);
    if !dario_answers(addr) {
        let exe = std::env::current_exe().context("cannot find the dario executable")?;
        home.ensure()?;
        let log = home.dir().join("claude-session-proxy.log");
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot write the proxy log {}", log.display()))?;
        let child = Command::new(exe)
            .args(["proxy", "--port", &args.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .context("could not start `dario proxy`")?;
        proxy.0 = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while !dario_answers(addr) {
            if let Some(status) = proxy.0.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                anyhow::bail!(
                    "`dario proxy --port {}` exited ({status}) before it answered: see {}",
                    args.port,
                    log.display()
                );
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "`dario proxy --port {}` did not answer within 15 s: see {}",
                    args.port,
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    let status = Command::new(&args.claude_bin)
        .args(&args.args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .status()
        .with_context(|| {
            format!(
                "could not run `{}`: install Claude Code (npm install -g @anthropic-ai/claude-code) or pass --claude-bin",
                args.claude_bin
            )
        })?;
    drop(proxy);
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(c.clamp(1, 255) as u8),
        None => ExitCode::FAILURE,
    })
}

/// Stops the session's proxy (if this command started one) however `run` ends.
struct ProxyGuard(Option<Child>);

impl Drop for ProxyGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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

/// Does a dario proxy answer `GET /health` on `addr`?
fn dario_answers(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.take(64 * 1024).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.starts_with("HTTP/1.1 200") && text.contains("\"service\":\"dario\"")
}

fn shell_quote(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=@".contains(c))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}
