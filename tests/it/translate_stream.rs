//! Stream transducers (TRANSLATION.md §2 and §4, streaming): exact event sequences, arbitrary
//! chunk boundaries (byte by byte, split UTF-8, CRLF, comments, multi-line data), errors and
//! incomplete streams, "streamed result assembled equals the non-streamed result", and a 1 MB
//! tool-argument stream.

use bytes::BytesMut;
use dario::protocol::Usage;
use dario::sse::SseParser;
use dario::translate::{
    anthropic_response_to_openai, openai_response_to_anthropic, AnthropicToOpenAiStream,
    OpenAiToAnthropicStream, ResponseContext,
};
use serde_json::{json, Value};

const MODEL: &str = "client-model";

fn ctx(include_usage: bool) -> ResponseContext<'static> {
    ResponseContext {
        client_model: MODEL,
        include_usage,
    }
}

/// All events of an SSE byte stream as (event name, data).
fn events(bytes: &[u8]) -> Vec<(Option<String>, String)> {
    let mut p = SseParser::new();
    p.feed_collect(bytes)
        .into_iter()
        .map(|e| (e.event, e.data))
        .collect()
}

/// Feed `input` to a transducer in pieces of `step` bytes, then finish.
fn run_o2a(input: &[u8], step: usize) -> (Vec<u8>, Usage, Vec<String>) {
    let mut t = OpenAiToAnthropicStream::new(&ctx(false));
    let mut out = BytesMut::new();
    for c in input.chunks(step.max(1)) {
        t.feed(c, &mut out);
    }
    t.finish(&mut out);
    (out.to_vec(), t.usage(), t.dropped().to_vec())
}

fn run_a2o(input: &[u8], step: usize, include_usage: bool) -> (Vec<u8>, Usage) {
    let mut t = AnthropicToOpenAiStream::new(&ctx(include_usage));
    let mut out = BytesMut::new();
    for c in input.chunks(step.max(1)) {
        t.feed(c, &mut out);
    }
    t.finish(&mut out);
    (out.to_vec(), t.usage())
}

// ------------------------------------------------------------------------------------------
// Upstream fixtures: one reply, rendered both as a JSON body and as a stream.

/// An OpenAI-protocol reply.
struct OReply {
    reasoning: Vec<&'static str>,
    text: Vec<&'static str>,
    /// (id, name, argument fragments)
    tools: Vec<(&'static str, &'static str, Vec<String>)>,
    finish: &'static str,
}

impl OReply {
    fn usage() -> Value {
        json!({"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62,
               "prompt_tokens_details": {"cached_tokens": 20},
               "completion_tokens_details": {"reasoning_tokens": 4}})
    }

