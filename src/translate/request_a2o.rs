//! Request: Anthropic Messages in → OpenAI Chat Completions upstream (TRANSLATION.md §1).
//!
//! Owns: the Anthropic→OpenAI request mapping and its `dropped` list. Must not: do I/O.

use super::{
    accepts_reasoning_effort, compact_dropped, invalid_json, is_meaningful,
    is_openai_reasoning_model, RequestContext, SystemMessages, TranslateError, Translated,
};
use crate::protocol::anthropic::{Content, ContentBlock, MessagesRequest, Tool, ToolChoice};
use crate::protocol::openai::{
    ChatMessage, ChatRequest, ChatTool, ContentPart, FilePart, FunctionCall, FunctionDef, ImageUrl,
    StreamOptions, ToolCall,
};
use serde_json::value::RawValue;
use serde_json::Value;

/// The system-prompt line Claude Code adds for billing attribution; meaningless to others.
const BILLING_LINE: &str = "x-anthropic-billing-header:";

/// OpenAI itself accepts at most this many stop sequences.
const OPENAI_MAX_STOP: usize = 4;

/// Translate an Anthropic Messages request body into an OpenAI Chat Completions body.
pub fn anthropic_request_to_openai(
    body: &[u8],
    ctx: &RequestContext,
) -> Result<Translated, TranslateError> {
    let mut req: MessagesRequest =
        crate::protocol::json_str::from_slice(body).map_err(invalid_json)?;
    let mut dropped: Vec<String> = Vec::new();
    for (k, v) in &req.extra {
        if is_meaningful(v) {
            dropped.push(k.clone());
        }
    }
    let Some(messages) = req.messages else {
        return Err(TranslateError::InvalidShape(
            "`messages` is required: send an array of {role, content} turns".into(),
        ));
    };

    let mut out_msgs: Vec<ChatMessage> = Vec::with_capacity(messages.len() + 1);
    let mut leading_system = false;
    if let Some(system) = req.system {
        let text = system_text(system, "system", &mut dropped);
        if !text.is_empty() {
            out_msgs.push(system_message(text));
            leading_system = true;
        }
    }
    // `context_management`: clearing old thinking is what an OpenAI upstream gets anyway
    // (thinking goes back only where `reasoning_content` is accepted, and then only for the
    // turns the edit keeps); other edits are reported.
    let keep_thinking_turns = context_management(req.context_management.take(), &mut dropped);
    let assistant_turns = messages
        .iter()
        .filter(|m| m.role.as_deref() == Some("assistant"))
        .count();
    let mut assistant_seen = 0usize;
    // Per-turn control (beta `per-turn-control-2026-07-01`): a turn may carry its own
    // `output_config: {effort}`; the latest one steers the request's `reasoning_effort`.
    let mut turn_effort: Option<(usize, String)> = None;
    for (i, m) in messages.into_iter().enumerate() {
        for (k, v) in &m.extra {
            match turn_effort_of(k, v) {
                Some(effort) => turn_effort = Some((i, effort)),
                None => dropped.push(format!("messages[{i}].{k}")),
            }
        }
        let role = m.role.as_deref().unwrap_or("");
        let content = m.content.unwrap_or(Content::Parts(Vec::new()));
        match role {
            "user" => user_turn(i, content, &mut out_msgs, &mut dropped),
            "assistant" => {
                assistant_seen += 1;
                let cleared = keep_thinking_turns
                    .is_some_and(|keep| assistant_turns - assistant_seen >= keep);
                let thinking = if cleared {
                    Thinking::Cleared
                } else if ctx.accepts_reasoning_content {
                    Thinking::Keep
                } else {
                    Thinking::Report
                };
                assistant_turn(i, content, thinking, &mut out_msgs, &mut dropped)
            }
            // Today's Claude Code sends hook, skill and reminder context as system turns.
            "system" => {
                let path = format!("messages[{i}].content");
                let text = match content {
                    Content::Text(t) => t,
                    blocks => system_text(blocks, &path, &mut dropped),
                };
                if !text.is_empty() {
                    out_msgs.push(system_message(text));
                }
            }
            other => {
                return Err(TranslateError::InvalidShape(format!(
                "messages[{i}].role must be \"user\", \"assistant\" or \"system\", got {other:?}"
            )))
            }
        }
    }
    let inline_system_messages =
        place_system_messages(&mut out_msgs, leading_system, ctx.system_messages);

    let reasoning_model =
        ctx.upstream_is_openai_itself && is_openai_reasoning_model(ctx.upstream_model);
    let mut out = ChatRequest {
        model: Some(ctx.upstream_model.to_owned()),
        messages: Some(out_msgs),
        ..Default::default()
    };
    if let Some(max) = req.max_tokens {
        if reasoning_model {
            out.max_completion_tokens = Some(max);
        } else {
            out.max_tokens = Some(max);
        }
    }
    // OpenAI's reasoning models accept only the default sampling values.
    if let Some(t) = req.temperature {
        if reasoning_model && t != 1.0 {
            dropped.push(format!(
                "temperature (unsupported by {})",
                ctx.upstream_model
            ));
        } else {
            out.temperature = Some(t);
        }
    }
    if let Some(p) = req.top_p {
        if reasoning_model && p != 1.0 {
            dropped.push(format!("top_p (unsupported by {})", ctx.upstream_model));
        } else {
            out.top_p = Some(p);
        }
    }
    if req.top_k.as_ref().is_some_and(|v| !v.is_null()) {
        dropped.push("top_k".into());
    }
    if let Some(mut stops) = req.stop_sequences {
        if ctx.upstream_is_openai_itself && stops.len() > OPENAI_MAX_STOP {
            for k in OPENAI_MAX_STOP..stops.len() {
                dropped.push(format!("stop_sequences[{k}]"));
            }
            stops.truncate(OPENAI_MAX_STOP);
        }
        if !stops.is_empty() {
            out.stop = Some(Content::Parts(stops));
        }
    }
    if req.stream == Some(true) {
        out.stream = Some(true);
        out.stream_options = Some(StreamOptions {
            include_usage: Some(true),
            ..Default::default()
        });
    }
    if let Some(meta) = req.metadata {
        out.user = meta.user_id;
        for (k, v) in &meta.extra {
            if is_meaningful(v) {
                dropped.push(format!("metadata.{k}"));
            }
        }
    }
    let tools = req
        .tools
        .map(|t| tools_to_openai(t, &mut dropped))
        .unwrap_or_default();
    if let Some(choice) = req.tool_choice {
        tool_choice_to_openai(choice, &tools, &mut out, &mut dropped);
    }
    if !tools.is_empty() {
        out.tools = Some(tools);
    }
    reasoning_to_openai(
        req.thinking,
        req.output_config,
        turn_effort,
        ctx,
        &mut out,
        &mut dropped,
    );

    let body = super::to_json_sized(&out, body.len())
        .map_err(|e| TranslateError::InvalidShape(e.to_string()))?;
    Ok(Translated {
        body,
        dropped: compact_dropped(dropped),
        stream: req.stream == Some(true),
        include_usage: false,
        inline_system_messages,
    })
}

