//! Stream transducer: OpenAI `chat.completion.chunk` SSE in → Anthropic Messages SSE out
//! (TRANSLATION.md §2, streaming). Each complete upstream event is translated as soon as it is
//! parsed; only the current partial event is buffered (inside the SSE parser).
//!
//! Must not: buffer content (tool arguments are forwarded fragment by fragment), do I/O, or ever
//! end a broken stream with `message_stop`.

use super::errors::anthropic_type_for_openai;
use super::response::AnthropicUsageOut;
use super::{anthropic_tool_id, id_suffix, stop_reason_for, ResponseContext};
use crate::protocol::json_str;
use crate::protocol::openai::{ChunkIn, ChunkToolCallIn};
use crate::protocol::Usage;
use crate::redact::scrub_key_shapes;
use crate::sse::{write_json_event, SseParser};
use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// OpenAI chunks in, Anthropic events out.
pub struct OpenAiToAnthropicStream {
    parser: SseParser,
    st: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Text(u64),
    Thinking(u64),
    Tool(u64),
}

struct ToolSlot {
    /// OpenAI `tool_calls[].index`.
    k: u64,
    /// Anthropic content block index.
    block: u64,
    /// Upstream id (to tell apart servers that reuse index 0 for every call).
    id: Option<String>,
}

struct State {
    model: String,
    started: bool,
    open: Open,
    next_index: u64,
    tools: Vec<ToolSlot>,
    finish: Option<&'static str>,
    refused: bool,
    usage: Usage,
    ended: bool,
    /// The stream ended with an error event (upstream error, broken or incomplete stream).
    failed: bool,
    dropped: Vec<String>,
}

// ----- output shapes -----

#[derive(Serialize)]
struct MessageStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: StartMessage<'a>,
}

#[derive(Serialize)]
struct StartMessage<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<()>,
    stop_sequence: Option<()>,
    usage: AnthropicUsageOut,
}

#[derive(Serialize)]
struct BlockStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u64,
    content_block: BlockOut<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockOut<'a> {
    Text {
        text: &'a str,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a RawValue,
    },
}

