//! Routing: model name → [`RouteDecision`] { backend, upstream model, fallbacks } (SPEC §4).
//! Also the routing table ("template") shown by `dario route` and the MCP `template_info` tool.
//!
//! Owns: prefixes, aliases, route globs, model families, the default backend. Must not: touch
//! the network or the file system.

use serde::Serialize;

/// Which SPEC §4 rule decided a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum RuleKind {
    /// `--model` on the command line.
    Override,
    /// `<backend>:<model>`.
    Prefix { prefix: String },
    /// A `[[routes]]` entry of config.toml (index in the list, glob).
    Route { index: usize, pattern: String },
    /// A backend's own `models` glob.
    BackendModels { pattern: String },
    /// Built-in model families (`claude-*`, `gpt-*`, aliases such as `sonnet`).
    Family { family: String },
    /// Nothing else claimed it: the default backend.
    Default,
}

/// The outcome of routing one model name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteDecision {
    /// The model name the client sent.
    pub requested_model: String,
    /// Backend name (a key of `Config::backends`).
    pub backend: String,
    /// The model name to send upstream (prefix stripped, alias expanded, route rename applied).
    pub upstream_model: String,
    /// Backends to try, in order, after the primary one fails retryably.
    pub fallbacks: Vec<String>,
    /// Alias expanded on the way, if any (`sonnet` → `claude-sonnet-4-5`).
    pub alias: Option<String>,
    pub rule: RuleKind,
}

// ---- TEMPORARY minimal table so the proxy compiles before the routing module lands. ----
use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("no backend serves model `{model}`: add one with `dario backend add <name> --model '<glob>'` or a [[routes]] entry in config.toml")]
    NoRoute { model: String },
}

#[derive(Debug, Clone)]
pub struct RouteTable {
    backends: Vec<(String, crate::protocol::Protocol)>,
}

impl RouteTable {
    pub fn new(config: &Config, _model_override: Option<&str>) -> Self {
        RouteTable {
            backends: config
                .backends
                .values()
                .map(|b| (b.name.clone(), b.protocol))
                .collect(),
        }
    }

    pub fn resolve(&self, model: &str) -> Result<RouteDecision, RouteError> {
        let (backend, upstream) = match model.split_once(':') {
            Some((b, m)) if self.backends.iter().any(|(n, _)| n == b) => (b.to_string(), m),
            _ if model.starts_with("claude") => ("anthropic".to_string(), model),
            _ if model.starts_with("gpt") => ("openai".to_string(), model),
            _ => {
                return Err(RouteError::NoRoute {
                    model: model.to_string(),
                })
            }
        };
        Ok(RouteDecision {
            requested_model: model.into(),
            backend,
            upstream_model: upstream.into(),
            fallbacks: vec![],
            alias: None,
            rule: RuleKind::Default,
        })
    }
}

/// Model ids dario knows to be routable without configuration (for `GET /v1/models`), with the
/// backend that serves them. Aliases (`sonnet`…) are listed by the route table itself.
pub const KNOWN_MODELS: &[(&str, &str)] = &[
    ("claude-opus-4-5", "anthropic"),
    ("claude-sonnet-4-5", "anthropic"),
    ("claude-haiku-4-5", "anthropic"),
    ("opus", "anthropic"),
    ("sonnet", "anthropic"),
    ("haiku", "anthropic"),
    ("gpt-5", "openai"),
    ("gpt-5-mini", "openai"),
    ("gpt-4.1", "openai"),
    ("gpt-4o", "openai"),
    ("gpt-4o-mini", "openai"),
    ("o3", "openai"),
    ("o4-mini", "openai"),
];
