//! The benchmark's upstream: a lean stand-in that answers `/v1/messages` in the Anthropic format
//! and `…/chat/completions` in the OpenAI format, with the stand-in's canned content
//! (`tests/it/support/standin.rs`), precomputed once.
//!
//! Unlike the test stand-in it records nothing and parses nothing (a benchmark sends millions of
//! requests): the reply is chosen by the path and by a byte search for `"stream":true`. A
//! streaming reply sends 64 text deltas paced `pace` apart; each delta carries `t=<unix ns>`, the
//! time it was written, so the client measures delivery delay per event. Must not: allocate per
//! request beyond what hyper needs, or block the runtime.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;

use crate::standin;

type BoxBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

/// How the upstream streams.
#[derive(Clone, Copy, Debug)]
pub struct StreamShape {
    pub events: usize,
    pub pace: Duration,
}

struct Canned {
    anthropic_json: Bytes,
    openai_json: Bytes,
    /// Everything before the first delta (Anthropic: message_start + content_block_start).
    anthropic_head: Bytes,
    anthropic_tail: Bytes,
    openai_head: Bytes,
    openai_tail: Bytes,
    shape: StreamShape,
}

fn canned(shape: StreamShape) -> Canned {
    let c = standin::canned_content("text");
    let model = "bench-model";
    let a = standin::anthropic_sse(&c, model);
    let o = standin::openai_sse(&c, model, false);
    Canned {
        anthropic_json: Bytes::from(standin::anthropic_json(&c, model).to_string()),
        openai_json: Bytes::from(standin::openai_json(&c, model).to_string()),
        // message_start, ping, content_block_start
        anthropic_head: Bytes::from(a[..3].concat()),
        // content_block_stop, message_delta, message_stop
        anthropic_tail: Bytes::from(a[a.len() - 3..].concat()),
        // role chunk
        openai_head: Bytes::from(o[0].clone()),
        // finish chunk, [DONE]
        openai_tail: Bytes::from(o[o.len() - 2..].concat()),
        shape,
    }
}

fn max_tokens(body: &[u8]) -> Option<usize> {
    let i = memchr::memmem::find(body, b"\"max_tokens\":")? + 13;
    let digits = body[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&body[i..i + digits]).ok()?.parse().ok()
}

pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn delta(anthropic: bool, i: usize) -> Bytes {
    let t = unix_nanos();
    Bytes::from(if anthropic {
        format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"ev {i} t={t} \"}}}}\n\n"
        )
    } else {
        format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench-model\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"ev {i} t={t} \"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        )
    })
}

async fn handle(c: Arc<Canned>, req: Request<Incoming>) -> Result<Response<BoxBody>, Infallible> {
    let anthropic = req.uri().path().ends_with("/messages");
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let stream = memchr::memmem::find(&body, b"\"stream\":true").is_some();
    // A request asking for fewer tokens than the stream has events gets that many events.
    let events = max_tokens(&body).map_or(c.shape.events, |m| m.min(c.shape.events));
    let mut resp = if !stream {
        let b = if anthropic {
            c.anthropic_json.clone()
        } else {
            c.openai_json.clone()
        };
        let mut r = Response::new(
            http_body_util::Full::new(b)
                .map_err(|n| match n {})
                .boxed_unsync(),
        );
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    } else {
        let start = tokio::time::Instant::now();
        let shape = StreamShape {
            events,
            pace: c.shape.pace,
        };
        let c2 = c.clone();
        // state: 0 = head, 1..=events = deltas, events+1 = tail, then end.
        let s = futures_util::stream::unfold(0usize, move |k| {
            let c = c2.clone();
            async move {
                let n = shape.events;
                let bytes = if k == 0 {
                    if anthropic {
                        c.anthropic_head.clone()
                    } else {
                        c.openai_head.clone()
                    }
                } else if k <= n {
                    let i = k - 1;
                    if i > 0 {
                        tokio::time::sleep_until(start + shape.pace * i as u32).await;
                    }
                    delta(anthropic, i)
                } else if k == n + 1 {
                    if anthropic {
                        c.anthropic_tail.clone()
                    } else {
                        c.openai_tail.clone()
                    }
                } else {
                    return None;
                };
                Some((Ok::<_, Infallible>(Frame::data(bytes)), k + 1))
            }
        });
        let mut r = Response::new(StreamBody::new(s).boxed_unsync());
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        r
    };
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    if anthropic {
        h.insert("request-id", HeaderValue::from_static("req_bench_1"));
        h.insert(
            "anthropic-ratelimit-requests-remaining",
            HeaderValue::from_static("999"),
        );
    } else {
        h.insert("x-request-id", HeaderValue::from_static("bench-req-1"));
        h.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_static("999"),
        );
    }
    Ok(resp)
}

/// Serves forever on `addr` (a large listen backlog: the stream test connects in bursts).
pub async fn serve(addr: SocketAddr, shape: StreamShape, ready: impl FnOnce(SocketAddr)) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("reuseaddr");
    socket.bind(addr).expect("bind upstream");
    let listener = socket.listen(8192).expect("listen");
    ready(listener.local_addr().expect("local addr"));
    let c = Arc::new(canned(shape));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let c = c.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(c.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
