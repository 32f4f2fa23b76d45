//! dario — one local LLM endpoint.
//!
//! The request path (see `ARCHITECTURE.md`; `SPEC §N` in comments is `docs/SPEC.md`, `TRANSLATION.md`
//! is `docs/TRANSLATION.md`):
//! `proxy::server` → `proxy::guard` → `proxy::ingress` → `routing` → `proxy::failover` (per
//! attempt: `pool` → `proxy::dispatch` → `proxy::upstream` → `proxy::egress`, with `translate`
//! when protocols differ) → `proxy::meter` → `analytics`. The `proxy` submodules are private;
//! `src/proxy/mod.rs` maps them.
//!
//! Side faces: `mcp` (read-only MCP server), `subagent` (Claude Code sub-agent), `doctor`
//! (health report), `cli` (the command line). Beside the path: `cluster` (with `[cluster]`,
//! pool state shared with other instances through Redis; docs/cluster.md).
//!
//! House rules the compiler enforces (CI runs clippy with `-D warnings`): no `unsafe` outside the
//! allocator glue, no printing outside `cli` (the library returns data; `cli` renders it), no lock
//! guard held across an `.await`.
#![deny(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::await_holding_lock)]

pub mod admin_api;
#[allow(unsafe_code)] // the GlobalAlloc glue; every block says why it is sound
pub mod allocator;
pub mod analytics;
pub mod atomic_file;
#[allow(clippy::print_stdout, clippy::print_stderr)] // the command line's own output
pub mod cli;
pub mod cluster;
pub mod config;
pub mod doctor;
pub mod history;
pub mod mcp;
pub mod pool;
pub mod protocol;
pub mod proxy;
pub mod proxy_address;
pub mod redact;
pub mod routing;
pub mod safe_url;
pub mod sse;
pub mod subagent;
pub mod timefmt;
pub mod tool_http;
pub mod translate;
pub mod worker;

/// Default address of `dario proxy` (SPEC §2): the host…
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// …and the port; `DARIO_HOST` / `DARIO_PORT` (and `--host` / `--port`) override them.
pub const DEFAULT_PORT: u16 = 3456;

/// The crate version, as used in `User-Agent: dario/<version>` and the sub-agent marker.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `dario/<version>`: what dario appends to every outbound User-Agent.
pub fn user_agent_token() -> &'static str {
    concat!("dario/", env!("CARGO_PKG_VERSION"))
}
