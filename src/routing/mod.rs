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
