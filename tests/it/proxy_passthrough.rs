//! The router through real sockets: passthrough fidelity, streaming without buffering, the guard,
//! error envelopes, header rules, cancellation on client disconnect.

use crate::support;

use std::time::Duration;

use dario::config::Secret;
use futures_util::StreamExt;
use serde_json::json;
use support::*;

const ANTHROPIC_BODY: &str = r#"{"zeta":1,"model":"claude-test-1","max_tokens":64,"big":123456789012345678901234567890,"float":1.0e-7,"u":"caf\u00e9 \ud83d\ude00 漢字","messages":[{"role":"user","content":"hi"}],"alpha":{"b":2,"a":1}}"#;

#[tokio::test]
async fn anthropic_passthrough_is_byte_identical() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let resp = client()
        .post(dario.url("/v1/messages"))
        .header("x-api-key", "client-key")
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "tools-2024-04-04")
        .header("content-type", "application/json")
        .body(ANTHROPIC_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-dario-backend"], "anthropic");
    assert!(resp.headers()["x-dario-request-id"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
    assert_eq!(resp.headers()["request-id"], "req_standin_1");
    assert_eq!(
        resp.headers()["anthropic-ratelimit-requests-remaining"],
        "999"
    );
    let body = json(resp).await;
    assert_eq!(
        body["content"][0]["text"],
        "Hello from the stand-in — ünïcödé ✓."
    );

    let rec = up.last();
    assert_eq!(rec.uri, "/v1/messages");
    assert_eq!(
        &rec.body[..],
        ANTHROPIC_BODY.as_bytes(),
        "body must go upstream byte for byte"
    );
    assert_eq!(rec.header("x-api-key").as_deref(), Some("client-key"));
    assert_eq!(
        rec.header("anthropic-version").as_deref(),
        Some("2023-06-01")
    );
    assert_eq!(
        rec.header("anthropic-beta").as_deref(),
        Some("tools-2024-04-04")
    );
}

#[tokio::test]
async fn model_is_spliced_and_nothing_else_changes() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    // `anthropic:` prefix is stripped: only the model value changes.
    let body = ANTHROPIC_BODY.replace("\"claude-test-1\"", "\"anthropic:claude-test-1\"");
    let resp = client()
        .post(dario.url("/v1/messages?beta=true"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let rec = up.last();
    assert_eq!(
        rec.uri, "/v1/messages?beta=true",
        "passthrough keeps the query string (Claude Code's `?beta=true`)"
    );
    assert_eq!(&rec.body[..], ANTHROPIC_BODY.as_bytes());
}

#[tokio::test]
async fn a_translated_request_leaves_the_query_string_behind() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    // Anthropic in, OpenAI out: `beta=true` means nothing to a Chat Completions upstream.
    let resp = client()
        .post(dario.url("/v1/messages?beta=true"))
        .header("anthropic-version", "2023-06-01")
        .body(r#"{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(up.last().uri, "/v1/chat/completions");
}

#[tokio::test]
async fn openai_passthrough_with_configured_key() {
    let up = StandIn::start().await;
    let mut cfg = config_for(&up, vec![]);
    cfg.backends.get_mut("openai").unwrap().credential = key("sk-configured-openai-key");
    let dario = Dario::start(cfg).await;
    let body = r#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o-mini","temperature":0.20000000000000001}"#;
    let resp = client()
        .post(dario.url("/v1/chat/completions"))
        .header("authorization", "Bearer client-own-key")
        .header("user-agent", "my-tool/1.2")
        .header("connection", "keep-alive, x-custom-hop")
        .header("x-custom-hop", "1")
        .header("cookie", "a=b")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ratelimit-remaining-requests"], "999");
    assert_eq!(resp.headers()["x-request-id"], "standin-req-1");
    let rec = up.last();
    assert_eq!(rec.uri, "/v1/chat/completions");
    assert_eq!(&rec.body[..], body.as_bytes());
    assert_eq!(
        rec.header("authorization").as_deref(),
        Some("Bearer sk-configured-openai-key"),
        "a configured key always wins over the client's credential"
    );
    assert_eq!(
        rec.header("user-agent").unwrap(),
        format!("my-tool/1.2 dario/{}", dario::VERSION)
    );
    assert!(rec.header("cookie").is_none());
    assert!(
        rec.header("x-custom-hop").is_none(),
        "headers named in Connection are hop-by-hop"
    );
}

#[tokio::test]
async fn streaming_chunks_arrive_before_upstream_finishes() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    // Two events, then the upstream keeps the stream open without finishing.
    up.push(
        Reply::sse(vec![
            "event: message_start\ndata: {\"type\":\"message_start\"}\n\n".into(),
            "event: ping\ndata: {\"type\":\"ping\"}\n\n".into(),
        ])
        .paced(Duration::from_millis(10))
        .hanging(),
    );
    let resp = client()
        .post(dario.url("/v1/messages"))
        .body(r#"{"model":"claude-x","stream":true,"max_tokens":5,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = resp.bytes_stream();
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("event: ping") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("events must arrive while the upstream is still open")
            .unwrap()
            .unwrap();
        got.extend_from_slice(&chunk);
    }
    assert_eq!(
        String::from_utf8_lossy(&got),
        "event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n"
    );
}

/// A passthrough stream whose upstream sends one event and then nothing: the open response
/// stream and that first event.
async fn open_a_stream_that_never_ends(
    up: &StandIn,
    dario: &Dario,
) -> (
    impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
    bytes::Bytes,
) {
    up.push(Reply::sse(vec!["data: {\"n\":1}\n\n".into()]).hanging());
    let resp = client()
        .post(dario.url("/v1/chat/completions"))
        .body(r#"{"model":"gpt-4o","stream":true,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    (stream, first)
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_stream() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let (stream, first) = open_a_stream_that_never_ends(&up, &dario).await;
    assert_eq!(&first[..], b"data: {\"n\":1}\n\n");
    assert_eq!(up.streams_cut(), 0);
    drop(stream);
    // The upstream must see its stream cut (its connection closed) promptly.
    for _ in 0..100 {
        if up.streams_cut() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        up.streams_cut(),
        1,
        "upstream stream still open after the client left"
    );
    assert!(up.closed_connections() >= 1);
}

#[tokio::test]
async fn client_disconnect_before_headers_cancels_the_upstream_request() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    up.push(Reply::Hang);
    let c = client();
    let req = c
        .post(dario.url("/v1/chat/completions"))
        .body(r#"{"model":"gpt-4o","messages":[]}"#)
        .send();
    // Give dario time to forward, then give up on the request (drops the connection).
    let _ = tokio::time::timeout(Duration::from_millis(300), req).await;
    assert_eq!(up.requests().len(), 1);
    for _ in 0..100 {
        if up.closed_connections() >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        up.closed_connections(),
        1,
        "upstream connection still open after the client left"
    );
}

#[tokio::test]
async fn api_key_guard() {
    let up = StandIn::start().await;
    let dario = Dario::start_with(config_for(&up, vec![]), |o| {
        o.api_key = Some(Secret::new("dario-secret-key"));
    })
    .await;
    let c = client();
    let body = r#"{"model":"claude-x","max_tokens":5,"messages":[]}"#;

    // /health is open.
    let r = c.get(dario.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["service"], "dario");

    // Missing and wrong keys: 401 in each caller's envelope.
    let r = c
        .post(dario.url("/v1/messages"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(json(r).await["error"]["type"], "authentication_error");
    let r = c
        .post(dario.url("/v1/chat/completions"))
        .header("authorization", "Bearer wrong")
        .body(r#"{"model":"gpt-4o","messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let j = json(r).await;
    assert_eq!(j["error"]["type"], "authentication_error");
    assert!(
        j.get("type").is_none(),
        "OpenAI envelope has no top-level type"
    );
    let r = c.get(dario.url("/status")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(up.requests().is_empty());

    // Both header forms work; the dario key never goes upstream.
    for (h, v) in [
        ("x-api-key", "dario-secret-key"),
        ("authorization", "Bearer dario-secret-key"),
    ] {
        let r = c
            .post(dario.url("/v1/messages"))
            .header(h, v)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{h}");
        let rec = up.last();
        assert!(rec.header("x-api-key").is_none());
        assert!(rec.header("authorization").is_none());
    }
}

#[tokio::test]
async fn error_envelopes_in_both_protocols() {
    let up = StandIn::start().await;
    let mut cfg = config_for(&up, vec![]);
    cfg.limits.max_body_bytes = 1024;
    let dario = Dario::start(cfg).await;
    let c = client();

    // 404 unknown path (OpenAI envelope by default, Anthropic when anthropic-version is sent).
    let r = c.get(dario.url("/v2/nothing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(json(r).await["error"]["type"], "not_found_error");
    let r = c
        .get(dario.url("/v2/nothing"))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(json(r).await["type"], "error");

    // 405 with Allow.
    let r = c.get(dario.url("/v1/messages")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST, OPTIONS");
    assert_eq!(json(r).await["type"], "error");
    let r = c
        .delete(dario.url("/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(json(r).await["error"]["message"]
        .as_str()
        .unwrap()
        .contains("POST"));

    // 413.
    let big = format!(r#"{{"model":"claude-x","pad":"{}"}}"#, "x".repeat(2000));
    let r = c
        .post(dario.url("/v1/messages"))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(json(r).await["error"]["type"], "request_too_large");
    let r = c
        .post(dario.url("/v1/chat/completions"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(json(r).await["error"]["code"], "request_too_large");

    // 400 malformed JSON / missing model.
    let r = c
        .post(dario.url("/v1/messages"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"]["type"], "invalid_request_error");
    let r = c
        .post(dario.url("/v1/chat/completions"))
        .body(r#"{"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"]["param"], "model");

    // 404 no route, naming the model and the fix.
    let r = c
        .post(dario.url("/v1/chat/completions"))
        .body(r#"{"model":"llama3:8b","messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let msg = json(r).await["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("llama3:8b") && msg.contains("dario backend add"),
        "{msg}"
    );
    assert!(
        up.requests().is_empty(),
        "nothing reaches upstream on dario's own errors"
    );
}

#[tokio::test]
async fn overflow_gets_503_with_retry_after() {
    let up = StandIn::start().await;
    let mut cfg = config_for(&up, vec![]);
    cfg.limits.max_in_flight = 1;
    cfg.limits.max_queue = 0;
    let dario = Dario::start(cfg).await;
    up.push(Reply::Delay(
        Duration::from_millis(800),
        Box::new(Reply::status(200, json!({"ok": true}))),
    ));
    let c = client();
    let slow = tokio::spawn({
        let c = c.clone();
        let url = dario.url("/v1/chat/completions");
        async move {
            c.post(url)
                .body(r#"{"model":"gpt-4o","messages":[]}"#)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (path, model) in [
        ("/v1/chat/completions", "gpt-4o"),
        ("/v1/messages", "claude-x"),
    ] {
        let r = c
            .post(dario.url(path))
            .body(format!(
                r#"{{"model":"{model}","max_tokens":1,"messages":[]}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503, "{path}");
        assert_eq!(r.headers()["retry-after"], "1");
        let j = json(r).await;
        if path == "/v1/messages" {
            assert_eq!(j["error"]["type"], "overloaded_error");
        } else {
            assert_eq!(j["error"]["type"], "server_error");
        }
    }
    assert_eq!(slow.await.unwrap(), 200);
}

#[tokio::test]
async fn upstream_errors_keep_status_and_are_scrubbed() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    up.push(
        Reply::status(
            429,
            json!({"type":"error","error":{"type":"rate_limit_error","message":"slow down, key sk-ant-api03-SECRETSECRET exhausted"}}),
        )
        .with_headers(&[("retry-after", "7"), ("set-cookie", "x=y")]),
    );
    let r = client()
        .post(dario.url("/v1/messages"))
        .body(r#"{"model":"claude-x","max_tokens":5,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert!(r.headers().get("set-cookie").is_none());
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("SECRET") && !text.contains("sk-ant"),
        "{text}"
    );
    assert!(text.contains("rate_limit_error"));
}

#[tokio::test]
async fn upstream_reset_mid_stream_becomes_an_error_event() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    up.push(
        Reply::sse(vec![
            "event: message_start\ndata: {}\n\n".into(),
            "never sent".into(),
        ])
        .reset_after(1),
    );
    let r = client()
        .post(dario.url("/v1/messages"))
        .body(r#"{"model":"claude-x","stream":true,"max_tokens":5,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.starts_with("event: message_start"));
    assert!(text.contains("event: error\ndata: {"), "{text}");
    assert!(!text.contains("message_stop"));
}

#[tokio::test]
async fn cors_and_security_headers() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let c = client();
    let r = c
        .request(reqwest::Method::OPTIONS, dario.url("/v1/messages"))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-api-key, content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let origin = r.headers()["access-control-allow-origin"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(origin, "*");
    assert_eq!(origin, format!("http://localhost:{}", dario.addr.port()));
    assert_eq!(
        r.headers()["access-control-allow-headers"],
        "x-api-key, content-type"
    );
    let r = c.get(dario.url("/health")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn models_list_in_both_shapes() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let c = client();
    let j = json(c.get(dario.url("/v1/models")).send().await.unwrap()).await;
    assert_eq!(j["object"], "list");
    assert!(j["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "sonnet"));
    let j = json(
        c.get(dario.url("/v1/models"))
            .header("anthropic-version", "2023-06-01")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(j["has_more"], false);
    assert_eq!(j["data"][0]["type"], "model");
}

#[tokio::test]
async fn count_tokens_is_forwarded_to_anthropic_backends() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let r = client()
        .post(dario.url("/v1/messages/count_tokens"))
        .body(r#"{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["input_tokens"], 42);
    assert_eq!(up.last().uri, "/v1/messages/count_tokens");
}

#[tokio::test]
async fn models_list_includes_cached_upstream_lists_of_keyed_backends() {
    let up = StandIn::start().await;
    let keyed = backend(
        "compat",
        dario::protocol::Protocol::OpenAi,
        &up.openai_url(),
        key("sk-compat-key-0123456789"),
    );
    let dario = Dario::start(config_for(&up, vec![keyed])).await;
    let c = client();
    for _ in 0..2 {
        let j = json(c.get(dario.url("/v1/models")).send().await.unwrap()).await;
        let ids: Vec<&str> = j["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&"compat:standin-model"), "{ids:?}");
    }
    let fetched: Vec<_> = up
        .requests()
        .into_iter()
        .filter(|r| r.uri == "/v1/models")
        .collect();
    assert_eq!(fetched.len(), 1, "the upstream list is cached");
    assert_eq!(
        fetched[0].header("authorization").as_deref(),
        Some("Bearer sk-compat-key-0123456789")
    );
    // Passthrough backends are never asked with anyone's credential.
    assert!(up.requests().iter().all(|r| r.uri == "/v1/models"));
}

#[tokio::test]
async fn foreign_origins_and_rebound_hosts_are_refused() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let c = client();
    let body = r#"{"model":"claude-x","max_tokens":5,"messages":[]}"#;
    // A web page of another origin (CSRF against the user's local key).
    let r = c
        .post(dario.url("/v1/messages"))
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(json(r).await["error"]["type"], "permission_error");
    // DNS rebinding: a foreign name resolving to 127.0.0.1.
    let r = c
        .post(dario.url("/v1/chat/completions"))
        .header("host", "evil.example:3456")
        .body(r#"{"model":"gpt-4o","messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(up.requests().is_empty());
    // The configured origin (a local web UI) and plain tools are fine.
    let r = c
        .post(dario.url("/v1/messages"))
        .header("origin", format!("http://localhost:{}", dario.addr.port()))
        .header("host", format!("localhost:{}", dario.addr.port()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_stalled_upstream_error_body_does_not_hang_the_request() {
    let up = StandIn::start().await;
    let mut cfg = config_for(&up, vec![]);
    cfg.limits.stream_idle_timeout = Duration::from_millis(300);
    let dario = Dario::start(cfg).await;
    // 503 headers, part of a body, then silence.
    up.push(
        Reply::sse(vec!["{\"error\":{\"message\":\"busy".into()])
            .with_status(503)
            .hanging(),
    );
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        client()
            .post(dario.url("/v1/chat/completions"))
            .body(r#"{"model":"gpt-4o","messages":[]}"#)
            .send(),
    )
    .await
    .expect("dario must answer despite the stalled error body")
    .unwrap();
    assert_eq!(r.status(), 503);
}

#[tokio::test]
async fn a_broken_passthrough_stream_gets_a_parseable_error_event() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    // The upstream dies in the middle of an event.
    up.push(
        Reply::sse(vec![
            "event: message_start\ndata: {\"type\":\"message_st".into(),
            "x".into(),
        ])
        .reset_after(1),
    );
    let text = client()
        .post(dario.url("/v1/messages"))
        .body(r#"{"model":"claude-x","stream":true,"max_tokens":5,"messages":[]}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The error event stands on its own, after a blank line closing the broken one.
    let error_event = text
        .split("\n\n")
        .find(|e| e.starts_with("event: error"))
        .unwrap_or_else(|| panic!("{text:?}"));
    let data = error_event.strip_prefix("event: error\ndata: ").unwrap();
    let j: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(j["type"], "error");
}

#[tokio::test]
async fn speaks_h2c_on_the_same_port() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    dario::proxy::install_crypto_provider();
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2
        .post(dario.url("/v1/chat/completions"))
        .body(r#"{"model":"gpt-4o","stream":true,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().ends_with("data: [DONE]\n\n"));
}

// ---- Upstream connection pool ----------------------------------------------------------------

#[tokio::test]
async fn sequential_requests_and_streams_share_one_upstream_connection() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let c = client();
    for i in 0..6 {
        if i % 2 == 1 {
            up.push(Reply::sse(vec![
                "data: {\"n\":1}\n\n".into(),
                "data: [DONE]\n\n".into(),
            ]));
        }
        let body = if i % 2 == 1 {
            r#"{"model":"gpt-4o","stream":true,"messages":[]}"#
        } else {
            r#"{"model":"gpt-4o","messages":[]}"#
        };
        let resp = c
            .post(dario.url("/v1/chat/completions"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
    }
    assert_eq!(up.requests().len(), 6);
    assert_eq!(
        up.opened_connections(),
        1,
        "every response was read to its end, so one connection carries them all"
    );
    // HTTP/1: the request line has the path, the host is in `Host`.
    let last = up.last();
    assert_eq!(last.uri, "/v1/chat/completions");
    assert_eq!(
        last.header("host").as_deref(),
        Some(up.addr.to_string().as_str())
    );
}

#[tokio::test]
async fn a_connection_whose_response_was_cut_is_not_reused() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let (stream, _first) = open_a_stream_that_never_ends(&up, &dario).await;
    drop(stream);
    // The next request must not land on the half-read connection.
    let resp = client()
        .post(dario.url("/v1/chat/completions"))
        .body(r#"{"model":"gpt-4o","messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["object"], "chat.completion");
    assert_eq!(up.opened_connections(), 2);
}

/// An upstream that answers each request and then closes the connection without saying so (no
/// `Connection: close`), as servers do when their keep-alive timeout passes.
async fn closing_upstream() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                // Read the head and the announced body, answer, and close.
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let body = r#"{"id":"x","object":"chat.completion","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn an_upstream_that_closed_its_idle_connection_gets_a_new_one() {
    let (addr, accepted) = closing_upstream().await;
    let config =
        dario::config::Config::builtin(std::env::temp_dir(), &|_| None).with_backend(backend(
            "openai",
            dario::protocol::Protocol::OpenAi,
            &format!("http://{addr}/v1"),
            dario::config::Credential::Passthrough,
        ));
    let dario = Dario::start(config).await;
    for round in 1..=3 {
        let resp = client()
            .post(dario.url("/v1/chat/completions"))
            .body(r#"{"model":"gpt-4o","messages":[]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "round {round}");
        assert_eq!(json(resp).await["object"], "chat.completion");
        // Let the upstream's close arrive before the next request.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
}
