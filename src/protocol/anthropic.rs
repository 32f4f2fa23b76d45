//! Serde types of the Anthropic Messages API: requests, responses, stream events, errors.
//!
//! Owns: how Anthropic spells its JSON, plus two small serde helpers shared with `openai`
//! (`open_struct!` for objects that keep unknown fields, [`Content`] for "string or array").
//! Must not: know about routing, HTTP or translation choices.
//!
//! "Open" objects keep every field they do not know in `extra` (so translation can report it)
//! and are deserialised by a hand-written visitor: no intermediate buffering, which keeps
//! `Box<RawValue>` fields (tool inputs, JSON schemas) byte-exact and cheap.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// Declare a struct whose fields are all optional, whose unknown fields land in `extra`, with
/// `Serialize` (absent fields skipped) and a streaming `Deserialize`.
/// Syntax: `"json_name" => pub field: Type,` (the field's type is wrapped in `Option`).
macro_rules! open_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $key:literal => pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, serde::Serialize)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[serde(rename = $key, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
            /// Fields this type does not know (kept so they can be reported, never silently lost).
            #[serde(flatten)]
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($name), ")"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<$crate::protocol::anthropic::Key<'de>>()? {
                            match key.0.as_ref() {
                                $( $key => out.$field = map.next_value()?, )*
                                _ => {
                                    let v: serde_json::Value = map.next_value()?;
                                    out.extra.insert(key.0.into_owned(), v);
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}
pub(crate) use open_struct;

/// A map key, borrowed from the input when it has no escapes.
#[doc(hidden)]
pub struct Key<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KV;
        impl<'de> Visitor<'de> for KV {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KV)
    }
}

/// Deserialize `Option<Cow<str>>` borrowing from the input when the string has no escapes
/// (serde's own `Cow` impl always copies).
pub fn opt_cow<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct OV;
    impl<'de> Visitor<'de> for OV {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            Key::deserialize(d).map(|k| Some(k.0))
        }
    }
    d.deserialize_option(OV)
}

/// "A string, or an array of T" — Anthropic `content`/`system`, OpenAI `content`/`stop`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Content<T> {
    #[serde(serialize_with = "crate::protocol::json_str::serialize")]
    Text(String),
    Parts(Vec<T>),
}

