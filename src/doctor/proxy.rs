//! Doctor rows about the local proxy: is something listening on dario's address, is it dario, is
//! it this version.
//!
//! Owns: one TCP connect and one `GET /health` to the configured loopback address (read by
//! `proxy_address`, as the MCP server and `dario reload` read it). Must not: send anything else,
//! or contact any other address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{Check, Status};

use crate::proxy_address::ProxyAddress;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// The address to probe: [`ProxyAddress::connect_host`] when it is an IP address (an unspecified
/// bind address is probed on loopback), else every address the name resolves to.
async fn probe_addrs(addr: &ProxyAddress) -> Vec<SocketAddr> {
    let host = addr.connect_host();
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![SocketAddr::new(ip, addr.port)];
    }
    tokio::net::lookup_host((host.as_str(), addr.port))
        .await
        .map(|addrs| addrs.collect())
        .unwrap_or_default()
}

/// What answered on the proxy address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyState {
    /// Nothing accepts connections there.
    Free,
    /// dario answered `/health` with this version (and uptime, when it said).
    Dario {
        version: String,
        uptime_secs: Option<u64>,
        /// The digest of the configuration it runs (`config_digest` of `/health`).
        config_digest: Option<String>,
    },
    /// Something accepts connections but is not dario (`what` says what we saw).
    Other { what: String },
}

/// Probe the proxy address with one `GET /health` (per resolved address, until one connects).
pub async fn probe(addr: &ProxyAddress) -> ProxyState {
    let client = match super::http_client(CONNECT_TIMEOUT, HEALTH_TIMEOUT) {
        Ok(client) => client,
        Err(err) => {
            return ProxyState::Other {
                what: format!("could not build an HTTP client: {err}"),
            }
        }
    };
    for target in probe_addrs(addr).await {
        let response = match client.get(&format!("http://{target}/health"), &[]).await {
            Ok(r) => r,
            // Nothing accepts connections on this address: try the next one.
            Err(err) if err.is_connect() => continue,
            Err(err) => {
                return ProxyState::Other {
                    what: format!("it does not answer HTTP ({err})"),
                }
            }
        };
        let status = response.status();
        let body: Option<crate::admin_api::Health> = response
            .read_capped(64 * 1024)
            .await
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        return match body {
            Some(health) if health.service == crate::admin_api::SERVICE => ProxyState::Dario {
                version: health.version.unwrap_or_else(|| "unknown".to_string()),
                uptime_secs: health.uptime_secs,
                config_digest: health.config_digest,
            },
            _ => ProxyState::Other {
                what: format!(
                    "GET /health answered HTTP {} without dario's signature",
                    status.as_u16()
                ),
            },
        };
    }
    ProxyState::Free
}

/// The `port` and `proxy` rows; with the digest of the configuration on disk, also whether the
/// running proxy runs that configuration.
pub async fn checks(disk_digest: Option<String>) -> Vec<Check> {
    let addr = match ProxyAddress::from_env() {
        Ok(addr) => addr,
        Err(problem) => return vec![Check::new(Status::Fail, "proxy", problem)],
    };
    let shown = addr.display();
    match probe(&addr).await {
        ProxyState::Free => vec![
            Check::new(Status::Ok, "port", format!("{shown} is free")),
            Check::new(Status::Info, "proxy", format!("not running on {shown}"))
                .with_fix("dario proxy   (in its own terminal; it runs until stopped)"),
        ],
        ProxyState::Dario {
            version,
            uptime_secs,
            config_digest,
        } if version == crate::VERSION => {
            let mut rows = vec![
                Check::new(Status::Ok, "port", format!("{shown} is held by dario")),
                Check::new(
                    Status::Ok,
                    "proxy",
                    format!(
                        "dario {version} is running on {shown} (same version as this binary{})",
                        uptime_secs
                            .map(|s| format!(", up {}", crate::timefmt::human_duration(s)))
                            .unwrap_or_default()
                    ),
                ),
            ];
            if let (Some(running), Some(disk)) = (config_digest, disk_digest) {
                if running != disk {
                    rows.push(
                        Check::new(
                            Status::Warn,
                            "proxy config",
                            format!(
                                "the running proxy's configuration differs from the files on disk \
                                 (running {}, disk {}): a change was refused or not picked up yet",
                                &running[..running.len().min(12)],
                                &disk[..disk.len().min(12)]
                            ),
                        )
                        .with_fix("dario reload   (applies the files on disk, or says why it cannot)"),
                    );
                }
            }
            rows
        }
        ProxyState::Dario { version, .. } => vec![
            Check::new(Status::Ok, "port", format!("{shown} is held by dario")),
            Check::new(
                Status::Warn,
                "proxy",
                format!(
                    "dario {version} is running on {shown}, but this binary is {}: the running proxy is outdated or newer",
                    crate::VERSION
                ),
            )
            .with_fix("stop the running proxy (Ctrl-C in its terminal), then start it again: dario proxy"),
        ],
        ProxyState::Other { what } => vec![
            Check::new(
                Status::Fail,
                "port",
                format!("{shown} is held by another program, not dario ({what}): `dario proxy` cannot bind it"),
            )
            .with_fix(format!(
                "stop the program holding port {} (e.g. `lsof -i :{}`), or run dario on another port: DARIO_PORT=3457 dario proxy",
                addr.port, addr.port
            )),
            Check::new(Status::Info, "proxy", format!("not running on {shown}")),
        ],
    }
}