/// `thinking` and `output_config.effort` → `reasoning_effort`, for models that take it.
/// `enabled` maps its budget; `adaptive` (today's Claude Code) maps its effort, `max` to the
/// highest level the model accepts; adaptive without an effort leaves the upstream's default.
/// A turn's own effort (`turn_effort`, per-turn control) overrides the request's.
/// `output_config.format` (structured output) → `response_format`.
fn reasoning_to_openai(
    thinking: Option<crate::protocol::anthropic::Thinking>,
    output_config: Option<crate::protocol::anthropic::OutputConfig>,
    turn_effort: Option<(usize, String)>,
    ctx: &RequestContext,
    out: &mut ChatRequest,
    dropped: &mut Vec<String>,
) {
    let kind = thinking.as_ref().and_then(|t| t.kind.as_deref());
    let mut effort: Option<String> = None;
    if let Some(oc) = output_config {
        if let Some(format) = oc.format {
            match json_schema_format(format) {
                Some(rf) => out.response_format = Some(rf),
                None => dropped.push("output_config.format".into()),
            }
        }
        for (k, v) in &oc.extra {
            if is_meaningful(v) {
                dropped.push(format!("output_config.{k}"));
            }
        }
        effort = oc.effort;
    }
    let turn_effort_at = match turn_effort {
        Some((i, e)) => {
            effort = Some(e);
            Some(i)
        }
        None => None,
    };
    let wanted: Option<&'static str> = match kind {
        Some("enabled") => Some(effort_for_budget(
            thinking.as_ref().and_then(|t| t.budget_tokens).unwrap_or(0),
        )),
        Some("disabled") => None,
        // adaptive, or effort alone (it also steers how much a model without thinking writes).
        _ => match effort.as_deref() {
            Some("low") => Some("low"),
            Some("medium") => Some("medium"),
            Some("high") => Some("high"),
            Some("max") | Some("xhigh") => Some(highest_reasoning_effort(ctx.upstream_model)),
            Some(other) => {
                dropped.push(format!("output_config.effort ({other})"));
                None
            }
            None => None,
        },
    };
    let asked = kind.is_some_and(|k| k != "disabled") || effort.is_some();
    match wanted {
        Some(level) if accepts_reasoning_effort(ctx.upstream_model) => {
            out.reasoning_effort = Some(level.into());
        }
        _ if asked && !accepts_reasoning_effort(ctx.upstream_model) => {
            let what = if kind.is_some_and(|k| k != "disabled") {
                "thinking"
            } else {
                "output_config.effort"
            };
            dropped.push(format!("{what} (not supported by {})", ctx.upstream_model));
            if let Some(i) = turn_effort_at {
                dropped.push(format!("messages[{i}].output_config"));
            }
        }
        _ => {}
    }
}

