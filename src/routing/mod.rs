//! Routing: model name → [`RouteDecision`] { backend, upstream model, fallbacks } (SPEC §4).
//! Also the routing table ("template") shown by `dario route` and the MCP `template_info` tool.
//!
//! Owns: prefixes, aliases, route globs, model families, the default backend. Must not: touch
//! the network or the file system.
//!
//! Resolution order for a model name (first that applies wins):
//! 1. the `--model` override replaces the name (then 2–6 route the forced name);
//! 2. provider prefix `<backend>:<model>`;
//! 3. `[[routes]]` globs of config.toml;
//! 4. backends' own `models` globs;
//! 5. aliases (config.toml `[aliases]` first, then `opus`/`sonnet`/`haiku`/`opus1m`/`sonnet1m`;
//!    the expansion is routed again from step 2), then the families `claude-*` → anthropic and
//!    `gpt-*`, `o1*`, `o3*`, `o4*`, `chatgpt-*`, `text-embedding-*`, `davinci*` → openai;
//! 6. the default backend.

pub mod builtin;
pub mod glob;
pub mod model_info;
mod template;

pub use builtin::{
    builtin_alias, BuiltinAlias, Family, ANTHROPIC_PREFIXES, BUILTIN_ALIASES, COMPAT_PREFIXES,
    CONTEXT_1M_BETA, FAMILIES,
};
pub use model_info::{model_info, ModelInfo};
pub use template::{AliasInfo, BackendGlob, PrefixInfo, RouteInfo, Shadowed, Template};

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{Config, RouteRule};
use crate::protocol::Protocol;

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

impl RuleKind {
    /// One line for humans, e.g. ``prefix `groq:` `` or ``[[routes]] #2 `claude-*` ``.
    pub fn describe(&self) -> String {
        match self {
            RuleKind::Override => "--model override".to_string(),
            RuleKind::Prefix { prefix } => format!("provider prefix `{prefix}:`"),
            RuleKind::Route { index, pattern } => {
                format!("[[routes]] #{} `{pattern}` (config.toml)", index + 1)
            }
            RuleKind::BackendModels { pattern } => format!("backend models glob `{pattern}`"),
            RuleKind::Family { family } => format!("model family `{family}`"),
            RuleKind::Default => "default backend".to_string(),
        }
    }

    /// The SPEC §4 step number (1–6).
    pub fn step(&self) -> u8 {
        match self {
            RuleKind::Override => 1,
            RuleKind::Prefix { .. } => 2,
            RuleKind::Route { .. } => 3,
            RuleKind::BackendModels { .. } => 4,
            RuleKind::Family { .. } => 5,
            RuleKind::Default => 6,
        }
    }
}

/// The outcome of routing one model name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteDecision {
    /// The model name the client sent.
    pub requested_model: String,
    /// Backend name (a key of `Config::backends`).
    pub backend: String,
    /// The backend's protocol.
    pub protocol: Protocol,
    /// The model name to send upstream (prefix stripped, alias expanded, route rename applied).
    pub upstream_model: String,
    /// Backends to try, in order, after the primary one fails retryably.
    pub fallbacks: Vec<String>,
    /// Alias expanded on the way, if any (`sonnet` → `claude-sonnet-4-5`): the first alias.
    pub alias: Option<String>,
    /// Every name the model went through when aliases expanded, ending with the name that was
    /// finally routed (`["best", "opus", "claude-opus-4-5"]`); empty when no alias applied.
    pub alias_chain: Vec<String>,
    /// An `anthropic-beta` value the proxy must add (`opus1m`/`sonnet1m`); only set when the
    /// backend speaks the Anthropic protocol.
    pub anthropic_beta: Option<String>,
    pub rule: RuleKind,
    /// When `rule` is [`RuleKind::Override`]: the rule that then routed the forced model.
    pub override_rule: Option<RuleKind>,
}

