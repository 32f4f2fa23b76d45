//! Request: OpenAI Chat Completions in → Anthropic Messages upstream (TRANSLATION.md §3).
//!
//! Owns: the OpenAI→Anthropic request mapping, role merging, and its `dropped` list.
//! Must not: do I/O.

use super::request_a2o::empty_object_schema;
use super::{
    anthropic_tool_id, compact_dropped, invalid_json, is_meaningful, RequestContext,
    TranslateError, Translated,
};
use crate::protocol::anthropic::{
    Content, ContentBlock, Message, MessagesRequest, Metadata, OutputConfig, Source, Thinking,
    Tool, ToolChoice,
};
use crate::protocol::openai::{
    ChatMessage, ChatRequest, ChatTool, ContentPart, REASONING_SIGNATURE,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// `max_tokens` when the OpenAI client sent none (Anthropic requires it). 8192 fits every
/// current Claude model's output limit; the Claude 3 (not 3.5/3.7) models get 4096, their limit.
pub const DEFAULT_MAX_TOKENS: u64 = 8192;

/// The default `max_tokens` for an Anthropic model (see [`DEFAULT_MAX_TOKENS`]).
pub fn default_max_tokens(model: &str) -> u64 {
    let m = model.to_ascii_lowercase();
    if m.contains("claude-3-") && !m.contains("claude-3-5") && !m.contains("claude-3-7") {
        4096
    } else {
        DEFAULT_MAX_TOKENS
    }
}

/// `reasoning_effort` → thinking budget.
fn budget_for_effort(effort: &str) -> Option<Option<u64>> {
    Some(match effort {
        "minimal" | "low" => Some(1024),
        "medium" => Some(8192),
        "high" | "xhigh" => Some(24576),
        "none" => None,
        _ => return None,
    })
}

/// `reasoning_effort` → adaptive thinking's `output_config.effort` (`Some(None)`: no thinking).
fn adaptive_effort_for(effort: &str) -> Option<Option<&'static str>> {
    Some(match effort {
        "minimal" | "low" => Some("low"),
        "medium" => Some("medium"),
        "high" => Some("high"),
        "xhigh" | "max" => Some("max"),
        "none" => None,
        _ => return None,
    })
}

/// The (major, minor) version in a Claude model name: `claude-opus-4-7` → (4, 7),
/// `claude-sonnet-5` → (5, 0), `claude-3-7-sonnet-…` → (3, 7).
fn claude_version(model: &str) -> Option<(u64, u64)> {
    let m = model.to_ascii_lowercase();
    let rest = m.split("claude-").nth(1)?;
    let nums: Vec<u64> = rest
        .split(['-', '.', '@'])
        .filter_map(|p| p.parse::<u64>().ok())
        .filter(|n| *n < 100)
        .take(2)
        .collect();
    match nums.as_slice() {
        [major, minor, ..] => Some((*major, *minor)),
        [major] => Some((*major, 0)),
        [] => None,
    }
}

/// Claude models from 4.6 on think adaptively (`thinking: {type: adaptive}` with an effort);
/// from Opus 4.7 on, `type: enabled` with a budget is refused with a 400.
pub(crate) fn uses_adaptive_thinking(model: &str) -> bool {
    claude_version(model).is_some_and(|v| v >= (4, 6))
}

/// `anthropic-version` 2026-10-21 and later reject `temperature`, `top_p` and `top_k`.
fn rejects_sampling_parameters(anthropic_version: &str) -> bool {
    // ISO dates compare as strings.
    anthropic_version.len() == 10 && anthropic_version >= "2026-10-21"
}

/// Claude models from 4.5 on reject `temperature` and `top_p` together.
fn rejects_temperature_with_top_p(model: &str) -> bool {
    // Names look like `opus-4-5-2025…`, `sonnet-4-5`, `haiku-4-5`, `3-7-sonnet-…`.
    claude_version(model).is_some_and(|v| v >= (4, 5))
}

