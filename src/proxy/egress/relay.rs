//! Relay: carries an upstream response body to the client as it arrives — bytes untouched on
//! passthrough but for configured secrets, masked at the same length (`redact`) — with an idle
//! deadline, the protocol's error event when the upstream breaks mid-stream or ends an event
//! stream before its final event, and an end hook (for accounting) that runs however the stream
//! ends, client disconnect included.
//!
//! Dropping the relayed body (the client went away) drops the upstream response, which closes
//! the upstream connection at once. Must not: buffer a stream (the secret scrubber holds back at
//! most 7 bytes; the usage tap skips events over 64 KiB).

use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body as _, Frame};
use http_body_util::BodyExt;

use crate::protocol::{Protocol, Usage};
use crate::proxy::body::{Body, BoxError};
use crate::proxy::upstream::client::{UpstreamBody, UpstreamResponse};
use crate::redact::StreamScrubber;

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
    /// The client stream is over (closed or errored): nothing more will be written.
    fn ended(&self) -> bool;
}

/// Watches passthrough bytes for token usage without changing them.
pub trait UsageWatcher: Send {
    /// Sees each chunk as it is relayed (a cheap reference-counted handle, not a copy).
    fn feed(&mut self, chunk: &Bytes);
    fn usage(&self) -> Usage;
    /// Whether the body reached its protocol's proper end (`None`: cannot tell).
    fn completed(&self) -> Option<bool>;
    /// Whether the upstream ended the stream with its own error event.
    fn errored(&self) -> bool {
        false
    }
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

/// The relayed body: polled by the server as the client's connection can take more, it polls
/// the upstream body in turn — nothing is read ahead of the client.
struct RelayBody {
    upstream: UpstreamBody,
    mode: RelayMode,
    client_protocol: Protocol,
    idle: Duration,
    /// One idle timer for the whole body, re-armed only when it fires early: a fresh
    /// `timeout` per chunk costs a timer-wheel insert and removal for every event.
    idle_timer: Pin<Box<tokio::time::Sleep>>,
    /// When the current wait for an upstream chunk gives up (set when a wait starts).
    due: Option<tokio::time::Instant>,
    finished: bool,
    /// The last chunk sent ended at an event boundary (for a clean error event after it).
    at_boundary: bool,
    info: EndInfo,
    /// Masks configured secrets in everything sent to the client (same length, at most 7
    /// bytes held back at a chunk's end).
    scrub: StreamScrubber,
    hook: EndHook,
}

/// Appends `more` after `first` (either may be absent).
fn join(first: Option<Bytes>, more: Option<Bytes>) -> Option<Bytes> {
    match (first, more) {
        (None, b) | (b, None) => b,
        (Some(a), Some(b)) => {
            let mut out = BytesMut::with_capacity(a.len() + b.len());
            out.extend_from_slice(&a);
            out.extend_from_slice(&b);
            Some(out.freeze())
        }
    }
}

/// Output room beyond an upstream chunk's own length when it is translated (a translated event
/// carries a little more framing than the upstream's, e.g. `event:` lines and block indexes).
const TRANSLATED_EXTRA: usize = 256;

/// What one poll of the upstream produced.
enum Upstream {
    Chunk(Bytes),
    End,
    Failed(String),
}

impl RelayBody {
    /// A passthrough JSON body whose announced length has been relayed in full. (HTTP/2's
    /// `is_end_stream` waits for the END_STREAM frame, which may come after the last byte; the
    /// remaining length is counted down per chunk for both HTTP versions.)
    fn known_length_done(&self) -> bool {
        matches!(self.mode, RelayMode::Passthrough { sse: false, .. })
            && (self.upstream.is_end_stream() || self.upstream.size_hint().exact() == Some(0))
    }

