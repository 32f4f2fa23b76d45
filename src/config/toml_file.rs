//! `config.toml`: the hand-edited settings file (SPEC §3, §4).
//!
//! Owns: its schema (`default_backend`, `[aliases]`, `[[routes]]`, `[backends.<name>]`,
//! `[limits]`, `[prices."<glob>"]`, `[models."<glob>"]`, `[cluster]`) and error positions. Must not: rewrite the file, or accept a
//! stored `key` in a file other users can read.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::backend_file::{build_backend, friendly_serde_message, BackendFile, RawBackend};
use super::error::{display_path, line_col};
use super::validate::validate_name;
use super::{ConfigError, HistoryConfig, Limits, ModelInfoConfig, PriceConfig, RouteRule};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToml {
    default_backend: Option<Spanned<String>>,
    #[serde(default)]
    aliases: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    routes: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    backends: BTreeMap<String, Spanned<RawBackend>>,
    limits: Option<Spanned<RawLimits>>,
    #[serde(default)]
    prices: BTreeMap<String, Spanned<RawPrice>>,
    #[serde(default)]
    models: BTreeMap<String, Spanned<RawModelInfo>>,
    cluster: Option<Spanned<super::cluster::RawCluster>>,
    history: Option<Spanned<RawHistory>>,
    dashboard: Option<Spanned<RawDashboard>>,
}

/// `[history]`: usage history on disk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHistory {
    enabled: Option<bool>,
    retention_days: Option<u32>,
    rollup_retention_days: Option<u32>,
}

/// `[dashboard]`: the dashboard page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDashboard {
    enabled: Option<bool>,
    allow_remote: Option<bool>,
}

/// `[models."<glob>"]`: what `GET /v1/models` and `dario route` say about matching models.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModelInfo {
    display_name: Option<String>,
    max_input_tokens: Option<u64>,
    max_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    model: String,
    backend: String,
    upstream_model: Option<String>,
    #[serde(default)]
    fallbacks: Vec<String>,
}

/// `[limits]`: durations in seconds (integer or fractional), sizes in bytes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_body_bytes: Option<u64>,
    body_read_timeout: Option<f64>,
    header_read_timeout: Option<f64>,
    connect_timeout: Option<f64>,
    first_byte_timeout: Option<f64>,
    stream_idle_timeout: Option<f64>,
    max_in_flight: Option<u64>,
    max_queue: Option<u64>,
    queue_timeout: Option<f64>,
    max_attempts: Option<u64>,
    exhaustion_wait: Option<f64>,
    shutdown_grace: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrice {
    input: f64,
    output: f64,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
}

/// What `config.toml` contributes, validated.
#[derive(Debug, Default)]
pub(crate) struct TomlConfig {
    pub default_backend: Option<String>,
    pub aliases: BTreeMap<String, String>,
    pub routes: Vec<RouteRule>,
    pub backends: Vec<BackendFile>,
    pub limits: Option<Limits>,
    pub prices: BTreeMap<String, PriceConfig>,
    pub models: BTreeMap<String, ModelInfoConfig>,
    /// `[cluster]`, without its password (read from the environment by the loader).
    pub cluster: Option<super::ClusterConfig>,
    /// `[history]` and `[dashboard]`, when either is present.
    pub history: Option<HistoryConfig>,
    /// A stored `key` appears somewhere (the file must then be 0600).
    pub has_stored_key: bool,
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn at(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError::Toml {
            path: display_path(self.path),
            line,
            column,
            message: message.into(),
        }
    }
}

