//! Non-streaming responses in both directions (TRANSLATION.md §2 and §4, non-streaming parts).
//!
//! Owns: response body mapping, usage extraction while mapping. Must not: do I/O.

use super::request_o2a::arguments_to_input;
use super::{
    anthropic_tool_id, finish_reason_for, id_suffix, stop_reason_for, unix_now, ResponseContext,
    TranslateError,
};
use crate::protocol::anthropic::{AnthropicUsage, Content, ContentBlock, MessagesResponse};
use crate::protocol::openai::{ChatUsage, ChunkIn, PromptTokensDetails};
use crate::protocol::Usage;
use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

fn upstream_err(e: serde_json::Error) -> TranslateError {
    TranslateError::InvalidUpstream(format!("response body is not a valid completion: {e}"))
}

/// The Anthropic response dario writes.
#[derive(Serialize)]
pub(crate) struct AnthropicMessageOut<'a> {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub model: &'a str,
    pub content: Vec<ContentBlock>,
    pub stop_reason: Option<&'a str>,
    pub stop_sequence: Option<&'a str>,
    pub usage: AnthropicUsageOut,
}

#[derive(Serialize, Default, Clone, Copy)]
pub(crate) struct AnthropicUsageOut {
    pub input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub output_tokens: u64,
}

impl AnthropicUsageOut {
    pub fn from_usage(u: &Usage) -> Self {
        AnthropicUsageOut {
            input_tokens: u.input_tokens,
            cache_creation_input_tokens: u.cache_write_tokens,
            cache_read_input_tokens: u.cache_read_tokens,
            output_tokens: u.output_tokens,
        }
    }
}

/// OpenAI `usage` from provider-neutral usage: prompt = input + cache read + cache write.
pub(crate) fn openai_usage_out(u: &Usage) -> ChatUsage {
    let prompt = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens;
    ChatUsage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: prompt + u.output_tokens,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: u.cache_read_tokens,
        }),
        completion_tokens_details: None,
    }
}

fn raw_empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".into()).expect("valid")
}

/// An OpenAI `chat.completion` → an Anthropic `message`.
pub fn openai_response_to_anthropic(
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<(Vec<u8>, Usage, Vec<String>), TranslateError> {
    let resp: ChunkIn<'_> = crate::protocol::json_str::from_slice(body).map_err(upstream_err)?;
    if let Some(err) = resp.error.as_ref().filter(|e| !e.is_null()) {
        return Err(TranslateError::InvalidUpstream(format!(
            "upstream returned an error object: {}",
            crate::redact::scrub_key_shapes(&err.to_string())
        )));
    }
    let mut dropped = Vec::new();
    let choice = resp
        .choice
        .ok_or_else(|| TranslateError::InvalidUpstream("response has no choices".into()))?;
    let msg = choice.message.unwrap_or_default();
    let mut content: Vec<ContentBlock> = Vec::new();
    if let Some(r) = msg
        .reasoning_content
        .or(msg.reasoning)
        .filter(|r| !r.is_empty())
    {
        content.push(ContentBlock {
            kind: Some("thinking".into()),
            thinking: Some(r.into_owned()),
            signature: Some(String::new()),
            ..Default::default()
        });
    }
    match msg.content {
        Some(Content::Text(t)) if !t.is_empty() => content.push(ContentBlock::text(t)),
        Some(Content::Parts(parts)) => {
            let text: String = parts.into_iter().filter_map(|p| p.text).collect();
            if !text.is_empty() {
                content.push(ContentBlock::text(text));
            }
        }
        _ => {}
    }
    let refused = msg.refusal.as_ref().is_some_and(|r| !r.is_empty());
    if let Some(r) = msg.refusal.filter(|r| !r.is_empty()) {
        content.push(ContentBlock::text(r.into_owned()));
    }
    let mut any_tool = false;
    for (k, tc) in msg.tool_calls.unwrap_or_default().into_iter().enumerate() {
        let f = tc.function.unwrap_or_default();
        let input = match arguments_to_input(f.arguments.as_deref().unwrap_or("")) {
            Some(v) => v,
            None => {
                dropped.push(format!(
                    "choices[0].message.tool_calls[{k}].function.arguments"
                ));
                raw_empty_object()
            }
        };
        any_tool = true;
        content.push(ContentBlock {
            kind: Some("tool_use".into()),
            id: Some(anthropic_tool_id(tc.id.as_deref())),
            name: f.name.map(Cow::into_owned),
            input: Some(input),
            ..Default::default()
        });
    }
    let mut stop = stop_reason_for(choice.finish_reason.as_deref());
    if refused {
        stop = "refusal";
    } else if any_tool && stop == "end_turn" {
        // Some compatible servers say "stop" after tool calls.
        stop = "tool_use";
    }
    let usage = resp
        .usage
        .as_ref()
        .map(ChatUsage::to_usage)
        .unwrap_or_default();
    let out = AnthropicMessageOut {
        id: format!("msg_{}", id_suffix(resp.id.as_deref())),
        kind: "message",
        role: "assistant",
        model: ctx.client_model,
        content,
        stop_reason: Some(stop),
        stop_sequence: None,
        usage: AnthropicUsageOut::from_usage(&usage),
    };
    let bytes = super::to_json_sized(&out, body.len()).map_err(upstream_err)?;
    Ok((bytes, usage, dropped))
}

#[derive(Serialize)]
struct OpenAiCompletionOut<'a> {
    id: String,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [OpenAiChoiceOut; 1],
    usage: ChatUsage,
}

