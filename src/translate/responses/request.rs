//! Responses request → Chat Completions request.
//!
//! Owns: the request field mapping (instructions, input items, tools, sampling, reasoning,
//! text.format) and what is reported as dropped. Must not: look anything up but through the
//! `History` it is given.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::ResponsesMeta;
use crate::protocol::openai::{ChatMessage, REASONING_SIGNATURE};
use crate::translate::request_a2o::place_system_messages;
use crate::translate::{
    accepts_reasoning_effort, fresh_suffix, invalid_json, is_meaningful, is_openai_reasoning_model,
    unix_now, RequestContext, TranslateError, Translated,
};

/// Looks up a stored response's whole conversation (its input and output items) by id.
pub type History<'a> = &'a dyn Fn(&str) -> Option<Arc<Vec<Value>>>;

/// Fields handled below; every other meaningful top-level field is reported as dropped.
const HANDLED: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_output_tokens",
    "temperature",
    "top_p",
    "reasoning",
    "text",
    "metadata",
    "user",
    "stream",
    "store",
    "previous_response_id",
    "include",
    "stream_options",
];

/// Request fields a `response` object repeats.
const ECHOED: &[&str] = &[
    "instructions",
    "max_output_tokens",
    "metadata",
    "parallel_tool_calls",
    "previous_response_id",
    "reasoning",
    "store",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_p",
    "truncation",
    "user",
];

