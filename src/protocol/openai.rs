//! Serde types of the OpenAI Chat Completions API: requests, responses, stream chunks, errors.
//!
//! Owns: how OpenAI (and OpenAI-compatible servers) spell their JSON. Must not: know about
//! routing, HTTP or translation choices. Open objects keep unknown fields in `extra` (see
//! `anthropic::open_struct!`).

use super::anthropic::{open_struct, Content};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;

/// The assistant-message (and stream delta) field in which dario carries an Anthropic thinking
/// block's signature between its Messages ↔ Chat and Chat ↔ Responses translators. It exists
/// only inside dario: Chat clients and Chat upstreams never see it.
pub const REASONING_SIGNATURE: &str = "reasoning_signature";

// ---------------------------------------------------------------------------------------------
// Requests.

open_struct! {
    /// `POST /v1/chat/completions` body. Sampling knobs dario cannot map (penalties, seed,
    /// logprobs, …) arrive in `extra`.
    pub struct ChatRequest {
        "model" => pub model: String,
        "messages" => pub messages: Vec<ChatMessage>,
        "max_tokens" => pub max_tokens: u64,
        "max_completion_tokens" => pub max_completion_tokens: u64,
        "temperature" => pub temperature: f64,
        "top_p" => pub top_p: f64,
        "n" => pub n: u64,
        "stream" => pub stream: bool,
        "stream_options" => pub stream_options: StreamOptions,
        "stop" => pub stop: Content<String>,
        "tools" => pub tools: Vec<ChatTool>,
        "tool_choice" => pub tool_choice: Value,
        "parallel_tool_calls" => pub parallel_tool_calls: bool,
        "user" => pub user: String,
        "reasoning_effort" => pub reasoning_effort: String,
        "response_format" => pub response_format: Value,
    }
}

open_struct! {
    pub struct StreamOptions {
        "include_usage" => pub include_usage: bool,
    }
}

open_struct! {
    /// A message of any role (system, developer, user, assistant, tool), also a stream `delta`.
    pub struct ChatMessage {
        "role" => pub role: String,
        "content" => pub content: Content<ContentPart>,
        "name" => pub name: String,
        "tool_calls" => pub tool_calls: Vec<ToolCall>,
        "tool_call_id" => pub tool_call_id: String,
        #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
        "reasoning_content" => pub reasoning_content: String,
        #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
        "reasoning" => pub reasoning: String,
        "refusal" => pub refusal: String,
        "function_call" => pub function_call: Value,
    }
}

open_struct! {
    /// A content part: `text`, `image_url`, `input_audio`, `file`, `refusal`.
    pub struct ContentPart {
        "type" => pub kind: String,
        #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
        "text" => pub text: String,
        "image_url" => pub image_url: ImageUrl,
        "input_audio" => pub input_audio: Value,
        "file" => pub file: FilePart,
        "refusal" => pub refusal: String,
    }
}

impl ContentPart {
    /// A `{type: "text", text}` part.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart {
            kind: Some("text".into()),
            text: Some(text.into()),
            ..Default::default()
        }
    }
    /// The part's type, or "" when absent.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("")
    }
}

open_struct! {
    pub struct ImageUrl {
        #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
        "url" => pub url: String,
        "detail" => pub detail: String,
    }
}

open_struct! {
    pub struct FilePart {
        #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
        "file_data" => pub file_data: String,
        "file_id" => pub file_id: String,
        "filename" => pub filename: String,
    }
}

open_struct! {
    /// An assistant tool call (`index` only in stream deltas).
    pub struct ToolCall {
        "index" => pub index: u64,
        "id" => pub id: String,
        "type" => pub kind: String,
        "function" => pub function: FunctionCall,
    }
}

open_struct! {
    pub struct FunctionCall {
        "name" => pub name: String,
        #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
        "arguments" => pub arguments: String,
    }
}

open_struct! {
    /// `{type: "function", function: {name, description, parameters, strict}}`.
    pub struct ChatTool {
        "type" => pub kind: String,
        "function" => pub function: FunctionDef,
    }
}

open_struct! {
    pub struct FunctionDef {
        "name" => pub name: String,
        #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
        "description" => pub description: String,
        "parameters" => pub parameters: Box<RawValue>,
        "strict" => pub strict: Value,
    }
}

// ---------------------------------------------------------------------------------------------
// Responses and stream chunks.

open_struct! {
    /// A `chat.completion` or a `chat.completion.chunk` (choices carry `message` or `delta`).
    /// Some compatible servers put an `error` object in a chunk mid-stream.
    pub struct ChatCompletion {
        "id" => pub id: String,
        "object" => pub object: String,
        "created" => pub created: u64,
        "model" => pub model: String,
        "choices" => pub choices: Vec<Choice>,
        "usage" => pub usage: ChatUsage,
        "error" => pub error: Value,
    }
}

open_struct! {
    pub struct Choice {
        "index" => pub index: u64,
        "message" => pub message: ChatMessage,
        "delta" => pub delta: ChatMessage,
        "finish_reason" => pub finish_reason: String,
        "logprobs" => pub logprobs: Value,
    }
}

/// OpenAI `usage`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    #[serde(default, deserialize_with = "null_as_zero")]
    pub cached_tokens: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    #[serde(default, deserialize_with = "null_as_zero")]
    pub reasoning_tokens: u64,
}

fn null_as_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or(0))
}

