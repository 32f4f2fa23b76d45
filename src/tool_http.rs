//! The HTTP client of dario's own tools — the doctor's probes (`/health` on the proxy address,
//! `--online` model lists), the MCP server's admin-API reads, `dario backend … ` asking a running
//! proxy to reload — on hyper-util's client over rustls (ring), the stack the proxy's upstream
//! client is built from, so the binary carries one HTTP client stack.
//!
//! Owns: one deadline per request (connect included, body included), `User-Agent: dario/<version>`,
//! no proxy from the environment, no redirect followed (a probe may carry a backend's key, which
//! must never go to a host a redirect names), and short error texts. Must not: be used on the
//! request path (the proxy has its own pooled client, `proxy::client`), retry, or read a body
//! past the cap its caller gives.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, USER_AGENT};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// Which certificates HTTPS requests trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The platform's roots (an empty store when there are none: HTTPS then fails with a
    /// certificate error, plain HTTP still works).
    Platform,
    /// None: the client only speaks plain HTTP to loopback, and loads no CA bundle.
    Nothing,
}

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ToolHttpError {
    /// Nothing accepted the connection (refused, unreachable, name not found).
    #[error("connection failed")]
    Connect(String),
    /// The deadline passed (connecting, waiting for the head, or reading the body).
    #[error("timed out")]
    Timeout,
    /// The URL, a header, or the exchange itself was wrong.
    #[error("{0}")]
    Other(String),
}

impl ToolHttpError {
    pub fn is_connect(&self) -> bool {
        matches!(self, ToolHttpError::Connect(_))
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, ToolHttpError::Timeout)
    }

    /// The innermost cause (`Connection refused (os error 111)`), for messages that already
    /// name the address.
    pub fn detail(&self) -> String {
        match self {
            ToolHttpError::Connect(why) | ToolHttpError::Other(why) => why.clone(),
            ToolHttpError::Timeout => "timed out".to_string(),
        }
    }
}

/// The client: cheap to clone.
#[derive(Clone)]
pub struct ToolClient {
    inner: HyperClient<Connector, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for ToolClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ToolClient {
    /// A client whose requests give up after `timeout` (connecting after `connect_timeout`).
    pub fn new(
        connect_timeout: Duration,
        timeout: Duration,
        trust: Trust,
    ) -> Result<ToolClient, ToolHttpError> {
        // Other parts of the process (the Redis client's TLS) rely on ring being the default.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ToolHttpError::Other(format!("cannot set up TLS: {e}")))?;
        let empty = |b: rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>| {
            b.with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        };
        let tls = match trust {
            Trust::Platform => {
                use rustls_platform_verifier::BuilderVerifierExt;
                match builder.clone().with_platform_verifier() {
                    Ok(verifying) => verifying.with_no_client_auth(),
                    Err(_) => empty(builder),
                }
            }
            Trust::Nothing => empty(builder),
        };
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let inner = HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .build(connector);
        Ok(ToolClient { inner, timeout })
    }

    /// `GET url` with these headers.
    pub async fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<ToolResponse, ToolHttpError> {
        self.send(Method::GET, url, headers).await
    }

    /// Sends a body-less request; resolves when the response head has arrived.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<ToolResponse, ToolHttpError> {
        let deadline = Instant::now() + self.timeout;
        let mut request = http::Request::builder()
            .method(method)
            .uri(url)
            .body(Full::new(Bytes::new()))
            .map_err(|e| ToolHttpError::Other(format!("not a valid request ({e})")))?;
        let h = request.headers_mut();
        h.insert(
            USER_AGENT,
            HeaderValue::from_static(crate::user_agent_token()),
        );
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ToolHttpError::Other(format!("`{name}` is not a header name")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| ToolHttpError::Other(format!("the {name} header is not valid")))?;
            h.append(name, value);
        }
        match tokio::time::timeout_at(deadline, self.inner.request(request)).await {
            Err(_) => Err(ToolHttpError::Timeout),
            Ok(Err(e)) => Err(classify(&e)),
            Ok(Ok(response)) => {
                let (head, body) = response.into_parts();
                Ok(ToolResponse {
                    status: head.status,
                    body,
                    deadline,
                })
            }
        }
    }
}

/// A response head; the body is read within the request's deadline.
#[derive(Debug)]
pub struct ToolResponse {
    status: StatusCode,
    body: hyper::body::Incoming,
    deadline: Instant,
}

impl ToolResponse {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The whole body, or why it could not be read (the deadline, a broken connection, more
    /// than `cap` bytes).
    pub async fn bytes(mut self, cap: usize) -> Result<Bytes, ToolHttpError> {
        let mut out = Vec::new();
        loop {
            let frame = match tokio::time::timeout_at(self.deadline, self.body.frame()).await {
                Err(_) => return Err(ToolHttpError::Timeout),
                Ok(None) => return Ok(Bytes::from(out)),
                Ok(Some(Err(e))) => return Err(ToolHttpError::Other(innermost(&e))),
                Ok(Some(Ok(frame))) => frame,
            };
            if let Ok(data) = frame.into_data() {
                if out.len() + data.len() > cap {
                    return Err(ToolHttpError::Other(format!(
                        "the answer is larger than {cap} bytes"
                    )));
                }
                out.extend_from_slice(&data);
            }
        }
    }

    /// The body, or `None` when it is larger than `cap` bytes or the read fails.
    pub async fn read_capped(self, cap: usize) -> Option<Vec<u8>> {
        self.bytes(cap).await.ok().map(Vec::from)
    }
}

fn classify(e: &hyper_util::client::legacy::Error) -> ToolHttpError {
    let detail = innermost(e);
    if e.is_connect() {
        let timed_out = chain(e).any(|s| {
            s.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        });
        if timed_out {
            return ToolHttpError::Timeout;
        }
        return ToolHttpError::Connect(detail);
    }
    ToolHttpError::Other(detail)
}

fn chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
}

/// The deepest cause's text (the outer layers only say "client error (Connect)").
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    chain(e)
        .last()
        .map(|s| s.to_string())
        .unwrap_or_else(|| "unknown error".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_connection_and_bad_url_are_told_apart() {
        let client = ToolClient::new(
            Duration::from_millis(500),
            Duration::from_secs(2),
            Trust::Nothing,
        )
        .unwrap();
        // A port nothing listens on: bind, learn the port, close.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = client
            .get(&format!("http://127.0.0.1:{port}/health"), &[])
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        let err = client.get("not a url", &[]).await.unwrap_err();
        assert!(!err.is_connect() && !err.is_timeout(), "{err:?}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out_and_headers_and_agent_go_out() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            // First connection: answer; second: say nothing.
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase());
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await
                .unwrap();
            let (_silent, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let client = ToolClient::new(
            Duration::from_millis(500),
            Duration::from_millis(500),
            Trust::Nothing,
        )
        .unwrap();
        let url = format!("http://{addr}/x");
        let r = client.get(&url, &[("x-api-key", "k1")]).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(&r.bytes(16).await.unwrap()[..], b"ok");
        let head = rx.await.unwrap();
        assert!(head.contains("x-api-key: k1\r\n"), "{head}");
        assert!(
            head.contains(&format!("user-agent: {}\r\n", crate::user_agent_token())),
            "{head}"
        );
        let err = client.get(&url, &[]).await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        server.abort();
        let _ = server.await;
    }
}