    /// The next upstream data chunk, or the end, or a failure (broken connection, or nothing
    /// within `idle` of the wait's start).
    fn poll_upstream(&mut self, cx: &mut Context<'_>) -> Poll<Upstream> {
        use std::future::Future;
        let due = *self
            .due
            .get_or_insert_with(|| tokio::time::Instant::now() + self.idle);
        // Data frames only; trailers (none in these APIs) are skipped.
        while let Poll::Ready(item) = Pin::new(&mut self.upstream).poll_frame(cx) {
            self.due = None;
            match item {
                None => return Poll::Ready(Upstream::End),
                Some(Err(e)) => {
                    return Poll::Ready(Upstream::Failed(format!(
                        "upstream connection failed mid-response: {}",
                        crate::redact::scrub_key_shapes(&e.to_string())
                    )))
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Upstream::Chunk(data));
                    }
                    self.due = Some(due);
                }
            }
        }
        loop {
            match self.idle_timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if tokio::time::Instant::now() >= due => {
                    self.due = None;
                    return Poll::Ready(Upstream::Failed(format!(
                        "upstream sent nothing for {} s; the stream was ended by dario",
                        self.idle.as_secs()
                    )));
                }
                // Armed for an earlier wait: move it to this wait's deadline.
                Poll::Ready(()) => self.idle_timer.as_mut().reset(due),
            }
        }
    }

    /// The upstream ended normally: the translator's closing events, if any. The end hook runs
    /// when the body is dropped, right after.
    fn end(&mut self) -> Option<Bytes> {
        let held = self.scrub.flush();
        let tail = self.end_events();
        join(held, tail)
    }

    fn end_events(&mut self) -> Option<Bytes> {
        self.finished = true;
        self.info.completed = true;
        match &mut self.mode {
            RelayMode::Translate(t) => {
                let mut out = BytesMut::new();
                t.finish(&mut out);
                self.info.usage = t.usage();
                if t.failed() {
                    self.info.completed = false;
                    self.info.error =
                        Some("upstream stream ended with an error or incomplete".into());
                }
                (!out.is_empty())
                    .then(|| self.scrub.feed(out.freeze()))
                    .and_then(|b| join(Some(b), self.scrub.flush()))
            }
            RelayMode::Passthrough { watcher, sse } => {
                let Some(w) = watcher else { return None };
                self.info.usage = w.usage();
                if w.completed() != Some(false) {
                    return None;
                }
                let message =
                    "upstream stream ended before its final event; the response is incomplete";
                self.info.completed = false;
                self.info.error = Some(message.into());
                // An event stream cut before `message_stop` / `[DONE]` must not look like a
                // short success: the client gets the protocol's error event (unless the
                // upstream's own error event already ended it).
                (*sse && !w.errored()).then(|| self.error_event(message))
            }
        }
    }

    /// An SSE error event in the client's protocol, after a blank line closing a half-sent
    /// event when the last chunk did not end at an event boundary.
    fn error_event(&self, message: &str) -> Bytes {
        let event = sse_error_event(self.client_protocol, "api_error", message);
        if self.at_boundary {
            return event;
        }
        let mut out = BytesMut::with_capacity(event.len() + 2);
        out.extend_from_slice(b"\n\n");
        out.extend_from_slice(&event);
        out.freeze()
    }

    /// The upstream broke or went idle: an error event in the client's protocol (a plain JSON
    /// body can only be cut, which the client sees as a broken response).
    fn fail(&mut self, failure: String) -> Result<Frame<Bytes>, BoxError> {
        self.finished = true;
        self.info.error = Some(failure.clone());
        let held = self.scrub.flush();
        match &mut self.mode {
            RelayMode::Passthrough { sse: true, watcher } => {
                if let Some(w) = watcher {
                    self.info.usage = w.usage();
                }
                let event = self.error_event(&failure);
                Ok(Frame::data(join(held, Some(event)).unwrap_or_default()))
            }
            RelayMode::Passthrough { sse: false, .. } => Err(failure.into()),
            RelayMode::Translate(t) => {
                let mut out = BytesMut::new();
                t.fail(&failure, &mut out);
                self.info.usage = t.usage();
                let event = self.scrub.feed(out.freeze());
                Ok(Frame::data(
                    join(join(held, Some(event)), self.scrub.flush()).unwrap_or_default(),
                ))
            }
        }
    }
}