/// Why a model name could not be routed. Every message names the model and the next step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error(
        "no route for model `{model}`: no rule claims it and there is no default backend{hint}. \
         Add a route: `dario backend add <name> --model '{model}'`, or a `[[routes]]` entry \
         (model = \"{model}\", backend = \"<name>\") or `default_backend = \"<name>\"` in \
         config.toml"
    )]
    NoRoute { model: String, hint: String },

    #[error(
        "model `{model}` routes to backend `{backend}` ({origin}), but no backend `{backend}` \
         exists: add it with `dario backend add {backend} …` or fix {origin}"
    )]
    UnknownBackend {
        model: String,
        backend: String,
        origin: String,
    },

    #[error(
        "model `{model}` uses the prefix `{prefix}:`, but no backend `{prefix}` exists and there \
         is no default OpenAI-compatible backend: add one with `dario backend add {prefix} \
         --base-url <url>` (or set `default_backend` in config.toml)"
    )]
    NoCompatBackend { model: String, prefix: String },

    #[error(
        "model `{model}` asks for backend `{prefix}` (the prefix `{prefix}:`), but no backend \
         `{prefix}` is configured (configured: {configured}): {hint}, or use one of those as the \
         prefix"
    )]
    UnknownPrefixBackend {
        model: String,
        prefix: String,
        configured: String,
        hint: String,
    },

    #[error("model name is empty{after}: send a model such as `claude-sonnet-5-5` or `groq:llama-3.3-70b-versatile`")]
    EmptyModel { after: String },

    #[error("aliases loop: {} — fix [aliases] in config.toml", chain.join(" → "))]
    AliasLoop { chain: Vec<String> },
}

impl RouteError {
    /// The model name the error is about, if any.
    pub fn model(&self) -> Option<&str> {
        match self {
            RouteError::NoRoute { model, .. }
            | RouteError::UnknownBackend { model, .. }
            | RouteError::NoCompatBackend { model, .. }
            | RouteError::UnknownPrefixBackend { model, .. } => Some(model),
            RouteError::EmptyModel { .. } => None,
            RouteError::AliasLoop { chain } => chain.first().map(String::as_str),
        }
    }
}

/// Most alias expansions one resolution may go through.
const MAX_ALIAS_DEPTH: usize = 8;

#[derive(Debug, Clone)]
struct BackendEntry {
    name: String,
    protocol: Protocol,
    models: Vec<String>,
}

/// The routing table built from one [`Config`] snapshot. Cheap to query; rebuild it when the
/// config changes.
#[derive(Debug, Clone)]
pub struct RouteTable {
    override_model: Option<String>,
    /// Sorted by name (the order of rule 4).
    backends: Vec<BackendEntry>,
    routes: Vec<RouteRule>,
    aliases: BTreeMap<String, String>,
    default_backend: Option<String>,
}

/// Result of one pass of rules 2–6 over a name.
enum Step {
    Decided {
        backend: String,
        upstream: String,
        fallbacks: Vec<String>,
        rule: RuleKind,
        /// A built-in alias expanded inside a prefix (`claude:opus`).
        inner_alias: Option<&'static BuiltinAlias>,
    },
    Alias {
        target: String,
        beta: Option<&'static str>,
    },
}

