//! Where dario's own tools find the local proxy: `DARIO_HOST` / `DARIO_PORT`, defaulting to
//! [`crate::DEFAULT_HOST`]:[`crate::DEFAULT_PORT`] — one reading for the doctor's probe, the MCP
//! server's admin reads, `dario reload` and `dario stats --cluster`.
//!
//! Owns: reading and validating the two variables, and the address to connect to (an
//! unspecified bind address or `localhost` means loopback, as `dario proxy` binds them). Must
//! not: connect anywhere (callers do, through `tool_http`), or resolve names.

use std::net::IpAddr;

use crate::{DEFAULT_HOST, DEFAULT_PORT};

/// Where the proxy is expected, as this process sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyAddress {
    /// The host as configured (IPv6 brackets removed): what messages show.
    pub host: String,
    pub port: u16,
}

impl ProxyAddress {
    /// From `DARIO_HOST` / `DARIO_PORT`; an unusable `DARIO_PORT` is an error saying what to fix.
    pub fn from_env() -> Result<Self, String> {
        let host = std::env::var("DARIO_HOST").ok();
        let port = std::env::var("DARIO_PORT").ok();
        Self::parse(host.as_deref(), port.as_deref())
    }

    /// From optional host and port strings (as found in the environment; blank means unset).
    pub fn parse(host: Option<&str>, port: Option<&str>) -> Result<Self, String> {
        let host = host
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .unwrap_or(DEFAULT_HOST)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = match port.map(str::trim).filter(|p| !p.is_empty()) {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => {
                    return Err(format!(
                        "DARIO_PORT=`{p}` is not a port number (1-65535): fix or unset it"
                    ))
                }
                Ok(n) => n,
            },
        };
        Ok(ProxyAddress { host, port })
    }

    /// The configured `host:port`, IPv6 hosts bracketed: what messages show.
    pub fn display(&self) -> String {
        join(&self.host, self.port)
    }

    /// The host to connect to: an unspecified bind address (`0.0.0.0`, `::`) is reached on
    /// loopback, `localhost` is 127.0.0.1 (what `dario proxy --host localhost` binds).
    pub fn connect_host(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
            Ok(ip) if ip.is_unspecified() => "::1".to_string(),
            Ok(ip) => ip.to_string(),
            Err(_) if self.host.eq_ignore_ascii_case("localhost") => "127.0.0.1".to_string(),
            Err(_) => self.host.clone(),
        }
    }

    /// The `host:port` to connect to ([`Self::connect_host`]), IPv6 hosts bracketed.
    pub fn authority(&self) -> String {
        join(&self.connect_host(), self.port)
    }

    /// `http://<authority><path_and_query>`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.authority(), path_and_query)
    }
}

fn join(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_from_env_values() {
        let a = ProxyAddress::parse(None, None).unwrap();
        assert_eq!(a.authority(), "127.0.0.1:3456");
        assert_eq!(a.display(), "127.0.0.1:3456");
        let a = ProxyAddress::parse(Some("0.0.0.0"), Some("8080")).unwrap();
        assert_eq!(a.authority(), "127.0.0.1:8080");
        assert_eq!(a.display(), "0.0.0.0:8080");
        let a = ProxyAddress::parse(Some("::"), None).unwrap();
        assert_eq!(a.authority(), "[::1]:3456");
        assert_eq!(a.display(), "[::]:3456");
        let a = ProxyAddress::parse(Some("[::1]"), None).unwrap();
        assert_eq!(a.authority(), "[::1]:3456");
        assert_eq!(a.display(), "[::1]:3456");
        let a = ProxyAddress::parse(Some("localhost"), Some(" 9 ")).unwrap();
        assert_eq!(a.authority(), "127.0.0.1:9");
        assert_eq!(a.display(), "localhost:9");
        assert_eq!(a.url("/status"), "http://127.0.0.1:9/status");
        assert_eq!(
            ProxyAddress::parse(Some("  "), Some("")).unwrap(),
            ProxyAddress::parse(None, None).unwrap()
        );
        let err = ProxyAddress::parse(None, Some("http")).unwrap_err();
        assert!(err.contains("DARIO_PORT"), "{err}");
        assert!(ProxyAddress::parse(None, Some("0")).is_err());
        assert!(ProxyAddress::parse(None, Some("65536")).is_err());
    }
}
