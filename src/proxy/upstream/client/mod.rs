//! Client: the one upstream HTTP client of the process — connections over TCP (TCP_NODELAY,
//! connect timeout) or rustls (ring, the platform's trust roots, HTTP/2 by ALPN), kept in a
//! pool per worker thread (`pool.rs`), and the error type of a failed send. HTTP/1.1 is dario's
//! own (`h1/`: read and written by the proxying task itself); HTTP/2 is hyper's.
//!
//! Owns: opening upstream connections and sending requests on them. Must not: build requests
//! (see `upstream.rs`), read bodies, or follow redirects and retry on its own — failover is the
//! caller's decision, and a redirect would send the request (and its credential) somewhere
//! nobody configured. The one retry it makes is the one no caller can see: a pooled connection
//! that the upstream closed while idle refused the request before any byte of it was sent, so
//! it goes out again on a new connection.
//!
//! Why not a higher-level client: every layer above hyper's connections (redirect and retry
//! policies, URL re-parsing, a general-purpose pool) runs on every request in the hot path;
//! measured, they were about a third of dario's instructions per proxied request.

mod h1;
mod pool;

use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http2;
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower_service::Service;

use crate::config::Limits;
use h1::{H1Body, H1Conn, H1Error};
pub use pool::{BodyError, UpstreamBody};
use pool::{Conn, SharedPool, Ticket};

/// A request as the client sends it: an absolute `http(s)://` URI, the body complete (bounded
/// by the ingress limit).
pub type UpstreamRequest = http::Request<Bytes>;
/// A response whose body arrives as the upstream sends it.
pub type UpstreamResponse = http::Response<UpstreamBody>;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// HTTP/2 keep-alive pings: every 30 s while streams are open; no answer in 20 s closes it.
const H2_PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
const H2_PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The process-wide upstream client: one connection pool per worker thread, so a request never
/// uses a connection that belongs to another thread (each worker runs its own single-threaded
/// runtime; a connection's socket is registered with the runtime that opened it, and an HTTP/2
/// connection's task runs there). Cheap to clone.
#[derive(Clone)]
pub struct UpstreamClient {
    connector: Connector,
    pools: std::sync::Arc<crate::worker::PerWorker<SharedPool>>,
}

