//! What answers the admin API for the live-data tests: a loopback stand-in of the proxy's
//! `/status`, `/pool` and `/analytics` (counting requests and refusals), or the real
//! `dario proxy` with DARIO_TEST_REAL_PROXY=1.

use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::TestHome;
use crate::support::home::free_port;

#[derive(Default)]
pub struct StandInState {
    pub api_key: Option<String>,
    pub digest: String,
    /// Extra text put in `/status` (to test that the final pass scrubs live data too).
    pub leak: String,
    pub last_window: Mutex<Option<String>>,
    pub requests: AtomicU64,
    pub unauthorized: AtomicU64,
}

pub enum LiveProxy {
    StandIn {
        port: u16,
        state: Arc<StandInState>,
        task: tokio::task::JoinHandle<()>,
    },
    Real {
        port: u16,
        child: Child,
    },
}

impl LiveProxy {
    pub fn port(&self) -> u16 {
        match self {
            LiveProxy::StandIn { port, .. } | LiveProxy::Real { port, .. } => *port,
        }
    }

    pub fn stand_in(&self) -> Option<&StandInState> {
        match self {
            LiveProxy::StandIn { state, .. } => Some(state),
            LiveProxy::Real { .. } => None,
        }
    }
}

impl Drop for LiveProxy {
    fn drop(&mut self) {
        match self {
            LiveProxy::StandIn { task, .. } => task.abort(),
            LiveProxy::Real { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

pub fn use_real_proxy() -> bool {
    std::env::var("DARIO_TEST_REAL_PROXY").is_ok_and(|v| v == "1")
}

/// Starts what answers the admin API: the stand-in, or `dario proxy` on a free port.
pub async fn start_proxy(home: &TestHome, state: StandInState) -> LiveProxy {
    if use_real_proxy() {
        let port = free_port();
        let mut cmd = home.dario(&["proxy", "--port", &port.to_string()], port);
        let child = cmd.stdout(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "dario proxy did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        return LiveProxy::Real { port, child };
    }
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use std::collections::HashMap;

    fn authorized(s: &StandInState, h: &HeaderMap) -> bool {
        s.requests.fetch_add(1, Ordering::SeqCst);
        let ok = match &s.api_key {
            None => true,
            Some(k) => h.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(k.as_str()),
        };
        if !ok {
            s.unauthorized.fetch_add(1, Ordering::SeqCst);
        }
        ok
    }
    fn deny() -> Response {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"type":"error","error":{"type":"authentication_error","message":"x-api-key required"}})),
        )
            .into_response()
    }
    async fn status(State(s): State<Arc<StandInState>>, h: HeaderMap) -> Response {
        if !authorized(&s, &h) {
            return deny();
        }
        axum::Json(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "listen": "127.0.0.1:0",
            "uptime_secs": 4242,
            "config_digest": s.digest,
            "requests_total": 17,
            "auth_required": s.api_key.is_some(),
            "backends": [{"name": "anthropic", "protocol": "anthropic",
                "credential_source": "passthrough (client's own credential)", "last_error": s.leak}],
            "pool": {"backends": []},
        }))
        .into_response()
    }
    async fn pool(State(s): State<Arc<StandInState>>, h: HeaderMap) -> Response {
        if !authorized(&s, &h) {
            return deny();
        }
        // The body in the type the proxy writes (`admin_api::Pool`), so the stand-in speaks
        // the real shape.
        let deployment = dario::pool::DeploymentSnapshot {
            alias: "default".into(),
            base_url: "https://api.anthropic.com".into(),
            credential: "passthrough (client's own credential)".into(),
            credential_missing: false,
            headroom: 0.25,
            in_flight: 1,
            cooling: false,
            cooldown_remaining_ms: 0,
            cooldown_reason: None,
            consecutive_failures: 0,
            last_status: Some(200),
            last_error: None,
            responses: 1,
            failures: 0,
            limits: vec![],
        };
        axum::Json(dario::admin_api::Pool {
            pools: dario::pool::PoolSnapshot {
                backends: vec![dario::pool::BackendPoolSnapshot {
                    backend: "anthropic".into(),
                    available: 1,
                    sticky_keys: 3,
                    deployments: vec![deployment],
                }],
            },
            cluster: None,
        })
        .into_response()
    }
    async fn analytics(
        State(s): State<Arc<StandInState>>,
        h: HeaderMap,
        Query(q): Query<HashMap<String, String>>,
    ) -> Response {
        if !authorized(&s, &h) {
            return deny();
        }
        *s.last_window.lock().unwrap() = q.get("window").cloned();
        let minutes = q
            .get("window")
            .and_then(|w| w.parse::<u64>().ok())
            .unwrap_or(60);
        // The body the proxy writes (`admin_api::Analytics`), so a field renamed on either
        // side fails to compile here.
        use dario::analytics::{Burn, GroupSummary, Quantiles, Section, Summary, Tokens};
        let group = |backend: Option<&str>| GroupSummary {
            backend: backend.map(str::to_string),
            deployment: None,
            model: None,
            requests: 17,
            errors: 1,
            streamed: 3,
            unpriced_requests: 0,
            attempts: 18,
            retried: 1,
            tokens: Tokens {
                input: 1200,
                output: 340,
                cache_read: 0,
                cache_write: 0,
                reasoning: 0,
                total: 1540,
            },
            cost_usd: 0.0123,
            latency_ms: Quantiles {
                p50: Some(210.0),
                p95: Some(900.0),
                max: Some(950.0),
            },
            ttfb_ms: Quantiles {
                p50: Some(80.0),
                p95: Some(200.0),
                max: Some(210.0),
            },
            overhead_ms: Quantiles {
                p50: None,
                p95: None,
                max: None,
            },
        };
        let section = |by_backend| Section {
            totals: group(None),
            by_backend,
            by_deployment: vec![],
            by_model: vec![],
        };
        axum::Json(dario::admin_api::Analytics {
            summary: Summary {
                generated_at: "2026-01-01T00:00:00.000Z".into(),
                quantile_method: dario::analytics::QUANTILE_METHOD.into(),
                window: dario::analytics::WindowSummary {
                    window_secs: minutes * 60,
                    window_start: "2025-12-31T23:00:00.000Z".into(),
                    bucket_secs: 300,
                    burn: Burn {
                        span_secs: 60,
                        tokens_per_min: 25.0,
                        usd_per_hour: 0.74,
                    },
                    section: section(vec![group(Some("anthropic"))]),
                    buckets: vec![],
                },
                all_time: section(vec![]),
                records_total: 17,
                records_kept: 17,
                records_dropped: 0,
                failovers: Default::default(),
                unpriced_models: vec![],
            },
            instance_id: None,
            scope: None,
        })
        .into_response()
    }
    let state = Arc::new(state);
    let app = axum::Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/status", get(status))
        .route("/pool", get(pool))
        .route("/analytics", get(analytics))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    LiveProxy::StandIn { port, state, task }
}