/// Translate an OpenAI Chat Completions request body into an Anthropic Messages body.
pub fn openai_request_to_anthropic(
    body: &[u8],
    ctx: &RequestContext,
) -> Result<Translated, TranslateError> {
    let req: ChatRequest = crate::protocol::json_str::from_slice(body).map_err(invalid_json)?;
    let mut dropped: Vec<String> = Vec::new();
    if req.n.unwrap_or(1) > 1 {
        return Err(TranslateError::Unsupported(
            "n > 1 is not supported for this model".into(),
        ));
    }
    for (k, v) in &req.extra {
        if is_meaningful(v) {
            dropped.push(k.clone());
        }
    }
    let Some(messages) = req.messages else {
        return Err(TranslateError::InvalidShape(
            "`messages` is required: send an array of {role, content} messages".into(),
        ));
    };

    let mut system: Vec<ContentBlock> = Vec::new();
    let mut turns: Vec<Message> = Vec::with_capacity(messages.len());
    for (i, m) in messages.into_iter().enumerate() {
        let path = format!("messages[{i}]");
        let role = m.role.clone().unwrap_or_default();
        match role.as_str() {
            "system" | "developer" => system_blocks(m, &path, &mut system, &mut dropped),
            "user" => {
                let blocks = user_blocks(m, &path, &mut dropped);
                push_turn(&mut turns, "user", blocks);
            }
            "assistant" => {
                let blocks = assistant_blocks(m, &path, &mut dropped);
                push_turn(&mut turns, "assistant", blocks);
            }
            "tool" | "function" => {
                let blocks = tool_blocks(m, &path, &mut dropped);
                push_turn(&mut turns, "user", blocks);
            }
            other => {
                return Err(TranslateError::InvalidShape(format!(
                    "{path}.role {other:?} is not one of system, developer, user, assistant, tool"
                )))
            }
        }
    }
    for t in &mut turns {
        finish_turn(t);
    }

    let mut out = MessagesRequest {
        model: Some(ctx.upstream_model.to_owned()),
        messages: Some(turns),
        ..Default::default()
    };
    if !system.is_empty() {
        out.system = Some(Content::Parts(system));
    }
    let mut max_tokens = req
        .max_completion_tokens
        .or(req.max_tokens)
        .unwrap_or_else(|| default_max_tokens(ctx.upstream_model));

    // Reasoning effort → adaptive thinking with an effort on the models that require it,
    // extended thinking with a budget before them.
    let mut thinking_on = false;
    if let Some(effort) = req.reasoning_effort.as_deref() {
        if uses_adaptive_thinking(ctx.upstream_model) {
            match adaptive_effort_for(effort) {
                Some(Some(level)) => {
                    out.thinking = Some(Thinking {
                        kind: Some("adaptive".into()),
                        ..Default::default()
                    });
                    out.output_config = Some(OutputConfig {
                        effort: Some(level.into()),
                        ..Default::default()
                    });
                    thinking_on = true;
                }
                Some(None) => {}
                None => dropped.push(format!("reasoning_effort ({effort})")),
            }
        } else {
            match budget_for_effort(effort) {
                Some(Some(budget)) => {
                    if max_tokens <= budget {
                        max_tokens += budget;
                    }
                    out.thinking = Some(Thinking {
                        kind: Some("enabled".into()),
                        budget_tokens: Some(budget),
                        ..Default::default()
                    });
                    thinking_on = true;
                }
                Some(None) => {}
                None => dropped.push(format!("reasoning_effort ({effort})")),
            }
        }
    }
    out.max_tokens = Some(max_tokens);

    // From API version 2026-10-21 on, Anthropic rejects the sampling knobs.
    let no_sampling = rejects_sampling_parameters(ctx.anthropic_version);
    if no_sampling {
        let version = ctx.anthropic_version;
        if req.temperature.is_some() {
            dropped.push(format!(
                "temperature (rejected by anthropic-version {version})"
            ));
        }
        if req.top_p.is_some() {
            dropped.push(format!("top_p (rejected by anthropic-version {version})"));
        }
    }
    if let Some(t) = req.temperature.filter(|_| !no_sampling) {
        if thinking_on && t != 1.0 {
            dropped.push("temperature (extended thinking requires 1)".into());
        } else if t > 1.0 {
            dropped.push("temperature (clamped to 1)".into());
            out.temperature = Some(1.0);
        } else {
            out.temperature = Some(t.max(0.0));
        }
    }
    if let Some(p) = req.top_p.filter(|_| !no_sampling) {
        if thinking_on && p < 0.95 {
            dropped.push("top_p (extended thinking requires >= 0.95)".into());
        } else if out.temperature.is_some() && rejects_temperature_with_top_p(ctx.upstream_model) {
            dropped.push(format!(
                "top_p (cannot be combined with temperature on {})",
                ctx.upstream_model
            ));
        } else {
            out.top_p = Some(p);
        }
    }
    if let Some(stop) = req.stop {
        let list = match stop {
            Content::Text(s) => vec![s],
            Content::Parts(v) => v,
        };
        let mut keep = Vec::with_capacity(list.len());
        for (k, s) in list.into_iter().enumerate() {
            // Anthropic rejects empty and whitespace-only stop sequences.
            if s.trim().is_empty() {
                dropped.push(format!("stop[{k}] (whitespace-only)"));
            } else {
                keep.push(s);
            }
        }
        if !keep.is_empty() {
            out.stop_sequences = Some(keep);
        }
    }
    if req.stream == Some(true) {
        out.stream = Some(true);
    }
    if let Some(user) = req.user {
        out.metadata = Some(Metadata {
            user_id: Some(user),
            ..Default::default()
        });
    }
    let tools = req
        .tools
        .map(|t| tools_to_anthropic(t, &mut dropped))
        .unwrap_or_default();
    if !tools.is_empty() {
        let mut choice = match req.tool_choice {
            Some(v) => tool_choice_to_anthropic(&v, &mut dropped),
            None => None,
        };
        if req.parallel_tool_calls == Some(false) {
            let c = choice.get_or_insert_with(|| ToolChoice {
                kind: Some("auto".into()),
                ..Default::default()
            });
            if c.kind.as_deref() != Some("none") {
                c.disable_parallel_tool_use = Some(true);
            }
        }
        out.tool_choice = choice;
        out.tools = Some(tools);
    } else if let Some(Value::Object(o)) = &req.tool_choice {
        // A named function that does not exist: the choice cannot be honoured.
        if o.contains_key("function") {
            dropped.push("tool_choice".into());
        }
    }
    if let Some(rf) = &req.response_format {
        let kind = rf.get("type").and_then(Value::as_str).unwrap_or("");
        let schema = rf.pointer("/json_schema/schema");
        match schema {
            // Structured output (Claude 4.5 on): the schema goes in `output_config.format`.
            Some(schema)
                if kind == "json_schema"
                    && claude_version(ctx.upstream_model).is_some_and(|v| v >= (4, 5)) =>
            {
                out.output_config
                    .get_or_insert_with(OutputConfig::default)
                    .format = Some(serde_json::json!({"type": "json_schema", "schema": schema}));
            }
            _ if kind != "text" && !rf.is_null() => {
                dropped.push(format!("response_format ({kind})"));
            }
            _ => {}
        }
    }

    let include_usage = req
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let body = super::to_json_sized(&out, body.len())
        .map_err(|e| TranslateError::InvalidShape(e.to_string()))?;
    Ok(Translated {
        body,
        dropped: compact_dropped(dropped),
        stream: req.stream == Some(true),
        include_usage,
        inline_system_messages: false,
    })
}

