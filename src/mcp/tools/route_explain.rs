//! `route_explain`: which rule routes a model name where, and why.
//!
//! Owns: this tool's output type, how it is built from its inputs, and its text. Must not: do
//! I/O (the server gathers inputs through `server::run`).

use super::*;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RouteExplainOut {
    /// The model name the client would send.
    pub requested_model: String,
    /// Backend the request goes to.
    pub backend: String,
    /// That backend's protocol: dario translates when the client speaks the other one.
    pub protocol: String,
    /// The backend's base URL (without credentials).
    pub base_url: Option<String>,
    /// `built-in`, or the file that defines the backend.
    pub backend_source: Option<String>,
    /// The model name sent upstream.
    pub upstream_model: String,
    /// Backends tried next, in order, on a retryable failure.
    pub fallbacks: Vec<String>,
    /// Alias expanded on the way, if any.
    pub alias: Option<String>,
    /// Every name the model went through while aliases expanded.
    pub alias_chain: Vec<String>,
    /// `anthropic-beta` value the proxy adds (`opus1m`, `sonnet1m`).
    pub anthropic_beta: Option<String>,
    /// Which SPEC §4 rule decided: `{"rule": "prefix" | "route" | "backend_models" | "family" | "default" | "override", …}`.
    pub rule: Value,
    /// The SPEC §4 step (1-6) of that rule.
    pub step: u8,
    /// The rule as `dario route` prints it (`2 · provider prefix \`groq:\``).
    pub rule_text: String,
    /// One sentence explaining the decision.
    pub explanation: String,
}

pub fn route_explain(cfg: &Config, d: &RouteDecision) -> RouteExplainOut {
    let rule_text = match &d.override_rule {
        Some(inner) => format!(
            "{} · {}, then {} · {}",
            d.rule.step(),
            d.rule.describe(),
            inner.step(),
            inner.describe()
        ),
        None => format!("{} · {}", d.rule.step(), d.rule.describe()),
    };
    let backend = cfg.backends.get(&d.backend);
    let mut explanation = format!(
        "`{}` goes to backend `{}` ({}) as `{}`, decided by {}",
        d.requested_model,
        d.backend,
        d.protocol,
        d.upstream_model,
        d.rule.describe()
    );
    if !d.alias_chain.is_empty() {
        explanation.push_str(&format!(" (aliases: {})", d.alias_chain.join(" → ")));
    }
    if d.fallbacks.is_empty() {
        explanation.push_str("; no fallbacks.");
    } else {
        explanation.push_str(&format!("; fallbacks: {}.", d.fallbacks.join(" → ")));
    }
    RouteExplainOut {
        requested_model: d.requested_model.clone(),
        backend: d.backend.clone(),
        protocol: d.protocol.to_string(),
        base_url: backend.map(|b| crate::safe_url::display(&b.base_url)),
        backend_source: backend.map(|b| source_label(&b.source)),
        upstream_model: d.upstream_model.clone(),
        fallbacks: d.fallbacks.clone(),
        alias: d.alias.clone(),
        alias_chain: d.alias_chain.clone(),
        anthropic_beta: d.anthropic_beta.clone(),
        rule: serde_json::to_value(&d.rule).unwrap_or(Value::Null),
        step: d.rule.step(),
        rule_text,
        explanation,
    }
}

impl Rendered for RouteExplainOut {
    fn render(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            ("model", self.requested_model.clone()),
            (
                "backend",
                format!(
                    "{}  ({}, {}; {})",
                    self.backend,
                    self.protocol,
                    self.base_url.as_deref().unwrap_or("?"),
                    self.backend_source.as_deref().unwrap_or("?")
                ),
            ),
            ("upstream", self.upstream_model.clone()),
            ("rule", self.rule_text.clone()),
        ];
        if !self.alias_chain.is_empty() {
            rows.push(("alias", self.alias_chain.join(" → ")));
        }
        if let Some(beta) = &self.anthropic_beta {
            rows.push(("beta", format!("anthropic-beta {beta}")));
        }
        rows.push((
            "fallbacks",
            if self.fallbacks.is_empty() {
                "none".to_string()
            } else {
                self.fallbacks.join(" → ")
            },
        ));
        let mut out = format!("{}\n\n", self.explanation);
        for (k, v) in rows {
            out.push_str(&format!("{k:<9}  {v}\n"));
        }
        out
    }
}
