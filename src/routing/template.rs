//! The whole routing table as data (the "template"): what `dario route`, `doctor` and the MCP
//! `template_info` tool show, including rules that can never fire (shadowed) and references
//! to backends that do not exist (problems).
//!
//! Owns: the table's shape and the shadowing analysis. Must not: change routing behaviour (it
//! only describes [`RouteTable`]).

use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::builtin::{ANTHROPIC_PREFIXES, BUILTIN_ALIASES, COMPAT_PREFIXES, FAMILIES};
use super::glob::{covers, matches};
use super::{DefaultBackend, RouteTable};

/// The routing table, in resolution order.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Template {
    /// `--model` override forcing every request, if any (rule 1).
    pub override_model: Option<String>,
    /// Rule 2: words accepted before the first colon.
    pub prefixes: Vec<PrefixInfo>,
    /// Rule 3: `[[routes]]` of config.toml, first match wins.
    pub routes: Vec<RouteInfo>,
    /// Rule 4: backends' own `models` globs, backends in name order.
    pub backend_globs: Vec<BackendGlob>,
    /// Rule 5: aliases (configured first, they override built-ins), re-routed after expansion.
    pub aliases: Vec<AliasInfo>,
    /// Rule 5: built-in model families.
    pub families: Vec<FamilyInfo>,
    /// Rule 6: where everything else goes.
    pub default_backend: Option<String>,
    /// Why that default (or why there is none).
    pub default_reason: String,
    /// Rules that can never fire because an earlier rule's glob covers them.
    pub shadowed: Vec<Shadowed>,
    /// References to backends that do not exist, aliases that cannot resolve.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PrefixInfo {
    /// The word before the colon (matched case-insensitively).
    pub prefix: String,
    /// The backend it selects now; `None` when it would fail (no such backend).
    pub backend: Option<String>,
    /// `backend` (a configured name), `anthropic` (claude/anthropic), `compat` (`local:` or
    /// `compat:`, the default OpenAI-compatible backend) or `provider_not_configured` (a known
    /// provider's name with no backend of that name: an error until it is added).
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RouteInfo {
    /// 1-based position in config.toml.
    pub number: usize,
    pub model: String,
    pub backend: String,
    pub upstream_model: Option<String>,
    pub fallbacks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct BackendGlob {
    pub backend: String,
    pub pattern: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AliasInfo {
    pub name: String,
    pub target: String,
    /// `config` or `built-in`.
    pub source: String,
    pub anthropic_beta: Option<String>,
    /// A built-in alias replaced by a configured one of the same name.
    pub overridden: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FamilyInfo {
    pub pattern: String,
    pub backend: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Shadowed {
    /// `route`, `backend_glob`, `alias`, `family` or `default`.
    pub kind: String,
    /// The rule that never fires.
    pub rule: String,
    /// The earlier rule that takes its names.
    pub by: String,
}

impl Template {
    /// SHA-256 (hex) of the table: equal digests, equal routing.
    pub fn digest(&self) -> String {
        let bytes = serde_json::to_vec(self).expect("Template serialises");
        hex::encode(Sha256::digest(&bytes))
    }
}

/// An earlier glob rule, for the shadowing analysis.
struct Earlier {
    pattern: String,
    label: String,
}

impl RouteTable {
    /// The whole table, with shadowed rules and dangling references.
    pub fn template(&self) -> Template {
        let mut prefixes: Vec<PrefixInfo> = self
            .backends
            .iter()
            .map(|b| PrefixInfo {
                prefix: b.name.clone(),
                backend: Some(b.name.clone()),
                kind: "backend".to_string(),
            })
            .collect();
        let taken = |w: &str| self.backends.iter().any(|b| b.name.eq_ignore_ascii_case(w));
        for w in ANTHROPIC_PREFIXES.iter().filter(|w| !taken(w)) {
            prefixes.push(PrefixInfo {
                prefix: w.to_string(),
                backend: self
                    .protocol_of("anthropic")
                    .map(|_| "anthropic".to_string()),
                kind: "anthropic".to_string(),
            });
        }
        for w in COMPAT_PREFIXES.iter().filter(|w| !taken(w)) {
            prefixes.push(PrefixInfo {
                prefix: w.to_string(),
                backend: self.default_compat_backend().map(str::to_string),
                kind: "compat".to_string(),
            });
        }
        for p in crate::config::KNOWN_PROVIDERS
            .iter()
            .filter(|p| !taken(p.name) && !ANTHROPIC_PREFIXES.contains(&p.name))
        {
            prefixes.push(PrefixInfo {
                prefix: p.name.to_string(),
                backend: None,
                kind: "provider_not_configured".to_string(),
            });
        }

        let routes: Vec<RouteInfo> = self
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| RouteInfo {
                number: i + 1,
                model: r.model.clone(),
                backend: r.backend.clone(),
                upstream_model: r.upstream_model.clone(),
                fallbacks: r.fallbacks.clone(),
            })
            .collect();
        let backend_globs: Vec<BackendGlob> = self
            .backends
            .iter()
            .flat_map(|b| {
                b.models.iter().map(|p| BackendGlob {
                    backend: b.name.clone(),
                    pattern: p.clone(),
                })
            })
            .collect();

        let mut aliases: Vec<AliasInfo> = self
            .aliases
            .iter()
            .map(|(name, target)| AliasInfo {
                name: name.clone(),
                target: target.clone(),
                source: "config".to_string(),
                anthropic_beta: None,
                overridden: false,
            })
            .collect();
        for a in BUILTIN_ALIASES {
            aliases.push(AliasInfo {
                name: a.name.to_string(),
                target: a.model.to_string(),
                source: "built-in".to_string(),
                anthropic_beta: a.anthropic_beta.map(str::to_string),
                overridden: self.aliases.contains_key(a.name),
            });
        }
        let families: Vec<FamilyInfo> = FAMILIES
            .iter()
            .map(|f| FamilyInfo {
                pattern: f.pattern.to_string(),
                backend: f.backend.to_string(),
            })
            .collect();

        let (default_backend, default_reason) = match self.default_backend() {
            DefaultBackend::Configured(n) => (
                Some(n.to_string()),
                "`default_backend` in config.toml".to_string(),
            ),
            DefaultBackend::Only(n) => (
                Some(n.to_string()),
                "the only OpenAI-compatible backend besides `openai`".to_string(),
            ),
            DefaultBackend::None { candidates } if candidates.is_empty() => (
                None,
                "none: no `default_backend` and no OpenAI-compatible backend besides `openai`"
                    .to_string(),
            ),
            DefaultBackend::None { candidates } => (
                None,
                format!(
                    "none: several OpenAI-compatible backends ({}) and no `default_backend`",
                    candidates.join(", ")
                ),
            ),
        };

        let shadowed = self.shadowed(&routes, &backend_globs, default_backend.is_some());
        let problems = self.problems();

        Template {
            override_model: self.override_model.clone(),
            prefixes,
            routes,
            backend_globs,
            aliases,
            families,
            default_backend,
            default_reason,
            shadowed,
            problems,
        }
    }

    /// SHA-256 (hex) of [`RouteTable::template`].
    pub fn digest(&self) -> String {
        self.template().digest()
    }

    fn shadowed(
        &self,
        routes: &[RouteInfo],
        globs: &[BackendGlob],
        has_default: bool,
    ) -> Vec<Shadowed> {
        let mut out = Vec::new();
        let mut earlier: Vec<Earlier> = Vec::new();
        let first_cover = |earlier: &[Earlier], p: &str| -> Option<String> {
            earlier
                .iter()
                .find(|e| covers(&e.pattern, p))
                .map(|e| e.label.clone())
        };
        for r in routes {
            let label = format!("[[routes]] #{} `{}` → {}", r.number, r.model, r.backend);
            if let Some(by) = first_cover(&earlier, &r.model) {
                out.push(Shadowed {
                    kind: "route".into(),
                    rule: label.clone(),
                    by,
                });
            }
            earlier.push(Earlier {
                pattern: r.model.clone(),
                label,
            });
        }
        for g in globs {
            let label = format!("backend `{}` models `{}`", g.backend, g.pattern);
            if let Some(by) = first_cover(&earlier, &g.pattern) {
                out.push(Shadowed {
                    kind: "backend_glob".into(),
                    rule: label.clone(),
                    by,
                });
            }
            earlier.push(Earlier {
                pattern: g.pattern.clone(),
                label,
            });
        }
        // Aliases are exact names, reached only if no glob above takes the name first.
        let mut alias_names: Vec<(&str, &str)> = self
            .aliases
            .keys()
            .map(|n| (n.as_str(), "config"))
            .collect();
        alias_names.extend(
            BUILTIN_ALIASES
                .iter()
                .filter(|a| !self.aliases.contains_key(a.name))
                .map(|a| (a.name, "built-in")),
        );
        for (name, source) in alias_names {
            if let Some(e) = earlier.iter().find(|e| matches(&e.pattern, name)) {
                out.push(Shadowed {
                    kind: "alias".into(),
                    rule: format!("{source} alias `{name}`"),
                    by: e.label.clone(),
                });
            }
        }
        for f in FAMILIES {
            let label = format!("family `{}` → {}", f.pattern, f.backend);
            if let Some(by) = first_cover(&earlier, f.pattern) {
                out.push(Shadowed {
                    kind: "family".into(),
                    rule: label,
                    by,
                });
            }
        }
        if has_default {
            if let Some(by) = first_cover(&earlier, "*") {
                out.push(Shadowed {
                    kind: "default".into(),
                    rule: "default backend".into(),
                    by,
                });
            }
        }
        out
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            if self.protocol_of(&r.backend).is_none() {
                out.push(format!(
                    "[[routes]] #{} `{}` names backend `{}`, which does not exist",
                    i + 1,
                    r.model,
                    r.backend
                ));
            }
            for f in r.fallbacks.iter().filter(|f| self.protocol_of(f).is_none()) {
                out.push(format!(
                    "[[routes]] #{} `{}` lists fallback `{f}`, which does not exist",
                    i + 1,
                    r.model
                ));
            }
        }
        if let Some(d) = &self.default_backend {
            if self.protocol_of(d).is_none() {
                out.push(format!("default_backend `{d}` does not exist"));
            }
        }
        for f in FAMILIES {
            if self.protocol_of(f.backend).is_none() {
                out.push(format!(
                    "family `{}` needs backend `{}`, which does not exist",
                    f.pattern, f.backend
                ));
            }
        }
        for name in self.aliases.keys() {
            if let Err(e) = self.resolve_name(name, name) {
                out.push(format!("alias `{name}`: {e}"));
            }
        }
        out
    }
}
