//! Translation between the Anthropic Messages and OpenAI Chat Completions protocols: pure
//! functions for requests and responses, and per-stream transducers (`TRANSLATION.md`).
//!
//! Owns: every field mapping, the `x-dario-dropped` list, error-envelope translation, the secret
//! scrubber, usage extraction (also for passthrough) and the local token estimate.
//! Must not: do I/O, know about routing, pools or HTTP beyond status codes.

mod errors;
mod request_a2o;
mod request_o2a;
mod response;
pub mod responses;
mod stream_a2o;
mod stream_o2a;
mod tap;
mod tokens;

pub use errors::{
    anthropic_error_type_for_status, error_status_for_openai, error_to_anthropic, error_to_openai,
};
pub use request_a2o::anthropic_request_to_openai;
pub use request_o2a::{default_max_tokens, openai_request_to_anthropic, DEFAULT_MAX_TOKENS};
pub use response::{
    anthropic_response_to_chat_with_signatures, anthropic_response_to_openai,
    openai_response_to_anthropic,
};
pub use stream_a2o::AnthropicToOpenAiStream;
pub use stream_o2a::OpenAiToAnthropicStream;
pub use tap::{usage_from_json, UsageTap};
pub use tokens::estimate_tokens_anthropic_request;

use std::sync::atomic::{AtomicU64, Ordering};

/// What a request translation needs to know about where the request goes.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// Model to put in the translated body.
    pub upstream_model: &'a str,
    /// Backend name, e.g. "groq", "openai", "anthropic" (used in messages).
    pub backend_name: &'a str,
    /// True for api.openai.com itself: `max_completion_tokens` for reasoning families, at most
    /// 4 stop sequences, no sampling knobs on reasoning models.
    pub upstream_is_openai_itself: bool,
    /// The upstream accepts assistant `reasoning_content` in the conversation history.
    pub accepts_reasoning_content: bool,
    /// Where `role: "system"` messages from inside an Anthropic conversation go (OpenAI-protocol
    /// upstreams only).
    pub system_messages: SystemMessages,
    /// The `anthropic-version` the upstream request will carry (Anthropic upstreams only):
    /// from `2026-10-21` on, sampling knobs are rejected.
    pub anthropic_version: &'a str,
}

/// The `anthropic-version` dario sends when neither the client nor the backend sets one.
pub const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

/// Where mid-conversation system messages (today's Claude Code sends hook, skill and reminder
/// context as `role: "system"` turns inside `messages`) go on an OpenAI-protocol upstream.
/// Every mode keeps every instruction and their order; they differ in the role they arrive as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SystemMessages {
    /// A `system` message at the same position (OpenAI and the hosted compatible APIs accept
    /// system messages anywhere). The default; dario falls back to `user` by itself when an
    /// upstream rejects a system message that is not first.
    #[default]
    Inline,
    /// A user message (merged into the neighbouring user turn) at the same position: for local
    /// servers whose chat templates accept a system message only at the start.
    User,
    /// Appended, in order, to the leading system message.
    Hoist,
}

impl SystemMessages {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SystemMessages::Inline => "inline",
            SystemMessages::User => "user",
            SystemMessages::Hoist => "hoist",
        }
    }
}

impl std::str::FromStr for SystemMessages {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "inline" => Ok(SystemMessages::Inline),
            "user" => Ok(SystemMessages::User),
            "hoist" => Ok(SystemMessages::Hoist),
            _ => Err("`system_messages` must be `inline`, `user` or `hoist`".to_string()),
        }
    }
}

/// A translated request body.
#[derive(Debug, Clone, Default)]
pub struct Translated {
    pub body: Vec<u8>,
    /// Field paths that could not be expressed upstream (for `x-dario-dropped`).
    pub dropped: Vec<String>,
    /// The client asked for a stream.
    pub stream: bool,
    /// The (OpenAI) client asked for a usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    /// The body carries `system` messages after the first position (mode `inline`): if the
    /// upstream refuses them, the request can be translated again with [`SystemMessages::User`].
    pub inline_system_messages: bool,
}

/// What response translation needs to know about the client.
#[derive(Debug, Clone, Copy)]
pub struct ResponseContext<'a> {
    /// The model name the client sent (echoed in the translated response).
    pub client_model: &'a str,
    /// The OpenAI client asked for `stream_options.include_usage`.
    pub include_usage: bool,
}

