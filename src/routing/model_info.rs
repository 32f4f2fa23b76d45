//! What dario knows about a model: its display name, context window (`max_input_tokens`) and
//! longest answer (`max_tokens`). Claude Code reads these from `GET /v1/models` (gateway model
//! discovery) and, for a model it does not know, needs `CLAUDE_CODE_MAX_CONTEXT_TOKENS` set to
//! size its context; `dario route`, `doctor` and `dario claude` say or set that value.
//!
//! Owns: the built-in table of well-known models and its merge with `[models."<glob>"]` from
//! config.toml (the config wins, field by field). Must not: touch the network (an upstream's own
//! model list is the proxy's business).

use std::collections::BTreeMap;

use serde::Serialize;

use super::glob;
use crate::config::ModelInfoConfig;

/// The facts dario has for one model; every field may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    pub display_name: Option<String>,
    pub max_input_tokens: Option<u64>,
    pub max_tokens: Option<u64>,
}

/// One row of the built-in table: a glob over model ids (matched after any `provider:` prefix
/// and `vendor/` path are removed), the context window and the output limit.
struct Known {
    pattern: &'static str,
    max_input_tokens: u64,
    max_tokens: u64,
}

/// Well-known models, most specific pattern first. Figures are the providers' published limits
/// for their default tier (long-context betas not included).
const KNOWN: &[Known] = &[
    // dario's built-in aliases (`opus1m`/`sonnet1m` carry the 1M-context beta).
    k("*1m", 1_000_000, 64_000),
    k("opus", 200_000, 64_000),
    k("sonnet", 200_000, 64_000),
    k("haiku", 200_000, 64_000),
    // Anthropic.
    k("claude-*-5*", 200_000, 64_000),
    k("claude-*-4-6*", 200_000, 64_000),
    k("claude-*-4-5*", 200_000, 64_000),
    k("claude-opus-4-1*", 200_000, 32_000),
    k("claude-opus-4*", 200_000, 32_000),
    k("claude-sonnet-4*", 200_000, 64_000),
    k("claude-3-7-sonnet*", 200_000, 64_000),
    k("claude-3-5-haiku*", 200_000, 8_192),
    k("claude-3-5-sonnet*", 200_000, 8_192),
    k("claude-3-*", 200_000, 4_096),
    k("claude-*", 200_000, 32_000),
    // OpenAI.
    k("gpt-5*", 272_000, 128_000),
    k("gpt-4.1*", 1_047_576, 32_768),
    k("gpt-4o*", 128_000, 16_384),
    k("chatgpt-4o*", 128_000, 16_384),
    k("o1*", 200_000, 100_000),
    k("o3*", 200_000, 100_000),
    k("o4*", 200_000, 100_000),
    // Open-weight and other hosted families, as Groq, OpenRouter, DeepSeek and local servers
    // serve them.
    k("gpt-oss-*", 131_072, 32_768),
    k("llama-3.3-70b*", 131_072, 32_768),
    k("llama-3.1-8b*", 131_072, 8_192),
    k("llama-4-*", 131_072, 8_192),
    k("meta-llama-*", 131_072, 8_192),
    k("llama*", 131_072, 8_192),
    k("deepseek-reasoner*", 128_000, 64_000),
    k("deepseek-chat*", 128_000, 8_192),
    k("deepseek-*", 128_000, 8_192),
    k("qwen3-coder*", 262_144, 65_536),
    k("qwen3*", 131_072, 32_768),
    k("qwen2.5-coder*", 32_768, 8_192),
    k("qwen*", 32_768, 8_192),
    k("kimi-k2*", 262_144, 16_384),
    k("moonshotai-kimi-k2*", 262_144, 16_384),
    k("glm-4.6*", 200_000, 128_000),
    k("glm-4.5*", 131_072, 98_304),
    k("gemini-2.5-*", 1_048_576, 65_536),
    k("gemini-3*", 1_048_576, 65_536),
    k("grok-4*", 256_000, 64_000),
    k("grok-code-fast*", 256_000, 64_000),
    k("mistral-large*", 131_072, 32_768),
    k("codestral*", 256_000, 32_768),
    k("devstral*", 131_072, 32_768),
];

const fn k(pattern: &'static str, max_input_tokens: u64, max_tokens: u64) -> Known {
    Known {
        pattern,
        max_input_tokens,
        max_tokens,
    }
}

