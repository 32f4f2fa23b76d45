//! Deadlines and lifecycle through real sockets: body read deadline, header read timeout,
//! first-byte timeout, stream idle timeout, graceful shutdown.

use crate::support;

use std::time::Duration;

use futures_util::StreamExt;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn slow_body_gets_408_in_the_callers_envelope() {
    let up = StandIn::start().await;
    let mut cfg = config_for(&up, vec![]);
    cfg.limits.body_read_timeout = Duration::from_millis(300);
    let dario = Dario::start(cfg).await;
    let mut s = TcpStream::connect(dario.addr).await.unwrap();
    s.write_all(
        b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 100\r\n\r\n{\"model\":",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("dario must answer a stalled body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"type\":\"error\""), "{text}");
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn stalled_headers_are_cut_off() {
    let up = StandIn::start().await;
    let mut cfg = config_for(&up, vec![]);
    cfg.limits.header_read_timeout = Duration::from_millis(300);
    let dario = Dario::start(cfg).await;
    let mut s = TcpStream::connect(dario.addr).await.unwrap();
    s.write_all(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    // The connection is closed by dario (read returns 0 or an error) well before our bound.
    let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("dario must drop a connection whose headers never finish");
    if let Ok(n) = r {
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    }
}

#[tokio::test]
async fn no_first_byte_in_time_is_504() {
    let up = StandIn::start().await;
    let mut cfg = config_for(&up, vec![]);
    cfg.limits.first_byte_timeout = Duration::from_millis(300);
    let dario = Dario::start(cfg).await;
    up.push(Reply::Hang);
    let r = client()
        .post(dario.url("/v1/chat/completions"))
        .body(r#"{"model":"gpt-4o","messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    let j = json(r).await;
    assert_eq!(j["error"]["type"], "server_error");
    assert!(j["error"]["message"].as_str().unwrap().contains("openai"));
}

#[tokio::test]
async fn idle_stream_ends_with_an_error_event() {
    let up = StandIn::start().await;
    let mut cfg = config_for(&up, vec![]);
    cfg.limits.stream_idle_timeout = Duration::from_millis(300);
    let dario = Dario::start(cfg).await;
    up.push(Reply::sse(vec!["data: {\"choices\":[]}\n\n".into()]).hanging());
    let r = client()
        .post(dario.url("/v1/chat/completions"))
        .body(r#"{"model":"gpt-4o","stream":true,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    let text = tokio::time::timeout(Duration::from_secs(5), r.text())
        .await
        .expect("the idle stream must be ended by dario")
        .unwrap();
    assert!(text.starts_with("data: {\"choices\":[]}\n\n"));
    assert!(text.contains("\"error\""), "{text}");
    assert!(!text.contains("[DONE]"));
    // The upstream stream was released too.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(up.streams_cut(), 1);
}

#[tokio::test]
async fn graceful_shutdown_lets_in_flight_streams_finish() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    up.push(
        Reply::sse((0..5).map(|i| format!("data: {{\"n\":{i}}}\n\n")).collect())
            .paced(Duration::from_millis(100)),
    );
    let addr = dario.addr;
    let r = client()
        .post(dario.url("/v1/chat/completions"))
        .body(r#"{"model":"gpt-4o","stream":true,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    let mut stream = r.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: {\"n\":0}"));
    let stopping = tokio::spawn(dario.stop());
    tokio::time::sleep(Duration::from_millis(50)).await;
    // New connections are refused once shutdown began.
    assert!(TcpStream::connect(addr).await.is_err());
    let mut rest = Vec::new();
    while let Some(chunk) = stream.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    assert!(
        String::from_utf8_lossy(&rest).contains("\"n\":4"),
        "the in-flight stream finished"
    );
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("server stops once drained")
        .unwrap();
}
