//! `dario route <model>`: print the routing decision for a model name.
//!
//! Owns: rendering a [`RouteDecision`]. Must not: decide anything itself (the table does).

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::config::{self, display_path, BackendSource, Home};
use crate::routing::{RouteDecision, RouteTable, RuleKind};

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The model name a client would send.
    pub model: String,
    /// Apply a `--model` override as `dario proxy --model` would.
    #[arg(long = "override")]
    pub model_override: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: RouteArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve()?;
    let cfg = config::load(&home)?;
    let table = RouteTable::new(&cfg, args.model_override.as_deref());
    let decision = match table.resolve(&args.model) {
        Ok(d) => d,
        Err(e) => {
            if args.json {
                let out = json!({"model": args.model, "error": e.to_string()});
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                eprintln!("error: {e}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let backend = cfg.backend(&decision.backend);
    let base_url = backend.map(|b| b.base_url.clone()).unwrap_or_default();
    let source = backend
        .map(|b| match &b.source {
            BackendSource::BuiltIn => "built-in".to_string(),
            BackendSource::BackendFile(p) | BackendSource::ConfigToml(p) => display_path(p),
        })
        .unwrap_or_default();
    let info = crate::routing::model_info(&decision.upstream_model, &cfg.models);
    let info = if info.max_input_tokens.is_none() {
        crate::routing::model_info(&args.model, &cfg.models)
    } else {
        info
    };
    let claude_code = crate::routing::model_info::claude_code_hint(&args.model, &info);
    if args.json {
        let mut v = serde_json::to_value(&decision)?;
        v["model_info"] = serde_json::to_value(&info)?;
        v["claude_code_env"] = json!(crate::routing::model_info::claude_code_env(
            &args.model,
            &info
        )
        .into_iter()
        .collect::<std::collections::BTreeMap<_, _>>());
        v["base_url"] = json!(base_url);
        v["backend_source"] = json!(source);
        v["explanation"] = json!(rule_text(&decision, table.model_override(), &table));
        v["endpoints"] = json!(endpoints(backend)
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>());
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows: Vec<(&str, String)> = vec![
        ("model", decision.requested_model.clone()),
        (
            "backend",
            format!(
                "{}  ({}, {base_url}; {source})",
                decision.backend, decision.protocol
            ),
        ),
        ("upstream", decision.upstream_model.clone()),
        ("rule", rule_text(&decision, table.model_override(), &table)),
    ];
    if !decision.alias_chain.is_empty() {
        rows.push(("alias", decision.alias_chain.join(" → ")));
    }
    if let Some(beta) = &decision.anthropic_beta {
        rows.push(("beta", format!("anthropic-beta: {beta}")));
    }
    rows.push((
        "fallbacks",
        if decision.fallbacks.is_empty() {
            "none".to_string()
        } else {
            decision.fallbacks.join(" → ")
        },
    ));
    let limits = match (info.max_input_tokens, info.max_tokens) {
        (Some(ctx), Some(out)) => format!("context {ctx} tokens, output {out} tokens"),
        (Some(ctx), None) => format!("context {ctx} tokens"),
        _ => "unknown (set [models.\"…\"] in config.toml)".to_string(),
    };
    rows.push(("limits", limits));
    // Short keys: the key column keeps its width.
    for ((endpoint, how), key) in
        endpoints(backend)
            .into_iter()
            .zip(["messages", "chat", "responses"])
    {
        rows.push((key, format!("{endpoint}: {how}")));
    }
    let t = table.template();
    rows.push((
        "default",
        match &t.default_backend {
            Some(b) => format!("{b} ({}): models no rule claims go there", t.default_reason),
            None => format!(
                "none ({})",
                t.default_reason
                    .strip_prefix("none: ")
                    .unwrap_or(&t.default_reason)
            ),
        },
    ));
    rows.push(("claude", claude_code));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("{k:<width$}  {v}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What each inbound endpoint's request becomes on this backend.
fn endpoints(backend: Option<&config::BackendConfig>) -> Vec<(&'static str, String)> {
    use crate::protocol::Protocol;
    let Some(b) = backend else {
        return Vec::new();
    };
    let same = "passthrough (only `model` rewritten)".to_string();
    let (messages, chat) = match b.protocol {
        Protocol::Anthropic => (same.clone(), "translated to Messages".to_string()),
        _ => ("translated to Chat Completions".to_string(), same.clone()),
    };
    let responses = if crate::proxy::serves_responses(b) {
        same
    } else if b.protocol == Protocol::Anthropic {
        "translated (Responses -> Chat -> Messages)".to_string()
    } else {
        "translated to Chat Completions (mark the backend `responses = true` if it serves /responses)"
            .to_string()
    };
    vec![
        ("/v1/messages", messages),
        ("/v1/chat/completions", chat),
        ("/v1/responses", responses),
    ]
}

fn rule_text(d: &RouteDecision, forced: Option<&str>, table: &RouteTable) -> String {
    let main = format!(
        "{} · {}{}",
        d.rule.step(),
        d.rule.describe(),
        why(&d.rule, d, table)
    );
    match (&d.override_rule, forced) {
        (Some(inner), Some(m)) => format!(
            "{main} `{m}`, then {} · {}{}",
            inner.step(),
            inner.describe(),
            why(inner, d, table)
        ),
        _ => main,
    }
}

/// Why an implicit choice was made: the default backend's reason, or a generic prefix word
/// (`local:`, `compat:`) standing for the default OpenAI-compatible backend.
fn why(rule: &RuleKind, d: &RouteDecision, table: &RouteTable) -> String {
    match rule {
        RuleKind::Default => format!(" `{}`: {}", d.backend, table.template().default_reason),
        RuleKind::Prefix { prefix } if !prefix.eq_ignore_ascii_case(&d.backend) => format!(
            " (no backend is named `{prefix}`: `{prefix}:` means the default OpenAI-compatible \
             backend, `{}`)",
            d.backend
        ),
        _ => String::new(),
    }
}