    fn body(&self) -> Vec<u8> {
        let mut msg = json!({"role": "assistant", "content": self.text.concat()});
        if !self.reasoning.is_empty() {
            msg["reasoning_content"] = json!(self.reasoning.concat());
        }
        if !self.tools.is_empty() {
            msg["tool_calls"] = self
                .tools
                .iter()
                .map(|(id, name, frags)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": frags.concat()}}))
                .collect();
        }
        serde_json::to_vec(&json!({"id": "chatcmpl-XyZ9", "object": "chat.completion", "created": 5, "model": "up",
            "choices": [{"index": 0, "message": msg, "finish_reason": self.finish}], "usage": Self::usage()}))
        .unwrap()
    }

    fn stream(&self) -> Vec<u8> {
        let chunk = |delta: Value, finish: Value| {
            let c = json!({"id": "chatcmpl-XyZ9", "object": "chat.completion.chunk", "created": 5, "model": "up",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
            format!("data: {c}\n\n")
        };
        let mut s = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
        for r in &self.reasoning {
            s += &chunk(json!({"reasoning_content": r}), Value::Null);
        }
        for t in &self.text {
            s += &chunk(json!({"content": t}), Value::Null);
        }
        for (k, (id, name, frags)) in self.tools.iter().enumerate() {
            s += &chunk(
                json!({"tool_calls": [{"index": k, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                Value::Null,
            );
            for f in frags {
                s += &chunk(
                    json!({"tool_calls": [{"index": k, "function": {"arguments": f}}]}),
                    Value::Null,
                );
            }
        }
        s += &chunk(json!({}), json!(self.finish));
        s += &format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-XyZ9", "object": "chat.completion.chunk", "created": 5, "model": "up", "choices": [], "usage": Self::usage()})
        );
        s += "data: [DONE]\n\n";
        s.into_bytes()
    }
}

/// Assemble an Anthropic event stream into the message it describes, checking the protocol
/// invariants on the way (names match types, blocks start before deltas, no empty text block,
/// exactly one message_start/message_stop, nothing after message_stop).
fn assemble_anthropic(bytes: &[u8]) -> Value {
    let mut msg: Option<Value> = None;
    let mut partial: Vec<String> = Vec::new();
    let mut open: Option<usize> = None;
    let mut stopped = false;
    for (name, data) in events(bytes) {
        assert!(!stopped, "event after message_stop");
        let v: Value = serde_json::from_str(&data).unwrap();
        let name = name.expect("every Anthropic event is named");
        assert_eq!(v["type"], name.as_str());
        match name.as_str() {
            "message_start" => {
                assert!(msg.is_none(), "second message_start");
                let m = v["message"].clone();
                assert_eq!(m["content"], json!([]));
                assert_eq!(m["stop_reason"], Value::Null);
                msg = Some(m);
            }
            "content_block_start" => {
                let m = msg.as_mut().expect("block before message_start");
                assert!(open.is_none(), "two open blocks");
                let i = v["index"].as_u64().unwrap() as usize;
                let content = m["content"].as_array_mut().unwrap();
                assert_eq!(content.len(), i, "indices are dense and increasing");
                content.push(v["content_block"].clone());
                partial.push(String::new());
                open = Some(i);
            }
            "content_block_delta" => {
                let m = msg.as_mut().unwrap();
                let i = v["index"].as_u64().unwrap() as usize;
                assert_eq!(open, Some(i), "delta for a block that is not open");
                let b = &mut m["content"][i];
                let d = &v["delta"];
                match d["type"].as_str().unwrap() {
                    "text_delta" => {
                        let t = format!(
                            "{}{}",
                            b["text"].as_str().unwrap(),
                            d["text"].as_str().unwrap()
                        );
                        b["text"] = json!(t);
                    }
                    "thinking_delta" => {
                        let t = format!(
                            "{}{}",
                            b["thinking"].as_str().unwrap(),
                            d["thinking"].as_str().unwrap()
                        );
                        b["thinking"] = json!(t);
                    }
                    "input_json_delta" => partial[i].push_str(d["partial_json"].as_str().unwrap()),
                    other => panic!("unexpected delta {other}"),
                }
            }
            "content_block_stop" => {
                let m = msg.as_mut().unwrap();
                let i = v["index"].as_u64().unwrap() as usize;
                assert_eq!(open.take(), Some(i));
                let b = &mut m["content"][i];
                if b["type"] == "tool_use" && !partial[i].is_empty() {
                    b["input"] = serde_json::from_str(&partial[i]).unwrap();
                }
                if b["type"] == "text" {
                    assert_ne!(b["text"], "", "empty text block");
                }
            }
            "message_delta" => {
                let m = msg.as_mut().unwrap();
                m["stop_reason"] = v["delta"]["stop_reason"].clone();
                m["stop_sequence"] = v["delta"]["stop_sequence"].clone();
                for (k, n) in v["usage"].as_object().unwrap() {
                    m["usage"][k] = n.clone();
                }
            }
            "message_stop" => stopped = true,
            "ping" => {}
            "error" => panic!("unexpected error event: {data}"),
            other => panic!("unknown event {other}"),
        }
    }
    assert!(stopped, "no message_stop");
    assert!(open.is_none());
    msg.unwrap()
}

fn sample_o_reply() -> OReply {
    OReply {
        reasoning: vec!["Let me ", "think… 🤔"],
        text: vec!["Héllo", " wörld ", "🦀!"],
        tools: vec![
            (
                "call_a",
                "get_weather",
                vec!["{\"ci".into(), "ty\": \"Pa".into(), "ris\"}".into()],
            ),
            ("call_b", "get_time", vec!["{}".into()]),
        ],
        finish: "tool_calls",
    }
}

#[test]
fn o2a_streamed_equals_non_streamed() {
    let replies = vec![
        sample_o_reply(),
        OReply {
            reasoning: vec![],
            text: vec!["just ", "text"],
            tools: vec![],
            finish: "stop",
        },
        OReply {
            reasoning: vec![],
            text: vec!["cut"],
            tools: vec![],
            finish: "length",
        },
        OReply {
            reasoning: vec![],
            text: vec![],
            tools: vec![(
                "functions.f:0",
                "f",
                vec!["{\"a\":".into(), "[1,2]}".into()],
            )],
            finish: "tool_calls",
        },
    ];
    for r in replies {
        let (body, u_body, _) = openai_response_to_anthropic(&r.body(), &ctx(false)).unwrap();
        let want: Value = serde_json::from_slice(&body).unwrap();
        for step in [1, 3, 7, 64, 100_000] {
            let (out, u_stream, dropped) = run_o2a(&r.stream(), step);
            let got = assemble_anthropic(&out);
            assert_eq!(got, want, "step {step}");
            assert_eq!(u_stream, u_body);
            assert!(dropped.is_empty());
        }
    }
}

#[test]
fn o2a_exact_event_sequence_for_text_then_parallel_tools() {
    let (out, usage, _) = run_o2a(&sample_o_reply().stream(), 5);
    let evs = events(&out);
    let seq: Vec<String> = evs
        .iter()
        .map(|(n, d)| {
            let v: Value = serde_json::from_str(d).unwrap();
            match n.as_deref().unwrap() {
                "content_block_start" => format!(
                    "start{}:{}",
                    v["index"],
                    v["content_block"]["type"].as_str().unwrap()
                ),
                "content_block_delta" => format!("delta{}", v["index"]),
                "content_block_stop" => format!("stop{}", v["index"]),
                other => other.to_string(),
            }
        })
        .collect();
    assert_eq!(
        seq,
        vec![
            "message_start",
            "start0:thinking",
            "delta0",
            "delta0",
            "stop0",
            "start1:text",
            "delta1",
            "delta1",
            "delta1",
            "stop1",
            "start2:tool_use",
            "delta2",
            "delta2",
            "delta2",
            "stop2",
            "start3:tool_use",
            "delta3",
            "stop3",
            "message_delta",
            "message_stop"
        ]
    );
    // message_start: no content, zero output; message_delta carries the final usage.
    let start: Value = serde_json::from_str(&evs[0].1).unwrap();
    assert_eq!(start["message"]["id"], "msg_XyZ9");
    assert_eq!(start["message"]["model"], MODEL);
    assert_eq!(start["message"]["usage"]["output_tokens"], 0);
    let delta: Value = serde_json::from_str(&evs[evs.len() - 2].1).unwrap();
    assert_eq!(
        delta,
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
               "usage": {"input_tokens": 30, "output_tokens": 12, "cache_read_input_tokens": 20}})
    );
    assert_eq!(usage.reasoning_tokens, 4);
    // Wire format: `event: <type>\ndata: <json>\n\n`.
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("event: message_start\ndata: {"));
    assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
}

#[test]
fn o2a_crlf_comments_and_multiline_data_give_identical_output() {
    let lf = sample_o_reply().stream();
    let (want, _, _) = run_o2a(&lf, 1 << 20);
    // CRLF line endings plus keep-alive comments between events.
    let crlf = String::from_utf8(lf.clone())
        .unwrap()
        .replace("\n\n", "\n: OPENROUTER PROCESSING\n\n")
        .replace('\n', "\r\n");
    for step in [1, 2, 13] {
        assert_eq!(run_o2a(crlf.as_bytes(), step).0, want, "crlf step {step}");
    }
    // Bare CR line endings.
    let cr = String::from_utf8(lf.clone()).unwrap().replace('\n', "\r");
    assert_eq!(run_o2a(cr.as_bytes(), 3).0, want);
    // JSON split over several `data:` lines (joined with \n, which JSON treats as whitespace).
    let multi = String::from_utf8(lf)
        .unwrap()
        .replace(",\"choices\"", "\ndata: ,\"choices\"");
    assert_eq!(run_o2a(multi.as_bytes(), 4).0, want);
}

#[test]
fn o2a_each_event_is_translated_immediately() {
    let stream = sample_o_reply().stream();
    let first_end = stream.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    let second_end = first_end
        + stream[first_end..]
            .windows(2)
            .position(|w| w == b"\n\n")
            .unwrap()
        + 2;
    let mut t = OpenAiToAnthropicStream::new(&ctx(false));
    let mut out = BytesMut::new();
    t.feed(&stream[..first_end - 1], &mut out);
    assert!(out.is_empty(), "an incomplete event produces nothing");
    t.feed(&stream[first_end - 1..first_end], &mut out);
    assert_eq!(
        events(&out).len(),
        1,
        "message_start as soon as the first chunk is complete"
    );
    out.clear();
    t.feed(&stream[first_end..second_end], &mut out);
    let names: Vec<_> = events(&out).into_iter().map(|e| e.0.unwrap()).collect();
    assert_eq!(names, vec!["content_block_start", "content_block_delta"]);
}

#[test]
fn o2a_errors_never_end_successfully() {
    let head = "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"},\"finish_reason\":null}]}\n\n";
    let cases: Vec<(String, bool, &str)> = vec![
        // Error object mid-stream.
        (
            format!("{head}data: {{\"error\":{{\"message\":\"Rate limited, key sk-proj-abcdefghij0123456789\",\"type\":\"rate_limit_exceeded\"}}}}\n\n"),
            false,
            "rate_limit_error",
        ),
        // `event: error` with a non-chunk body.
        (format!("{head}event: error\ndata: upstream exploded\n\n"), false, "api_error"),
        // Ends without finish_reason and without [DONE].
        (head.to_string(), false, "api_error"),
        // [DONE] without a finish_reason.
        (format!("{head}data: [DONE]\n\n"), false, "api_error"),
        // Malformed JSON.
        (format!("{head}data: {{\"id\":\n\n"), false, "api_error"),
        // Upstream broke (reset / idle timeout) → fail().
        (head.to_string(), true, "api_error"),
    ];
    for (input, broken, want_type) in cases {
        let mut t = OpenAiToAnthropicStream::new(&ctx(false));
        let mut out = BytesMut::new();
        t.feed(input.as_bytes(), &mut out);
        if broken {
            t.fail("connection reset by upstream", &mut out);
        }
        t.finish(&mut out);
        // More data after the end is ignored.
        t.feed(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n",
            &mut out,
        );
        t.finish(&mut out);
        let evs = events(&out);
        let names: Vec<_> = evs.iter().map(|e| e.0.clone().unwrap()).collect();
        assert_eq!(
            names.iter().filter(|n| *n == "error").count(),
            1,
            "{input}: {names:?}"
        );
        assert_eq!(names.last().unwrap(), "error");
        assert!(!names.contains(&"message_stop".to_string()));
        assert!(!names.contains(&"message_delta".to_string()));
        let err: Value = serde_json::from_str(&evs.last().unwrap().1).unwrap();
        assert_eq!(err["type"], "error");
        assert_eq!(err["error"]["type"], want_type, "{input}");
        let msg = err["error"]["message"].as_str().unwrap();
        assert!(!msg.contains("sk-proj"), "{msg}");
        if broken {
            assert_eq!(msg, "connection reset by upstream");
        }
    }
}

#[test]
fn o2a_finish_without_done_still_closes() {
    // finish_reason and usage arrived, the connection closed before [DONE].
    let r = OReply {
        reasoning: vec![],
        text: vec!["a"],
        tools: vec![],
        finish: "stop",
    };
    let s = String::from_utf8(r.stream())
        .unwrap()
        .replace("data: [DONE]\n\n", "");
    let (out, u, _) = run_o2a(s.as_bytes(), 9);
    let m = assemble_anthropic(&out);
    assert_eq!(m["stop_reason"], "end_turn");
    assert_eq!(u.output_tokens, 12);
}

#[test]
fn o2a_no_empty_text_blocks_and_index_reuse_servers() {
    // Empty content deltas never open a block; a server that reuses index 0 for every call
    // (distinct ids) still gets one block per call.
    let chunks = [
        json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
        json!({"id": "c", "choices": [{"index": 0, "delta": {"content": ""}}]}),
        json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{\"x\":1}"}}]}}]}),
        json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "b", "function": {"name": "g", "arguments": "{\"y\":2}"}}]}}]}),
        json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    ];
    let mut s: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    s += "data: [DONE]\n\n";
    let (out, _, _) = run_o2a(s.as_bytes(), 1);
    let m = assemble_anthropic(&out);
    assert_eq!(
        m["content"],
        json!([
            {"type": "tool_use", "id": "a", "name": "f", "input": {"x": 1}},
            {"type": "tool_use", "id": "b", "name": "g", "input": {"y": 2}}
        ])
    );
    assert_eq!(m["stop_reason"], "tool_use");
}

