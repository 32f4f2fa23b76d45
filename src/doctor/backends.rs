//! Doctor rows about dario's configuration: the files parse, each backend is usable, and (with
//! `--online`) each backend deployment answers a model-list request.
//!
//! Owns: turning `config::load` results and probe outcomes into rows. Must not: parse config
//! files itself (that is `config`'s job), put a credential or a URL's userinfo/query in a row, or
//! send anything upstream but one `GET <base_url><models_path>` per deployment with `--online`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::{self, BackendConfig, BackendSource, Config, Credential, Home};
use crate::protocol::Protocol;

use super::{Check, Status};

/// The `config` rows: one FAIL per file that does not parse (file:line:col: problem), or one OK
/// row listing what was read. Returns the loaded config when it loaded.
pub(super) fn config_rows(home: &Home) -> (Vec<Check>, Option<Config>) {
    let mut rows = Vec::new();
    // Each backend file on its own, so every broken file is named, not only the first.
    let mut reported = Vec::new();
    for name in backend_file_names(home) {
        if let Err(err) = config::read_backend_file(home, &name) {
            let msg = err.to_string();
            rows.push(config_fail(&err));
            reported.push(msg);
        }
    }
    match config::load(home) {
        Ok(cfg) => {
            if rows.is_empty() {
                rows.push(Check::new(Status::Ok, "config", files_summary(&cfg)));
            }
            (rows, Some(cfg))
        }
        Err(err) => {
            if !reported.contains(&err.to_string()) {
                rows.push(config_fail(&err));
            }
            (rows, None)
        }
    }
}

fn config_fail(err: &config::ConfigError) -> Check {
    use config::ConfigError as E;
    let fix = match err {
        E::Toml { path, line, .. } | E::Json { path, line, .. } => format!(
            "edit {path} at line {line} (dario never rewrites a hand-edited file), or re-create the backend with `dario backend add`"
        ),
        E::InsecureFile { path, .. } => format!("chmod 600 {path}"),
        E::Invalid { path, .. } => format!("edit or remove {path}"),
        _ => "fix the problem above, then run `dario doctor` again".to_string(),
    };
    Check::new(Status::Fail, "config", err.to_string()).with_fix(fix)
}

/// The files the configuration was read from, relative to its home (`backends/groq.json`).
pub fn file_names(cfg: &Config) -> Vec<String> {
    cfg.files
        .iter()
        .map(|f| {
            f.path
                .strip_prefix(&cfg.home)
                .unwrap_or(&f.path)
                .display()
                .to_string()
        })
        .collect()
}

fn files_summary(cfg: &Config) -> String {
    if cfg.files.is_empty() {
        return "no config files (built-in backends only)".to_string();
    }
    let names = file_names(cfg);
    format!(
        "{} {} parse{}: {}",
        names.len(),
        if names.len() == 1 { "file" } else { "files" },
        if names.len() == 1 { "s" } else { "" },
        names.join(", ")
    )
}

/// Names of `backends/*.json` (the same selection `config::load` makes).
fn backend_file_names(home: &Home) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(home.backends_dir()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.'))
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .filter(|n| config::is_valid_name(n))
        .collect();
    names.sort();
    names
}

/// `true` when `config.toml` stores a key (then it must be 0600). A file that does not parse
/// counts as holding one: it is checked strictly rather than not at all.
pub(super) fn config_toml_holds_key(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    match text.parse::<toml::Table>() {
        Ok(table) => table_has_key(&toml::Value::Table(table)),
        Err(_) => true,
    }
}

fn table_has_key(v: &toml::Value) -> bool {
    match v {
        toml::Value::Table(t) => t
            .iter()
            .any(|(k, v)| (k == "key" && v.is_str()) || table_has_key(v)),
        toml::Value::Array(items) => items.iter().any(table_has_key),
        _ => false,
    }
}

/// One deployment to check and probe: the backend's own (alias `None`) or a pool member.
struct Target<'a> {
    backend: &'a BackendConfig,
    alias: Option<&'a str>,
    base_url: &'a str,
    credential: &'a Credential,
}

fn targets(b: &BackendConfig) -> Vec<Target<'_>> {
    if b.deployments.is_empty() {
        return vec![Target {
            backend: b,
            alias: None,
            base_url: &b.base_url,
            credential: &b.credential,
        }];
    }
    b.deployments
        .iter()
        .map(|d| Target {
            backend: b,
            alias: Some(d.alias.as_str()),
            base_url: d.base_url.as_deref().unwrap_or(&b.base_url),
            credential: d.credential.as_ref().unwrap_or(&b.credential),
        })
        .collect()
}

