//! Live client for the running proxy's admin endpoints (`GET /status`, `/pool`, `/analytics`),
//! used by the MCP tools to show live state next to what is on disk.
//!
//! Owns: asking the proxy (found by `proxy_address`: `DARIO_HOST`/`DARIO_PORT`), authenticating
//! with `DARIO_API_KEY`, short deadlines (300 ms connect, 2 s total) and telling "not running"
//! apart from "running but refused". Must not: send anything but GETs to the admin API, or
//! talk to any address other than the proxy's own (unspecified bind addresses map to
//! loopback).

use std::sync::OnceLock;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::config::Secret;
use crate::proxy_address::ProxyAddress;
use crate::tool_http::{ToolClient, Trust};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest admin answer read (the analytics window of a busy proxy is well below it).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// What the MCP tools report about the proxy: running or not, and the basics from `/status`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ProxyState {
    /// Whether a dario proxy answered on `address`.
    pub running: bool,
    /// The address asked (`host:port`).
    pub address: String,
    /// One line for humans: "running (dario 0.1.0, up 42s)" or "proxy not running: …".
    pub detail: String,
    /// Version the running proxy reports.
    pub version: Option<String>,
    pub uptime_secs: Option<u64>,
    /// SHA-256 digest of the configuration the running proxy has loaded.
    pub config_digest: Option<String>,
    pub requests_total: Option<u64>,
}

/// The outcome of one admin GET.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetch {
    /// Nothing (or nothing answering HTTP) listens there.
    NotRunning(String),
    /// The proxy answered but not with a usable JSON body (auth refused, 404, bad JSON).
    Failed(String),
    Ok(Value),
}

/// Client for the admin API. Cheap to create; the HTTP client is built on first use.
#[derive(Debug)]
pub struct LiveClient {
    addr: Result<ProxyAddress, String>,
    api_key: Option<Secret>,
    http: OnceLock<Result<ToolClient, String>>,
}

impl LiveClient {
    /// From the environment (`DARIO_HOST`, `DARIO_PORT`, `DARIO_API_KEY`).
    pub fn from_env() -> Self {
        let api_key = std::env::var("DARIO_API_KEY")
            .ok()
            .filter(|k| !k.is_empty())
            .map(Secret::new);
        LiveClient::new(ProxyAddress::from_env(), api_key)
    }

    pub fn new(addr: Result<ProxyAddress, String>, api_key: Option<Secret>) -> Self {
        LiveClient {
            addr,
            api_key,
            http: OnceLock::new(),
        }
    }

    /// The address asked, for messages (`127.0.0.1:3456`, or the configuration error).
    pub fn address(&self) -> String {
        match &self.addr {
            Ok(a) => a.authority(),
            Err(e) => format!("(invalid: {e})"),
        }
    }

    fn client(&self) -> Result<&ToolClient, String> {
        self.http
            .get_or_init(|| {
                // Plain HTTP to loopback only: no trust store is loaded (nor required).
                ToolClient::new(CONNECT_TIMEOUT, TOTAL_TIMEOUT, Trust::Nothing)
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// `GET path` on the proxy, decoded as JSON.
    pub async fn get(&self, path_and_query: &str) -> Fetch {
        let addr = match &self.addr {
            Ok(a) => a,
            Err(e) => return Fetch::NotRunning(e.clone()),
        };
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => return Fetch::Failed(e),
        };
        let headers: &[(&str, &str)] = match &self.api_key {
            Some(key) => &[("x-api-key", key.expose())],
            None => &[],
        };
        let resp = match client.get(&addr.url(path_and_query), headers).await {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Fetch::NotRunning(format!(
                    "proxy not running: nothing accepts connections on {} (start it with `dario proxy`)",
                    addr.authority()
                ))
            }
            Err(e) if e.is_timeout() => {
                return Fetch::NotRunning(format!(
                    "proxy not running: {} did not answer {path_and_query} within {} s",
                    addr.authority(),
                    TOTAL_TIMEOUT.as_secs()
                ))
            }
            Err(e) => {
                return Fetch::NotRunning(format!(
                    "proxy not running: {} does not speak HTTP ({})",
                    addr.authority(),
                    e.detail()
                ))
            }
        };
        let status = resp.status();
        if status == http::StatusCode::UNAUTHORIZED || status == http::StatusCode::FORBIDDEN {
            let hint = if self.api_key.is_some() {
                "DARIO_API_KEY in this environment does not match the proxy's"
            } else {
                "the proxy requires DARIO_API_KEY: set it in the MCP server's environment"
            };
            return Fetch::Failed(format!(
                "proxy on {} refused {path_and_query} ({status}): {hint}",
                addr.authority()
            ));
        }
        if !status.is_success() {
            return Fetch::Failed(format!(
                "proxy on {} answered {path_and_query} with {status}: is it dario, and the same version as this binary ({})?",
                addr.authority(),
                crate::VERSION
            ));
        }
        let body = match resp.bytes(MAX_BODY).await {
            Ok(b) => b,
            Err(e) => {
                return Fetch::Failed(format!(
                    "proxy on {} broke off its {path_and_query} answer: {}",
                    addr.authority(),
                    e.detail()
                ))
            }
        };
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => Fetch::Ok(v),
            Err(e) => Fetch::Failed(format!(
                "proxy on {} sent a {path_and_query} body that is not JSON ({e})",
                addr.authority()
            )),
        }
    }