/// Parses the text of `config.toml` found at `path`.
pub(crate) fn parse_config_toml(path: &Path, text: &str) -> Result<TomlConfig, ConfigError> {
    let cx = Ctx { path, text };
    let raw: RawToml = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        cx.at(span, friendly_serde_message(e.message()))
    })?;

    let mut out = TomlConfig::default();

    if let Some(d) = raw.default_backend {
        let span = d.span();
        let name = d.into_inner();
        validate_name("backend", &name)
            .map_err(|e| cx.at(span, format!("default_backend: {e}")))?;
        out.default_backend = Some(name);
    }

    for (name, target) in raw.aliases {
        let span = target.span();
        let target = target.into_inner();
        if name.trim().is_empty() {
            return Err(cx.at(span, "[aliases]: an alias name is empty"));
        }
        if target.trim().is_empty() {
            return Err(cx.at(
                span,
                format!("[aliases]: alias `{name}` expands to nothing"),
            ));
        }
        if target == name {
            return Err(cx.at(span, format!("[aliases]: alias `{name}` expands to itself")));
        }
        out.aliases.insert(name, target);
    }

    for (i, route) in raw.routes.into_iter().enumerate() {
        let span = route.span();
        let r = route.into_inner();
        let label = format!("[[routes]] #{} (model = \"{}\")", i + 1, r.model);
        if r.model.trim().is_empty() {
            return Err(cx.at(span, format!("[[routes]] #{}: `model` is empty", i + 1)));
        }
        validate_name("backend", &r.backend)
            .map_err(|e| cx.at(span.clone(), format!("{label}: {e}")))?;
        for f in &r.fallbacks {
            validate_name("backend", f)
                .map_err(|e| cx.at(span.clone(), format!("{label}: fallbacks: {e}")))?;
        }
        if let Some(u) = &r.upstream_model {
            if u.trim().is_empty() {
                return Err(cx.at(span, format!("{label}: `upstream_model` is empty")));
            }
        }
        out.routes.push(RouteRule {
            model: r.model,
            backend: r.backend,
            upstream_model: r.upstream_model,
            fallbacks: r.fallbacks,
        });
    }

    for (name, raw_backend) in raw.backends {
        let span = raw_backend.span();
        validate_name("backend", &name)
            .map_err(|e| cx.at(span.clone(), format!("[backends.{name}]: {e}")))?;
        let raw_backend = raw_backend.into_inner();
        out.has_stored_key |= raw_backend.has_stored_key();
        let file = build_backend(&name, raw_backend)
            .map_err(|m| cx.at(span, format!("[backends.{name}]: {m}")))?;
        out.backends.push(file);
    }

    if let Some(c) = raw.cluster {
        let span = c.span();
        out.cluster = Some(
            c.into_inner()
                .build()
                .map_err(|m| cx.at(span, format!("[cluster]: {m}")))?,
        );
    }

    if let Some(l) = raw.limits {
        let span = l.span();
        out.limits =
            Some(limits(l.into_inner()).map_err(|m| cx.at(span, format!("[limits]: {m}")))?);
    }

    out.prices = pattern_tables(&cx, "prices", raw.prices, |p| {
        for (what, v) in [
            ("input", Some(p.input)),
            ("output", Some(p.output)),
            ("cache_read", p.cache_read),
            ("cache_write", p.cache_write),
        ] {
            if v.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                return Err(format!(
                    "`{what}` must be a non-negative number (USD per million tokens)"
                ));
            }
        }
        Ok(PriceConfig {
            input: p.input,
            output: p.output,
            cache_read: p.cache_read,
            cache_write: p.cache_write,
        })
    })?;
    out.models = pattern_tables(&cx, "models", raw.models, |info| {
        for (what, v) in [
            ("max_input_tokens", info.max_input_tokens),
            ("max_tokens", info.max_tokens),
        ] {
            if v == Some(0) {
                return Err(format!("`{what}` must be a positive number of tokens"));
            }
        }
        Ok(ModelInfoConfig {
            display_name: info.display_name,
            max_input_tokens: info.max_input_tokens,
            max_tokens: info.max_tokens,
        })
    })?;
    if raw.history.is_some() || raw.dashboard.is_some() {
        let mut h = HistoryConfig::default();
        if let Some(raw_h) = raw.history {
            let span = raw_h.span();
            let raw_h = raw_h.into_inner();
            h.enabled = raw_h.enabled.unwrap_or(h.enabled);
            for (what, v, slot) in [
                (
                    "retention_days",
                    raw_h.retention_days,
                    &mut h.retention_days,
                ),
                (
                    "rollup_retention_days",
                    raw_h.rollup_retention_days,
                    &mut h.rollup_retention_days,
                ),
            ] {
                if let Some(v) = v {
                    if v == 0 || v > 36_500 {
                        return Err(cx.at(
                            span,
                            format!("[history]: `{what}` must be a number of days from 1 to 36500"),
                        ));
                    }
                    *slot = v;
                }
            }
            if h.rollup_retention_days < h.retention_days {
                h.rollup_retention_days = h.retention_days;
            }
        }
        if let Some(d) = raw.dashboard {
            let d = d.into_inner();
            h.dashboard = d.enabled.unwrap_or(h.dashboard);
            h.dashboard_remote = d.allow_remote.unwrap_or(h.dashboard_remote);
        }
        out.history = Some(h);
    }
    Ok(out)
}