#[test]
fn o2a_one_megabyte_of_tool_arguments() {
    // ~1 MiB of arguments in 4 KiB fragments, fed in 1000-byte pieces; the output is drained
    // after every feed as the proxy does, and each batch stays proportional to its input.
    let big = "x".repeat(1 << 20);
    let args = format!("{{\"blob\":\"{big}\"}}");
    let frags: Vec<String> = args
        .as_bytes()
        .chunks(4096)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let r = OReply {
        reasoning: vec![],
        text: vec![],
        tools: vec![("call_big", "store", frags)],
        finish: "tool_calls",
    };
    let input = r.stream();
    let mut t = OpenAiToAnthropicStream::new(&ctx(false));
    let mut out = BytesMut::new();
    let mut all = Vec::with_capacity(input.len() + 4096);
    let mut largest = 0;
    for c in input.chunks(1000) {
        t.feed(c, &mut out);
        largest = largest.max(out.len());
        all.extend_from_slice(&out);
        out.clear();
    }
    t.finish(&mut out);
    all.extend_from_slice(&out);
    assert!(
        largest < 16 * 1024,
        "one feed produced {largest} bytes: events are not streamed"
    );
    let m = assemble_anthropic(&all);
    assert_eq!(
        m["content"][0]["input"]["blob"].as_str().unwrap().len(),
        1 << 20
    );
}