/// Append blocks to the conversation, merging into the previous turn when the role repeats.
fn push_turn(turns: &mut Vec<Message>, role: &str, blocks: Vec<ContentBlock>) {
    if blocks.is_empty() {
        return;
    }
    if let Some(last) = turns.last_mut() {
        if last.role.as_deref() == Some(role) {
            if let Some(Content::Parts(existing)) = &mut last.content {
                existing.extend(blocks);
                return;
            }
        }
    }
    turns.push(Message {
        role: Some(role.to_owned()),
        content: Some(Content::Parts(blocks)),
        ..Default::default()
    });
}

/// Tool results first in a user turn (Anthropic requires it); a lone plain text block becomes a
/// string.
fn finish_turn(t: &mut Message) {
    let Some(Content::Parts(blocks)) = &mut t.content else {
        return;
    };
    if blocks.iter().any(|b| b.kind() == "tool_result") {
        let (mut results, rest): (Vec<_>, Vec<_>) =
            blocks.drain(..).partition(|b| b.kind() == "tool_result");
        results.extend(rest);
        *blocks = results;
    }
    if blocks.len() == 1 && blocks[0].kind() == "text" && blocks[0].extra.is_empty() {
        let text = blocks.pop().and_then(|b| b.text).unwrap_or_default();
        t.content = Some(Content::Text(text));
    }
}

