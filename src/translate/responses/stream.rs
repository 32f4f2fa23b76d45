//! Stream transducer: Chat `chat.completion.chunk` SSE in → Responses events out
//! (`response.created`, `response.in_progress`, `response.output_item.added`, …,
//! `response.completed`), every event numbered by `sequence_number`. Each complete upstream chunk
//! is translated as soon as it is parsed; the texts of the open items are kept only to repeat
//! them in their `.done` events and in the final `response` object, as the API does.
//!
//! Must not: hold events back, do I/O, or end a broken stream with `response.completed`.

use bytes::BytesMut;
use serde::Serialize;
use serde_json::{json, Value};

use super::response::{
    call_item, message_item, reasoning_item, set_signature, status_for, text_part,
};
use super::{ResponseOut, ResponsesMeta};
use crate::protocol::openai::ChunkIn;
use crate::protocol::Usage;
use crate::redact::scrub_key_shapes;
use crate::sse::{write_json_event, SseParser};

/// Chat chunks in, Responses events out.
pub struct ChatToResponsesStream {
    parser: SseParser,
    st: State,
}

enum Kind {
    Reasoning,
    Message,
    /// A function call and its Chat `tool_calls[].index`.
    Call {
        k: u64,
        call_id: String,
        name: String,
    },
}

struct Item {
    kind: Kind,
    id: String,
    /// Reasoning summary, message text or call arguments.
    text: String,
    /// An Anthropic thinking signature (reasoning items).
    signature: Option<String>,
    done: bool,
}

struct State {
    meta: ResponsesMeta,
    seq: u64,
    started: bool,
    items: Vec<Item>,
    finish: Option<String>,
    usage: Option<Usage>,
    ended: bool,
    failed: bool,
    output: Option<Vec<Value>>,
}

#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    content_index: u32,
    delta: &'a str,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct SummaryDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    summary_index: u32,
    delta: &'a str,
}

#[derive(Serialize)]
struct ArgsDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    delta: &'a str,
}

/// An event that carries the whole `response` (created, in_progress, completed, …).
#[derive(Serialize)]
struct ResponseEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    response: ResponseOut<'a>,
}

fn write_response_event(out: &mut BytesMut, name: &'static str, seq: u64, response: ResponseOut) {
    write_json_event(
        out,
        name,
        &ResponseEvent {
            kind: name,
            sequence_number: seq,
            response,
        },
    );
}

impl ChatToResponsesStream {
    pub fn new(meta: ResponsesMeta) -> Self {
        ChatToResponsesStream {
            parser: SseParser::new(),
            st: State {
                meta,
                seq: 0,
                started: false,
                items: Vec::new(),
                finish: None,
                usage: None,
                ended: false,
                failed: false,
                output: None,
            },
        }
    }

    /// Append the Responses events for every complete upstream chunk in `chunk`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut BytesMut) {
        let mut evs = self.parser.feed(chunk);
        while let Some(ev) = evs.next_event() {
            if self.st.ended {
                continue;
            }
            self.st.on_data(&ev.data, out);
        }
        // An upstream event over the SSE parser's bound was skipped: the reply is incomplete.
        if self.parser.take_oversized() && !self.st.ended {
            self.st.fail(&crate::sse::oversized_message(), out);
        }
    }

    /// The upstream ended: `response.completed` if the reply finished, else `response.failed`.
    pub fn finish(&mut self, out: &mut BytesMut) {
        if self.st.ended {
            return;
        }
        if self.st.finish.is_some() {
            self.st.complete(out);
        } else {
            self.st
                .fail("upstream stream ended before the reply was finished", out);
        }
    }

    /// The upstream broke or went idle.
    pub fn fail(&mut self, message: &str, out: &mut BytesMut) {
        if !self.st.ended {
            self.st.fail(message, out);
        }
    }

    pub fn usage(&self) -> Usage {
        self.st.usage.unwrap_or_default()
    }

    pub fn failed(&self) -> bool {
        self.st.failed
    }

    /// The output stream is over (`response.completed` or `response.failed` written).
    pub fn is_ended(&self) -> bool {
        self.st.ended
    }

    /// The output items of a completed response (once), for the store.
    pub fn take_output(&mut self) -> Option<Vec<Value>> {
        self.st.output.take()
    }

    pub fn meta(&self) -> &ResponsesMeta {
        &self.st.meta
    }
}

