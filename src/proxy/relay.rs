//! Relay: carries an upstream response body to the client as it arrives — bytes untouched on
//! passthrough — with an idle deadline, an error event when the upstream breaks mid-stream, and
//! an end hook (for accounting) that runs however the stream ends, client disconnect included.
//!
//! Dropping the relayed body (the client went away) drops the upstream response, which closes
//! the upstream connection at once. Must not: buffer a stream.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Incoming;

use super::body::{Body, BoxError};
use super::client::{next_chunk, UpstreamResponse};
use crate::protocol::{Protocol, Usage};

/// Turns upstream stream bytes into client stream bytes (a per-stream translation state).
pub trait StreamTranslator: Send {
    /// Appends the client events for every complete upstream event in `chunk`.
    fn feed(&mut self, chunk: &[u8], out: &mut BytesMut);
    /// The upstream ended: close the stream properly, or report it incomplete.
    fn finish(&mut self, out: &mut BytesMut);
    /// The upstream broke or went idle: emit an error event.
    fn fail(&mut self, message: &str, out: &mut BytesMut);
    fn usage(&self) -> Usage;
    /// The client stream ended with an error event instead of its proper end.
    fn failed(&self) -> bool;
}

/// Watches passthrough bytes for token usage without changing them.
pub trait UsageWatcher: Send {
    fn feed(&mut self, chunk: &[u8]);
    fn usage(&self) -> Usage;
    /// Whether the body reached its protocol's proper end (`None`: cannot tell).
    fn completed(&self) -> Option<bool>;
}

/// How the upstream bytes become client bytes.
pub enum RelayMode {
    /// Same protocol: bytes go through unchanged. `sse` says whether the body is an event stream
    /// (then an upstream failure is reported with an error event in the protocol's own format).
    Passthrough {
        sse: bool,
        watcher: Option<Box<dyn UsageWatcher>>,
    },
    /// Different protocols: every upstream event is translated as it arrives.
    Translate(Box<dyn StreamTranslator>),
}

/// How a relayed body ended.
#[derive(Debug, Clone, Default)]
pub struct EndInfo {
    /// The upstream body ended normally.
    pub completed: bool,
    /// The upstream failed or went idle mid-body (message, already scrubbed).
    pub error: Option<String>,
    /// The client went away before the end.
    pub client_gone: bool,
    pub bytes: u64,
    pub usage: Usage,
    /// When the first byte reached the client.
    pub first_byte: Option<std::time::Instant>,
}

/// Runs once when the relay ends, whichever way — also when it is dropped unfired (the client
/// went away while the response was being prepared).
pub struct EndHook(Option<Box<dyn FnOnce(EndInfo) + Send>>);

impl Drop for EndHook {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(EndInfo {
                client_gone: true,
                ..EndInfo::default()
            });
        }
    }
}

impl EndHook {
    pub fn new(f: impl FnOnce(EndInfo) + Send + 'static) -> Self {
        EndHook(Some(Box::new(f)))
    }

    /// Runs the hook now (for responses that are complete before they are sent).
    pub fn fire(mut self, info: EndInfo) {
        if let Some(f) = self.0.take() {
            f(info);
        }
    }
}

struct RelayState {
    upstream: Incoming,
    mode: RelayMode,
    client_protocol: Protocol,
    idle: Duration,
    /// One idle timer for the whole body, re-armed only when it fires early: a fresh
    /// `timeout` per chunk costs a timer-wheel insert and removal for every event.
    idle_timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    finished: bool,
    /// The last chunk sent ended at an event boundary (for a clean error event after it).
    at_boundary: bool,
    info: EndInfo,
    hook: EndHook,
}

impl RelayState {
    /// The next upstream chunk, or `Err` when none arrives within `idle` from now (what
    /// `tokio::time::timeout(idle, upstream.next())` does, without a timer per chunk).
    async fn next_within_idle(&mut self) -> Result<Option<Result<Bytes, hyper::Error>>, ()> {
        use http_body::Body as _;
        use std::future::Future;
        use std::task::Poll;
        let due = tokio::time::Instant::now() + self.idle;
        std::future::poll_fn(|cx| {
            // Data frames only; trailers (none in these APIs) are skipped.
            while let Poll::Ready(item) = std::pin::Pin::new(&mut self.upstream).poll_frame(cx) {
                match item {
                    None => return Poll::Ready(Ok(None)),
                    Some(Err(e)) => return Poll::Ready(Ok(Some(Err(e)))),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Poll::Ready(Ok(Some(Ok(data))));
                        }
                    }
                }
            }
            loop {
                match self.idle_timer.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) if tokio::time::Instant::now() >= due => {
                        return Poll::Ready(Err(()))
                    }
                    // Armed for an earlier wait: move it to this wait's deadline.
                    Poll::Ready(()) => self.idle_timer.as_mut().reset(due),
                }
            }
        })
        .await
    }
}

impl Drop for RelayState {
    fn drop(&mut self) {
        if let Some(hook) = self.hook.0.take() {
            let mut info = std::mem::take(&mut self.info);
            info.client_gone = !self.finished;
            hook(info);
        }
    }
}

/// An SSE error event in the client's protocol.
pub fn sse_error_event(protocol: Protocol, kind: &str, message: &str) -> Bytes {
    let text = match protocol {
        Protocol::Anthropic => format!(
            "event: error\ndata: {}\n\n",
            serde_json::json!({"type": "error", "error": {"type": kind, "message": message}})
        ),
        Protocol::OpenAi => format!(
            "data: {}\n\n",
            serde_json::json!({"error": {"message": message, "type": "server_error", "param": null, "code": kind}})
        ),
    };
    Bytes::from(text)
}