/// A turn's `output_config` that holds only an effort (per-turn control), as that effort.
fn turn_effort_of(key: &str, value: &Value) -> Option<String> {
    if key != "output_config" {
        return None;
    }
    let obj = value.as_object()?;
    let effort = obj.get("effort")?.as_str()?;
    obj.iter()
        .all(|(k, v)| k == "effort" || !is_meaningful(v))
        .then(|| effort.to_owned())
}

/// The highest `reasoning_effort` a model accepts: `xhigh` on OpenAI's newest reasoning models
/// (gpt-5.2 on, the codex-max family), `high` everywhere else.
fn highest_reasoning_effort(model: &str) -> &'static str {
    let m = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let newer_gpt5 = m
        .strip_prefix("gpt-5.")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|minor| minor.parse::<u32>().ok())
        .is_some_and(|minor| minor >= 2);
    if newer_gpt5 || m.contains("codex-max") {
        "xhigh"
    } else {
        "high"
    }
}

/// Anthropic `output_config.format` `{type: "json_schema", schema}` → OpenAI `response_format`.
fn json_schema_format(format: Value) -> Option<Value> {
    let obj = format.as_object()?;
    if obj.get("type").and_then(Value::as_str) != Some("json_schema") {
        return None;
    }
    let schema = obj.get("schema")?.clone();
    Some(serde_json::json!({
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": true}
    }))
}

