//! The admin API's bodies as types, shared by the side that writes them (`proxy::admin`
//! serialises them) and the sides that read them (the doctor's `/health` probe, the MCP
//! server's `/status`, `/pool` and `/analytics` reads deserialise them), so a renamed field is a
//! compile error on both sides instead of a number that silently reads as 0. A reader shows a
//! body that does not decode as it is, never as zeros.
//!
//! Owns: the shape of `/health`, `/status` (and [`StatusHead`], the part of it every dario has
//! written), `/pool` and `/analytics?window=` (around `analytics::Summary`, which the analytics
//! module builds). Must not: hold a secret (credential *sources* only) or logic beyond the
//! shapes.
//!
//! Not yet typed: `/analytics?since=` (`history::HistorySummary`, written only; the dashboard
//! reads it as JSON), `/analytics?scope=cluster` (built as JSON in `cluster::sync`, read as JSON
//! by `dario stats --cluster`) and `POST /admin/reload`'s answer (read as JSON by `dario reload`).

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

/// `GET /status`: live state for tools (MCP, doctor). Every field is required when read except
/// the head's (an older dario's `/status` still gives a [`StatusHead`]) and `cluster`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    #[serde(flatten)]
    pub head: StatusHead,
    /// Always [`SERVICE`].
    pub service: String,
    pub build: Build,
    /// The address the proxy listens on.
    pub listen: String,
    pub in_flight: usize,
    /// Requests waiting for an in-flight slot.
    pub queued: usize,
    pub auth_required: bool,
    #[serde(deserialize_with = "Option::deserialize")]
    pub model_override: Option<String>,
    pub backends: Vec<StatusBackend>,
    pub pool: crate::pool::PoolSnapshot,
    /// `null` when the proxy runs without a usage history.
    #[serde(deserialize_with = "Option::deserialize")]
    pub history: Option<crate::history::HistoryStatus>,
    pub routing: Routing,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::cluster::ClusterStatus>,
}

/// How the running binary was built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// `debug` or `release`.
    pub profile: String,
    /// `<arch>-<os>`.
    pub target: String,
}

/// A backend in `/status` (and in the dashboard's snapshots): its credential *source*, never
/// the credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusBackend {
    pub name: String,
    pub protocol: crate::protocol::Protocol,
    pub base_url: String,
    pub credential_source: String,
    pub models: Vec<String>,
    pub deployments: Vec<StatusDeployment>,
}

/// A deployment of a [`StatusBackend`], with the backend's URL and credential source where it
/// has none of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDeployment {
    pub alias: String,
    pub base_url: String,
    pub credential_source: String,
}

/// The routing configuration the proxy runs, in numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    #[serde(deserialize_with = "Option::deserialize")]
    pub default_backend: Option<String>,
    pub routes: usize,
    pub aliases: usize,
    /// The digest of the route table (`dario routes`' template).
    pub template_digest: String,
}

/// The fields of `GET /status` that every dario has written: what tells tools the proxy's
/// version and uptime even when the rest of [`Status`] does not decode. Optional when read, like
/// [`Health`]'s.
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
pub(crate) mod tests {
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

    /// A `/status` body with every part set (for the readers' tests).
    pub(crate) fn status() -> Status {
        Status {
            head: StatusHead {
                version: Some("1.2.3".into()),
                uptime_secs: Some(5),
                config_digest: Some("ab".into()),
                requests_total: Some(9),
            },
            service: SERVICE.into(),
            build: Build {
                profile: "debug".into(),
                target: "x86_64-linux".into(),
            },
            listen: "127.0.0.1:3456".into(),
            in_flight: 2,
            queued: 0,
            auth_required: true,
            model_override: None,
            backends: vec![StatusBackend {
                name: "groq".into(),
                protocol: crate::protocol::Protocol::OpenAi,
                base_url: "https://api.groq.com/openai/v1".into(),
                credential_source: "env GROQ_API_KEY".into(),
                models: vec!["llama".into()],
                deployments: vec![StatusDeployment {
                    alias: "east".into(),
                    base_url: "https://east.example/v1".into(),
                    credential_source: "env EAST_KEY".into(),
                }],
            }],
            pool: crate::pool::PoolSnapshot { backends: vec![] },
            history: Some(crate::history::HistoryStatus {
                state: "ok".into(),
                path: "/h/history.db".into(),
                error: None,
                written: 3,
                dropped: 0,
                failed: 0,
                batch_size: 256,
                flush_interval_ms: 1000,
                retention_days: 30,
                rollup_retention_days: 365,
            }),
            routing: Routing {
                default_backend: Some("groq".into()),
                routes: 1,
                aliases: 2,
                template_digest: "cd".into(),
            },
            cluster: None,
        }
    }

    #[test]
    fn status_round_trips_and_its_head_reads_alone() {
        let s = status();
        let v = serde_json::to_value(&s).unwrap();
        // The head is inline, `cluster` absent without `[cluster]`, `null`s written.
        assert_eq!(v["version"], "1.2.3");
        assert!(v.get("head").is_none() && v.get("cluster").is_none());
        assert!(v["model_override"].is_null());
        assert_eq!(v["backends"][0]["protocol"], "openai");
        assert_eq!(Status::deserialize(&v).unwrap(), s);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Status>(&text).unwrap(), s);
        // What tools read of any dario's `/status`.
        assert_eq!(StatusHead::deserialize(&v).unwrap(), s.head);
        // A renamed or missing field does not decode (the head still does).
        for (path, field) in [
            ("", "routing"),
            ("", "history"), // `null` is a value, absence is not
            ("/backends/0", "name"),
            ("/backends/0/deployments/0", "credential_source"),
            ("/routing", "default_backend"),
        ] {
            let mut bad = v.clone();
            bad.pointer_mut(path)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(field)
                .unwrap();
            let err = Status::deserialize(&bad).unwrap_err();
            assert!(err.to_string().contains(field), "{path}/{field}: {err}");
            assert_eq!(StatusHead::deserialize(&bad).unwrap(), s.head);
        }
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
