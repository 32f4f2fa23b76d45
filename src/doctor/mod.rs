//! `dario doctor`: health checks as data (`Check { status, label, detail, fix }`), rendered by the
//! CLI, `--json` and the MCP `doctor` tool alike (SPEC §7).
//!
//! Owns: the list of checks and their order, the human rendering, the final secret scrub of every
//! row. Must not: print directly, change any file, or send anything but a `GET /health` to the
//! local proxy, a `PING` to the `[cluster]` Redis when one is configured, and (with `--online`
//! only) one model-list request per backend deployment.

pub mod backends;
pub mod clients;
mod cluster;
mod files;
mod history;
pub mod proxy;
pub mod snippets;

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use clients::{McpClient, Registration};
pub use proxy::ProxyState;

/// How a row came out. Ordered by severity for sorting: `Fail` first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Fail,
    Warn,
    Ok,
    Info,
}

impl Status {
    /// The fixed-width tag of the human output: `[ OK ]`, `[WARN]`, `[FAIL]`, `[INFO]`.
    pub fn tag(self) -> &'static str {
        match self {
            Status::Ok => "[ OK ]",
            Status::Warn => "[WARN]",
            Status::Fail => "[FAIL]",
            Status::Info => "[INFO]",
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Check {
    pub status: Status,
    /// What was checked (`home`, `config`, `backend groq`, `proxy`, …).
    pub label: String,
    /// What was found. Never contains a credential.
    pub detail: String,
    /// The exact command (or action) that fixes a WARN/FAIL, or sets up an INFO item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn new(status: Status, label: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            status,
            label: label.into(),
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub ok: usize,
    pub warn: usize,
    pub fail: usize,
    pub info: usize,
}

impl Summary {
    pub fn of(checks: &[Check]) -> Summary {
        let mut s = Summary::default();
        for c in checks {
            match c.status {
                Status::Ok => s.ok += 1,
                Status::Warn => s.warn += 1,
                Status::Fail => s.fail += 1,
                Status::Info => s.info += 1,
            }
        }
        s
    }

    /// `2 failed, 1 warning, 9 ok, 3 info`.
    pub fn line(&self) -> String {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{}, {}, {} ok, {} info",
            plural(self.fail, "failure", "failures"),
            plural(self.warn, "warning", "warnings"),
            self.ok,
            self.info
        )
    }
}

/// The whole report: what `dario doctor --json` prints and the MCP `doctor` tool returns as
/// structured content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Version of the dario that ran the checks.
    pub version: String,
    /// `false` iff any row is `fail` (then `dario doctor` exits 1).
    pub ok: bool,
    pub summary: Summary,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn new(checks: Vec<Check>) -> Report {
        let summary = Summary::of(&checks);
        Report {
            version: crate::VERSION.to_string(),
            ok: summary.fail == 0,
            summary,
            checks,
        }
    }
}

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct DoctorOptions {
    /// Also send one model-list request per backend deployment (5 s timeout each).
    pub online: bool,
}

/// Timeout of each `--online` model-list request.
pub const ONLINE_TIMEOUT: Duration = Duration::from_secs(5);

/// Run every check, in report order. Environment: `DARIO_HOME`, `DARIO_HOST`, `DARIO_PORT`,
/// `CLAUDE_CONFIG_DIR`, `HOME`, and the backends' `key_env` variables.
pub async fn run_checks(opts: &DoctorOptions) -> Vec<Check> {
    let local = tokio::task::spawn_blocking(local_checks)
        .await
        .unwrap_or_else(|err| LocalChecks {
            rows: vec![Check::new(
                Status::Fail,
                "doctor",
                format!("the local checks crashed: {err}"),
            )],
            config: None,
        });
    let secrets = secrets_of(local.config.as_ref());
    let mut rows = local.rows;
    if opts.online {
        match &local.config {
            Some(cfg) => rows.extend(backends::online_rows(cfg, ONLINE_TIMEOUT).await),
            None => rows.push(Check::new(
                Status::Info,
                "online",
                "not probed: the configuration did not load (see above)",
            )),
        }
    }
    if let Some(c) = local.config.as_ref().and_then(|cfg| cfg.cluster.as_ref()) {
        rows.push(cluster::row(c).await);
    }
    rows.extend(proxy::checks(local.config.as_ref().map(|c| c.digest())).await);
    rows.extend(
        tokio::task::spawn_blocking(integration_checks)
            .await
            .unwrap_or_default(),
    );
    scrub(&mut rows, &secrets);
    rows
}

