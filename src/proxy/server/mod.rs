//! Server: bind, accept (HTTP/1.1 and h2c on one port), per-connection limits, graceful shutdown.
//!
//! Owns: sockets and the connection lifecycle. Must not: know about protocols or bodies.
//!
//! HTTP/1.1 is dario's own (`h1/`); a connection that opens with HTTP/2's preface is handed to
//! hyper's HTTP/2 server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};

mod endpoints;
mod h1;
mod prefixed;
mod request_body;

pub use h1::{replay, Replayed};
pub use request_body::RequestBody;

use crate::config::Config;
use crate::proxy::state::{ProxyOptions, ProxyState};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("refusing to listen on {addr} without DARIO_API_KEY: anyone on the network could use your credentials. Set DARIO_API_KEY, bind 127.0.0.1, or pass --allow-unauthenticated")]
    UnauthenticatedNonLoopback { addr: SocketAddr },
    #[error("could not listen on {addr}: {source}. Is another dario (or something else) using the port? Try `dario doctor` or --port")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not build the upstream HTTP client: {0}")]
    Client(#[from] crate::proxy::upstream::client::ClientBuildError),
}

/// A bound, not yet serving, proxy.
pub struct BoundProxy {
    listener: TcpListener,
    pub state: Arc<ProxyState>,
}

impl BoundProxy {
    pub fn local_addr(&self) -> SocketAddr {
        self.state.options.listen
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish
    /// for up to the configured grace period.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let BoundProxy { listener, state } = self;
        serve_loop(listener, state, shutdown).await;
    }

    /// Like `serve`, with `workers` threads in all: this one plus `workers - 1` more, each with
    /// its own single-threaded runtime accepting from the same listening socket (every idle
    /// worker is woken for a new connection and one of them wins the accept) and its own
    /// upstream connection pool. A
    /// connection and everything it does stay on one thread — no cross-thread wake-ups, the
    /// way nginx runs worker processes. State (routing, pools, analytics) is shared.
    pub async fn serve_workers(self, workers: usize, shutdown: impl Future<Output = ()>) {
        if workers <= 1 {
            return self.serve(shutdown).await;
        }
        let BoundProxy { listener, state } = self;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let std_listener = match listener.into_std() {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("could not share the listening socket with workers: {e}");
                return;
            }
        };
        let mut threads = Vec::new();
        for index in 1..workers {
            let cloned = match std_listener.try_clone() {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!("worker {index} not started (socket clone failed: {e})");
                    break;
                }
            };
            let state = state.clone();
            let mut stop = stop_rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("dario-worker-{index}"))
                .spawn(move || {
                    crate::worker::set_index(index);
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            tracing::warn!("worker {index} could not start its runtime: {e}");
                            return;
                        }
                    };
                    runtime.block_on(async move {
                        match TcpListener::from_std(cloned) {
                            Ok(listener) => {
                                let stopped = async move {
                                    let _ = stop.wait_for(|stopped| *stopped).await;
                                };
                                serve_loop(listener, state, stopped).await;
                            }
                            Err(e) => tracing::warn!("worker {index} could not listen: {e}"),
                        }
                    });
                });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => tracing::warn!("worker {index} not started: {e}"),
            }
        }
        match TcpListener::from_std(std_listener) {
            Ok(listener) => {
                let shutdown = async move {
                    shutdown.await;
                    let _ = stop_tx.send(true);
                };
                serve_loop(listener, state, shutdown).await;
            }
            Err(e) => {
                tracing::error!("could not listen: {e}");
                let _ = stop_tx.send(true);
            }
        }
        // The other workers drain their own connections within the same grace period.
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// Keeps one timer of this worker's runtime always due sooner than a header-read deadline.
///
/// hyper re-arms each connection's header-read timer (`header_read_timeout` from now) for every
/// request. tokio's time driver, when a timer is registered that is due before the earliest one
/// it last went to sleep for, wakes itself through its eventfd: one `write(2)` and one more event
/// for `epoll_wait`, per request. With this tick pending, a re-armed header deadline is never
/// the earliest, so requests cost no such wake-up (measured: 7 → 6 system calls per proxied
/// request). Costs one wake-up per half header timeout when idle.
async fn keep_a_timer_ahead_of(header_timeout: Duration) {
    let period = (header_timeout / 2).max(Duration::from_millis(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// One worker's accept loop: serves connections until `shutdown` resolves, then stops accepting
/// and lets in-flight requests finish for up to the configured grace period.
async fn serve_loop(
    listener: TcpListener,
    state: Arc<ProxyState>,
    shutdown: impl Future<Output = ()>,
) {
    let grace = state.snapshot.load().config.limits.shutdown_grace;
    let header_timeout = state.snapshot.load().config.limits.header_read_timeout;
    let mut h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new()).max_concurrent_streams(1024);
    let h2 = Arc::new(h2);
    // Every connection task holds a clone; when all are gone, `recv` returns `None`.
    let (alive, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    let ticker = tokio::spawn(keep_a_timer_ahead_of(header_timeout));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let h2 = h2.clone();
                let alive = alive.clone();
                tokio::spawn(async move {
                    serve_connection(stream, state, &h2).await;
                    drop(alive);
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    drop(alive);
    ticker.abort();
    state.stopping.send_replace(true);
    tokio::select! {
        _ = all_closed.recv() => {}
        _ = tokio::time::sleep(grace) => {
            tracing::warn!("shutdown grace of {} s elapsed; closing remaining connections", grace.as_secs());
        }
    }
}

/// One client connection: HTTP/1.1, or HTTP/2 when it opens with the preface.
async fn serve_connection(
    stream: TcpStream,
    state: Arc<ProxyState>,
    h2: &hyper::server::conn::http2::Builder<TokioExecutor>,
) {
    let (stream, read) = match h1::serve(stream, state.clone()).await {
        h1::Ended::Closed => return,
        h1::Ended::Http2(stream, read) => (stream, read),
    };
    serve_http2(stream, read, state, h2).await;
}

/// An h2c connection, served by hyper; on shutdown it is told to finish its streams and close.
async fn serve_http2(
    stream: TcpStream,
    read: Bytes,
    state: Arc<ProxyState>,
    h2: &hyper::server::conn::http2::Builder<TokioExecutor>,
) {
    let mut stopping = state.stopping.subscribe();
    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        endpoints::handle(state.clone(), req.map(RequestBody::Http2))
    });
    let io = TokioIo::new(prefixed::Prefixed::new(read, stream));
    let conn = h2.serve_connection(io, service);
    tokio::pin!(conn);
    let stop = async {
        if !*stopping.borrow_and_update() {
            let _ = stopping.changed().await;
        }
    };
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// Binds the listener (refusing an unauthenticated non-loopback address) and builds the state.
pub async fn bind(
    config: Config,
    mut options: ProxyOptions,
    allow_unauthenticated: bool,
) -> Result<BoundProxy, ServerError> {
    let addr = options.listen;
    if !addr.ip().is_loopback() && options.api_key.is_none() && !allow_unauthenticated {
        return Err(ServerError::UnauthenticatedNonLoopback { addr });
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    options.listen = listener.local_addr().unwrap_or(addr);
    let state = ProxyState::new(config, options)?;
    Ok(BoundProxy { listener, state })
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