/// The client could not be built (the platform's certificate store is unusable).
#[derive(Debug, thiserror::Error)]
#[error("could not set up TLS for upstream connections: {0}. Check the system's CA certificates (or SSL_CERT_FILE)")]
pub struct ClientBuildError(#[from] rustls::Error);

impl UpstreamClient {
    pub fn new(limits: &Limits) -> Result<Self, ClientBuildError> {
        install_crypto_provider();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = {
            use rustls_platform_verifier::BuilderVerifierExt;
            let builder = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?;
            match builder.clone().with_platform_verifier() {
                Ok(verifying) => verifying.with_no_client_auth(),
                // No CA certificates on this machine (a minimal container): plain-HTTP
                // backends (Ollama, vLLM…) must still work, so start with an empty trust store;
                // every HTTPS upstream then fails with a certificate error saying so.
                Err(e) => {
                    tracing::warn!(
                        "no usable CA certificates ({e}): HTTPS upstreams will be refused until the system's CA bundle is installed or SSL_CERT_FILE names one"
                    );
                    builder
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth()
                }
            }
        };
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(limits.connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let pools = std::sync::Arc::default();
        Ok(UpstreamClient { connector, pools })
    }

    /// The calling worker's pool.
    fn pool(&self) -> &SharedPool {
        self.pools.local()
    }

    /// Sends one request on a pooled connection to its host, or a new one; resolves when the
    /// response head has arrived.
    pub async fn send(
        &self,
        mut request: UpstreamRequest,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let uri = request.uri();
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(UpstreamError::NotHttp),
        };
        let Some(authority) = uri.authority().cloned() else {
            return Err(UpstreamError::NotHttp);
        };
        let pool = self.pool();
        // After a pooled connection refused the request, only a new connection is tried (so a
        // send is retried at most once).
        let mut refused_once = false;
        loop {
            let pooled = if refused_once {
                None
            } else {
                pool.lock()
                    .checkout(https, authority.as_str(), Instant::now())
            };
            let reused = pooled.is_some();
            let conn = match pooled {
                Some(conn) => conn,
                // Not boxed: connecting is ~130 bytes here (the connector boxes its own
                // future; the HTTP/2 handshake is boxed in `connect`), less than what this
                // future holds while it writes the request.
                None => self.connect(request.uri(), https, &authority, pool).await?,
            };
            let refused = match conn {
                Conn::H1(mut conn) => {
                    // The request is used by reference, not taken apart: its parts moved out
                    // would be one more copy of it in this future.
                    let (method, uri) = (request.method(), request.uri());
                    let written = conn
                        .write_request(method, uri, https, request.headers(), request.body())
                        .await;
                    let head = match written {
                        Ok(()) => conn.read_head(method).await.map_err(UpstreamError::H1)?,
                        // A pooled connection the upstream closed just now: it cannot have acted
                        // on a request it did not get whole, so it goes out again on a new one.
                        Err(H1Error::Write(_)) if reused => {
                            tracing::debug!("pooled upstream connection was closed; sending again");
                            refused_once = true;
                            continue;
                        }
                        // The upstream may have answered before taking the whole body (a 413 or
                        // a 401 to a large request) and closed: its answer is the response, and
                        // the connection is not reused.
                        Err(H1Error::Write(e)) => match conn.read_head(method).await {
                            Ok(mut head) => {
                                head.keep_alive = false;
                                head
                            }
                            Err(_) => return Err(UpstreamError::H1(H1Error::Write(e))),
                        },
                        Err(e) => return Err(UpstreamError::H1(e)),
                    };
                    let ticket = Ticket {
                        pool: pool.clone(),
                        https,
                        authority,
                    };
                    let body = H1Body::new(conn, &head, Some(Box::new(ticket)));
                    let mut response = http::Response::new(UpstreamBody::h1(body));
                    *response.status_mut() = head.status;
                    *response.version_mut() = head.version;
                    *response.headers_mut() = head.headers;
                    return Ok(response);
                }
                Conn::H2(mut sender) => {
                    let body = request.body().clone();
                    match sender.try_send_request(request.map(Full::new)).await {
                        Ok(response) => return Ok(response.map(UpstreamBody::h2)),
                        Err(mut e) => match e.take_message() {
                            Some(unsent) if reused => unsent.map(|_| body),
                            _ => return Err(UpstreamError::Send(e.into_error())),
                        },
                    }
                }
            };
            // The pooled connection was closed by the upstream before any of the request was
            // sent: the request goes out again, on a new connection.
            tracing::debug!("pooled upstream connection was closed; sending again");
            refused_once = true;
            request = refused;
        }
    }

    /// Opens a connection to the request's host (TCP, then TLS for https with HTTP/2 when the
    /// upstream offers it) and starts its connection task on this worker's runtime.
    async fn connect(
        &self,
        uri: &http::Uri,
        https: bool,
        authority: &http::uri::Authority,
        pool: &SharedPool,
    ) -> Result<Conn, UpstreamError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(UpstreamError::Connect)?;
        // Boxed: the HTTP/2 handshake is a 6.4 KiB future; held in this one, it made every new
        // HTTP/1.1 connection's connect that large too (BENCHMARKS.md, issue 15). The socket
        // (1.1 KiB with its TLS state) is this block's, so it is not kept beside the handshake.
        let handshake = {
            let io = connector
                .call(uri.clone())
                .await
                .map_err(UpstreamError::Connect)?;
            if !io.connected().is_negotiated_h2() {
                return Ok(Conn::H1(H1Conn::new(hyper_util::rt::TokioIo::new(io))));
            }
            Box::pin(handshake_h2(io))
        };
        let sender = handshake.await?;
        pool.lock()
            .put_h2(https, authority.as_str(), &sender, Instant::now());
        Ok(Conn::H2(sender))
    }

    /// A GET with the given headers (for model lists): a request without a body.
    pub async fn get(
        &self,
        uri: http::Uri,
        headers: http::HeaderMap,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let mut request = http::Request::new(Bytes::new());
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        self.send(request).await
    }
}

/// The HTTP/2 handshake on a new connection; its connection task is started on this worker's
/// runtime.
async fn handshake_h2(
    io: hyper_rustls::MaybeHttpsStream<hyper_util::rt::TokioIo<tokio::net::TcpStream>>,
) -> Result<pool::H2Sender, UpstreamError> {
    // Pings while streams are open find a connection that died silently (a long stream would
    // otherwise wait for its idle timeout).
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT)
        .handshake(io)
        .await
        .map_err(UpstreamError::Handshake)?;
    spawn_connection(connection, "HTTP/2");
    Ok(sender)
}