impl RouteTable {
    pub fn new(config: &Config, model_override: Option<&str>) -> RouteTable {
        RouteTable {
            override_model: model_override
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_string),
            backends: config
                .backends
                .values()
                .map(|b| BackendEntry {
                    name: b.name.clone(),
                    protocol: b.protocol,
                    models: b.models.clone(),
                })
                .collect(),
            routes: config.routes.clone(),
            aliases: config.aliases.clone(),
            default_backend: config.default_backend.clone(),
        }
    }

    /// The `--model` override, if any.
    pub fn model_override(&self) -> Option<&str> {
        self.override_model.as_deref()
    }

    /// Routes a model name (SPEC §4).
    pub fn resolve(&self, model: &str) -> Result<RouteDecision, RouteError> {
        match &self.override_model {
            Some(forced) => {
                let mut d = self.resolve_name(forced, model)?;
                d.override_rule = Some(std::mem::replace(&mut d.rule, RuleKind::Override));
                Ok(d)
            }
            None => self.resolve_name(model, model),
        }
    }

    fn resolve_name(&self, name: &str, requested: &str) -> Result<RouteDecision, RouteError> {
        let mut chain: Vec<String> = Vec::new();
        let mut beta: Option<&'static str> = None;
        let mut current = name.to_string();
        loop {
            match self.step(&current)? {
                Step::Alias { target, beta: b } => {
                    chain.push(std::mem::take(&mut current));
                    if chain.contains(&target) || chain.len() >= MAX_ALIAS_DEPTH {
                        chain.push(target);
                        return Err(RouteError::AliasLoop { chain });
                    }
                    beta = beta.or(b);
                    current = target;
                }
                Step::Decided {
                    backend,
                    upstream,
                    fallbacks,
                    rule,
                    inner_alias,
                } => {
                    if let Some(a) = inner_alias {
                        chain.push(current.clone());
                        beta = beta.or(a.anthropic_beta);
                    }
                    let protocol = self.protocol_of(&backend).expect("decided backends exist");
                    if !chain.is_empty() {
                        chain.push(upstream.clone());
                    }
                    let alias = chain.first().map(|first| match inner_alias {
                        // `claude:opus`: the alias is the part after the prefix.
                        Some(a) if chain.len() == 2 => a.name.to_string(),
                        _ => first.clone(),
                    });
                    return Ok(RouteDecision {
                        requested_model: requested.to_string(),
                        backend,
                        protocol,
                        upstream_model: upstream,
                        fallbacks,
                        alias,
                        alias_chain: chain,
                        anthropic_beta: beta
                            .filter(|_| protocol == Protocol::Anthropic)
                            .map(str::to_string),
                        rule,
                        override_rule: None,
                    });
                }
            }
        }
    }

    /// One pass of rules 2–6 over `model`.
    fn step(&self, model: &str) -> Result<Step, RouteError> {
        if model.trim().is_empty() {
            return Err(RouteError::EmptyModel {
                after: String::new(),
            });
        }

        // 2. Provider prefix.
        if let Some((left, rest)) = model.split_once(':') {
            if let Some(backend) = self.prefix_target(left, model)? {
                if rest.is_empty() {
                    return Err(RouteError::EmptyModel {
                        after: format!(" after the prefix `{left}:`"),
                    });
                }
                let mut upstream = rest.to_string();
                let mut inner_alias = None;
                if self.protocol_of(&backend) == Some(Protocol::Anthropic) {
                    if let Some(a) = builtin_alias(rest) {
                        upstream = a.model.to_string();
                        inner_alias = Some(a);
                    }
                }
                return Ok(Step::Decided {
                    backend,
                    upstream,
                    fallbacks: Vec::new(),
                    rule: RuleKind::Prefix {
                        prefix: left.to_string(),
                    },
                    inner_alias,
                });
            }
        }

        // 3. Explicit routes.
        for (index, r) in self.routes.iter().enumerate() {
            if glob::matches(&r.model, model) {
                let origin = || format!("[[routes]] #{} in config.toml", index + 1);
                self.require(&r.backend, model, origin())?;
                for f in &r.fallbacks {
                    self.require(f, model, format!("the fallbacks of {}", origin()))?;
                }
                return Ok(Step::Decided {
                    backend: r.backend.clone(),
                    upstream: r
                        .upstream_model
                        .clone()
                        .unwrap_or_else(|| model.to_string()),
                    fallbacks: r.fallbacks.clone(),
                    rule: RuleKind::Route {
                        index,
                        pattern: r.model.clone(),
                    },
                    inner_alias: None,
                });
            }
        }

        // 4. Backends' own model globs.
        for b in &self.backends {
            if let Some(p) = b.models.iter().find(|p| glob::matches(p, model)) {
                return Ok(Step::Decided {
                    backend: b.name.clone(),
                    upstream: model.to_string(),
                    fallbacks: Vec::new(),
                    rule: RuleKind::BackendModels { pattern: p.clone() },
                    inner_alias: None,
                });
            }
        }

        // 5. Aliases (configured ones override built-ins), then families.
        if let Some(target) = self.aliases.get(model) {
            return Ok(Step::Alias {
                target: target.clone(),
                beta: None,
            });
        }
        if let Some(a) = builtin_alias(model) {
            return Ok(Step::Alias {
                target: a.model.to_string(),
                beta: a.anthropic_beta,
            });
        }
        if let Some(f) = FAMILIES.iter().find(|f| glob::matches(f.pattern, model)) {
            self.require(
                f.backend,
                model,
                format!("the built-in family `{}`", f.pattern),
            )?;
            return Ok(Step::Decided {
                backend: f.backend.to_string(),
                upstream: model.to_string(),
                fallbacks: Vec::new(),
                rule: RuleKind::Family {
                    family: f.pattern.to_string(),
                },
                inner_alias: None,
            });
        }

        // 6. Default backend.
        match self.default_backend() {
            DefaultBackend::Configured(name) => {
                self.require(name, model, "`default_backend` in config.toml".to_string())?;
                Ok(self.default_step(name, model))
            }
            DefaultBackend::Only(name) => Ok(self.default_step(name, model)),
            DefaultBackend::None { candidates } => Err(RouteError::NoRoute {
                model: model.to_string(),
                hint: if candidates.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (several OpenAI-compatible backends exist: {}; choose one with \
                         `default_backend`)",
                        candidates.join(", ")
                    )
                },
            }),
        }
    }

    fn default_step(&self, name: &str, model: &str) -> Step {
        Step::Decided {
            backend: name.to_string(),
            upstream: model.to_string(),
            fallbacks: Vec::new(),
            rule: RuleKind::Default,
            inner_alias: None,
        }
    }

    /// The backend a prefix word names: a configured backend (exact name first, then
    /// case-insensitive), the Anthropic words, or a compat word → the OpenAI-protocol backend of
    /// that name or the default compat backend. `None` = not a prefix.
    fn prefix_target(&self, left: &str, model: &str) -> Result<Option<String>, RouteError> {
        if left.is_empty() {
            return Ok(None);
        }
        if let Some(b) = self.backends.iter().find(|b| b.name == left).or_else(|| {
            self.backends
                .iter()
                .find(|b| b.name.eq_ignore_ascii_case(left))
        }) {
            return Ok(Some(b.name.clone()));
        }
        let lower = left.to_ascii_lowercase();
        if ANTHROPIC_PREFIXES.contains(&lower.as_str()) {
            self.require("anthropic", model, format!("the prefix `{left}:`"))?;
            return Ok(Some("anthropic".to_string()));
        }
        if COMPAT_PREFIXES.contains(&lower.as_str()) {
            return match self.default_compat_backend() {
                Some(name) => Ok(Some(name.to_string())),
                None => Err(RouteError::NoCompatBackend {
                    model: model.to_string(),
                    prefix: lower,
                }),
            };
        }
        if crate::config::known_provider(&lower).is_some() {
            return Err(RouteError::UnknownPrefixBackend {
                model: model.to_string(),
                prefix: lower.clone(),
                configured: self
                    .backends
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                hint: crate::config::add_hint(&lower),
            });
        }
        Ok(None)
    }

    fn require(&self, backend: &str, model: &str, origin: String) -> Result<(), RouteError> {
        if self.protocol_of(backend).is_some() {
            Ok(())
        } else {
            Err(RouteError::UnknownBackend {
                model: model.to_string(),
                backend: backend.to_string(),
                origin,
            })
        }
    }

    fn protocol_of(&self, backend: &str) -> Option<Protocol> {
        self.backends
            .iter()
            .find(|b| b.name == backend)
            .map(|b| b.protocol)
    }

    /// OpenAI-protocol backends other than `openai` (candidates for the implicit default).
    fn compat_backends(&self) -> Vec<&str> {
        self.backends
            .iter()
            .filter(|b| b.protocol == Protocol::OpenAi && b.name != "openai")
            .map(|b| b.name.as_str())
            .collect()
    }

    fn default_backend(&self) -> DefaultBackend<'_> {
        if let Some(name) = &self.default_backend {
            return DefaultBackend::Configured(name);
        }
        let compat = self.compat_backends();
        match compat.as_slice() {
            [only] => DefaultBackend::Only(only),
            _ => DefaultBackend::None { candidates: compat },
        }
    }

    /// The backend a compat prefix word falls back to: `default_backend` when it exists and
    /// speaks OpenAI, else the single OpenAI-protocol backend other than `openai`.
    fn default_compat_backend(&self) -> Option<&str> {
        if let Some(name) = &self.default_backend {
            if self.protocol_of(name) == Some(Protocol::OpenAi) {
                return Some(name);
            }
        }
        match self.compat_backends().as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }
}

enum DefaultBackend<'a> {
    Configured(&'a str),
    Only(&'a str),
    None { candidates: Vec<&'a str> },
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

#[cfg(test)]
mod tests;