/// `context_management.edits`: `clear_thinking_*` is applied (the number of assistant turns
/// whose thinking may go upstream: `Some(n)`, or `None` for all); other edits are reported.
fn context_management(cm: Option<Value>, dropped: &mut Vec<String>) -> Option<usize> {
    let cm = cm?;
    let mut keep: Option<usize> = None;
    let edits = cm.get("edits").and_then(Value::as_array);
    for (k, edit) in edits.into_iter().flatten().enumerate() {
        let kind = edit.get("type").and_then(Value::as_str).unwrap_or("?");
        if kind.starts_with("clear_thinking") {
            // `keep`: {type: thinking_turns, value: N} or "all"; the default keeps the last turn.
            keep = match edit.get("keep") {
                Some(Value::String(s)) if s == "all" => None,
                Some(v) => Some(
                    v.get("value")
                        .and_then(Value::as_u64)
                        .map(|n| n as usize)
                        .unwrap_or(1),
                ),
                None => Some(1),
            };
        } else {
            dropped.push(format!("context_management.edits[{k}] ({kind})"));
        }
    }
    if let Some(obj) = cm.as_object() {
        for k in obj.keys().filter(|k| k.as_str() != "edits") {
            dropped.push(format!("context_management.{k}"));
        }
    }
    keep
}

fn system_message(text: String) -> ChatMessage {
    ChatMessage {
        role: Some("system".into()),
        content: Some(Content::Text(text)),
        ..Default::default()
    }
}

/// Mid-conversation system messages (all `system` messages after the leading one) placed as
/// `mode` says. In every mode a system message never comes between an assistant's tool calls
/// and their results (OpenAI requires the `tool` messages right after): it moves after them.
/// Returns whether any stays inline (so a refusal can be retried in `user` mode).
pub(crate) fn place_system_messages(
    msgs: &mut Vec<ChatMessage>,
    leading_system: bool,
    mode: SystemMessages,
) -> bool {
    let first_mid = usize::from(leading_system);
    let is_mid = |m: &ChatMessage| m.role.as_deref() == Some("system");
    if !msgs.iter().skip(first_mid).any(is_mid) {
        return false;
    }
    // Tool results stay adjacent to their calls.
    let mut ordered: Vec<ChatMessage> = Vec::with_capacity(msgs.len());
    let mut rest = std::mem::take(msgs).into_iter().peekable();
    while let Some(m) = rest.next() {
        let has_calls = m.role.as_deref() == Some("assistant") && m.tool_calls.is_some();
        ordered.push(m);
        if has_calls {
            let mut held: Vec<ChatMessage> = Vec::new();
            while let Some(next) = rest.peek() {
                match next.role.as_deref() {
                    Some("tool") => ordered.extend(rest.next()),
                    Some("system") => held.extend(rest.next()),
                    _ => break,
                }
            }
            ordered.extend(held);
        }
    }
    *msgs = ordered;
    match mode {
        SystemMessages::Inline => true,
        SystemMessages::Hoist => {
            let mut texts: Vec<String> = Vec::new();
            let mut k = 0usize;
            msgs.retain(|m| {
                let keep = (k < first_mid) || !is_mid(m);
                if !keep {
                    if let Some(Content::Text(t)) = &m.content {
                        texts.push(t.clone());
                    }
                }
                k += 1;
                keep
            });
            if leading_system {
                if let Some(Content::Text(t)) = &mut msgs[0].content {
                    for extra in texts {
                        t.push_str("\n\n");
                        t.push_str(&extra);
                    }
                }
            } else {
                msgs.insert(0, system_message(texts.join("\n\n")));
            }
            false
        }
        SystemMessages::User => {
            let mut out: Vec<ChatMessage> = Vec::with_capacity(msgs.len());
            let mut pending: Vec<String> = Vec::new();
            for (k, m) in std::mem::take(msgs).into_iter().enumerate() {
                if k >= first_mid && is_mid(&m) {
                    let text = match m.content {
                        Some(Content::Text(t)) => t,
                        _ => continue,
                    };
                    match out.last_mut() {
                        Some(prev) if prev.role.as_deref() == Some("user") => {
                            append_user_text(prev, text)
                        }
                        _ => pending.push(text),
                    }
                    continue;
                }
                if !pending.is_empty() {
                    if m.role.as_deref() == Some("user") {
                        let mut m = m;
                        prepend_user_texts(&mut m, std::mem::take(&mut pending));
                        out.push(m);
                        continue;
                    }
                    out.push(user_message(
                        std::mem::take(&mut pending)
                            .into_iter()
                            .map(ContentPart::text)
                            .collect(),
                    ));
                }
                out.push(m);
            }
            if !pending.is_empty() {
                out.push(user_message(
                    pending.into_iter().map(ContentPart::text).collect(),
                ));
            }
            *msgs = out;
            false
        }
    }
}