/// The bare model id a table is keyed by: `groq:llama-3.3-70b` → `llama-3.3-70b`,
/// `meta-llama/Llama-3.3-70B-Instruct` → `llama-3.3-70b-instruct`.
fn bare(model: &str) -> String {
    let after_prefix = model.split_once(':').map(|(_, m)| m).unwrap_or(model);
    let last = after_prefix.rsplit('/').next().unwrap_or(after_prefix);
    last.to_ascii_lowercase()
}

/// What dario knows about `model` (the name a client sends, or an upstream id): the built-in
/// row, then every matching `[models."<glob>"]` entry over it (exact names before globs).
pub fn model_info(model: &str, configured: &BTreeMap<String, ModelInfoConfig>) -> ModelInfo {
    let id = bare(model);
    let mut info = ModelInfo::default();
    if let Some(row) = KNOWN.iter().find(|r| glob::matches(r.pattern, &id)) {
        info.max_input_tokens = Some(row.max_input_tokens);
        info.max_tokens = Some(row.max_tokens);
    }
    // Globs first, then exact names, so the most specific entry is applied last and wins.
    let mut entries: Vec<(&String, &ModelInfoConfig)> = configured
        .iter()
        .filter(|(pattern, _)| {
            glob::matches(pattern, model) || glob::matches(&pattern.to_ascii_lowercase(), &id)
        })
        .collect();
    entries.sort_by_key(|(pattern, _)| !pattern.contains(['*', '?']));
    for (_, c) in entries {
        if let Some(d) = &c.display_name {
            info.display_name = Some(d.clone());
        }
        if let Some(n) = c.max_input_tokens {
            info.max_input_tokens = Some(n);
        }
        if let Some(n) = c.max_tokens {
            info.max_tokens = Some(n);
        }
    }
    if info.display_name.is_none() {
        info.display_name = Some(display_name(model));
    }
    info
}

/// Does Claude Code know this model's limits by itself? (Its own model ids and dario's
/// built-in Anthropic aliases.)
pub fn claude_code_knows(model: &str) -> bool {
    let id = bare(model);
    id.starts_with("claude") || super::builtin::builtin_alias(&id).is_some()
}

/// The environment Claude Code needs to size its context for `model`:
/// `CLAUDE_CODE_MAX_CONTEXT_TOKENS` and `CLAUDE_CODE_MAX_OUTPUT_TOKENS`, for models Claude Code
/// does not know and dario does. Empty for Claude models (and for models nobody knows).
pub fn claude_code_env(model: &str, info: &ModelInfo) -> Vec<(&'static str, u64)> {
    if claude_code_knows(model) {
        return Vec::new();
    }
    let mut env = Vec::new();
    if let Some(n) = info.max_input_tokens {
        env.push(("CLAUDE_CODE_MAX_CONTEXT_TOKENS", n));
    }
    if let Some(n) = info.max_tokens {
        env.push(("CLAUDE_CODE_MAX_OUTPUT_TOKENS", n));
    }
    env
}

/// One line for humans on what Claude Code needs for `model` (for `dario route` and `doctor`).
pub fn claude_code_hint(model: &str, info: &ModelInfo) -> String {
    if claude_code_knows(model) {
        return "nothing to set (Claude Code knows this model)".to_string();
    }
    let env = claude_code_env(model, info);
    if env
        .iter()
        .any(|(k, _)| *k == "CLAUDE_CODE_MAX_CONTEXT_TOKENS")
    {
        let vars: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "{} (or run `dario claude --model {model}`, which sets them)",
            vars.join(" ")
        )
    } else {
        format!(
            "context window unknown: add [models.\"{model}\"] max_input_tokens = … to config.toml, then use `dario claude --model {model}` (or set CLAUDE_CODE_MAX_CONTEXT_TOKENS)"
        )
    }
}