/// Why a body could not be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    #[error("request body is not valid JSON ({0}); send a JSON object")]
    InvalidJson(String),
    #[error("invalid request: {0}")]
    InvalidShape(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("the upstream response could not be translated: {0}")]
    InvalidUpstream(String),
    /// A Responses request names a `previous_response_id` dario does not hold.
    #[error("previous response with id '{0}' not found: dario keeps recent responses made with `store: true` in memory only (send the whole conversation as `input` instead)")]
    PreviousResponseNotFound(String),
}

impl TranslateError {
    /// The HTTP status to answer with: 400 for the client's mistakes, 502 for the upstream's.
    pub fn status(&self) -> u16 {
        match self {
            TranslateError::InvalidUpstream(_) => 502,
            _ => 400,
        }
    }

    /// This error as an Anthropic error envelope.
    pub fn to_anthropic_body(&self) -> Vec<u8> {
        let kind = match self {
            TranslateError::InvalidUpstream(_) => "api_error",
            _ => "invalid_request_error",
        };
        errors::anthropic_envelope(kind, &self.to_string())
    }

    /// This error as an OpenAI error envelope.
    pub fn to_openai_body(&self) -> Vec<u8> {
        let kind = match self {
            TranslateError::InvalidUpstream(_) => "server_error",
            _ => "invalid_request_error",
        };
        errors::openai_envelope(kind, None, &self.to_string())
    }
}