/// Translates a Responses request body into a Chat Completions body for `ctx.upstream_model`.
/// `for_anthropic`: the Chat body is an intermediate on its way to an Anthropic backend (then
/// `reasoning.effort` always goes on, as the Chat → Messages translator maps it to thinking).
pub fn responses_request_to_chat(
    body: &[u8],
    ctx: &RequestContext,
    for_anthropic: bool,
    history: History<'_>,
) -> Result<(Translated, ResponsesMeta), TranslateError> {
    let mut req: Map<String, Value> =
        crate::protocol::json_str::from_slice(body).map_err(invalid_json)?;
    let mut dropped: Vec<String> = Vec::new();
    for (k, v) in &req {
        if !HANDLED.contains(&k.as_str()) && is_meaningful(v) {
            dropped.push(k.clone());
        }
    }
    let client_model = req.get("model").cloned().unwrap_or(Value::Null);

    // The conversation: a previous response's items, then this request's input.
    let mut items: Vec<Value> = Vec::new();
    if let Some(prev) = req.get("previous_response_id").and_then(Value::as_str) {
        match history(prev) {
            Some(h) => items.extend(h.iter().cloned()),
            None => return Err(TranslateError::PreviousResponseNotFound(prev.to_string())),
        }
    }
    // Moved out, not copied: the input is the bulk of a request.
    match req.remove("input") {
        Some(Value::String(s)) => {
            items.push(json!({"type": "message", "role": "user", "content": s}))
        }
        Some(Value::Array(a)) => items.extend(a),
        None | Some(Value::Null) => {}
        Some(_) => {
            return Err(TranslateError::InvalidShape(
                "`input` must be a string or an array of input items".into(),
            ))
        }
    }
    if items.is_empty() {
        return Err(TranslateError::InvalidShape(
            "`input` is required: send a string or an array of input items".into(),
        ));
    }

    let mut messages: Vec<Value> = Vec::with_capacity(items.len() + 1);
    match req.get("instructions") {
        Some(Value::String(s)) if !s.is_empty() => {
            messages.push(json!({"role": "system", "content": s}))
        }
        Some(Value::Array(_)) => dropped.push("instructions (items)".into()),
        _ => {}
    }
    for (i, item) in items.iter().enumerate() {
        item_to_messages(item, i, for_anthropic, &mut messages, &mut dropped)?;
    }

    // System messages later in the conversation: placed as the backend takes them (the same
    // rules, and the same retry on a refusal, as for Anthropic requests).
    let leading_system = messages
        .first()
        .is_some_and(|m| m.get("role").and_then(Value::as_str) == Some("system"));
    let mut inline_system_messages = false;
    let has_mid_system = messages
        .iter()
        .skip(usize::from(leading_system))
        .any(|m| m.get("role").and_then(Value::as_str) == Some("system"));
    if has_mid_system && !for_anthropic {
        let mut typed: Vec<ChatMessage> = serde_json::from_value(Value::Array(messages))
            .map_err(|e| TranslateError::InvalidShape(e.to_string()))?;
        inline_system_messages =
            place_system_messages(&mut typed, leading_system, ctx.system_messages);
        messages = match serde_json::to_value(typed) {
            Ok(Value::Array(a)) => a,
            _ => return Err(TranslateError::InvalidShape("messages".into())),
        };
    }

    let mut out = Map::new();
    out.insert("model".into(), Value::String(ctx.upstream_model.to_owned()));
    out.insert("messages".into(), Value::Array(messages));

    let mut tools: Vec<Value> = Vec::new();
    let mut namespaced: Vec<(String, String, String)> = Vec::new();
    let mut custom: Vec<String> = Vec::new();
    if let Some(Value::Array(ts)) = req.get("tools") {
        for (i, t) in ts.iter().enumerate() {
            match t.get("type").and_then(Value::as_str) {
                Some("function") => tools.push(chat_function(t, None)),
                // Functions grouped under a namespace (Codex's sub-agent tools): offered flat,
                // `<namespace>__<name>`, and named back on the way out.
                Some("namespace") => {
                    let ns = t.get("name").and_then(Value::as_str).unwrap_or("");
                    let inner = t.get("tools").and_then(Value::as_array);
                    for (j, f) in inner.into_iter().flatten().enumerate() {
                        let name = f.get("name").and_then(Value::as_str);
                        match (f.get("type").and_then(Value::as_str), name) {
                            (Some("function"), Some(name)) if !ns.is_empty() => {
                                let flat = super::flat_name(ns, name);
                                tools.push(chat_function(f, Some(&flat)));
                                namespaced.push((flat, ns.to_owned(), name.to_owned()));
                            }
                            (other, _) => dropped
                                .push(format!("tools[{i}].tools[{j}] ({})", other.unwrap_or("?"))),
                        }
                    }
                }
                // A freeform tool (Codex's apply_patch): a function taking its text as `input`.
                Some("custom") => match t.get("name").and_then(Value::as_str) {
                    Some(name) => {
                        tools.push(custom_as_function(t, name));
                        custom.push(name.to_owned());
                    }
                    None => dropped.push(format!("tools[{i}] (custom without a name)")),
                },
                other => dropped.push(format!("tools[{i}] ({})", other.unwrap_or("?"))),
            }
        }
    }
    let has_tools = !tools.is_empty();
    if has_tools {
        out.insert("tools".into(), Value::Array(tools));
        match req.get("tool_choice") {
            Some(Value::String(s)) => {
                out.insert("tool_choice".into(), Value::String(s.clone()));
            }
            Some(v @ Value::Object(_)) => match v.get("type").and_then(Value::as_str) {
                Some("function") => {
                    out.insert(
                        "tool_choice".into(),
                        json!({"type": "function", "function": {"name": v.get("name")}}),
                    );
                }
                _ => dropped.push("tool_choice".into()),
            },
            _ => {}
        }
        if let Some(p) = req.get("parallel_tool_calls").and_then(Value::as_bool) {
            out.insert("parallel_tool_calls".into(), Value::Bool(p));
        }
    }

    if let Some(n) = req.get("max_output_tokens").and_then(Value::as_u64) {
        let key = if ctx.upstream_is_openai_itself && is_openai_reasoning_model(ctx.upstream_model)
        {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        out.insert(key.into(), json!(n));
    }
    for k in ["temperature", "top_p", "user"] {
        if let Some(v) = req.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), v.clone());
        }
    }
    if let Some(m) = req.get("metadata").filter(|v| is_meaningful(v)) {
        if for_anthropic {
            // Anthropic has only `metadata.user_id`, which `user` feeds.
            dropped.push("metadata".into());
        } else {
            out.insert("metadata".into(), m.clone());
        }
    }
    if let Some(effort) = req
        .get("reasoning")
        .and_then(|r| r.get("effort"))
        .and_then(Value::as_str)
    {
        let effort = match effort {
            "minimal" if !ctx.upstream_is_openai_itself => "low",
            "xhigh" if !ctx.upstream_is_openai_itself => "high",
            e => e,
        };
        if effort == "none" {
        } else if for_anthropic || accepts_reasoning_effort(ctx.upstream_model) {
            out.insert("reasoning_effort".into(), Value::String(effort.into()));
        } else {
            dropped.push(format!("reasoning.effort ({effort})"));
        }
    }
    if let Some(text) = req.get("text").and_then(Value::as_object) {
        if let Some(format) = text.get("format") {
            match format.get("type").and_then(Value::as_str) {
                Some("json_schema") => {
                    let mut js = Map::new();
                    for k in ["name", "description", "schema", "strict"] {
                        if let Some(v) = format.get(k).filter(|v| !v.is_null()) {
                            js.insert(k.into(), v.clone());
                        }
                    }
                    out.insert(
                        "response_format".into(),
                        json!({"type": "json_schema", "json_schema": js}),
                    );
                }
                Some("json_object") => {
                    out.insert("response_format".into(), json!({"type": "json_object"}));
                }
                Some("text") | None => {}
                Some(other) => dropped.push(format!("text.format ({other})")),
            }
        }
        if text.get("verbosity").is_some_and(is_meaningful) {
            dropped.push("text.verbosity".into());
        }
    }
    if let Some(Value::Array(include)) = req.get("include") {
        for v in include {
            let what = v.as_str().unwrap_or("?");
            // Towards Anthropic, `encrypted_content` carries the thinking signature.
            if !(for_anthropic && what == "reasoning.encrypted_content") {
                dropped.push(format!("include ({what})"));
            }
        }
    }
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if stream {
        out.insert("stream".into(), Value::Bool(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }

    let mut echo = Map::new();
    echo.insert("model".into(), client_model);
    for k in ECHOED {
        if let Some(v) = req.get(*k) {
            echo.insert((*k).into(), v.clone());
        }
    }
    echo.entry("tools").or_insert_with(|| json!([]));
    echo.entry("tool_choice").or_insert_with(|| json!("auto"));
    echo.entry("parallel_tool_calls")
        .or_insert(Value::Bool(true));
    echo.entry("metadata").or_insert_with(|| json!({}));
    echo.entry("instructions").or_insert(Value::Null);
    echo.entry("temperature").or_insert(Value::Null);
    echo.entry("top_p").or_insert(Value::Null);
    echo.entry("text")
        .or_insert_with(|| json!({"format": {"type": "text"}}));
    let store = req.get("store").and_then(Value::as_bool).unwrap_or(true);
    echo.insert("store".into(), Value::Bool(store));

    let body = crate::translate::to_json_sized(&Value::Object(out), body.len())
        .map_err(|e| TranslateError::InvalidShape(e.to_string()))?;
    let meta = ResponsesMeta {
        id: format!("resp_{}", fresh_suffix()),
        created_at: unix_now(),
        echo,
        input: if store { items } else { Vec::new() },
        store,
        namespaced,
        custom,
    };
    Ok((
        Translated {
            body,
            dropped: crate::translate::compact_dropped(dropped),
            stream,
            include_usage: stream,
            inline_system_messages,
        },
        meta,
    ))
}

/// A Responses function tool as a Chat function (named `flat` when given).
fn chat_function(t: &Value, flat: Option<&str>) -> Value {
    let mut f = Map::new();
    for k in ["name", "description", "parameters", "strict"] {
        if let Some(v) = t.get(k).filter(|v| !v.is_null()) {
            f.insert(k.into(), v.clone());
        }
    }
    if let Some(flat) = flat {
        f.insert("name".into(), Value::String(flat.to_owned()));
    }
    json!({"type": "function", "function": f})
}

/// A custom (freeform) tool as a Chat function with one string parameter, `input`; its grammar,
/// if any, goes into the description so the model still knows the syntax.
fn custom_as_function(t: &Value, name: &str) -> Value {
    let mut description = t
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Some(def) = t
        .get("format")
        .and_then(|f| f.get("definition"))
        .and_then(Value::as_str)
    {
        let syntax = t["format"]["syntax"].as_str().unwrap_or("grammar");
        description.push_str(&format!(
            "\n\nPass the raw text as `input`; it must match this {syntax} grammar:\n{def}"
        ));
    }
    json!({"type": "function", "function": {
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": {"input": {"type": "string",
            "description": "The tool's input text, verbatim."}}, "required": ["input"]},
    }})
}