impl http_body::Body for RelayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            let chunk = match ready!(this.poll_upstream(cx)) {
                Upstream::Chunk(chunk) => chunk,
                Upstream::End => return Poll::Ready(this.end().map(|tail| Ok(Frame::data(tail)))),
                Upstream::Failed(failure) => return Poll::Ready(Some(this.fail(failure))),
            };
            this.info.bytes += chunk.len() as u64;
            let out = match &mut this.mode {
                RelayMode::Passthrough { watcher, .. } => {
                    if let Some(w) = watcher {
                        w.feed(&chunk);
                    }
                    this.at_boundary = chunk.ends_with(b"\n\n")
                        || chunk.ends_with(b"\r\n\r\n")
                        || chunk.ends_with(b"\r\r");
                    this.scrub.feed(chunk)
                }
                RelayMode::Translate(t) => {
                    // Room for what the chunk's events become (about their size): grown from
                    // empty, the buffer was reallocated five or six times per event.
                    let mut out = BytesMut::with_capacity(chunk.len() + TRANSLATED_EXTRA);
                    t.feed(&chunk, &mut out);
                    if t.ended() && t.failed() {
                        // The translator ended the client stream with an error event (an
                        // oversized or malformed upstream event): stop reading the upstream,
                        // whatever it still sends. (After a proper end the upstream's own end
                        // is still read, so its connection can be reused.)
                        this.finished = true;
                        this.info.usage = t.usage();
                        this.info.error =
                            Some("upstream stream ended with an error or incomplete".into());
                    }
                    if out.is_empty() {
                        continue; // nothing complete yet: read more
                    }
                    this.scrub.feed(out.freeze())
                }
            };
            this.info
                .first_byte
                .get_or_insert_with(std::time::Instant::now);
            // A passthrough body of known length is over with its last byte: the server stops
            // polling once it has written that many, so account for the end now.
            let out = if this.known_length_done() {
                // Only bytes the scrubber held back can follow (no events on a JSON body).
                let held = this.end();
                join(Some(out), held).unwrap_or_default()
            } else if out.is_empty() {
                continue; // all of it held back by the scrubber: read more
            } else {
                out
            };
            return Poll::Ready(Some(Ok(Frame::data(out))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    /// Passthrough bodies keep the upstream's length (the client gets `content-length`, as from
    /// the provider); translated ones have no known length.
    fn size_hint(&self) -> http_body::SizeHint {
        // Not for event streams: an error event after a broken stream would overrun the length.
        match (&self.mode, self.finished) {
            (RelayMode::Passthrough { sse: false, .. }, false) => self.upstream.size_hint(),
            _ => http_body::SizeHint::default(),
        }
    }
}

impl Drop for RelayBody {
    fn drop(&mut self) {
        // The server stops polling a known-length body once it has written that many bytes
        // (possibly before the upstream's end-of-stream arrived, or at once for length 0):
        // that is a complete response, not a client that left.
        if !self.finished && self.known_length_done() {
            self.end();
        }
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
        Protocol::Responses => format!(
            "event: error\ndata: {}\n\n",
            serde_json::json!({"type": "error", "code": kind, "message": message, "param": null, "sequence_number": 0})
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
    scrub: StreamScrubber,
    hook: EndHook,
) -> Body {
    RelayBody {
        upstream: upstream.into_body(),
        mode,
        client_protocol,
        idle,
        idle_timer: Box::pin(tokio::time::sleep(idle)),
        due: None,
        finished: false,
        at_boundary: true,
        info: EndInfo::default(),
        scrub,
        hook,
    }
    .boxed_unsync()
}
