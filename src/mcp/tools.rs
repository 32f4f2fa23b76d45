//! What each MCP tool answers: argument types, output types (with JSON schemas) and the pure
//! functions that build an output from the configuration and the proxy's live data.
//!
//! Owns: the content of every tool (SPEC §8) and its readable text rendering. Must not: do
//! I/O (the server gathers inputs), or put a credential in any field (sources are `Secret`-typed
//! and the server's redaction pass runs over everything anyway).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{BackendConfig, BackendSource, Config, Credential};
use crate::doctor::Report;
use crate::mcp::live::{Fetch, ProxyState};
use crate::protocol::Protocol;
use crate::proxy::headers;
use crate::routing::{RouteDecision, Template};

/// Input of the tools that take no argument.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Default and bounds of `analytics_summary.window_minutes`.
pub const DEFAULT_WINDOW_MINUTES: u32 = 60;
pub const MAX_WINDOW_MINUTES: u32 = crate::analytics::MAX_WINDOW_MINUTES as u32;

/// Input of `analytics_summary`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsArgs {
    /// Summary window in minutes, 1 to 1440 (24 h, what the proxy keeps). Default 60.
    #[schemars(range(min = 1, max = 1440))]
    pub window_minutes: Option<u32>,
}

/// Input of `route_explain`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteArgs {
    /// The model name a client would send: an alias (`sonnet`), a model id (`gpt-4o`) or a
    /// provider-prefixed name (`groq:llama-3.3-70b-versatile`).
    #[schemars(length(min = 1, max = 256))]
    pub model: String,
}

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

fn source_label(source: &BackendSource) -> String {
    match source {
        BackendSource::BuiltIn => "built-in".to_string(),
        BackendSource::BackendFile(p) => p.display().to_string(),
        BackendSource::ConfigToml(p) => format!("{} ([backends])", p.display()),
    }
}

fn credential_kind(c: &Credential) -> &'static str {
    match c {
        Credential::Key { .. } => "key",
        Credential::KeyEnv { .. } => "key_env",
        Credential::Passthrough => "passthrough",
        Credential::None => "none",
    }
}

/// Entry of a live JSON collection for one backend: `{"groq": {...}}` or `[{"name": "groq"}]`.
fn live_entry<'a>(collection: Option<&'a Value>, name: &str) -> Option<&'a Value> {
    match collection? {
        Value::Object(map) => map.get(name),
        Value::Array(items) => items.iter().find(|v| {
            v.get("name").and_then(Value::as_str) == Some(name)
                || v.get("backend").and_then(Value::as_str) == Some(name)
        }),
        _ => None,
    }
}

fn proxy_line(p: &ProxyState) -> String {
    if p.running {
        format!("proxy: {} on {}", p.detail, p.address)
    } else {
        format!("proxy: {}", p.detail)
    }
}

// ---------------------------------------------------------------------------------------------
// doctor
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DoctorOut {
    pub proxy: ProxyState,
    /// The report `dario doctor --json` prints: version, ok, summary, checks.
    #[serde(flatten)]
    pub report: Report,
}

pub fn doctor(report: Report, proxy: ProxyState) -> DoctorOut {
    DoctorOut { proxy, report }
}

impl DoctorOut {
    pub fn render(&self) -> String {
        let headline = if self.report.ok {
            "healthy"
        } else {
            "PROBLEMS FOUND"
        };
        // FAIL first, then WARN, OK, INFO (stable within a status).
        let mut rows = self.report.checks.clone();
        rows.sort_by_key(|c| c.status);
        format!(
            "dario doctor: {headline} ({}).\n{}\n\n{}",
            self.report.summary.line(),
            proxy_line(&self.proxy),
            crate::doctor::render_human(&rows)
        )
    }
}

// ---------------------------------------------------------------------------------------------
// subagent_status
// ---------------------------------------------------------------------------------------------

/// The sub-agent file at one scope.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SubagentTarget {
    /// `user` (~/.claude/agents) or `project` (./.claude/agents).
    pub scope: String,
    pub path: String,
    /// `not_installed`, `current`, `stale`, `locally_modified`, `no_marker` or `newer`.
    pub state: String,
    /// One line for humans.
    pub detail: String,
    /// The command that brings it up to date, when one is needed (the user runs it).
    pub fix: Option<String>,
    /// Version of dario this binary installs.
    pub current_version: String,
    /// SHA-256 of the file this binary installs.
    pub template_sha256: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SubagentOut {
    pub targets: Vec<SubagentTarget>,
}

impl SubagentOut {
    pub fn render(&self) -> String {
        let mut out = String::from("Claude Code sub-agent:\n");
        for t in &self.targets {
            out.push_str(&format!("- {} ({}): {}\n", t.scope, t.path, t.detail));
            if let Some(fix) = &t.fix {
                out.push_str(&format!("    to update: {fix}\n"));
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// auth_status
// ---------------------------------------------------------------------------------------------

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
    let live_backends = status.and_then(|s| s.get("backends"));
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
            live: live_entry(live_backends, &b.name).cloned(),
        });
    }
    AuthStatusOut {
        proxy,
        backends,
        missing,
    }
}

