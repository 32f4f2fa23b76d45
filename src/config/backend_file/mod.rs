//! Backend definitions as files: `backends/<name>.json` (dario's format and Node dario's
//! `{provider, name, apiKey, baseUrl}`), the `[backends.<name>]` tables of `config.toml` (same
//! fields), and the atomic 0600 writer used by `dario backend add|remove`. Here the validated
//! schema; reading (the raw serde shapes, both formats) in `read.rs`; writing in `write.rs`.
//!
//! Owns: the on-disk backend schema, its validation and its conversion into [`BackendConfig`].
//! Must not: print or log a key, or leave a window in which a key file is readable by others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::protocol::Protocol;

use super::error::{display_path, line_col, sanitize_message};
use super::home::Home;
use super::providers::known_provider;
use super::validate::{normalize_base_url, validate_env_var, validate_header, validate_name};
use super::{BackendConfig, BackendSource, ConfigError, Credential, DeploymentConfig, Secret};
use crate::translate::SystemMessages;

/// Largest backend or config file dario reads (they are a few hundred bytes in practice).
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A backend as stored on disk, validated and normalised. `Debug` never shows a key; there is
/// deliberately no `Serialize` (the writer exposes the key only into the 0600 file).
#[derive(Debug, Clone, PartialEq)]
pub struct BackendFile {
    pub name: String,
    pub protocol: Protocol,
    /// Normalised (no trailing slash; Anthropic without `/v1`).
    pub base_url: String,
    pub credential: FileCredential,
    pub models: Vec<String>,
    pub headers: BTreeMap<String, String>,
    pub deployments: Vec<DeploymentFile>,
    /// Where mid-conversation system messages go when this (OpenAI-protocol) backend gets a
    /// translated Anthropic request; `None` = inline, falling back to `user` on a refusal.
    pub system_messages: Option<SystemMessages>,
    /// The (OpenAI-protocol) backend serves the Responses API too.
    pub responses: bool,
}

/// The alias of the deployment a backend's top-level `base_url` and key make.
const DEFAULT_DEPLOYMENT: &str = "default";

/// One deployment as stored on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentFile {
    pub alias: String,
    pub base_url: Option<String>,
    /// `None` = use the backend's own credential.
    pub credential: Option<FileCredential>,
}

/// A credential as written in a file: the key itself, the name of a variable, passthrough, or
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileCredential {
    Key(Secret),
    KeyEnv(String),
    Passthrough,
    None,
}

impl FileCredential {
    /// Resolves `key_env` through `env`; an unset or empty variable gives `value: None`.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Credential {
        match self {
            FileCredential::Key(k) => Credential::Key { key: k.clone() },
            FileCredential::KeyEnv(var) => Credential::KeyEnv {
                var: var.clone(),
                value: env(var).filter(|v| !v.is_empty()).map(Secret::new),
            },
            FileCredential::Passthrough => Credential::Passthrough,
            FileCredential::None => Credential::None,
        }
    }

    fn secret(&self) -> Option<&Secret> {
        match self {
            FileCredential::Key(k) => Some(k),
            _ => None,
        }
    }
}

impl BackendFile {
    /// A new backend with no models, headers or deployments. The base URL is normalised.
    pub fn new(
        name: &str,
        protocol: Protocol,
        base_url: &str,
        credential: FileCredential,
    ) -> Result<BackendFile, ConfigError> {
        validate_name("backend", name)?;
        let base_url = normalize_base_url(protocol, base_url).map_err(ConfigError::InvalidValue)?;
        if let FileCredential::KeyEnv(var) = &credential {
            validate_env_var(var).map_err(ConfigError::InvalidValue)?;
        }
        Ok(BackendFile {
            name: name.to_string(),
            protocol,
            base_url,
            credential,
            models: Vec::new(),
            headers: BTreeMap::new(),
            deployments: Vec::new(),
            system_messages: None,
            responses: false,
        })
    }