    /// `GET /status`, summarised as a [`ProxyState`], with the full body when there is one.
    pub async fn status(&self) -> (ProxyState, Option<Value>) {
        let fetch = self.get("/status").await;
        proxy_state(&self.address(), &fetch)
    }

    /// `/status` and another admin endpoint, concurrently.
    pub async fn status_and(&self, path_and_query: &str) -> (ProxyState, Option<Value>, Fetch) {
        let (status, other) = tokio::join!(self.get("/status"), self.get(path_and_query));
        let (state, body) = proxy_state(&self.address(), &status);
        (state, body, other)
    }
}

/// Builds the [`ProxyState`] from the `/status` fetch.
pub fn proxy_state(address: &str, fetch: &Fetch) -> (ProxyState, Option<Value>) {
    match fetch {
        Fetch::NotRunning(why) => (
            ProxyState {
                running: false,
                address: address.to_string(),
                detail: why.clone(),
                version: None,
                uptime_secs: None,
                config_digest: None,
                requests_total: None,
            },
            None,
        ),
        Fetch::Failed(why) => (
            ProxyState {
                running: true,
                address: address.to_string(),
                detail: format!("running, but live data is unavailable: {why}"),
                version: None,
                uptime_secs: None,
                config_digest: None,
                requests_total: None,
            },
            None,
        ),
        Fetch::Ok(body) => {
            // A field of the wrong type reads as absent, like a missing one (an older proxy).
            let crate::admin_api::StatusHead {
                version,
                uptime_secs,
                config_digest,
                requests_total,
            } = serde_json::from_value(body.clone()).unwrap_or_default();
            let mut detail = format!(
                "running (dario {}",
                version.as_deref().unwrap_or("unknown version")
            );
            if let Some(up) = uptime_secs {
                detail.push_str(&format!(", up {}", crate::timefmt::human_duration(up)));
            }
            if let Some(n) = requests_total {
                detail.push_str(&format!(", {n} requests"));
            }
            detail.push(')');
            if let Some(v) = &version {
                if v != crate::VERSION {
                    detail.push_str(&format!(
                        "; NOTE: this MCP server is dario {}, the proxy is {v}",
                        crate::VERSION
                    ));
                }
            }
            (
                ProxyState {
                    running: true,
                    address: address.to_string(),
                    detail,
                    version,
                    uptime_secs,
                    config_digest,
                    requests_total,
                },
                Some(body.clone()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_from_status_body() {
        let body = json!({"version": crate::VERSION, "uptime_secs": 75, "config_digest": "ab", "requests_total": 3});
        let (s, b) = proxy_state("127.0.0.1:1", &Fetch::Ok(body));
        assert!(s.running);
        assert_eq!(s.config_digest.as_deref(), Some("ab"));
        assert_eq!(
            s.detail,
            format!("running (dario {}, up 1m 15s, 3 requests)", crate::VERSION)
        );
        assert!(b.is_some());
        let (s, b) = proxy_state("x", &Fetch::NotRunning("proxy not running: no".into()));
        assert!(!s.running && b.is_none());
        assert!(s.detail.contains("proxy not running"));
    }

    #[tokio::test]
    async fn refused_connection_is_not_running() {
        // Bind then drop: the port is (almost certainly) closed now.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = LiveClient::new(
            ProxyAddress::parse(Some("127.0.0.1"), Some(&port.to_string())),
            None,
        );
        let (state, body) = c.status().await;
        assert!(!state.running, "{state:?}");
        assert!(body.is_none());
        assert!(
            state.detail.contains("proxy not running"),
            "{}",
            state.detail
        );
    }
}
