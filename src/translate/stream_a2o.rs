//! Stream transducer: Anthropic Messages SSE in → OpenAI `chat.completion.chunk` SSE out
//! (TRANSLATION.md §4, streaming). Each complete upstream event becomes at most one or two
//! chunks, written immediately; only the current partial event is buffered (in the parser).
//!
//! Must not: buffer content, do I/O, or send `[DONE]` after an error or an incomplete stream.

use super::response::openai_usage_out;
use super::{finish_reason_for, fresh_suffix, id_suffix, unix_now, ResponseContext};
use crate::protocol::anthropic::{AnthropicUsage, StreamEvent};
use crate::protocol::json_str;
use crate::protocol::openai::ChatUsage;
use crate::protocol::Usage;
use crate::redact::scrub_key_shapes;
use crate::sse::{write_done, write_json_data, SseParser};
use bytes::{BufMut, BytesMut};
use serde::Serialize;

/// Anthropic events in, OpenAI chunks out.
pub struct AnthropicToOpenAiStream {
    parser: SseParser,
    st: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    /// A tool_use block and its OpenAI tool-call index.
    Tool(u64),
    /// A block OpenAI cannot express (already reported).
    Skip,
}

struct State {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    /// Emit thinking signatures as `reasoning_signature` deltas (the Chat stage of Anthropic →
    /// Responses translation only).
    keep_signatures: bool,
    started: bool,
    /// Kind of each Anthropic content block, by index.
    blocks: Vec<Block>,
    next_tool: u64,
    finish_sent: bool,
    usage: AnthropicUsage,
    ended: bool,
    /// The stream ended with an error event (upstream error, broken or incomplete stream).
    failed: bool,
    dropped: Vec<String>,
    /// Every chunk's bytes up to its delta's fields:
    /// `data: {"id":…,"object":"chat.completion.chunk","created":…,"model":…,"choices":[{"index":0,"delta":{`
    /// (written once; see [`State::emit`]).
    chunk_head: Vec<u8>,
}

// ----- output shapes -----

#[derive(Serialize)]
struct ChunkOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [ChoiceOut<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<ChatUsage>,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    delta: DeltaOut<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default)]
#[cfg_attr(test, derive(Clone))]
struct DeltaOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_signature: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolDeltaOut<'a>; 1]>,
}

impl<'a> DeltaOut<'a> {
    /// `"content":` or `"reasoning_content":` and its text, when that is all the delta holds.
    fn only_text(&self) -> Option<(&'static [u8], &'a str)> {
        match *self {
            DeltaOut {
                role: None,
                content: Some(text),
                reasoning_content: None,
                reasoning_signature: None,
                tool_calls: None,
            } => Some((b"\"content\":", text)),
            DeltaOut {
                role: None,
                content: None,
                reasoning_content: Some(text),
                reasoning_signature: None,
                tool_calls: None,
            } => Some((b"\"reasoning_content\":", text)),
            _ => None,
        }
    }
}

/// `data: {"id":…,"object":"chat.completion.chunk","created":…,"model":…,"choices":[{"index":0,"delta":{`
fn make_chunk_head(id: &str, created: u64, model: &str) -> Vec<u8> {
    let mut head = Vec::with_capacity(128 + id.len() + model.len());
    head.extend_from_slice(b"data: {\"id\":");
    json_str::escape_into(&mut head, id);
    head.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
    head.extend_from_slice(itoa::Buffer::new().format(created).as_bytes());
    head.extend_from_slice(b",\"model\":");
    json_str::escape_into(&mut head, model);
    head.extend_from_slice(b",\"choices\":[{\"index\":0,\"delta\":{");
    head
}

#[derive(Serialize)]
#[cfg_attr(test, derive(Clone))]
struct ToolDeltaOut<'a> {
    index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDeltaOut<'a>,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(Clone))]
struct FunctionDeltaOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ErrorChunk<'a> {
    error: ErrorOut<'a>,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<()>,
    code: Option<&'a str>,
}

impl AnthropicToOpenAiStream {
    pub fn new(ctx: &ResponseContext) -> Self {
        let id = format!("chatcmpl-{}", fresh_suffix());
        let created = unix_now();
        let chunk_head = make_chunk_head(&id, created, ctx.client_model);
        AnthropicToOpenAiStream {
            parser: SseParser::new(),
            st: State {
                id,
                created,
                model: ctx.client_model.to_owned(),
                include_usage: ctx.include_usage,
                keep_signatures: false,
                started: false,
                blocks: Vec::new(),
                next_tool: 0,
                finish_sent: false,
                usage: AnthropicUsage::default(),
                ended: false,
                failed: false,
                dropped: Vec::new(),
                chunk_head,
            },
        }
    }

    /// Like [`new`](Self::new), and thinking signatures go out as `reasoning_signature` deltas:
    /// for the Chat stage of Anthropic → Responses translation, never for Chat clients.
    pub fn with_signatures(ctx: &ResponseContext) -> Self {
        let mut s = Self::new(ctx);
        s.st.keep_signatures = true;
        s
    }