    /// The effective backend, with `key_env` resolved through `env`.
    /// The deployment the backend's own `base_url` and credential make when it has a credential
    /// of its own and its deployments all name other URLs (README: the top level is a deployment
    /// too) — configured capacity is never silently dropped. A pool whose top-level URL is one
    /// of its deployments' (or is inherited by one), or whose top level has no credential (the
    /// URL `backend add NAME --deployment …` records from the first deployment), has none.
    /// Named `default`, or `default-top` when a deployment is called `default`.
    fn top_level_deployment(&self) -> Option<DeploymentConfig> {
        let separate = !self.deployments.is_empty()
            && self.credential != FileCredential::None
            && self
                .deployments
                .iter()
                .all(|d| d.base_url.as_ref().is_some_and(|u| *u != self.base_url));
        separate.then(|| DeploymentConfig {
            alias: if self
                .deployments
                .iter()
                .any(|d| d.alias == DEFAULT_DEPLOYMENT)
            {
                format!("{DEFAULT_DEPLOYMENT}-top")
            } else {
                DEFAULT_DEPLOYMENT.to_string()
            },
            base_url: None,
            credential: None,
        })
    }

    pub fn to_config(
        &self,
        source: BackendSource,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> BackendConfig {
        BackendConfig {
            name: self.name.clone(),
            protocol: self.protocol,
            base_url: self.base_url.clone(),
            credential: self.credential.resolve(env),
            models: self.models.clone(),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            deployments: self
                .top_level_deployment()
                .into_iter()
                .chain(self.deployments.iter().map(|d| DeploymentConfig {
                    alias: d.alias.clone(),
                    base_url: d.base_url.clone(),
                    credential: d.credential.as_ref().map(|c| c.resolve(env)),
                }))
                .collect(),
            system_messages: self.system_messages,
            responses: self.responses,
            source,
        }
    }

    /// Every stored key in this definition (backend and deployments).
    pub(crate) fn stored_secrets(&self) -> Vec<&Secret> {
        let mut out: Vec<&Secret> = self.credential.secret().into_iter().collect();
        for d in &self.deployments {
            if let Some(s) = d.credential.as_ref().and_then(|c| c.secret()) {
                out.push(s);
            }
        }
        out
    }

    /// Adds a deployment, replacing one with the same alias (its position is kept).
    pub fn upsert_deployment(&mut self, deployment: DeploymentFile) -> Result<(), ConfigError> {
        validate_name("deployment", &deployment.alias)?;
        if let Some(existing) = self
            .deployments
            .iter_mut()
            .find(|d| d.alias == deployment.alias)
        {
            *existing = deployment;
        } else {
            self.deployments.push(deployment);
        }
        Ok(())
    }

    /// Re-checks every field (names, URLs, variables, headers, duplicate aliases).
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_name("backend", &self.name)?;
        check_definition(self).map_err(ConfigError::InvalidValue)
    }
}

fn check_definition(b: &BackendFile) -> Result<(), String> {
    normalize_base_url(b.protocol, &b.base_url)?;
    if let FileCredential::KeyEnv(var) = &b.credential {
        validate_env_var(var)?;
    }
    if let FileCredential::Key(k) = &b.credential {
        if k.is_empty() {
            return Err("`key` is empty: give the key or remove the field".to_string());
        }
    }
    for m in &b.models {
        if m.trim().is_empty() {
            return Err("`models` contains an empty pattern".to_string());
        }
    }
    for (k, v) in &b.headers {
        validate_header(k, v)?;
    }
    let mut seen = std::collections::BTreeSet::new();
    for d in &b.deployments {
        validate_name("deployment", &d.alias).map_err(|e| e.to_string())?;
        if !seen.insert(d.alias.as_str()) {
            return Err(format!(
                "deployment alias `{}` appears twice: aliases must be unique within a backend",
                d.alias
            ));
        }
        if let Some(u) = &d.base_url {
            normalize_base_url(b.protocol, u)?;
        }
        if let Some(FileCredential::KeyEnv(var)) = &d.credential {
            validate_env_var(var)?;
        }
    }
    Ok(())
}

mod read;
#[cfg(test)]
mod tests;
mod write;

pub(crate) use read::{build_backend, friendly_serde_message, read_small_file, RawBackend};
pub use read::{parse_backend_json, read_backend_file};
pub use write::{lock_backends, remove_backend, write_backend, BackendsLock};
