//! The admin API's bodies as types, shared by the side that writes them (`proxy::admin`
//! serialises them) and the sides that read them (the doctor's `/health` probe, the MCP
//! server's `/status`, `/pool` and `/analytics` reads deserialise them), so a renamed field is a
//! compile error on both sides instead of a number that silently reads as 0. A reader shows a
//! body that does not decode as it is, never as zeros.
//!
//! Owns: the shape of `/health`, the head of `/status` (what tools read of it), `/pool` and
//! `/analytics?window=` (around `analytics::Summary`, which the analytics module builds). Must
//! not: hold a secret (credential *sources* only) or logic beyond the shapes.
//!
//! Not yet typed: the rest of `/status` (built in `proxy::admin::status` around [`StatusHead`]),
//! `/analytics?since=` (`history::HistorySummary`, write-only) and `/analytics?scope=cluster`
//! (built as JSON in `cluster::sync`, read as JSON by `dario stats --cluster`).

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

/// `GET /analytics?window=N`: this instance's usage [`Summary`](crate::analytics::Summary) over
/// the window and all time; with `[cluster]` configured, also which instance answered
/// (`?scope=cluster`, the sum over instances, is another body: `cluster::cluster_analytics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analytics {
    #[serde(flatten)]
    pub summary: crate::analytics::Summary,
    /// The instance whose records these are (cluster mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// `instance` in cluster mode: the summary covers this instance only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
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

    #[test]
    fn analytics_round_trips_through_its_wire_text() {
        let summary = crate::analytics::tests::populated_summary();
        assert!(summary.window.section.totals.requests > 0);
        assert!(summary.window.section.totals.cost_usd > 0.0);
        assert!(!summary.failovers.is_empty() && !summary.unpriced_models.is_empty());
        for (instance_id, scope) in [
            (None, None),
            (Some("i-1".to_string()), Some("instance".to_string())),
        ] {
            let body = Analytics {
                summary: summary.clone(),
                instance_id,
                scope,
            };
            // Every field, exactly.
            let value = serde_json::to_value(&body).unwrap();
            assert_eq!(Analytics::deserialize(&value).unwrap(), body);
            // As the MCP server reads it: bytes → JSON value → the type. serde_json's default
            // float parsing may land one ULP off (`0.09450000000000001` reads as `0.0945`), so
            // numbers are compared to 1e-15 relative, everything else exactly.
            let text = serde_json::to_vec(&body).unwrap();
            let read: serde_json::Value = serde_json::from_slice(&text).unwrap();
            let decoded = Analytics::deserialize(&read).unwrap();
            assert_same(&serde_json::to_value(&decoded).unwrap(), &value, "");
        }
        // The flattened summary keeps the wire shape: no `summary` key, window totals inline.
        let value = serde_json::to_value(Analytics {
            summary,
            instance_id: None,
            scope: None,
        })
        .unwrap();
        assert!(value.get("summary").is_none() && value.get("instance_id").is_none());
        assert!(value["window"]["totals"]["requests"].is_u64(), "{value}");
    }

    /// `a == b`, except that numbers need only agree to 1e-15 relative.
    fn assert_same(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
        use serde_json::Value;
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                assert_eq!(
                    x.keys().collect::<Vec<_>>(),
                    y.keys().collect::<Vec<_>>(),
                    "{at}"
                );
                for (k, v) in x {
                    assert_same(v, &y[k], &format!("{at}/{k}"));
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                assert_eq!(x.len(), y.len(), "{at}");
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    assert_same(v, w, &format!("{at}/{i}"));
                }
            }
            (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!(
                    (x - y).abs() <= 1e-15 * x.abs().max(y.abs()),
                    "{at}: {x} vs {y}"
                );
            }
            _ => assert_eq!(a, b, "{at}"),
        }
    }

    #[test]
    fn a_renamed_or_missing_analytics_field_does_not_decode() {
        let good = serde_json::to_value(Analytics {
            summary: crate::analytics::tests::populated_summary(),
            instance_id: None,
            scope: None,
        })
        .unwrap();
        assert!(Analytics::deserialize(&good).is_ok());
        let renamed = |path: &str, field: &str| {
            let mut v = good.clone();
            let obj = v.pointer_mut(path).unwrap().as_object_mut().unwrap();
            let x = obj.remove(field).unwrap();
            obj.insert(format!("{field}_renamed"), x);
            v
        };
        for (path, field) in [
            ("", "records_total"),
            ("/window", "burn"),
            ("/window", "totals"), // a field of the flattened section
            ("/window/totals", "requests"),
            ("/window/totals/tokens", "total"),
            ("/window/totals/latency_ms", "p50"), // `null` is a value, absence is not
            ("/all_time/by_backend/0", "cost_usd"),
        ] {
            let err = Analytics::deserialize(&renamed(path, field)).unwrap_err();
            assert!(err.to_string().contains(field), "{path}/{field}: {err}");
        }
    }
}