fn user_parts(m: &mut ChatMessage) -> &mut Vec<ContentPart> {
    let parts = match m.content.take() {
        Some(Content::Text(t)) if t.is_empty() => Vec::new(),
        Some(Content::Text(t)) => vec![ContentPart::text(t)],
        Some(Content::Parts(p)) => p,
        None => Vec::new(),
    };
    m.content = Some(Content::Parts(parts));
    match &mut m.content {
        Some(Content::Parts(p)) => p,
        _ => unreachable!("just set to parts"),
    }
}

fn append_user_text(m: &mut ChatMessage, text: String) {
    user_parts(m).push(ContentPart::text(text));
}

fn prepend_user_texts(m: &mut ChatMessage, texts: Vec<String>) {
    let parts = user_parts(m);
    let tail = std::mem::take(parts);
    parts.extend(texts.into_iter().map(ContentPart::text));
    parts.extend(tail);
}

/// `thinking.budget_tokens` → `reasoning_effort`: < 4k low, < 16k medium, else high.
pub(crate) fn effort_for_budget(budget: u64) -> &'static str {
    if budget < 4096 {
        "low"
    } else if budget < 16384 {
        "medium"
    } else {
        "high"
    }
}

/// `system` (string or text blocks) → one string, blocks joined with a blank line, Claude
/// Code's billing-attribution line removed. `path` names the blocks in `dropped`.
fn system_text(system: Content<ContentBlock>, path: &str, dropped: &mut Vec<String>) -> String {
    let mut parts: Vec<String> = Vec::new();
    match system {
        Content::Text(t) => parts.push(strip_billing_line(t)),
        Content::Parts(blocks) => {
            for (j, b) in blocks.into_iter().enumerate() {
                if b.kind() != "text" {
                    dropped.push(format!("{path}[{j}] ({})", b.kind()));
                    continue;
                }
                if b.cache_control.is_some() {
                    dropped.push(format!("{path}[{j}].cache_control"));
                }
                if b.citations.as_ref().is_some_and(is_meaningful) {
                    dropped.push(format!("{path}[{j}].citations"));
                }
                for k in b.extra.keys() {
                    dropped.push(format!("{path}[{j}].{k}"));
                }
                parts.push(strip_billing_line(b.text.unwrap_or_default()));
            }
        }
    }
    parts.retain(|p| !p.is_empty());
    parts.join("\n\n")
}

fn strip_billing_line(text: String) -> String {
    if !text.contains(BILLING_LINE) {
        return text;
    }
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with(BILLING_LINE))
        .collect();
    kept.join("\n").trim_matches('\n').to_owned()
}

fn data_url(media_type: &str, data: &str) -> String {
    let mut s = String::with_capacity(media_type.len() + data.len() + 13);
    s.push_str("data:");
    s.push_str(media_type);
    s.push_str(";base64,");
    s.push_str(data);
    s
}

