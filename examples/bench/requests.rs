//! The requests the harness sends: 2 KiB chats in each protocol, the 200 KB coding-agent
//! conversation, the one-event stream. Must not: depend on what the targets answer.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use serde_json::{json, Value};

use crate::load::Req;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Proto {
    Anthropic,
    OpenAi,
    /// OpenAI Responses API: only ever sent to dario (the bench upstream speaks Chat and
    /// Messages), so its lanes are translated ones.
    Responses,
}

impl Proto {
    pub fn path(self) -> &'static str {
        match self {
            Proto::Anthropic => "/v1/messages",
            Proto::OpenAi => "/v1/chat/completions",
            Proto::Responses => "/v1/responses",
        }
    }
    pub fn model(self) -> &'static str {
        match self {
            Proto::Anthropic => "claude-haiku-4-5",
            Proto::OpenAi | Proto::Responses => "gpt-4o-mini",
        }
    }
    pub fn headers(self) -> Vec<(HeaderName, HeaderValue)> {
        match self {
            Proto::Anthropic => vec![
                (
                    HeaderName::from_static("anthropic-version"),
                    HeaderValue::from_static("2023-06-01"),
                ),
                (
                    HeaderName::from_static("x-api-key"),
                    HeaderValue::from_static("bench-not-a-real-key"),
                ),
            ],
            Proto::OpenAi | Proto::Responses => vec![(
                http::header::AUTHORIZATION,
                HeaderValue::from_static("Bearer bench-not-a-real-key"),
            )],
        }
    }
}

/// A chat request in `shape`'s wire format addressed to `model`, padded to exactly `size` bytes.
pub fn chat_req(shape: Proto, model: &str, size: usize, stream: bool) -> Req {
    let make = |pad: &str| -> Value {
        match shape {
            Proto::Anthropic => json!({
                "model": model, "max_tokens": 256,
                "system": "You are a helpful assistant used by a benchmark.",
                "messages": [{"role": "user", "content": pad}],
                "stream": stream
            }),
            Proto::OpenAi => json!({
                "model": model, "max_tokens": 256,
                "messages": [
                    {"role": "system", "content": "You are a helpful assistant used by a benchmark."},
                    {"role": "user", "content": pad}
                ],
                "stream": stream
            }),
            Proto::Responses => json!({
                "model": model, "max_output_tokens": 256, "store": false,
                "instructions": "You are a helpful assistant used by a benchmark.",
                "input": pad,
                "stream": stream
            }),
        }
    };
    let base = make("").to_string().len();
    let pad: String = "lorem ipsum dolor sit amet "
        .chars()
        .cycle()
        .take(size.saturating_sub(base))
        .collect();
    let body = make(&pad).to_string();
    Req {
        path: shape.path(),
        headers: shape.headers(),
        body: Bytes::from(body),
    }
}

/// A coding-agent conversation in `shape`'s format: 50 tool calls with their results, ~`size` bytes.
pub fn tool_conversation(shape: Proto, model: &str, size: usize) -> Req {
    let make = |fill: usize| -> Value {
        let file: String = "fn handle(req: Request) -> Result<Response, Error> {\n    let body = \"quoted\\tstring é✓\";\n    Ok(respond(body))\n}\n"
            .chars()
            .cycle()
            .take(fill)
            .collect();
        let mut messages = vec![];
        match shape {
            Proto::Anthropic => {
                messages.push(json!({"role": "user", "content": "Refactor the request handler; read the files you need."}));
                for i in 0..50 {
                    messages.push(json!({"role": "assistant", "content": [
                        {"type": "text", "text": format!("Reading file {i}.")},
                        {"type": "tool_use", "id": format!("toolu_{i:03}"), "name": "read_file",
                         "input": {"path": format!("src/module_{i}.rs"), "max_lines": 400}}
                    ]}));
                    messages.push(json!({"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": format!("toolu_{i:03}"), "content": file}
                    ]}));
                }
                messages.push(json!({"role": "user", "content": "Now write the patch."}));
                json!({
                    "model": model, "max_tokens": 4096,
                    "system": "You are a coding agent.",
                    "tools": [{"name": "read_file", "description": "Read a file of the repository",
                               "input_schema": {"type": "object", "properties": {
                                   "path": {"type": "string"}, "max_lines": {"type": "integer"}},
                                   "required": ["path"]}}],
                    "messages": messages,
                    "stream": false
                })
            }
            Proto::OpenAi => {
                messages.push(json!({"role": "system", "content": "You are a coding agent."}));
                messages.push(json!({"role": "user", "content": "Refactor the request handler; read the files you need."}));
                for i in 0..50 {
                    messages.push(json!({"role": "assistant", "content": format!("Reading file {i}."),
                        "tool_calls": [{"id": format!("call_{i:03}"), "type": "function",
                            "function": {"name": "read_file",
                                         "arguments": json!({"path": format!("src/module_{i}.rs"), "max_lines": 400}).to_string()}}]}));
                    messages.push(json!({"role": "tool", "tool_call_id": format!("call_{i:03}"), "content": file}));
                }
                messages.push(json!({"role": "user", "content": "Now write the patch."}));
                json!({
                    "model": model, "max_tokens": 4096,
                    "tools": [{"type": "function", "function": {"name": "read_file",
                               "description": "Read a file of the repository",
                               "parameters": {"type": "object", "properties": {
                                   "path": {"type": "string"}, "max_lines": {"type": "integer"}},
                                   "required": ["path"]}}}],
                    "messages": messages,
                    "stream": false
                })
            }
            Proto::Responses => {
                let mut input = vec![
                    json!({"role": "user", "content": "Refactor the request handler; read the files you need."}),
                ];
                for i in 0..50 {
                    input.push(json!({"type": "message", "role": "assistant",
                        "content": [{"type": "output_text", "text": format!("Reading file {i}.")}]}));
                    input.push(json!({"type": "function_call", "call_id": format!("call_{i:03}"), "name": "read_file",
                        "arguments": json!({"path": format!("src/module_{i}.rs"), "max_lines": 400}).to_string()}));
                    input.push(json!({"type": "function_call_output", "call_id": format!("call_{i:03}"), "output": file}));
                }
                input.push(json!({"role": "user", "content": "Now write the patch."}));
                json!({
                    "model": model, "max_output_tokens": 4096, "store": false,
                    "instructions": "You are a coding agent.",
                    "tools": [{"type": "function", "name": "read_file",
                               "description": "Read a file of the repository",
                               "parameters": {"type": "object", "properties": {
                                   "path": {"type": "string"}, "max_lines": {"type": "integer"}},
                                   "required": ["path"]}}],
                    "input": input,
                    "stream": false
                })
            }
        }
    };
    let base = make(0).to_string().len();
    // Escapes make the serialised text a little longer than its character count; close enough.
    let fill = size.saturating_sub(base) / 50 * 9 / 10;
    let body = make(fill).to_string();
    Req {
        path: shape.path(),
        headers: shape.headers(),
        body: Bytes::from(body),
    }
}

/// The same request asking for one token: the upstream then streams a single event.
pub fn one_event(req: &Req) -> Req {
    let body = String::from_utf8_lossy(&req.body)
        .replace("\"max_tokens\":256", "\"max_tokens\":1")
        .replace("\"max_output_tokens\":256", "\"max_output_tokens\":1");
    Req {
        body: Bytes::from(body),
        ..req.clone()
    }
}
