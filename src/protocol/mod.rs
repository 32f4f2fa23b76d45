//! Wire protocols dario speaks: the `Protocol` switch, the provider-neutral `Usage`, and the serde
//! types of each API (`anthropic`, `openai`).
//!
//! Owns: how each provider spells its JSON. Must not: know about routing, HTTP or pools.

pub mod anthropic;
pub mod json_str;
pub mod openai;

use serde::{Deserialize, Serialize};

/// Which API a client spoke, or which API a backend expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Anthropic Messages API (`/v1/messages`).
    Anthropic,
    /// OpenAI Chat Completions API (`/v1/chat/completions`).
    #[serde(
        rename = "openai",
        alias = "open_ai",
        alias = "openai-compatible",
        alias = "compat"
    )]
    OpenAi,
    /// OpenAI Responses API (`/v1/responses`): only ever an inbound protocol. A backend speaks
    /// `OpenAi` and may also serve `/responses` (`BackendConfig::responses`).
    #[serde(rename = "responses", skip_deserializing)]
    Responses,
}

impl Protocol {
    /// The protocol's name as used in config files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Anthropic => "anthropic",
            Protocol::OpenAi => "openai",
            Protocol::Responses => "responses",
        }
    }

    /// The wire protocol a backend must speak to serve this inbound protocol without
    /// translation, and whose error envelope the caller reads (Responses uses OpenAI's).
    pub fn family(self) -> Protocol {
        match self {
            Protocol::Responses => Protocol::OpenAi,
            p => p,
        }
    }

    /// The path (relative to a backend's base URL) of the chat endpoint.
    ///
    /// Anthropic base URLs are given without `/v1` (`https://api.anthropic.com`), OpenAI-style
    /// base URLs with it (`https://api.openai.com/v1`), as both official SDKs do.
    pub fn chat_path(self) -> &'static str {
        match self {
            Protocol::Anthropic => "/v1/messages",
            Protocol::OpenAi => "/chat/completions",
            Protocol::Responses => "/responses",
        }
    }

    /// The path of the model list endpoint, relative to the base URL.
    pub fn models_path(self) -> &'static str {
        match self {
            Protocol::Anthropic => "/v1/models",
            Protocol::OpenAi | Protocol::Responses => "/models",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "anthropic" => Ok(Protocol::Anthropic),
            "openai" | "open_ai" | "openai-compatible" | "compat" => Ok(Protocol::OpenAi),
            other => Err(format!(
                "unknown protocol `{other}`: use `anthropic` or `openai`"
            )),
        }
    }
}

/// Token counts of one request, provider-neutral. Both protocols map into it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens that were neither read from nor written to the prompt cache.
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Reasoning tokens (part of `output_tokens` where the provider reports them).
    pub reasoning_tokens: u64,
}
