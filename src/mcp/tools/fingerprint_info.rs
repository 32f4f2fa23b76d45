//! `fingerprint_info`: what upstream providers see from dario.
//!
//! Owns: this tool's output type, how it is built from its inputs, and its text. Must not: do
//! I/O (the server gathers inputs through `server::run`).

use super::*;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UserAgentInfo {
    /// The token dario appends: `dario/<version>`.
    pub token: String,
    /// How the outbound User-Agent is formed.
    pub rule: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProtocolHeaders {
    /// Header carrying the backend's credential to this kind of upstream.
    pub auth_header: String,
    /// Authorization scheme in front of the credential, if any (`Bearer`).
    pub auth_scheme: Option<String>,
    /// Headers dario sets on every request to this kind of upstream.
    pub added: Vec<String>,
    /// Client headers that reach the upstream when the client speaks this protocol too.
    pub forwarded_same_protocol: String,
    /// Client headers that reach the upstream when dario translates from the other protocol.
    pub forwarded_when_translating: Vec<String>,
    /// Client headers never forwarded.
    pub stripped: Vec<String>,
    /// Client header prefixes never forwarded.
    pub stripped_prefixes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ResponseHeaders {
    /// Upstream response headers that reach the client.
    pub forwarded: Vec<String>,
    pub forwarded_prefixes: Vec<String>,
    /// Headers dario adds to its responses.
    pub added: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TlsInfo {
    pub library: String,
    pub library_version: String,
    pub crypto_provider: String,
    pub crypto_provider_version: String,
    /// TLS protocol versions offered to upstreams.
    pub protocol_versions: Vec<String>,
    /// ALPN protocols offered.
    pub alpn: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UpstreamHost {
    pub backend: String,
    /// Deployment alias, for a pool member.
    pub deployment: Option<String>,
    pub protocol: String,
    pub scheme: String,
    pub host: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BuildInfo {
    pub version: String,
    pub target: String,
    pub profile: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FingerprintOut {
    pub proxy: ProxyState,
    pub user_agent: UserAgentInfo,
    /// Request headers per upstream protocol.
    pub request_headers: BTreeMap<String, ProtocolHeaders>,
    pub response_headers: ResponseHeaders,
    /// Connection-level headers never forwarded in either direction.
    pub hop_by_hop: Vec<String>,
    pub tls: TlsInfo,
    pub http_versions: Vec<String>,
    /// Where dario connects, from the configured backends' base URLs.
    pub upstream_hosts: Vec<UpstreamHost>,
    pub build: BuildInfo,
    /// Digest of the configuration on disk (`null` when it could not be read).
    pub config_digest: Option<String>,
    pub config_error: Option<String>,
    /// What dario never does to look like another client.
    pub boundary: String,
    /// The inbound endpoints (each request's protocol decides which headers go upstream).
    pub endpoints: Vec<EndpointInfo>,
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Version of a locked dependency, read from the Cargo.lock this binary was built with.
fn locked_version(name: &str) -> String {
    const LOCK: &str = include_str!("../../../Cargo.lock");
    let needle = format!("name = \"{name}\"\nversion = \"");
    LOCK.find(&needle)
        .and_then(|i| {
            let rest = &LOCK[i + needle.len()..];
            rest.find('"').map(|j| rest[..j].to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn protocol_headers(p: Protocol) -> ProtocolHeaders {
    let (auth, scheme) = match p {
        Protocol::Anthropic => ("x-api-key", None),
        Protocol::OpenAi | Protocol::Responses => ("authorization", Some("Bearer".to_string())),
    };
    ProtocolHeaders {
        auth_header: auth.to_string(),
        auth_scheme: scheme,
        // `a | b (note)` entries name alternatives per backend: keep this protocol's one.
        added: headers::ADDED_REQUEST
            .iter()
            .map(|h| match h.split_once(" | ") {
                Some(_) => format!("{auth} (backend credential)"),
                None => h.to_string(),
            })
            .collect(),
        forwarded_same_protocol: "every client header except hop-by-hop, `stripped`, `stripped_prefixes`, user-agent and content-type (which dario sets)".to_string(),
        forwarded_when_translating: strings(headers::FORWARDED_WHEN_TRANSLATING),
        stripped: strings(headers::STRIPPED_REQUEST),
        stripped_prefixes: strings(headers::STRIPPED_REQUEST_PREFIXES),
    }
}

pub fn fingerprint_info(
    cfg: Result<&Config, &str>,
    digest: Option<String>,
    proxy: ProxyState,
) -> FingerprintOut {
    let mut request_headers = BTreeMap::new();
    for p in [Protocol::Anthropic, Protocol::OpenAi] {
        request_headers.insert(p.to_string(), protocol_headers(p));
    }
    let mut upstream_hosts = Vec::new();
    let config_error = match cfg {
        Ok(cfg) => {
            for b in cfg.backends.values() {
                let (scheme, host) = crate::safe_url::scheme_and_host(&b.base_url);
                upstream_hosts.push(UpstreamHost {
                    backend: b.name.clone(),
                    deployment: None,
                    protocol: b.protocol.to_string(),
                    scheme,
                    host,
                });
                for d in &b.deployments {
                    if let Some(url) = &d.base_url {
                        let (scheme, host) = crate::safe_url::scheme_and_host(url);
                        upstream_hosts.push(UpstreamHost {
                            backend: b.name.clone(),
                            deployment: Some(d.alias.clone()),
                            protocol: b.protocol.to_string(),
                            scheme,
                            host,
                        });
                    }
                }
            }
            None
        }
        Err(e) => Some(e.to_string()),
    };
    FingerprintOut {
        proxy,
        user_agent: UserAgentInfo {
            token: crate::user_agent_token().to_string(),
            rule: format!(
                "the client's own User-Agent followed by `{}`; just `{}` when the client sent none",
                crate::user_agent_token(),
                crate::user_agent_token()
            ),
        },
        request_headers,
        response_headers: ResponseHeaders {
            forwarded: strings(headers::FORWARDED_RESPONSE),
            forwarded_prefixes: strings(headers::FORWARDED_RESPONSE_PREFIXES),
            added: strings(headers::ADDED_RESPONSE),
        },
        hop_by_hop: strings(headers::HOP_BY_HOP),
        tls: TlsInfo {
            library: "rustls".to_string(),
            library_version: locked_version("rustls"),
            crypto_provider: "ring".to_string(),
            crypto_provider_version: locked_version("ring"),
            protocol_versions: rustls::DEFAULT_VERSIONS
                .iter()
                .map(|v| format!("{:?}", v.version).replace("TLSv", "TLS ").replace('_', "."))
                .collect(),
            alpn: vec!["h2".to_string(), "http/1.1".to_string()],
        },
        http_versions: vec![
            "HTTP/1.1".to_string(),
            "HTTP/2 (negotiated via ALPN)".to_string(),
        ],
        upstream_hosts,
        build: BuildInfo {
            version: crate::VERSION.to_string(),
            target: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
            profile: if cfg!(debug_assertions) { "debug" } else { "release" }.to_string(),
        },
        config_digest: digest,
        config_error,
        boundary: "dario presents itself as dario: it never replays another client's headers, prompts, body order, TLS or timing, and never uses another application's OAuth client".to_string(),
        endpoints: inbound_endpoints(),
    }
}

impl Rendered for FingerprintOut {
    fn render(&self) -> String {
        let mut out = String::from("What upstreams see from dario.\n");
        out.push_str(&proxy_line(&self.proxy));
        out.push_str("\n\n");
        out.push_str(&format!("User-Agent: {}\n", self.user_agent.rule));
        out.push_str(&render_endpoints(&self.endpoints));
        for (p, h) in &self.request_headers {
            let scheme = h
                .auth_scheme
                .as_ref()
                .map(|s| format!(" (scheme {s})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "{p} upstreams: backend credential in `{}`{scheme}; dario sets {}\n  same protocol: forwards {}\n  translating: forwards only {}\n",
                h.auth_header,
                h.added.join(", "),
                h.forwarded_same_protocol,
                h.forwarded_when_translating.join(", ")
            ));
        }
        let any = self.request_headers.values().next();
        if let Some(h) = any {
            out.push_str(&format!(
                "Never forwarded: {}; prefixes {}\n",
                h.stripped.join(", "),
                h.stripped_prefixes.join(", ")
            ));
        }
        out.push_str(&format!(
            "Hop-by-hop (never): {}\n",
            self.hop_by_hop.join(", ")
        ));
        out.push_str(&format!(
            "Responses: forwards {} and {}*; adds {}\n",
            self.response_headers.forwarded.join(", "),
            self.response_headers.forwarded_prefixes.join("*, "),
            self.response_headers.added.join(", ")
        ));
        out.push_str(&format!(
            "TLS: {} {} with {} {}; {}; ALPN {}\n",
            self.tls.library,
            self.tls.library_version,
            self.tls.crypto_provider,
            self.tls.crypto_provider_version,
            self.tls.protocol_versions.join(", "),
            self.tls.alpn.join(", ")
        ));
        out.push_str(&format!("HTTP: {}\n", self.http_versions.join(", ")));
        out.push_str("Upstream hosts:\n");
        for h in &self.upstream_hosts {
            let who = match &h.deployment {
                Some(d) => format!("{}/{}", h.backend, d),
                None => h.backend.clone(),
            };
            out.push_str(&format!(
                "  {who} [{}]: {}://{}\n",
                h.protocol, h.scheme, h.host
            ));
        }
        if let Some(e) = &self.config_error {
            out.push_str(&format!("  (configuration unreadable: {e})\n"));
        }
        out.push_str(&format!(
            "Build: dario {} {} ({})\nConfig digest: {}\n{}\n",
            self.build.version,
            self.build.target,
            self.build.profile,
            self.config_digest.as_deref().unwrap_or("unknown"),
            self.boundary
        ));
        out
    }
}