impl<T> Content<T> {
    /// Number of parts (a string counts as one).
    pub fn len(&self) -> usize {
        match self {
            Content::Text(_) => 1,
            Content::Parts(p) => p.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        match self {
            Content::Text(t) => t.is_empty(),
            Content::Parts(p) => p.is_empty(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Content<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CV<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for CV<T> {
            type Value = Content<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Content<T>, E> {
                Ok(Content::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Content<T>, E> {
                Ok(Content::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content<T>, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(item) = seq.next_element()? {
                    v.push(item);
                }
                Ok(Content::Parts(v))
            }
        }
        d.deserialize_any(CV(std::marker::PhantomData))
    }
}

// ---------------------------------------------------------------------------------------------
// Requests.

open_struct! {
    /// `POST /v1/messages` body.
    pub struct MessagesRequest {
        "model" => pub model: String,
        "messages" => pub messages: Vec<Message>,
        "system" => pub system: Content<ContentBlock>,
        "max_tokens" => pub max_tokens: u64,
        "stop_sequences" => pub stop_sequences: Vec<String>,
        "stream" => pub stream: bool,
        "temperature" => pub temperature: f64,
        "top_p" => pub top_p: f64,
        "top_k" => pub top_k: Value,
        "metadata" => pub metadata: Metadata,
        "tools" => pub tools: Vec<Tool>,
        "tool_choice" => pub tool_choice: ToolChoice,
        "thinking" => pub thinking: Thinking,
        "output_config" => pub output_config: OutputConfig,
        "context_management" => pub context_management: Value,
    }
}

open_struct! {
    /// `output_config`: `{effort: low|medium|high|max}` (adaptive thinking's dial), and
    /// `format` for structured output.
    pub struct OutputConfig {
        "effort" => pub effort: String,
        "format" => pub format: Value,
    }
}

open_struct! {
    /// One conversation turn.
    pub struct Message {
        "role" => pub role: String,
        "content" => pub content: Content<ContentBlock>,
    }
}

open_struct! {
    /// Any content block (text, image, document, tool_use, tool_result, thinking,
    /// redacted_thinking, server tool blocks…): one flat bag of the fields the variants use.
    pub struct ContentBlock {
        "type" => pub kind: String,
        #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
        "text" => pub text: String,
        "source" => pub source: Source,
        "id" => pub id: String,
        "name" => pub name: String,
        "input" => pub input: Box<RawValue>,
        "tool_use_id" => pub tool_use_id: String,
        "content" => pub content: Content<ContentBlock>,
        "is_error" => pub is_error: bool,
        #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
        "thinking" => pub thinking: String,
        #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
        "signature" => pub signature: String,
        #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
        "data" => pub data: String,
        "title" => pub title: String,
        "context" => pub context: String,
        "citations" => pub citations: Value,
        "cache_control" => pub cache_control: Value,
        "tool_name" => pub tool_name: String,
    }
}

impl ContentBlock {
    /// A block with just a type.
    pub fn of_kind(kind: &str) -> Self {
        ContentBlock {
            kind: Some(kind.to_owned()),
            ..Default::default()
        }
    }
    /// A `{type: "text", text}` block.
    pub fn text(text: impl Into<String>) -> Self {
        ContentBlock {
            kind: Some("text".into()),
            text: Some(text.into()),
            ..Default::default()
        }
    }
    /// The block's type, or "" when absent.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("")
    }
}

open_struct! {
    /// Image/document source: `base64` (media_type, data), `url`, `file`, `text`, `content`.
    pub struct Source {
        "type" => pub kind: String,
        "media_type" => pub media_type: String,
        #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
        "data" => pub data: String,
        #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
        "url" => pub url: String,
        "file_id" => pub file_id: String,
        "content" => pub content: Content<ContentBlock>,
    }
}

open_struct! {
    pub struct Metadata {
        "user_id" => pub user_id: String,
    }
}

open_struct! {
    /// A tool definition: custom (`{name, description, input_schema}`, `type` absent or
    /// `custom`) or a server/versioned tool (`type: "web_search_20250305"`, …).
    pub struct Tool {
        "type" => pub kind: String,
        "name" => pub name: String,
        #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
        "description" => pub description: String,
        "input_schema" => pub input_schema: Box<RawValue>,
        "cache_control" => pub cache_control: Value,
        "defer_loading" => pub defer_loading: bool,
    }
}

open_struct! {
    /// `{type: auto|any|none|tool, name?, disable_parallel_tool_use?}`.
    pub struct ToolChoice {
        "type" => pub kind: String,
        "name" => pub name: String,
        "disable_parallel_tool_use" => pub disable_parallel_tool_use: bool,
    }
}

open_struct! {
    /// `{type: enabled, budget_tokens}` / `{type: disabled}` / `{type: adaptive}`, with
    /// `display: summarized|omitted`.
    pub struct Thinking {
        "type" => pub kind: String,
        "budget_tokens" => pub budget_tokens: u64,
        "display" => pub display: String,
    }
}

// ---------------------------------------------------------------------------------------------
// Responses.

open_struct! {
    /// A non-streaming response (`type: "message"`), also the `message` of `message_start`.
    pub struct MessagesResponse {
        "id" => pub id: String,
        "type" => pub kind: String,
        "role" => pub role: String,
        "model" => pub model: String,
        "content" => pub content: Vec<ContentBlock>,
        "stop_reason" => pub stop_reason: String,
        "stop_sequence" => pub stop_sequence: String,
        "usage" => pub usage: AnthropicUsage,
    }
}

/// Anthropic `usage` (every count optional: `message_delta` carries only some).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnthropicUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// Provider-neutral usage.
    pub fn to_usage(&self) -> crate::protocol::Usage {
        crate::protocol::Usage {
            input_tokens: self.input_tokens.unwrap_or(0),
            output_tokens: self.output_tokens.unwrap_or(0),
            cache_read_tokens: self.cache_read_input_tokens.unwrap_or(0),
            cache_write_tokens: self.cache_creation_input_tokens.unwrap_or(0),
            reasoning_tokens: 0,
        }
    }

    /// Overwrite the counts present in `other` (later events carry cumulative values).
    pub fn merge(&mut self, other: &AnthropicUsage) {
        if other.input_tokens.is_some() {
            self.input_tokens = other.input_tokens;
        }
        if other.output_tokens.is_some() {
            self.output_tokens = other.output_tokens;
        }
        if other.cache_creation_input_tokens.is_some() {
            self.cache_creation_input_tokens = other.cache_creation_input_tokens;
        }
        if other.cache_read_input_tokens.is_some() {
            self.cache_read_input_tokens = other.cache_read_input_tokens;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stream events.

/// Any stream event: `message_start`, `content_block_start`, `content_block_delta`,
/// `content_block_stop`, `message_delta`, `message_stop`, `ping`, `error`. Unknown fields are
/// ignored (nothing to report on the way out of a stream). Delta strings borrow from the event
/// data when they contain no escapes.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamEvent<'a> {
    #[serde(rename = "type", default, borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default)]
    pub message: Option<MessagesResponse>,
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub content_block: Option<ContentBlock>,
    #[serde(default, borrow)]
    pub delta: Option<StreamDelta<'a>>,
    #[serde(default)]
    pub usage: Option<AnthropicUsage>,
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

/// `delta` of `content_block_delta` (text/input_json/thinking/signature) or `message_delta`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamDelta<'a> {
    #[serde(rename = "type", default, borrow, deserialize_with = "opt_cow")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow")]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow")]
    pub partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow")]
    pub thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow")]
    pub signature: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_cow")]
    pub stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    pub stop_sequence: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Errors.

/// `{"type": "error", "error": {"type", "message"}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_keeps_unknown_fields_and_raw_inputs() {
        let body = br#"{"model":"m","max_tokens":5,"top_k":3,"service_tier":"auto",
            "system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],
            "messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":{"b":1,"a":[2]}}]}]}"#;
        let r: MessagesRequest = serde_json::from_slice(body).unwrap();
        assert_eq!(r.extra.keys().collect::<Vec<_>>(), vec!["service_tier"]);
        assert!(r.top_k.is_some());
        let Some(Content::Parts(sys)) = &r.system else {
            panic!("system blocks")
        };
        assert!(sys[0].cache_control.is_some());
        let Some(Content::Parts(blocks)) = &r.messages.as_ref().unwrap()[0].content else {
            panic!("blocks")
        };
        assert_eq!(
            blocks[0].input.as_ref().unwrap().get(),
            r#"{"b":1,"a":[2]}"#
        );
    }

    #[test]
    fn content_string_or_array() {
        let m: Message = serde_json::from_str(r#"{"role":"user","content":"hi"}"#).unwrap();
        assert!(matches!(m.content, Some(Content::Text(t)) if t == "hi"));
        let m: Message = serde_json::from_str(r#"{"role":"user","content":null}"#).unwrap();
        assert!(m.content.is_none());
        assert!(serde_json::from_str::<Message>(r#"{"role":"user","content":5}"#).is_err());
    }

    #[test]
    fn serialize_skips_absent_fields() {
        let b = ContentBlock::text("x");
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"type":"text","text":"x"}"#
        );
    }
}
