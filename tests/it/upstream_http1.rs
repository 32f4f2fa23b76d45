//! The upstream HTTP/1.1 client (src/proxy/upstream/client/h1/) against a raw upstream that
//! writes exact bytes, in pieces: every body framing RFC 9112 allows (content-length, chunked
//! with extensions and trailers, until close), interim 1xx responses, keep-alive reuse and what
//! ends it, streamed chunks relayed as they arrive, and malformed heads and framing answered
//! with an error that says so.

use crate::support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use support::raw::{config_for_raw, read_request};
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const CHAT: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
const CHAT_STREAM: &str =
    r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
/// An Anthropic client on an OpenAI backend: dario reads the whole body to translate it.
const TRANSLATED: &str =
    r#"{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
const COMPLETION: &str = r#"{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;

/// What the raw upstream writes for one request: byte pieces (each written and flushed on its
/// own, a few milliseconds apart, so dario reads them separately), and whether the connection
/// is closed afterwards.
struct Answer {
    pieces: Vec<Vec<u8>>,
    close: bool,
}

/// A raw upstream serving any number of requests per connection with `answer`; counts the
/// connections it accepted.
async fn upstream(
    answer: impl Fn() -> Answer + Send + Sync + 'static,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve_connection(socket, answer.clone()));
        }
    });
    (addr, accepted)
}

async fn serve_connection(mut socket: TcpStream, answer: Arc<dyn Fn() -> Answer + Send + Sync>) {
    while read_request(&mut socket).await {
        let Answer { pieces, close } = answer();
        for piece in pieces {
            if socket.write_all(&piece).await.is_err() {
                return;
            }
            let _ = socket.flush().await;
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        if close {
            let _ = socket.shutdown().await;
            return;
        }
    }
}

fn bytes(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// `body` in chunked coding, one chunk per piece of `sizes` bytes, with an extension on every
/// size line, uppercase hex, and a trailer; each chunk's size line is split from its data.
fn chunked(body: &str, size: usize) -> Vec<Vec<u8>> {
    let mut pieces = Vec::new();
    for part in body.as_bytes().chunks(size) {
        pieces.push(format!("{:X};ext=\"x\"\r\n", part.len()).into_bytes());
        let mut data = part.to_vec();
        data.extend_from_slice(b"\r\n");
        pieces.push(data);
    }
    pieces.push(bytes("0\r\nx-checksum: 1\r\n\r\n"));
    pieces
}

async fn post(dario: &Dario, path: &str, body: &str) -> (u16, String) {
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        client().post(dario.url(path)).body(body.to_string()).send(),
    )
    .await
    .expect("dario answers")
    .unwrap();
    let status = r.status().as_u16();
    let text = tokio::time::timeout(Duration::from_secs(30), r.text())
        .await
        .expect("the body ends")
        .unwrap();
    (status, text)
}

#[tokio::test]
async fn every_framing_arrives_whole_on_passthrough_and_translated_requests() {
    let head = |framing: &str| {
        bytes(&format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{framing}\r\n"
        ))
    };
    let (first, rest) = COMPLETION.split_at(40);
    let cases: Vec<(&str, Vec<Vec<u8>>, bool)> = vec![
        (
            "content-length, body in two pieces",
            vec![
                head(&format!("content-length: {}\r\n", COMPLETION.len())),
                bytes(first),
                bytes(rest),
            ],
            false,
        ),
        (
            "head itself split mid-line",
            vec![
                bytes("HTTP/1.1 200 OK\r\ncontent-ty"),
                bytes(&format!(
                    "pe: application/json\r\ncontent-length: {}\r\n\r\n{COMPLETION}",
                    COMPLETION.len()
                )),
            ],
            false,
        ),
        (
            "chunked with extensions and trailers",
            [
                vec![head("transfer-encoding: Chunked\r\n")],
                chunked(COMPLETION, 37),
            ]
            .concat(),
            false,
        ),
        (
            "interim 100 and 103 before the final head",
            vec![
                bytes("HTTP/1.1 100 Continue\r\n\r\n"),
                bytes("HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n"),
                head(&format!("content-length: {}\r\n", COMPLETION.len())),
                bytes(COMPLETION),
            ],
            false,
        ),
        (
            "HTTP/1.0, no length: the body ends with the connection",
            vec![
                bytes("HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n"),
                bytes(first),
                bytes(rest),
            ],
            true,
        ),
    ];
    for (name, pieces, close) in cases {
        let (addr, _) = upstream(move || Answer {
            pieces: pieces.clone(),
            close,
        })
        .await;
        let dario = Dario::start(config_for_raw(addr)).await;
        let (status, text) = post(&dario, "/v1/chat/completions", CHAT).await;
        assert_eq!(status, 200, "{name}: {text}");
        assert_eq!(text, COMPLETION, "{name}");
        // The same upstream answer translated for an Anthropic client.
        let (status, text) = post(&dario, "/v1/messages", TRANSLATED).await;
        assert_eq!(status, 200, "{name}: {text}");
        let j: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(j["content"][0]["text"], "hello there", "{name}: {j}");
        assert_eq!(j["usage"]["output_tokens"], 2, "{name}: {j}");
    }
}

