//! Hostile-input suite, malformed client requests (issue 13): requests hyper refuses before dario
//! sees them — a header block over the limit (431), a folded header line, a header line without
//! a colon, a NUL in a header value (400) — still get a JSON error body, readable by both SDKs'
//! error parsers, and the server keeps serving.

use crate::support;

use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Writes `request` raw and returns the whole response (the connection is closed after it).
async fn raw(dario: &Dario, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(dario.addr).await.unwrap();
    // The server may answer and close before reading everything: ignore a reset on write.
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("dario answers and closes");
    String::from_utf8_lossy(&out).into_owned()
}

fn status_and_body(resp: &str) -> (u16, &str) {
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {resp:?}"));
    let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body)
}

#[tokio::test]
async fn requests_hyper_refuses_get_a_json_error_body() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let huge = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: localhost\r\nx-big: {}\r\n\r\n",
        "a".repeat(2 * 1024 * 1024)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("2 MB header", huge.into_bytes(), 431),
        (
            "obs-fold",
            b"GET /health HTTP/1.1\r\nhost: localhost\r\nx-a: 1\r\n  folded\r\n\r\n".to_vec(),
            400,
        ),
        (
            "no colon",
            b"GET /health HTTP/1.1\r\nhost: localhost\r\nnocolonhere\r\n\r\n".to_vec(),
            400,
        ),
        (
            "NUL in a value",
            b"GET /health HTTP/1.1\r\nhost: localhost\r\nx-a: a\0b\r\n\r\n".to_vec(),
            400,
        ),
    ];
    for (what, request, expected) in cases {
        let resp = raw(&dario, &request).await;
        let (status, body) = status_and_body(&resp);
        assert_eq!(status, expected, "{what}: {resp:?}");
        let j: serde_json::Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{what}: not a JSON body ({e}): {resp:?}"));
        assert_eq!(j["type"], "error", "{what}: {j}");
        assert!(
            j["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {j}"
        );
        assert!(j["error"]["type"].is_string(), "{what}: {j}");
        assert!(
            resp.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{what}: {resp:?}"
        );
    }
    // Still serving.
    let r = client().get(dario.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// issue 13: a panic while handling one request (injected in test builds with
/// `x-dario-test-panic`) answers that request with a 500 in its caller's envelope; the same
/// connection and every other request go on being served.
#[tokio::test]
async fn a_panic_in_one_request_is_a_500_for_that_request_alone() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let c = client();
    let anthropic =
        r#"{"model":"claude-test-1","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    let openai = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;

    let r = c
        .post(dario.url("/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .header("x-dario-test-panic", "1")
        .body(anthropic)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert!(r.headers().contains_key("x-dario-request-id"));
    let v = json(r).await;
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "api_error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("internal error"));

    let r = c
        .post(dario.url("/v1/chat/completions"))
        .header("x-dario-test-panic", "1")
        .body(openai)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(json(r).await["error"]["type"], "server_error");

    // The same client (its pooled connection) and the server go on.
    for (path, body) in [
        ("/v1/chat/completions", openai),
        ("/v1/messages", anthropic),
    ] {
        let r = c.post(dario.url(path)).body(body).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    assert_eq!(
        up.requests().len(),
        2,
        "the panicking requests never went upstream"
    );
}