/// Relays `upstream`'s body to the client.
pub fn relay(
    upstream: UpstreamResponse,
    mode: RelayMode,
    client_protocol: Protocol,
    idle: Duration,
    hook: EndHook,
) -> Body {
    let state = RelayState {
        upstream: upstream.into_body(),
        mode,
        client_protocol,
        idle,
        idle_timer: Box::pin(tokio::time::sleep(idle)),
        finished: false,
        at_boundary: true,
        info: EndInfo::default(),
        hook,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if st.finished {
                return None;
            }
            let failure = match st.next_within_idle().await {
                Ok(Some(Ok(chunk))) => {
                    st.info.bytes += chunk.len() as u64;
                    let out = match &mut st.mode {
                        RelayMode::Passthrough { watcher, .. } => {
                            if let Some(w) = watcher {
                                w.feed(&chunk);
                            }
                            st.at_boundary = chunk.ends_with(b"\n\n")
                                || chunk.ends_with(b"\r\n\r\n")
                                || chunk.ends_with(b"\r\r");
                            chunk
                        }
                        RelayMode::Translate(t) => {
                            let mut out = BytesMut::new();
                            t.feed(&chunk, &mut out);
                            if out.is_empty() {
                                continue; // nothing complete yet: read more
                            }
                            out.freeze()
                        }
                    };
                    st.info
                        .first_byte
                        .get_or_insert_with(std::time::Instant::now);
                    return Some((Ok::<_, BoxError>(Frame::data(out)), st));
                }
                Ok(None) => {
                    st.finished = true;
                    st.info.completed = true;
                    let tail = match &mut st.mode {
                        RelayMode::Translate(t) => {
                            let mut out = BytesMut::new();
                            t.finish(&mut out);
                            st.info.usage = t.usage();
                            if t.failed() {
                                st.info.completed = false;
                                st.info.error = Some(
                                    "upstream stream ended with an error or incomplete".into(),
                                );
                            }
                            out.freeze()
                        }
                        RelayMode::Passthrough { watcher, .. } => {
                            if let Some(w) = watcher {
                                st.info.usage = w.usage();
                                if w.completed() == Some(false) {
                                    st.info.completed = false;
                                    st.info.error =
                                        Some("upstream stream ended before its final event".into());
                                }
                            }
                            Bytes::new()
                        }
                    };
                    if tail.is_empty() {
                        drop(st); // runs the end hook now
                        return None;
                    }
                    return Some((Ok(Frame::data(tail)), st));
                }
                Ok(Some(Err(e))) => format!(
                    "upstream connection failed mid-response: {}",
                    super::scrub::scrub(&e.to_string())
                ),
                Err(_) => format!(
                    "upstream sent nothing for {} s; the stream was ended by dario",
                    st.idle.as_secs()
                ),
            };
            st.finished = true;
            st.info.error = Some(failure.clone());
            let item = match &mut st.mode {
                RelayMode::Passthrough { sse: true, watcher } => {
                    if let Some(w) = watcher {
                        st.info.usage = w.usage();
                    }
                    let event = sse_error_event(st.client_protocol, "api_error", &failure);
                    if st.at_boundary {
                        Ok(Frame::data(event))
                    } else {
                        // Close the half-sent event first so the error event parses on its own.
                        let mut out = BytesMut::with_capacity(event.len() + 2);
                        out.extend_from_slice(b"\n\n");
                        out.extend_from_slice(&event);
                        Ok(Frame::data(out.freeze()))
                    }
                }
                RelayMode::Passthrough { sse: false, .. } => Err(failure.into()),
                RelayMode::Translate(t) => {
                    let mut out = BytesMut::new();
                    t.fail(&failure, &mut out);
                    st.info.usage = t.usage();
                    Ok(Frame::data(out.freeze()))
                }
            };
            return Some((item, st));
        }
    });
    StreamBody::new(stream).boxed_unsync()
}

/// Reads an upstream error body, capped at 64 KiB (error bodies are small; a larger one is cut)
/// and bounded in time by `idle` between chunks (a stalled body ends where it stalled).
pub async fn read_error_body(upstream: UpstreamResponse, idle: Duration) -> Bytes {
    const CAP: usize = 64 * 1024;
    let mut body = upstream.into_body();
    let mut buf = Vec::new();
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout(idle, next_chunk(&mut body)).await {
        let room = CAP - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= CAP {
            break;
        }
    }
    Bytes::from(buf)
}

/// Reads a whole (non-streamed) upstream body for translation, with the idle deadline between
/// chunks and a 64 MiB bound.
pub async fn read_body(upstream: UpstreamResponse, idle: Duration) -> Result<Bytes, String> {
    const CAP: usize = 64 * 1024 * 1024;
    let mut body = upstream.into_body();
    let mut buf = BytesMut::new();
    loop {
        match tokio::time::timeout(idle, next_chunk(&mut body)).await {
            Err(_) => return Err(format!("upstream sent nothing for {} s", idle.as_secs())),
            Ok(Some(Err(e))) => {
                return Err(format!(
                    "upstream connection failed mid-response: {}",
                    super::scrub::scrub(&e.to_string())
                ))
            }
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Ok(chunk))) => {
                if buf.len() + chunk.len() > CAP {
                    return Err("upstream response exceeds 64 MiB".to_string());
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}