/// Runs a connection's task on this worker's runtime until the connection closes.
fn spawn_connection(
    connection: impl std::future::Future<Output = Result<(), hyper::Error>> + Send + 'static,
    version: &'static str,
) {
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("upstream {version} connection ended: {e}");
        }
    });
}

/// Installs rustls' ring provider as the process default (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A send that failed before a response head arrived.
#[derive(Debug)]
pub enum UpstreamError {
    /// The URI is not an absolute `http://` or `https://` one (the caller checks base URLs, so
    /// this is a bug if it shows).
    NotHttp,
    /// TCP connect, connect timeout, DNS or TLS handshake failed.
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// The connection opened but the HTTP/1 or HTTP/2 handshake on it failed.
    Handshake(hyper::Error),
    /// The request could not be sent on an HTTP/2 connection, or the connection broke before a
    /// response head came.
    Send(hyper::Error),
    /// The same on an HTTP/1.1 connection, or its response head was malformed.
    H1(H1Error),
}

impl UpstreamError {
    /// The connection could not be opened (refused, DNS, TLS handshake, connect timeout).
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            UpstreamError::Connect(_) | UpstreamError::Handshake(_)
        )
    }
}

impl std::fmt::Display for UpstreamError {
    /// The cause chain on one line ("tcp connect error: Connection refused (os error 111)"),
    /// so the reason (refused, certificate, reset) is visible. Callers scrub it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let top: &(dyn std::error::Error + 'static) = match self {
            UpstreamError::NotHttp => return f.write_str("not an http(s) URL"),
            UpstreamError::Connect(e) => e.as_ref(),
            UpstreamError::Handshake(e) | UpstreamError::Send(e) => e,
            UpstreamError::H1(e) => e,
        };
        // rustls' own words ("received corrupt message of type InvalidContentType") do not say
        // that it was the TLS handshake that failed: a server speaking plain HTTP on an https
        // URL, or one that is no TLS server at all, would otherwise read as a mystery.
        if matches!(self, UpstreamError::Connect(_)) && is_tls_error(top) {
            f.write_str("TLS handshake failed: ")?;
        }
        write_with_causes(f, top)
    }
}

impl std::error::Error for UpstreamError {}

/// `e` and each of its causes, on one line: "e: cause: its cause".
fn write_with_causes(
    f: &mut std::fmt::Formatter<'_>,
    e: &(dyn std::error::Error + 'static),
) -> std::fmt::Result {
    write!(f, "{e}")?;
    let mut source = e.source();
    while let Some(s) = source {
        write!(f, ": {s}")?;
        source = s.source();
    }
    Ok(())
}

/// Whether `e`'s cause chain holds a rustls error: directly, or inside an `io::Error` (whose
/// `source()` skips the error it wraps, and which hyper-rustls wraps in one more `io::Error`).
fn is_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.is::<rustls::Error>() {
        return true;
    }
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        if is_tls_error(inner) {
            return true;
        }
    }
    e.source().is_some_and(is_tls_error)
}

/// Reads the next data chunk of an upstream body; trailers are skipped.
pub async fn next_chunk(body: &mut UpstreamBody) -> Option<Result<Bytes, BodyError>> {
    use http_body_util::BodyExt;
    loop {
        match body.frame().await? {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connecting is part of every request that opens a connection, and a request's future is
    /// held while the whole request is in flight: the HTTP/2 handshake (6.4 KiB) and the socket
    /// (1.1 KiB) must stay out of it (BENCHMARKS.md, issue 15). The futures are only built and
    /// measured, never run.
    #[test]
    fn connecting_keeps_the_request_future_small() {
        let client = UpstreamClient::new(&Limits::default()).unwrap();
        let uri: http::Uri = "http://127.0.0.1:9/v1/chat/completions".parse().unwrap();
        let authority = uri.authority().unwrap().clone();
        let pool = client.pool().clone();
        let connect = client.connect(&uri, false, &authority, &pool);
        assert!(
            std::mem::size_of_val(&connect) < 1024,
            "connect: {} bytes",
            std::mem::size_of_val(&connect)
        );
        let send = client.send(UpstreamRequest::new(Bytes::new()));
        assert!(
            std::mem::size_of_val(&send) < 4096,
            "send: {} bytes",
            std::mem::size_of_val(&send)
        );
    }
}