#[tokio::test]
async fn keep_alive_connections_carry_many_requests_unless_the_upstream_says_close() {
    let length = format!("content-length: {}\r\n", COMPLETION.len());
    let chunked_body = chunked(COMPLETION, 64).concat();
    // (what the upstream writes, whether it closes after each answer, connections expected)
    let cases: Vec<(&str, Vec<u8>, bool, usize)> =
        vec![
        (
            "HTTP/1.1 keep-alive",
            bytes(&format!("HTTP/1.1 200 OK\r\n{length}\r\n{COMPLETION}")),
            false,
            1,
        ),
        (
            "Connection: close",
            bytes(&format!("HTTP/1.1 200 OK\r\nconnection: close\r\n{length}\r\n{COMPLETION}")),
            true,
            4,
        ),
        (
            "HTTP/1.0",
            bytes(&format!("HTTP/1.0 200 OK\r\n{length}\r\n{COMPLETION}")),
            true,
            4,
        ),
        (
            // Both framings: read by Transfer-Encoding, but the connection is not trusted again
            // even though the upstream keeps it open.
            "Transfer-Encoding beside Content-Length",
            [
                bytes("HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n"),
                chunked_body,
            ]
            .concat(),
            false,
            4,
        ),
    ];
    for (name, wire, close, expected_connections) in cases {
        let (addr, accepted) = upstream(move || Answer {
            pieces: vec![wire.clone()],
            close,
        })
        .await;
        let dario = Dario::start(config_for_raw(addr)).await;
        for _ in 0..4 {
            let (status, text) = post(&dario, "/v1/chat/completions", CHAT).await;
            assert_eq!((status, text.as_str()), (200, COMPLETION), "{name}");
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            expected_connections,
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_upstream_that_answers_before_taking_a_large_body_is_heard() {
    // The upstream reads the head only, answers 413 and closes with most of the body unread
    // (its kernel resets the connection): dario's write fails, and the 413 is still the answer.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::io::AsyncReadExt::read(&mut s, &mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let body =
                    r#"{"error":{"message":"request too large","type":"invalid_request_error"}}"#;
                let answer = format!(
                    "HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.flush().await;
                drop(s);
            });
        }
    });
    let dario = Dario::start(config_for_raw(addr)).await;
    let big = format!(
        r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(16 * 1024 * 1024)
    );
    let (status, text) = post(&dario, "/v1/chat/completions", &big).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("request too large"), "{text}");
}

