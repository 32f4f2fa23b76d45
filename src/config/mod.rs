//! Configuration: the home directory, backend files, `config.toml`, built-in backends and the
//! `Secret` type. Produces one immutable [`Config`] snapshot.
//!
//! Owns: reading and atomically writing dario's files (0700 dir, 0600 files). Must not: do
//! network I/O, or ever print a credential.

mod secret;

pub use secret::Secret;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::protocol::Protocol;

/// Where a credential comes from. Serialises without the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// A key stored in dario's own files.
    Key { key: Secret },
    /// A key read from an environment variable; `value` is `None` when the variable is unset.
    KeyEnv { var: String, value: Option<Secret> },
    /// The client's own `x-api-key` / `Authorization` is forwarded unchanged.
    Passthrough,
    /// No credential at all (a local server).
    None,
}

impl Credential {
    /// A short, secret-free description: `key (file)`, `env GROQ_API_KEY (set)`, `passthrough`, `none`.
    pub fn source_label(&self) -> String {
        match self {
            Credential::Key { .. } => "key (stored)".to_string(),
            Credential::KeyEnv { var, value } => format!(
                "env {var} ({})",
                if value.is_some() { "set" } else { "NOT SET" }
            ),
            Credential::Passthrough => "passthrough (client's own credential)".to_string(),
            Credential::None => "none".to_string(),
        }
    }

    /// The secret to send upstream, if this credential has one.
    pub fn secret(&self) -> Option<&Secret> {
        match self {
            Credential::Key { key } => Some(key),
            Credential::KeyEnv { value, .. } => value.as_ref(),
            _ => None,
        }
    }
}

/// One deployment of a backend: an alternative key and/or base URL (SPEC §5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentConfig {
    pub alias: String,
    /// Base URL for this deployment; the backend's own when `None`.
    pub base_url: Option<String>,
    /// Credential of this deployment; the backend's own when `None`.
    pub credential: Option<Credential>,
}

/// Where a backend definition came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "snake_case")]
pub enum BackendSource {
    BuiltIn,
    BackendFile(PathBuf),
    ConfigToml(PathBuf),
}

/// A configured upstream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackendConfig {
    pub name: String,
    pub protocol: Protocol,
    /// Without a trailing slash. Anthropic: without `/v1`; OpenAI-style: with `/v1`.
    pub base_url: String,
    pub credential: Credential,
    /// Glob patterns of model names this backend serves (SPEC §4 rule 4).
    pub models: Vec<String>,
    /// Extra headers sent upstream on every request.
    pub headers: Vec<(String, String)>,
    /// Several deployments make the backend a pool. Empty = one implicit deployment.
    pub deployments: Vec<DeploymentConfig>,
    pub source: BackendSource,
}

/// An explicit `[[routes]]` rule from `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteRule {
    /// Glob over the requested model name.
    pub model: String,
    pub backend: String,
    pub upstream_model: Option<String>,
    pub fallbacks: Vec<String>,
}

/// Bounds of the proxy (SPEC §2). All configurable in `config.toml` under `[limits]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub body_read_timeout: Duration,
    pub header_read_timeout: Duration,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub stream_idle_timeout: Duration,
    pub max_in_flight: usize,
    pub max_queue: usize,
    pub queue_timeout: Duration,
    pub max_attempts: usize,
    pub exhaustion_wait: Duration,
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 32 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(600),
            stream_idle_timeout: Duration::from_secs(300),
            max_in_flight: 512,
            max_queue: 1024,
            queue_timeout: Duration::from_secs(60),
            max_attempts: 3,
            exhaustion_wait: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Per-model price override, USD per million tokens (`[prices."<glob>"]` in config.toml).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceConfig {
    pub input: f64,
    pub output: f64,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
}

/// A file that contributed to the config, with its SHA-256 (for digests and `template_info`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceFile {
    pub path: PathBuf,
    pub sha256: String,
}

/// The whole effective configuration: built-ins, backend files and config.toml merged.
/// Immutable once loaded; hot reload builds a new one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// The home directory it was loaded from.
    pub home: PathBuf,
    pub default_backend: Option<String>,
    /// Extra or overriding aliases (`fast = "groq:llama-3.3-70b-versatile"`).
    pub aliases: BTreeMap<String, String>,
    pub routes: Vec<RouteRule>,
    /// Every backend by name, built-ins included (a configured one replaces the built-in).
    pub backends: BTreeMap<String, BackendConfig>,
    pub limits: Limits,
    pub prices: BTreeMap<String, PriceConfig>,
    /// Files read, in order, with digests.
    pub files: Vec<SourceFile>,
}

// TEMPORARY until the config module lands.
mod tmp_load;
pub use tmp_load::*;