// ------------------------------------------------------------------------------------------
// Anthropic → OpenAI

struct AReply {
    thinking: Vec<&'static str>,
    text: Vec<&'static str>,
    /// (id, name, partial_json fragments)
    tools: Vec<(&'static str, &'static str, Vec<String>)>,
    stop: &'static str,
}

impl AReply {
    fn full_content(&self) -> Vec<Value> {
        let mut c = Vec::new();
        if !self.thinking.is_empty() {
            c.push(
                json!({"type": "thinking", "thinking": self.thinking.concat(), "signature": "sig"}),
            );
        }
        if !self.text.is_empty() {
            c.push(json!({"type": "text", "text": self.text.concat()}));
        }
        for (id, name, frags) in &self.tools {
            let input: Value = if frags.concat().is_empty() {
                json!({})
            } else {
                serde_json::from_str(&frags.concat()).unwrap()
            };
            c.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
        }
        c
    }

    fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({"id": "msg_01Abc", "type": "message", "role": "assistant", "model": "claude",
            "content": self.full_content(), "stop_reason": self.stop, "stop_sequence": null,
            "usage": {"input_tokens": 30, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 15, "output_tokens": 22}}))
        .unwrap()
    }

    fn stream(&self) -> Vec<u8> {
        let ev = |name: &str, v: Value| format!("event: {name}\ndata: {v}\n\n");
        let mut s = ev(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_01Abc", "type": "message", "role": "assistant",
            "model": "claude", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 30, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 15, "output_tokens": 1}}}),
        );
        s += &ev("ping", json!({"type": "ping"}));
        let mut idx = 0;
        if !self.thinking.is_empty() {
            s += &ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": idx, "content_block": {"type": "thinking", "thinking": ""}}),
            );
            for t in &self.thinking {
                s += &ev(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": idx, "delta": {"type": "thinking_delta", "thinking": t}}),
                );
            }
            s += &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": idx, "delta": {"type": "signature_delta", "signature": "sig"}}),
            );
            s += &ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": idx}),
            );
            idx += 1;
        }
        if !self.text.is_empty() {
            s += &ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": idx, "content_block": {"type": "text", "text": ""}}),
            );
            for t in &self.text {
                s += &ev(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": idx, "delta": {"type": "text_delta", "text": t}}),
                );
            }
            s += &ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": idx}),
            );
            idx += 1;
        }
        for (id, name, frags) in &self.tools {
            s += &ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": idx, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
            );
            for f in frags {
                s += &ev(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": idx, "delta": {"type": "input_json_delta", "partial_json": f}}),
                );
            }
            s += &ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": idx}),
            );
            idx += 1;
        }
        s += &ev(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": self.stop, "stop_sequence": null}, "usage": {"output_tokens": 22}}),
        );
        s += &ev("message_stop", json!({"type": "message_stop"}));
        s.into_bytes()
    }
}

