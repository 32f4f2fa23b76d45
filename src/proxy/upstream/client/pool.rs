//! Pool: the upstream connections kept open for reuse, per worker thread and per upstream host,
//! and the response body that hands its HTTP/1 connection back when it has been read to the end.
//!
//! Owns: idle connections (HTTP/1: one request at a time, kept newest-first; HTTP/2: one shared,
//! multiplexed connection per host) and when they expire. Must not: open connections (see
//! `mod.rs`), or put back a connection whose response was not read to the end — such a
//! connection is dropped, which closes it.
//!
//! Why not hyper-util's pool: it hashes every request's scheme and authority with SipHash (twice),
//! keeps waiters, and spawns a task per request to notice when the connection is idle again;
//! measured, that was ~8% of dario's instructions per proxied request. Here a request touches
//! one uncontended lock, one short string hash and one vector.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use parking_lot::Mutex;

/// How long an idle connection is kept (upstreams close theirs after ~60–120 s).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle HTTP/1 connections kept per upstream host; beyond that the oldest is closed.
pub const MAX_IDLE_PER_HOST: usize = 256;

pub type H1Sender = http1::SendRequest<Full<Bytes>>;
pub type H2Sender = http2::SendRequest<Full<Bytes>>;

/// A connection ready to carry a request.
pub enum Conn {
    H1(H1Sender),
    H2(H2Sender),
}

/// One worker's idle connections, by scheme and authority (`host:port` as configured).
#[derive(Default)]
pub struct Pool {
    http: HashMap<Box<str>, Host>,
    https: HashMap<Box<str>, Host>,
}

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Default)]
struct Host {
    /// Oldest first; taken from the back (the most recently used connection is the one least
    /// likely to have been closed by the upstream).
    idle: VecDeque<Idle>,
    /// The host's shared HTTP/2 connection and when a request last used it.
    h2: Option<(H2Sender, Instant)>,
}

struct Idle {
    sender: H1Sender,
    since: Instant,
}

/// A worker's pool behind its lock (uncontended: one worker thread uses it, except in a
/// multi-threaded runtime such as the tests', where all threads share worker 0's). Padded to
/// lines of its own: the workers' pools are allocated one after the other, and unpadded two of
/// them (lock, maps and the `Arc`'s count, written on every request) shared a cache line.
pub type SharedPool = Arc<crate::worker::Padded<Mutex<Pool>>>;

impl Pool {
    fn hosts(&mut self, https: bool) -> &mut HashMap<Box<str>, Host> {
        if https {
            &mut self.https
        } else {
            &mut self.http
        }
    }

    fn host(&mut self, https: bool, authority: &str) -> Option<&mut Host> {
        self.hosts(https).get_mut(authority)
    }

    fn host_or_insert(&mut self, https: bool, authority: &str) -> &mut Host {
        let map = self.hosts(https);
        if !map.contains_key(authority) {
            map.insert(authority.into(), Host::default());
        }
        map.get_mut(authority).expect("inserted above")
    }

    /// A pooled connection to the host, if one is open and free: the host's HTTP/2 connection,
    /// or its most recently used idle HTTP/1 one. Closed and expired connections are dropped
    /// on the way.
    pub fn checkout(&mut self, https: bool, authority: &str, now: Instant) -> Option<Conn> {
        let host = self.host(https, authority)?;
        if let Some((h2, used)) = &mut host.h2 {
            // An HTTP/2 connection unused for the idle timeout is let go like an HTTP/1 one
            // (a middlebox may have dropped it silently; it closes once its streams are done).
            if !h2.is_closed() && now.saturating_duration_since(*used) < IDLE_TIMEOUT {
                *used = now;
                return Some(Conn::H2(h2.clone()));
            }
            host.h2 = None;
        }
        host.expire(now);
        let mut not_yet_ready = Vec::new();
        let mut found = None;
        while let Some(idle) = host.idle.pop_back() {
            if idle.sender.is_closed() {
                continue;
            }
            if idle.sender.is_ready() {
                found = Some(Conn::H1(idle.sender));
                break;
            }
            // Its connection task has not yet noticed the end of the last response (a
            // multi-threaded runtime); leave it for the next request.
            not_yet_ready.push(idle);
        }
        // Back in their original order (oldest first), so that expiry keeps working.
        host.idle.extend(not_yet_ready.into_iter().rev());
        found
    }

