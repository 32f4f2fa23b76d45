//! Configuration: the home directory, backend files, `config.toml`, built-in backends and the
//! `Secret` type. Produces one immutable [`Config`] snapshot.
//!
//! Owns: reading and atomically writing dario's files (0700 dir, 0600 files). Must not: do
//! network I/O, or ever print a credential.

mod backend_file;
mod cluster;
mod error;
mod home;
mod load;
mod providers;
mod references;
mod secret;
mod toml_file;
mod validate;

pub use backend_file::{
    lock_backends, parse_backend_json, read_backend_file, remove_backend, write_backend,
    BackendFile, BackendsLock, DeploymentFile, FileCredential,
};
pub use cluster::{ClusterConfig, TeamLimit};
pub use error::{display_path, ConfigError};
pub use home::{mode_of, Home};
pub use load::{load, load_with_env};
pub use providers::{known_provider, KnownProvider, KNOWN_PROVIDERS};
pub use references::{add_hint, check_references, reference_problems};
pub use secret::Secret;
pub use validate::{
    is_valid_name, missing_version_hint, normalize_base_url, validate_env_var, validate_name,
};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

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
    /// Extra headers sent upstream on every request. Serialised with values as `***` (a header
    /// may carry a credential, e.g. `api-key`).
    #[serde(serialize_with = "serialize_headers_redacted")]
    pub headers: Vec<(String, String)>,
    /// Several deployments make the backend a pool. Empty = one implicit deployment.
    pub deployments: Vec<DeploymentConfig>,
    /// Where mid-conversation system messages go on this backend when translated (OpenAI
    /// protocol only); `None` = inline, with a fallback to `user` when the upstream refuses.
    pub system_messages: Option<crate::translate::SystemMessages>,
    /// An OpenAI-protocol backend that also serves the Responses API (`/responses`): Responses
    /// requests go to it untranslated. OpenAI itself (api.openai.com) always does.
    pub responses: bool,
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

/// What dario tells clients about a model (`[models."<glob>"]` in config.toml), over the
/// built-in table: Claude Code reads these from `GET /v1/models` to size its context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ModelInfoConfig {
    pub display_name: Option<String>,
    /// The context window (input tokens).
    pub max_input_tokens: Option<u64>,
    /// The longest answer (output tokens).
    pub max_tokens: Option<u64>,
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
    /// Model facts by glob (`[models."<glob>"]`), over the built-in table.
    pub models: BTreeMap<String, ModelInfoConfig>,
    /// Files read, in order, with digests.
    pub files: Vec<SourceFile>,
    /// `[cluster]`: shared pool state on Redis; `None` = this instance alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
    /// `[history]` and `[dashboard]`: usage history on disk and the dashboard page.
    pub history: HistoryConfig,
}

/// `[history]` (usage history in `<home>/history.sqlite3`) and `[dashboard]` in `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryConfig {
    /// `[history] enabled` (default true): record every request on disk.
    pub enabled: bool,
    /// `[history] retention_days` (default 90): how long raw request records are kept.
    pub retention_days: u32,
    /// `[history] rollup_retention_days` (default 400): how long per-minute rollups are kept.
    pub rollup_retention_days: u32,
    /// `[dashboard] enabled` (default true): serve `/dashboard`.
    pub dashboard: bool,
    /// `[dashboard] allow_remote` (default false): serve the dashboard to non-loopback peers too.
    pub dashboard_remote: bool,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            enabled: true,
            retention_days: 90,
            rollup_retention_days: 400,
            dashboard: true,
            dashboard_remote: false,
        }
    }
}

fn serialize_headers_redacted<S: serde::Serializer>(
    headers: &[(String, String)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(headers.len()))?;
    for (k, _) in headers {
        map.serialize_entry(k, "***")?;
    }
    map.end()
}

impl BackendConfig {
    /// A backend built in code (tests, embedders): no models, headers or deployments, source
    /// `BuiltIn`. The base URL is used as given.
    pub fn new(
        name: impl Into<String>,
        protocol: Protocol,
        base_url: impl Into<String>,
        credential: Credential,
    ) -> BackendConfig {
        BackendConfig {
            name: name.into(),
            protocol,
            base_url: base_url.into(),
            credential,
            models: Vec::new(),
            headers: Vec::new(),
            deployments: Vec::new(),
            system_messages: None,
            responses: false,
            source: BackendSource::BuiltIn,
        }
    }

    /// `true` when this backend replaces nothing and came from no file.
    pub fn is_builtin(&self) -> bool {
        self.source == BackendSource::BuiltIn
    }
}

/// Names of the backends that exist without any configuration.
pub const BUILTIN_BACKENDS: [&str; 2] = ["anthropic", "openai"];

