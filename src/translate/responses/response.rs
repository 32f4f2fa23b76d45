//! Chat completion → `response` object (non-streaming).
//!
//! Owns: output items from a whole Chat reply. Must not: do I/O.

use serde_json::{json, Value};

use super::{item_id, ResponsesMeta};
use crate::protocol::anthropic::Content;
use crate::protocol::openai::ChatCompletion;
use crate::protocol::Usage;
use crate::translate::TranslateError;

/// The reply's items in Responses order: reasoning, message, function calls.
pub(crate) fn output_items(
    meta: &ResponsesMeta,
    reasoning: &str,
    signature: Option<&str>,
    text: &str,
    calls: &[(String, String, String)],
) -> Vec<Value> {
    let mut out = Vec::new();
    if !reasoning.is_empty() {
        let mut item = reasoning_item(meta, out.len(), reasoning);
        set_signature(&mut item, signature);
        out.push(item);
    }
    if !text.is_empty() {
        out.push(message_item(meta, out.len(), text, "completed"));
    }
    for (call_id, name, arguments) in calls {
        out.push(call_item(
            meta,
            out.len(),
            call_id,
            name,
            arguments,
            "completed",
        ));
    }
    out
}

pub(crate) fn reasoning_item(meta: &ResponsesMeta, index: usize, text: &str) -> Value {
    let summary = if text.is_empty() {
        json!([])
    } else {
        json!([{"type": "summary_text", "text": text}])
    };
    json!({
        "id": item_id("rs", &meta.id, index),
        "type": "reasoning",
        "summary": summary,
    })
}

/// Puts an Anthropic thinking signature in a reasoning item's `encrypted_content`.
pub(crate) fn set_signature(item: &mut Value, signature: Option<&str>) {
    if let Some(sig) = signature.filter(|s| !s.is_empty()) {
        item["encrypted_content"] =
            Value::String(format!("{}{sig}", super::ANTHROPIC_SIGNATURE_PREFIX));
    }
}

pub(crate) fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

pub(crate) fn message_item(meta: &ResponsesMeta, index: usize, text: &str, status: &str) -> Value {
    let content = if status == "in_progress" {
        json!([])
    } else {
        json!([text_part(text)])
    };
    json!({
        "id": item_id("msg", &meta.id, index),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    })
}

pub(crate) fn call_item(
    meta: &ResponsesMeta,
    index: usize,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    if meta.is_custom(name) {
        let input = if status == "in_progress" {
            String::new()
        } else {
            super::custom_input(arguments)
        };
        return json!({
            "id": item_id("ctc", &meta.id, index),
            "type": "custom_tool_call",
            "status": status,
            "call_id": call_id,
            "name": name,
            "input": input,
        });
    }
    let (namespace, name) = meta.split_name(name);
    let mut item = json!({
        "id": item_id("fc", &meta.id, index),
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    });
    if let Some(ns) = namespace {
        item["namespace"] = Value::String(ns.to_owned());
    }
    item
}

/// `status` and `incomplete_details` for a Chat `finish_reason`.
pub(crate) fn status_for(finish_reason: Option<&str>) -> (&'static str, Option<Value>) {
    match finish_reason {
        Some("length") => ("incomplete", Some(json!({"reason": "max_output_tokens"}))),
        Some("content_filter") => ("incomplete", Some(json!({"reason": "content_filter"}))),
        _ => ("completed", None),
    }
}

/// A translated `response` body with its usage, the dropped fields and the output items (for the
/// store).
pub struct TranslatedResponse {
    pub body: Vec<u8>,
    pub usage: Usage,
    pub dropped: Vec<String>,
    pub output: Vec<Value>,
}

/// A `chat.completion` → a `response` object.
pub fn chat_response_to_responses(
    body: &[u8],
    meta: &ResponsesMeta,
    usage_override: Option<Usage>,
) -> Result<TranslatedResponse, TranslateError> {
    let resp: ChatCompletion = crate::protocol::json_str::from_slice(body)
        .map_err(|e| TranslateError::InvalidUpstream(e.to_string()))?;
    if resp.error.as_ref().is_some_and(|e| !e.is_null()) {
        return Err(TranslateError::InvalidUpstream(
            "upstream returned an error body with a success status".into(),
        ));
    }
    let mut dropped = Vec::new();
    let choices = resp.choices.unwrap_or_default();
    if choices.len() > 1 {
        dropped.push("choices[1..]".into());
    }
    let choice = choices.into_iter().next().unwrap_or_default();
    let message = choice.message.unwrap_or_default();
    let reasoning = message
        .reasoning_content
        .or(message.reasoning)
        .unwrap_or_default();
    let mut text = match message.content {
        Some(Content::Text(t)) => t,
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| p.text.as_deref().or(p.refusal.as_deref()))
            .collect(),
        None => String::new(),
    };
    if let Some(r) = message.refusal.as_deref() {
        text.push_str(r);
    }
    let calls: Vec<(String, String, String)> = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            let f = c.function.unwrap_or_default();
            (
                c.id.unwrap_or_default(),
                f.name.unwrap_or_default(),
                f.arguments.unwrap_or_else(|| "{}".into()),
            )
        })
        .collect();
    let usage = usage_override.unwrap_or_else(|| {
        resp.usage
            .as_ref()
            .map(|u| u.to_usage())
            .unwrap_or_default()
    });
    let signature = message
        .extra
        .get(crate::protocol::openai::REASONING_SIGNATURE)
        .and_then(Value::as_str);
    let output = output_items(meta, &reasoning, signature, &text, &calls);
    let (status, incomplete) = status_for(choice.finish_reason.as_deref());
    let obj = meta.response_object(
        status,
        &output,
        Some(&usage),
        incomplete.map(|d| ("incomplete_details", d)),
    );
    let bytes =
        serde_json::to_vec(&obj).map_err(|e| TranslateError::InvalidUpstream(e.to_string()))?;
    Ok(TranslatedResponse {
        body: bytes,
        usage,
        dropped,
        output,
    })
}
