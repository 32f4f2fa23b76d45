//! What each MCP tool answers, one file per tool (like mini-redis' `cmd/`): argument types,
//! output types (with JSON schemas) and the pure functions that build an output from the
//! configuration and the proxy's live data; here the pieces they share.
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
use crate::proxy::header_policy as headers;
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

mod analytics_summary;
mod auth_status;
mod backends_list;
mod doctor;
mod fingerprint_info;
mod pool_status;
mod route_explain;
mod subagent_status;
mod template_info;
#[cfg(test)]
mod tests;

pub use analytics_summary::*;
pub use auth_status::*;
pub use backends_list::*;
pub use doctor::*;
pub use fingerprint_info::*;
pub use pool_status::*;
pub use route_explain::*;
pub use subagent_status::*;
pub use template_info::*;

// Shared pieces.

/// A tool's output: structured content (its JSON schema is the tool's output schema) that also
/// reads as text.
pub trait Rendered: Serialize {
    /// The text content: what a person reads in the client.
    fn render(&self) -> String;
}

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

/// The running proxy's backends, from its `/status` body: typed ([`crate::admin_api::Status`])
/// when the body decodes; else the body's `backends` as it is (an older or newer dario), so an
/// entry is still shown as sent rather than lost.
enum LiveBackends<'a> {
    Typed(Vec<crate::admin_api::StatusBackend>),
    Raw(Option<&'a Value>),
}

impl<'a> LiveBackends<'a> {
    fn of(status: Option<&'a Value>) -> Self {
        match status.map(crate::admin_api::Status::deserialize) {
            Some(Ok(s)) => LiveBackends::Typed(s.backends),
            Some(Err(_)) => LiveBackends::Raw(status.and_then(|s| s.get("backends"))),
            None => LiveBackends::Raw(None),
        }
    }

    /// What the proxy reports for backend `name`.
    fn get(&self, name: &str) -> Option<Value> {
        match self {
            LiveBackends::Typed(list) => list
                .iter()
                .find(|b| b.name == name)
                .and_then(|b| serde_json::to_value(b).ok()),
            LiveBackends::Raw(collection) => live_entry(*collection, name).cloned(),
        }
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
