//! Upstream: how an outbound request is built — URL (parsed once per base URL), forwarded
//! headers, credential, User-Agent. The connections themselves are `client`'s (`client/`).
//!
//! Owns: the credential decision and the outbound header set. Must not: look inside bodies or
//! send anything.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::time::Duration;

pub mod client;

use crate::config::{BackendConfig, Credential, Secret};
use crate::protocol::Protocol;
use crate::proxy::headers;
use client::UpstreamRequest;

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
            for name in [http::header::AUTHORIZATION, X_API_KEY.clone()] {
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
    /// The body goes out as the client sent it (the client's protocol headers are forwarded).
    pub passthrough: bool,
    pub client_headers: &'a HeaderMap,
    /// The client's query string (`beta=true` from Claude Code): forwarded on passthrough only,
    /// where it means the same thing to the upstream; a translated request has its own path.
    pub client_query: Option<&'a str>,
    pub auth: UpstreamAuth,
    pub body: bytes::Bytes,
    /// Extra `anthropic-beta` value required by the route (e.g. 1M context).
    pub anthropic_beta: Option<&'a str>,
}

/// Builds the upstream request: base URL + protocol path (+ the client's query string on
/// passthrough), forwarded headers per `headers.rs`, credential, User-Agent. `Err` names a base URL
/// that is not a valid URL.
pub fn build_request(out: OutboundRequest<'_>) -> Result<UpstreamRequest, String> {
    let same_protocol = out.passthrough;
    let query = out.client_query.filter(|_| same_protocol).unwrap_or("");
    let uri = upstream_uri(out.base_url, out.path, query)?;
    let mut h = HeaderMap::with_capacity(out.client_headers.len() + 4);
    // Headers named in `Connection` are hop-by-hop for this connection only (RFC 9110 §7.6.1).
    let connection_scoped: Vec<&str> =
        headers::list_tokens(out.client_headers, &http::header::CONNECTION).collect();
    for (name, value) in out.client_headers {
        if connection_scoped
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name.as_str()))
        {
            continue;
        }
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
    if out.backend.protocol == Protocol::Anthropic {
        ensure_anthropic_version(&mut h);
    }
    if let Some(beta) = out.anthropic_beta {
        let merged = match h.get(&ANTHROPIC_BETA).and_then(|v| v.to_str().ok()) {
            Some(existing) if existing.split(',').any(|b| b.trim() == beta) => existing.to_string(),
            Some(existing) => format!("{existing},{beta}"),
            None => beta.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&merged) {
            h.insert(ANTHROPIC_BETA.clone(), v);
        }
    }
    insert_backend_headers(&mut h, out.backend);
    h.insert(
        http::header::USER_AGENT,
        user_agent(out.client_headers.get(http::header::USER_AGENT)),
    );
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    match out.auth {
        UpstreamAuth::Key(secret) => insert_key(&mut h, out.backend.protocol, &secret),
        UpstreamAuth::Passthrough(pairs) => {
            for (k, mut v) in pairs {
                v.set_sensitive(true);
                h.insert(k, v);
            }
        }
        UpstreamAuth::None => {}
    }
    let mut request = http::Request::new(out.body);
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri;
    *request.headers_mut() = h;
    Ok(request)
}

/// The backend's configured extra headers (they replace same-named ones already in `h`).
pub fn insert_backend_headers(h: &mut HeaderMap, backend: &BackendConfig) {
    for (k, v) in &backend.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
}

/// A configured key in the protocol's own header (`x-api-key` / `Authorization: Bearer`),
/// marked sensitive.
pub fn insert_key(h: &mut HeaderMap, protocol: Protocol, secret: &Secret) {
    let (name, value) = match protocol {
        Protocol::Anthropic => (X_API_KEY.clone(), HeaderValue::from_str(secret.expose())),
        Protocol::OpenAi | Protocol::Responses => (
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", secret.expose())),
        ),
    };
    if let Ok(mut v) = value {
        v.set_sensitive(true);
        h.insert(name, v);
    }
}

/// `anthropic-version` for Anthropic upstreams, unless one is already set.
pub fn ensure_anthropic_version(h: &mut HeaderMap) {
    if !h.contains_key(&ANTHROPIC_VERSION) {
        h.insert(
            ANTHROPIC_VERSION.clone(),
            HeaderValue::from_static("2023-06-01"),
        );
    }
}

static ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");
static ANTHROPIC_BETA: HeaderName = HeaderName::from_static("anthropic-beta");
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// `base_url` + `path` (+ `?query` when not empty: the client's own on passthrough, such as
/// Claude Code's `beta=true`), parsed once per worker thread and reused: parsing a URL costs more
/// than building the rest of the request. The cache is small and bounded (64 entries).
/// `Err` says which URL is not usable (not http(s), no host, not a URL at all).
pub fn upstream_uri(base_url: &str, path: &'static str, query: &str) -> Result<http::Uri, String> {
    use std::cell::RefCell;
    const CAP: usize = 64;
    thread_local! {
        static CACHE: RefCell<Vec<(String, &'static str, String, http::Uri)>> =
            const { RefCell::new(Vec::new()) };
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((.., uri)) = cache
            .iter()
            .find(|(b, p, q, _)| b == base_url && *p == path && q == query)
        {
            return Ok(uri.clone());
        }
        let base = base_url.trim_end_matches('/');
        let uri = parse_http_uri(&if query.is_empty() {
            format!("{base}{path}")
        } else {
            format!("{base}{path}?{query}")
        })?;
        if cache.len() >= CAP {
            cache.clear();
        }
        cache.push((base_url.to_string(), path, query.to_string(), uri.clone()));
        Ok(uri)
    })
}

/// An absolute `http://` or `https://` URI with a host; anything else is refused with the reason.
pub fn parse_http_uri(text: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = text
        .parse()
        .map_err(|e| format!("`{text}` is not a valid URL ({e})"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("`{text}` is not an http:// or https:// URL")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    Ok(uri)
}

/// Reads an upstream error body, capped at 64 KiB (error bodies are small; a larger one is cut)
/// and bounded in time by `idle` between chunks (a stalled body ends where it stalled).
pub async fn read_error_body(upstream: client::UpstreamResponse, idle: Duration) -> Bytes {
    const CAP: usize = 64 * 1024;
    let mut body = upstream.into_body();
    let mut buf = Vec::new();
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout(idle, client::next_chunk(&mut body)).await
    {
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
pub async fn read_body(
    upstream: client::UpstreamResponse,
    idle: Duration,
) -> Result<Bytes, String> {
    const CAP: usize = 64 * 1024 * 1024;
    let mut body = upstream.into_body();
    let mut buf = BytesMut::new();
    loop {
        match tokio::time::timeout(idle, client::next_chunk(&mut body)).await {
            Err(_) => return Err(format!("upstream sent nothing for {} s", idle.as_secs())),
            Ok(Some(Err(e))) => {
                return Err(format!(
                    "upstream connection failed mid-response: {}",
                    crate::redact::scrub_key_shapes(&e.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_uris_are_parsed_once_and_reused() {
        for _ in 0..2 {
            let u = upstream_uri("http://127.0.0.1:9/v1/", "/chat/completions", "").unwrap();
            assert_eq!(u.to_string(), "http://127.0.0.1:9/v1/chat/completions");
            let u = upstream_uri("https://api.example.com", "/v1/messages", "").unwrap();
            assert_eq!(u.to_string(), "https://api.example.com/v1/messages");
            let u = upstream_uri("https://api.example.com", "/v1/messages", "beta=true").unwrap();
            assert_eq!(
                u.to_string(),
                "https://api.example.com/v1/messages?beta=true"
            );
        }
        let err = upstream_uri("not a url", "/v1/messages", "").unwrap_err();
        assert!(
            err.contains("`not a url/v1/messages` is not a valid URL"),
            "{err}"
        );
        let err = upstream_uri("ftp://example.com", "/v1/messages", "").unwrap_err();
        assert!(err.contains("not an http:// or https:// URL"), "{err}");
        let err = upstream_uri("/v1", "/v1/messages", "").unwrap_err();
        assert!(err.contains("not an http:// or https:// URL"), "{err}");
        // More distinct URLs than the cache holds: still correct.
        for i in 0..200 {
            let base = format!("http://127.0.0.1:{}", 1000 + i);
            let u = upstream_uri(&base, "/v1/messages", "").unwrap();
            assert_eq!(u.to_string(), format!("{base}/v1/messages"));
        }
    }

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