/// One row per backend: protocol, base URL, credential source; FAIL when the URL is invalid or a
/// credential it needs is missing.
pub(super) fn backend_rows(cfg: &Config) -> Vec<Check> {
    cfg.backends.values().map(backend_row).collect()
}

fn backend_row(b: &BackendConfig) -> Check {
    let label = format!("backend {}", b.name);
    let source = match &b.source {
        BackendSource::BuiltIn => "built-in".to_string(),
        BackendSource::BackendFile(p) | BackendSource::ConfigToml(p) => config::display_path(p),
    };
    let mut problems = Vec::new();
    let mut fix = None;
    let mut parts = Vec::new();
    for t in targets(b) {
        let who = t
            .alias
            .map(|a| format!("deployment {a}: "))
            .unwrap_or_default();
        if let Err(problem) = check_url(b.protocol, t.base_url) {
            problems.push(format!(
                "{who}base URL {}: {problem}",
                crate::safe_url::display_marked(t.base_url)
            ));
            fix.get_or_insert_with(|| {
                format!(
                    "dario backend add {} --protocol {} --base-url https://…",
                    b.name, b.protocol
                )
            });
        }
        if let Some((problem, how)) = credential_problem(b, t.alias, t.credential) {
            problems.push(format!("{who}{problem}"));
            fix.get_or_insert(how);
        }
        if let Some(alias) = t.alias {
            parts.push(format!(
                "{alias}: {} ({})",
                crate::safe_url::display_marked(t.base_url),
                t.credential.source_label()
            ));
        }
    }
    let detail = if b.deployments.is_empty() {
        format!(
            "{} {} · credential: {} · {source}",
            b.protocol,
            crate::safe_url::display_marked(&b.base_url),
            b.credential.source_label()
        )
    } else {
        format!(
            "{} pool of {} deployments [{}] · {source}",
            b.protocol,
            b.deployments.len(),
            parts.join("; ")
        )
    };
    if problems.is_empty() {
        Check::new(Status::Ok, label, detail)
    } else {
        let row = Check::new(
            Status::Fail,
            label,
            format!("{} — {detail}", problems.join("; ")),
        );
        match fix {
            Some(fix) => row.with_fix(fix),
            None => row,
        }
    }
}

fn check_url(protocol: Protocol, url: &str) -> Result<(), String> {
    config::normalize_base_url(protocol, url)?;
    let parsed = url
        .parse::<http::Uri>()
        .map_err(|e| format!("not a valid URL ({e})"))?;
    if parsed.host().is_none_or(str::is_empty) {
        return Err("it has no host".to_string());
    }
    Ok(())
}

/// A problem with a credential a backend needs, and the command that fixes it.
fn credential_problem(
    b: &BackendConfig,
    alias: Option<&str>,
    c: &Credential,
) -> Option<(String, String)> {
    let target = match alias {
        Some(alias) => format!("{} --deployment {alias}", b.name),
        None => b.name.clone(),
    };
    match c {
        Credential::KeyEnv { var, value: None } => Some((
            format!("environment variable {var} is not set"),
            format!(
                "export {var}=…   (in the shell that starts dario), or store a key: dario backend add {target} --key …"
            ),
        )),
        Credential::KeyEnv {
            var,
            value: Some(v),
        } if v.is_empty() => Some((
            format!("environment variable {var} is empty"),
            format!("export {var}=…   (in the shell that starts dario)"),
        )),
        Credential::Key { key } if key.is_empty() => Some((
            "the stored key is empty".to_string(),
            format!("dario backend add {target} --key …"),
        )),
        _ => None,
    }
}

/// `--online`: one model-list request per deployment, all at once, each bounded by `timeout`.
pub(super) async fn online_rows(cfg: &Config, timeout: Duration) -> Vec<Check> {
    let client = match super::http_client(timeout, timeout) {
        Ok(c) => c,
        Err(err) => {
            return vec![Check::new(
                Status::Fail,
                "online",
                format!("could not build an HTTP client: {err}"),
            )]
        }
    };
    let probes = cfg
        .backends
        .values()
        .flat_map(targets)
        .map(|t| probe(&client, t));
    futures_util::future::join_all(probes).await
}

