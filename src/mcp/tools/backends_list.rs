//! `backends_list`: every configured backend, its deployments and the file that defines it.
//!
//! Owns: this tool's output type, how it is built from its inputs, and its text. Must not: do
//! I/O (the server gathers inputs through `server::run`).

use super::*;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DeploymentInfo {
    pub alias: String,
    /// Base URL of this deployment (the backend's own when it has none).
    pub base_url: String,
    pub credential: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BackendInfo {
    pub name: String,
    pub protocol: String,
    /// Base URL without user-info or query string.
    pub base_url: String,
    /// Credential source (never its value).
    pub credential: String,
    /// Model globs this backend claims (SPEC §4 rule 4).
    pub models: Vec<String>,
    /// Names of the extra headers sent upstream (values are not shown).
    pub extra_headers: Vec<String>,
    /// Several deployments make the backend a pool.
    pub deployments: Vec<DeploymentInfo>,
    /// `built-in`, or the file that defines it.
    pub source: String,
    /// What the running proxy reports for this backend, if running.
    pub live: Option<Value>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BackendsListOut {
    pub proxy: ProxyState,
    pub default_backend: Option<String>,
    pub backends: Vec<BackendInfo>,
}

pub(super) fn backend_info(b: &BackendConfig, live: Option<&Value>) -> BackendInfo {
    BackendInfo {
        name: b.name.clone(),
        protocol: b.protocol.to_string(),
        base_url: crate::safe_url::display(&b.base_url),
        credential: b.credential.source_label(),
        models: b.models.clone(),
        extra_headers: b.headers.iter().map(|(n, _)| n.clone()).collect(),
        deployments: b
            .deployments
            .iter()
            .map(|d| DeploymentInfo {
                alias: d.alias.clone(),
                base_url: crate::safe_url::display(d.base_url.as_deref().unwrap_or(&b.base_url)),
                credential: d
                    .credential
                    .as_ref()
                    .unwrap_or(&b.credential)
                    .source_label(),
            })
            .collect(),
        source: source_label(&b.source),
        live: live.cloned(),
    }
}

pub fn backends_list(cfg: &Config, proxy: ProxyState, status: Option<&Value>) -> BackendsListOut {
    let live_backends = LiveBackends::of(status);
    BackendsListOut {
        proxy,
        default_backend: cfg.default_backend.clone(),
        backends: cfg
            .backends
            .values()
            .map(|b| backend_info(b, live_backends.get(&b.name).as_ref()))
            .collect(),
    }
}

impl Rendered for BackendsListOut {
    fn render(&self) -> String {
        let mut out = format!(
            "{} backend(s); default backend: {}.\n{}\n\n",
            self.backends.len(),
            self.default_backend.as_deref().unwrap_or("(none set)"),
            proxy_line(&self.proxy)
        );
        for b in &self.backends {
            out.push_str(&format!(
                "- {} [{}] {} — credential: {} — from {}\n",
                b.name, b.protocol, b.base_url, b.credential, b.source
            ));
            if !b.models.is_empty() {
                out.push_str(&format!("    models: {}\n", b.models.join(", ")));
            }
            if !b.extra_headers.is_empty() {
                out.push_str(&format!(
                    "    extra headers: {}\n",
                    b.extra_headers.join(", ")
                ));
            }
            for d in &b.deployments {
                out.push_str(&format!(
                    "    deployment {}: {} — {}\n",
                    d.alias, d.base_url, d.credential
                ));
            }
            if let Some(live) = &b.live {
                out.push_str(&format!("    live: {}\n", compact(live)));
            }
        }
        out
    }
}