    /// Keeps an HTTP/1 connection whose last response was read to the end.
    fn put_idle(&mut self, https: bool, authority: &str, sender: H1Sender, now: Instant) {
        let host = self.host_or_insert(https, authority);
        host.expire(now);
        if host.idle.len() >= MAX_IDLE_PER_HOST {
            host.idle.pop_front();
        }
        host.idle.push_back(Idle { sender, since: now });
    }

    /// Keeps a new HTTP/2 connection as the host's shared one (unless one is already open: then
    /// the new one serves only its first request and closes when that is done).
    pub fn put_h2(&mut self, https: bool, authority: &str, sender: &H2Sender, now: Instant) {
        let host = self.host_or_insert(https, authority);
        if host.h2.as_ref().is_none_or(|(h2, _)| h2.is_closed()) {
            host.h2 = Some((sender.clone(), now));
        }
    }

    /// Idle connections currently kept, all hosts.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.http
            .values()
            .chain(self.https.values())
            .map(|h| h.idle.len())
            .sum()
    }
}

impl Host {
    fn expire(&mut self, now: Instant) {
        while self
            .idle
            .front()
            .is_some_and(|i| now.saturating_duration_since(i.since) >= IDLE_TIMEOUT)
        {
            self.idle.pop_front();
        }
    }
}

/// The right to put an HTTP/1 connection back into its pool once its response has been read.
pub struct Ticket {
    pub pool: SharedPool,
    pub https: bool,
    pub authority: http::uri::Authority,
    pub sender: H1Sender,
}

impl Ticket {
    fn release(self) {
        let now = Instant::now();
        self.pool
            .lock()
            .put_idle(self.https, self.authority.as_str(), self.sender, now);
    }
}

/// An upstream response body. For HTTP/1 it carries the connection's `Ticket`: the connection
/// goes back to the pool as soon as the last byte has been read, and is closed if the body is
/// dropped before that (the client went away, or the response was cut).
pub struct UpstreamBody {
    inner: hyper::body::Incoming,
    ticket: Option<Ticket>,
}

impl UpstreamBody {
    pub fn new(inner: hyper::body::Incoming, ticket: Option<Ticket>) -> Self {
        let mut body = UpstreamBody { inner, ticket };
        if body.inner.is_end_stream() {
            body.release();
        }
        body
    }

    fn release(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            ticket.release();
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.release(),
            // A broken body: its connection is not reusable.
            Poll::Ready(Some(Err(_))) => this.ticket = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::rt::TokioIo;

    /// An HTTP/1 sender whose connection task is never polled: never ready, never closed.
    async fn busy_sender() -> (H1Sender, impl Sized) {
        let (near, far) = tokio::io::duplex(1024);
        let (sender, connection) = http1::handshake(TokioIo::new(near)).await.unwrap();
        (sender, (connection, far))
    }

    #[tokio::test]
    async fn busy_connections_keep_their_order_and_still_expire() {
        let mut pool = Pool::default();
        let t0 = Instant::now();
        let mut alive = Vec::new();
        for i in 0..3u64 {
            let (sender, keep) = busy_sender().await;
            alive.push(keep);
            pool.put_idle(false, "h:1", sender, t0 + Duration::from_secs(i * 40));
        }
        // None is ready: nothing is handed out, and all three stay, oldest first.
        assert!(pool
            .checkout(false, "h:1", t0 + Duration::from_secs(81))
            .is_none());
        let ages = |pool: &mut Pool| -> Vec<u64> {
            let host = pool.host(false, "h:1").unwrap();
            host.idle.iter().map(|i| (i.since - t0).as_secs()).collect()
        };
        assert_eq!(ages(&mut pool), vec![0, 40, 80]);
        // 100 s after the first was pooled, only it has passed the 90 s idle timeout.
        assert!(pool
            .checkout(false, "h:1", t0 + Duration::from_secs(100))
            .is_none());
        assert_eq!(ages(&mut pool), vec![40, 80]);
        assert_eq!(pool.idle_count(), 2);
    }
}