async fn probe(client: &crate::tool_http::ToolClient, t: Target<'_>) -> Check {
    let b = t.backend;
    let label = match t.alias {
        Some(alias) => format!("online {}/{alias}", b.name),
        None => format!("online {}", b.name),
    };
    let path = b.protocol.models_path();
    let url = format!("{}{path}", t.base_url.trim_end_matches('/'));
    if check_url(b.protocol, t.base_url).is_err() {
        return Check::new(
            Status::Fail,
            label,
            "not probed: invalid base URL (see above)",
        );
    }
    let mut headers: Vec<(&str, &str)> = b
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let secret = t.credential.secret().filter(|s| !s.is_empty());
    let bearer;
    match b.protocol {
        Protocol::Anthropic => {
            headers.push(("anthropic-version", "2023-06-01"));
            if let Some(s) = secret {
                headers.push(("x-api-key", s.expose()));
            }
        }
        Protocol::OpenAi | Protocol::Responses => {
            if let Some(s) = secret {
                bearer = format!("Bearer {}", s.expose());
                headers.push(("authorization", &bearer));
            }
        }
    }
    let started = Instant::now();
    let response = match client.get(&url, &headers).await {
        Ok(r) => r,
        Err(err) => {
            let what = if err.is_timeout() {
                format!("no answer within {} s", super::ONLINE_TIMEOUT.as_secs())
            } else {
                format!("request failed: {err}")
            };
            return Check::new(
                Status::Fail,
                label,
                format!("GET {}: {what}", crate::safe_url::display_marked(&url)),
            )
            .with_fix("check the base URL and the network, then: dario doctor --online");
        }
    };
    let status = response.status();
    let body = response.read_capped(4 * 1024 * 1024).await;
    let ms = started.elapsed().as_millis();
    let shown = crate::safe_url::display_marked(&url);
    let has_own_key = secret.is_some();
    match status.as_u16() {
        200..=299 => {
            let models = body
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v.get("data").and_then(|d| d.as_array()).map(Vec::len));
            let count = models
                .map(|n| format!(", {n} models listed"))
                .unwrap_or_default();
            let auth = if has_own_key {
                "key accepted"
            } else {
                "no key needed"
            };
            Check::new(
                Status::Ok,
                label,
                format!("GET {shown}: HTTP {} in {ms} ms, {auth}{count}", status.as_u16()),
            )
        }
        300..=399 => Check::new(
            Status::Fail,
            label,
            format!(
                "GET {shown}: HTTP {} in {ms} ms: the base URL redirects; dario follows no redirect from a backend (it would send the key to another host)",
                status.as_u16()
            ),
        )
        .with_fix(format!(
            "set the URL it redirects to as the base URL: dario backend add {} --base-url <final URL>",
            b.name
        )),
        401 | 403 if !has_own_key => {
            let why = match t.credential {
                Credential::Passthrough => "reachable; clients authenticate with their own key (passthrough)",
                _ => "reachable, but it wants a key and this backend has none",
            };
            let status_kind = match t.credential {
                Credential::Passthrough => Status::Info,
                _ => Status::Fail,
            };
            let row = Check::new(
                status_kind,
                label,
                format!("GET {shown}: HTTP {} in {ms} ms: {why}", status.as_u16()),
            );
            if status_kind == Status::Fail {
                row.with_fix(format!("dario backend add {} --key-env VAR   (or --key …)", b.name))
            } else {
                row
            }
        }
        401 | 403 => Check::new(
            Status::Fail,
            label,
            format!(
                "GET {shown}: HTTP {} in {ms} ms: the key ({}) was rejected",
                status.as_u16(),
                t.credential.source_label()
            ),
        )
        .with_fix(match t.credential {
            Credential::KeyEnv { var, .. } => {
                format!("export {var}=<a valid key>   (in the shell that starts dario)")
            }
            _ => format!("dario backend add {} --key …", b.name),
        }),
        404 => Check::new(
            Status::Warn,
            label,
            format!(
                "GET {shown}: HTTP 404 in {ms} ms: reachable, but it has no model list there (is the base URL right? {} base URLs {})",
                b.protocol,
                match b.protocol {
                    Protocol::Anthropic => "do not end in /v1",
                    Protocol::OpenAi | Protocol::Responses => "usually end in /v1",
                }
            ),
        ),
        429 => Check::new(
            Status::Warn,
            label,
            format!("GET {shown}: HTTP 429 in {ms} ms: reachable, rate limited right now"),
        ),
        code => Check::new(
            Status::Warn,
            label,
            format!("GET {shown}: HTTP {code} in {ms} ms"),
        ),
    }
}