impl AuthStatusOut {
    pub fn render(&self) -> String {
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

// ---------------------------------------------------------------------------------------------
// backends_list
// ---------------------------------------------------------------------------------------------

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

fn backend_info(b: &BackendConfig, live: Option<&Value>) -> BackendInfo {
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
    let live_backends = status.and_then(|s| s.get("backends"));
    BackendsListOut {
        proxy,
        default_backend: cfg.default_backend.clone(),
        backends: cfg
            .backends
            .values()
            .map(|b| backend_info(b, live_entry(live_backends, &b.name)))
            .collect(),
    }
}

impl BackendsListOut {
    pub fn render(&self) -> String {
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

// ---------------------------------------------------------------------------------------------
// pool_status
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ConfiguredPool {
    pub backend: String,
    pub deployments: Vec<DeploymentInfo>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PoolStatusOut {
    pub proxy: ProxyState,
    /// The running proxy's pool snapshot (`GET /pool`): per deployment headroom, cooldown,
    /// in-flight requests, sticky bindings. `null` when the proxy is not running.
    pub pool: Option<Value>,
    /// Why `pool` is null, when it is.
    pub pool_error: Option<String>,
    /// Pools (backends with several deployments) in the configuration on disk.
    pub configured: Vec<ConfiguredPool>,
    /// Why `configured` is empty because the configuration could not be read, if so.
    pub config_error: Option<String>,
}

pub fn pool_status(cfg: Result<&Config, &str>, proxy: ProxyState, pool: Fetch) -> PoolStatusOut {
    let (configured, config_error) = match cfg {
        Ok(cfg) => (
            cfg.backends
                .values()
                .filter(|b| !b.deployments.is_empty())
                .map(|b| ConfiguredPool {
                    backend: b.name.clone(),
                    deployments: backend_info(b, None).deployments,
                })
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let (pool, pool_error) = match pool {
        Fetch::Ok(v) => (Some(v), None),
        Fetch::NotRunning(e) | Fetch::Failed(e) => (None, Some(e)),
    };
    PoolStatusOut {
        proxy,
        pool,
        pool_error,
        configured,
        config_error,
    }
}

impl PoolStatusOut {
    pub fn render(&self) -> String {
        let mut out = format!("Pool status.\n{}\n\n", proxy_line(&self.proxy));
        match (&self.pool, &self.pool_error) {
            (Some(pool), _) => {
                out.push_str("Live pool (GET /pool):\n");
                out.push_str(&render_pool(pool).unwrap_or_else(|| render_value(pool, 1)));
            }
            (None, Some(_)) if !self.proxy.running => {
                out.push_str("No live pool data (the proxy is not running).\n")
            }
            (None, Some(e)) => out.push_str(&format!("No live pool data: {e}\n")),
            (None, None) => {}
        }
        out.push('\n');
        if let Some(e) = &self.config_error {
            out.push_str(&format!("Configuration unreadable: {e}\n"));
        } else if self.configured.is_empty() {
            out.push_str(
                "No pools configured (a pool is a backend with several deployments: `dario backend add <name> --deployment <alias> --base-url … --key …`).\n",
            );
        } else {
            out.push_str("Configured pools:\n");
            for p in &self.configured {
                out.push_str(&format!("- {}:\n", p.backend));
                for d in &p.deployments {
                    out.push_str(&format!(
                        "    {}: {} — {}\n",
                        d.alias, d.base_url, d.credential
                    ));
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// analytics_summary
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AnalyticsOut {
    pub proxy: ProxyState,
    pub window_minutes: u32,
    /// The proxy's summary (`GET /analytics?window=N`): requests, errors, tokens, cost,
    /// latency percentiles per backend and model, burn rate. `null` when not running.
    pub analytics: Option<Value>,
    /// Why `analytics` is null, when it is.
    pub analytics_error: Option<String>,
}

pub fn analytics_summary(window_minutes: u32, proxy: ProxyState, fetch: Fetch) -> AnalyticsOut {
    let (analytics, analytics_error) = match fetch {
        Fetch::Ok(v) => (Some(v), None),
        Fetch::NotRunning(e) => (
            None,
            Some(format!("{e} — analytics live in the proxy's memory only")),
        ),
        Fetch::Failed(e) => (None, Some(e)),
    };
    AnalyticsOut {
        proxy,
        window_minutes,
        analytics,
        analytics_error,
    }
}

impl AnalyticsOut {
    pub fn render(&self) -> String {
        let mut out = format!(
            "Usage over the last {} minute(s).\n{}\n\n",
            self.window_minutes,
            proxy_line(&self.proxy)
        );
        match (&self.analytics, &self.analytics_error) {
            (Some(a), _) => out.push_str(
                &render_analytics(a, self.window_minutes).unwrap_or_else(|| render_value(a, 0)),
            ),
            (None, Some(_)) if !self.proxy.running => out.push_str(
                "No analytics: they live in the proxy's memory only, and the proxy is not running.\n",
            ),
            (None, Some(e)) => out.push_str(&format!("No analytics: {e}\n")),
            (None, None) => {}
        }
        out
    }
}

/// Validates `window_minutes`, with an actionable message.
pub fn window_minutes(args: &AnalyticsArgs) -> Result<u32, String> {
    match args.window_minutes {
        None => Ok(DEFAULT_WINDOW_MINUTES),
        Some(n) if (1..=MAX_WINDOW_MINUTES).contains(&n) => Ok(n),
        Some(n) => Err(format!(
            "window_minutes must be between 1 and {MAX_WINDOW_MINUTES} (24 h, what the proxy keeps); got {n}. Omit it for the default of {DEFAULT_WINDOW_MINUTES}."
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// template_info
// ---------------------------------------------------------------------------------------------

/// One inbound API endpoint and what becomes of its requests per backend protocol.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EndpointInfo {
    /// Method and path, e.g. `POST /v1/responses`.
    pub endpoint: String,
    /// The API spoken there: `anthropic`, `openai` (Chat Completions) or `responses`.
    pub protocol: String,
    /// To an Anthropic-protocol backend.
    pub to_anthropic: String,
    /// To an OpenAI-protocol backend.
    pub to_openai: String,
}

/// The model-serving endpoints (routed by `model`).
pub fn inbound_endpoints() -> Vec<EndpointInfo> {
    let e =
        |endpoint: &str, protocol: Protocol, to_anthropic: &str, to_openai: &str| EndpointInfo {
            endpoint: endpoint.to_string(),
            protocol: protocol.to_string(),
            to_anthropic: to_anthropic.to_string(),
            to_openai: to_openai.to_string(),
        };
    vec![
        e(
            "POST /v1/messages",
            Protocol::Anthropic,
            "passthrough (only `model` rewritten)",
            "translated to Chat Completions",
        ),
        e(
            "POST /v1/chat/completions",
            Protocol::OpenAi,
            "translated to Messages",
            "passthrough (only `model` rewritten)",
        ),
        e(
            "POST /v1/responses",
            Protocol::Responses,
            "translated (Responses -> Chat -> Messages)",
            "passthrough to OpenAI itself and backends with `responses = true`; else translated to Chat Completions",
        ),
    ]
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SourceFileInfo {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TemplateInfoOut {
    pub proxy: ProxyState,
    /// The routing table in resolution order: override, prefixes, routes, backend globs,
    /// aliases, families, default backend, shadowed rules and problems.
    #[serde(flatten)]
    pub table: Template,
    /// SHA-256 of the routing table alone.
    pub table_digest: String,
    /// Files the configuration was read from, with their SHA-256.
    pub files: Vec<SourceFileInfo>,
    /// SHA-256 digest of the configuration on disk.
    pub digest: String,
    /// Digest of the configuration the running proxy has loaded (`/status`), if running.
    pub proxy_digest: Option<String>,
    /// Whether the running proxy's loaded table differs from disk; `null` when it cannot tell.
    pub differs_from_disk: Option<bool>,
    /// One line on that comparison.
    pub drift: String,
    /// The model-serving endpoints and what each becomes per backend protocol.
    pub endpoints: Vec<EndpointInfo>,
    /// Backends that take `/v1/responses` requests untranslated.
    pub responses_passthrough: Vec<String>,
}

pub fn template_info(
    cfg: &Config,
    digest: String,
    table: Template,
    proxy: ProxyState,
) -> TemplateInfoOut {
    let proxy_digest = proxy.config_digest.clone();
    let (differs_from_disk, drift) = match (&proxy_digest, proxy.running) {
        (Some(p), _) if *p == digest => (
            Some(false),
            "the running proxy has loaded the configuration that is on disk".to_string(),
        ),
        (Some(_), _) => (
            Some(true),
            "the running proxy's loaded configuration differs from disk: restart it (or reload) to apply the changes".to_string(),
        ),
        (None, true) => (
            None,
            "the running proxy did not report a config digest: cannot compare".to_string(),
        ),
        (None, false) => (
            None,
            "proxy not running: nothing to compare with disk".to_string(),
        ),
    };
    TemplateInfoOut {
        proxy,
        table_digest: table.digest(),
        table,
        files: cfg
            .files
            .iter()
            .map(|f| SourceFileInfo {
                path: f.path.display().to_string(),
                sha256: f.sha256.clone(),
            })
            .collect(),
        digest,
        proxy_digest,
        differs_from_disk,
        drift,
        endpoints: inbound_endpoints(),
        responses_passthrough: cfg
            .backends
            .values()
            .filter(|b| crate::proxy::dispatch::serves_responses(b))
            .map(|b| b.name.clone())
            .collect(),
    }
}

fn render_endpoints(endpoints: &[EndpointInfo]) -> String {
    let mut out = String::from("Endpoints (routed by `model`):\n");
    for e in endpoints {
        out.push_str(&format!(
            "   {} ({}): to Anthropic backends {}; to OpenAI backends {}\n",
            e.endpoint, e.protocol, e.to_anthropic, e.to_openai
        ));
    }
    out
}

impl TemplateInfoOut {
    pub fn render(&self) -> String {
        let t = &self.table;
        let mut out = format!(
            "Routing table (config digest {}, table digest {}).\n{}\n{}\n\n",
            short(&self.digest),
            short(&self.table_digest),
            proxy_line(&self.proxy),
            self.drift
        );
        out.push_str(&render_endpoints(&self.endpoints));
        if !self.responses_passthrough.is_empty() {
            out.push_str(&format!(
                "/v1/responses untranslated to: {}\n",
                self.responses_passthrough.join(", ")
            ));
        }
        if let Some(m) = &t.override_model {
            out.push_str(&format!("1. Override: every request uses `{m}`\n"));
        }
        out.push_str("2. Prefixes (`<prefix>:<model>`):\n");
        for p in &t.prefixes {
            out.push_str(&format!(
                "   {}: → {} ({})\n",
                p.prefix,
                p.backend.as_deref().unwrap_or("NO BACKEND"),
                p.kind
            ));
        }
        if t.routes.is_empty() {
            out.push_str("3. Routes: none in config.toml\n");
        } else {
            out.push_str("3. Routes (first match wins):\n");
            for r in &t.routes {
                out.push_str(&format!("   #{} {} → {}", r.number, r.model, r.backend));
                if let Some(m) = &r.upstream_model {
                    out.push_str(&format!(" as {m}"));
                }
                if !r.fallbacks.is_empty() {
                    out.push_str(&format!(" (fallbacks: {})", r.fallbacks.join(" → ")));
                }
                out.push('\n');
            }
        }
        if !t.backend_globs.is_empty() {
            out.push_str("4. Backend model globs:\n");
            for g in &t.backend_globs {
                out.push_str(&format!("   {} → {}\n", g.pattern, g.backend));
            }
        }
        out.push_str("5. Aliases:\n");
        for a in &t.aliases {
            out.push_str(&format!("   {} → {} ({}", a.name, a.target, a.source));
            if a.overridden {
                out.push_str(", overridden");
            }
            out.push_str(")\n");
        }
        out.push_str("5. Families:\n");
        for f in &t.families {
            out.push_str(&format!("   {} → {}\n", f.pattern, f.backend));
        }
        out.push_str(&format!(
            "6. Default backend: {} ({})\n",
            t.default_backend.as_deref().unwrap_or("none"),
            t.default_reason
        ));
        for sh in &t.shadowed {
            out.push_str(&format!(
                "WARN never fires: {} (shadowed by {})\n",
                sh.rule, sh.by
            ));
        }
        for p in &t.problems {
            out.push_str(&format!("PROBLEM {p}\n"));
        }
        if self.files.is_empty() {
            out.push_str("Source files: none (built-in defaults only)\n");
        } else {
            out.push_str("Source files:\n");
            for f in &self.files {
                out.push_str(&format!("   {} (sha256 {})\n", f.path, short(&f.sha256)));
            }
        }
        out
    }
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

// ---------------------------------------------------------------------------------------------
// fingerprint_info
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UserAgentInfo {
    /// The token dario appends: `dario/<version>`.
    pub token: String,
    /// How the outbound User-Agent is formed.
    pub rule: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProtocolHeaders {
    /// Header carrying the backend's credential to this kind of upstream.
    pub auth_header: String,
    /// Authorization scheme in front of the credential, if any (`Bearer`).
    pub auth_scheme: Option<String>,
    /// Headers dario sets on every request to this kind of upstream.
    pub added: Vec<String>,
    /// Client headers that reach the upstream when the client speaks this protocol too.
    pub forwarded_same_protocol: String,
    /// Client headers that reach the upstream when dario translates from the other protocol.
    pub forwarded_when_translating: Vec<String>,
    /// Client headers never forwarded.
    pub stripped: Vec<String>,
    /// Client header prefixes never forwarded.
    pub stripped_prefixes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ResponseHeaders {
    /// Upstream response headers that reach the client.
    pub forwarded: Vec<String>,
    pub forwarded_prefixes: Vec<String>,
    /// Headers dario adds to its responses.
    pub added: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TlsInfo {
    pub library: String,
    pub library_version: String,
    pub crypto_provider: String,
    pub crypto_provider_version: String,
    /// TLS protocol versions offered to upstreams.
    pub protocol_versions: Vec<String>,
    /// ALPN protocols offered.
    pub alpn: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UpstreamHost {
    pub backend: String,
    /// Deployment alias, for a pool member.
    pub deployment: Option<String>,
    pub protocol: String,
    pub scheme: String,
    pub host: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BuildInfo {
    pub version: String,
    pub target: String,
    pub profile: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FingerprintOut {
    pub proxy: ProxyState,
    pub user_agent: UserAgentInfo,
    /// Request headers per upstream protocol.
    pub request_headers: BTreeMap<String, ProtocolHeaders>,
    pub response_headers: ResponseHeaders,
    /// Connection-level headers never forwarded in either direction.
    pub hop_by_hop: Vec<String>,
    pub tls: TlsInfo,
    pub http_versions: Vec<String>,
    /// Where dario connects, from the configured backends' base URLs.
    pub upstream_hosts: Vec<UpstreamHost>,
    pub build: BuildInfo,
    /// Digest of the configuration on disk (`null` when it could not be read).
    pub config_digest: Option<String>,
    pub config_error: Option<String>,
    /// What dario never does to look like another client.
    pub boundary: String,
    /// The inbound endpoints (each request's protocol decides which headers go upstream).
    pub endpoints: Vec<EndpointInfo>,
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Version of a locked dependency, read from the Cargo.lock this binary was built with.
fn locked_version(name: &str) -> String {
    const LOCK: &str = include_str!("../../Cargo.lock");
    let needle = format!("name = \"{name}\"\nversion = \"");
    LOCK.find(&needle)
        .and_then(|i| {
            let rest = &LOCK[i + needle.len()..];
            rest.find('"').map(|j| rest[..j].to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn protocol_headers(p: Protocol) -> ProtocolHeaders {
    let (auth, scheme) = match p {
        Protocol::Anthropic => ("x-api-key", None),
        Protocol::OpenAi | Protocol::Responses => ("authorization", Some("Bearer".to_string())),
    };
    ProtocolHeaders {
        auth_header: auth.to_string(),
        auth_scheme: scheme,
        // `a | b (note)` entries name alternatives per backend: keep this protocol's one.
        added: headers::ADDED_REQUEST
            .iter()
            .map(|h| match h.split_once(" | ") {
                Some(_) => format!("{auth} (backend credential)"),
                None => h.to_string(),
            })
            .collect(),
        forwarded_same_protocol: "every client header except hop-by-hop, `stripped`, `stripped_prefixes`, user-agent and content-type (which dario sets)".to_string(),
        forwarded_when_translating: strings(headers::FORWARDED_WHEN_TRANSLATING),
        stripped: strings(headers::STRIPPED_REQUEST),
        stripped_prefixes: strings(headers::STRIPPED_REQUEST_PREFIXES),
    }
}

pub fn fingerprint_info(
    cfg: Result<&Config, &str>,
    digest: Option<String>,
    proxy: ProxyState,
) -> FingerprintOut {
    let mut request_headers = BTreeMap::new();
    for p in [Protocol::Anthropic, Protocol::OpenAi] {
        request_headers.insert(p.to_string(), protocol_headers(p));
    }
    let mut upstream_hosts = Vec::new();
    let config_error = match cfg {
        Ok(cfg) => {
            for b in cfg.backends.values() {
                let (scheme, host) = crate::safe_url::scheme_and_host(&b.base_url);
                upstream_hosts.push(UpstreamHost {
                    backend: b.name.clone(),
                    deployment: None,
                    protocol: b.protocol.to_string(),
                    scheme,
                    host,
                });
                for d in &b.deployments {
                    if let Some(url) = &d.base_url {
                        let (scheme, host) = crate::safe_url::scheme_and_host(url);
                        upstream_hosts.push(UpstreamHost {
                            backend: b.name.clone(),
                            deployment: Some(d.alias.clone()),
                            protocol: b.protocol.to_string(),
                            scheme,
                            host,
                        });
                    }
                }
            }
            None
        }
        Err(e) => Some(e.to_string()),
    };
    FingerprintOut {
        proxy,
        user_agent: UserAgentInfo {
            token: crate::user_agent_token().to_string(),
            rule: format!(
                "the client's own User-Agent followed by `{}`; just `{}` when the client sent none",
                crate::user_agent_token(),
                crate::user_agent_token()
            ),
        },
        request_headers,
        response_headers: ResponseHeaders {
            forwarded: strings(headers::FORWARDED_RESPONSE),
            forwarded_prefixes: strings(headers::FORWARDED_RESPONSE_PREFIXES),
            added: strings(headers::ADDED_RESPONSE),
        },
        hop_by_hop: strings(headers::HOP_BY_HOP),
        tls: TlsInfo {
            library: "rustls".to_string(),
            library_version: locked_version("rustls"),
            crypto_provider: "ring".to_string(),
            crypto_provider_version: locked_version("ring"),
            protocol_versions: rustls::DEFAULT_VERSIONS
                .iter()
                .map(|v| format!("{:?}", v.version).replace("TLSv", "TLS ").replace('_', "."))
                .collect(),
            alpn: vec!["h2".to_string(), "http/1.1".to_string()],
        },
        http_versions: vec![
            "HTTP/1.1".to_string(),
            "HTTP/2 (negotiated via ALPN)".to_string(),
        ],
        upstream_hosts,
        build: BuildInfo {
            version: crate::VERSION.to_string(),
            target: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
            profile: if cfg!(debug_assertions) { "debug" } else { "release" }.to_string(),
        },
        config_digest: digest,
        config_error,
        boundary: "dario presents itself as dario: it never replays another client's headers, prompts, body order, TLS or timing, and never uses another application's OAuth client".to_string(),
        endpoints: inbound_endpoints(),
    }
}

impl FingerprintOut {
    pub fn render(&self) -> String {
        let mut out = String::from("What upstreams see from dario.\n");
        out.push_str(&proxy_line(&self.proxy));
        out.push_str("\n\n");
        out.push_str(&format!("User-Agent: {}\n", self.user_agent.rule));
        out.push_str(&render_endpoints(&self.endpoints));
        for (p, h) in &self.request_headers {
            let scheme = h
                .auth_scheme
                .as_ref()
                .map(|s| format!(" (scheme {s})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "{p} upstreams: backend credential in `{}`{scheme}; dario sets {}\n  same protocol: forwards {}\n  translating: forwards only {}\n",
                h.auth_header,
                h.added.join(", "),
                h.forwarded_same_protocol,
                h.forwarded_when_translating.join(", ")
            ));
        }
        let any = self.request_headers.values().next();
        if let Some(h) = any {
            out.push_str(&format!(
                "Never forwarded: {}; prefixes {}\n",
                h.stripped.join(", "),
                h.stripped_prefixes.join(", ")
            ));
        }
        out.push_str(&format!(
            "Hop-by-hop (never): {}\n",
            self.hop_by_hop.join(", ")
        ));
        out.push_str(&format!(
            "Responses: forwards {} and {}*; adds {}\n",
            self.response_headers.forwarded.join(", "),
            self.response_headers.forwarded_prefixes.join("*, "),
            self.response_headers.added.join(", ")
        ));
        out.push_str(&format!(
            "TLS: {} {} with {} {}; {}; ALPN {}\n",
            self.tls.library,
            self.tls.library_version,
            self.tls.crypto_provider,
            self.tls.crypto_provider_version,
            self.tls.protocol_versions.join(", "),
            self.tls.alpn.join(", ")
        ));
        out.push_str(&format!("HTTP: {}\n", self.http_versions.join(", ")));
        out.push_str("Upstream hosts:\n");
        for h in &self.upstream_hosts {
            let who = match &h.deployment {
                Some(d) => format!("{}/{}", h.backend, d),
                None => h.backend.clone(),
            };
            out.push_str(&format!(
                "  {who} [{}]: {}://{}\n",
                h.protocol, h.scheme, h.host
            ));
        }
        if let Some(e) = &self.config_error {
            out.push_str(&format!("  (configuration unreadable: {e})\n"));
        }
        out.push_str(&format!(
            "Build: dario {} {} ({})\nConfig digest: {}\n{}\n",
            self.build.version,
            self.build.target,
            self.build.profile,
            self.config_digest.as_deref().unwrap_or("unknown"),
            self.boundary
        ));
        out
    }
}

// ---------------------------------------------------------------------------------------------
// route_explain
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RouteExplainOut {
    /// The model name the client would send.
    pub requested_model: String,
    /// Backend the request goes to.
    pub backend: String,
    /// That backend's protocol: dario translates when the client speaks the other one.
    pub protocol: String,
    /// The backend's base URL (without credentials).
    pub base_url: Option<String>,
    /// `built-in`, or the file that defines the backend.
    pub backend_source: Option<String>,
    /// The model name sent upstream.
    pub upstream_model: String,
    /// Backends tried next, in order, on a retryable failure.
    pub fallbacks: Vec<String>,
    /// Alias expanded on the way, if any.
    pub alias: Option<String>,
    /// Every name the model went through while aliases expanded.
    pub alias_chain: Vec<String>,
    /// `anthropic-beta` value the proxy adds (`opus1m`, `sonnet1m`).
    pub anthropic_beta: Option<String>,
    /// Which SPEC §4 rule decided: `{"rule": "prefix" | "route" | "backend_models" | "family" | "default" | "override", …}`.
    pub rule: Value,
    /// The SPEC §4 step (1-6) of that rule.
    pub step: u8,
    /// The rule as `dario route` prints it (`2 · provider prefix \`groq:\``).
    pub rule_text: String,
    /// One sentence explaining the decision.
    pub explanation: String,
}

pub fn route_explain(cfg: &Config, d: &RouteDecision) -> RouteExplainOut {
    let rule_text = match &d.override_rule {
        Some(inner) => format!(
            "{} · {}, then {} · {}",
            d.rule.step(),
            d.rule.describe(),
            inner.step(),
            inner.describe()
        ),
        None => format!("{} · {}", d.rule.step(), d.rule.describe()),
    };
    let backend = cfg.backends.get(&d.backend);
    let mut explanation = format!(
        "`{}` goes to backend `{}` ({}) as `{}`, decided by {}",
        d.requested_model,
        d.backend,
        d.protocol,
        d.upstream_model,
        d.rule.describe()
    );
    if !d.alias_chain.is_empty() {
        explanation.push_str(&format!(" (aliases: {})", d.alias_chain.join(" → ")));
    }
    if d.fallbacks.is_empty() {
        explanation.push_str("; no fallbacks.");
    } else {
        explanation.push_str(&format!("; fallbacks: {}.", d.fallbacks.join(" → ")));
    }
    RouteExplainOut {
        requested_model: d.requested_model.clone(),
        backend: d.backend.clone(),
        protocol: d.protocol.to_string(),
        base_url: backend.map(|b| crate::safe_url::display(&b.base_url)),
        backend_source: backend.map(|b| source_label(&b.source)),
        upstream_model: d.upstream_model.clone(),
        fallbacks: d.fallbacks.clone(),
        alias: d.alias.clone(),
        alias_chain: d.alias_chain.clone(),
        anthropic_beta: d.anthropic_beta.clone(),
        rule: serde_json::to_value(&d.rule).unwrap_or(Value::Null),
        step: d.rule.step(),
        rule_text,
        explanation,
    }
}

impl RouteExplainOut {
    pub fn render(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            ("model", self.requested_model.clone()),
            (
                "backend",
                format!(
                    "{}  ({}, {}; {})",
                    self.backend,
                    self.protocol,
                    self.base_url.as_deref().unwrap_or("?"),
                    self.backend_source.as_deref().unwrap_or("?")
                ),
            ),
            ("upstream", self.upstream_model.clone()),
            ("rule", self.rule_text.clone()),
        ];
        if !self.alias_chain.is_empty() {
            rows.push(("alias", self.alias_chain.join(" → ")));
        }
        if let Some(beta) = &self.anthropic_beta {
            rows.push(("beta", format!("anthropic-beta {beta}")));
        }
        rows.push((
            "fallbacks",
            if self.fallbacks.is_empty() {
                "none".to_string()
            } else {
                self.fallbacks.join(" → ")
            },
        ));
        let mut out = format!("{}\n\n", self.explanation);
        for (k, v) in rows {
            out.push_str(&format!("{k:<9}  {v}\n"));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering helpers
// ---------------------------------------------------------------------------------------------

fn num(v: &Value, path: &str) -> Option<f64> {
    v.pointer(path).and_then(Value::as_f64)
}

fn ms(v: &Value, path: &str) -> String {
    num(v, path).map_or_else(|| "–".to_string(), |x| format!("{x:.0} ms"))
}

/// The proxy's `/pool` snapshot, one line per backend and deployment. `None` when the body
/// does not have the expected shape (the generic rendering is used then).
pub fn render_pool(pool: &Value) -> Option<String> {
    let backends = pool.get("backends")?.as_array()?;
    let mut out = String::new();
    for b in backends {
        let name = b.get("backend")?.as_str()?;
        let deployments = b.get("deployments")?.as_array()?;
        out.push_str(&format!(
            "- {name}: {} of {} deployment(s) available, {} sticky conversation(s)\n",
            b.get("available").and_then(Value::as_u64).unwrap_or(0),
            deployments.len(),
            b.get("sticky_keys").and_then(Value::as_u64).unwrap_or(0)
        ));
        for d in deployments {
            let mut line = format!(
                "    {}: headroom {}, {} in flight",
                d.get("alias").and_then(Value::as_str).unwrap_or("?"),
                num(d, "/headroom").map_or("?".to_string(), |h| format!("{:.0}%", h * 100.0)),
                d.get("in_flight").and_then(Value::as_u64).unwrap_or(0)
            );
            if d.get("cooling").and_then(Value::as_bool) == Some(true) {
                line.push_str(&format!(
                    ", COOLING {:.1} s",
                    num(d, "/cooldown_remaining_ms").unwrap_or(0.0) / 1000.0
                ));
                if let Some(r) = d.get("cooldown_reason").and_then(Value::as_str) {
                    line.push_str(&format!(" ({r})"));
                }
            }
            if d.get("credential_missing").and_then(Value::as_bool) == Some(true) {
                line.push_str(", credential MISSING");
            }
            if let Some(st) = d.get("last_status").and_then(Value::as_u64) {
                line.push_str(&format!(", last status {st}"));
            }
            if let Some(e) = d.get("last_error").and_then(Value::as_str) {
                line.push_str(&format!(", last error: {e}"));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    if backends.is_empty() {
        out.push_str("  (no backends)\n");
    }
    if let Some(c) = pool.get("cluster").filter(|c| c.is_object()) {
        let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("?");
        out.push_str(&format!(
            "Cluster: instance {} via {} (namespace {}): {}",
            text("instance_id"),
            text("redis"),
            text("namespace"),
            text("state")
        ));
        if let Some(e) = c.get("last_error").and_then(Value::as_str) {
            out.push_str(&format!(" — {e}"));
        }
        out.push_str(&format!(
            "; {} request(s) on local state, {} refused by team limits\n",
            c.get("local_fallbacks")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            c.get("team_limited").and_then(Value::as_u64).unwrap_or(0)
        ));
    }
    Some(out)
}

fn group_line(g: &Value) -> String {
    format!(
        "{} req, {} err, {} tokens, ${:.4}, latency p50 {} / p95 {}, TTFB p50 {}",
        g.get("requests").and_then(Value::as_u64).unwrap_or(0),
        g.get("errors").and_then(Value::as_u64).unwrap_or(0),
        num(g, "/tokens/total").unwrap_or(0.0),
        num(g, "/cost_usd").unwrap_or(0.0),
        ms(g, "/latency_ms/p50"),
        ms(g, "/latency_ms/p95"),
        ms(g, "/ttfb_ms/p50"),
    )
}

/// The proxy's `/analytics` summary: window totals, burn rate, per backend and model, all time.
/// `None` when the body does not have the expected shape.
pub fn render_analytics(a: &Value, window_minutes: u32) -> Option<String> {
    let w = a.get("window")?;
    let t = w.get("totals")?;
    let mut out = format!("Window (last {window_minutes} min): {}\n", group_line(t));
    out.push_str(&format!(
        "  tokens: {} in, {} out, {} cache read, {} cache write ({} reasoning)\n",
        num(t, "/tokens/input").unwrap_or(0.0),
        num(t, "/tokens/output").unwrap_or(0.0),
        num(t, "/tokens/cache_read").unwrap_or(0.0),
        num(t, "/tokens/cache_write").unwrap_or(0.0),
        num(t, "/tokens/reasoning").unwrap_or(0.0),
    ));
    if let Some(b) = w.get("burn") {
        out.push_str(&format!(
            "  burn: {:.1} tokens/min, ${:.4}/h\n",
            num(b, "/tokens_per_min").unwrap_or(0.0),
            num(b, "/usd_per_hour").unwrap_or(0.0)
        ));
    }
    for (title, key, label) in [
        ("By backend", "by_backend", &["backend"][..]),
        ("By model", "by_model", &["backend", "model"][..]),
    ] {
        let groups = w
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if groups.is_empty() {
            continue;
        }
        out.push_str(&format!("{title}:\n"));
        for g in groups {
            let name: Vec<&str> = label
                .iter()
                .filter_map(|k| g.get(*k).and_then(Value::as_str))
                .collect();
            out.push_str(&format!("  {}: {}\n", name.join(" "), group_line(&g)));
        }
    }
    if let Some(all) = a.pointer("/all_time/totals") {
        out.push_str(&format!("All time: {}\n", group_line(all)));
    }
    if let Some(f) = a.get("failovers").and_then(Value::as_object) {
        if !f.is_empty() {
            let list: Vec<String> = f.iter().map(|(k, v)| format!("{k} {v}")).collect();
            out.push_str(&format!(
                "Failovers (by failing backend): {}\n",
                list.join(", ")
            ));
        }
    }
    if let Some(u) = a.get("unpriced_models").and_then(Value::as_array) {
        if !u.is_empty() {
            let list: Vec<&str> = u.iter().filter_map(Value::as_str).collect();
            out.push_str(&format!(
                "Models without a price (cost counted as 0): {}\n",
                list.join(", ")
            ));
        }
    }
    Some(out)
}

/// One-line JSON for small live values (long ones cut at 400 bytes).
pub fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= 400 {
        return s;
    }
    let mut end = 400;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// An indented, YAML-like rendering of a JSON value for the text content.
pub fn render_value(v: &Value, indent: usize) -> String {
    let mut out = String::new();
    render_into(&mut out, v, indent);
    out
}

fn render_into(out: &mut String, v: &Value, indent: usize) {
    let pad = "  ".repeat(indent);
    match v {
        Value::Object(map) if map.is_empty() => out.push_str(&format!("{pad}(empty)\n")),
        Value::Object(map) => {
            for (k, val) in map {
                if is_scalar(val) {
                    out.push_str(&format!("{pad}{k}: {}\n", scalar(val)));
                } else {
                    out.push_str(&format!("{pad}{k}:\n"));
                    render_into(out, val, indent + 1);
                }
            }
        }
        Value::Array(items) if items.is_empty() => out.push_str(&format!("{pad}(none)\n")),
        Value::Array(items) => {
            for item in items {
                if is_scalar(item) {
                    out.push_str(&format!("{pad}- {}\n", scalar(item)));
                } else {
                    out.push_str(&format!("{pad}-\n"));
                    render_into(out, item, indent + 1);
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(m) if !m.is_empty())
        && !matches!(v, Value::Array(a) if !a.is_empty())
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_string(),
        Value::Object(_) => "{}".to_string(),
        Value::Array(_) => "[]".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BackendConfig, DeploymentConfig, Limits, Secret, SourceFile};
    use crate::mcp::live::proxy_state;
    use serde_json::json;

    fn backend(name: &str, protocol: Protocol, url: &str, credential: Credential) -> BackendConfig {
        BackendConfig {
            name: name.to_string(),
            protocol,
            base_url: url.to_string(),
            credential,
            models: vec![],
            headers: vec![("x-custom".into(), "v".into())],
            deployments: vec![],
            system_messages: None,
            responses: false,
            source: BackendSource::BuiltIn,
        }
    }

    fn config() -> Config {
        let mut backends = BTreeMap::new();
        backends.insert(
            "anthropic".to_string(),
            backend(
                "anthropic",
                Protocol::Anthropic,
                "https://api.anthropic.com",
                Credential::Passthrough,
            ),
        );
        let mut groq = backend(
            "groq",
            Protocol::OpenAi,
            "https://api.groq.com/openai/v1",
            Credential::KeyEnv {
                var: "GROQ_API_KEY".into(),
                value: None,
            },
        );
        groq.deployments = vec![DeploymentConfig {
            alias: "east".into(),
            base_url: Some("https://u:p@east.example/v1?key=zz".into()),
            credential: Some(Credential::Key {
                key: Secret::new("sk-east-secret-123456"),
            }),
        }];
        backends.insert("groq".to_string(), groq);
        Config {
            home: "/tmp/h".into(),
            default_backend: Some("groq".into()),
            aliases: [("fast".to_string(), "groq:llama".to_string())].into(),
            routes: vec![crate::config::RouteRule {
                model: "claude-*".into(),
                backend: "anthropic".into(),
                upstream_model: None,
                fallbacks: vec!["groq".into()],
            }],
            backends,
            limits: Limits::default(),
            prices: BTreeMap::new(),
            models: BTreeMap::new(),
            files: vec![SourceFile {
                path: "/tmp/h/config.toml".into(),
                sha256: "ab".repeat(32),
            }],
            cluster: None,
            history: Default::default(),
        }
    }

    fn not_running() -> ProxyState {
        proxy_state(
            "127.0.0.1:1",
            &Fetch::NotRunning("proxy not running: test".into()),
        )
        .0
    }

    #[test]
    fn auth_status_reports_sources_and_missing() {
        let status = json!({"backends": [{"name": "groq", "last_status": 401}]});
        let out = auth_status(&config(), not_running(), Some(&status));
        assert_eq!(out.missing, vec!["groq".to_string()]);
        let groq = out.backends.iter().find(|b| b.backend == "groq").unwrap();
        assert_eq!(groq.health, CredentialHealth::Missing);
        assert_eq!(groq.deployments[0].health, CredentialHealth::Configured);
        assert_eq!(groq.live.as_ref().unwrap()["last_status"], 401);
        let text = out.render();
        assert!(text.contains("GROQ_API_KEY"), "{text}");
        let all = serde_json::to_string(&out).unwrap() + &text;
        assert!(!all.contains("east-secret"), "{all}");
    }

    #[test]
    fn backends_list_hides_values() {
        let out = backends_list(&config(), not_running(), None);
        let all = serde_json::to_string(&out).unwrap() + &out.render();
        assert!(!all.contains("east-secret"));
        assert!(!all.contains("u:p@"));
        assert!(!all.contains("key=zz"));
        assert!(all.contains("x-custom"));
    }

    #[test]
    fn template_drift() {
        let cfg = config();
        let table = || crate::routing::RouteTable::new(&cfg, None).template();
        let mut proxy = not_running();
        let t = template_info(&cfg, "d1".into(), table(), proxy.clone());
        assert_eq!(t.differs_from_disk, None);
        assert!(t.table.prefixes.iter().any(|p| p.prefix == "groq"));
        assert!(t.render().contains("claude-*"), "{}", t.render());
        proxy.running = true;
        proxy.config_digest = Some("d1".into());
        assert_eq!(
            template_info(&cfg, "d1".into(), table(), proxy.clone()).differs_from_disk,
            Some(false)
        );
        proxy.config_digest = Some("d2".into());
        let t = template_info(&cfg, "d1".into(), table(), proxy);
        assert_eq!(t.differs_from_disk, Some(true));
        assert!(t.render().contains("differs from disk"));
        let responses = t
            .endpoints
            .iter()
            .find(|e| e.endpoint == "POST /v1/responses")
            .expect("the Responses endpoint is listed");
        assert_eq!(responses.protocol, "responses");
        assert!(t.render().contains("POST /v1/responses (responses)"));
    }

    #[test]
    fn fingerprint_lists_hosts_and_tls() {
        let cfg = config();
        let f = fingerprint_info(Ok(&cfg), Some("dd".into()), not_running());
        assert!(f.render().contains("POST /v1/responses"));
        let hosts: Vec<_> = f.upstream_hosts.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(hosts, ["api.anthropic.com", "api.groq.com", "east.example"]);
        assert_ne!(f.tls.library_version, "unknown");
        assert!(
            f.tls.protocol_versions.iter().any(|v| v == "TLS 1.3"),
            "{:?}",
            f.tls
        );
        let openai = &f.request_headers["openai"];
        assert!(openai
            .added
            .contains(&"authorization (backend credential)".to_string()));
        assert!(!openai.added.iter().any(|h| h.contains("x-api-key")));
        assert_eq!(f.request_headers["anthropic"].auth_header, "x-api-key");
        assert!(f.render().contains("api.groq.com"));
    }

    #[test]
    fn analytics_window_bounds() {
        assert_eq!(window_minutes(&AnalyticsArgs::default()), Ok(60));
        assert_eq!(
            window_minutes(&AnalyticsArgs {
                window_minutes: Some(5)
            }),
            Ok(5)
        );
        let e = window_minutes(&AnalyticsArgs {
            window_minutes: Some(0),
        })
        .unwrap_err();
        assert!(e.contains("between 1 and 1440"), "{e}");
        let out = analytics_summary(
            60,
            not_running(),
            Fetch::NotRunning("proxy not running: x".into()),
        );
        assert!(out.analytics.is_none());
        assert!(out.render().contains("proxy not running"));
    }

    #[test]
    fn pool_and_analytics_rendering() {
        let pool = json!({"backends": [{"backend": "groq", "available": 1, "sticky_keys": 2,
            "deployments": [{"alias": "east", "headroom": 0.25, "in_flight": 3, "cooling": true,
              "cooldown_remaining_ms": 1500, "cooldown_reason": "429", "last_status": 429,
              "credential_missing": false, "last_error": null}]}]});
        let text = render_pool(&pool).unwrap();
        assert!(
            text.contains("groq: 1 of 1 deployment(s) available, 2 sticky"),
            "{text}"
        );
        assert!(
            text.contains("east: headroom 25%, 3 in flight, COOLING 1.5 s (429), last status 429"),
            "{text}"
        );
        assert!(render_pool(&json!({"other": 1})).is_none());
        let clustered = json!({"backends": [], "cluster": {"instance_id": "i1",
            "redis": "redis://r:6379", "namespace": "team", "state": "unreachable: routing on local state",
            "last_error": "connection refused", "local_fallbacks": 3, "team_limited": 1}});
        let text = render_pool(&clustered).unwrap();
        assert!(
            text.contains("Cluster: instance i1 via redis://r:6379 (namespace team): unreachable: routing on local state — connection refused; 3 request(s) on local state, 1 refused by team limits"),
            "{text}"
        );
        let a = json!({"window": {"totals": {"requests": 4, "errors": 1, "tokens": {"total": 100, "input": 60, "output": 40},
              "cost_usd": 0.5, "latency_ms": {"p50": 120.0, "p95": 300.0}, "ttfb_ms": {"p50": 80.0}},
              "burn": {"tokens_per_min": 10.0, "usd_per_hour": 1.0},
              "by_backend": [{"backend": "groq", "requests": 4, "errors": 1, "tokens": {"total": 100}, "cost_usd": 0.5,
                "latency_ms": {"p50": 120.0}, "ttfb_ms": {}}], "by_model": []},
            "all_time": {"totals": {"requests": 9}}, "failovers": {"groq": 2}, "unpriced_models": ["x"]});
        let text = render_analytics(&a, 15).unwrap();
        assert!(text.starts_with("Window (last 15 min): 4 req, 1 err, 100 tokens, $0.5000, latency p50 120 ms / p95 300 ms, TTFB p50 80 ms"), "{text}");
        assert!(text.contains("groq: 4 req"), "{text}");
        assert!(text.contains("All time: 9 req"), "{text}");
        assert!(
            text.contains("Failovers (by failing backend): groq 2"),
            "{text}"
        );
        assert!(render_analytics(&json!({"requests": 1}), 60).is_none());
    }

    #[test]
    fn value_rendering() {
        let v = json!({"a": 1, "b": {"c": [1, {"d": "x"}]}, "e": []});
        assert_eq!(
            render_value(&v, 0),
            "a: 1\nb:\n  c:\n    - 1\n    -\n      d: x\ne: []\n"
        );
    }
}
