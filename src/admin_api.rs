//! The admin API's bodies as types, shared by the side that writes them (`proxy::admin`
//! serialises them) and the sides that read them (the doctor's `/health` probe, the MCP
//! server's `/status` and `/pool` reads deserialise them), so a renamed field is a compile error
//! on both sides instead of a number that silently reads as 0.
//!
//! Owns: the shape of `/health`, the head of `/status` (what tools read of it) and `/pool`. Must
//! not: hold a secret (credential *sources* only) or logic beyond the shapes.
//!
//! Not yet typed: the rest of `/status` (built in `proxy::admin::status` around [`StatusHead`])
//! and `/analytics` (`analytics::Summary`, read by MCP as JSON).

use serde::{Deserialize, Serialize};

/// `GET /health`: liveness, no auth, no secrets. The fields after `service` are optional when
/// read: an older dario answers without some of them (the proxy always writes them all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Always `ok` when the proxy answers.
    pub status: String,
    /// Always [`SERVICE`]: what tells dario apart from another server on the port.
    pub service: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub uptime_secs: Option<u64>,
    #[serde(default)]
    pub requests_total: Option<u64>,
    /// A hash of the redacted configuration the proxy runs (not a secret): lets `dario doctor`
    /// see whether it is the one on disk without an API key.
    #[serde(default)]
    pub config_digest: Option<String>,
}

/// The service name in [`Health::service`] (and in `/status` and `/`).
pub const SERVICE: &str = "dario";

/// The fields of `GET /status` that tools read (the rest of the body is shown as it is);
/// optional when read, like [`Health`]'s.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusHead {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub uptime_secs: Option<u64>,
    #[serde(default)]
    pub config_digest: Option<String>,
    #[serde(default)]
    pub requests_total: Option<u64>,
}

/// `GET /pool`: every pool at one moment, and the cluster when `[cluster]` is configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    #[serde(flatten)]
    pub pools: crate::pool::PoolSnapshot,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::cluster::ClusterStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_an_older_health_still_reads() {
        let health = Health {
            status: "ok".into(),
            service: SERVICE.into(),
            version: Some("1.2.3".into()),
            uptime_secs: Some(75),
            requests_total: Some(3),
            config_digest: Some("ab".into()),
        };
        let v = serde_json::to_value(&health).unwrap();
        assert_eq!(serde_json::from_value::<Health>(v).unwrap(), health);
        let old: Health =
            serde_json::from_str(r#"{"status":"ok","service":"dario","version":"0.0.1"}"#).unwrap();
        assert_eq!(old.version.as_deref(), Some("0.0.1"));
        assert_eq!(old.uptime_secs, None);
        // Not dario: no `service`.
        assert!(serde_json::from_str::<Health>(r#"{"status":"ok"}"#).is_err());

        let pool = Pool {
            pools: crate::pool::PoolSnapshot { backends: vec![] },
            cluster: None,
        };
        let v = serde_json::to_value(&pool).unwrap();
        assert_eq!(v, serde_json::json!({"backends": []}));
        assert_eq!(serde_json::from_value::<Pool>(v).unwrap(), pool);
    }
}