pub(crate) fn invalid_json(e: serde_json::Error) -> TranslateError {
    if e.is_data() {
        TranslateError::InvalidShape(e.to_string())
    } else {
        TranslateError::InvalidJson(e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers.

/// The stable part of an upstream id: known prefixes (`chatcmpl-`, `msg_`) removed, characters
/// outside `[A-Za-z0-9_-]` dropped; a fresh random-looking suffix when nothing is left.
pub(crate) fn id_suffix(id: Option<&str>) -> String {
    let id = id.unwrap_or("");
    let rest = ["chatcmpl-", "chatcmpl_", "msg_", "msg-"]
        .iter()
        .find_map(|p| id.strip_prefix(p))
        .unwrap_or(id);
    let s: String = rest
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    if s.is_empty() {
        fresh_suffix()
    } else {
        s
    }
}

/// A unique 24-hex-digit suffix (time, process and a counter through SHA-256; not a secret).
pub(crate) fn fresh_suffix() -> String {
    use sha2::{Digest, Sha256};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = Sha256::new();
    h.update(t.to_le_bytes());
    h.update(n.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    hex::encode(&h.finalize()[..12])
}

/// Anthropic requires tool ids to match `^[a-zA-Z0-9_-]+$`; some OpenAI-compatible servers
/// use ids like `functions.get_weather:0`. Other characters become `_` (deterministically, so
/// the tool_use and its tool_result still match).
pub(crate) fn anthropic_tool_id(id: Option<&str>) -> String {
    match id {
        Some(id) if !id.is_empty() => id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
        _ => format!("toolu_{}", fresh_suffix()),
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Serialises a translated body into a buffer sized for it up front (`size_hint`: the size of
/// the body it came from, plus room), instead of letting the output grow by doubling — each
/// doubling copies everything written so far.
pub(crate) fn to_json_sized<T: serde::Serialize>(
    value: &T,
    size_hint: usize,
) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(size_hint.saturating_add(512));
    serde_json::to_writer(&mut out, value)?;
    Ok(out)
}

/// OpenAI's own reasoning families (`o1`, `o3`, `o4-mini`, `gpt-5*`…), which take
/// `max_completion_tokens` and reject non-default sampling parameters.
pub fn is_openai_reasoning_model(model: &str) -> bool {
    let m = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let b = m.as_bytes();
    (b.len() >= 2 && b[0] == b'o' && b[1].is_ascii_digit()) || m.starts_with("gpt-5")
}

/// Models that accept `reasoning_effort` on OpenAI-compatible APIs: OpenAI's reasoning families,
/// open-weight reasoning models as served by Groq/OpenRouter/vLLM (gpt-oss, Qwen3, DeepSeek-R1,
/// Magistral, Grok mini), and any model whose name says it reasons or thinks.
pub(crate) fn accepts_reasoning_effort(model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    is_openai_reasoning_model(&m)
        || [
            "gpt-oss",
            "grok-3-mini",
            "qwen3",
            "deepseek-r1",
            "magistral",
            "reason",
            "think",
        ]
        .iter()
        .any(|k| m.contains(k))
}

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
pub(crate) fn finish_reason_for(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens") | Some("model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop", // end_turn, stop_sequence, pause_turn
    }
}

/// OpenAI `finish_reason` → Anthropic `stop_reason`.
pub(crate) fn stop_reason_for(finish_reason: Option<&str>) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        Some("tool_calls") | Some("function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// Does a JSON value carry information (not null/false/0/empty)? Used to decide whether an
/// unmappable field is worth reporting.
pub(crate) fn is_meaningful(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Once there are many dropped paths, collapse those that differ only in their indices
/// (`messages[3].content[0] (thinking)` ×40 → `messages[*].content[*] (thinking)`), so the
/// header stays short. Order of first appearance is kept.
pub(crate) fn compact_dropped(mut dropped: Vec<String>) -> Vec<String> {
    dedup_keep_order(&mut dropped);
    if dropped.len() <= 8 {
        return dropped;
    }
    let mut out: Vec<String> = Vec::new();
    for d in dropped {
        let generic = star_indices(&d);
        if !out.contains(&generic) {
            out.push(generic);
        }
    }
    out
}

fn dedup_keep_order(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
}

fn star_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_brackets = false;
    let mut starred = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_brackets = true;
                starred = false;
                out.push(c);
            }
            ']' => {
                in_brackets = false;
                out.push(c);
            }
            d if in_brackets && d.is_ascii_digit() => {
                if !starred {
                    out.push('*');
                    starred = true;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_suffix_is_stable_and_clean() {
        assert_eq!(id_suffix(Some("chatcmpl-abc123")), "abc123");
        assert_eq!(id_suffix(Some("msg_01XY")), "01XY");
        assert_eq!(id_suffix(Some("gen:12/34")), "gen1234");
        let a = id_suffix(None);
        let b = id_suffix(Some(""));
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
    }

    #[test]
    fn tool_ids_are_made_anthropic_safe() {
        assert_eq!(anthropic_tool_id(Some("call_abc-1")), "call_abc-1");
        assert_eq!(
            anthropic_tool_id(Some("functions.get_weather:0")),
            "functions_get_weather_0"
        );
        assert!(anthropic_tool_id(None).starts_with("toolu_"));
    }

    #[test]
    fn reasoning_families() {
        for m in [
            "o1",
            "o3-mini",
            "o4-mini-2025-04-16",
            "gpt-5",
            "gpt-5.1-codex",
            "openai/o3",
        ] {
            assert!(is_openai_reasoning_model(m), "{m}");
        }
        for m in ["gpt-4o", "gpt-4.1-mini", "omni-moderation", "llama-3.3-70b"] {
            assert!(!is_openai_reasoning_model(m), "{m}");
        }
    }

    #[test]
    fn stop_and_finish_reasons_map_both_ways() {
        let table = [
            ("end_turn", "stop", "end_turn"),
            ("stop_sequence", "stop", "end_turn"),
            ("max_tokens", "length", "max_tokens"),
            ("tool_use", "tool_calls", "tool_use"),
            ("refusal", "content_filter", "refusal"),
            ("pause_turn", "stop", "end_turn"),
        ];
        for (a, o, back) in table {
            assert_eq!(finish_reason_for(Some(a)), o);
            assert_eq!(stop_reason_for(Some(o)), back);
        }
        assert_eq!(stop_reason_for(Some("function_call")), "tool_use");
    }

    #[test]
    fn dropped_paths_compact_when_many() {
        let few = vec!["top_k".to_string(), "top_k".to_string()];
        assert_eq!(compact_dropped(few), vec!["top_k"]);
        let mut many: Vec<String> = (0..20)
            .map(|i| format!("messages[{}].content[0] (thinking)", i * 2 + 1))
            .collect();
        many.push("top_k".into());
        assert_eq!(
            compact_dropped(many),
            vec!["messages[*].content[*] (thinking)", "top_k"]
        );
    }
}