fn report_extra(m: &ChatMessage, path: &str, allowed: &[&str], dropped: &mut Vec<String>) {
    for (k, v) in &m.extra {
        if is_meaningful(v) {
            dropped.push(format!("{path}.{k}"));
        }
    }
    let present = [
        ("name", m.name.is_some()),
        (
            "tool_calls",
            m.tool_calls.as_ref().is_some_and(|t| !t.is_empty()),
        ),
        ("tool_call_id", m.tool_call_id.is_some()),
        ("reasoning_content", m.reasoning_content.is_some()),
        ("reasoning", m.reasoning.is_some()),
        ("refusal", m.refusal.is_some()),
        (
            "function_call",
            m.function_call.as_ref().is_some_and(is_meaningful),
        ),
    ];
    for (k, p) in present {
        if p && !allowed.contains(&k) {
            dropped.push(format!("{path}.{k}"));
        }
    }
}

fn system_blocks(
    m: ChatMessage,
    path: &str,
    system: &mut Vec<ContentBlock>,
    dropped: &mut Vec<String>,
) {
    report_extra(&m, path, &[], dropped);
    match m.content {
        Some(Content::Text(t)) if !t.is_empty() => system.push(ContentBlock::text(t)),
        Some(Content::Parts(parts)) => {
            for (j, p) in parts.into_iter().enumerate() {
                if p.kind() == "text" {
                    let t = p.text.unwrap_or_default();
                    if !t.is_empty() {
                        system.push(ContentBlock::text(t));
                    }
                } else {
                    dropped.push(format!("{path}.content[{j}] ({})", p.kind()));
                }
            }
        }
        _ => {}
    }
}

/// Parse `data:<media type>;base64,<data>`.
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media = meta.strip_suffix(";base64")?;
    Some((media, data))
}

fn part_to_block(p: ContentPart, path: &str, dropped: &mut Vec<String>) -> Option<ContentBlock> {
    for (k, v) in &p.extra {
        if is_meaningful(v) {
            dropped.push(format!("{path}.{k}"));
        }
    }
    match p.kind() {
        "text" | "input_text" => {
            let t = p.text.unwrap_or_default();
            (!t.is_empty()).then(|| ContentBlock::text(t))
        }
        "refusal" => {
            let t = p.refusal.unwrap_or_default();
            (!t.is_empty()).then(|| ContentBlock::text(t))
        }
        "image_url" => {
            let iu = p.image_url.unwrap_or_default();
            if iu.detail.as_deref().is_some_and(|d| d != "auto") {
                dropped.push(format!("{path}.image_url.detail"));
            }
            let url = iu.url.unwrap_or_default();
            let source = if let Some((media, data)) = parse_data_url(&url) {
                Source {
                    kind: Some("base64".into()),
                    media_type: Some(media.to_owned()),
                    data: Some(data.to_owned()),
                    ..Default::default()
                }
            } else if url.starts_with("http://") || url.starts_with("https://") {
                Source {
                    kind: Some("url".into()),
                    url: Some(url),
                    ..Default::default()
                }
            } else {
                dropped.push(format!(
                    "{path} (image_url not a base64 data URL or http(s) URL)"
                ));
                return None;
            };
            Some(ContentBlock {
                kind: Some("image".into()),
                source: Some(source),
                ..Default::default()
            })
        }
        "file" => {
            let f = p.file.unwrap_or_default();
            let data = f.file_data.as_deref().and_then(parse_data_url);
            match data {
                Some(("application/pdf", data)) => Some(ContentBlock {
                    kind: Some("document".into()),
                    source: Some(Source {
                        kind: Some("base64".into()),
                        media_type: Some("application/pdf".into()),
                        data: Some(data.to_owned()),
                        ..Default::default()
                    }),
                    title: f.filename,
                    ..Default::default()
                }),
                _ => {
                    let what = if f.file_id.is_some() {
                        "file_id"
                    } else {
                        "not a PDF data URL"
                    };
                    dropped.push(format!("{path} (file: {what})"));
                    None
                }
            }
        }
        other => {
            dropped.push(format!("{path} ({other})"));
            None
        }
    }
}