/// Every value the rows must not show: the configuration's secrets and `DARIO_API_KEY`.
fn secrets_of(config: Option<&crate::config::Config>) -> Vec<String> {
    let mut secrets: Vec<String> = config
        .map(|cfg| {
            cfg.secret_values()
                .into_iter()
                .map(|s| s.expose().to_string())
                .collect()
        })
        .unwrap_or_default();
    if let Ok(key) = std::env::var("DARIO_API_KEY") {
        secrets.push(key);
    }
    secrets
}

/// The checks that need neither the network nor the proxy's port: version, home, permissions,
/// config files, backends (credential sources) and routing, scrubbed of every configured secret.
/// Blocking (file reads): `dario proxy` shows their FAIL and WARN rows at start-up.
pub fn offline_checks() -> Vec<Check> {
    let local = local_checks();
    let secrets = secrets_of(local.config.as_ref());
    let mut rows = local.rows;
    scrub(&mut rows, &secrets);
    rows
}

/// [`run_checks`] wrapped in a [`Report`].
pub async fn report(opts: &DoctorOptions) -> Report {
    Report::new(run_checks(opts).await)
}

struct LocalChecks {
    rows: Vec<Check>,
    config: Option<crate::config::Config>,
}

/// Version, platform, home, permissions, config files, backends (file reads only).
fn local_checks() -> LocalChecks {
    let mut rows = vec![version_row(), platform_row()];
    let home = match crate::config::Home::resolve() {
        Ok(home) => home,
        Err(err) => {
            rows.push(
                Check::new(Status::Fail, "home", err.to_string())
                    .with_fix("set DARIO_HOME (or HOME) to a directory dario may use"),
            );
            return LocalChecks { rows, config: None };
        }
    };
    let dir = home.dir();
    let source = if std::env::var_os("DARIO_HOME").is_some_and(|v| !v.is_empty()) {
        " (from DARIO_HOME)"
    } else {
        ""
    };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            rows.push(Check::new(
                Status::Ok,
                "home",
                format!("{}{source}", dir.display()),
            ));
            let extra = backends::extra_secret_files(&home);
            let extra: Vec<&std::path::Path> = extra.iter().map(|p| p.as_path()).collect();
            rows.extend(files::permission_checks(dir, &extra));
        }
        Ok(_) => rows.push(
            Check::new(
                Status::Fail,
                "home",
                format!("{} exists but is not a directory", dir.display()),
            )
            .with_fix("move that file away, or set DARIO_HOME to a directory"),
        ),
        Err(_) => rows.push(
            Check::new(
                Status::Info,
                "home",
                format!(
                    "{}{source} does not exist yet (built-in backends only)",
                    dir.display()
                ),
            )
            .with_fix("dario backend add <name> …   (creates it with mode 0700)"),
        ),
    }
    let (config_rows, config) = backends::config_rows(&home);
    rows.extend(config_rows);
    rows.push(history::history_row(
        dir,
        config.as_ref().map(|c| &c.history),
    ));
    match &config {
        Some(cfg) => {
            rows.extend(backends::backend_rows(cfg));
            rows.extend(backends::routing_rows(cfg));
            rows.extend(claude_code_rows(cfg));
        }
        None => rows.push(Check::new(
            Status::Info,
            "backends",
            "not checked: the configuration did not load (see above)",
        )),
    }
    LocalChecks { rows, config }
}

