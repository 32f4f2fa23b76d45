//! Upstream: the one pooled HTTP client of the process, and how an outbound request is built
//! (URL, headers, credential, User-Agent).
//!
//! Owns: connection pooling, connect/first-byte deadlines, the credential decision. Must not:
//! look inside bodies.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use super::headers;
use crate::config::{BackendConfig, Credential, Limits, Secret};
use crate::protocol::Protocol;

/// Builds the process-wide upstream client: rustls (ring), HTTP/2 by ALPN, TCP_NODELAY,
/// keep-alive pool, connect timeout. No overall timeout: streams may run long; the first-byte
/// and idle deadlines are applied by the caller.
pub fn build_client(limits: &Limits) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(limits.connect_timeout)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
}

/// Installs rustls' ring provider as the process default (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `<client UA> dario/<version>`, or `dario/<version>` alone.
pub fn user_agent(client_ua: Option<&HeaderValue>) -> HeaderValue {
    let token = crate::user_agent_token();
    match client_ua.and_then(|v| v.to_str().ok()).map(str::trim) {
        Some(ua) if !ua.is_empty() => HeaderValue::from_str(&format!("{ua} {token}"))
            .unwrap_or_else(|_| HeaderValue::from_static(token)),
        _ => HeaderValue::from_static(token),
    }
}

/// The credential to present upstream for one attempt.
#[derive(Debug, Clone)]
pub enum UpstreamAuth {
    /// The backend's configured key, sent in the protocol's own header.
    Key(Secret),
    /// The client's own credential headers, forwarded unchanged.
    Passthrough(Vec<(HeaderName, HeaderValue)>),
    None,
}

/// Decides the upstream credential: a configured key always wins; the client's own credential
/// goes only to passthrough backends and never when dario itself requires an API key (then the
/// client's credential *is* the dario key, or could be).
pub fn choose_auth(
    credential: &Credential,
    client_headers: &HeaderMap,
    dario_key_required: bool,
) -> UpstreamAuth {
    if let Some(secret) = credential.secret() {
        return UpstreamAuth::Key(secret.clone());
    }
    match credential {
        Credential::Passthrough if !dario_key_required => {
            let mut out = Vec::new();
            for name in [
                http::header::AUTHORIZATION,
                HeaderName::from_static("x-api-key"),
            ] {
                if let Some(v) = client_headers.get(&name) {
                    let mut v = v.clone();
                    v.set_sensitive(true);
                    out.push((name, v));
                }
            }
            UpstreamAuth::Passthrough(out)
        }
        _ => UpstreamAuth::None,
    }
}

/// Everything needed to send one attempt upstream.
pub struct OutboundRequest<'a> {
    pub backend: &'a BackendConfig,
    pub base_url: &'a str,
    pub path: &'static str,
    pub inbound: Protocol,
    pub client_headers: &'a HeaderMap,
    pub auth: UpstreamAuth,
    pub body: bytes::Bytes,
    /// Extra `anthropic-beta` value required by the route (e.g. 1M context).
    pub anthropic_beta: Option<&'a str>,
}

/// Builds the reqwest request: base URL + protocol path (no query string), forwarded headers per
/// `headers.rs`, credential, User-Agent.
pub fn build_request(
    client: &reqwest::Client,
    out: OutboundRequest<'_>,
) -> reqwest::RequestBuilder {
    let url = format!("{}{}", out.base_url.trim_end_matches('/'), out.path);
    let same_protocol = out.inbound == out.backend.protocol;
    let mut h = HeaderMap::with_capacity(out.client_headers.len() + 4);
    for (name, value) in out.client_headers {
        let forward = if same_protocol {
            headers::forward_request_header(name.as_str())
        } else {
            headers::FORWARDED_WHEN_TRANSLATING
                .iter()
                .any(|f| name.as_str().eq_ignore_ascii_case(f))
        };
        if forward {
            h.append(name.clone(), value.clone());
        }
    }
    if out.backend.protocol == Protocol::Anthropic && !h.contains_key("anthropic-version") {
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
    }
    if let Some(beta) = out.anthropic_beta {
        let merged = match h.get("anthropic-beta").and_then(|v| v.to_str().ok()) {
            Some(existing) if existing.split(',').any(|b| b.trim() == beta) => existing.to_string(),
            Some(existing) => format!("{existing},{beta}"),
            None => beta.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&merged) {
            h.insert("anthropic-beta", v);
        }
    }
    for (k, v) in &out.backend.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    h.insert(
        http::header::USER_AGENT,
        user_agent(out.client_headers.get(http::header::USER_AGENT)),
    );
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    match out.auth {
        UpstreamAuth::Key(secret) => match out.backend.protocol {
            Protocol::Anthropic => {
                if let Ok(mut v) = HeaderValue::from_str(secret.expose()) {
                    v.set_sensitive(true);
                    h.insert("x-api-key", v);
                }
            }
            Protocol::OpenAi => {
                if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", secret.expose())) {
                    v.set_sensitive(true);
                    h.insert(http::header::AUTHORIZATION, v);
                }
            }
        },
        UpstreamAuth::Passthrough(pairs) => {
            for (k, mut v) in pairs {
                v.set_sensitive(true);
                h.insert(k, v);
            }
        }
        UpstreamAuth::None => {}
    }
    client.post(url).headers(h).body(out.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_appends_dario() {
        let ua = user_agent(Some(&HeaderValue::from_static("my-tool/1.0")));
        assert_eq!(
            ua.to_str().unwrap(),
            format!("my-tool/1.0 dario/{}", crate::VERSION)
        );
        assert_eq!(
            user_agent(None).to_str().unwrap(),
            format!("dario/{}", crate::VERSION)
        );
    }

    #[test]
    fn configured_key_beats_passthrough() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("client-key"));
        let key = Credential::Key {
            key: Secret::new("configured"),
        };
        assert!(matches!(choose_auth(&key, &h, false), UpstreamAuth::Key(_)));
        match choose_auth(&Credential::Passthrough, &h, false) {
            UpstreamAuth::Passthrough(p) => assert_eq!(p.len(), 1),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            choose_auth(&Credential::Passthrough, &h, true),
            UpstreamAuth::None
        ));
    }
}
