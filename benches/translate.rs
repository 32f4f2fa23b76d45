//! Micro benchmarks of the translation layer: request translation both ways (a ~2 KiB request
//! and a ~200 KB conversation with 50 tool calls), the stream transducers per event, and SSE
//! parser throughput.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dario::sse::SseParser;
use dario::translate::{
    anthropic_request_to_openai, openai_request_to_anthropic, AnthropicToOpenAiStream,
    OpenAiToAnthropicStream, RequestContext, ResponseContext, SystemMessages,
    DEFAULT_ANTHROPIC_VERSION,
};
use serde_json::{json, Value};
use std::hint::black_box;

const TO_OPENAI: RequestContext<'static> = RequestContext {
    upstream_model: "gpt-4o",
    backend_name: "openai",
    upstream_is_openai_itself: true,
    accepts_reasoning_content: false,
    system_messages: SystemMessages::Inline,
    anthropic_version: DEFAULT_ANTHROPIC_VERSION,
};

const TO_ANTHROPIC: RequestContext<'static> = RequestContext {
    upstream_model: "claude-sonnet-4",
    backend_name: "anthropic",
    upstream_is_openai_itself: false,
    accepts_reasoning_content: false,
    system_messages: SystemMessages::Inline,
    anthropic_version: DEFAULT_ANTHROPIC_VERSION,
};

const RESP: ResponseContext<'static> = ResponseContext {
    client_model: "client-model",
    include_usage: true,
};

fn prose(n: usize) -> String {
    "The quick brown fox jumps over the lazy dog; \"quoted\" text\nand a new line. "
        .repeat(n / 70 + 1)[..n]
        .to_string()
}

/// An Anthropic request: system prompt, tools, and `rounds` tool-call rounds of `chunk` bytes.
fn anthropic_request(rounds: usize, chunk: usize) -> Vec<u8> {
    let mut messages = vec![json!({"role": "user", "content": prose(chunk)})];
    for i in 0..rounds {
        messages.push(json!({"role": "assistant", "content": [
            {"type": "text", "text": prose(chunk / 4)},
            {"type": "tool_use", "id": format!("toolu_{i:04}"), "name": "read_file", "input": {"path": format!("src/file_{i}.rs"), "limit": 200}}
        ]}));
        messages.push(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": format!("toolu_{i:04}"), "content": prose(chunk)}
        ]}));
    }
    serde_json::to_vec(&json!({
        "model": "claude-sonnet-4", "max_tokens": 4096, "stream": true,
        "system": [{"type": "text", "text": prose(600)}],
        "tools": [{"name": "read_file", "description": "Read a file", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["path"]}}],
        "messages": messages
    }))
    .unwrap()
}

fn openai_request(rounds: usize, chunk: usize) -> Vec<u8> {
    let mut messages = vec![
        json!({"role": "system", "content": prose(600)}),
        json!({"role": "user", "content": prose(chunk)}),
    ];
    for i in 0..rounds {
        messages.push(json!({"role": "assistant", "content": prose(chunk / 4), "tool_calls": [
            {"id": format!("call_{i:04}"), "type": "function", "function": {"name": "read_file", "arguments": format!("{{\"path\":\"src/file_{i}.rs\",\"limit\":200}}")}}
        ]}));
        messages.push(json!({"role": "tool", "tool_call_id": format!("call_{i:04}"), "content": prose(chunk)}));
    }
    serde_json::to_vec(&json!({
        "model": "gpt-4o", "max_tokens": 4096, "stream": true, "stream_options": {"include_usage": true},
        "tools": [{"type": "function", "function": {"name": "read_file", "description": "Read a file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}],
        "messages": messages
    }))
    .unwrap()
}

fn bench_requests(c: &mut Criterion) {
    let small_a = anthropic_request(1, 500);
    let large_a = anthropic_request(50, 3200);
    let small_o = openai_request(1, 500);
    let large_o = openai_request(50, 3200);
    eprintln!(
        "request sizes: anthropic {} B / {} B, openai {} B / {} B",
        small_a.len(),
        large_a.len(),
        small_o.len(),
        large_o.len()
    );
    let mut g = c.benchmark_group("request");
    for (name, body) in [("a2o_2k", &small_a), ("a2o_200k_50tools", &large_a)] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| anthropic_request_to_openai(black_box(body), &TO_OPENAI).unwrap())
        });
    }
    for (name, body) in [("o2a_2k", &small_o), ("o2a_200k_50tools", &large_o)] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| openai_request_to_anthropic(black_box(body), &TO_ANTHROPIC).unwrap())
        });
    }
    g.finish();
}

/// `n` OpenAI text-delta chunks as SSE.
fn openai_text_stream(n: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..n {
        let v: Value = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "delta": {"content": format!("token{i} ")}, "finish_reason": null}]});
        s.push_str(&format!("data: {v}\n\n"));
    }
    s.into_bytes()
}

/// `n` Anthropic text_delta events as SSE (after a message_start and block start).
fn anthropic_text_stream(n: usize) -> Vec<u8> {
    let mut s = String::from("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    for i in 0..n {
        let v = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": format!("token{i} ")}});
        s.push_str(&format!("event: content_block_delta\ndata: {v}\n\n"));
    }
    s.into_bytes()
}

fn bench_streams(c: &mut Criterion) {
    const N: usize = 1000;
    let o = openai_text_stream(N);
    let a = anthropic_text_stream(N);
    let mut g = c.benchmark_group("stream_per_event");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("openai_to_anthropic", |b| {
        b.iter_batched_ref(
            || {
                (
                    OpenAiToAnthropicStream::new(&RESP),
                    BytesMut::with_capacity(256 * 1024),
                )
            },
            |(t, out)| {
                for chunk in o.chunks(512) {
                    t.feed(chunk, out);
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("anthropic_to_openai", |b| {
        b.iter_batched_ref(
            || {
                (
                    AnthropicToOpenAiStream::new(&RESP),
                    BytesMut::with_capacity(256 * 1024),
                )
            },
            |(t, out)| {
                for chunk in a.chunks(512) {
                    t.feed(chunk, out);
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("sse_parser");
    let big = anthropic_text_stream(20_000);
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("parse_4k_chunks", |b| {
        b.iter(|| {
            let mut p = SseParser::new();
            let mut n = 0usize;
            for chunk in big.chunks(4096) {
                let mut evs = p.feed(chunk);
                while let Some(e) = evs.next_event() {
                    n += e.data.len();
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_requests, bench_streams);
criterion_main!(benches);