/// What Claude Code needs to size its context for the non-Claude models this configuration
/// names (aliases and exact model names of backends): `CLAUDE_CODE_MAX_CONTEXT_TOKENS`.
fn claude_code_rows(cfg: &crate::config::Config) -> Vec<Check> {
    use crate::routing::model_info::{claude_code_hint, claude_code_knows};
    let mut models: Vec<String> = cfg.aliases.keys().cloned().collect();
    for b in cfg.backends.values() {
        models.extend(b.models.iter().filter(|m| !m.contains(['*', '?'])).cloned());
    }
    models.retain(|m| !claude_code_knows(m));
    models.sort();
    models.dedup();
    if models.is_empty() {
        return vec![Check::new(
            Status::Info,
            "claude code",
            "Claude models need nothing set; for another model, `dario claude --model <name>` sets ANTHROPIC_BASE_URL and CLAUDE_CODE_MAX_CONTEXT_TOKENS",
        )];
    }
    models
        .iter()
        .take(20)
        .map(|m| {
            let table = crate::routing::RouteTable::new(cfg, None);
            let upstream = table
                .resolve(m)
                .map(|d| d.upstream_model)
                .unwrap_or_else(|_| m.clone());
            let mut info = crate::routing::model_info(&upstream, &cfg.models);
            if info.max_input_tokens.is_none() {
                info = crate::routing::model_info(m, &cfg.models);
            }
            Check::new(
                Status::Info,
                format!("claude code {m}"),
                claude_code_hint(m, &info),
            )
        })
        .collect()
}

fn version_row() -> Check {
    Check::new(
        Status::Ok,
        "version",
        format!(
            "dario {} ({} build, TLS: rustls with ring)",
            crate::VERSION,
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        ),
    )
}

fn platform_row() -> Check {
    Check::new(
        Status::Info,
        "platform",
        format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    )
}

/// Sub-agent and MCP-client rows (file reads only).
fn integration_checks() -> Vec<Check> {
    let mut rows = subagent_rows();
    for client in McpClient::ALL {
        rows.push(mcp_row(client));
    }
    rows
}

fn subagent_rows() -> Vec<Check> {
    use crate::subagent::{Scope, State};
    let statuses = match crate::subagent::statuses() {
        Ok(s) => s,
        Err(err) => return vec![Check::new(Status::Warn, "sub-agent", err.to_string())],
    };
    statuses
        .into_iter()
        .map(|s| {
            let label = match s.scope {
                Scope::User => "sub-agent",
                Scope::Project => "sub-agent (project)",
            };
            let status = match &s.state {
                State::Current => Status::Ok,
                State::NotInstalled | State::Newer { .. } => Status::Info,
                State::Stale { .. } | State::LocallyModified { .. } | State::NoMarker => {
                    Status::Warn
                }
            };
            let detail = format!("{}: {}", s.path.display(), s.state.describe());
            let row = Check::new(status, label, detail);
            match (&s.state, s.state.fix(s.scope)) {
                (State::NotInstalled, Some(fix)) => row.with_fix(format!(
                    "{fix}   (optional: lets Claude Code delegate dario questions to it)"
                )),
                (_, Some(fix)) => row.with_fix(fix),
                (_, None) => row,
            }
        })
        .collect()
}

fn mcp_row(client: McpClient) -> Check {
    let label = format!("mcp: {}", client.display_name());
    let scan = clients::scan(client);
    if let Some(first) = scan.registrations.first() {
        let mut detail = format!(
            "registered as `{}` in {} ({})",
            first.name,
            first.file.display(),
            first.scope
        );
        if scan.registrations.len() > 1 {
            detail.push_str(&format!(" and {} more", scan.registrations.len() - 1));
        }
        // A registration pointing at a binary that no longer exists fails at the client's start.
        let missing = scan.registrations.iter().find_map(|r| {
            let cmd = r.command.as_deref()?;
            let path = std::path::Path::new(cmd);
            (path.is_absolute() && !path.exists()).then(|| cmd.to_string())
        });
        return match missing {
            Some(cmd) => Check::new(
                Status::Warn,
                label,
                format!("{detail}, but its command {cmd} does not exist"),
            )
            .with_fix(register_fix(client, true)),
            None => Check::new(Status::Ok, label, detail),
        };
    }
    if let Some((file, problem)) = scan.unreadable.first() {
        return Check::new(
            Status::Warn,
            label,
            format!("could not read {}: {problem}", file.display()),
        )
        .with_fix(format!(
            "fix that file in {}, then: {}",
            client.display_name(),
            register_fix(client, false)
        ));
    }
    let detail = if scan.files_found.is_empty() {
        format!(
            "not registered (no {} MCP config found)",
            client.display_name()
        )
    } else {
        "not registered".to_string()
    };
    Check::new(Status::Info, label, detail).with_fix(register_fix(client, false))
}