/// The text of a content value: a string, or the text parts of an array joined.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            let mut out = String::new();
            for p in parts {
                if let Some(t) = p
                    .get("text")
                    .or_else(|| p.get("refusal"))
                    .and_then(Value::as_str)
                {
                    out.push_str(t);
                }
            }
            out
        }
        _ => String::new(),
    }
}

/// User (or system) content parts in Chat spelling.
fn user_parts(content: &Value, path: &str, dropped: &mut Vec<String>) -> Value {
    let Value::Array(parts) = content else {
        return Value::String(content.as_str().unwrap_or("").to_owned());
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        match p.get("type").and_then(Value::as_str) {
            Some("input_text") | Some("output_text") | Some("text") => out
                .push(json!({"type": "text", "text": p.get("text").cloned().unwrap_or_default()})),
            Some("input_image") => match p.get("image_url").and_then(Value::as_str) {
                Some(url) => {
                    let mut image = json!({ "url": url });
                    if let Some(d) = p.get("detail").and_then(Value::as_str) {
                        image["detail"] = Value::String(d.into());
                    }
                    out.push(json!({"type": "image_url", "image_url": image}));
                }
                None => dropped.push(format!("{path}.content[{j}] (input_image by file_id)")),
            },
            Some("input_file") => match p.get("file_data").and_then(Value::as_str) {
                Some(data) => {
                    let mut file = json!({ "file_data": data });
                    if let Some(n) = p.get("filename") {
                        file["filename"] = n.clone();
                    }
                    out.push(json!({"type": "file", "file": file}));
                }
                None => dropped.push(format!(
                    "{path}.content[{j}] (input_file by file_id or URL)"
                )),
            },
            other => dropped.push(format!("{path}.content[{j}] ({})", other.unwrap_or("?"))),
        }
    }
    // A lone text part is a plain string (what every Chat server takes).
    if let [one] = out.as_slice() {
        if one["type"] == "text" {
            return one["text"].clone();
        }
    }
    Value::Array(out)
}