/// The `[section."<glob>"]` tables (`[prices]`, `[models]`): a model pattern must not be empty,
/// and `build` checks and converts each table (its message is placed at the table, named
/// `[section."glob"]`).
fn pattern_tables<R, T>(
    cx: &Ctx<'_>,
    section: &str,
    raw: BTreeMap<String, Spanned<R>>,
    build: impl Fn(R) -> Result<T, String>,
) -> Result<BTreeMap<String, T>, ConfigError> {
    let mut out = BTreeMap::new();
    for (glob, table) in raw {
        let span = table.span();
        if glob.trim().is_empty() {
            return Err(cx.at(span, format!("[{section}]: a model pattern is empty")));
        }
        let value = build(table.into_inner())
            .map_err(|m| cx.at(span, format!("[{section}.\"{glob}\"]: {m}")))?;
        out.insert(glob, value);
    }
    Ok(out)
}

fn limits(raw: RawLimits) -> Result<Limits, String> {
    let mut l = Limits::default();
    fn secs(name: &str, v: Option<f64>, slot: &mut Duration) -> Result<(), String> {
        if let Some(v) = v {
            // Up to 30 days; zero or negative would disable a bound silently.
            if !(v.is_finite() && v > 0.0 && v <= 30.0 * 86_400.0) {
                return Err(format!(
                    "`{name}` must be a number of seconds greater than 0 (at most 2592000)"
                ));
            }
            *slot = Duration::from_secs_f64(v);
        }
        Ok(())
    }
    fn count(name: &str, v: Option<u64>, slot: &mut usize) -> Result<(), String> {
        if let Some(v) = v {
            if v == 0 {
                return Err(format!("`{name}` must be at least 1"));
            }
            *slot = usize::try_from(v).map_err(|_| format!("`{name}` is too large"))?;
        }
        Ok(())
    }
    count("max_body_bytes", raw.max_body_bytes, &mut l.max_body_bytes)?;
    secs(
        "body_read_timeout",
        raw.body_read_timeout,
        &mut l.body_read_timeout,
    )?;
    secs(
        "header_read_timeout",
        raw.header_read_timeout,
        &mut l.header_read_timeout,
    )?;
    secs(
        "connect_timeout",
        raw.connect_timeout,
        &mut l.connect_timeout,
    )?;
    secs(
        "first_byte_timeout",
        raw.first_byte_timeout,
        &mut l.first_byte_timeout,
    )?;
    secs(
        "stream_idle_timeout",
        raw.stream_idle_timeout,
        &mut l.stream_idle_timeout,
    )?;
    count("max_in_flight", raw.max_in_flight, &mut l.max_in_flight)?;
    // An empty queue is a meaningful setting (reject at once when full).
    if let Some(q) = raw.max_queue {
        l.max_queue = usize::try_from(q).map_err(|_| "`max_queue` is too large".to_string())?;
    }
    secs("queue_timeout", raw.queue_timeout, &mut l.queue_timeout)?;
    count("max_attempts", raw.max_attempts, &mut l.max_attempts)?;
    secs(
        "exhaustion_wait",
        raw.exhaustion_wait,
        &mut l.exhaustion_wait,
    )?;
    secs("shutdown_grace", raw.shutdown_grace, &mut l.shutdown_grace)?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::backend_file::FileCredential;
    use crate::protocol::Protocol;

    fn parse(text: &str) -> Result<TomlConfig, String> {
        parse_config_toml(Path::new("/h/config.toml"), text).map_err(|e| e.to_string())
    }

    /// issue 13: a top-level `base_url`/key beside `[[deployments]]` is a deployment too (the
    /// README's pool example: west at the top, east as a deployment).
    #[test]
    fn a_top_level_base_url_beside_deployments_is_a_deployment_too() {
        let c = parse(
            r#"
[backends.pool]
protocol = "openai"
base_url = "https://west.example/v1"
key_env = "POOL_KEY_WEST"
[[backends.pool.deployments]]
alias = "east"
base_url = "https://east.example/v1"
key_env = "POOL_KEY_EAST"
"#,
        )
        .unwrap();
        let runtime = |c: &TomlConfig, name: &str| {
            c.backends
                .iter()
                .find(|b| b.name == name)
                .unwrap()
                .to_config(crate::config::BackendSource::BuiltIn, &|_| None)
        };
        let pool = runtime(&c, "pool");
        let aliases: Vec<&str> = pool.deployments.iter().map(|d| d.alias.as_str()).collect();
        assert_eq!(aliases, ["default", "east"]);
        assert_eq!(pool.deployments[0].base_url, None, "the backend's own URL");
        assert_eq!(pool.deployments[0].credential, None, "and its own key");
        assert_eq!(pool.base_url, "https://west.example/v1");
        // Deployments only: the top level is just their default, not one more.
        let c = parse(
            "[backends.p2]\nprotocol = \"openai\"\nkey_env = \"K\"\n[[backends.p2.deployments]]\nalias = \"a\"\nbase_url = \"https://a.example/v1\"\n[[backends.p2.deployments]]\nalias = \"b\"\nbase_url = \"https://b.example/v1\"\n",
        )
        .unwrap();
        assert_eq!(runtime(&c, "p2").deployments.len(), 2);
        // A deployment that inherits the top-level URL already is that deployment.
        let c = parse(
            "[backends.p3]\nprotocol = \"openai\"\nkey_env = \"K\"\nbase_url = \"https://a.example/v1\"\n[[backends.p3.deployments]]\nalias = \"a\"\n[[backends.p3.deployments]]\nalias = \"b\"\nbase_url = \"https://b.example/v1\"\n",
        )
        .unwrap();
        assert_eq!(runtime(&c, "p3").deployments.len(), 2);
    }

    #[test]
    fn full_example_from_the_spec() {
        let c = parse(
            r#"
default_backend = "local"
[aliases]
fast = "groq:llama-3.3-70b-versatile"
[[routes]]
model = "claude-*"
backend = "anthropic"
upstream_model = "claude-sonnet-4-5"
fallbacks = ["openrouter"]
[backends.groq]
protocol = "openai"
base_url = "https://api.groq.com/openai/v1"
key_env = "GROQ_API_KEY"
models = ["llama-*", "qwen-*"]
[[backends.pool.deployments]]
alias = "east"
base_url = "https://east.example/v1"
key_env = "POOL_KEY_EAST"
[[backends.pool.deployments]]
alias = "west"
base_url = "https://west.example/v1"
key = "k-west"
[limits]
max_body_bytes = 1048576
first_byte_timeout = 1.5
max_attempts = 5
[prices."llama-*"]
input = 0.5
output = 1
"#,
        )
        .unwrap();
        assert_eq!(c.default_backend.as_deref(), Some("local"));
        assert_eq!(c.aliases["fast"], "groq:llama-3.3-70b-versatile");
        assert_eq!(c.routes.len(), 1);
        assert_eq!(c.routes[0].fallbacks, vec!["openrouter"]);
        assert_eq!(
            c.routes[0].upstream_model.as_deref(),
            Some("claude-sonnet-4-5")
        );
        let groq = c.backends.iter().find(|b| b.name == "groq").unwrap();
        assert_eq!(
            groq.credential,
            FileCredential::KeyEnv("GROQ_API_KEY".into())
        );
        let pool = c.backends.iter().find(|b| b.name == "pool").unwrap();
        assert_eq!(pool.protocol, Protocol::OpenAi);
        assert_eq!(pool.base_url, "https://east.example/v1");
        assert_eq!(pool.deployments.len(), 2);
        assert!(c.has_stored_key);
        let l = c.limits.unwrap();
        assert_eq!(l.max_body_bytes, 1_048_576);
        assert_eq!(l.first_byte_timeout, Duration::from_millis(1500));
        assert_eq!(l.max_attempts, 5);
        assert_eq!(l.connect_timeout, Limits::default().connect_timeout);
        assert_eq!(c.prices["llama-*"].output, 1.0);
        assert_eq!(c.prices["llama-*"].cache_read, None);
    }

    #[test]
    fn unknown_field_names_line_column_and_valid_fields() {
        let e = parse("default_backend = \"x\"\n\n[[routes]]\nmodel = \"a\"\n  backnd = \"b\"\n")
            .unwrap_err();
        assert!(
            e.starts_with(
                "/h/config.toml:5:3: unknown field `backnd` — valid fields: `model`, `backend`"
            ),
            "{e}"
        );
        let e = parse("defaultbackend = \"x\"\n").unwrap_err();
        assert!(
            e.starts_with("/h/config.toml:1:1: unknown field `defaultbackend`"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("a = \n").unwrap_err();
        assert!(e.starts_with("/h/config.toml:1:"), "{e}");
        let e = parse("[aliases]\nfast = groq\n").unwrap_err();
        assert!(e.starts_with("/h/config.toml:2:"), "{e}");
    }

    #[test]
    fn semantic_errors_have_positions() {
        let e = parse("\n[[routes]]\nmodel = \"x\"\nbackend = \"a/b\"\n").unwrap_err();
        assert!(e.starts_with("/h/config.toml:"), "{e}");
        assert!(e.contains("[[routes]] #1") && e.contains("`a/b`"), "{e}");
        let e = parse("[backends.x]\nprotocol = \"openai\"\n").unwrap_err();
        assert!(e.contains("[backends.x]") && e.contains("base_url"), "{e}");
        let e = parse("[backends.\"bad name\"]\nbase_url = \"http://h/v1\"\n").unwrap_err();
        assert!(e.contains("invalid backend name"), "{e}");
        let e = parse("[limits]\nconnect_timeout = 0\n").unwrap_err();
        assert!(
            e.contains("[limits]") && e.contains("connect_timeout"),
            "{e}"
        );
        let e = parse("[prices.\"x\"]\ninput = -1\noutput = 1\n").unwrap_err();
        assert!(e.contains("input"), "{e}");
        let e = parse("[prices.\"x\"]\ninput = 1\n").unwrap_err();
        assert!(e.contains("output"), "{e}");
        let e = parse("[aliases]\nx = \"x\"\n").unwrap_err();
        assert!(e.contains("itself"), "{e}");
    }

    #[test]
    fn known_provider_fills_defaults() {
        let c = parse("[backends.groq]\nkey_env = \"GROQ_API_KEY\"\n").unwrap();
        assert_eq!(c.backends[0].base_url, "https://api.groq.com/openai/v1");
        assert!(!c.has_stored_key);
    }

    #[test]
    fn history_and_dashboard_sections() {
        assert_eq!(parse("").unwrap().history, None);
        let h = parse(
            "[history]\nenabled = false\nretention_days = 30\n[dashboard]\nallow_remote = true\n",
        )
        .unwrap()
        .history
        .unwrap();
        assert!(!h.enabled && h.dashboard && h.dashboard_remote);
        assert_eq!((h.retention_days, h.rollup_retention_days), (30, 400));
        // Rollups are never kept for less time than raw records.
        let h = parse("[history]\nretention_days = 500\n")
            .unwrap()
            .history
            .unwrap();
        assert_eq!(h.rollup_retention_days, 500);
        let e = parse("[history]\nretention_days = 0\n").unwrap_err();
        assert!(
            e.contains("retention_days") && e.contains("config.toml:1:"),
            "{e}"
        );
        let e = parse("[history]\nkeep = 3\n").unwrap_err();
        assert!(e.contains("keep"), "{e}");
    }
}