fn register_fix(client: McpClient, replace: bool) -> String {
    let cmd = clients::register_command(client);
    if replace && client == McpClient::ClaudeCode {
        format!("claude mcp remove dario && {cmd}")
    } else {
        cmd
    }
}

/// Masks every configured credential value, and every 8-byte run of one, in every row (the
/// crate's one secret matcher, `redact::Redactor`).
fn scrub(rows: &mut [Check], secrets: &[String]) {
    let redactor = crate::redact::Redactor::new(secrets.iter().map(String::as_str));
    if redactor.is_empty() {
        return;
    }
    let clean = |text: &mut String| {
        if let std::borrow::Cow::Owned(masked) = redactor.scrub_str(text) {
            *text = masked;
        }
    };
    for row in rows {
        clean(&mut row.label);
        clean(&mut row.detail);
        if let Some(fix) = &mut row.fix {
            clean(fix);
        }
    }
}

/// Human output: one aligned line per row (`[FAIL] label  detail`), the fix indented below it,
/// then a summary line.
pub fn render_human(checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|c| c.label.chars().count())
        .max()
        .unwrap_or(0)
        .min(28);
    let mut out = String::new();
    for c in checks {
        out.push_str(&format!(
            "{} {:<width$}  {}\n",
            c.status.tag(),
            c.label,
            c.detail
        ));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("       {:<width$}  → {}\n", "", fix));
        }
    }
    let summary = Summary::of(checks);
    out.push('\n');
    out.push_str(&if summary.fail > 0 {
        format!("doctor: {} — fix the FAIL rows above.\n", summary.line())
    } else if summary.warn > 0 {
        format!("doctor: {} — working, with warnings.\n", summary.line())
    } else {
        format!("doctor: {} — all good.\n", summary.line())
    });
    out
}

/// The HTTP client of the doctor's probes (`tool_http`): no proxy from the environment (it only
/// talks to loopback and the configured upstreams), `User-Agent: dario/<version>`, one overall
/// timeout, and no redirects followed — a probe carries a backend's key, which must never go to
/// the host a redirect names. Without CA certificates on this machine the loopback checks still
/// work, and an HTTPS probe fails with a certificate error of its own (as the proxy does).
pub(crate) fn http_client(
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<crate::tool_http::ToolClient, crate::tool_http::ToolHttpError> {
    crate::tool_http::ToolClient::new(connect_timeout, timeout, crate::tool_http::Trust::Platform)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_output_is_aligned_and_summarised() {
        let rows = vec![
            Check::new(Status::Ok, "version", "dario 0.1.0"),
            Check::new(Status::Fail, "permissions", "x is 0755").with_fix("chmod 700 x"),
            Check::new(Status::Info, "mcp: Cursor", "not registered"),
        ];
        let text = render_human(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "[ OK ] version      dario 0.1.0");
        assert_eq!(lines[1], "[FAIL] permissions  x is 0755");
        assert_eq!(lines[2], "                    → chmod 700 x");
        assert_eq!(lines[3], "[INFO] mcp: Cursor  not registered");
        assert!(lines
            .last()
            .unwrap()
            .starts_with("doctor: 1 failure, 0 warnings, 1 ok, 1 info"));
    }

    #[test]
    fn scrub_removes_secret_values_everywhere() {
        let mut rows = vec![Check::new(
            Status::Fail,
            "backend sk-secret-1234",
            "key sk-secret-1234 rejected",
        )
        .with_fix("dario backend add x --key sk-secret-1234")];
        scrub(&mut rows, &["sk-secret-1234".to_string()]);
        let json = serde_json::to_string(&rows).unwrap();
        assert!(!json.contains("sk-secret"), "{json}");
        assert!(json.contains("***"));
    }

    #[test]
    fn report_ok_iff_no_fail() {
        assert!(Report::new(vec![Check::new(Status::Warn, "a", "b")]).ok);
        assert!(!Report::new(vec![Check::new(Status::Fail, "a", "b")]).ok);
    }
}