#[tokio::test]
async fn a_response_with_bytes_after_its_body_does_not_reuse_the_connection() {
    // Five bytes more than content-length says: the connection's framing is lost.
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
        COMPLETION.len()
    );
    let (addr, accepted) = upstream(move || Answer {
        pieces: vec![bytes(&format!("{head}{COMPLETION}extra"))],
        close: false,
    })
    .await;
    let dario = Dario::start(config_for_raw(addr)).await;
    for _ in 0..2 {
        let (status, text) = post(&dario, "/v1/chat/completions", CHAT).await;
        assert_eq!((status, text.as_str()), (200, COMPLETION));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn streamed_chunks_reach_the_client_before_the_upstream_has_finished() {
    // The upstream writes one event, then waits until the client has seen it before finishing.
    let seen = Arc::new(tokio::sync::Notify::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let notified = seen.clone();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        assert!(read_request(&mut s).await);
        let event = r#"data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"first"}}]}"#;
        let first = format!("{event}\n\n");
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        let chunk = format!("{:x}\r\n{first}\r\n", first.len());
        s.write_all(format!("{head}{chunk}").as_bytes())
            .await
            .unwrap();
        notified.notified().await;
        let last = "data: [DONE]\n\n";
        s.write_all(format!("{:x}\r\n{last}\r\n0\r\n\r\n", last.len()).as_bytes())
            .await
            .unwrap();
    });
    let dario = Dario::start(config_for_raw(addr)).await;
    let response = client()
        .post(dario.url("/v1/chat/completions"))
        .body(CHAT_STREAM)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("\"first\"") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("the first event arrives while the upstream holds the rest back")
            .expect("the body has not ended")
            .unwrap();
        got.extend_from_slice(&chunk);
    }
    seen.notify_one();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), body.next())
        .await
        .expect("the stream ends")
    {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert!(String::from_utf8_lossy(&got).ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn malformed_responses_are_answered_with_an_error_that_says_so() {
    let huge_header = format!("x-big: {}\r\n", "v".repeat(70 * 1024));
    let cases: Vec<(&str, String)> = vec![
        ("no status line", "garbage\r\n\r\n".into()),
        (
            "a status that is not a number",
            "HTTP/1.1 2xx OK\r\n\r\n".into(),
        ),
        (
            "a 70 KiB head",
            format!("HTTP/1.1 200 OK\r\n{huge_header}\r\n"),
        ),
        (
            "conflicting lengths",
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello".into(),
        ),
        (
            "an upgrade nobody asked for",
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n".into(),
        ),
    ];
    for (name, wire) in cases {
        let (addr, _) = upstream(move || Answer {
            pieces: vec![bytes(&wire)],
            close: true,
        })
        .await;
        let dario = Dario::start(config_for_raw(addr)).await;
        let (status, text) = post(&dario, "/v1/chat/completions", CHAT).await;
        assert_eq!(status, 502, "{name}: {text}");
        let j: serde_json::Value = serde_json::from_str(&text).unwrap();
        let message = j["error"]["message"].as_str().unwrap();
        assert!(message.contains("malformed response"), "{name}: {message}");
    }
}

#[tokio::test]
async fn broken_chunked_framing_fails_the_response_instead_of_ending_it() {
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    // A correct first chunk, then a size line that is not hexadecimal.
    let wire = format!("{head}{:x}\r\n{}\r\nzz\r\n", 40, &COMPLETION[..40]);
    let (addr, _) = upstream(move || Answer {
        pieces: vec![bytes(&wire)],
        close: false,
    })
    .await;
    let dario = Dario::start(config_for_raw(addr)).await;
    // Translated: the whole body is needed first, so the client gets a 502 saying why.
    let (status, text) = post(&dario, "/v1/messages", TRANSLATED).await;
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("invalid chunked framing"), "{text}");
    // Passthrough: the response is cut (before or after its head went out), never completed.
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        client()
            .post(dario.url("/v1/chat/completions"))
            .body(CHAT)
            .send()
            .await?
            .bytes()
            .await
    })
    .await
    .expect("the response ends");
    if let Ok(body) = outcome {
        panic!("a cut body passed as whole: {body:?}");
    }
}
