//! Admin endpoints: `/health`, `/status`, `/pool`, `/analytics`, `/metrics`, `/v1/models`.
//!
//! Owns: dario's own JSON about itself. Must not: reveal any secret (credential *sources* only).

use std::sync::atomic::Ordering;

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
pub fn health(state: &ProxyState) -> Response<Body> {
    json_response(json!({
        "status": "ok",
        "service": "dario",
        "version": crate::VERSION,
        "uptime_secs": state.started.elapsed().as_secs(),
        "requests_total": state.requests_total.load(Ordering::Relaxed),
    }))
}

fn backends_json(state: &ProxyState) -> serde_json::Value {
    let snap = state.snapshot.load();
    let list: Vec<_> = snap
        .config
        .backends
        .values()
        .map(|b| {
            json!({
                "name": b.name,
                "protocol": b.protocol,
                "base_url": b.base_url,
                "credential_source": b.credential.source_label(),
                "models": b.models,
                "deployments": b.deployments.iter().map(|d| json!({
                    "alias": d.alias,
                    "base_url": d.base_url.as_deref().unwrap_or(&b.base_url),
                    "credential_source": d.credential.as_ref().unwrap_or(&b.credential).source_label(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::Value::Array(list)
}

/// Live state for tools (MCP, doctor).
pub fn status(state: &ProxyState) -> Response<Body> {
    let snap = state.snapshot.load();
    let limits = &snap.config.limits;
    json_response(json!({
        "service": "dario",
        "version": crate::VERSION,
        "build": {
            "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
            "target": format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        },
        "listen": state.options.listen.to_string(),
        "uptime_secs": state.started.elapsed().as_secs(),
        "config_digest": snap.digest,
        "requests_total": state.requests_total.load(Ordering::Relaxed),
        "in_flight": state.admission.in_flight(limits.max_in_flight),
        "queued": state.admission.waiting(),
        "auth_required": state.options.api_key.is_some(),
        "model_override": state.options.model_override,
        "backends": backends_json(state),
    }))
}

pub fn pool(_state: &ProxyState) -> Response<Body> {
    json_response(json!({ "backends": [] }))
}

pub fn analytics(_state: &ProxyState, _query: Option<&str>) -> Response<Body> {
    json_response(json!({}))
}

pub fn metrics(state: &ProxyState) -> Response<Body> {
    let mut out = String::new();
    out.push_str("# HELP dario_http_requests_total HTTP requests received by dario.\n");
    out.push_str("# TYPE dario_http_requests_total counter\n");
    out.push_str(&format!(
        "dario_http_requests_total {}\n",
        state.requests_total.load(Ordering::Relaxed)
    ));
    let mut resp = Response::new(full(out));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Every routable model name, in the shape of the caller's protocol.
pub fn models(state: &ProxyState, headers: &HeaderMap) -> Response<Body> {
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
    for (id, backend) in crate::routing::KNOWN_MODELS {
        ids.push((id.to_string(), backend.to_string()));
    }
    let mut seen = std::collections::HashSet::new();
    ids.retain(|(id, _)| seen.insert(id.clone()));
    if headers.contains_key("anthropic-version") {
        let data: Vec<_> = ids
            .iter()
            .map(|(id, _)| json!({"type": "model", "id": id, "display_name": id, "created_at": "1970-01-01T00:00:00Z"}))
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