fn user_blocks(m: ChatMessage, path: &str, dropped: &mut Vec<String>) -> Vec<ContentBlock> {
    report_extra(&m, path, &[], dropped);
    match m.content {
        Some(Content::Text(t)) if !t.is_empty() => vec![ContentBlock::text(t)],
        Some(Content::Parts(parts)) => parts
            .into_iter()
            .enumerate()
            .filter_map(|(j, p)| part_to_block(p, &format!("{path}.content[{j}]"), dropped))
            .collect(),
        _ => Vec::new(),
    }
}

/// `arguments` (a JSON string) → a tool input object, byte for byte when it is one.
/// Empty arguments mean no arguments; anything else that is not a JSON object is `None`.
pub(crate) fn arguments_to_input(args: &str) -> Option<Box<RawValue>> {
    let trimmed = args.trim();
    if trimmed.is_empty() {
        return RawValue::from_string("{}".into()).ok();
    }
    if !trimmed.starts_with('{') {
        return None;
    }
    serde_json::from_str::<Box<RawValue>>(trimmed).ok()
}

fn assistant_blocks(
    mut m: ChatMessage,
    path: &str,
    dropped: &mut Vec<String>,
) -> Vec<ContentBlock> {
    // A thinking block with its signature, as dario's Responses translation carries it.
    let signature = match m.extra.remove(REASONING_SIGNATURE) {
        Some(Value::String(s)) if m.reasoning_content.is_some() => Some(s),
        _ => None,
    };
    let allowed: &[&str] = if signature.is_some() {
        &["tool_calls", "refusal", "reasoning_content"]
    } else {
        &["tool_calls", "refusal"]
    };
    report_extra(&m, path, allowed, dropped);
    let mut blocks = Vec::new();
    if let Some(sig) = signature {
        blocks.push(ContentBlock {
            kind: Some("thinking".into()),
            thinking: m.reasoning_content.take(),
            signature: Some(sig),
            ..Default::default()
        });
    }
    match m.content {
        Some(Content::Text(t)) if !t.is_empty() => blocks.push(ContentBlock::text(t)),
        Some(Content::Parts(parts)) => {
            for (j, p) in parts.into_iter().enumerate() {
                blocks.extend(part_to_block(p, &format!("{path}.content[{j}]"), dropped));
            }
        }
        _ => {}
    }
    if let Some(r) = m.refusal {
        if !r.is_empty() && blocks.is_empty() {
            blocks.push(ContentBlock::text(r));
        }
    }
    for (k, tc) in m.tool_calls.unwrap_or_default().into_iter().enumerate() {
        let f = tc.function.unwrap_or_default();
        let args = f.arguments.unwrap_or_default();
        let input = match arguments_to_input(&args) {
            Some(v) => v,
            None => {
                dropped.push(format!(
                    "{path}.tool_calls[{k}].function.arguments (not a JSON object)"
                ));
                RawValue::from_string("{}".into()).expect("valid")
            }
        };
        blocks.push(ContentBlock {
            kind: Some("tool_use".into()),
            id: Some(anthropic_tool_id(tc.id.as_deref())),
            name: f.name,
            input: Some(input),
            ..Default::default()
        });
    }
    blocks
}

fn tool_blocks(m: ChatMessage, path: &str, dropped: &mut Vec<String>) -> Vec<ContentBlock> {
    report_extra(&m, path, &["tool_call_id", "name"], dropped);
    let content = match m.content {
        Some(Content::Text(t)) if !t.is_empty() => Some(Content::Text(t)),
        Some(Content::Parts(parts)) => {
            let inner: Vec<ContentBlock> = parts
                .into_iter()
                .enumerate()
                .filter_map(|(j, p)| part_to_block(p, &format!("{path}.content[{j}]"), dropped))
                .collect();
            (!inner.is_empty()).then_some(Content::Parts(inner))
        }
        _ => None,
    };
    // Legacy `function` messages carry the function name instead of an id.
    let id = m.tool_call_id.or(m.name);
    vec![ContentBlock {
        kind: Some("tool_result".into()),
        tool_use_id: Some(anthropic_tool_id(id.as_deref())),
        content,
        ..Default::default()
    }]
}

