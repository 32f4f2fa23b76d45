//! Admin endpoints: `/health`, `/status`, `/pool`, `/analytics`, `/metrics`, `/v1/models`.
//!
//! Owns: dario's own JSON about itself. Must not: reveal any secret (credential *sources* only).

use http::{HeaderMap, HeaderValue, Response};
use serde_json::json;

use super::body::{full, json as json_body, Body};
use super::state::ProxyState;

fn json_response(value: serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(json_body(&value));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Liveness: no auth, no secrets.
/// Every endpoint dario serves, for `GET /` and the unknown-endpoint error.
pub const ENDPOINTS: &[&str] = &[
    "POST /v1/messages",
    "POST /v1/messages/count_tokens",
    "POST /v1/chat/completions",
    "POST /v1/responses",
    "GET /v1/models",
    "GET /health",
    "GET /status",
    "GET /pool",
    "GET /analytics",
    "GET /metrics",
    "POST /admin/reload",
    "GET /dashboard",
];

/// `GET /` (and `HEAD /`, Claude Code's start-up probe): what this server is. No secrets, no
/// state beyond the version, so it needs no key.
pub fn root(_state: &ProxyState) -> Response<Body> {
    json_response(json!({
        "service": crate::admin_api::SERVICE,
        "version": crate::VERSION,
        "endpoints": ENDPOINTS,
    }))
}

pub fn health(state: &ProxyState) -> Response<Body> {
    json_response(to_json(&crate::admin_api::Health {
        status: "ok".to_string(),
        service: crate::admin_api::SERVICE.to_string(),
        version: Some(crate::VERSION.to_string()),
        uptime_secs: Some(state.started.elapsed().as_secs()),
        requests_total: Some(state.requests_total.get()),
        config_digest: Some(state.snapshot.load().digest.clone()),
    }))
}

/// A body type of `admin_api` as JSON (they hold strings, numbers and maps with string keys
/// only, so this does not fail).
fn to_json<T: serde::Serialize>(body: &T) -> serde_json::Value {
    serde_json::to_value(body).unwrap_or_default()
}

/// `POST /admin/reload`: read the configuration from disk again and swap it in (in-flight
/// requests finish on the old one). A configuration that does not load, or names a backend that
/// does not exist, is refused with 400 and the running one stays.
pub async fn reload(
    state: &std::sync::Arc<ProxyState>,
) -> Result<Response<Body>, super::error::ProxyError> {
    use super::error::{ErrorKind, ProxyError};
    let Some(home) = state.home.get().cloned() else {
        return Err(ProxyError::new(
            ErrorKind::NotImplemented,
            "this proxy was not started from a configuration directory: there is nothing to reload",
        ));
    };
    let st = state.clone();
    let outcome =
        tokio::task::spawn_blocking(move || super::reload::reload_from_disk(&st, &home)).await;
    match outcome {
        Ok(Ok(o)) => {
            if o.changed {
                tracing::warn!(
                    "configuration reloaded (POST /admin/reload): backends {}",
                    o.backends.join(", ")
                );
            }
            Ok(json_response(json!({
                "reloaded": true,
                "changed": o.changed,
                "config_digest": o.config_digest,
                "backends": o.backends,
            })))
        }
        Ok(Err(e)) => Err(ProxyError::invalid(format!(
            "configuration refused, the running one stays: {e}"
        ))),
        Err(e) => Err(ProxyError::new(
            ErrorKind::Api,
            format!("reload failed: {e}"),
        )),
    }
}

/// Every backend: name, protocol, URL, credential *source*, models and deployments.
pub fn backends(state: &ProxyState) -> Vec<crate::admin_api::StatusBackend> {
    use crate::admin_api::{StatusBackend, StatusDeployment};
    let snap = state.snapshot.load();
    snap.config
        .backends
        .values()
        .map(|b| StatusBackend {
            name: b.name.clone(),
            protocol: b.protocol,
            base_url: b.base_url.clone(),
            credential_source: b.credential.source_label(),
            models: b.models.clone(),
            deployments: b
                .deployments
                .iter()
                .map(|d| StatusDeployment {
                    alias: d.alias.clone(),
                    base_url: d.base_url.clone().unwrap_or_else(|| b.base_url.clone()),
                    credential_source: d
                        .credential
                        .as_ref()
                        .unwrap_or(&b.credential)
                        .source_label(),
                })
                .collect(),
        })
        .collect()
}

/// Live state for tools (MCP, doctor).
pub fn status(state: &ProxyState) -> Response<Body> {
    use crate::admin_api::{Build, Routing, Status, StatusHead};
    let snap = state.snapshot.load();
    let limits = &snap.config.limits;
    json_response(to_json(&Status {
        head: StatusHead {
            version: Some(crate::VERSION.to_string()),
            uptime_secs: Some(state.started.elapsed().as_secs()),
            config_digest: Some(snap.digest.clone()),
            requests_total: Some(state.requests_total.get()),
        },
        service: crate::admin_api::SERVICE.to_string(),
        build: Build {
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_string(),
            target: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        },
        listen: state.options.listen.to_string(),
        in_flight: state.admission.in_flight(limits.max_in_flight),
        queued: state.admission.waiting(),
        auth_required: state.options.api_key.is_some(),
        model_override: state.options.model_override.clone(),
        backends: backends(state),
        pool: snap.pools.snapshot(std::time::Instant::now()),
        history: state.history.get().map(|h| h.status()),
        routing: Routing {
            default_backend: snap.config.default_backend.clone(),
            routes: snap.config.routes.len(),
            aliases: snap.config.aliases.len(),
            template_digest: snap.routes.digest(),
        },
        cluster: state.cluster.as_ref().map(|c| c.status()),
    }))
}

pub fn pool(state: &ProxyState) -> Response<Body> {
    let snap = state.snapshot.load();
    json_response(to_json(&crate::admin_api::Pool {
        pools: snap.pools.snapshot(std::time::Instant::now()),
        cluster: state.cluster.as_ref().map(|c| c.status()),
    }))
}

/// `scope=cluster` in an `/analytics` query.
pub fn cluster_scope(query: Option<&str>) -> bool {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .any(|kv| kv == "scope=cluster")
}

/// `GET /analytics?scope=cluster`: every instance's counters summed through Redis.
pub async fn analytics_cluster(state: &ProxyState) -> Response<Body> {
    let Some(cluster) = &state.cluster else {
        let mut r = json_response(json!({
            "error": "scope=cluster needs [cluster] in config.toml (see docs/cluster.md); GET /analytics shows this instance",
        }));
        *r.status_mut() = http::StatusCode::NOT_FOUND;
        return r;
    };
    match crate::cluster::cluster_analytics(cluster).await {
        Ok(v) => json_response(v),
        Err(e) => {
            let mut r = json_response(json!({ "error": e }));
            *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
            r
        }
    }
}

/// `GET /analytics?window=N`: summary over the last N minutes (default 60, at most
/// [`crate::analytics::MAX_WINDOW_MINUTES`], what dario keeps) and all time. A window that is not
/// a whole number of minutes in that range is a 400 that says what is accepted.
pub fn analytics(
    state: &ProxyState,
    query: Option<&str>,
) -> Result<Response<Body>, super::error::ProxyError> {
    let minutes = window_minutes(query)
        .map_err(|m| super::error::ProxyError::invalid(m).with_param("window"))?;
    let summary = state.analytics.summary(
        std::time::Duration::from_secs(minutes * 60),
        std::time::SystemTime::now(),
    );
    // In cluster mode, this instance's records; `?scope=cluster` sums every instance.
    let body = crate::admin_api::Analytics {
        summary,
        instance_id: state.cluster.as_ref().map(|c| c.instance_id().to_string()),
        scope: state.cluster.as_ref().map(|_| "instance".to_string()),
    };
    let value = to_json(&body);
    if !has_flag(query, "pretty") {
        return Ok(json_response(value));
    }
    // `?pretty`: indented, numbers rounded for reading (3 decimals; whole numbers stay whole).
    let mut resp = Response::new(full(
        serde_json::to_vec_pretty(&round_floats(value, 3)).unwrap_or_default(),
    ));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// `true` when the query string has `name` (`?pretty`, `?pretty=1`, `?pretty=true`).
fn has_flag(query: Option<&str>, name: &str) -> bool {
    query.into_iter().flat_map(|q| q.split('&')).any(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        k == name && !matches!(v, "0" | "false")
    })
}

/// Every non-integer number rounded to `decimals` places.
fn round_floats(v: serde_json::Value, decimals: i32) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(0.0);
            let scale = 10f64.powi(decimals);
            serde_json::Number::from_f64((f * scale).round() / scale)
                .map(Value::Number)
                .unwrap_or(Value::Number(n))
        }
        Value::Array(a) => Value::Array(a.into_iter().map(|x| round_floats(x, decimals)).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, x)| (k, round_floats(x, decimals)))
                .collect(),
        ),
        other => other,
    }
}