    /// Append the OpenAI chunks for every complete upstream event in `chunk`.
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
                .error("server_error", &crate::sse::oversized_message(), out);
        }
    }

    /// The upstream ended: nothing more if `message_stop` was seen, else an error chunk.
    pub fn finish(&mut self, out: &mut BytesMut) {
        if !self.st.ended {
            self.st.error(
                "server_error",
                "upstream stream ended before message_stop",
                out,
            );
        }
    }

    /// The upstream broke (reset, idle timeout): emit an error chunk.
    pub fn fail(&mut self, message: &str, out: &mut BytesMut) {
        if !self.st.ended {
            self.st.error("server_error", message, out);
        }
    }

    pub fn usage(&self) -> Usage {
        self.st.usage.to_usage()
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
        if event == Some("ping") {
            return;
        }
        let ev: StreamEvent<'_> = match serde_json::from_str(data) {
            Ok(ev) => ev,
            Err(e) => {
                let msg = if event == Some("error") {
                    scrub_key_shapes(data).into_owned()
                } else {
                    format!("upstream sent a malformed stream event: {e}")
                };
                self.error("server_error", &msg, out);
                return;
            }
        };
        let kind: &str = if ev.kind.is_empty() {
            event.unwrap_or("")
        } else {
            &ev.kind
        };
        match kind {
            "message_start" => {
                if let Some(m) = &ev.message {
                    if let Some(id) = m.id.as_deref() {
                        self.set_id(format!("chatcmpl-{}", id_suffix(Some(id))));
                    }
                    if let Some(u) = &m.usage {
                        self.usage.merge(u);
                    }
                }
                self.start(out);
            }
            "content_block_start" => {
                self.start(out);
                let index = ev.index.unwrap_or(self.blocks.len() as u64) as usize;
                let block = ev.content_block.unwrap_or_default();
                let kind = match block.kind() {
                    "text" => {
                        if let Some(t) = block.text.as_deref().filter(|t| !t.is_empty()) {
                            self.emit(
                                DeltaOut {
                                    content: Some(t),
                                    ..Default::default()
                                },
                                None,
                                out,
                            );
                        }
                        Block::Text
                    }
                    "thinking" => {
                        if let Some(t) = block.thinking.as_deref().filter(|t| !t.is_empty()) {
                            self.emit(
                                DeltaOut {
                                    reasoning_content: Some(t),
                                    ..Default::default()
                                },
                                None,
                                out,
                            );
                        }
                        Block::Thinking
                    }
                    "tool_use" => {
                        let k = self.next_tool;
                        self.next_tool += 1;
                        let input = block.input.as_deref().map(|r| r.get()).unwrap_or("{}");
                        // The input normally streams as deltas; a non-empty one in the start
                        // event is sent as the first fragment.
                        let first = if input.trim() == "{}" { "" } else { input };
                        self.emit(
                            DeltaOut {
                                tool_calls: Some([ToolDeltaOut {
                                    index: k,
                                    id: Some(block.id.as_deref().unwrap_or("")),
                                    kind: Some("function"),
                                    function: FunctionDeltaOut {
                                        name: Some(block.name.as_deref().unwrap_or("")),
                                        arguments: first,
                                    },
                                }]),
                                ..Default::default()
                            },
                            None,
                            out,
                        );
                        Block::Tool(k)
                    }
                    other => {
                        self.dropped.push(format!("content[{index}] ({other})"));
                        Block::Skip
                    }
                };
                if self.blocks.len() <= index {
                    self.blocks.resize(index + 1, Block::Skip);
                }
                self.blocks[index] = kind;
            }
            "content_block_delta" => {
                self.start(out);
                let index = ev.index.unwrap_or(0) as usize;
                let block = self.blocks.get(index).copied().unwrap_or(Block::Text);
                let Some(d) = ev.delta else { return };
                match (d.kind.as_deref().unwrap_or(""), block) {
                    ("text_delta", Block::Text | Block::Thinking) => {
                        if let Some(t) = d.text.as_deref().filter(|t| !t.is_empty()) {
                            self.emit(
                                DeltaOut {
                                    content: Some(t),
                                    ..Default::default()
                                },
                                None,
                                out,
                            );
                        }
                    }
                    ("thinking_delta", Block::Thinking | Block::Text) => {
                        if let Some(t) = d.thinking.as_deref().filter(|t| !t.is_empty()) {
                            self.emit(
                                DeltaOut {
                                    reasoning_content: Some(t),
                                    ..Default::default()
                                },
                                None,
                                out,
                            );
                        }
                    }
                    ("input_json_delta", Block::Tool(k)) => {
                        if let Some(p) = d.partial_json.as_deref().filter(|p| !p.is_empty()) {
                            self.emit(
                                DeltaOut {
                                    tool_calls: Some([ToolDeltaOut {
                                        index: k,
                                        id: None,
                                        kind: None,
                                        function: FunctionDeltaOut {
                                            name: None,
                                            arguments: p,
                                        },
                                    }]),
                                    ..Default::default()
                                },
                                None,
                                out,
                            );
                        }
                    }
                    ("citations_delta", _) => {
                        let path = format!("content[{index}].citations");
                        if !self.dropped.contains(&path) {
                            self.dropped.push(path);
                        }
                    }
                    ("signature_delta", Block::Thinking) if self.keep_signatures => {
                        if let Some(s) = d.signature.as_deref().filter(|s| !s.is_empty()) {
                            self.emit(
                                DeltaOut {
                                    reasoning_signature: Some(s),
                                    ..Default::default()
                                },
                                None,
                                out,
                            );
                        }
                    }
                    _ => {} // signature_delta, deltas of skipped blocks
                }
            }
            "message_delta" => {
                self.start(out);
                if let Some(u) = &ev.usage {
                    self.usage.merge(u);
                }
                if let Some(reason) = ev.delta.as_ref().and_then(|d| d.stop_reason.as_deref()) {
                    let fr = finish_reason_for(Some(reason));
                    self.emit(DeltaOut::default(), Some(fr), out);
                    self.finish_sent = true;
                }
            }
            "message_stop" => {
                self.start(out);
                if !self.finish_sent {
                    self.emit(DeltaOut::default(), Some("stop"), out);
                    self.finish_sent = true;
                }
                if self.include_usage {
                    let usage = openai_usage_out(&self.usage.to_usage());
                    write_json_data(
                        out,
                        &ChunkOut {
                            id: &self.id,
                            object: "chat.completion.chunk",
                            created: self.created,
                            model: &self.model,
                            choices: &[],
                            usage: Some(usage),
                        },
                    );
                }
                write_done(out);
                self.ended = true;
            }
            "error" => {
                let (t, m) = match &ev.error {
                    Some(e) => (e.kind.as_str(), e.message.as_str()),
                    None => ("api_error", "upstream error"),
                };
                let openai_type = match t {
                    "overloaded_error" | "api_error" => "server_error",
                    "rate_limit_error" => "rate_limit_exceeded",
                    "invalid_request_error" => "invalid_request_error",
                    _ => "server_error",
                };
                let msg = scrub_key_shapes(m).into_owned();
                self.error(openai_type, &msg, out);
            }
            _ => {} // ping, content_block_stop, unknown future events
        }
    }

    /// The role chunk, once.
    fn start(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        self.emit(
            DeltaOut {
                role: Some("assistant"),
                content: Some(""),
                ..Default::default()
            },
            None,
            out,
        );
    }

    /// Every chunk carries the id, so the chunk head changes with it.
    fn set_id(&mut self, id: String) {
        self.chunk_head = make_chunk_head(&id, self.created, &self.model);
        self.id = id;
    }

    /// One chunk with one choice. A plain text or reasoning delta — nearly every chunk of a
    /// stream — is written from the chunk's head (made once per stream) and the escaped text;
    /// everything else goes through serde. The test `text_chunks_are_what_serde_json_writes`
    /// holds the two to the same bytes.
    fn emit(&self, delta: DeltaOut<'_>, finish_reason: Option<&str>, out: &mut BytesMut) {
        if let (Some((field, text)), None) = (delta.only_text(), finish_reason) {
            out.reserve(self.chunk_head.len() + text.len() + 64);
            out.put_slice(&self.chunk_head);
            out.put_slice(field);
            json_str::escape_into(out, text);
            out.put_slice(b"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
            return;
        }
        self.write_chunk(delta, finish_reason, out);
    }

    fn write_chunk(&self, delta: DeltaOut<'_>, finish_reason: Option<&str>, out: &mut BytesMut) {
        write_json_data(
            out,
            &ChunkOut {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices: &[ChoiceOut {
                    index: 0,
                    delta,
                    logprobs: None,
                    finish_reason,
                }],
                usage: None,
            },
        );
    }

    fn error(&mut self, kind: &str, message: &str, out: &mut BytesMut) {
        let code = match kind {
            "rate_limit_exceeded" => Some("rate_limit_exceeded"),
            _ => None,
        };
        write_json_data(
            out,
            &ErrorChunk {
                error: ErrorOut {
                    message,
                    kind,
                    param: None,
                    code,
                },
            },
        );
        self.ended = true;
        self.failed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn state(model: &str) -> State {
        let ctx = ResponseContext {
            client_model: model,
            include_usage: false,
        };
        AnthropicToOpenAiStream::new(&ctx).st
    }

    proptest! {
        #[test]
        fn text_chunks_are_what_serde_json_writes(
            model in ".{0,24}",
            upstream_id in proptest::option::of("[a-zA-Z0-9_\"\\\\]{1,24}"),
            text in ".{0,80}",
        ) {
            let mut st = state(&model);
            if let Some(id) = upstream_id {
                // As `message_start` does: every later chunk carries the new id.
                st.set_id(format!("chatcmpl-{}", id_suffix(Some(&id))));
            }
            for delta in [
                DeltaOut { content: Some(&text), ..Default::default() },
                DeltaOut { reasoning_content: Some(&text), ..Default::default() },
            ] {
                let (mut fast, mut serde) = (BytesMut::new(), BytesMut::new());
                st.emit(delta.clone(), None, &mut fast);
                st.write_chunk(delta, None, &mut serde);
                prop_assert_eq!(&fast[..], &serde[..]);
            }
        }
    }
}
