//! Backend definitions as files: `backends/<name>.json` (dario's format and Node dario's
//! `{provider, name, apiKey, baseUrl}`), the `[backends.<name>]` tables of `config.toml` (same
//! fields), and the atomic 0600 writer used by `dario backend add|remove`.
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

// ---------------------------------------------------------------------------------------------
// Raw (serde) shapes shared by backend JSON files and config.toml tables.

/// dario's own backend schema. Unknown fields are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBackend {
    name: Option<String>,
    protocol: Option<String>,
    base_url: Option<String>,
    key: Option<Secret>,
    key_env: Option<String>,
    passthrough: Option<bool>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    deployments: Vec<RawDeployment>,
    system_messages: Option<String>,
    responses: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDeployment {
    alias: String,
    base_url: Option<String>,
    key: Option<Secret>,
    key_env: Option<String>,
    passthrough: Option<bool>,
}

/// Node dario's backend file (v3.6+): `{provider, name, apiKey, baseUrl}`; other fields are
/// ignored, as Node dario itself does.
#[derive(Debug, Deserialize)]
struct RawNodeBackend {
    provider: Option<String>,
    name: Option<String>,
    #[serde(rename = "apiKey")]
    api_key: Option<Secret>,
    #[serde(rename = "baseUrl")]
    base_url: Option<String>,
}

impl RawBackend {
    /// `true` when a stored `key` appears anywhere in it (config.toml then must be 0600).
    pub(crate) fn has_stored_key(&self) -> bool {
        self.key.is_some() || self.deployments.iter().any(|d| d.key.is_some())
    }
}

fn parse_protocol(value: &str) -> Result<Protocol, String> {
    // The value is not repeated: a key pasted into the wrong field must not reach the terminal.
    value
        .parse::<Protocol>()
        .map_err(|_| "unknown `protocol`: use `anthropic` or `openai`".to_string())
}

fn raw_credential(
    key: Option<Secret>,
    key_env: Option<String>,
    passthrough: Option<bool>,
) -> Result<Option<FileCredential>, String> {
    let passthrough = passthrough.unwrap_or(false);
    let count = key.is_some() as u8 + key_env.is_some() as u8 + passthrough as u8;
    if count > 1 {
        return Err("give at most one of `key`, `key_env` and `passthrough = true`".to_string());
    }
    Ok(if let Some(k) = key {
        if k.is_empty() {
            return Err("`key` is empty: give the key or remove the field".to_string());
        }
        Some(FileCredential::Key(k))
    } else if let Some(var) = key_env {
        validate_env_var(&var)?;
        Some(FileCredential::KeyEnv(var))
    } else if passthrough {
        Some(FileCredential::Passthrough)
    } else {
        None
    })
}

/// Turns a raw definition named `name` into a validated [`BackendFile`]. Missing protocol and
/// base URL come from the known-provider table (then from the first deployment's URL).
/// Errors are plain messages; the caller adds file and position.
pub(crate) fn build_backend(name: &str, raw: RawBackend) -> Result<BackendFile, String> {
    if let Some(declared) = &raw.name {
        if declared != name {
            return Err(format!(
                "declares name `{declared}` but is defined as `{name}`: make them equal"
            ));
        }
    }
    let known = known_provider(name);
    let protocol = match &raw.protocol {
        Some(p) => parse_protocol(p)?,
        None => known.map(|k| k.protocol).unwrap_or(Protocol::OpenAi),
    };
    let credential =
        raw_credential(raw.key, raw.key_env, raw.passthrough)?.unwrap_or(FileCredential::None);
    let mut deployments = Vec::with_capacity(raw.deployments.len());
    for d in raw.deployments {
        let base_url = d
            .base_url
            .as_deref()
            .map(|u| normalize_base_url(protocol, u))
            .transpose()
            .map_err(|e| format!("deployment `{}`: {e}", d.alias))?;
        let credential = raw_credential(d.key, d.key_env, d.passthrough)
            .map_err(|e| format!("deployment `{}`: {e}", d.alias))?;
        deployments.push(DeploymentFile {
            alias: d.alias,
            base_url,
            credential,
        });
    }
    let base_url = match raw.base_url.as_deref() {
        Some(u) => normalize_base_url(protocol, u)?,
        None => match (known, deployments.iter().find_map(|d| d.base_url.clone())) {
            (Some(k), _) if k.protocol == protocol => k.base_url.to_string(),
            (_, Some(first)) => first,
            _ => {
                return Err(format!(
                    "backend `{name}` has no `base_url`: add `base_url = \"https://…\"`"
                ))
            }
        },
    };
    let system_messages = raw
        .system_messages
        .as_deref()
        .map(str::parse::<SystemMessages>)
        .transpose()?;
    let file = BackendFile {
        name: name.to_string(),
        protocol,
        base_url,
        credential,
        models: raw.models,
        headers: raw.headers,
        deployments,
        system_messages,
        responses: raw.responses.unwrap_or(false),
    };
    check_definition(&file)?;
    Ok(file)
}