/// The delta of a `content_block_delta` event.
#[allow(clippy::enum_variant_names)] // the wire names end in `_delta`
enum DeltaOut<'a> {
    TextDelta { text: &'a str },
    ThinkingDelta { thinking: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

impl<'a> DeltaOut<'a> {
    /// The delta's `type`, the name of its one field, and that field's value.
    fn parts(&self) -> (&'static str, &'static str, &'a str) {
        match *self {
            DeltaOut::TextDelta { text } => ("text_delta", "text", text),
            DeltaOut::ThinkingDelta { thinking } => ("thinking_delta", "thinking", thinking),
            DeltaOut::InputJsonDelta { partial_json } => {
                ("input_json_delta", "partial_json", partial_json)
            }
        }
    }
}

#[derive(Serialize)]
struct BlockStop {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u64,
}

#[derive(Serialize)]
struct MessageDelta {
    #[serde(rename = "type")]
    kind: &'static str,
    delta: StopDelta,
    usage: DeltaUsage,
}

#[derive(Serialize)]
struct StopDelta {
    stop_reason: &'static str,
    stop_sequence: Option<()>,
}

#[derive(Serialize)]
struct DeltaUsage {
    input_tokens: u64,
    output_tokens: u64,
    cache_read_input_tokens: u64,
}

#[derive(Serialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct ErrorEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorOut<'a>,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

impl OpenAiToAnthropicStream {
    pub fn new(ctx: &ResponseContext) -> Self {
        OpenAiToAnthropicStream {
            parser: SseParser::new(),
            st: State {
                model: ctx.client_model.to_owned(),
                started: false,
                open: Open::None,
                next_index: 0,
                tools: Vec::new(),
                finish: None,
                refused: false,
                usage: Usage::default(),
                ended: false,
                failed: false,
                dropped: Vec::new(),
            },
        }
    }

    /// Append the Anthropic events for every complete upstream event in `chunk`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut BytesMut) {
        let mut evs = self.parser.feed(chunk);
        while let Some(ev) = evs.next_event() {
            if self.st.ended {
                continue;
            }
            self.st.on_event(ev.event, &ev.data, out);
        }
        if self.parser.take_oversized() && !self.st.ended {
            self.st
                .error("api_error", &crate::sse::oversized_message(), out);
        }
    }

    /// The upstream ended: close properly if the reply finished (`finish_reason` seen), else
    /// emit an error event.
    pub fn finish(&mut self, out: &mut BytesMut) {
        if self.st.ended {
            return;
        }
        if self.st.finish.is_some() {
            self.st.close(out);
        } else {
            self.st.error(
                "api_error",
                "upstream stream ended before the response was complete (no finish_reason)",
                out,
            );
        }
    }

    /// The upstream broke (reset, idle timeout): emit an error event.
    pub fn fail(&mut self, message: &str, out: &mut BytesMut) {
        if !self.st.ended {
            self.st.error("api_error", message, out);
        }
    }

    pub fn usage(&self) -> Usage {
        self.st.usage
    }

    pub fn dropped(&self) -> &[String] {
        &self.st.dropped
    }

    /// The output stream is over (closed or errored).
    pub fn is_ended(&self) -> bool {
        self.st.ended
    }

    /// The output stream ended with an error event rather than its proper end.
    pub fn failed(&self) -> bool {
        self.st.failed
    }
}

impl State {
    fn on_event(&mut self, event: Option<&str>, data: &str, out: &mut BytesMut) {
        let data = data.trim();
        if data == "[DONE]" {
            if self.finish.is_some() {
                self.close(out);
            } else {
                self.error(
                    "api_error",
                    "upstream stream ended without a finish_reason",
                    out,
                );
            }
            return;
        }
        let chunk: ChunkIn<'_> = match serde_json::from_str(data) {
            Ok(c) => c,
            Err(e) => {
                if event == Some("error") {
                    let msg = scrub_key_shapes(data);
                    self.error("api_error", &msg, out);
                } else {
                    let msg = format!("upstream sent a malformed stream event: {e}");
                    self.error("api_error", &msg, out);
                }
                return;
            }
        };
        if let Some(err) = chunk.error.as_ref().filter(|e| !e.is_null()) {
            self.upstream_error(err, out);
            return;
        }
        if event == Some("error") {
            self.error("api_error", "upstream sent an error event", out);
            return;
        }
        if !self.started {
            let id = format!("msg_{}", id_suffix(chunk.id.as_deref()));
            let usage = chunk
                .usage
                .as_ref()
                .map(|u| u.to_usage())
                .unwrap_or_default();
            write_json_event(
                out,
                "message_start",
                &MessageStart {
                    kind: "message_start",
                    message: StartMessage {
                        id: &id,
                        kind: "message",
                        role: "assistant",
                        model: &self.model,
                        content: [],
                        stop_reason: None,
                        stop_sequence: None,
                        usage: AnthropicUsageOut {
                            output_tokens: 0,
                            ..AnthropicUsageOut::from_usage(&usage)
                        },
                    },
                },
            );
            self.started = true;
        }
        // n > 1 is refused on the way in, so only the index-0 choice carries the reply.
        if let Some(choice) = chunk.choice.filter(|c| c.index.unwrap_or(0) == 0) {
            if let Some(d) = choice.delta {
                if let Some(r) = d
                    .reasoning_content
                    .or(d.reasoning)
                    .filter(|r| !r.is_empty())
                {
                    self.thinking_delta(&r, out);
                }
                if let Some(t) = d.content.filter(|t| !t.is_empty()) {
                    self.text_delta(&t, out);
                }
                if let Some(r) = d.refusal.filter(|r| !r.is_empty()) {
                    self.refused = true;
                    self.text_delta(&r, out);
                }
                for tc in d.tool_calls.unwrap_or_default() {
                    self.tool_delta(tc, out);
                }
            }
            if let Some(fr) = choice.finish_reason {
                self.close_open(out);
                let mut stop = stop_reason_for(Some(&fr));
                if self.refused {
                    stop = "refusal";
                } else if !self.tools.is_empty() && stop == "end_turn" {
                    stop = "tool_use";
                }
                self.finish = Some(stop);
            }
        }
        if let Some(u) = chunk.usage {
            self.usage = u.to_usage();
        }
    }

    fn new_block(&mut self, open: impl FnOnce(u64) -> Open) -> u64 {
        let i = self.next_index;
        self.next_index += 1;
        self.open = open(i);
        i
    }

    fn text_delta(&mut self, text: &str, out: &mut BytesMut) {
        let idx = match self.open {
            Open::Text(i) => i,
            _ => {
                self.close_open(out);
                let i = self.new_block(Open::Text);
                write_json_event(
                    out,
                    "content_block_start",
                    &BlockStart {
                        kind: "content_block_start",
                        index: i,
                        content_block: BlockOut::Text { text: "" },
                    },
                );
                i
            }
        };
        write_block_delta(idx, DeltaOut::TextDelta { text }, out);
    }

    fn thinking_delta(&mut self, thinking: &str, out: &mut BytesMut) {
        let idx = match self.open {
            Open::Thinking(i) => i,
            _ => {
                self.close_open(out);
                let i = self.new_block(Open::Thinking);
                write_json_event(
                    out,
                    "content_block_start",
                    &BlockStart {
                        kind: "content_block_start",
                        index: i,
                        content_block: BlockOut::Thinking {
                            thinking: "",
                            signature: "",
                        },
                    },
                );
                i
            }
        };
        write_block_delta(idx, DeltaOut::ThinkingDelta { thinking }, out);
    }

    fn tool_delta(&mut self, tc: ChunkToolCallIn<'_>, out: &mut BytesMut) {
        let id = tc.id.as_deref().filter(|s| !s.is_empty());
        let k = tc.index.unwrap_or_else(|| match (id, self.tools.last()) {
            (None, Some(last)) => last.k,
            _ => self.tools.len() as u64,
        });
        // The latest slot with this index, unless the fragment starts a different call.
        let existing = self
            .tools
            .iter()
            .rev()
            .find(|s| s.k == k)
            .filter(|s| match (id, s.id.as_deref()) {
                (Some(new), Some(old)) => new == old,
                _ => true,
            })
            .map(|s| s.block);
        let f = tc.function.unwrap_or_default();
        let block = match existing {
            Some(b) => b,
            None => {
                self.close_open(out);
                let b = self.new_block(Open::Tool);
                let tool_id = anthropic_tool_id(id);
                let input = empty_object();
                write_json_event(
                    out,
                    "content_block_start",
                    &BlockStart {
                        kind: "content_block_start",
                        index: b,
                        content_block: BlockOut::ToolUse {
                            id: &tool_id,
                            name: f.name.as_deref().unwrap_or(""),
                            input,
                        },
                    },
                );
                self.tools.push(ToolSlot {
                    k,
                    block: b,
                    id: id.map(str::to_owned),
                });
                b
            }
        };
        if let Some(args) = f.arguments.filter(|a| !a.is_empty()) {
            write_block_delta(
                block,
                DeltaOut::InputJsonDelta {
                    partial_json: &args,
                },
                out,
            );
        }
    }

    fn close_open(&mut self, out: &mut BytesMut) {
        let idx = match self.open {
            Open::None => return,
            Open::Text(i) | Open::Thinking(i) | Open::Tool(i) => i,
        };
        write_json_event(
            out,
            "content_block_stop",
            &BlockStop {
                kind: "content_block_stop",
                index: idx,
            },
        );
        self.open = Open::None;
    }

    /// The proper end: close the open block, `message_delta` with stop reason and usage,
    /// `message_stop`.
    fn close(&mut self, out: &mut BytesMut) {
        self.close_open(out);
        write_json_event(
            out,
            "message_delta",
            &MessageDelta {
                kind: "message_delta",
                delta: StopDelta {
                    stop_reason: self.finish.unwrap_or("end_turn"),
                    stop_sequence: None,
                },
                usage: DeltaUsage {
                    input_tokens: self.usage.input_tokens,
                    output_tokens: self.usage.output_tokens,
                    cache_read_input_tokens: self.usage.cache_read_tokens,
                },
            },
        );
        write_json_event(
            out,
            "message_stop",
            &TypeOnly {
                kind: "message_stop",
            },
        );
        self.ended = true;
    }

    fn upstream_error(&mut self, err: &Value, out: &mut BytesMut) {
        let (kind, message) = match err {
            Value::Object(o) => {
                let t = o
                    .get("type")
                    .and_then(Value::as_str)
                    .and_then(anthropic_type_for_openai)
                    .or_else(|| {
                        o.get("code")
                            .and_then(Value::as_str)
                            .and_then(anthropic_type_for_openai)
                    })
                    .unwrap_or("api_error");
                let m = o
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("upstream error")
                    .to_owned();
                (t, m)
            }
            Value::String(s) => ("api_error", s.clone()),
            other => ("api_error", other.to_string()),
        };
        let message = scrub_key_shapes(&message).into_owned();
        self.error(kind, &message, out);
    }

    fn error(&mut self, kind: &str, message: &str, out: &mut BytesMut) {
        write_json_event(
            out,
            "error",
            &ErrorEvent {
                kind: "error",
                error: ErrorOut { kind, message },
            },
        );
        self.ended = true;
        self.failed = true;
    }
}