fn builtin_backend(
    name: &str,
    protocol: Protocol,
    base_url: &str,
    var: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> BackendConfig {
    let credential = match env(var).filter(|v| !v.is_empty()) {
        Some(v) => Credential::KeyEnv {
            var: var.to_string(),
            value: Some(Secret::new(v)),
        },
        None => Credential::Passthrough,
    };
    BackendConfig::new(name, protocol, base_url, credential)
}

impl Config {
    /// The configuration with no files: the built-in `anthropic` and `openai` backends (key from
    /// `ANTHROPIC_API_KEY` / `OPENAI_API_KEY` through `env` when set, else passthrough), default
    /// limits, no routes, aliases or prices.
    pub fn builtin(home: PathBuf, env: &dyn Fn(&str) -> Option<String>) -> Config {
        let mut backends = BTreeMap::new();
        backends.insert(
            "anthropic".to_string(),
            builtin_backend(
                "anthropic",
                Protocol::Anthropic,
                "https://api.anthropic.com",
                "ANTHROPIC_API_KEY",
                env,
            ),
        );
        backends.insert(
            "openai".to_string(),
            builtin_backend(
                "openai",
                Protocol::OpenAi,
                "https://api.openai.com/v1",
                "OPENAI_API_KEY",
                env,
            ),
        );
        Config {
            home,
            default_backend: None,
            aliases: BTreeMap::new(),
            routes: Vec::new(),
            backends,
            limits: Limits::default(),
            prices: BTreeMap::new(),
            models: BTreeMap::new(),
            files: Vec::new(),
            cluster: None,
            history: HistoryConfig::default(),
        }
    }

    /// Adds (or replaces) a backend; for building configs in code.
    pub fn with_backend(mut self, backend: BackendConfig) -> Config {
        self.backends.insert(backend.name.clone(), backend);
        self
    }

    pub fn backend(&self, name: &str) -> Option<&BackendConfig> {
        self.backends.get(name)
    }

    /// SHA-256 (hex) of the effective configuration without any secret: the serialised
    /// `Config` (keys and header values are `***`) plus each source file's redacted digest.
    /// The environment is left out (a `key_env` variable's value or presence, and so the
    /// credential choice of the built-in backends), so a proxy and an MCP server started from
    /// different shells agree. Equal digests = same configuration on disk.
    pub fn digest(&self) -> String {
        let mut value = serde_json::to_value(self).expect("Config serialises");
        if let Some(backends) = value.get_mut("backends").and_then(|b| b.as_object_mut()) {
            for b in backends.values_mut() {
                let builtin =
                    b.pointer("/source/kind").and_then(|k| k.as_str()) == Some("built_in");
                if builtin {
                    b["credential"] = serde_json::Value::String("built-in".into());
                }
            }
        }
        strip_env_values(&mut value);
        let bytes = serde_json::to_vec(&value).expect("Value serialises");
        hex::encode(Sha256::digest(&bytes))
    }

    /// Every credential value known to this configuration (stored keys and resolved
    /// `key_env` values, deployments included): what a redaction pass must scrub.
    pub fn secret_values(&self) -> Vec<&Secret> {
        let mut out: Vec<&Secret> = self
            .cluster
            .iter()
            .filter_map(|c| c.password.as_ref())
            .collect();
        for b in self.backends.values() {
            out.extend(b.credential.secret());
            for d in &b.deployments {
                if let Some(c) = &d.credential {
                    out.extend(c.secret());
                }
            }
        }
        out
    }
}

/// Removes `value` from every `{"kind":"key_env",…}` object.
fn strip_env_values(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if map.get("kind").and_then(|k| k.as_str()) == Some("key_env") {
                map.remove("value");
            }
            for child in map.values_mut() {
                strip_env_values(child);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_env_values),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialising_a_config_never_shows_secrets() {
        let mut b = BackendConfig::new(
            "x",
            Protocol::OpenAi,
            "http://h/v1",
            Credential::Key {
                key: Secret::new("sk-canary-1"),
            },
        );
        b.headers.push(("api-key".into(), "hdr-canary-2".into()));
        b.deployments.push(DeploymentConfig {
            alias: "east".into(),
            base_url: None,
            credential: Some(Credential::KeyEnv {
                var: "EAST".into(),
                value: Some(Secret::new("env-canary-3")),
            }),
        });
        let c = Config::builtin(PathBuf::from("/h"), &|_| None).with_backend(b);
        let json = serde_json::to_string(&c).unwrap();
        let debug = format!("{c:?}");
        for text in [&json, &debug] {
            assert!(
                !text.contains("canary-1") && !text.contains("canary-3"),
                "{text}"
            );
        }
        assert!(!json.contains("hdr-canary-2"));
        assert!(json.contains("\"api-key\":\"***\""));
        let secrets: Vec<_> = c
            .secret_values()
            .iter()
            .map(|s| s.expose().to_string())
            .collect();
        assert!(secrets.contains(&"sk-canary-1".to_string()));
        assert!(secrets.contains(&"env-canary-3".to_string()));
        assert_eq!(c.digest().len(), 64);
    }

    #[test]
    fn digest_follows_routing_relevant_changes() {
        let a = Config::builtin(PathBuf::from("/h"), &|_| None);
        let mut b = a.clone();
        assert_eq!(a.digest(), b.digest());
        b.aliases.insert("fast".into(), "groq:x".into());
        assert_ne!(a.digest(), b.digest());
        // The environment (ANTHROPIC_API_KEY set or not) does not change the digest.
        let c = Config::builtin(PathBuf::from("/h"), &|k| {
            (k == "OPENAI_API_KEY").then(|| "sk-x".to_string())
        });
        assert_eq!(a.digest(), c.digest());
        // A configured credential kind does.
        let with = |cred| {
            let mut b = BackendConfig::new("x", Protocol::OpenAi, "http://h/v1", cred);
            b.source = BackendSource::BackendFile(PathBuf::from("/h/backends/x.json"));
            a.clone().with_backend(b).digest()
        };
        assert_ne!(with(Credential::Passthrough), with(Credential::None));
        assert_eq!(
            with(Credential::KeyEnv {
                var: "V".into(),
                value: None
            }),
            with(Credential::KeyEnv {
                var: "V".into(),
                value: Some(Secret::new("s"))
            })
        );
    }
}