/// The `routing` rows: default backend, dangling references (FAIL), rules that never fire (WARN).
pub(super) fn routing_rows(cfg: &Config) -> Vec<Check> {
    use crate::routing::RouteTable;
    let t = RouteTable::new(cfg, None).template();
    let toml = config::display_path(&cfg.home.join("config.toml"));
    let mut rows = Vec::new();
    let configured_aliases = t.aliases.iter().filter(|a| a.source == "config").count();
    let counts = format!(
        "{} {}, {} configured {}",
        t.routes.len(),
        if t.routes.len() == 1 {
            "route"
        } else {
            "routes"
        },
        configured_aliases,
        if configured_aliases == 1 {
            "alias"
        } else {
            "aliases"
        }
    );
    match &t.default_backend {
        Some(d) => rows.push(Check::new(
            Status::Ok,
            "routing",
            format!("{counts}; default backend `{d}` ({})", t.default_reason),
        )),
        None => rows.push(
            Check::new(
                Status::Info,
                "routing",
                format!(
                    "{counts}; no default backend ({}): a model no rule claims gets a 404",
                    t.default_reason
                ),
            )
            .with_fix(format!(
                "add `default_backend = \"<backend>\"` to {toml} (optional)"
            )),
        ),
    }
    // A route, fallback or default naming a missing backend: with config.toml's line and the
    // command that adds it (the same text `dario proxy` refuses to start with).
    for problem in config::reference_problems(cfg) {
        let fix = match &problem {
            config::ConfigError::Toml { path, line, .. } => format!(
                "edit {path} at line {line}, or add the missing backend (the command is above)"
            ),
            _ => format!("edit {toml}, or add the missing backend (the command is above)"),
        };
        rows.push(Check::new(Status::Fail, "routing", problem.to_string()).with_fix(fix));
    }
    let covered = |p: &str| p.starts_with("[[routes]]") || p.starts_with("default_backend");
    for problem in t.problems.iter().filter(|p| !covered(p)) {
        rows.push(
            Check::new(Status::Fail, "routing", problem.clone()).with_fix(format!(
                "edit {toml}, or add the missing backend: dario backend add <name> …"
            )),
        );
    }
    // Routes, backend globs and the default: one row each. Aliases and families hidden by the
    // same earlier rule: one row per hiding rule (a `*` glob hides them all).
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for s in &t.shadowed {
        // `[[routes]] claude-* → anthropic` hiding `family claude-* → anthropic` changes nothing.
        if s.kind == "family"
            && destination(&s.rule).is_some()
            && destination(&s.rule) == destination(&s.by)
        {
            continue;
        }
        match s.kind.as_str() {
            "alias" | "family" => match grouped.iter_mut().find(|(by, _)| *by == s.by) {
                Some((_, rules)) => rules.push(s.rule.clone()),
                None => grouped.push((s.by.clone(), vec![s.rule.clone()])),
            },
            _ => rows.push(
                Check::new(
                    Status::Warn,
                    "routing",
                    format!("{} never fires: {} takes its names first", s.rule, s.by),
                )
                .with_fix(format!(
                    "in {toml} put the more specific rule first, narrow the earlier one, or remove it"
                )),
            ),
        }
    }
    for (by, rules) in grouped {
        rows.push(
            Check::new(
                Status::Warn,
                "routing",
                format!(
                    "{by} takes the names of {} before they are reached: {}",
                    if rules.len() == 1 { "a built-in rule" } else { "built-in rules" },
                    rules.join(", ")
                ),
            )
            .with_fix("narrow that pattern if these models should go elsewhere (check with `dario route <model>`)"),
        );
    }
    rows
}

/// The backend a template rule label sends names to: `… → <backend>` or "backend `<name>` models …".
fn destination(label: &str) -> Option<&str> {
    if let Some((_, dest)) = label.rsplit_once(" → ") {
        return Some(dest.trim());
    }
    label.strip_prefix("backend `")?.split('`').next()
}

/// Paths of files that hold a credential besides `backends/*.json`.
pub(super) fn extra_secret_files(home: &Home) -> Vec<PathBuf> {
    let toml = home.config_toml();
    if config_toml_holds_key(&toml) {
        vec![toml]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_destinations() {
        assert_eq!(
            destination("family `claude-*` → anthropic"),
            Some("anthropic")
        );
        assert_eq!(
            destination("[[routes]] #1 `claude-*` → anthropic"),
            Some("anthropic")
        );
        assert_eq!(destination("backend `local` models `*`"), Some("local"));
        assert_eq!(destination("built-in alias `opus`"), None);
    }

    #[test]
    fn stored_key_detection_in_config_toml() {
        let has = |t: &str| table_has_key(&toml::Value::Table(t.parse().unwrap()));
        assert!(has("[backends.a]\nkey = \"x\""));
        assert!(has(
            "[[backends.p.deployments]]\nalias = \"e\"\nkey = \"x\""
        ));
        assert!(!has("[backends.a]\nkey_env = \"X\""));
        assert!(!has("default_backend = \"key\""));
    }
}
