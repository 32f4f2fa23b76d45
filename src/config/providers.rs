//! The known-provider table: base URL, protocol and key variable of well-known upstreams, so
//! `dario backend add groq` needs no `--base-url`.
//!
//! Owns: those defaults. Must not: contact any provider.

use serde::Serialize;

use crate::protocol::Protocol;

/// Defaults for a provider dario knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KnownProvider {
    pub name: &'static str,
    /// Without a trailing slash; Anthropic-protocol URLs without `/v1`.
    pub base_url: &'static str,
    pub protocol: Protocol,
    /// The conventional environment variable for its key; `None` for local servers.
    pub key_env: Option<&'static str>,
    /// Model globs written into a new backend of that name by `dario backend add` (when no
    /// `--model` is given), so the provider's own model names reach it without a prefix.
    /// Empty for servers that run whatever model you load (lmstudio, vllm) and for the two
    /// built-in backends (their families route there already).
    pub models: &'static [&'static str],
}

/// Every known provider, the two built-in backends first.
pub const KNOWN_PROVIDERS: &[KnownProvider] = &[
    KnownProvider {
        name: "anthropic",
        base_url: "https://api.anthropic.com",
        protocol: Protocol::Anthropic,
        key_env: Some("ANTHROPIC_API_KEY"),
        models: &[],
    },
    KnownProvider {
        name: "openai",
        base_url: "https://api.openai.com/v1",
        protocol: Protocol::OpenAi,
        key_env: Some("OPENAI_API_KEY"),
        models: &[],
    },
    KnownProvider {
        name: "groq",
        base_url: "https://api.groq.com/openai/v1",
        protocol: Protocol::OpenAi,
        key_env: Some("GROQ_API_KEY"),
        models: &[
            "llama-3*",
            "llama3-*",
            "meta-llama/*",
            "gemma2-*",
            "qwen/*",
            "moonshotai/*",
            "openai/gpt-oss-*",
            "deepseek-r1-distill-*",
        ],
    },
    KnownProvider {
        name: "openrouter",
        base_url: "https://openrouter.ai/api/v1",
        protocol: Protocol::OpenAi,
        key_env: Some("OPENROUTER_API_KEY"),
        models: &["*/*"],
    },
    KnownProvider {
        name: "ollama",
        base_url: "http://127.0.0.1:11434/v1",
        protocol: Protocol::OpenAi,
        key_env: None,
        models: &["*:*"],
    },
    KnownProvider {
        name: "lmstudio",
        base_url: "http://127.0.0.1:1234/v1",
        protocol: Protocol::OpenAi,
        key_env: None,
        models: &[],
    },
    KnownProvider {
        name: "vllm",
        base_url: "http://127.0.0.1:8000/v1",
        protocol: Protocol::OpenAi,
        key_env: None,
        models: &[],
    },
    KnownProvider {
        name: "together",
        base_url: "https://api.together.xyz/v1",
        protocol: Protocol::OpenAi,
        key_env: Some("TOGETHER_API_KEY"),
        models: &[
            "meta-llama/*",
            "Qwen/*",
            "deepseek-ai/*",
            "mistralai/*",
            "moonshotai/*",
        ],
    },
    KnownProvider {
        name: "deepseek",
        base_url: "https://api.deepseek.com/v1",
        protocol: Protocol::OpenAi,
        key_env: Some("DEEPSEEK_API_KEY"),
        models: &["deepseek-*"],
    },
    KnownProvider {
        name: "mistral",
        base_url: "https://api.mistral.ai/v1",
        protocol: Protocol::OpenAi,
        key_env: Some("MISTRAL_API_KEY"),
        models: &[
            "mistral-*",
            "codestral-*",
            "magistral-*",
            "devstral-*",
            "ministral-*",
            "pixtral-*",
            "open-mistral-*",
        ],
    },
    KnownProvider {
        name: "fireworks",
        base_url: "https://api.fireworks.ai/inference/v1",
        protocol: Protocol::OpenAi,
        key_env: Some("FIREWORKS_API_KEY"),
        models: &["accounts/fireworks/*"],
    },
];

/// The defaults for a provider name (case-insensitive), if dario knows it.
pub fn known_provider(name: &str) -> Option<KnownProvider> {
    KNOWN_PROVIDERS
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::normalize_base_url;

    #[test]
    fn table_matches_the_spec() {
        let g = known_provider("Groq").unwrap();
        assert_eq!(g.base_url, "https://api.groq.com/openai/v1");
        assert_eq!(g.key_env, Some("GROQ_API_KEY"));
        assert_eq!(g.protocol, Protocol::OpenAi);
        assert_eq!(
            known_provider("ollama").unwrap().base_url,
            "http://127.0.0.1:11434/v1"
        );
        assert_eq!(known_provider("ollama").unwrap().key_env, None);
        assert_eq!(
            known_provider("fireworks").unwrap().base_url,
            "https://api.fireworks.ai/inference/v1"
        );
        assert!(known_provider("nope").is_none());
        for p in KNOWN_PROVIDERS {
            // Every default is already in normal form.
            assert_eq!(
                normalize_base_url(p.protocol, p.base_url).unwrap(),
                p.base_url
            );
        }
    }
}
