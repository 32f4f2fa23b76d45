//! Hostile-input suite, access control (issue 19): the DNS-rebinding guard must judge the whole
//! request authority — the absolute-form URI (it replaces `Host`, RFC 9112 §3.2.2), HTTP/2's
//! `:authority`, every `Host` header — and accept only a loopback literal or `localhost`.
//! Requests are written on raw TCP (and an h2c connection) so nothing normalises them first.

use crate::support;

use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BODY: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;

/// Sends `head` (request line and headers, without the blank line) with a JSON body on a fresh
/// connection and returns the status code and the whole response text.
async fn raw(dario: &Dario, head: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(dario.addr).await.unwrap();
    let req = format!(
        "{head}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("dario answers and closes")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    (status, text)
}

async fn setup() -> (StandIn, Dario) {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    (up, dario)
}

#[tokio::test]
async fn loopback_hosts_are_served() {
    let (up, dario) = setup().await;
    let port = dario.addr.port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".to_string(),
        "[::1]:3456".to_string(),
        "[::1]".to_string(),
    ] {
        let (status, text) = raw(
            &dario,
            &format!("POST /v1/chat/completions HTTP/1.1\r\nhost: {host}"),
        )
        .await;
        assert_eq!(status, 200, "{host}: {text}");
    }
    // Absolute-form naming this machine is fine too.
    let (status, text) = raw(
        &dario,
        &format!(
            "POST http://127.0.0.1:{port}/v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}"
        ),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(up.requests().len(), 6);
}

#[tokio::test]
async fn text_after_a_bracketed_loopback_literal_is_refused() {
    let (up, dario) = setup().await;
    for host in [
        "[::1]evil.example",
        "[::1]evil.example:3456",
        "[::1]:3456evil",
        "[::1]:99999",
        "127.0.0.1:3456:1",
        "localhost:",
        "[::1",
    ] {
        let (status, text) = raw(
            &dario,
            &format!("POST /v1/chat/completions HTTP/1.1\r\nhost: {host}"),
        )
        .await;
        assert!(
            status == 403 || status == 400,
            "{host} must be refused: {text}"
        );
        assert!(!text.contains("chat.completion\""), "{host}: {text}");
    }
    assert!(up.requests().is_empty(), "nothing reached the upstream");
}

#[tokio::test]
async fn a_second_host_header_is_refused() {
    let (up, dario) = setup().await;
    let port = dario.addr.port();
    let (status, text) = raw(
        &dario,
        &format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nhost: evil.example"
        ),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("\"error\""), "an error body: {text}");
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn an_absolute_form_uri_naming_a_foreign_authority_is_refused() {
    let (up, dario) = setup().await;
    let port = dario.addr.port();
    let (status, text) = raw(
        &dario,
        &format!("POST http://evil.example/v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}"),
    )
    .await;
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("permission_error") || text.contains("\"error\""),
        "{text}"
    );
    assert!(up.requests().is_empty());
}

/// An h2c request whose `:authority` is `authority` (a prior-knowledge HTTP/2 connection).
async fn h2c_status(dario: &Dario, authority: &str) -> u16 {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let tcp = tokio::net::TcpStream::connect(dario.addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::post(format!("http://{authority}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from_static(BODY.as_bytes())))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

#[tokio::test]
async fn an_h2_authority_naming_a_foreign_host_is_refused() {
    let (up, dario) = setup().await;
    assert_eq!(h2c_status(&dario, "evil.example").await, 403);
    assert_eq!(h2c_status(&dario, "evil.example:3456").await, 403);
    assert!(up.requests().is_empty());
    let port = dario.addr.port();
    assert_eq!(h2c_status(&dario, &format!("127.0.0.1:{port}")).await, 200);
    assert_eq!(h2c_status(&dario, &format!("localhost:{port}")).await, 200);
}
