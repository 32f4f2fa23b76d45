//! Client: the one pooled upstream HTTP client of the process — hyper-util's connection pool
//! over TCP (TCP_NODELAY, connect timeout) or rustls (ring, the platform's trust roots, HTTP/2 by
//! ALPN), and the error type of a failed send.
//!
//! Owns: connections to upstreams. Must not: build requests (see `upstream.rs`), read bodies, or
//! follow redirects and retry on its own — failover is the caller's decision, and a redirect
//! would send the request (and its credential) somewhere nobody configured.
//!
//! Why not a higher-level client: every layer above hyper's pool (redirect policy, retry policy,
//! URL re-parsing) runs on every request in the hot path; measured, they were about a quarter of
//! dario's instructions per proxied request.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::config::Limits;

/// A request as the client sends it: the body is complete (bounded by the ingress limit).
pub type UpstreamRequest = http::Request<Full<Bytes>>;
/// A response whose body arrives as the upstream sends it.
pub type UpstreamResponse = http::Response<hyper::body::Incoming>;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// How long an idle pooled connection is kept (upstreams close theirs after ~60–120 s).
const POOL_IDLE: Duration = Duration::from_secs(90);
/// Idle connections kept per upstream host.
const POOL_MAX_IDLE_PER_HOST: usize = 256;

/// Worker threads that get a pool of their own (`server::run_workers`); more share the last.
const MAX_WORKER_POOLS: usize = 64;

thread_local! {
    /// This thread's worker number (0 unless it is one of the proxy's extra workers).
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks the calling thread as proxy worker `index`: its upstream requests use its own pool.
pub fn set_worker_index(index: usize) {
    WORKER.with(|w| w.set(index));
}

type LegacyClient = hyper_util::client::legacy::Client<Connector, Full<Bytes>>;

/// The process-wide upstream client: one connection pool per worker thread, so a request never
/// hands its connection to another thread's task (each worker runs its own single-threaded
/// runtime; a connection's task lives where it was opened). Cheap to clone.
#[derive(Clone)]
pub struct UpstreamClient {
    connector: Connector,
    pools: std::sync::Arc<[std::sync::OnceLock<LegacyClient>]>,
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
        let pools = (0..MAX_WORKER_POOLS)
            .map(|_| std::sync::OnceLock::new())
            .collect();
        Ok(UpstreamClient { connector, pools })
    }

    /// The calling worker's pool (created on its first request).
    fn pool(&self) -> &LegacyClient {
        let index = WORKER.with(|w| w.get()).min(self.pools.len() - 1);
        self.pools[index].get_or_init(|| {
            hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE)
                .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new())
                .build(self.connector.clone())
        })
    }

    /// Sends one request; resolves when the response head has arrived.
    pub async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        self.pool().request(request).await.map_err(UpstreamError)
    }

    /// A GET with the given headers (for model lists): a request without a body.
    pub async fn get(
        &self,
        uri: http::Uri,
        headers: http::HeaderMap,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let mut request = http::Request::new(Full::new(Bytes::new()));
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        self.send(request).await
    }
}

/// Installs rustls' ring provider as the process default (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A send that failed before a response head arrived.
#[derive(Debug)]
pub struct UpstreamError(hyper_util::client::legacy::Error);

impl UpstreamError {
    /// The connection could not be opened (refused, DNS, TLS handshake, connect timeout).
    pub fn is_connect(&self) -> bool {
        self.0.is_connect()
    }
}

impl std::fmt::Display for UpstreamError {
    /// The cause chain on one line ("tcp connect error: Connection refused (os error 111)"),
    /// so the reason (refused, certificate, reset) is visible; the client's own generic wrapper
    /// ("client error (Connect)") only when there is nothing under it. Callers scrub it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(first) = std::error::Error::source(&self.0) else {
            return write!(f, "{}", self.0);
        };
        write!(f, "{first}")?;
        let mut source = first.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl std::error::Error for UpstreamError {}

/// Reads the next data chunk of an upstream body; trailers are skipped.
pub async fn next_chunk(body: &mut hyper::body::Incoming) -> Option<Result<Bytes, hyper::Error>> {
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
