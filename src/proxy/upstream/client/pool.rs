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
use hyper::client::conn::http2;
use parking_lot::Mutex;

use super::h1::{H1Body, H1Conn, H1Error, Release};

/// How long an idle connection is kept (upstreams close theirs after ~60–120 s).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle HTTP/1 connections kept per upstream host; beyond that the oldest is closed.
pub const MAX_IDLE_PER_HOST: usize = 256;

pub type H2Sender = http2::SendRequest<Full<Bytes>>;

/// A connection ready to carry a request.
pub enum Conn {
    H1(H1Conn),
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
    conn: H1Conn,
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
        // The most recently used first; one the upstream closed (or wrote to unasked) while it
        // was idle is dropped.
        while let Some(mut idle) = host.idle.pop_back() {
            if idle.conn.is_reusable() {
                return Some(Conn::H1(idle.conn));
            }
        }
        None
    }

    /// Keeps an HTTP/1 connection whose last response was read to the end.
    fn put_idle(&mut self, https: bool, authority: &str, conn: H1Conn, now: Instant) {
        let host = self.host_or_insert(https, authority);
        host.expire(now);
        if host.idle.len() >= MAX_IDLE_PER_HOST {
            host.idle.pop_front();
        }
        host.idle.push_back(Idle { conn, since: now });
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
}

impl Release for Ticket {
    fn release(self: Box<Self>, conn: H1Conn) {
        let now = Instant::now();
        self.pool
            .lock()
            .put_idle(self.https, self.authority.as_str(), conn, now);
    }
}

/// An upstream response body, read as the relay polls it. An HTTP/1 one is read from its
/// connection by the polling task itself and hands the connection back to the pool as soon as
/// its last byte has been read; dropped before that (the client went away, or the response was
/// cut), it closes the connection.
pub struct UpstreamBody {
    inner: Inner,
}

enum Inner {
    H1(H1Body),
    H2(hyper::body::Incoming),
}

/// A body that broke off: the connection failed or the upstream broke HTTP's framing.
#[derive(Debug)]
pub enum BodyError {
    H1(H1Error),
    H2(hyper::Error),
}

impl std::fmt::Display for BodyError {
    /// With its causes on one line ("reading the upstream response failed: Connection reset by
    /// peer (os error 104)"). Callers scrub it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::H1(e) => super::write_with_causes(f, e),
            BodyError::H2(e) => super::write_with_causes(f, e),
        }
    }
}

impl std::error::Error for BodyError {}

impl UpstreamBody {
    pub fn h1(body: H1Body) -> Self {
        UpstreamBody {
            inner: Inner::H1(body),
        }
    }

    pub fn h2(body: hyper::body::Incoming) -> Self {
        UpstreamBody {
            inner: Inner::H2(body),
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match &mut self.get_mut().inner {
            Inner::H1(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|f| f.map(|f| f.map_err(BodyError::H1))),
            Inner::H2(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|f| f.map(|f| f.map_err(BodyError::H2))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::H1(body) => body.is_end_stream(),
            Inner::H2(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::H1(body) => body.size_hint(),
            Inner::H2(body) => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::rt::TokioIo;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    /// A connection to a loopback listener, and the listener's end of it.
    async fn connection() -> (H1Conn, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let near = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (far, _) = listener.accept().await.unwrap();
        let socket = TokioIo::new(hyper_rustls::MaybeHttpsStream::from(TokioIo::new(near)));
        (H1Conn::new(socket), far)
    }

    #[tokio::test]
    async fn idle_connections_are_handed_out_newest_first_and_expire() {
        let mut pool = Pool::default();
        let t0 = Instant::now();
        let mut far_ends = Vec::new();
        for i in 0..3u64 {
            let (conn, far) = connection().await;
            far_ends.push(far);
            pool.put_idle(false, "h:1", conn, t0 + Duration::from_secs(i * 40));
        }
        let ages = |pool: &mut Pool| -> Vec<u64> {
            let host = pool.host(false, "h:1").unwrap();
            host.idle.iter().map(|i| (i.since - t0).as_secs()).collect()
        };
        assert_eq!(ages(&mut pool), vec![0, 40, 80]);
        // 100 s after the first was pooled, only it has passed the 90 s idle timeout; the newest
        // is handed out.
        let taken = pool.checkout(false, "h:1", t0 + Duration::from_secs(100));
        assert!(matches!(taken, Some(Conn::H1(_))));
        assert_eq!(ages(&mut pool), vec![40]);
        assert_eq!(pool.idle_count(), 1);
        assert!(
            pool.checkout(true, "h:1", t0).is_none(),
            "https is another pool"
        );
    }

    #[tokio::test]
    async fn connections_the_upstream_closed_or_wrote_to_while_idle_are_dropped() {
        let mut pool = Pool::default();
        let now = Instant::now();
        let (closed, far_closed) = connection().await;
        let (chatty, mut far_chatty) = connection().await;
        let (good, _far_good) = connection().await;
        pool.put_idle(false, "h:1", good, now);
        pool.put_idle(false, "h:1", closed, now);
        pool.put_idle(false, "h:1", chatty, now);
        drop(far_closed);
        far_chatty.write_all(b"HTTP/1.1 408 ").await.unwrap();
        // Let the FIN and the bytes arrive.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(matches!(
            pool.checkout(false, "h:1", now),
            Some(Conn::H1(_))
        ));
        assert_eq!(
            pool.idle_count(),
            0,
            "the two bad ones were dropped on the way"
        );
        assert!(pool.checkout(false, "h:1", now).is_none());
    }
}
