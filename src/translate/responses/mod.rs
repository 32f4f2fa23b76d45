//! The OpenAI Responses API (`POST /v1/responses`) on backends that do not speak it: a Responses
//! request becomes a Chat Completions request (and, for Anthropic backends, goes on through the
//! existing Chat → Messages translator); a Chat completion or a Chat chunk stream becomes a
//! `response` object or the Responses event stream (an Anthropic reply first goes through the
//! existing Messages → Chat translators). So the Anthropic mapping exists once, in the Chat
//! translators, and this module only knows Responses ↔ Chat.
//!
//! Owns: the Responses ↔ Chat field mapping, the Responses event sequence, the `response` object.
//! Must not: do I/O, keep responses between requests (the proxy's store does), or know about
//! routing.

mod request;
mod response;
mod stream;

pub use request::{responses_request_to_chat, History};
pub use response::{chat_response_to_responses, TranslatedResponse};
pub use stream::ChatToResponsesStream;

use serde_json::{json, Map, Value};

use crate::protocol::Usage;

/// How an Anthropic thinking signature travels in a reasoning item's `encrypted_content` (so a
/// stateless client such as Codex sends it back, and the thinking block can be replayed).
pub(crate) const ANTHROPIC_SIGNATURE_PREFIX: &str = "anthropic-thinking-signature:";

/// What the reply side needs to know about a translated Responses request.
#[derive(Debug, Clone)]
pub struct ResponsesMeta {
    /// `resp_…`, chosen by dario.
    pub id: String,
    pub created_at: u64,
    /// Request parameters a `response` object repeats (instructions, tools, tool_choice, …),
    /// plus `model` as the client sent it.
    pub echo: Map<String, Value>,
    /// The whole conversation input (a previous response's input and output expanded), for the
    /// store.
    pub input: Vec<Value>,
    /// The client asked for the response to be kept (`store`, default true).
    pub store: bool,
    /// Functions offered inside `namespace` tools, flattened for Chat: (flat name, namespace,
    /// name).
    pub namespaced: Vec<(String, String, String)>,
    /// Names of `custom` (freeform) tools, offered as functions with one string argument,
    /// `input`.
    pub custom: Vec<String>,
}

/// The `input` of a custom tool call from the arguments a backend sent for its function form
/// (`{"input": "…"}`; anything else is passed on as it came).
pub(crate) fn custom_input(arguments: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Args {
        input: String,
    }
    serde_json::from_str::<Args>(arguments)
        .map(|a| a.input)
        .unwrap_or_else(|_| arguments.to_owned())
}

/// How a function inside a `namespace` tool is named for a backend without namespaces.
pub(crate) fn flat_name(namespace: &str, name: &str) -> String {
    format!("{namespace}__{name}")
}

impl ResponsesMeta {
    /// Whether a function name from the backend is one of the client's custom tools.
    pub(crate) fn is_custom(&self, name: &str) -> bool {
        self.custom.iter().any(|c| c == name)
    }

    /// A function name from the backend → (namespace, name) as the client offered it.
    pub(crate) fn split_name<'a>(&'a self, flat: &'a str) -> (Option<&'a str>, &'a str) {
        match self.namespaced.iter().find(|(f, _, _)| f == flat) {
            Some((_, ns, name)) => (Some(ns.as_str()), name.as_str()),
            None => (None, flat),
        }
    }

    /// The `response` object with the given status, output and usage: serialised straight from
    /// the request's echoed fields and the output items (nothing is copied into a new document).
    /// `extra` sets `error` or `incomplete_details`.
    pub(crate) fn response_object<'a>(
        &'a self,
        status: &'a str,
        output: &'a [Value],
        usage: Option<&Usage>,
        extra: Option<(&str, Value)>,
    ) -> ResponseOut<'a> {
        let (mut error, mut incomplete_details) = (Value::Null, Value::Null);
        match extra {
            Some(("error", v)) => error = v,
            Some((_, v)) => incomplete_details = v,
            None => {}
        }
        ResponseOut {
            id: &self.id,
            object: "response",
            created_at: self.created_at,
            status,
            error,
            incomplete_details,
            echo: &self.echo,
            output,
            usage: usage.map(usage_object),
        }
    }
}

/// A `response` object, borrowing what it repeats.
#[derive(serde::Serialize)]
pub(crate) struct ResponseOut<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    status: &'a str,
    error: Value,
    incomplete_details: Value,
    #[serde(flatten)]
    echo: &'a Map<String, Value>,
    output: &'a [Value],
    usage: Option<Value>,
}

/// A provider-neutral usage as a Responses `usage` object (input includes cached tokens).
pub(crate) fn usage_object(u: &Usage) -> Value {
    let input = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens;
    json!({
        "input_tokens": input,
        "input_tokens_details": {
            "cached_tokens": u.cache_read_tokens,
            "cache_write_tokens": u.cache_write_tokens,
        },
        "output_tokens": u.output_tokens,
        "output_tokens_details": { "reasoning_tokens": u.reasoning_tokens },
        "total_tokens": input + u.output_tokens,
    })
}

/// A Responses `usage` object (from a passthrough body or event) as provider-neutral usage.
pub fn usage_from_responses(v: &Value) -> Usage {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let input = n(&v["input_tokens"]);
    let cached = n(&v["input_tokens_details"]["cached_tokens"]);
    let written = n(&v["input_tokens_details"]["cache_write_tokens"]);
    Usage {
        input_tokens: input.saturating_sub(cached + written),
        output_tokens: n(&v["output_tokens"]),
        cache_read_tokens: cached,
        cache_write_tokens: written,
        reasoning_tokens: n(&v["output_tokens_details"]["reasoning_tokens"]),
    }
}

/// Output item ids: a prefix, the response's suffix and the item's position (stable for the
/// life of the response, unique across responses).
pub(crate) fn item_id(prefix: &str, response_id: &str, index: usize) -> String {
    let suffix = response_id.strip_prefix("resp_").unwrap_or(response_id);
    format!("{prefix}_{suffix}{index:02}")
}
