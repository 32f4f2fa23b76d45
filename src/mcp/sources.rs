//! The MCP server's view of the rest of dario: loading the configuration, the routing table,
//! doctor rows and the sub-agent state. One seam, so the tools never reach into other modules
//! directly.
//!
//! Owns: calling those modules (blocking ones are run off the async runtime by the caller).
//! Must not: write anything.

use crate::config::{self, Config, Home};
use crate::doctor::{DoctorOptions, Report};
use crate::mcp::tools::{SubagentOut, SubagentTarget};
use crate::routing::{RouteDecision, RouteTable, Template};
use crate::subagent;

/// Loads the effective configuration from disk (`DARIO_HOME` or `~/.dario`). Blocking.
pub fn load_config() -> Result<Config, String> {
    let home = Home::resolve().map_err(|e| e.to_string())?;
    config::load(&home).map_err(|e| e.to_string())
}

/// SHA-256 digest of the effective configuration, as the proxy reports it in `/status`.
pub fn config_digest(cfg: &Config) -> String {
    cfg.digest()
}

/// The routing table ("template") of a configuration.
pub fn route_template(cfg: &Config) -> Template {
    RouteTable::new(cfg, None).template()
}

/// The routing decision for one model name, as `dario route <model>` prints it.
pub fn route_explain(cfg: &Config, model: &str) -> Result<RouteDecision, String> {
    RouteTable::new(cfg, None)
        .resolve(model)
        .map_err(|e| e.to_string())
}

/// The doctor report with the offline checks only (no upstream is contacted).
pub async fn doctor_report() -> Result<Report, String> {
    Ok(crate::doctor::report(&DoctorOptions { online: false }).await)
}

/// The sub-agent's state for the user (and this project, when installed there). Blocking.
pub fn subagent_status() -> Result<SubagentOut, String> {
    let statuses = subagent::statuses().map_err(|e| e.to_string())?;
    Ok(SubagentOut {
        targets: statuses
            .into_iter()
            .map(|s| {
                let state = serde_json::to_value(&s.state)
                    .ok()
                    .and_then(|v| v.get("state").and_then(|t| t.as_str()).map(str::to_string))
                    .unwrap_or_else(|| "unknown".to_string());
                let scope = match s.scope {
                    subagent::Scope::User => "user",
                    subagent::Scope::Project => "project",
                };
                SubagentTarget {
                    scope: scope.to_string(),
                    path: s.path.display().to_string(),
                    state,
                    detail: s.state.describe(),
                    fix: s.state.fix(s.scope),
                    current_version: s.current_version.to_string(),
                    template_sha256: s.template_sha256,
                }
            })
            .collect(),
    })
}