impl State {
    fn next_seq(&mut self) -> u64 {
        let n = self.seq;
        self.seq += 1;
        n
    }

    fn event(&mut self, name: &'static str, mut body: Value, out: &mut BytesMut) {
        body["type"] = Value::String(name.into());
        body["sequence_number"] = json!(self.next_seq());
        write_json_event(out, name, &body);
    }

    fn start(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        for name in ["response.created", "response.in_progress"] {
            let seq = self.next_seq();
            let response = self.meta.response_object("in_progress", &[], None, None);
            write_response_event(out, name, seq, response);
        }
    }

    fn on_data(&mut self, data: &str, out: &mut BytesMut) {
        if data.trim() == "[DONE]" {
            self.complete(out);
            return;
        }
        let chunk: ChunkIn<'_> = match serde_json::from_str(data) {
            Ok(c) => c,
            Err(e) => {
                self.fail(&format!("upstream sent a malformed stream chunk: {e}"), out);
                return;
            }
        };
        if let Some(err) = chunk.error.as_ref().filter(|e| !e.is_null()) {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("upstream error");
            let message = scrub_key_shapes(message).into_owned();
            self.fail(&message, out);
            return;
        }
        self.start(out);
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.to_usage());
        }
        if let Some(choice) = chunk.choice.as_ref().filter(|c| c.index.unwrap_or(0) == 0) {
            if let Some(d) = &choice.delta {
                if let Some(r) = d
                    .reasoning_content
                    .as_deref()
                    .or(d.reasoning.as_deref())
                    .filter(|r| !r.is_empty())
                {
                    self.reasoning_delta(r, out);
                }
                if let Some(sig) = d.reasoning_signature.as_deref() {
                    // The signature ends its thinking block: it belongs to the last reasoning item.
                    if let Some(it) = self
                        .items
                        .iter_mut()
                        .rev()
                        .find(|it| matches!(it.kind, Kind::Reasoning))
                    {
                        it.signature = Some(sig.to_owned());
                    }
                }
                for t in [d.content.as_deref(), d.refusal.as_deref()]
                    .into_iter()
                    .flatten()
                    .filter(|t| !t.is_empty())
                {
                    self.text_delta(t, out);
                }
                for call in d.tool_calls.iter().flatten() {
                    let k = call.index.unwrap_or(0);
                    let f = call.function.as_ref();
                    let name = f.and_then(|f| f.name.as_deref());
                    let id = call.id.as_deref();
                    self.call_delta(
                        k,
                        id,
                        name,
                        f.and_then(|f| f.arguments.as_deref()).unwrap_or(""),
                        out,
                    );
                }
            }
            if let Some(fr) = choice.finish_reason.as_deref() {
                self.finish = Some(fr.to_owned());
                self.close_open(out);
            }
        }
    }

    /// The open (last, not done) item, if it is of the wanted kind.
    fn open_is(&self, want: fn(&Kind) -> bool) -> Option<usize> {
        let last = self.items.len().checked_sub(1)?;
        let item = &self.items[last];
        (!item.done && want(&item.kind)).then_some(last)
    }

    fn push_item(&mut self, kind: Kind, prefix: &str) -> usize {
        let index = self.items.len();
        self.items.push(Item {
            kind,
            id: super::item_id(prefix, &self.meta.id, index),
            text: String::new(),
            signature: None,
            done: false,
        });
        index
    }

    /// The open item of `kind`'s kind, or a new one announced with `output_item.added` and the
    /// `.added` event of its first part (reasoning: a summary part; message: an output_text part).
    fn open_or_start(&mut self, kind: Kind, out: &mut BytesMut) -> usize {
        let reasoning = matches!(kind, Kind::Reasoning);
        let open = if reasoning {
            self.open_is(|k| matches!(k, Kind::Reasoning))
        } else {
            self.open_is(|k| matches!(k, Kind::Message))
        };
        if let Some(i) = open {
            return i;
        }
        self.close_open(out);
        let i = self.push_item(kind, if reasoning { "rs" } else { "msg" });
        let id = self.items[i].id.clone();
        let (item, part_event, part) = if reasoning {
            (
                reasoning_item(&self.meta, i, ""),
                "response.reasoning_summary_part.added",
                json!({"item_id": id, "output_index": i, "summary_index": 0,
                       "part": {"type": "summary_text", "text": ""}}),
            )
        } else {
            (
                message_item(&self.meta, i, "", "in_progress"),
                "response.content_part.added",
                json!({"item_id": id, "output_index": i, "content_index": 0,
                       "part": text_part("")}),
            )
        };
        self.event(
            "response.output_item.added",
            json!({"output_index": i, "item": item}),
            out,
        );
        self.event(part_event, part, out);
        i
    }

    fn reasoning_delta(&mut self, delta: &str, out: &mut BytesMut) {
        let index = self.open_or_start(Kind::Reasoning, out);
        self.items[index].text.push_str(delta);
        let seq = self.next_seq();
        write_json_event(
            out,
            "response.reasoning_summary_text.delta",
            &SummaryDelta {
                kind: "response.reasoning_summary_text.delta",
                sequence_number: seq,
                item_id: &self.items[index].id,
                output_index: index,
                summary_index: 0,
                delta,
            },
        );
    }

    fn text_delta(&mut self, delta: &str, out: &mut BytesMut) {
        let index = self.open_or_start(Kind::Message, out);
        self.items[index].text.push_str(delta);
        let seq = self.next_seq();
        write_json_event(
            out,
            "response.output_text.delta",
            &TextDelta {
                kind: "response.output_text.delta",
                sequence_number: seq,
                item_id: &self.items[index].id,
                output_index: index,
                content_index: 0,
                delta,
                logprobs: [],
            },
        );
    }

    fn call_delta(
        &mut self,
        k: u64,
        id: Option<&str>,
        name: Option<&str>,
        arguments: &str,
        out: &mut BytesMut,
    ) {
        // A new call: a new index, or (servers that reuse index 0) a new id.
        let current = self.items.iter().rposition(
            |it| matches!(&it.kind, Kind::Call { k: kk, call_id, .. } if *kk == k && id.is_none_or(|id| id.is_empty() || id == call_id)),
        );
        let index = match current {
            Some(i) => i,
            None => {
                self.close_open(out);
                let call_id = id
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("call_{}", crate::translate::fresh_suffix()));
                let name = name.unwrap_or("").to_owned();
                let prefix = if self.meta.is_custom(&name) {
                    "ctc"
                } else {
                    "fc"
                };
                let i = self.push_item(
                    Kind::Call {
                        k,
                        call_id: call_id.clone(),
                        name: name.clone(),
                    },
                    prefix,
                );
                let item = call_item(&self.meta, i, &call_id, &name, "", "in_progress");
                self.event(
                    "response.output_item.added",
                    json!({"output_index": i, "item": item}),
                    out,
                );
                i
            }
        };
        if arguments.is_empty() {
            return;
        }
        self.items[index].text.push_str(arguments);
        if self.items[index].done {
            return; // a late fragment of a call already closed: kept in the final object only
        }
        if matches!(&self.items[index].kind, Kind::Call { name, .. } if self.meta.is_custom(name)) {
            // A custom tool's text is inside the JSON arguments: it goes out whole at the end.
            return;
        }
        let seq = self.next_seq();
        write_json_event(
            out,
            "response.function_call_arguments.delta",
            &ArgsDelta {
                kind: "response.function_call_arguments.delta",
                sequence_number: seq,
                item_id: &self.items[index].id,
                output_index: index,
                delta: arguments,
            },
        );
    }

    /// The finished form of item `i`.
    fn final_item(&self, i: usize) -> Value {
        let it = &self.items[i];
        let mut v = match &it.kind {
            Kind::Reasoning => {
                let mut v = reasoning_item(&self.meta, i, &it.text);
                set_signature(&mut v, it.signature.as_deref());
                v
            }
            Kind::Message => message_item(&self.meta, i, &it.text, "completed"),
            Kind::Call { call_id, name, .. } => {
                let args = if it.text.is_empty() { "{}" } else { &it.text };
                call_item(&self.meta, i, call_id, name, args, "completed")
            }
        };
        v["id"] = Value::String(it.id.clone());
        v
    }

    /// Closes the open item with its `.done` events.
    fn close_open(&mut self, out: &mut BytesMut) {
        let Some(i) = self.items.len().checked_sub(1) else {
            return;
        };
        if self.items[i].done {
            return;
        }
        self.items[i].done = true;
        let id = self.items[i].id.clone();
        let text = self.items[i].text.clone();
        match &self.items[i].kind {
            Kind::Reasoning => {
                self.event(
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": i, "summary_index": 0, "text": text}),
                    out,
                );
                self.event(
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id, "output_index": i, "summary_index": 0,
                           "part": {"type": "summary_text", "text": text}}),
                    out,
                );
            }
            Kind::Message => {
                self.event(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": i, "content_index": 0,
                           "text": text, "logprobs": []}),
                    out,
                );
                self.event(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": i, "content_index": 0,
                           "part": text_part(&text)}),
                    out,
                );
            }
            Kind::Call { name, .. } if self.meta.is_custom(name) => {
                let input = super::custom_input(&text);
                self.event(
                    "response.custom_tool_call_input.delta",
                    json!({"item_id": id, "output_index": i, "delta": input}),
                    out,
                );
                self.event(
                    "response.custom_tool_call_input.done",
                    json!({"item_id": id, "output_index": i, "input": input}),
                    out,
                );
            }
            Kind::Call { name, .. } => {
                let (_, name) = self.meta.split_name(name);
                let name = name.to_owned();
                let args = if text.is_empty() {
                    "{}".to_owned()
                } else {
                    text
                };
                self.event(
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": i, "name": name, "arguments": args}),
                    out,
                );
            }
        }
        let item = self.final_item(i);
        self.event(
            "response.output_item.done",
            json!({"output_index": i, "item": item}),
            out,
        );
    }

    fn complete(&mut self, out: &mut BytesMut) {
        self.start(out);
        self.close_open(out);
        let output: Vec<Value> = (0..self.items.len()).map(|i| self.final_item(i)).collect();
        let (status, incomplete) = status_for(self.finish.as_deref());
        let usage = self.usage.unwrap_or_default();
        let name = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        let seq = self.next_seq();
        let response = self.meta.response_object(
            status,
            &output,
            Some(&usage),
            incomplete.map(|d| ("incomplete_details", d)),
        );
        write_response_event(out, name, seq, response);
        self.output = Some(output);
        self.ended = true;
    }

    fn fail(&mut self, message: &str, out: &mut BytesMut) {
        self.start(out);
        let output: Vec<Value> = (0..self.items.len()).map(|i| self.final_item(i)).collect();
        let seq = self.next_seq();
        let response = self.meta.response_object(
            "failed",
            &output,
            self.usage.as_ref(),
            Some(("error", json!({"code": "server_error", "message": message}))),
        );
        write_response_event(out, "response.failed", seq, response);
        self.ended = true;
        self.failed = true;
    }
}