fn node_backend(name: &str, raw: RawNodeBackend) -> Result<BackendFile, String> {
    if let Some(declared) = &raw.name {
        if declared != name {
            return Err(format!(
                "declares name `{declared}` but the file is named `{name}.json`: make them equal"
            ));
        }
    }
    let protocol = match raw
        .provider
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("anthropic") | Some("claude") => Protocol::Anthropic,
        // Node dario 3.x only wrote "openai" (OpenAI-compatible); anything else is that too.
        _ => Protocol::OpenAi,
    };
    let base_url = match raw.base_url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(u) => normalize_base_url(protocol, u)?,
        None => match protocol {
            Protocol::Anthropic => "https://api.anthropic.com".to_string(),
            Protocol::OpenAi | Protocol::Responses => "https://api.openai.com/v1".to_string(),
        },
    };
    let credential = match raw.api_key {
        Some(k) if !k.expose().trim().is_empty() => FileCredential::Key(k),
        _ => FileCredential::None,
    };
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

/// Friendlier wording of serde's unknown-field message.
pub(crate) fn friendly_serde_message(message: &str) -> String {
    let message = sanitize_message(message.trim())
        .replace("expected f64", "expected a number")
        .replace("expected u64", "expected a whole number")
        .replace("expected usize", "expected a whole number");
    if message.starts_with("unknown field") {
        if let Some((head, valid)) = message.split_once(", expected one of ") {
            return format!("{head} — valid fields: {valid}");
        }
        if let Some((head, valid)) = message.split_once(", expected ") {
            return format!("{head} — valid field: {valid}");
        }
        if let Some((head, _)) = message.split_once(", there are no fields") {
            return format!("{head} — this table takes no fields");
        }
    }
    message
}

fn json_error(path: &Path, e: &serde_json::Error) -> ConfigError {
    // serde_json appends " at line L column C" to its Display; use the bare message.
    let full = e.to_string();
    let bare = match full.rfind(" at line ") {
        Some(i) => &full[..i],
        None => full.as_str(),
    };
    ConfigError::Json {
        path: display_path(path),
        line: e.line().max(1),
        column: e.column().max(1),
        message: friendly_serde_message(bare),
    }
}

/// Parses a backend JSON file whose file name gives `name`. Both dario's format and Node
/// dario's are accepted; anything else is an error naming file, line and column.
pub fn parse_backend_json(path: &Path, name: &str, text: &str) -> Result<BackendFile, ConfigError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
    let obj = value.as_object().ok_or_else(|| ConfigError::Json {
        path: display_path(path),
        line: 1,
        column: 1,
        message: "a backend file must hold one JSON object".to_string(),
    })?;
    let node_shape = ["provider", "apiKey", "baseUrl"]
        .iter()
        .any(|k| obj.contains_key(*k))
        && !["protocol", "base_url", "key", "key_env"]
            .iter()
            .any(|k| obj.contains_key(*k));
    let built = if node_shape {
        let raw: RawNodeBackend = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
        node_backend(name, raw)
    } else {
        let raw: RawBackend = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
        build_backend(name, raw)
    };
    built.map_err(|m| ConfigError::invalid(path, m))
}

/// Reads `backends/<name>.json` if it exists.
pub fn read_backend_file(home: &Home, name: &str) -> Result<Option<BackendFile>, ConfigError> {
    validate_name("backend", name)?;
    let path = home.backend_file(name);
    match read_small_file(&path)? {
        None => Ok(None),
        Some(text) => parse_backend_json(&path, name, &text).map(Some),
    }
}