/// Assemble OpenAI chunks into a `chat.completion`, checking the invariants: same id, created,
/// model and object on every chunk, role first, finish_reason once, [DONE] last.
fn assemble_openai(bytes: &[u8]) -> Value {
    let mut first: Option<Value> = None;
    let mut content: Option<String> = None;
    let mut reasoning = String::new();
    let mut tools: Vec<Value> = Vec::new();
    let mut finish: Option<Value> = None;
    let mut usage: Option<Value> = None;
    let mut done = false;
    for (name, data) in events(bytes) {
        assert!(name.is_none(), "OpenAI chunks are unnamed");
        assert!(!done, "data after [DONE]");
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let c: Value = serde_json::from_str(&data).unwrap();
        assert!(c.get("error").is_none(), "unexpected error chunk {data}");
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], MODEL);
        match &first {
            None => {
                assert_eq!(
                    c["choices"][0]["delta"]["role"], "assistant",
                    "role chunk first"
                );
                first = Some(c.clone());
            }
            Some(f) => {
                assert_eq!(c["id"], f["id"]);
                assert_eq!(c["created"], f["created"]);
            }
        }
        if let Some(u) = c.get("usage") {
            assert_eq!(c["choices"], json!([]));
            usage = Some(u.clone());
            continue;
        }
        let ch = &c["choices"][0];
        let d = &ch["delta"];
        if let Some(t) = d["content"].as_str() {
            content.get_or_insert_with(String::new).push_str(t);
        }
        if let Some(t) = d["reasoning_content"].as_str() {
            reasoning.push_str(t);
        }
        for tc in d["tool_calls"].as_array().into_iter().flatten() {
            let k = tc["index"].as_u64().unwrap() as usize;
            if k == tools.len() {
                assert!(
                    tc["id"].is_string() && tc["function"]["name"].is_string(),
                    "first fragment has id and name"
                );
                tools.push(json!({"id": tc["id"], "type": "function", "function": {"name": tc["function"]["name"], "arguments": ""}}));
            }
            let a = format!(
                "{}{}",
                tools[k]["function"]["arguments"].as_str().unwrap(),
                tc["function"]["arguments"].as_str().unwrap_or("")
            );
            tools[k]["function"]["arguments"] = json!(a);
        }
        if !ch["finish_reason"].is_null() {
            assert!(finish.is_none(), "finish_reason twice");
            finish = Some(ch["finish_reason"].clone());
        }
    }
    assert!(done, "no [DONE]");
    let f = first.unwrap();
    let content = content.filter(|c| !c.is_empty() || tools.is_empty());
    let mut message = json!({"role": "assistant", "content": content, "refusal": null});
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    if !tools.is_empty() {
        message["tool_calls"] = json!(tools);
    }
    let mut out = json!({"id": f["id"], "object": "chat.completion", "created": 0, "model": f["model"],
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish.unwrap()}]});
    if let Some(u) = usage {
        out["usage"] = u;
    }
    out
}

