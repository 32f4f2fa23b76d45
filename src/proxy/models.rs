//! Upstream model lists for `GET /v1/models`: fetched from backends that have their own
//! credential, cached per backend, refreshed in the background.
//!
//! Owns: the cache. Must not: block a request on a slow upstream for more than the short fetch
//! deadline, or send a client's credential anywhere (passthrough backends are not asked).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::upstream;
use super::upstream::client::UpstreamClient;
use crate::config::{BackendConfig, Config};
use crate::protocol::Protocol;

/// How long a fetched list is served before it is fetched again.
const TTL: Duration = Duration::from_secs(600);
/// How long one fetch may take.
const FETCH_DEADLINE: Duration = Duration::from_secs(3);

/// One backend's model ids and when they were fetched.
type Entry = (Instant, Arc<Vec<String>>);

/// Model ids per backend name, with the time they were fetched.
#[derive(Default)]
pub struct ModelCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl ModelCache {
    fn fresh(&self, backend: &str) -> Option<Arc<Vec<String>>> {
        let entries = self.entries.lock();
        entries
            .get(backend)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, ids)| ids.clone())
    }

    fn store(&self, backend: &str, ids: Vec<String>) {
        self.entries
            .lock()
            .insert(backend.to_string(), (Instant::now(), Arc::new(ids)));
    }
}

/// Fetches one backend's model ids (empty on any failure: the list is a convenience).
async fn fetch(client: &UpstreamClient, backend: &BackendConfig) -> Vec<String> {
    let Some(secret) = backend.credential.secret() else {
        return Vec::new();
    };
    let Ok(uri) = upstream::parse_http_uri(&format!(
        "{}{}",
        backend.base_url.trim_end_matches('/'),
        backend.protocol.models_path()
    )) else {
        return Vec::new();
    };
    // The backend's own headers first, then ours: the credential always wins (as on requests).
    let mut headers = http::HeaderMap::new();
    upstream::insert_backend_headers(&mut headers, backend);
    headers.insert(http::header::USER_AGENT, upstream::user_agent(None));
    if backend.protocol == Protocol::Anthropic {
        upstream::ensure_anthropic_version(&mut headers);
    }
    upstream::insert_key(&mut headers, backend.protocol, secret);
    let Ok(Ok(resp)) = tokio::time::timeout(FETCH_DEADLINE, client.get(uri, headers)).await else {
        return Vec::new();
    };
    if !resp.status().is_success() {
        return Vec::new();
    }
    let Ok(Ok(body)) =
        tokio::time::timeout(FETCH_DEADLINE, upstream::read_body(resp, FETCH_DEADLINE)).await
    else {
        return Vec::new();
    };
    #[derive(serde::Deserialize)]
    struct List {
        #[serde(default)]
        data: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        id: String,
    }
    serde_json::from_slice::<List>(&body)
        .map(|l| l.data.into_iter().map(|i| i.id).take(2000).collect())
        .unwrap_or_default()
}

/// Upstream model ids of every backend of `config` with its own credential, as
/// `(backend, id)`; fetched concurrently when not in `cache`.
pub async fn upstream_models(
    cache: &ModelCache,
    client: &UpstreamClient,
    config: &Config,
) -> Vec<(String, Arc<Vec<String>>)> {
    let backends: Vec<&BackendConfig> = config
        .backends
        .values()
        .filter(|b| b.credential.secret().is_some())
        .collect();
    let fetches = backends.iter().map(|b| async {
        if let Some(ids) = cache.fresh(&b.name) {
            return (b.name.clone(), ids);
        }
        let ids = fetch(client, b).await;
        cache.store(&b.name, ids);
        (b.name.clone(), cache.fresh(&b.name).unwrap_or_default())
    });
    futures_util::future::join_all(fetches).await
}
