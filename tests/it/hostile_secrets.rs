//! Hostile-input suite, secrets (issue 19): whatever an upstream echoes back — the configured key
//! whole, a prefix of it, an 8-character run from its middle, split across two stream chunks, in
//! a response header — never reaches the client: passthrough and translated, both protocols,
//! success and error bodies, JSON and event streams.

use crate::support;

use std::time::Duration;

use serde_json::json;
use support::*;

const KEY_A: &str = "sk-ant-api03-K1qZ7wPd9Lm2Vb8Nc4Xr6Ty0Ue3Io5Pa-Hs7Jd9Kf2Lg4Mh6Nj8Bq0Wv";
const KEY_O: &str = "sk-proj-Zt5Rk8Wq2Yn6Mv9Lp3Hc7Gd1Fs4Ej0Bx-Ua2Ic5Oe8Tr1Pn4Ky7Ml0Qw";

/// The first 8-character run of `key` found in `text`, if any.
fn leaked(text: &str, key: &str) -> Option<String> {
    (0..=key.len() - 8)
        .map(|i| &key[i..i + 8])
        .find(|w| text.contains(w))
        .map(|w| format!("…{}… of a configured key", &w[..2]))
}

fn assert_clean(what: &str, text: &str) {
    for key in [KEY_A, KEY_O] {
        if let Some(l) = leaked(text, key) {
            panic!("{what}: {l} reached the client");
        }
    }
}

/// Everything the client received: status line facts, headers, body.
async fn fetch(dario: &Dario, path: &str, body: serde_json::Value) -> (u16, String, String) {
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        client().post(dario.url(path)).body(body.to_string()).send(),
    )
    .await
    .unwrap()
    .unwrap();
    let status = r.status().as_u16();
    let headers = format!("{:?}", r.headers());
    let text = r.text().await.unwrap();
    (status, headers, text)
}

async fn setup() -> (StandIn, Dario) {
    let up = StandIn::start().await;
    let mut cfg = config_for(&up, vec![]);
    cfg.backends.get_mut("anthropic").unwrap().credential = key(KEY_A);
    cfg.backends.get_mut("openai").unwrap().credential = key(KEY_O);
    (up, Dario::start(cfg).await)
}

/// Text that echoes the keys the ways upstreams do: whole, a prefix, a middle run.
fn echo() -> String {
    format!(
        "invalid key {KEY_A}; you sent `{}…`; also {} and {}",
        &KEY_O[..12],
        &KEY_A[20..28],
        &KEY_O[30..41]
    )
}

fn anthropic_request(stream: bool) -> serde_json::Value {
    json!({"model": "claude-x", "max_tokens": 5, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

fn openai_request(model: &str, stream: bool) -> serde_json::Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn passthrough_json_bodies_and_headers_are_scrubbed() {
    let (up, dario) = setup().await;
    let body = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "text", "text": echo()}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1}});
    let header_value = format!("req-{}", &KEY_A[10..30]);
    up.push(Reply::status(200, body).with_headers(&[
        ("request-id", &header_value),
        ("anthropic-ratelimit-tokens-remaining", &KEY_O[5..20]),
    ]));
    let (status, headers, text) = fetch(&dario, "/v1/messages", anthropic_request(false)).await;
    assert_eq!(status, 200);
    assert_clean("headers", &headers);
    assert_clean("body", &text);
    let j: serde_json::Value = serde_json::from_str(&text).expect("still valid JSON");
    assert_eq!(j["usage"]["output_tokens"], 1);
}

#[tokio::test]
async fn passthrough_json_body_split_across_chunks_is_scrubbed() {
    let (up, dario) = setup().await;
    let body = json!({"id": "c", "object": "chat.completion", "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": echo()}, "finish_reason": "stop"}]})
    .to_string();
    // Cut inside the middle run of KEY_A, and inside KEY_O's prefix.
    let at1 = body.rfind(&KEY_A[20..28]).unwrap() + 4;
    let at2 = body.find(&KEY_O[..12]).unwrap() + 6;
    let parts = vec![
        body[..at2].to_string(),
        body[at2..at1].to_string(),
        body[at1..].to_string(),
    ];
    let length = body.len().to_string();
    up.push(
        Reply::sse(parts)
            .paced(Duration::from_millis(30))
            .with_headers(&[
                ("content-type", "application/json"),
                ("content-length", &length),
            ]),
    );
    let (status, _, text) = fetch(
        &dario,
        "/v1/chat/completions",
        openai_request("gpt-4o", false),
    )
    .await;
    assert_eq!(status, 200);
    assert_clean("body", &text);
    assert_eq!(
        text.len(),
        body.len(),
        "the same length, content-length stays true"
    );
    serde_json::from_str::<serde_json::Value>(&text).expect("still valid JSON");
}

#[tokio::test]
async fn passthrough_stream_events_are_scrubbed_even_when_a_fragment_straddles_chunks() {
    let (up, dario) = setup().await;
    let delta = |t: &str| {
        format!(
            "event: content_block_delta\ndata: {}\n\n",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}})
        )
    };
    let whole = delta(&echo());
    let cut = whole.rfind(&KEY_A[20..28]).unwrap() + 3;
    let events = vec![
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n".to_string(),
        whole[..cut].to_string(),
        whole[cut..].to_string(),
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_string(),
    ];
    up.push(Reply::sse(events).paced(Duration::from_millis(30)));
    let (status, _, text) = fetch(&dario, "/v1/messages", anthropic_request(true)).await;
    assert_eq!(status, 200);
    assert_clean("stream", &text);
    assert!(
        text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        "{text}"
    );
}

#[tokio::test]
async fn passthrough_error_bodies_are_scrubbed() {
    let (up, dario) = setup().await;
    up.push(Reply::status(
        401,
        json!({"error": {"message": echo(), "type": "invalid_request_error", "code": "invalid_api_key"}}),
    ));
    let (status, headers, text) = fetch(
        &dario,
        "/v1/chat/completions",
        openai_request("gpt-4o", false),
    )
    .await;
    assert_eq!(status, 401);
    assert_clean("headers", &headers);
    assert_clean("error body", &text);
}

#[tokio::test]
async fn translated_bodies_streams_and_errors_are_scrubbed() {
    let (up, dario) = setup().await;
    // OpenAI client → Anthropic backend, JSON.
    up.push(Reply::status(
        200,
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": echo()}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 1, "output_tokens": 1}}),
    ));
    let (status, _, text) = fetch(
        &dario,
        "/v1/chat/completions",
        openai_request("claude-x", false),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_clean("translated JSON", &text);

    // Anthropic client → OpenAI backend, stream.
    let chunk = |content: &str| {
        format!(
            "data: {}\n\n",
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
                "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})
        )
    };
    up.push(Reply::sse(vec![
        chunk(""),
        chunk(&echo()),
        format!(
            "data: {}\n\n",
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        ),
        "data: [DONE]\n\n".into(),
    ]));
    let (status, _, text) = fetch(&dario, "/v1/messages", json!({"model": "gpt-4o", "max_tokens": 5, "stream": true, "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(status, 200, "{text}");
    assert_clean("translated stream", &text);
    assert!(text.contains("message_stop"), "{text}");

    // Translated error body.
    up.push(Reply::status(
        403,
        json!({"type": "error", "error": {"type": "permission_error", "message": echo()}}),
    ));
    let (status, _, text) = fetch(
        &dario,
        "/v1/chat/completions",
        openai_request("claude-x", false),
    )
    .await;
    assert_eq!(status, 403);
    assert_clean("translated error", &text);
}
