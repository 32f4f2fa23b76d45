//! Writing backend files: the wire shape, the lock around `dario backend add|remove`, and the
//! atomic 0600 write (`atomic_file`).
//!
//! Must not: leave a window in which a key file is readable by others.

use super::*;

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