#[derive(Serialize)]
struct OpenAiChoiceOut {
    index: u32,
    message: OpenAiMessageOut,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct OpenAiMessageOut {
    role: &'static str,
    #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
    reasoning_content: Option<String>,
    /// Only with [`anthropic_response_to_chat_with_signatures`].
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "crate::protocol::json_str::serialize_opt")]
    reasoning_signature: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut>,
    refusal: Option<()>,
}

#[derive(Serialize)]
struct ToolCallOut {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut,
}

#[derive(Serialize)]
struct FunctionOut {
    name: String,
    #[serde(serialize_with = "crate::protocol::json_str::serialize")]
    arguments: String,
}

/// An Anthropic `message` → an OpenAI `chat.completion`.
pub fn anthropic_response_to_openai(
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<(Vec<u8>, Usage, Vec<String>), TranslateError> {
    anthropic_to_chat(body, ctx, false)
}

/// Like [`anthropic_response_to_openai`], with the thinking block's signature in the message's
/// `reasoning_signature`: for the Chat stage of Anthropic → Responses translation only.
pub fn anthropic_response_to_chat_with_signatures(
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<(Vec<u8>, Usage, Vec<String>), TranslateError> {
    anthropic_to_chat(body, ctx, true)
}

fn anthropic_to_chat(
    body: &[u8],
    ctx: &ResponseContext,
    keep_signatures: bool,
) -> Result<(Vec<u8>, Usage, Vec<String>), TranslateError> {
    let resp: MessagesResponse =
        crate::protocol::json_str::from_slice(body).map_err(upstream_err)?;
    if resp.kind.as_deref() == Some("error") {
        return Err(TranslateError::InvalidUpstream(
            "upstream returned an error body with a success status".into(),
        ));
    }
    let mut dropped = Vec::new();
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut signature = None;
    let mut calls = Vec::new();
    for (i, b) in resp.content.unwrap_or_default().into_iter().enumerate() {
        match b.kind() {
            "text" => {
                if b.citations.as_ref().is_some_and(super::is_meaningful) {
                    dropped.push(format!("content[{i}].citations"));
                }
                text.push_str(b.text.as_deref().unwrap_or(""));
            }
            "thinking" => {
                reasoning.push_str(b.thinking.as_deref().unwrap_or(""));
                if keep_signatures {
                    signature = b.signature.clone().filter(|s| !s.is_empty());
                }
            }
            "tool_use" => calls.push(ToolCallOut {
                id: b.id.unwrap_or_default(),
                kind: "function",
                function: FunctionOut {
                    name: b.name.unwrap_or_default(),
                    arguments: b
                        .input
                        .as_deref()
                        .map(|r| r.get().to_owned())
                        .unwrap_or_else(|| "{}".into()),
                },
            }),
            other => dropped.push(format!("content[{i}] ({other})")),
        }
    }
    let usage = resp
        .usage
        .as_ref()
        .map(AnthropicUsage::to_usage)
        .unwrap_or_default();
    let content = if text.is_empty() && !calls.is_empty() {
        None
    } else {
        Some(text)
    };
    let out = OpenAiCompletionOut {
        id: format!("chatcmpl-{}", id_suffix(resp.id.as_deref())),
        object: "chat.completion",
        created: unix_now(),
        model: ctx.client_model,
        choices: [OpenAiChoiceOut {
            index: 0,
            message: OpenAiMessageOut {
                role: "assistant",
                content,
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
                reasoning_signature: signature,
                tool_calls: calls,
                refusal: None,
            },
            logprobs: None,
            finish_reason: finish_reason_for(resp.stop_reason.as_deref()),
        }],
        usage: openai_usage_out(&usage),
    };
    let bytes = super::to_json_sized(&out, body.len()).map_err(upstream_err)?;
    Ok((bytes, usage, dropped))
}
