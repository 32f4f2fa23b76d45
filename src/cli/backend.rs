//! `dario backend add|list|remove`.

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BackendCommand {
    /// Add or update a backend (or one deployment of it).
    Add {
        /// Backend name (letters, digits, `.`, `_`, `-`; starts alphanumeric). Known providers
        /// (groq, openrouter, ollama, lmstudio, vllm, together, deepseek, mistral, fireworks)
        /// get their base URL and protocol by name.
        name: String,
        #[arg(long)]
        protocol: Option<String>,
        #[arg(long)]
        base_url: Option<String>,
        /// Store this key in the backend file (0600).
        #[arg(long, conflicts_with_all = ["key_env", "passthrough"])]
        key: Option<String>,
        /// Read the key from this environment variable at startup.
        #[arg(long, conflicts_with_all = ["key", "passthrough"])]
        key_env: Option<String>,
        /// Forward the client's own credential unchanged.
        #[arg(long, conflicts_with_all = ["key", "key_env"])]
        passthrough: bool,
        /// Model glob this backend serves (repeatable).
        #[arg(long = "model")]
        models: Vec<String>,
        /// Add (or replace) a deployment with this alias instead of the backend's own URL/key.
        #[arg(long)]
        deployment: Option<String>,
    },
    /// List backends, their protocol, URL and credential source (never a key).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a backend file.
    Remove { name: String },
}

pub fn run(_cmd: BackendCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("backend: not built yet")
}
