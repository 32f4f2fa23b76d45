//! Hostile-input suite, upstream faults (issue 19): a broken upstream never produces something
//! that looks like a success. Cut streams end with the protocol's error event (passthrough and
//! translated), oversized events are refused instead of buffered, redirects and undecodable
//! bodies become an upstream error in the caller's envelope, error bodies are bounded and always
//! arrive in the caller's envelope. The upstream is a raw TCP script so it can misbehave freely.

use crate::support;

use std::time::Duration;

use support::raw::{config_for_raw, raw_upstream, write_and_close};
use support::*;

const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close";

const A_START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n";
const A_BLOCK: &str = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
const O_CHUNK1: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n";
const O_CHUNK2: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n";

const ANTHROPIC_STREAM: &str = r#"{"model":"claude-x","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
const OPENAI_STREAM: &str =
    r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
/// An Anthropic client asking for an OpenAI-backend model (translated).
const ANTHROPIC_TO_OPENAI: &str = r#"{"model":"gpt-4o","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
/// An OpenAI client asking for an Anthropic-backend model (translated).
const OPENAI_TO_ANTHROPIC: &str =
    r#"{"model":"claude-x","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

async fn post_text(dario: &Dario, path: &str, body: &'static str) -> (u16, String) {
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        client().post(dario.url(path)).body(body).send(),
    )
    .await
    .expect("dario answers")
    .unwrap();
    let status = r.status().as_u16();
    let text = tokio::time::timeout(Duration::from_secs(60), r.text())
        .await
        .expect("the body ends")
        .unwrap();
    (status, text)
}

/// The last SSE event of `text` (split on blank lines).
fn last_event(text: &str) -> &str {
    text.trim_end_matches('\n')
        .rsplit("\n\n")
        .next()
        .unwrap_or("")
}

fn assert_anthropic_error_end(text: &str) {
    let last = last_event(text);
    let data = last
        .strip_prefix("event: error\ndata: ")
        .unwrap_or_else(|| panic!("must end with an error event: {text:?}"));
    let j: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(j["type"], "error", "{text}");
    assert!(!text.contains("message_stop"), "{text}");
}

fn assert_openai_error_end(text: &str) {
    let last = last_event(text);
    let data = last
        .strip_prefix("data: ")
        .unwrap_or_else(|| panic!("must end with an error chunk: {text:?}"));
    let j: serde_json::Value = serde_json::from_str(data)
        .unwrap_or_else(|e| panic!("last event is not JSON ({e}): {text:?}"));
    assert!(j["error"]["message"].is_string(), "{text}");
    assert!(!text.contains("[DONE]"), "{text}");
}

/// An upstream that sends `events` as a stream and closes the connection (no proper end).
async fn cut_stream(events: &'static [&'static str]) -> Dario {
    let addr = raw_upstream(move |s| async move {
        let chunks: Vec<&[u8]> = events.iter().map(|e| e.as_bytes()).collect();
        write_and_close(s, SSE_HEAD, &chunks).await
    })
    .await;
    Dario::start(config_for_raw(addr)).await
}

#[tokio::test]
async fn passthrough_anthropic_stream_closed_before_message_stop_ends_with_an_error_event() {
    let dario = cut_stream(&[A_START, A_BLOCK]).await;
    let (status, text) = post_text(&dario, "/v1/messages", ANTHROPIC_STREAM).await;
    assert_eq!(status, 200);
    assert!(
        text.starts_with(A_START),
        "the events are relayed as they were: {text}"
    );
    assert_anthropic_error_end(&text);
}

#[tokio::test]
async fn passthrough_openai_stream_closed_before_done_ends_with_an_error_chunk() {
    let dario = cut_stream(&[O_CHUNK1, O_CHUNK2]).await;
    let (status, text) = post_text(&dario, "/v1/chat/completions", OPENAI_STREAM).await;
    assert_eq!(status, 200);
    assert!(text.starts_with(O_CHUNK1), "{text}");
    assert_openai_error_end(&text);
}

#[tokio::test]
async fn passthrough_stream_cut_mid_event_ends_with_a_parseable_error_event() {
    let dario = cut_stream(&[A_START, "event: content_block_start\ndata: {\"ty"]).await;
    let (_, text) = post_text(&dario, "/v1/messages", ANTHROPIC_STREAM).await;
    assert_anthropic_error_end(&text);
}

#[tokio::test]
async fn passthrough_stream_with_a_malformed_event_ends_with_an_error_event() {
    let dario = cut_stream(&[
        A_START,
        "event: content_block_delta\ndata: {this is not json\n\n",
    ])
    .await;
    let (_, text) = post_text(&dario, "/v1/messages", ANTHROPIC_STREAM).await;
    assert_anthropic_error_end(&text);
}

#[tokio::test]
async fn passthrough_stream_ending_with_the_upstreams_own_error_event_gets_no_second_one() {
    let dario = cut_stream(&[
        A_START,
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    ])
    .await;
    let (_, text) = post_text(&dario, "/v1/messages", ANTHROPIC_STREAM).await;
    assert_eq!(text.matches("event: error").count(), 1, "{text}");
    assert!(text.contains("overloaded_error"), "{text}");
    let dario = cut_stream(&[
        O_CHUNK1,
        "data: {\"error\":{\"message\":\"upstream overloaded\",\"type\":\"server_error\"}}\n\n",
    ])
    .await;
    let (_, text) = post_text(&dario, "/v1/chat/completions", OPENAI_STREAM).await;
    assert_eq!(text.matches("\"error\"").count(), 1, "{text}");
}