fn tools_to_anthropic(tools: Vec<ChatTool>, dropped: &mut Vec<String>) -> Vec<Tool> {
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.into_iter().enumerate() {
        let kind = t.kind.as_deref().unwrap_or("function");
        let Some(f) = t.function.filter(|_| kind == "function") else {
            dropped.push(format!("tools[{i}] ({kind})"));
            continue;
        };
        if f.strict.as_ref().is_some_and(is_meaningful) {
            dropped.push(format!("tools[{i}].function.strict"));
        }
        for (k, v) in f.extra.iter().chain(t.extra.iter()) {
            if is_meaningful(v) {
                dropped.push(format!("tools[{i}].{k}"));
            }
        }
        let schema = match f.parameters {
            Some(p) => ensure_object_type(p),
            None => empty_object_schema(),
        };
        out.push(Tool {
            name: f.name,
            description: f.description,
            input_schema: Some(schema),
            ..Default::default()
        });
    }
    out
}

/// Anthropic requires `input_schema.type`; OpenAI allows `parameters: {}`. Add
/// `"type": "object"` when missing, keeping the rest of the schema byte for byte.
fn ensure_object_type(schema: Box<RawValue>) -> Box<RawValue> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "type")]
        kind: Option<serde::de::IgnoredAny>,
    }
    let raw = schema.get().trim();
    if !raw.starts_with('{') {
        return empty_object_schema();
    }
    match serde_json::from_str::<Probe>(raw) {
        Ok(Probe { kind: Some(_) }) => schema,
        Ok(Probe { kind: None }) => {
            let inner = raw[1..].trim_start();
            let s = if inner.starts_with('}') {
                r#"{"type":"object","properties":{}}"#.to_owned()
            } else {
                format!(r#"{{"type":"object",{inner}"#)
            };
            RawValue::from_string(s).unwrap_or_else(|_| empty_object_schema())
        }
        Err(_) => empty_object_schema(),
    }
}

fn tool_choice_to_anthropic(v: &Value, dropped: &mut Vec<String>) -> Option<ToolChoice> {
    let kind = |k: &str| ToolChoice {
        kind: Some(k.into()),
        ..Default::default()
    };
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Some(kind("auto")),
            "required" => Some(kind("any")),
            "none" => Some(kind("none")),
            other => {
                dropped.push(format!("tool_choice ({other})"));
                None
            }
        },
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str);
            match name {
                Some(n) => Some(ToolChoice {
                    kind: Some("tool".into()),
                    name: Some(n.to_owned()),
                    ..Default::default()
                }),
                None => {
                    let t = o.get("type").and_then(Value::as_str).unwrap_or("?");
                    dropped.push(format!("tool_choice ({t})"));
                    None
                }
            }
        }
        Value::Null => None,
        _ => {
            dropped.push("tool_choice".into());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_and_top_p_rule_by_model() {
        for m in [
            "claude-sonnet-4-5",
            "claude-opus-4-5-20251101",
            "claude-haiku-4-5",
            "claude-opus-5",
        ] {
            assert!(rejects_temperature_with_top_p(m), "{m}");
        }
        for m in [
            "claude-sonnet-4-20250514",
            "claude-3-7-sonnet-20250219",
            "claude-opus-4-1",
            "gpt-4o",
        ] {
            assert!(!rejects_temperature_with_top_p(m), "{m}");
        }
    }

    #[test]
    fn default_max_tokens_by_model() {
        assert_eq!(default_max_tokens("claude-3-haiku-20240307"), 4096);
        assert_eq!(default_max_tokens("claude-3-5-haiku-latest"), 8192);
        assert_eq!(default_max_tokens("claude-sonnet-4-5"), 8192);
    }

    #[test]
    fn schema_gets_object_type() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        assert_eq!(
            ensure_object_type(raw("{}")).get(),
            r#"{"type":"object","properties":{}}"#
        );
        assert_eq!(
            ensure_object_type(raw(r#"{"properties":{"a":{}}}"#)).get(),
            r#"{"type":"object","properties":{"a":{}}}"#
        );
        assert_eq!(
            ensure_object_type(raw(r#"{"z":1,"type":"object"}"#)).get(),
            r#"{"z":1,"type":"object"}"#
        );
    }

    #[test]
    fn data_urls() {
        assert_eq!(
            parse_data_url("data:image/png;base64,AAA"),
            Some(("image/png", "AAA"))
        );
        assert_eq!(parse_data_url("data:text/plain,hi"), None);
        assert_eq!(parse_data_url("https://x/y.png"), None);
    }
}
