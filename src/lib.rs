//! dario — one local LLM endpoint.
//!
//! The request path (see `../shared/DESIGN.md`):
//! `proxy::server` → `proxy::guard` → `proxy::ingress` → `routing` → `pool` → `proxy::dispatch`
//! → `proxy::upstream` → `proxy::egress` (with `translate` when protocols differ) → `analytics`.
//!
//! Side faces: `mcp` (read-only MCP server), `subagent` (Claude Code sub-agent), `doctor`
//! (health report), `cli` (the command line).

pub mod allocator;
pub mod analytics;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod doctor;
pub mod history;
pub mod mcp;
pub mod pool;
pub mod protocol;
pub mod proxy;
pub mod routing;
pub mod sse;
pub mod subagent;
pub mod translate;

/// The crate version, as used in `User-Agent: dario/<version>` and the sub-agent marker.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `dario/<version>`: what dario appends to every outbound User-Agent.
pub fn user_agent_token() -> &'static str {
    concat!("dario/", env!("CARGO_PKG_VERSION"))
}
