//! Hostile-input suite, the faults issue 13 lists that no other file covers (docs/hardening.md
//! has the whole table): slow clients cut off while others are served, pipelined requests
//! answered in order, clients that vanish mid-request or mid-stream (translated) leaving no task
//! behind, and upstreams that refuse, do not resolve, speak no TLS, reset before the head, stall
//! a translated stream, answer 200 with an error body, send a non-JSON error to a translated
//! request, a gigantic translated body, or trickle a good answer byte by byte.

use crate::support;

use std::time::Duration;

use futures_util::StreamExt;
use support::raw::{config_for_raw, raw_upstream};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OPENAI_JSON: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
const ANTHROPIC_JSON: &str =
    r#"{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
/// An Anthropic client asking for an OpenAI-backend model (translated), JSON and stream.
const A_TO_O_JSON: &str =
    r#"{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
const A_TO_O_STREAM: &str = r#"{"model":"gpt-4o","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
/// An OpenAI client asking for an Anthropic-backend model (translated).
const O_TO_A_JSON: &str = r#"{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}"#;

async fn post(dario: &Dario, path: &str, body: &str) -> (u16, String) {
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        client().post(dario.url(path)).body(body.to_string()).send(),
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

/// An error body in the Anthropic envelope; returns its message.
fn anthropic_error(text: &str) -> String {
    let j: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(j["type"], "error", "{j}");
    assert!(j["error"]["type"].is_string(), "{j}");
    j["error"]["message"].as_str().unwrap().to_string()
}

/// An error body in the OpenAI envelope; returns its message.
fn openai_error(text: &str) -> String {
    let j: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert!(j.get("type").is_none(), "{j}");
    assert!(j["error"]["type"].is_string(), "{j}");
    j["error"]["message"].as_str().unwrap().to_string()
}

// ---- Client faults ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_slow_bodies_are_cut_off_while_others_are_served() {
    let up = StandIn::start().await;
    let mut cfg = config_for(&up, vec![]);
    cfg.limits.header_read_timeout = Duration::from_millis(600);
    cfg.limits.body_read_timeout = Duration::from_millis(600);
    let dario = Dario::start(cfg).await;

    // 20 clients trickle their headers, 20 their bodies, a byte every 50 ms, for ever.
    let mut slow = Vec::new();
    for i in 0..40 {
        let mut s = TcpStream::connect(dario.addr).await.unwrap();
        let (first, rest): (Vec<u8>, Vec<u8>) = if i % 2 == 0 {
            (b"POST /v1/chat/completions HTTP/1.1\r\n".to_vec(), {
                let mut v = Vec::new();
                for n in 0..100_000 {
                    v.extend_from_slice(format!("x-slow-{n}: 1\r\n").as_bytes());
                }
                v
            })
        } else {
            (
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 100000\r\n\r\n".to_vec(),
                vec![b' '; 100_000],
            )
        };
        s.write_all(&first).await.unwrap();
        let (mut rd, mut wr) = s.into_split();
        let writer = tokio::spawn(async move {
            for b in rest {
                if wr.write_all(&[b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let reader = tokio::spawn(async move {
            let mut out = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(30), rd.read_to_end(&mut out))
                .await
                .expect("dario must cut a slow client off");
            String::from_utf8_lossy(&out).into_owned()
        });
        slow.push((i % 2 == 0, writer, reader));
    }

    // Meanwhile everyone else is served.
    for _ in 0..10 {
        let (status, text) = post(&dario, "/v1/chat/completions", OPENAI_JSON).await;
        assert_eq!(status, 200, "{text}");
    }

    for (headers, writer, reader) in slow {
        let text = reader.await.unwrap();
        writer.abort();
        if headers {
            // hyper closes a connection whose head is late, answering 408 or nothing.
            assert!(
                text.is_empty() || text.starts_with("HTTP/1.1 408"),
                "slow headers: {text:?}"
            );
        } else {
            assert!(text.starts_with("HTTP/1.1 408"), "slow body: {text:?}");
            let body = text.split_once("\r\n\r\n").unwrap().1;
            openai_error(body);
        }
    }
    assert_eq!(up.requests().len(), 10, "no slow request went upstream");
    no_request_in_flight(&dario).await;
}

#[tokio::test]
async fn pipelined_requests_in_one_write_are_each_answered_in_order() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let chat = |model: &str, close: bool| {
        let body =
            format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"hi"}}]}}"#);
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "connection: close\r\n" } else { "" }
        )
    };
    let all = [
        chat("gpt-4o", false),
        "GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".to_string(),
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 9\r\n\r\n{not json".to_string(),
        chat("gpt-4o-mini", false),
        chat("gpt-4.1", true),
    ]
    .concat();
    let mut s = TcpStream::connect(dario.addr).await.unwrap();
    s.write_all(all.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out))
        .await
        .expect("all five are answered and the connection closed")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "200", "400", "200", "200"], "{text}");
    // In order: each answer at its request's place.
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing: {text}"))
    };
    let first = at(r#""model":"gpt-4o""#);
    let health = at(r#""status":"ok""#);
    let bad = at("invalid_request_error");
    let mini = at(r#""model":"gpt-4o-mini""#);
    let last = at(r#""model":"gpt-4.1""#);
    assert!(
        first < health && health < bad && bad < mini && mini < last,
        "{text}"
    );
    let models: Vec<String> = up
        .requests()
        .iter()
        .map(|r| r.json()["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(models, ["gpt-4o", "gpt-4o-mini", "gpt-4.1"]);
}

#[tokio::test]
async fn a_client_gone_mid_body_leaves_nothing_behind() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    for _ in 0..20 {
        let mut s = TcpStream::connect(dario.addr).await.unwrap();
        s.write_all(
            b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 5000\r\n\r\n{\"model\":\"claude-x\",",
        )
        .await
        .unwrap();
        drop(s);
    }
    no_request_in_flight(&dario).await;
    assert!(up.requests().is_empty(), "a half request went upstream");
    let (status, text) = post(&dario, "/v1/messages", ANTHROPIC_JSON).await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test]
async fn a_client_gone_mid_translated_stream_cancels_the_upstream_stream() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let chunk = r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}"#;
    up.push(Reply::sse(vec![format!("{chunk}\n\n")]).hanging());
    let resp = client()
        .post(dario.url("/v1/messages"))
        .body(A_TO_O_STREAM)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut got = String::new();
    while !got.contains("Hel") {
        let c = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("the translated events arrive")
            .unwrap()
            .unwrap();
        got.push_str(&String::from_utf8_lossy(&c));
    }
    assert_eq!(up.streams_cut(), 0);
    drop(stream);
    assert_eq!(
        count_reaching(|| up.streams_cut(), 1).await,
        1,
        "the upstream stream outlived its client"
    );
    no_request_in_flight(&dario).await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_from_its_length_before_it_is_sent() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    // 1 GiB announced, a few bytes sent: the 413 comes without waiting for the rest.
    let mut s = TcpStream::connect(dario.addr).await.unwrap();
    s.write_all(
        b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1073741824\r\n\r\n{\"model\":",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
        .await
        .expect("dario answers before the body is sent")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let body = text.split_once("\r\n\r\n").unwrap().1;
    anthropic_error(body);
    // A chunked body (no length to judge) is cut at the limit instead.
    let mut cfg = config_for(&up, vec![]);
    cfg.limits.max_body_bytes = 64 * 1024;
    let small = Dario::start(cfg).await;
    let mut s = TcpStream::connect(small.addr).await.unwrap();
    s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
    let _ = s.write_all(chunk.as_bytes()).await;
    let _ = s.write_all(b"10\r\n0123456789abcdef\r\n").await;
    let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
        .await
        .expect("dario answers at the limit")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn malformed_bodies_get_a_400_in_the_callers_envelope_and_nothing_goes_upstream() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let nested = format!("{}1{}", "[".repeat(50_000), "]".repeat(50_000));
    let deep_in_model = format!(
        r#"{{"model":"gpt-4o","max_tokens":5,"messages":[{{"role":"user","content":{nested}}}]}}"#
    );
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not JSON", b"{not json".to_vec()),
        (
            "invalid UTF-8",
            b"{\"model\":\"gpt-4o\xff\xfe\",\"messages\":[]}".to_vec(),
        ),
        ("a bare array", b"[1,2,3]".to_vec()),
        ("deeply nested", deep.into_bytes()),
        (
            "model is a number",
            br#"{"model":5,"messages":[]}"#.to_vec(),
        ),
        (
            "model missing",
            br#"{"max_tokens":5,"messages":[]}"#.to_vec(),
        ),
        ("model empty", br#"{"model":"","messages":[]}"#.to_vec()),
    ];
    for path in ["/v1/messages", "/v1/chat/completions", "/v1/responses"] {
        for (what, body) in &bodies {
            let r = client()
                .post(dario.url(path))
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            assert_eq!(status, 400, "{path} {what}: {text}");
            if path == "/v1/messages" {
                anthropic_error(&text);
            } else {
                openai_error(&text);
            }
        }
    }
    // Nesting deep enough to overflow a recursive parser, in a request that must be
    // translated (an Anthropic client for an OpenAI model) and in wrong-typed fields.
    for (path, body) in [
        ("/v1/messages", deep_in_model.clone()),
        (
            "/v1/chat/completions",
            deep_in_model.replace("gpt-4o", "claude-x"),
        ),
        (
            "/v1/messages",
            r#"{"model":"gpt-4o","max_tokens":"five","messages":"hi"}"#.to_string(),
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"claude-x","messages":[{"role":7,"content":{}}]}"#.to_string(),
        ),
    ] {
        let (status, text) = post(&dario, path, &body).await;
        assert_eq!(status, 400, "{path}: {}", &text[..text.len().min(400)]);
        if path == "/v1/messages" {
            anthropic_error(&text);
        } else {
            openai_error(&text);
        }
    }
    assert!(
        up.requests().is_empty(),
        "a malformed request went upstream"
    );
    let (status, _) = post(&dario, "/v1/messages", ANTHROPIC_JSON).await;
    assert_eq!(status, 200, "still serving");
}

// ---- Upstream faults ------------------------------------------------------------------------

fn both_backends_at(openai: &str, anthropic: &str) -> dario::config::Config {
    use dario::config::{BackendConfig, Config, Credential};
    use dario::protocol::Protocol;
    Config::builtin(std::env::temp_dir(), &|_| None)
        .with_backend(BackendConfig::new(
            "anthropic",
            Protocol::Anthropic,
            anthropic,
            Credential::Passthrough,
        ))
        .with_backend(BackendConfig::new(
            "openai",
            Protocol::OpenAi,
            openai,
            Credential::Passthrough,
        ))
}

/// Every request shape (both protocols, JSON and stream, passthrough and translated) gets a 502
/// in its caller's envelope whose message contains `why`.
async fn every_shape_is_a_502(dario: &Dario, why: &str) {
    for (path, body, anthropic) in [
        ("/v1/chat/completions", OPENAI_JSON, false),
        (
            "/v1/chat/completions",
            r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
            false,
        ),
        ("/v1/messages", ANTHROPIC_JSON, true),
        ("/v1/messages", A_TO_O_STREAM, true),
        ("/v1/chat/completions", O_TO_A_JSON, false),
    ] {
        let (status, text) = post(dario, path, body).await;
        assert_eq!(status, 502, "{path} {body}: {text}");
        let msg = if anthropic {
            anthropic_error(&text)
        } else {
            openai_error(&text)
        };
        assert!(
            msg.to_lowercase().contains(why),
            "{path} {body}: {msg:?} should say {why:?}"
        );
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_502_in_the_callers_envelope() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dario = Dario::start(both_backends_at(
        &format!("http://127.0.0.1:{port}/v1"),
        &format!("http://127.0.0.1:{port}"),
    ))
    .await;
    every_shape_is_a_502(&dario, "refused").await;
    no_request_in_flight(&dario).await;
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_502_in_the_callers_envelope() {
    // `.invalid` never resolves (RFC 6761); the resolver answers at once, offline included.
    let dario = Dario::start(both_backends_at(
        "http://dario-hostile-test.invalid/v1",
        "http://dario-hostile-test.invalid",
    ))
    .await;
    every_shape_is_a_502(&dario, "dns error").await;
}

#[tokio::test]
async fn a_server_that_speaks_no_tls_is_a_502_naming_tls() {
    // An `https://` upstream whose server answers the TLS hello with plain HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    let dario = Dario::start(both_backends_at(
        &format!("https://localhost:{port}/v1"),
        &format!("https://localhost:{port}"),
    ))
    .await;
    every_shape_is_a_502(&dario, "tls handshake failed").await;
}

#[tokio::test]
async fn a_reset_before_the_response_head_is_a_502_in_the_callers_envelope() {
    let addr = raw_upstream(|s| async move {
        // RST instead of FIN: the request was read, nothing is answered.
        // (A zero linger never blocks the thread on drop: the socket is reset at once.)
        #[allow(deprecated)]
        let _ = s.set_linger(Some(Duration::ZERO));
        drop(s);
    })
    .await;
    let dario = Dario::start(config_for_raw(addr)).await;
    every_shape_is_a_502(&dario, "reset").await;
    no_request_in_flight(&dario).await;
}

#[tokio::test]
async fn a_translated_stream_that_stalls_ends_with_an_error_event() {
    let up = StandIn::start().await;
    let mut cfg = config_for(&up, vec![]);
    cfg.limits.stream_idle_timeout = Duration::from_millis(400);
    let dario = Dario::start(cfg).await;
    let chunk = r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}"#;
    up.push(Reply::sse(vec![format!("{chunk}\n\n")]).hanging());
    let (status, text) = post(&dario, "/v1/messages", A_TO_O_STREAM).await;
    assert_eq!(status, 200);
    assert!(text.contains("\"Hel\""), "{text}");
    assert!(text.contains("event: error\ndata: "), "{text}");
    assert!(!text.contains("message_stop"), "{text}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        up.streams_cut(),
        1,
        "the stalled upstream stream was let go"
    );

    // And the other direction: an OpenAI client on a stalled Anthropic stream.
    up.push(
        Reply::sse(vec![
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n".into(),
        ])
        .hanging(),
    );
    let (status, text) = post(
        &dario,
        "/v1/chat/completions",
        r#"{"model":"claude-x","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert!(text.contains("\"error\""), "{text}");
    assert!(!text.contains("[DONE]"), "{text}");
}

#[tokio::test]
async fn a_200_carrying_an_error_body_never_reads_as_a_translated_success() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    // An OpenAI-compatible server that says 200 and means an error.
    up.push(Reply::status(
        200,
        serde_json::json!({"error": {"message": "model overloaded", "type": "server_error"}}),
    ));
    let (status, text) = post(&dario, "/v1/messages", A_TO_O_JSON).await;
    assert_eq!(status, 502, "{text}");
    anthropic_error(&text);
    // An Anthropic-protocol server doing the same.
    up.push(Reply::status(
        200,
        serde_json::json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let (status, text) = post(&dario, "/v1/chat/completions", O_TO_A_JSON).await;
    assert_eq!(status, 502, "{text}");
    openai_error(&text);
    // Passthrough hands the upstream's own error body on untouched (it is in the caller's
    // protocol already); the client sees exactly what the provider said.
    up.push(Reply::status(
        200,
        serde_json::json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let (_, text) = post(&dario, "/v1/messages", ANTHROPIC_JSON).await;
    assert_eq!(anthropic_error(&text), "Overloaded");
}

#[tokio::test]
async fn a_non_json_error_body_on_a_translated_request_arrives_in_the_callers_envelope() {
    let addr = raw_upstream(|s| async move {
        support::raw::write_and_close(
            s,
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\ncontent-length: 46",
            &[b"<html><body>upstream connect error</body></html>"[..46].as_ref()],
        )
        .await
    })
    .await;
    let dario = Dario::start(config_for_raw(addr)).await;
    for (path, body, anthropic) in [
        ("/v1/messages", A_TO_O_JSON, true),
        ("/v1/messages", A_TO_O_STREAM, true),
        ("/v1/chat/completions", O_TO_A_JSON, false),
    ] {
        let (status, text) = post(&dario, path, body).await;
        assert_eq!(status, 503, "{path} {body}: {text}");
        if anthropic {
            anthropic_error(&text);
        } else {
            openai_error(&text);
        }
    }
}

#[tokio::test]
async fn a_gigantic_body_to_translate_is_refused_at_its_bound() {
    // A well-formed 80 MiB chat completion: translating it would need all of it in memory.
    const SIZE: usize = 80 * 1024 * 1024;
    let addr = raw_upstream(|mut s| async move {
        let open = br#"{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":""#;
        let close = br#""},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            open.len() + SIZE + close.len()
        );
        if s.write_all(head.as_bytes()).await.is_err() || s.write_all(open).await.is_err() {
            return;
        }
        let block = vec![b'x'; 1024 * 1024];
        for _ in 0..SIZE / block.len() {
            if s.write_all(&block).await.is_err() {
                return;
            }
        }
        let _ = s.write_all(close).await;
    })
    .await;
    let dario = Dario::start(config_for_raw(addr)).await;
    let (status, text) = post(&dario, "/v1/messages", A_TO_O_JSON).await;
    assert_eq!(status, 502, "{}", &text[..text.len().min(300)]);
    let msg = anthropic_error(&text);
    assert!(msg.contains("MiB"), "says why: {msg}");
}

/// An upstream that writes `head` then `body` one byte at a time, 1 ms apart.
async fn trickling(head: String, body: String) -> Dario {
    let addr = raw_upstream(move |mut s| {
        let (head, body) = (head.clone(), body.clone());
        async move {
            let _ = s.write_all(head.as_bytes()).await;
            for b in body.bytes() {
                if s.write_all(&[b]).await.is_err() {
                    return;
                }
                let _ = s.flush().await;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let _ = s.shutdown().await;
        }
    })
    .await;
    Dario::start(config_for_raw(addr)).await
}

#[tokio::test]
async fn an_answer_trickled_byte_by_byte_arrives_whole() {
    // JSON, translated for an Anthropic client.
    let body = r#"{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"trickled answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;
    let dario = trickling(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        ),
        body.to_string(),
    )
    .await;
    let (status, text) = post(&dario, "/v1/messages", A_TO_O_JSON).await;
    assert_eq!(status, 200, "{text}");
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(j["content"][0]["text"], "trickled answer", "{j}");
    assert_eq!(j["stop_reason"], "end_turn");

    // A stream, translated: every event split across many reads.
    let chunk = |delta: &str, finish: &str| {
        format!("data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n")
    };
    let stream = [
        chunk(r#"{"role":"assistant","content":""}"#, "null"),
        chunk(r#"{"content":"trick"}"#, "null"),
        chunk(r#"{"content":"led"}"#, "null"),
        chunk("{}", "\"stop\""),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat();
    let dario = trickling(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n".into(),
        stream,
    )
    .await;
    let (status, text) = post(&dario, "/v1/messages", A_TO_O_STREAM).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("\"trick\"") && text.contains("\"led\""),
        "{text}"
    );
    assert!(
        text.trim_end()
            .ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}"),
        "{text}"
    );
    assert!(!text.contains("event: error"), "{text}");
}
