//! Pools, failover, stickiness, exhaustion and accounting through the real server, against
//! stand-in upstreams with injected faults.

use crate::support;

use std::time::Duration;

use dario::config::{DeploymentConfig, RouteRule};
use dario::protocol::Protocol;
use serde_json::{json, Value};
use support::*;

/// A config with one `pool` backend (OpenAI protocol) whose deployments `a` and `b` are two
/// stand-ins, routed for models `pool-*`.
fn pool_config(a: &StandIn, b: &StandIn, anchor: &StandIn) -> dario::config::Config {
    let mut pool = backend(
        "pool",
        Protocol::OpenAi,
        &a.openai_url(),
        key("sk-pool-key-000001"),
    );
    pool.models = vec!["pool-*".into()];
    pool.deployments = vec![
        DeploymentConfig {
            alias: "a".into(),
            base_url: Some(a.openai_url()),
            credential: None,
        },
        DeploymentConfig {
            alias: "b".into(),
            base_url: Some(b.openai_url()),
            credential: None,
        },
    ];
    config_for(anchor, vec![pool])
}

async fn chat(dario: &Dario, model: &str, extra: Value) -> reqwest::Response {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hello"}]});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    client()
        .post(dario.url("/v1/chat/completions"))
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// A body of its own conversation (so stickiness does not bind requests together).
fn distinct(i: usize) -> Value {
    json!({"messages": [{"role": "user", "content": format!("independent question {i}")}]})
}

async fn pool_state(dario: &Dario) -> Value {
    json(client().get(dario.url("/pool")).send().await.unwrap()).await
}

fn deployment<'a>(pool: &'a Value, backend: &str, alias: &str) -> &'a Value {
    pool["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["backend"] == backend)
        .and_then(|b| {
            b["deployments"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["alias"] == alias)
        })
        .unwrap_or_else(|| panic!("no deployment {backend}/{alias} in {pool}"))
}

fn rate_limited_for(secs: &str) -> Reply {
    Reply::status(
        429,
        json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}),
    )
    .with_headers(&[("retry-after", secs)])
}

fn rate_limited() -> Reply {
    rate_limited_for("1")
}

#[tokio::test]
async fn rate_limited_deployment_fails_over_cools_and_recovers() {
    let (a, b, anchor) = (
        StandIn::start().await,
        StandIn::start().await,
        StandIn::start().await,
    );
    let dario = Dario::start(pool_config(&a, &b, &anchor)).await;
    // Fresh pool: equal headroom and load, so `a` (declared first) is tried first.
    a.push(rate_limited());
    b.push(Reply::status(200, standin_openai("from b")));
    let r = chat(&dario, "pool-x", json!({})).await;
    assert_eq!(r.status(), 200, "the client sees the failover's success");
    assert_eq!(r.headers()["x-dario-attempts"], "2");
    assert_eq!(json(r).await["choices"][0]["message"]["content"], "from b");

    let p = pool_state(&dario).await;
    let da = deployment(&p, "pool", "a");
    assert_eq!(da["cooling"], true, "{p}");
    assert_eq!(da["last_status"], 429);
    assert!(da["cooldown_remaining_ms"].as_u64().unwrap() <= 1000);

    // While `a` cools, requests go to `b` without touching `a`.
    let before = a.requests().len();
    assert_eq!(chat(&dario, "pool-x", json!({})).await.status(), 200);
    assert_eq!(a.requests().len(), before);

    // After retry-after passes, `a` is back by itself.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let p = pool_state(&dario).await;
    assert_eq!(deployment(&p, "pool", "a")["cooling"], false, "{p}");
}

fn standin_openai(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    })
}

#[tokio::test]
async fn headroom_steers_new_requests() {
    let (a, b, anchor) = (
        StandIn::start().await,
        StandIn::start().await,
        StandIn::start().await,
    );
    let dario = Dario::start(pool_config(&a, &b, &anchor)).await;
    // Each answers once, reporting its headroom: a 5 %, b 80 %. A fresh pool ties, so the first
    // request goes to `a` (declared first); `a` then has less headroom than unknown `b`.
    let low = [
        ("x-ratelimit-limit-requests", "100"),
        ("x-ratelimit-remaining-requests", "5"),
    ];
    let high = [
        ("x-ratelimit-limit-requests", "100"),
        ("x-ratelimit-remaining-requests", "80"),
    ];
    a.push(Reply::status(200, standin_openai("a")).with_headers(&low));
    for _ in 0..4 {
        b.push(Reply::status(200, standin_openai("b")).with_headers(&high));
    }
    let r = chat(&dario, "pool-x", distinct(0)).await;
    assert_eq!(json(r).await["choices"][0]["message"]["content"], "a");
    let r = chat(&dario, "pool-x", distinct(1)).await;
    assert_eq!(json(r).await["choices"][0]["message"]["content"], "b");
    let p = pool_state(&dario).await;
    let ha = deployment(&p, "pool", "a")["headroom"].as_f64().unwrap();
    let hb = deployment(&p, "pool", "b")["headroom"].as_f64().unwrap();
    assert!((ha - 0.05).abs() < 1e-9 && (hb - 0.8).abs() < 1e-9, "{p}");
    // From now on, new requests go to b.
    let (a0, b0) = (a.requests().len(), b.requests().len());
    for i in 2..5 {
        let r = chat(&dario, "pool-x", distinct(i)).await;
        assert_eq!(json(r).await["choices"][0]["message"]["content"], "b");
    }
    assert_eq!(a.requests().len(), a0);
    assert_eq!(b.requests().len(), b0 + 3);
}

