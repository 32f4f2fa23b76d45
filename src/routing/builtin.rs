//! Built-in routing knowledge: model families, Anthropic aliases, and the fixed prefix words.
//!
//! Owns: current model ids behind `opus`/`sonnet`/`haiku`. Must not: depend on configuration.

use serde::Serialize;

/// The `anthropic-beta` value that unlocks the 1M-token context window.
pub const CONTEXT_1M_BETA: &str = "context-1m-2025-08-07";

/// An alias dario knows without configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BuiltinAlias {
    pub name: &'static str,
    /// The current model id it stands for.
    pub model: &'static str,
    /// An `anthropic-beta` value the proxy adds for this alias.
    pub anthropic_beta: Option<&'static str>,
}

pub const BUILTIN_ALIASES: &[BuiltinAlias] = &[
    BuiltinAlias {
        name: "opus",
        model: "claude-opus-5-5",
        anthropic_beta: None,
    },
    BuiltinAlias {
        name: "sonnet",
        model: "claude-sonnet-5-5",
        anthropic_beta: None,
    },
    BuiltinAlias {
        name: "haiku",
        model: "claude-haiku-5-5",
        anthropic_beta: None,
    },
    BuiltinAlias {
        name: "opus1m",
        model: "claude-opus-5-5",
        anthropic_beta: Some(CONTEXT_1M_BETA),
    },
    BuiltinAlias {
        name: "sonnet1m",
        model: "claude-sonnet-5-5",
        anthropic_beta: Some(CONTEXT_1M_BETA),
    },
];

/// The built-in alias of that exact (case-sensitive) name.
pub fn builtin_alias(name: &str) -> Option<&'static BuiltinAlias> {
    BUILTIN_ALIASES.iter().find(|a| a.name == name)
}

/// A model family: a glob and the built-in backend that serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Family {
    pub pattern: &'static str,
    pub backend: &'static str,
}

/// SPEC §4 rule 5, in order.
pub const FAMILIES: &[Family] = &[
    Family {
        pattern: "claude-*",
        backend: "anthropic",
    },
    Family {
        pattern: "gpt-*",
        backend: "openai",
    },
    Family {
        pattern: "o1*",
        backend: "openai",
    },
    Family {
        pattern: "o3*",
        backend: "openai",
    },
    Family {
        pattern: "o4*",
        backend: "openai",
    },
    Family {
        pattern: "chatgpt-*",
        backend: "openai",
    },
    Family {
        pattern: "text-embedding-*",
        backend: "openai",
    },
    Family {
        pattern: "davinci*",
        backend: "openai",
    },
];

/// Prefix words that mean "the OpenAI-protocol backend of that name, else the default
/// OpenAI-compatible backend". A known provider's name (`groq:`, `openrouter:`, `deepseek:`…)
/// is not one of them: with no backend of that name it is an error naming the configured
/// backends, never a silent detour to another provider.
pub const COMPAT_PREFIXES: &[&str] = &["local", "compat"];

/// Prefix words that mean the Anthropic backend.
pub const ANTHROPIC_PREFIXES: &[&str] = &["claude", "anthropic"];
