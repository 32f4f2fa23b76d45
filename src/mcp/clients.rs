//! Registration snippets for MCP clients (`dario mcp --print-config <client>`).
//!
//! Owns: the text that registers this binary's MCP server with Claude Desktop, Cursor and Claude
//! Code, and where that text goes. Must not: write any client's config file, or put a credential
//! in a snippet (`DARIO_API_KEY` is named, never copied).

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

/// An MCP client dario can print a registration for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    ClaudeDesktop,
    Cursor,
    ClaudeCode,
}

/// What `--print-config` prints: the snippet (stdout) and where it goes (stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// JSON for Claude Desktop and Cursor; a `claude mcp add …` command for Claude Code.
    pub text: String,
    /// Where the snippet goes and what to do with it.
    pub instructions: String,
}

/// Environment variables worth carrying into the client's launch of `dario mcp`: the ones that
/// tell it where the proxy and the config are. Never `DARIO_API_KEY` (a secret).
pub const CARRIED_ENV: &[&str] = &["DARIO_HOME", "DARIO_HOST", "DARIO_PORT"];

/// The carried variables that are set in this process's environment.
pub fn carried_env() -> Vec<(String, String)> {
    CARRIED_ENV
        .iter()
        .filter_map(|k| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| (k.to_string(), v))
        })
        .collect()
}

fn server_entry(exe: &Path, env: &[(String, String)], with_type: bool) -> Value {
    let mut entry = Map::new();
    if with_type {
        entry.insert("type".into(), json!("stdio"));
    }
    entry.insert("command".into(), json!(exe.display().to_string()));
    entry.insert("args".into(), json!(["mcp"]));
    if !env.is_empty() {
        let env: Map<String, Value> = env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        entry.insert("env".into(), Value::Object(env));
    }
    Value::Object(entry)
}

/// `'/path with spaces/dario'` for a POSIX shell; plain when nothing needs quoting.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:=@%,".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Claude Desktop's config file on this platform.
pub fn claude_desktop_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("Claude").join("claude_desktop_config.json"))
}

const API_KEY_NOTE: &str = "If your proxy runs with DARIO_API_KEY, add it to this server's environment in the client (the value is never printed here).";

/// The registration snippet for `client`, running `exe` with `env`.
pub fn snippet(client: ClientKind, exe: &Path, env: &[(String, String)]) -> Snippet {
    match client {
        ClientKind::ClaudeDesktop => {
            let text = serde_json::to_string_pretty(&json!({
                "mcpServers": { "dario": server_entry(exe, env, false) }
            }))
            .unwrap_or_default();
            let path = claude_desktop_config_path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "claude_desktop_config.json in Claude's config folder".into());
            Snippet {
                text,
                instructions: format!(
                    "Merge this into the \"mcpServers\" object of {path} (Claude Desktop → Settings → Developer → Edit Config), then restart Claude Desktop.\n{API_KEY_NOTE}"
                ),
            }
        }
        ClientKind::Cursor => {
            let text = serde_json::to_string_pretty(&json!({
                "mcpServers": { "dario": server_entry(exe, env, false) }
            }))
            .unwrap_or_default();
            let global = dirs::home_dir()
                .map(|h| h.join(".cursor").join("mcp.json").display().to_string())
                .unwrap_or_else(|| "~/.cursor/mcp.json".into());
            Snippet {
                text,
                instructions: format!(
                    "Merge this into the \"mcpServers\" object of {global} (all projects) or .cursor/mcp.json in a project, then enable \"dario\" under Cursor Settings → MCP.\n{API_KEY_NOTE}"
                ),
            }
        }
        ClientKind::ClaudeCode => {
            let mut cmd = String::from("claude mcp add --scope user");
            for (k, v) in env {
                cmd.push_str(&format!(" -e {}", shell_quote(&format!("{k}={v}"))));
            }
            cmd.push_str(&format!(
                " dario -- {} mcp",
                shell_quote(&exe.display().to_string())
            ));
            let project = serde_json::to_string_pretty(&json!({
                "mcpServers": { "dario": server_entry(exe, env, true) }
            }))
            .unwrap_or_default();
            Snippet {
                text: cmd,
                instructions: format!(
                    "Run this command in a shell (it registers dario for all your projects; `claude mcp list` shows it).\nFor one project only, put this in .mcp.json at the project root instead:\n{project}\n{API_KEY_NOTE}"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_snippets_point_at_the_binary() {
        let exe = Path::new("/opt/dario bin/dario");
        for client in [ClientKind::ClaudeDesktop, ClientKind::Cursor] {
            let s = snippet(client, exe, &[("DARIO_PORT".into(), "4000".into())]);
            let v: Value = serde_json::from_str(&s.text).unwrap();
            let entry = &v["mcpServers"]["dario"];
            assert_eq!(entry["command"], "/opt/dario bin/dario");
            assert_eq!(entry["args"], json!(["mcp"]));
            assert_eq!(entry["env"]["DARIO_PORT"], "4000");
            assert!(s.instructions.contains("mcp"), "{}", s.instructions);
        }
    }

    #[test]
    fn claude_code_command_is_quoted() {
        let s = snippet(
            ClientKind::ClaudeCode,
            Path::new("/opt/dario bin/dario"),
            &[],
        );
        assert_eq!(
            s.text,
            "claude mcp add --scope user dario -- '/opt/dario bin/dario' mcp"
        );
        assert!(s.instructions.contains(".mcp.json"));
    }
}