fn sample_a_reply() -> AReply {
    AReply {
        thinking: vec!["Hmm, ", "ok 🤔"],
        text: vec!["Bonjour ", "à ", "tous 🦀"],
        tools: vec![
            (
                "toolu_1",
                "get_weather",
                vec!["{\"city\":".into(), " \"Paris\"}".into()],
            ),
            ("toolu_2", "now", vec![]),
        ],
        stop: "tool_use",
    }
}

#[test]
fn a2o_streamed_equals_non_streamed() {
    let replies = vec![
        sample_a_reply(),
        AReply {
            thinking: vec![],
            text: vec!["plain"],
            tools: vec![],
            stop: "end_turn",
        },
        AReply {
            thinking: vec![],
            text: vec!["long"],
            tools: vec![],
            stop: "max_tokens",
        },
        AReply {
            thinking: vec![],
            text: vec![],
            tools: vec![("toolu_x", "f", vec!["{\"a\":[1,".into(), "2]}".into()])],
            stop: "tool_use",
        },
    ];
    for r in replies {
        let (body, u_body, _) = anthropic_response_to_openai(&r.body(), &ctx(true)).unwrap();
        let mut want: Value = serde_json::from_slice(&body).unwrap();
        want["created"] = json!(0);
        for step in [1, 5, 64, 100_000] {
            let (out, u_stream) = run_a2o(&r.stream(), step, true);
            let got = assemble_openai(&out);
            // Arguments may differ in whitespace (fragments vs re-serialised input): compare parsed.
            let norm = |mut v: Value| {
                if let Some(tc) = v["choices"][0]["message"]["tool_calls"].as_array_mut() {
                    for t in tc {
                        let a: Value =
                            serde_json::from_str(t["function"]["arguments"].as_str().unwrap())
                                .unwrap_or(json!({}));
                        t["function"]["arguments"] = a;
                    }
                }
                v
            };
            assert_eq!(norm(got), norm(want.clone()), "step {step}");
            assert_eq!(u_stream, u_body);
        }
    }
}