#[tokio::test]
async fn cross_protocol_fallback_keeps_the_anthropic_client_whole() {
    let up = StandIn::start().await;
    let fallback = StandIn::start().await;
    let mut cfg = config_for(&up, vec![openai_backend("compat", &fallback, &[])]);
    cfg.routes = vec![RouteRule {
        model: "claude-*".into(),
        backend: "anthropic".into(),
        upstream_model: None,
        fallbacks: vec!["compat".into()],
    }];
    let dario = Dario::start(cfg).await;
    let overloaded = || {
        Reply::status(
            529,
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        )
    };

    // Non-streaming.
    up.push(overloaded());
    let r = client()
        .post(dario.url("/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .body(r#"{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-dario-backend"], "compat");
    let m = json(r).await;
    assert_eq!(m["type"], "message");
    assert_eq!(
        m["content"][0]["text"],
        "Hello from the stand-in — ünïcödé ✓."
    );
    assert_eq!(m["stop_reason"], "end_turn");
    let sent = fallback.last();
    assert_eq!(sent.uri, "/v1/chat/completions");
    assert_eq!(sent.json()["messages"][0]["content"], "hi");

    // Streaming.
    up.push(overloaded());
    let r = client()
        .post(dario.url("/v1/messages"))
        .body(r#"{"model":"claude-sonnet-4-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(text.contains("\"text_delta\""));
    assert!(
        text.trim_end()
            .ends_with("data: {\"type\":\"message_stop\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn no_failover_after_the_first_byte() {
    let (a, b, anchor) = (
        StandIn::start().await,
        StandIn::start().await,
        StandIn::start().await,
    );
    let dario = Dario::start(pool_config(&a, &b, &anchor)).await;
    let broken = Reply::sse(vec![
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}}]}\n\n".into(),
        "x".into(),
    ])
    .reset_after(1);
    a.push(broken.clone());
    b.push(broken);
    let r = chat(&dario, "pool-x", json!({"stream": true})).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("\"par\""));
    assert!(text.contains("\"error\""), "{text}");
    assert_eq!(
        a.requests().len() + b.requests().len(),
        1,
        "a started stream is never retried"
    );
}

#[tokio::test]
async fn stickiness_keeps_a_conversation_and_rebinds_on_cooldown() {
    let (a, b, anchor) = (
        StandIn::start().await,
        StandIn::start().await,
        StandIn::start().await,
    );
    let dario = Dario::start(pool_config(&a, &b, &anchor)).await;
    let convo = json!({"messages": [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "Ahoy, conversation 42"}
    ]});
    let first = chat(&dario, "pool-x", convo.clone()).await;
    assert_eq!(first.status(), 200);
    let on_a = a.requests().len() == 1;
    let (bound, other) = if on_a { (&a, &b) } else { (&b, &a) };
    // Other conversations (and load) would pick either; this one stays.
    for i in 0..4 {
        let mut c = convo.clone();
        c["messages"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "assistant", "content": "Arr"}));
        c["messages"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "user", "content": format!("turn {i}")}));
        assert_eq!(chat(&dario, "pool-x", c).await.status(), 200);
    }
    assert_eq!(bound.requests().len(), 5);
    assert_eq!(other.requests().len(), 0);

    // The bound deployment gets rate limited: the conversation fails over and rebinds.
    bound.push(rate_limited_for("30"));
    assert_eq!(chat(&dario, "pool-x", convo.clone()).await.status(), 200);
    assert_eq!(other.requests().len(), 1);
    assert_eq!(chat(&dario, "pool-x", convo.clone()).await.status(), 200);
    assert_eq!(other.requests().len(), 2, "rebound to the other deployment");
}

