//! `subagent_status`: where the Claude Code sub-agent is installed and whether it is current.
//!
//! Owns: this tool's output type, how it is built from its inputs, and its text. Must not: do
//! I/O (the server gathers inputs through `server::run`).

use super::*;

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

impl Rendered for SubagentOut {
    fn render(&self) -> String {
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