#[test]
fn a2o_chunk_shapes_and_usage_chunk() {
    let (out, _) = run_a2o(&sample_a_reply().stream(), 3, true);
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let evs = events(&out);
    let chunks: Vec<Value> = evs[..evs.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(&e.1).unwrap())
        .collect();
    assert_eq!(chunks[0]["id"], "chatcmpl-01Abc");
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    // Tool call k=0 opens with id/type/name and empty arguments; k counts tool blocks only.
    let opens: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| {
            c["choices"][0]["delta"]["tool_calls"][0]
                .as_object()
                .map(|_| &c["choices"][0]["delta"]["tool_calls"][0])
        })
        .filter(|t| t.get("id").is_some())
        .collect();
    assert_eq!(
        opens,
        vec![
            &json!({"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}),
            &json!({"index": 1, "id": "toolu_2", "type": "function", "function": {"name": "now", "arguments": ""}})
        ]
    );
    let last = chunks.last().unwrap();
    assert_eq!(
        last["usage"],
        json!({"prompt_tokens": 50, "completion_tokens": 22, "total_tokens": 72, "prompt_tokens_details": {"cached_tokens": 15}})
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(
        finish["choices"][0],
        json!({"index": 0, "delta": {}, "logprobs": null, "finish_reason": "tool_calls"})
    );
    // Without include_usage: no usage chunk.
    let (out, _) = run_a2o(&sample_a_reply().stream(), 3, false);
    assert!(!String::from_utf8(out).unwrap().contains("\"usage\""));
}

#[test]
fn a2o_byte_by_byte_crlf_comments() {
    let lf = sample_a_reply().stream();
    let (want, _) = run_a2o(&lf, 1 << 20, true);
    let strip_created = |b: Vec<u8>| {
        let s = String::from_utf8(b).unwrap();
        let mut out = String::new();
        for part in s.split("\"created\":") {
            if out.is_empty() {
                out.push_str(part);
            } else {
                out.push_str("\"created\":0");
                out.push_str(part.trim_start_matches(|c: char| c.is_ascii_digit()));
            }
        }
        out
    };
    let crlf = String::from_utf8(lf)
        .unwrap()
        .replace("\n\n", "\n:comment\n\n")
        .replace('\n', "\r\n");
    for step in [1, 2, 11] {
        let (got, _) = run_a2o(crlf.as_bytes(), step, true);
        assert_eq!(
            strip_created(got),
            strip_created(want.clone()),
            "step {step}"
        );
    }
}

#[test]
fn a2o_errors_and_incomplete_streams() {
    let r = sample_a_reply();
    let full = String::from_utf8(r.stream()).unwrap();
    let cut = &full[..full.find("event: message_delta").unwrap()];
    let cases: Vec<(String, bool, &str)> = vec![
        (
            format!("{cut}event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}}}\n\n"),
            false,
            "server_error",
        ),
        (cut.to_string(), false, "server_error"),
        (cut.to_string(), true, "server_error"),
        (format!("{cut}event: content_block_delta\ndata: {{oops\n\n"), false, "server_error"),
    ];
    for (input, broken, want) in cases {
        let mut t = AnthropicToOpenAiStream::new(&ctx(true));
        let mut out = BytesMut::new();
        t.feed(input.as_bytes(), &mut out);
        if broken {
            t.fail("idle timeout: no data from upstream for 300 s", &mut out);
        }
        t.finish(&mut out);
        let s = String::from_utf8(out.to_vec()).unwrap();
        assert!(!s.contains("[DONE]"), "{s}");
        assert!(
            !s.contains("finish_reason\":\"tool_calls"),
            "no fake finish"
        );
        let evs = events(out.as_ref());
        let last: Value = serde_json::from_str(&evs.last().unwrap().1).unwrap();
        assert_eq!(last["error"]["type"], want);
        assert_eq!(s.matches("\"error\"").count(), 1);
        if broken {
            assert_eq!(
                last["error"]["message"],
                "idle timeout: no data from upstream for 300 s"
            );
        }
    }
}

#[test]
fn a2o_one_megabyte_of_tool_arguments() {
    let big = "y".repeat(1 << 20);
    let args = format!("{{\"blob\":\"{big}\"}}");
    let frags: Vec<String> = args
        .as_bytes()
        .chunks(4096)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let r = AReply {
        thinking: vec![],
        text: vec![],
        tools: vec![("toolu_big", "store", frags)],
        stop: "tool_use",
    };
    let input = r.stream();
    let mut t = AnthropicToOpenAiStream::new(&ctx(false));
    let mut out = BytesMut::new();
    let mut all = Vec::new();
    let mut largest = 0;
    for c in input.chunks(1000) {
        t.feed(c, &mut out);
        largest = largest.max(out.len());
        all.extend_from_slice(&out);
        out.clear();
    }
    t.finish(&mut out);
    all.extend_from_slice(&out);
    assert!(largest < 16 * 1024, "one feed produced {largest} bytes");
    let c = assemble_openai(&all);
    let a: Value = serde_json::from_str(
        c["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(a["blob"].as_str().unwrap().len(), 1 << 20);
}

#[test]
fn a2o_skips_server_tool_blocks_and_reports_them() {
    let ev = |name: &str, v: Value| format!("event: {name}\ndata: {v}\n\n");
    let mut s = ev(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 1, "output_tokens": 0}}}),
    );
    s += &ev(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}}}),
    );
    s += &ev(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"q\":1}"}}),
    );
    s += &ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    );
    s += &ev(
        "content_block_start",
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
    );
    s += &ev(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "found"}}),
    );
    s += &ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 1}),
    );
    s += &ev(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}),
    );
    s += &ev("message_stop", json!({"type": "message_stop"}));
    let mut t = AnthropicToOpenAiStream::new(&ctx(false));
    let mut out = BytesMut::new();
    t.feed(s.as_bytes(), &mut out);
    t.finish(&mut out);
    let c = assemble_openai(&out);
    assert_eq!(c["choices"][0]["message"]["content"], "found");
    assert!(c["choices"][0]["message"].get("tool_calls").is_none());
    assert_eq!(t.dropped(), ["content[0] (server_tool_use)"]);
    assert_eq!(t.usage().output_tokens, 3);
}
