//! `auth_status`: every backend's credential source and health, never a key.
//!
//! Owns: this tool's output type, how it is built from its inputs, and its text. Must not: do
//! I/O (the server gathers inputs through `server::run`).

use super::*;

/// Health of one credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialHealth {
    /// A key is configured (stored, or its environment variable is set).
    Configured,
    /// `key_env` names a variable that is not set: requests to this backend will fail.
    Missing,
    /// The client's own credential is forwarded.
    Passthrough,
    /// No credential (a local server).
    None,
}

impl CredentialHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialHealth::Configured => "configured",
            CredentialHealth::Missing => "MISSING",
            CredentialHealth::Passthrough => "passthrough",
            CredentialHealth::None => "none",
        }
    }
}

fn health_of(c: &Credential) -> (CredentialHealth, String) {
    match c {
        Credential::Key { .. } => (
            CredentialHealth::Configured,
            "key stored in dario's files".to_string(),
        ),
        Credential::KeyEnv { var, value: Some(_) } => (
            CredentialHealth::Configured,
            format!("read from ${var} (set)"),
        ),
        Credential::KeyEnv { var, value: None } => (
            CredentialHealth::Missing,
            format!("${var} is not set in this environment: export it, or store a key with `dario backend add <name> --key …`"),
        ),
        Credential::Passthrough => (
            CredentialHealth::Passthrough,
            "the client's own x-api-key / Authorization is forwarded".to_string(),
        ),
        Credential::None => (CredentialHealth::None, "no credential sent".to_string()),
    }
}

/// One deployment's credential.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DeploymentAuth {
    pub alias: String,
    /// Where the credential comes from (never its value).
    pub credential: String,
    pub health: CredentialHealth,
    pub detail: String,
}

/// Credential source and health of one backend.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BackendAuth {
    pub backend: String,
    pub protocol: String,
    /// `key`, `key_env`, `passthrough` or `none`.
    pub credential_kind: String,
    /// Where the credential comes from (never its value): `key (stored)`, `env GROQ_API_KEY (set)`…
    pub credential: String,
    pub health: CredentialHealth,
    pub detail: String,
    pub deployments: Vec<DeploymentAuth>,
    /// What the running proxy reports for this backend (`/status` → `backends`), if running.
    pub live: Option<Value>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuthStatusOut {
    pub proxy: ProxyState,
    pub backends: Vec<BackendAuth>,
    /// Backends whose credential is missing (requests to them will fail).
    pub missing: Vec<String>,
}

pub fn auth_status(cfg: &Config, proxy: ProxyState, status: Option<&Value>) -> AuthStatusOut {
    let live_backends = LiveBackends::of(status);
    let mut backends = Vec::new();
    let mut missing = Vec::new();
    for b in cfg.backends.values() {
        let (health, detail) = health_of(&b.credential);
        let deployments: Vec<DeploymentAuth> = b
            .deployments
            .iter()
            .map(|d| {
                let cred = d.credential.as_ref().unwrap_or(&b.credential);
                let (health, detail) = health_of(cred);
                DeploymentAuth {
                    alias: d.alias.clone(),
                    credential: cred.source_label(),
                    health,
                    detail,
                }
            })
            .collect();
        if health == CredentialHealth::Missing
            || deployments
                .iter()
                .any(|d| d.health == CredentialHealth::Missing)
        {
            missing.push(b.name.clone());
        }
        backends.push(BackendAuth {
            backend: b.name.clone(),
            protocol: b.protocol.to_string(),
            credential_kind: credential_kind(&b.credential).to_string(),
            credential: b.credential.source_label(),
            health,
            detail,
            deployments,
            live: live_backends.get(&b.name),
        });
    }
    AuthStatusOut {
        proxy,
        backends,
        missing,
    }
}

impl Rendered for AuthStatusOut {
    fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "Credentials of {} backend(s); {} missing.\n{}\n\n",
            self.backends.len(),
            self.missing.len(),
            proxy_line(&self.proxy)
        ));
        for b in &self.backends {
            out.push_str(&format!(
                "- {} ({}): {} — {} — {}\n",
                b.backend,
                b.protocol,
                b.credential,
                b.health.as_str(),
                b.detail
            ));
            for d in &b.deployments {
                out.push_str(&format!(
                    "    deployment {}: {} — {}\n",
                    d.alias,
                    d.credential,
                    d.health.as_str()
                ));
            }
            if let Some(live) = &b.live {
                out.push_str(&format!("    live: {}\n", compact(live)));
            }
        }
        out
    }
}