/// Reads a UTF-8 file of at most [`MAX_FILE_BYTES`]; `None` when it does not exist.
pub(crate) fn read_small_file(path: &Path) -> Result<Option<String>, ConfigError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ConfigError::io(path, "read", e)),
    };
    if !meta.is_file() {
        return Err(ConfigError::invalid(path, "is not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ConfigError::invalid(
            path,
            format!("is larger than {MAX_FILE_BYTES} bytes; is it the right file?"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| ConfigError::io(path, "read", e))?;
    String::from_utf8(bytes).map(Some).map_err(|e| {
        let (line, column) = {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            line_col(std::str::from_utf8(valid).unwrap_or(""), valid.len())
        };
        ConfigError::invalid(
            path,
            format!("line {line}, column {column}: not valid UTF-8"),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Writing.

#[derive(Serialize)]
struct WireBackend<'a> {
    name: &'a str,
    protocol: Protocol,
    base_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_env: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    passthrough: bool,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    models: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    deployments: Vec<WireDeployment<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_messages: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    responses: bool,
}

#[derive(Serialize)]
struct WireDeployment<'a> {
    alias: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    base_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_env: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    passthrough: bool,
}

fn wire_credential(c: Option<&FileCredential>) -> (Option<&str>, Option<&str>, bool) {
    match c {
        Some(FileCredential::Key(k)) => (Some(k.expose()), None, false),
        Some(FileCredential::KeyEnv(v)) => (None, Some(v.as_str()), false),
        Some(FileCredential::Passthrough) => (None, None, true),
        Some(FileCredential::None) | None => (None, None, false),
    }
}

/// The JSON text of a backend file, key included: only for the 0600 file itself.
fn render(file: &BackendFile) -> Vec<u8> {
    let (key, key_env, passthrough) = wire_credential(Some(&file.credential));
    let wire = WireBackend {
        name: &file.name,
        protocol: file.protocol,
        base_url: &file.base_url,
        key,
        key_env,
        passthrough,
        models: &file.models,
        headers: &file.headers,
        deployments: file
            .deployments
            .iter()
            .map(|d| {
                let (key, key_env, passthrough) = wire_credential(d.credential.as_ref());
                WireDeployment {
                    alias: &d.alias,
                    base_url: d.base_url.as_deref(),
                    key,
                    key_env,
                    passthrough,
                }
            })
            .collect(),
        system_messages: file.system_messages.map(SystemMessages::as_str),
        responses: file.responses,
    };
    let mut out = serde_json::to_vec_pretty(&wire).expect("backend file serialises");
    out.push(b'\n');
    out
}

/// Writes `backends/<name>.json` atomically with mode 0600 (creating the home and `backends/`
/// with 0700 when missing). Returns the path written.
/// An exclusive lock on the home's backend files, held for one read-modify-write, so that
/// `dario backend add/remove` run by several processes at once lose nothing (two deployments added
/// to one backend at the same time both stay). Released when dropped.
#[derive(Debug)]
pub struct BackendsLock {
    _file: std::fs::File,
}

/// Takes the [`BackendsLock`] (`<home>/backends/.lock`, mode 0600), waiting for another process
/// that holds it.
pub fn lock_backends(home: &Home) -> Result<BackendsLock, ConfigError> {
    home.ensure()?;
    let path = home.backends_dir().join(".lock");
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options
        .open(&path)
        .map_err(|e| ConfigError::io(&path, "open", e))?;
    file.lock().map_err(|e| ConfigError::io(&path, "lock", e))?;
    Ok(BackendsLock { _file: file })
}

pub fn write_backend(home: &Home, file: &BackendFile) -> Result<PathBuf, ConfigError> {
    file.validate()?;
    home.ensure()?;
    let path = home.backend_file(&file.name);
    write_atomic_private(&path, &render(file))?;
    Ok(path)
}

/// Deletes `backends/<name>.json`. Returns its path; [`ConfigError::BackendNotFound`] when there
/// is no such file.
pub fn remove_backend(home: &Home, name: &str) -> Result<PathBuf, ConfigError> {
    validate_name("backend", name)?;
    let path = home.backend_file(name);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            crate::atomic_file::sync_dir(&home.backends_dir())
                .map_err(|e| ConfigError::io(&e.path, e.action, e.source))?;
            Ok(path)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConfigError::BackendNotFound {
            name: name.to_string(),
            dir: display_path(&home.backends_dir()),
        }),
        Err(e) => Err(ConfigError::io(&path, "remove", e)),
    }
}

/// Replaces `path` atomically with a file of mode 0600 (`atomic_file::write`).
pub(crate) fn write_atomic_private(path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
    crate::atomic_file::write(path, bytes, 0o600)
        .map_err(|e| ConfigError::io(&e.path, e.action, e.source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::home::mode_of;

    fn p() -> PathBuf {
        PathBuf::from("/x/backends/groq.json")
    }

    #[test]
    fn reads_our_format() {
        let text = r#"{
  "name": "groq",
  "protocol": "openai",
  "base_url": "https://api.groq.com/openai/v1/",
  "key_env": "GROQ_API_KEY",
  "models": ["llama-*"],
  "headers": {"x-org": "o1"},
  "deployments": [{"alias": "east", "base_url": "https://e.example/v1", "key": "k-east"}]
}"#;
        let b = parse_backend_json(&p(), "groq", text).unwrap();
        assert_eq!(b.base_url, "https://api.groq.com/openai/v1");
        assert_eq!(b.credential, FileCredential::KeyEnv("GROQ_API_KEY".into()));
        assert_eq!(b.models, vec!["llama-*"]);
        assert_eq!(b.deployments[0].alias, "east");
        assert_eq!(
            b.deployments[0].credential,
            Some(FileCredential::Key(Secret::new("k-east")))
        );
        let c = b.to_config(BackendSource::BuiltIn, &|k| {
            (k == "GROQ_API_KEY").then(|| "v".to_string())
        });
        assert_eq!(c.credential.secret().unwrap().expose(), "v");
    }

    #[test]
    fn reads_node_dario_format() {
        let text = r#"{"provider":"openai","name":"groq","apiKey":"gsk_canary","baseUrl":"https://api.groq.com/openai/v1/","createdAt":1}"#;
        let b = parse_backend_json(&p(), "groq", text).unwrap();
        assert_eq!(b.protocol, Protocol::OpenAi);
        assert_eq!(b.base_url, "https://api.groq.com/openai/v1");
        assert_eq!(b.credential, FileCredential::Key(Secret::new("gsk_canary")));
        let a = parse_backend_json(
            &p(),
            "corp",
            r#"{"provider":"anthropic","name":"corp","apiKey":"","baseUrl":"http://127.0.0.1:9/v1"}"#,
        )
        .unwrap();
        assert_eq!(a.protocol, Protocol::Anthropic);
        assert_eq!(a.base_url, "http://127.0.0.1:9");
        assert_eq!(a.credential, FileCredential::None);
    }

    #[test]
    fn errors_name_file_line_and_problem() {
        let e = parse_backend_json(
            &p(),
            "groq",
            "{\n  \"name\": \"groq\",\n  \"bas_url\": 1\n}",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("/x/backends/groq.json:3:"), "{e}");
        assert!(e.contains("unknown field `bas_url` — valid fields:"), "{e}");
        let e = parse_backend_json(&p(), "groq", "{\n  \"name\": \"groq\",\n  oops\n}")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/x/backends/groq.json:3:3:"), "{e}");
        let e = parse_backend_json(&p(), "groq", r#"{"name":"other","base_url":"http://h/v1"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`other`"), "{e}");
        let e = parse_backend_json(
            &p(),
            "x",
            r#"{"base_url":"http://h/v1","key":"a","key_env":"B"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("at most one"), "{e}");
        let e = parse_backend_json(&p(), "x", r#"{"protocol":"openai"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no `base_url`"), "{e}");
        assert!(parse_backend_json(&p(), "x", "[]").is_err());
    }

    #[test]
    fn misplaced_keys_are_not_echoed() {
        let e = parse_backend_json(
            &p(),
            "x",
            r#"{"base_url":"http://h/v1","passthrough":"sk-ant-canary-123"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("canary"), "{e}");
        let e = parse_backend_json(
            &p(),
            "x",
            r#"{"base_url":"http://h/v1","key_env":"sk-ant-canary"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("canary"), "{e}");
        let e = parse_backend_json(
            &p(),
            "x",
            r#"{"base_url":"http://h/v1","protocol":"sk-ant-canary"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("canary"), "{e}");
    }

    #[test]
    fn write_read_remove_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path().join("home"));
        let mut b = BackendFile::new(
            "groq",
            Protocol::OpenAi,
            "https://api.groq.com/openai/v1/",
            FileCredential::Key(Secret::new("gsk_canary")),
        )
        .unwrap();
        b.models.push("llama-*".into());
        b.upsert_deployment(DeploymentFile {
            alias: "east".into(),
            base_url: Some("https://e.example/v1".into()),
            credential: Some(FileCredential::KeyEnv("EAST".into())),
        })
        .unwrap();
        let path = write_backend(&home, &b).unwrap();
        #[cfg(unix)]
        {
            assert_eq!(mode_of(&path), Some(0o600));
            assert_eq!(mode_of(home.dir()), Some(0o700));
            assert_eq!(mode_of(&home.backends_dir()), Some(0o700));
        }
        let back = read_backend_file(&home, "groq").unwrap().unwrap();
        assert_eq!(back, b);
        // Replacing a deployment keeps one entry.
        b.upsert_deployment(DeploymentFile {
            alias: "east".into(),
            base_url: None,
            credential: None,
        })
        .unwrap();
        assert_eq!(b.deployments.len(), 1);
        // No temp files are left behind.
        let names: Vec<_> = std::fs::read_dir(home.backends_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("groq.json")]);
        remove_backend(&home, "groq").unwrap();
        assert!(read_backend_file(&home, "groq").unwrap().is_none());
        let e = remove_backend(&home, "groq").unwrap_err();
        assert!(matches!(e, ConfigError::BackendNotFound { .. }));
        assert!(remove_backend(&home, "../etc").is_err());
    }

    #[test]
    fn debug_never_shows_keys() {
        let b = BackendFile::new(
            "x",
            Protocol::OpenAi,
            "http://h/v1",
            FileCredential::Key(Secret::new("sk-canary")),
        )
        .unwrap();
        assert!(!format!("{b:?}").contains("canary"));
    }
}