/// The assistant message that function calls and reasoning attach to: the last message when it
/// is an assistant message without tool results after it, else a new one.
fn open_assistant(messages: &mut Vec<Value>) -> &mut Map<String, Value> {
    let reuse = messages
        .last()
        .is_some_and(|m| m.get("role").and_then(Value::as_str) == Some("assistant"));
    if !reuse {
        messages.push(json!({"role": "assistant", "content": null}));
    }
    messages
        .last_mut()
        .and_then(Value::as_object_mut)
        .expect("just pushed an object")
}

fn item_to_messages(
    item: &Value,
    i: usize,
    for_anthropic: bool,
    messages: &mut Vec<Value>,
    dropped: &mut Vec<String>,
) -> Result<(), TranslateError> {
    let path = format!("input[{i}]");
    let kind = item.get("type").and_then(Value::as_str).unwrap_or(
        // EasyInputMessage: `{role, content}` without a type.
        if item.get("role").is_some() {
            "message"
        } else {
            ""
        },
    );
    match kind {
        "message" => {
            let role = item.get("role").and_then(Value::as_str).unwrap_or("user");
            let content = item.get("content").unwrap_or(&Value::Null);
            match role {
                "assistant" => {
                    let text = content_text(content);
                    let a = open_assistant(messages);
                    let joined = match a.get("content").and_then(Value::as_str) {
                        Some(prev) if !prev.is_empty() && !text.is_empty() => {
                            format!("{prev}\n\n{text}")
                        }
                        Some(prev) if !prev.is_empty() => prev.to_owned(),
                        _ => text,
                    };
                    a.insert("content".into(), Value::String(joined));
                }
                "system" | "developer" => {
                    let text = content_text(content);
                    // Leading instructions (Codex sends several) become one system message.
                    let all_system = messages
                        .iter()
                        .all(|m| m.get("role").and_then(Value::as_str) == Some("system"));
                    match messages.first_mut() {
                        Some(first) if all_system => {
                            let prev = first["content"].as_str().unwrap_or("");
                            first["content"] = Value::String(format!("{prev}\n\n{text}"));
                        }
                        _ => messages.push(json!({"role": "system", "content": text})),
                    }
                }
                "user" => messages.push(json!({
                    "role": "user",
                    "content": user_parts(content, &path, dropped),
                })),
                other => {
                    return Err(TranslateError::InvalidShape(format!(
                        "{path}.role {other:?} is not one of user, assistant, system, developer"
                    )))
                }
            }
        }
        "function_call" | "custom_tool_call" => {
            let name = item.get("name").and_then(Value::as_str).unwrap_or("");
            let arguments = match item.get("input") {
                // A custom tool's text, as the arguments of its function form.
                Some(input) if kind == "custom_tool_call" => json!({ "input": input }).to_string(),
                _ => item
                    .get("arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("{}")
                    .to_owned(),
            };
            let name = match item.get("namespace").and_then(Value::as_str) {
                Some(ns) if !ns.is_empty() => super::flat_name(ns, name),
                _ => name.to_owned(),
            };
            let call = json!({
                "id": item.get("call_id").cloned().unwrap_or_default(),
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": arguments,
                },
            });
            let a = open_assistant(messages);
            match a.get_mut("tool_calls") {
                Some(Value::Array(calls)) => calls.push(call),
                _ => {
                    a.insert("tool_calls".into(), Value::Array(vec![call]));
                }
            }
        }
        "function_call_output" | "custom_tool_call_output" => {
            let output = item.get("output").unwrap_or(&Value::Null);
            let content = match output {
                Value::String(s) => s.clone(),
                Value::Array(_) => {
                    if let Value::Array(parts) = output {
                        if parts
                            .iter()
                            .any(|p| p.get("type").and_then(Value::as_str) != Some("input_text"))
                        {
                            dropped.push(format!("{path}.output (non-text parts)"));
                        }
                    }
                    content_text(output)
                }
                other => other.to_string(),
            };
            messages.push(json!({
                "role": "tool",
                "tool_call_id": item.get("call_id").cloned().unwrap_or_default(),
                "content": content,
            }));
        }
        "reasoning" => {
            // An Anthropic thinking block dario gave out (its signature in `encrypted_content`)
            // goes back to Anthropic as that block; Chat has no portable way to send reasoning
            // back, and other encrypted reasoning is OpenAI's own: reported.
            let signature = item
                .get("encrypted_content")
                .and_then(Value::as_str)
                .and_then(|e| e.strip_prefix(super::ANTHROPIC_SIGNATURE_PREFIX));
            if let (true, Some(sig)) = (for_anthropic, signature) {
                let text = content_text(item.get("summary").unwrap_or(&Value::Null));
                let a = open_assistant(messages);
                a.insert("reasoning_content".into(), Value::String(text));
                a.insert(REASONING_SIGNATURE.into(), Value::String(sig.to_owned()));
                return Ok(());
            }
            if item.get("summary").is_some_and(is_meaningful)
                || item.get("encrypted_content").is_some_and(is_meaningful)
            {
                dropped.push(format!("{path} (reasoning)"));
            }
        }
        other => dropped.push(format!(
            "{path} ({})",
            if other.is_empty() { "?" } else { other }
        )),
    }
    Ok(())
}
