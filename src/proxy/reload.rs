//! Reloading a running proxy's configuration from disk, so that `dario backend add/remove` and
//! edits of `config.toml` take effect without a restart: on SIGHUP, on `POST /admin/reload`
//! (`dario reload`, and `dario backend add/remove` when a proxy answers), and from a watcher
//! thread that polls `DARIO_HOME` for changed files.
//!
//! Owns: "load, check, swap" and the change detection. Must not: run on the async runtime (it
//! reads files; callers use `spawn_blocking` or the watcher's own thread), or drop in-flight
//! requests (the snapshot is swapped whole; a request keeps the one it started with).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::state::ProxyState;
use crate::config::{self, ConfigError, Home};

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReloadOutcome {
    /// `false` when the files on disk give the configuration already running.
    pub changed: bool,
    /// The digest of the configuration now running.
    pub config_digest: String,
    /// Backend names now configured.
    pub backends: Vec<String>,
}

/// Loads the configuration from `home`, refuses it when it does not load or names a backend that
/// does not exist (the running configuration stays), else swaps it in. Blocking.
pub fn reload_from_disk(state: &ProxyState, home: &Home) -> Result<ReloadOutcome, ConfigError> {
    let cfg = config::load(home)?;
    config::check_references(&cfg)?;
    let backends = cfg.backends.keys().cloned().collect();
    let digest = cfg.digest();
    let changed = digest != state.snapshot.load().digest;
    if changed {
        state.reload(cfg);
    }
    Ok(ReloadOutcome {
        changed,
        config_digest: digest,
        backends,
    })
}

/// `reload_from_disk` with its result logged (the watcher and SIGHUP have no one to answer).
pub fn reload_and_log(state: &ProxyState, home: &Home, why: &str) {
    match reload_from_disk(state, home) {
        Ok(o) if o.changed => tracing::warn!(
            "configuration reloaded ({why}): backends {}; digest {}",
            o.backends.join(", "),
            &o.config_digest[..12]
        ),
        Ok(_) => tracing::debug!("configuration unchanged ({why})"),
        Err(e) => tracing::error!(
            "configuration change refused ({why}), the previous configuration stays: {e}"
        ),
    }
}

/// Size and modification time of every file the configuration is read from: `config.toml`
/// and `backends/*.json`. Any change in it means "reload".
fn fingerprint(home: &Home) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let stat = |p: PathBuf| {
        let meta = std::fs::metadata(&p).ok();
        let len = meta.as_ref().map_or(u64::MAX, |m| m.len());
        let modified = meta.and_then(|m| m.modified().ok());
        (p, len, modified)
    };
    let mut out = vec![stat(home.config_toml())];
    if let Ok(entries) = std::fs::read_dir(home.backends_dir()) {
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "json")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        out.extend(files.into_iter().map(stat));
    }
    out
}

/// Starts a thread that looks at `home` every `every` and reloads when a file changed.
/// It runs until the process ends.
pub fn spawn_watcher(
    state: Arc<ProxyState>,
    home: Arc<Home>,
    every: Duration,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("dario-config-watch".into())
        .spawn(move || {
            let mut last = fingerprint(&home);
            loop {
                std::thread::sleep(every);
                let now = fingerprint(&home);
                if now != last {
                    // Let a writer finish (atomic renames are instant; editors may write twice).
                    std::thread::sleep(Duration::from_millis(50));
                    last = fingerprint(&home);
                    reload_and_log(&state, &home, "a file in the dario home changed");
                }
            }
        })
}