/// The `window` (or `window_minutes`) query parameter, validated.
pub fn window_minutes(query: Option<&str>) -> Result<u64, String> {
    use crate::analytics::MAX_WINDOW_MINUTES;
    let given = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "window" || *k == "window_minutes")
        .map(|(_, v)| v);
    let Some(text) = given else {
        return Ok(crate::analytics::DEFAULT_WINDOW.as_secs() / 60);
    };
    match text.parse::<u64>() {
        Ok(m) if (1..=MAX_WINDOW_MINUTES).contains(&m) => Ok(m),
        Ok(m) => Err(format!(
            "window={m} is out of range: dario keeps {MAX_WINDOW_MINUTES} minutes (24 h) of \
             usage; ask for 1 to {MAX_WINDOW_MINUTES} minutes"
        )),
        Err(_) => Err(format!(
            "window=`{}` is not a number of minutes: use e.g. `/analytics?window=60` (1 to \
             {MAX_WINDOW_MINUTES})",
            text.chars().take(32).collect::<String>()
        )),
    }
}

pub fn metrics(state: &ProxyState) -> Response<Body> {
    let snap = state.snapshot.load();
    let limits = &snap.config.limits;
    let gauges = crate::analytics::LiveGauges {
        in_flight_requests: state.admission.in_flight(limits.max_in_flight) as u64,
        deployments: snap
            .pools
            .snapshot(std::time::Instant::now())
            .deployment_gauges(),
    };
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("# HELP dario_http_requests_received_total HTTP requests received by dario (all endpoints).\n");
    out.push_str("# TYPE dario_http_requests_received_total counter\n");
    out.push_str(&format!(
        "dario_http_requests_received_total {}\n",
        state.requests_total.get()
    ));
    state.analytics.render_prometheus(&gauges, &mut out);
    if let Some(c) = &state.cluster {
        c.render_prometheus(&mut out);
    }
    let mut resp = Response::new(full(out));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Every routable model name, in the shape of the caller's protocol.
pub async fn models(state: &std::sync::Arc<ProxyState>, headers: &HeaderMap) -> Response<Body> {
    let snapshot = state.snapshot.load_full();
    let upstream =
        super::models::upstream_models(&state.models, &state.client, &snapshot.config).await;
    let snap = state.snapshot.load();
    let mut ids: Vec<(String, String)> = Vec::new(); // (id, backend)
    for (alias, target) in &snap.config.aliases {
        ids.push((
            alias.clone(),
            target.split(':').next().unwrap_or("").to_string(),
        ));
    }
    for b in snap.config.backends.values() {
        for m in &b.models {
            if !m.contains(['*', '?']) {
                ids.push((m.clone(), b.name.clone()));
            }
        }
    }
    for r in &snap.config.routes {
        if !r.model.contains(['*', '?']) {
            ids.push((r.model.clone(), r.backend.clone()));
        }
    }
    for alias in crate::routing::BUILTIN_ALIASES {
        ids.push((alias.name.to_string(), "anthropic".to_string()));
        ids.push((alias.model.to_string(), "anthropic".to_string()));
    }
    for id in OPENAI_MODELS {
        ids.push((id.to_string(), "openai".to_string()));
    }
    // Upstream lists, always routable with the `backend:` prefix.
    for (backend, list) in &upstream {
        for id in list.iter() {
            ids.push((format!("{backend}:{id}"), backend.clone()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    ids.retain(|(id, _)| seen.insert(id.clone()));
    if headers.contains_key("anthropic-version") {
        let data: Vec<_> = ids
            .iter()
            .map(|(id, _)| {
                let info = crate::routing::model_info(id, &snap.config.models);
                let mut m = json!({
                    "type": "model",
                    "id": id,
                    "display_name": info.display_name.as_deref().unwrap_or(id),
                    "created_at": "1970-01-01T00:00:00Z",
                });
                // Claude Code sizes its context from these (gateway model discovery).
                if let Some(n) = info.max_input_tokens {
                    m["max_input_tokens"] = json!(n);
                }
                if let Some(n) = info.max_tokens {
                    m["max_tokens"] = json!(n);
                }
                m
            })
            .collect();
        json_response(json!({
            "data": data,
            "has_more": false,
            "first_id": ids.first().map(|x| &x.0),
            "last_id": ids.last().map(|x| &x.0),
        }))
    } else {
        let data: Vec<_> = ids
            .iter()
            .map(|(id, backend)| json!({"id": id, "object": "model", "created": 0, "owned_by": backend}))
            .collect();
        json_response(json!({"object": "list", "data": data}))
    }
}

/// Current OpenAI model ids listed by `GET /v1/models` (the `gpt-*`/`o*` families route to
/// OpenAI whatever the exact id).
const OPENAI_MODELS: &[&str] = &[
    "gpt-5",
    "gpt-5-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4o",
    "gpt-4o-mini",
    "o3",
    "o4-mini",
];