#[tokio::test]
async fn exhaustion_waits_then_answers_429_with_retry_after() {
    let (a, b, anchor) = (
        StandIn::start().await,
        StandIn::start().await,
        StandIn::start().await,
    );
    let mut cfg = pool_config(&a, &b, &anchor);
    cfg.limits.exhaustion_wait = Duration::from_millis(300);
    let dario = Dario::start(cfg).await;
    let long = || rate_limited_for("30");
    a.push(long());
    b.push(long());
    // Both deployments answer 429: the client gets the upstream's 429 (one response).
    let r = chat(&dario, "pool-x", json!({})).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    // Now everything is cooling: dario waits up to 300 ms, then answers 429 itself.
    let started = std::time::Instant::now();
    let r = chat(&dario, "pool-x", json!({})).await;
    assert_eq!(r.status(), 429);
    let ra: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((25..=30).contains(&ra), "retry-after {ra}");
    let j = json(r).await;
    assert_eq!(j["error"]["type"], "rate_limit_exceeded");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        a.requests().len() + b.requests().len(),
        2,
        "no request sent while cooling"
    );
    // Anthropic callers get their own envelope.
}

#[tokio::test]
async fn analytics_match_what_the_upstream_reported() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let c = client();
    // Anthropic passthrough, JSON and SSE: input 12, cache read 4, output 9 each.
    for stream in [false, true] {
        let r = c
            .post(dario.url("/v1/messages"))
            .body(
                json!({"model": "claude-haiku-4-5", "max_tokens": 10, "stream": stream,
                          "messages": [{"role": "user", "content": "hi"}]})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await.unwrap();
    }
    // OpenAI passthrough streamed with usage: prompt 16 (4 cached) → input 12, cache 4, output 9.
    let r = chat(
        &dario,
        "gpt-4o-mini",
        json!({"stream": true, "stream_options": {"include_usage": true}}),
    )
    .await;
    let _ = r.bytes().await.unwrap();
    // A 404 from dario itself is counted as an error.
    let _ = chat(&dario, "nobody-serves-this", json!({})).await;

    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = json(
        c.get(dario.url("/analytics?window=60"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let totals = &s["window"]["totals"];
    assert_eq!(totals["requests"], 4, "{s}");
    assert_eq!(totals["errors"], 1);
    assert_eq!(totals["streamed"], 2);
    assert_eq!(totals["tokens"]["input"], 36);
    assert_eq!(totals["tokens"]["cache_read"], 12);
    assert_eq!(totals["tokens"]["output"], 27);
    let anthropic = s["window"]["by_backend"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["backend"] == "anthropic")
        .unwrap();
    assert_eq!(anthropic["requests"], 2);
    assert!(
        anthropic["cost_usd"].as_f64().unwrap() > 0.0,
        "haiku is priced"
    );

    let metrics = c
        .get(dario.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("dario_requests_total{"), "{metrics}");
    assert!(metrics.contains("dario_proxy_overhead_seconds_bucket"));
}

#[tokio::test]
async fn hot_reload_under_load_loses_no_request() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let state = dario.state.clone();
    let url = dario.url("/v1/chat/completions");
    let load = tokio::spawn(async move {
        let c = client();
        let mut statuses = Vec::new();
        for _ in 0..60 {
            let r = c
                .post(&url)
                .body(r#"{"model":"gpt-4o","stream":true,"messages":[]}"#)
                .send()
                .await
                .unwrap();
            statuses.push((
                r.status().as_u16(),
                r.text().await.unwrap().contains("[DONE]"),
            ));
        }
        statuses
    });
    for i in 0..20 {
        let mut cfg = config_for(&up, vec![]);
        cfg.aliases.insert(format!("alias-{i}"), "gpt-4o".into());
        state.reload(cfg);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let statuses = load.await.unwrap();
    assert!(
        statuses.iter().all(|(s, done)| *s == 200 && *done),
        "{statuses:?}"
    );
    assert_eq!(up.requests().len(), 60);
}

#[tokio::test]
async fn count_tokens_never_falls_back_into_a_completion() {
    let up = StandIn::start().await;
    let fallback = StandIn::start().await;
    let mut cfg = config_for(&up, vec![openai_backend("compat", &fallback, &[])]);
    cfg.routes = vec![RouteRule {
        model: "claude-*".into(),
        backend: "anthropic".into(),
        upstream_model: None,
        fallbacks: vec!["compat".into()],
    }];
    let dario = Dario::start(cfg).await;
    up.push(Reply::status(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let r = client()
        .post(dario.url("/v1/messages/count_tokens"))
        .body(r#"{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 529);
    assert!(
        fallback.requests().is_empty(),
        "no billed completion on the fallback"
    );
}

#[tokio::test]
async fn a_client_that_leaves_early_is_still_counted() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    up.push(Reply::Hang);
    let req = client()
        .post(dario.url("/v1/chat/completions"))
        .body(r#"{"model":"gpt-4o","messages":[]}"#)
        .send();
    let _ = tokio::time::timeout(Duration::from_millis(300), req).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s = json(client().get(dario.url("/analytics")).send().await.unwrap()).await;
    assert_eq!(s["window"]["totals"]["requests"], 1, "{s}");
    assert_eq!(s["window"]["totals"]["errors"], 1);
}
