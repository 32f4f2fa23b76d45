//! Relay: carries an upstream response body to the client as it arrives — bytes untouched on
//! passthrough — with an idle deadline, an error event when the upstream breaks mid-stream, and
//! an end hook (for accounting) that runs however the stream ends, client disconnect included.
//!
//! Dropping the relayed body (the client went away) drops the upstream response, which closes
//! the upstream connection at once. Must not: buffer a stream.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{BoxStream, StreamExt};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};

use super::body::{Body, BoxError};
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
}

/// Watches passthrough bytes for token usage without changing them.
pub trait UsageWatcher: Send {
    fn feed(&mut self, chunk: &[u8]);
    fn usage(&self) -> Usage;
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

/// Runs once when the relay ends, whichever way.
pub struct EndHook(Option<Box<dyn FnOnce(EndInfo) + Send>>);

impl EndHook {
    pub fn new(f: impl FnOnce(EndInfo) + Send + 'static) -> Self {
        EndHook(Some(Box::new(f)))
    }
}

struct RelayState {
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    mode: RelayMode,
    client_protocol: Protocol,
    idle: Duration,
    finished: bool,
    info: EndInfo,
    hook: EndHook,
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
    upstream: reqwest::Response,
    mode: RelayMode,
    client_protocol: Protocol,
    idle: Duration,
    hook: EndHook,
) -> Body {
    let state = RelayState {
        upstream: upstream.bytes_stream().boxed(),
        mode,
        client_protocol,
        idle,
        finished: false,
        info: EndInfo::default(),
        hook,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if st.finished {
                return None;
            }
            let failure = match tokio::time::timeout(st.idle, st.upstream.next()).await {
                Ok(Some(Ok(chunk))) => {
                    st.info.bytes += chunk.len() as u64;
                    let out = match &mut st.mode {
                        RelayMode::Passthrough { watcher, .. } => {
                            if let Some(w) = watcher {
                                w.feed(&chunk);
                            }
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
                            out.freeze()
                        }
                        RelayMode::Passthrough { watcher, .. } => {
                            if let Some(w) = watcher {
                                st.info.usage = w.usage();
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
                    Ok(Frame::data(sse_error_event(
                        st.client_protocol,
                        "api_error",
                        &failure,
                    )))
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

/// Reads an upstream error body, capped at 64 KiB (error bodies are small; a larger one is cut).
pub async fn read_error_body(mut upstream: reqwest::Response) -> Bytes {
    const CAP: usize = 64 * 1024;
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = upstream.chunk().await {
        let room = CAP - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= CAP {
            break;
        }
    }
    Bytes::from(buf)
}