fn empty_object() -> &'static RawValue {
    static EMPTY: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| RawValue::from_string("{}".into()).expect("valid"))
}

/// `content_block_delta`, the event nearly every upstream chunk becomes, written from a
/// template rather than through serde_json (whose keys and values all go through its
/// byte-at-a-time escaper). The test `delta_events_have_the_serde_shape_byte_for_byte` holds
/// it to the serde shape.
fn write_block_delta(index: u64, delta: DeltaOut<'_>, out: &mut BytesMut) {
    let (kind, field, value) = delta.parts();
    out.reserve(112 + value.len());
    out.put_slice(
        b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":",
    );
    out.put_slice(itoa::Buffer::new().format(index).as_bytes());
    out.put_slice(b",\"delta\":{\"type\":\"");
    out.put_slice(kind.as_bytes());
    out.put_slice(b"\",\"");
    out.put_slice(field.as_bytes());
    out.put_slice(b"\":");
    json_str::escape_into(out, value);
    out.put_slice(b"}}\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn written(index: u64, delta: DeltaOut<'_>) -> String {
        let mut out = BytesMut::new();
        write_block_delta(index, delta, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    proptest! {
        #[test]
        fn delta_events_have_the_serde_shape_byte_for_byte(index in 0u64..100_000, value in ".{0,80}") {
            for (delta, kind, field) in [
                (DeltaOut::TextDelta { text: &value }, "text_delta", "text"),
                (DeltaOut::ThinkingDelta { thinking: &value }, "thinking_delta", "thinking"),
                (DeltaOut::InputJsonDelta { partial_json: &value }, "input_json_delta", "partial_json"),
            ] {
                let ours = written(index, delta);
                let data = ours.strip_prefix("event: content_block_delta\ndata: ").unwrap();
                let data = data.strip_suffix("\n\n").unwrap();
                let parsed: serde_json::Value = serde_json::from_str(data).unwrap();
                let expected = serde_json::json!({
                    "type": "content_block_delta",
                    "index": index,
                    "delta": { "type": kind, field: value },
                });
                prop_assert_eq!(parsed, expected);
                // Byte for byte what the serde structs this template replaced wrote (fields in their
                // declaration order, the value escaped as serde_json escapes it).
                prop_assert_eq!(
                    data,
                    format!(
                        "{{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{{\"type\":\"{kind}\",\"{field}\":{}}}}}",
                        serde_json::to_string(&value).unwrap()
                    )
                );
            }
        }
    }
}