/// A readable name for an id: `claude-sonnet-5-5` → `Claude Sonnet 5.5`,
/// `groq:llama-3.3-70b-versatile` → `Llama 3.3 70b Versatile (groq)`.
pub fn display_name(model: &str) -> String {
    let (prefix, id) = match model.split_once(':') {
        Some((p, m)) => (Some(p), m),
        None => (None, model),
    };
    let id = id.rsplit('/').next().unwrap_or(id);
    let mut words: Vec<String> = Vec::new();
    for part in id.split(['-', '_']).filter(|p| !p.is_empty()) {
        // Consecutive one- or two-digit numbers are a version: `5-5` → `5.5`.
        let is_small_number = part.len() <= 2 && part.bytes().all(|b| b.is_ascii_digit());
        if let Some(last) = words.last_mut() {
            let last_is_version = last
                .split('.')
                .all(|p| !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()));
            if is_small_number && last_is_version && !last.contains('.') {
                last.push('.');
                last.push_str(part);
                continue;
            }
        }
        let word = match part {
            "gpt" | "oss" | "glm" => part.to_ascii_uppercase(),
            _ => {
                let mut chars = part.chars();
                match chars.next() {
                    Some(c) if c.is_ascii_lowercase() => {
                        c.to_ascii_uppercase().to_string() + chars.as_str()
                    }
                    _ => part.to_string(),
                }
            }
        };
        words.push(word);
    }
    let name = words.join(" ");
    match prefix {
        Some(p) => format!("{name} ({p})"),
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_models_have_limits() {
        let none = BTreeMap::new();
        let c = model_info("claude-sonnet-5-5", &none);
        assert_eq!(c.max_input_tokens, Some(200_000));
        assert_eq!(c.max_tokens, Some(64_000));
        assert_eq!(c.display_name.as_deref(), Some("Claude Sonnet 5.5"));
        let g = model_info("groq:llama-3.3-70b-versatile", &none);
        assert_eq!(g.max_input_tokens, Some(131_072));
        let o = model_info("openrouter:deepseek/deepseek-chat", &none);
        assert_eq!(o.max_input_tokens, Some(128_000));
        let unknown = model_info("my-finetune", &none);
        assert_eq!(unknown.max_input_tokens, None);
        assert_eq!(unknown.display_name.as_deref(), Some("My Finetune"));
    }

    #[test]
    fn config_overrides_field_by_field_most_specific_last() {
        let mut cfg = BTreeMap::new();
        cfg.insert(
            "llama-*".to_string(),
            ModelInfoConfig {
                display_name: None,
                max_input_tokens: Some(8_192),
                max_tokens: None,
            },
        );
        cfg.insert(
            "llama-3.3-70b".to_string(),
            ModelInfoConfig {
                display_name: Some("Local Llama".into()),
                max_input_tokens: Some(32_768),
                max_tokens: None,
            },
        );
        let exact = model_info("llama-3.3-70b", &cfg);
        assert_eq!(exact.display_name.as_deref(), Some("Local Llama"));
        assert_eq!(exact.max_input_tokens, Some(32_768));
        assert_eq!(exact.max_tokens, Some(32_768), "built-in output limit kept");
        let other = model_info("llama-3.1-8b-instant", &cfg);
        assert_eq!(other.max_input_tokens, Some(8_192));
        assert_eq!(other.max_tokens, Some(8_192));
    }

    #[test]
    fn claude_code_needs_limits_only_for_models_it_does_not_know() {
        let none = BTreeMap::new();
        let llama = model_info("llama-3.3-70b-versatile", &none);
        assert_eq!(
            claude_code_env("llama-3.3-70b-versatile", &llama),
            vec![
                ("CLAUDE_CODE_MAX_CONTEXT_TOKENS", 131_072),
                ("CLAUDE_CODE_MAX_OUTPUT_TOKENS", 32_768)
            ]
        );
        let sonnet = model_info("sonnet", &none);
        assert!(claude_code_env("sonnet", &sonnet).is_empty());
        assert!(claude_code_hint("claude-opus-4-7", &sonnet).starts_with("nothing"));
        let unknown = model_info("my-finetune", &none);
        assert!(claude_code_hint("my-finetune", &unknown).contains("[models.\"my-finetune\"]"));
    }

    #[test]
    fn display_names_read_well() {
        assert_eq!(display_name("claude-opus-4-7"), "Claude Opus 4.7");
        assert_eq!(display_name("gpt-4o-mini"), "GPT 4o Mini");
        assert_eq!(
            display_name("groq:llama-3.3-70b-versatile"),
            "Llama 3.3 70b Versatile (groq)"
        );
        assert_eq!(display_name("gpt-oss-120b"), "GPT OSS 120b");
    }
}