#[tokio::test]
async fn translated_stream_to_anthropic_closed_early_ends_with_an_error_event() {
    let dario = cut_stream(&[O_CHUNK1, O_CHUNK2]).await;
    let (status, text) = post_text(&dario, "/v1/messages", ANTHROPIC_TO_OPENAI).await;
    assert_eq!(status, 200);
    assert_anthropic_error_end(&text);
}

#[tokio::test]
async fn translated_stream_to_openai_closed_early_ends_with_an_error_chunk() {
    let dario = cut_stream(&[A_START, A_BLOCK]).await;
    let (status, text) = post_text(&dario, "/v1/chat/completions", OPENAI_TO_ANTHROPIC).await;
    assert_eq!(status, 200);
    assert_openai_error_end(&text);
}

#[tokio::test]
async fn translated_stream_with_a_malformed_event_ends_with_an_error_event() {
    let dario = cut_stream(&[O_CHUNK1, "data: {not json\n\n", O_CHUNK2]).await;
    let (_, text) = post_text(&dario, "/v1/messages", ANTHROPIC_TO_OPENAI).await;
    assert_anthropic_error_end(&text);
}

/// An upstream that starts a stream, then sends one event line of `size` bytes with no newline
/// and keeps the connection open.
async fn oversized_event(size: usize) -> Dario {
    use tokio::io::AsyncWriteExt;
    let addr = raw_upstream(move |mut s| async move {
        let head = format!("{SSE_HEAD}\r\n\r\n");
        if s.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let _ = s.write_all(O_CHUNK1.as_bytes()).await;
        let _ = s.write_all(b"data: {\"x\":\"").await;
        let block = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < size {
            if s.write_all(&block).await.is_err() {
                return;
            }
            sent += block.len();
        }
        // Keep the connection open: dario has to end the stream itself.
        tokio::time::sleep(Duration::from_secs(600)).await;
    })
    .await;
    Dario::start(config_for_raw(addr)).await
}

#[tokio::test]
async fn translated_event_over_the_limit_ends_the_stream_with_an_error_event() {
    let dario = oversized_event(24 * 1024 * 1024).await;
    let (status, text) = post_text(&dario, "/v1/messages", ANTHROPIC_TO_OPENAI).await;
    assert_eq!(status, 200);
    assert_anthropic_error_end(&text);
    assert!(text.contains("larger than"), "the error says why: {text}");
}

// ---- Redirects, encodings, error bodies ------------------------------------------------------

const OPENAI_JSON: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
const ANTHROPIC_JSON: &str =
    r#"{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;

async fn send(dario: &Dario, path: &str, body: &'static str) -> reqwest::Response {
    client()
        .post(dario.url(path))
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn one_reply(head: &'static str, body: &'static [u8]) -> Dario {
    let addr = raw_upstream(move |s| async move { write_and_close(s, head, &[body]).await }).await;
    Dario::start(config_for_raw(addr)).await
}

#[tokio::test]
async fn an_upstream_redirect_is_a_502_in_the_callers_envelope() {
    let dario = one_reply(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://evil.example/v1/messages\r\ncontent-length: 0",
        b"",
    )
    .await;
    for (path, body, anthropic) in [
        ("/v1/messages", ANTHROPIC_STREAM, true),
        ("/v1/chat/completions", OPENAI_STREAM, false),
        ("/v1/messages", ANTHROPIC_TO_OPENAI, true),
    ] {
        let r = client()
            .post(dario.url(path))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 502, "{path} {body}");
        assert!(r.headers().get("location").is_none());
        let j = json(r).await;
        let msg = j["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("redirect"), "{j}");
        assert!(
            !msg.contains("evil.example"),
            "the target is not repeated: {j}"
        );
        if anthropic {
            assert_eq!(j["type"], "error", "{j}");
        } else {
            assert!(j["error"]["type"].is_string(), "{j}");
        }
    }
}

#[tokio::test]
async fn an_invalid_gzip_body_is_a_502_in_the_callers_envelope() {
    let dario = one_reply(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: 17",
        b"this is not gzip!",
    )
    .await;
    let r = send(&dario, "/v1/chat/completions", OPENAI_JSON).await;
    assert_eq!(r.status(), 502);
    let j = json(r).await;
    assert!(
        j["error"]["message"].as_str().unwrap().contains("gzip"),
        "{j}"
    );
}

#[tokio::test]
async fn an_oversized_error_body_arrives_bounded_in_the_callers_envelope() {
    static BODY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let body = BODY.get_or_init(|| {
        let msg = "y".repeat(2 * 1024 * 1024);
        format!(
            r#"{{"type":"error","error":{{"type":"invalid_request_error","message":"{msg}"}}}}"#
        )
        .into_bytes()
    });
    let head: &'static str = Box::leak(
        format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}",
            body.len()
        )
        .into_boxed_str(),
    );
    let dario = one_reply(head, body).await;
    let r = send(&dario, "/v1/messages", ANTHROPIC_JSON).await;
    assert_eq!(r.status(), 400);
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.len() <= 80 * 1024, "bounded: {} bytes", bytes.len());
    let j: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
    assert_eq!(j["type"], "error");
    assert_eq!(j["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn a_non_json_error_body_arrives_in_the_callers_envelope() {
    let dario = one_reply(
        "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: 30",
        b"<html>nginx bad gateway</html>",
    )
    .await;
    let r = send(&dario, "/v1/chat/completions", OPENAI_JSON).await;
    assert_eq!(r.status(), 502);
    let j = json(r).await;
    assert!(j["error"]["message"].is_string(), "{j}");
}
