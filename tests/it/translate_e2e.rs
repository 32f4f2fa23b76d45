//! Translation through the real server: dropped-field reporting, error re-enveloping, token
//! estimates, the Claude Code attribution line, and upstream failures mid-stream.

use crate::support;

use serde_json::json;
use support::*;

/// `anthropic` → stand-in, `compat` (OpenAI protocol, models `llama-*`) → stand-in.
async fn setup() -> (StandIn, Dario) {
    let up = StandIn::start().await;
    let compat = openai_backend("compat", &up, &["llama-*"]);
    let dario = Dario::start(config_for(&up, vec![compat])).await;
    (up, dario)
}

#[tokio::test]
async fn mappable_requests_drop_nothing_and_unmappable_fields_are_named() {
    let (up, dario) = setup().await;
    let c = client();
    let full = json!({
        "model": "llama-3-test", "max_tokens": 100, "temperature": 0.5, "top_p": 0.9,
        "stop_sequences": ["END"], "metadata": {"user_id": "u-1"},
        "system": [{"type": "text", "text": "Be brief."}],
        "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any"},
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
        ]}]
    });
    let r = c
        .post(dario.url("/v1/messages"))
        .body(full.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("x-dario-dropped").is_none(),
        "{:?}",
        r.headers().get("x-dario-dropped")
    );
    let sent = up.last().json();
    assert_eq!(sent["user"], "u-1");
    assert_eq!(sent["stop"], json!(["END"]));
    assert_eq!(sent["tool_choice"], "required");
    assert_eq!(
        sent["messages"][1]["content"][1]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgo="
    );

    let mut lossy = full.clone();
    lossy["top_k"] = json!(40);
    let r = c
        .post(dario.url("/v1/messages"))
        .body(lossy.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let dropped = r.headers()["x-dario-dropped"].to_str().unwrap().to_string();
    assert!(dropped.contains("top_k"), "{dropped}");
}

#[tokio::test]
async fn claude_code_attribution_line_is_stripped_for_other_upstreams() {
    let (up, dario) = setup().await;
    let body = json!({
        "model": "llama-3-test", "max_tokens": 10,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.0.1; cc_entrypoint=cli"},
            {"type": "text", "text": "You are Claude Code."}
        ],
        "messages": [{"role": "user", "content": "hi"}]
    });
    let r = client()
        .post(dario.url("/v1/messages"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = up.last().json();
    let system = sent["messages"][0]["content"].as_str().unwrap();
    assert!(!system.contains("x-anthropic-billing-header"), "{system}");
    assert!(system.contains("You are Claude Code."));
}

#[tokio::test]
async fn upstream_errors_are_re_enveloped_with_their_status() {
    let (up, dario) = setup().await;
    let c = client();
    // OpenAI-protocol upstream 429 → Anthropic client: 429 rate_limit_error, retry-after kept.
    up.push(
        Reply::status(429, json!({"error": {"message": "Rate limit reached for sk-proj-abcdefghijklmnop1234", "type": "requests", "code": "rate_limit_exceeded"}}))
            .with_headers(&[("retry-after", "30")]),
    );
    let r = c
        .post(dario.url("/v1/messages"))
        .body(r#"{"model":"llama-3-test","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "30");
    let j = json(r).await;
    assert_eq!(j["type"], "error");
    assert_eq!(j["error"]["type"], "rate_limit_error");
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("Rate limit reached") && !msg.contains("abcdefghij"),
        "{msg}"
    );

    // Anthropic upstream 529 → OpenAI client: 503 server_error with retry-after.
    // (One deployment: nothing to fail over to, so the client gets this answer.)
    up.push(Reply::status(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let r = c
        .post(dario.url("/v1/chat/completions"))
        .body(r#"{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some());
    let j = json(r).await;
    assert_eq!(j["error"]["type"], "server_error");
    assert_eq!(j["error"]["message"], "Overloaded");

    // A 400 is returned as it is, translated, without retries (once the 529 cooldown passed).
    up.push(Reply::status(400, json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too large"}})));
    let before = up.requests().len();
    let r = c
        .post(dario.url("/v1/chat/completions"))
        .body(r#"{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"]["message"], "max_tokens: too large");
    assert_eq!(up.requests().len(), before + 1);
}

#[tokio::test]
async fn n_greater_than_one_is_refused_for_anthropic_backends() {
    let (up, dario) = setup().await;
    let r = client()
        .post(dario.url("/v1/chat/completions"))
        .body(r#"{"model":"claude-haiku-4-5","n":2,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let j = json(r).await;
    assert!(
        j["error"]["message"].as_str().unwrap().contains("n > 1"),
        "{j}"
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn count_tokens_on_an_openai_backend_is_a_flagged_estimate() {
    let (up, dario) = setup().await;
    let r = client()
        .post(dario.url("/v1/messages/count_tokens"))
        .body(r#"{"model":"llama-3-test","messages":[{"role":"user","content":"The quick brown fox jumps over the lazy dog."}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["x-dario-token-count"]
        .to_str()
        .unwrap()
        .starts_with("estimate"));
    let n = json(r).await["input_tokens"].as_u64().unwrap();
    assert!((10..=30).contains(&n), "{n}");
    assert!(up.requests().is_empty(), "estimated locally");
}

#[tokio::test]
async fn upstream_death_mid_translated_stream_is_an_error_event() {
    let (up, dario) = setup().await;
    let chunk = |s: &str| {
        format!("data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{s},\"finish_reason\":null}}]}}\n\n")
    };
    up.push(
        Reply::sse(vec![
            chunk(r#"{"role":"assistant","content":""}"#),
            chunk(r#"{"content":"Hel"}"#),
            "never".into(),
        ])
        .reset_after(2),
    );
    let r = client()
        .post(dario.url("/v1/messages"))
        .body(r#"{"model":"llama-3-test","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("event: message_start"));
    assert!(text.contains("\"Hel\""));
    assert!(text.contains("event: error"), "{text}");
    assert!(
        !text.contains("message_stop"),
        "never a fake successful end: {text}"
    );

    // An upstream that ends cleanly but without finish_reason / [DONE] is incomplete too.
    up.push(Reply::sse(vec![chunk(
        r#"{"role":"assistant","content":"Hi"}"#,
    )]));
    let text = client()
        .post(dario.url("/v1/messages"))
        .body(r#"{"model":"llama-3-test","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("event: error"), "{text}");
    assert!(!text.contains("message_stop"));
}