impl ChatUsage {
    /// Provider-neutral usage: cached prompt tokens are split out of the input count.
    pub fn to_usage(&self) -> crate::protocol::Usage {
        let cached = self
            .prompt_tokens_details
            .as_ref()
            .map_or(0, |d| d.cached_tokens);
        crate::protocol::Usage {
            input_tokens: self.prompt_tokens.saturating_sub(cached),
            output_tokens: self.completion_tokens,
            cache_read_tokens: cached,
            cache_write_tokens: 0,
            reasoning_tokens: self
                .completion_tokens_details
                .as_ref()
                .map_or(0, |d| d.reasoning_tokens),
        }
    }
}

/// A streamed `chat.completion.chunk` — or a whole `chat.completion` (its choice carries
/// `message` instead of `delta`) — read leanly: unknown fields ignored, text borrowed from the
/// input when it has no escapes. (Use [`ChatCompletion`] to keep everything.)
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChunkIn<'a> {
    #[serde(default, borrow, deserialize_with = "super::anthropic::opt_cow")]
    pub id: Option<Cow<'a, str>>,
    /// The first choice with index 0, else the first one (see `first_choice`): `n > 1` is
    /// refused on the way in, so only it carries the reply. Read without collecting the array.
    #[serde(rename = "choices", default, borrow, deserialize_with = "first_choice")]
    pub choice: Option<ChunkChoiceIn<'a>>,
    #[serde(default)]
    pub usage: Option<ChatUsage>,
    #[serde(default)]
    pub error: Option<Value>,
}

/// `choices` → its first choice with index 0 (an absent index counts as 0), else its first
/// choice (a completion translated whole takes it, as before; the streams skip it by its index);
/// `null` or an empty array → none.
fn first_choice<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<ChunkChoiceIn<'de>>, D::Error> {
    struct FirstChoice;
    impl<'de> serde::de::Visitor<'de> for FirstChoice {
        type Value = Option<ChunkChoiceIn<'de>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of choices")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_seq(self)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut first: Option<ChunkChoiceIn<'de>> = None;
            while let Some(c) = seq.next_element::<ChunkChoiceIn<'de>>()? {
                let better = match &first {
                    None => true,
                    Some(f) => f.index.unwrap_or(0) != 0 && c.index.unwrap_or(0) == 0,
                };
                if better {
                    first = Some(c);
                }
            }
            Ok(first)
        }
    }
    d.deserialize_option(FirstChoice)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChunkChoiceIn<'a> {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default, borrow)]
    pub delta: Option<ChunkDeltaIn<'a>>,
    /// A whole completion's message.
    #[serde(default, borrow)]
    pub message: Option<MessageIn<'a>>,
    #[serde(default, borrow, deserialize_with = "super::anthropic::opt_cow")]
    pub finish_reason: Option<Cow<'a, str>>,
}

/// The assistant message of a whole `chat.completion`, read leanly.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessageIn<'a> {
    /// A string, or (some compatible servers) an array of parts.
    #[serde(default)]
    pub content: Option<Content<ContentPart>>,
    #[serde(default, borrow, deserialize_with = "super::anthropic::opt_cow")]
    pub reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::anthropic::opt_cow")]
    pub reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::anthropic::opt_cow")]
    pub refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub tool_calls: Option<Vec<ChunkToolCallIn<'a>>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChunkDeltaIn<'a> {
    #[serde(default, borrow, deserialize_with = "super::anthropic::opt_cow")]
    pub content: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::anthropic::opt_cow")]
    pub reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::anthropic::opt_cow")]
    pub reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::anthropic::opt_cow")]
    pub refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub tool_calls: Option<Vec<ChunkToolCallIn<'a>>>,
    /// dario's own, never sent to clients: an Anthropic thinking signature carried through the
    /// Chat stage of Anthropic → Responses translation (see [`REASONING_SIGNATURE`]).
    #[serde(default, borrow, deserialize_with = "super::anthropic::opt_cow")]
    pub reasoning_signature: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChunkToolCallIn<'a> {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default, borrow, deserialize_with = "super::anthropic::opt_cow")]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub function: Option<ChunkFunctionIn<'a>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChunkFunctionIn<'a> {
    #[serde(default, borrow, deserialize_with = "super::anthropic::opt_cow")]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "super::anthropic::opt_cow")]
    pub arguments: Option<Cow<'a, str>>,
}

// ---------------------------------------------------------------------------------------------
// Errors.

/// `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub param: Option<Value>,
    #[serde(default)]
    pub code: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_parses_and_keeps_unknown() {
        let r: ChatRequest = serde_json::from_str(
            r#"{"model":"m","seed":1,"stop":"x","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],
               "tools":[{"type":"function","function":{"name":"f","parameters":{"z":1,"a":2}}}]}"#,
        )
        .unwrap();
        assert_eq!(r.extra.keys().collect::<Vec<_>>(), vec!["seed"]);
        assert!(matches!(r.stop, Some(Content::Text(ref s)) if s == "x"));
        let p = r.tools.unwrap()[0]
            .function
            .as_ref()
            .unwrap()
            .parameters
            .clone();
        assert_eq!(p.unwrap().get(), r#"{"z":1,"a":2}"#);
    }

    #[test]
    fn usage_splits_cached_tokens() {
        let u: ChatUsage = serde_json::from_str(
            r#"{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,
                "prompt_tokens_details":{"cached_tokens":30,"audio_tokens":null},
                "completion_tokens_details":{"reasoning_tokens":7}}"#,
        )
        .unwrap();
        let n = u.to_usage();
        assert_eq!(
            (
                n.input_tokens,
                n.cache_read_tokens,
                n.output_tokens,
                n.reasoning_tokens
            ),
            (70, 30, 20, 7)
        );
    }
}
