//! Reading backend definitions: the raw serde shapes shared by backend JSON files and
//! `config.toml` tables (dario's schema, Node dario's), their conversion into a validated
//! [`BackendFile`], and bounded file reads.
//!
//! Must not: print or log a key (serde messages are sanitised before they are shown).

use super::*;

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