/// An image block → an `image_url` part (None and reported when the source is not expressible).
fn image_part(b: ContentBlock, path: &str, dropped: &mut Vec<String>) -> Option<ContentPart> {
    let src = b.source.unwrap_or_default();
    let url = match src.kind.as_deref() {
        Some("base64") => data_url(
            src.media_type.as_deref().unwrap_or("image/png"),
            src.data.as_deref().unwrap_or(""),
        ),
        Some("url") => src.url.unwrap_or_default(),
        other => {
            dropped.push(format!("{path} (image source {})", other.unwrap_or("?")));
            return None;
        }
    };
    if b.cache_control.is_some() {
        dropped.push(format!("{path}.cache_control"));
    }
    Some(ContentPart {
        kind: Some("image_url".into()),
        image_url: Some(ImageUrl {
            url: Some(url),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// A document block → a `file` part (PDF base64) or a text part (text/content sources).
fn document_part(b: ContentBlock, path: &str, dropped: &mut Vec<String>) -> Option<ContentPart> {
    let src = b.source.unwrap_or_default();
    if b.cache_control.is_some() {
        dropped.push(format!("{path}.cache_control"));
    }
    if b.citations.as_ref().is_some_and(is_meaningful) {
        dropped.push(format!("{path}.citations"));
    }
    if b.context.is_some() {
        dropped.push(format!("{path}.context"));
    }
    match src.kind.as_deref() {
        Some("base64") => {
            let mt = src.media_type.as_deref().unwrap_or("application/pdf");
            Some(ContentPart {
                kind: Some("file".into()),
                file: Some(FilePart {
                    file_data: Some(data_url(mt, src.data.as_deref().unwrap_or(""))),
                    filename: Some(b.title.unwrap_or_else(|| "document.pdf".into())),
                    ..Default::default()
                }),
                ..Default::default()
            })
        }
        Some("text") => {
            if b.title.is_some() {
                dropped.push(format!("{path}.title"));
            }
            Some(ContentPart::text(src.data.unwrap_or_default()))
        }
        Some("content") => {
            if b.title.is_some() {
                dropped.push(format!("{path}.title"));
            }
            let text = match src.content {
                Some(Content::Text(t)) => t,
                Some(Content::Parts(parts)) => {
                    let mut texts = Vec::new();
                    for (k, p) in parts.into_iter().enumerate() {
                        if p.kind() == "text" {
                            texts.push(p.text.unwrap_or_default());
                        } else {
                            dropped.push(format!("{path}.source.content[{k}] ({})", p.kind()));
                        }
                    }
                    texts.join("\n\n")
                }
                None => String::new(),
            };
            Some(ContentPart::text(text))
        }
        other => {
            dropped.push(format!("{path} (document source {})", other.unwrap_or("?")));
            None
        }
    }
}

fn text_part(b: ContentBlock, path: &str, dropped: &mut Vec<String>) -> ContentPart {
    if b.cache_control.is_some() {
        dropped.push(format!("{path}.cache_control"));
    }
    if b.citations.as_ref().is_some_and(is_meaningful) {
        dropped.push(format!("{path}.citations"));
    }
    for k in b.extra.keys() {
        dropped.push(format!("{path}.{k}"));
    }
    ContentPart::text(b.text.unwrap_or_default())
}

/// A user turn: `tool_result` blocks become `tool` messages first (OpenAI wants them right after
/// the assistant's tool calls), then one user message with the rest (images from results first).
fn user_turn(
    i: usize,
    content: Content<ContentBlock>,
    out: &mut Vec<ChatMessage>,
    dropped: &mut Vec<String>,
) {
    let blocks = match content {
        Content::Text(t) => {
            out.push(user_message(vec![ContentPart::text(t)]));
            return;
        }
        Content::Parts(b) => b,
    };
    let mut parts: Vec<ContentPart> = Vec::new();
    let mut moved: Vec<ContentPart> = Vec::new();
    for (j, b) in blocks.into_iter().enumerate() {
        let path = format!("messages[{i}].content[{j}]");
        match b.kind() {
            "text" => parts.push(text_part(b, &path, dropped)),
            "image" => parts.extend(image_part(b, &path, dropped)),
            "document" => parts.extend(document_part(b, &path, dropped)),
            "tool_result" => out.push(tool_message(b, &path, &mut moved, dropped)),
            "tool_reference" => parts.push(ContentPart::text(tool_reference_text(&b))),
            other => dropped.push(format!("{path} ({other})")),
        }
    }
    moved.extend(parts);
    if !moved.is_empty() {
        out.push(user_message(moved));
    }
}

/// A `tool_reference` block (a deferred tool that a tool search loaded) as text: the tool is
/// already among the upstream's functions, so naming it is all the model needs.
fn tool_reference_text(b: &ContentBlock) -> String {
    format!(
        "Tool loaded: {}",
        b.tool_name.as_deref().or(b.name.as_deref()).unwrap_or("?")
    )
}

fn user_message(mut parts: Vec<ContentPart>) -> ChatMessage {
    let content = if parts.len() == 1 && parts[0].kind() == "text" {
        Content::Text(parts.pop().and_then(|p| p.text).unwrap_or_default())
    } else {
        Content::Parts(parts)
    };
    ChatMessage {
        role: Some("user".into()),
        content: Some(content),
        ..Default::default()
    }
}

fn tool_message(
    b: ContentBlock,
    path: &str,
    moved: &mut Vec<ContentPart>,
    dropped: &mut Vec<String>,
) -> ChatMessage {
    if b.cache_control.is_some() {
        dropped.push(format!("{path}.cache_control"));
    }
    let mut texts: Vec<String> = Vec::new();
    match b.content {
        Some(Content::Text(t)) => texts.push(t),
        Some(Content::Parts(inner)) => {
            for (k, p) in inner.into_iter().enumerate() {
                let ipath = format!("{path}.content[{k}]");
                match p.kind() {
                    "text" => texts.push(text_part(p, &ipath, dropped).text.unwrap_or_default()),
                    // ToolSearch results name the deferred tools they load.
                    "tool_reference" => texts.push(tool_reference_text(&p)),
                    "image" => moved.extend(image_part(p, &ipath, dropped)),
                    "document" => moved.extend(document_part(p, &ipath, dropped)),
                    other => dropped.push(format!("{ipath} ({other})")),
                }
            }
        }
        None => {}
    }
    let mut text = texts.join("\n\n");
    if b.is_error == Some(true) {
        text = if text.is_empty() {
            "Error".into()
        } else {
            format!("Error: {text}")
        };
    }
    ChatMessage {
        role: Some("tool".into()),
        tool_call_id: Some(b.tool_use_id.unwrap_or_default()),
        content: Some(Content::Text(text)),
        ..Default::default()
    }
}

/// An assistant turn: text concatenated, `tool_use` → `tool_calls` (ids verbatim, input as the
/// arguments string byte for byte), thinking → `reasoning_content` where accepted and kept.
/// What happens to an assistant turn's thinking blocks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Thinking {
    /// Sent as `reasoning_content`.
    Keep,
    /// Left out because the client's `context_management` asked for it (nothing lost).
    Cleared,
    /// Left out and reported (the upstream cannot take it).
    Report,
}

fn assistant_turn(
    i: usize,
    content: Content<ContentBlock>,
    thinking: Thinking,
    out: &mut Vec<ChatMessage>,
    dropped: &mut Vec<String>,
) {
    let blocks = match content {
        Content::Text(t) => {
            if !t.is_empty() {
                out.push(ChatMessage {
                    role: Some("assistant".into()),
                    content: Some(Content::Text(t)),
                    ..Default::default()
                });
            }
            return;
        }
        Content::Parts(b) => b,
    };
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls: Vec<ToolCall> = Vec::new();
    for (j, b) in blocks.into_iter().enumerate() {
        let path = format!("messages[{i}].content[{j}]");
        match b.kind() {
            "text" => text.push_str(&text_part(b, &path, dropped).text.unwrap_or_default()),
            "tool_use" => {
                if b.cache_control.is_some() {
                    dropped.push(format!("{path}.cache_control"));
                }
                let arguments = b
                    .input
                    .as_deref()
                    .map(RawValue::get)
                    .unwrap_or("{}")
                    .to_owned();
                calls.push(ToolCall {
                    id: b.id,
                    kind: Some("function".into()),
                    function: Some(FunctionCall {
                        name: b.name,
                        arguments: Some(arguments),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
            "thinking" if thinking == Thinking::Keep => {
                reasoning.push_str(b.thinking.as_deref().unwrap_or(""));
            }
            "thinking" | "redacted_thinking" if thinking == Thinking::Cleared => {}
            other => dropped.push(format!("{path} ({other})")),
        }
    }
    if text.is_empty() && calls.is_empty() && reasoning.is_empty() {
        return;
    }
    out.push(ChatMessage {
        role: Some("assistant".into()),
        content: if text.is_empty() && !calls.is_empty() {
            None
        } else {
            Some(Content::Text(text))
        },
        tool_calls: if calls.is_empty() { None } else { Some(calls) },
        reasoning_content: if reasoning.is_empty() {
            None
        } else {
            Some(reasoning)
        },
        ..Default::default()
    });
}

/// Claude Code's stand-in for tools it defers; never a tool a model may call.
const DEFERRED_TOOL_PLACEHOLDER: &str = "DeferredToolPlaceholder";

/// Custom tools → function tools; server tools (web search, bash, text editor, code execution…)
/// are reported. Deferred tools (`defer_loading: true`) are offered like the others — an OpenAI
/// upstream has no tool search, so the model can call them straight away — and Claude Code's
/// placeholder tool is left out.
fn tools_to_openai(tools: Vec<Tool>, dropped: &mut Vec<String>) -> Vec<ChatTool> {
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.into_iter().enumerate() {
        if t.name.as_deref() == Some(DEFERRED_TOOL_PLACEHOLDER) {
            continue;
        }
        match t.kind.as_deref() {
            None | Some("custom") => {}
            Some(other) => {
                dropped.push(format!("tools[{i}] ({other})"));
                continue;
            }
        }
        if t.cache_control.is_some() {
            dropped.push(format!("tools[{i}].cache_control"));
        }
        for (k, v) in &t.extra {
            if is_meaningful(v) {
                dropped.push(format!("tools[{i}].{k}"));
            }
        }
        let parameters = t.input_schema.unwrap_or_else(empty_object_schema);
        out.push(ChatTool {
            kind: Some("function".into()),
            function: Some(FunctionDef {
                name: t.name,
                description: t.description,
                parameters: Some(parameters),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    out
}

pub(crate) fn empty_object_schema() -> Box<RawValue> {
    RawValue::from_string(r#"{"type":"object","properties":{}}"#.to_owned())
        .expect("constant JSON is valid")
}

fn tool_choice_to_openai(
    choice: ToolChoice,
    tools: &[ChatTool],
    out: &mut ChatRequest,
    dropped: &mut Vec<String>,
) {
    if tools.is_empty() {
        // Nothing to choose from (tools absent or all server tools): only a named choice loses
        // information.
        if choice.kind.as_deref() == Some("tool") {
            dropped.push("tool_choice".into());
        }
        return;
    }
    let value = match choice.kind.as_deref() {
        Some("auto") | None => Value::String("auto".into()),
        Some("any") => Value::String("required".into()),
        Some("none") => Value::String("none".into()),
        Some("tool") => {
            let name = choice.name.clone().unwrap_or_default();
            let known = tools.iter().any(|t| {
                t.function.as_ref().and_then(|f| f.name.as_deref()) == Some(name.as_str())
            });
            if !known {
                dropped.push("tool_choice".into());
                return;
            }
            serde_json::json!({"type": "function", "function": {"name": name}})
        }
        Some(other) => {
            dropped.push(format!("tool_choice ({other})"));
            return;
        }
    };
    out.tool_choice = Some(value);
    if choice.disable_parallel_tool_use == Some(true) && choice.kind.as_deref() != Some("none") {
        out.parallel_tool_calls = Some(false);
    }
}
