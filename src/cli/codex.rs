//! `dario codex [--model M] [-- ARGS]`: start the Codex CLI with dario in front of it.
//!
//! Codex takes a model provider from `-c` overrides: dario adds one named `dario` whose base URL
//! is the proxy's `/v1` and whose wire API is `responses` (Codex speaks only the Responses API),
//! selects it, and sets the model; the user's ARGS follow (`exec …`, a prompt, more `-c`). The
//! proxy is started for the session when none answers on the port, and stopped afterwards.
//!
//! Owns: those overrides and the credential variable Codex reads. Must not: write Codex's config
//! files or touch its login.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Args;

use super::session;
use crate::config::{self, Credential, Home};
use crate::routing::RouteTable;

/// The variable Codex reads the provider's key from when the backend needs no client key.
const KEY_VAR: &str = "DARIO_CODEX_KEY";

#[derive(Debug, Args)]
pub struct CodexArgs {
    /// The model Codex should use (any name dario routes, e.g. `claude-sonnet-4-5`).
    #[arg(long)]
    pub model: Option<String>,
    /// The proxy's port (started on it when nothing answers there).
    #[arg(long, env = "DARIO_PORT", default_value_t = crate::DEFAULT_PORT)]
    pub port: u16,
    /// The Codex executable.
    #[arg(long, env = "DARIO_CODEX_BIN", default_value = "codex")]
    pub codex_bin: String,
    /// Print the environment and the command instead of running them.
    #[arg(long)]
    pub print_env: bool,
    /// Arguments for Codex (after `--`), e.g. `exec "fix the tests"`.
    #[arg(last = true)]
    pub args: Vec<String>,
}

pub fn run(args: CodexArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve()?;
    let cfg = config::load(&home)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let (env, mut argv) = codex_setup(&cfg, args.model.as_deref(), addr)?;
    argv.extend(args.args.iter().cloned());
    if args.print_env {
        session::print_env(&env, &args.codex_bin, &argv);
        return Ok(ExitCode::SUCCESS);
    }
    let _proxy = session::ensure_proxy(&home, addr, "codex-session-proxy.log")?;
    session::run_client(
        &args.codex_bin,
        &argv,
        &env,
        "install the Codex CLI (npm install -g @openai/codex) or pass --codex-bin",
    )
}

/// Environment variables for the child.
type Env = Vec<(String, String)>;

/// The environment and the leading arguments Codex gets: a `dario` provider at the proxy, the
/// model, and where the provider's key comes from.
pub fn codex_setup(
    cfg: &config::Config,
    model: Option<&str>,
    addr: SocketAddr,
) -> anyhow::Result<(Env, Vec<String>)> {
    let mut key_var = KEY_VAR;
    if let Some(model) = model {
        let decision = RouteTable::new(cfg, None)
            .resolve(model)
            .map_err(|e| anyhow::anyhow!("{e}: see `dario route {model}`"))?;
        // A passthrough backend gets the client's credential: Codex's OpenAI key, if it has one.
        let passthrough = cfg
            .backend(&decision.backend)
            .is_some_and(|b| matches!(b.credential, Credential::Passthrough));
        if passthrough && std::env::var_os("OPENAI_API_KEY").is_some() {
            key_var = "OPENAI_API_KEY";
        }
    }
    let mut env = Vec::new();
    if key_var == KEY_VAR {
        // A backend with its own key ignores the client's; Codex wants one all the same.
        let token = std::env::var("DARIO_API_KEY").unwrap_or_else(|_| "dario".to_string());
        env.push((KEY_VAR.to_string(), token));
    }
    let mut overrides = vec![
        "model_provider=\"dario\"".to_string(),
        "model_providers.dario.name=\"dario\"".to_string(),
        format!("model_providers.dario.base_url=\"http://{addr}/v1\""),
        "model_providers.dario.wire_api=\"responses\"".to_string(),
        format!("model_providers.dario.env_key=\"{key_var}\""),
    ];
    if let Some(m) = model {
        overrides.push(format!("model={}", toml_string(m)));
    }
    let argv = overrides
        .into_iter()
        .flat_map(|o| ["-c".to_string(), o])
        .collect();
    Ok((env, argv))
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}
