//! Where MCP clients (Claude Code, Claude Desktop, Cursor) keep their server lists, and whether
//! dario's MCP server is registered in them.
//!
//! Owns: locating and reading those JSON files. Must not: write them, or return anything from them
//! but the server name, the command and the file (their `env` and `args` may hold credentials,
//! and `~/.claude.json` holds account data).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

/// An MCP client dario knows how to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum McpClient {
    ClaudeCode,
    ClaudeDesktop,
    Cursor,
}

impl McpClient {
    pub const ALL: [McpClient; 3] = [
        McpClient::ClaudeCode,
        McpClient::ClaudeDesktop,
        McpClient::Cursor,
    ];

    pub fn display_name(self) -> &'static str {
        match self {
            McpClient::ClaudeCode => "Claude Code",
            McpClient::ClaudeDesktop => "Claude Desktop",
            McpClient::Cursor => "Cursor",
        }
    }

    /// The `dario mcp --print-config` value for this client.
    pub fn print_config_name(self) -> &'static str {
        match self {
            McpClient::ClaudeCode => "claude-code",
            McpClient::ClaudeDesktop => "claude-desktop",
            McpClient::Cursor => "cursor",
        }
    }

    /// The config files this client reads MCP servers from, most general first, with a scope name.
    pub fn config_files(self) -> Vec<(PathBuf, &'static str)> {
        let home = dirs::home_dir();
        let cwd = std::env::current_dir().ok();
        let mut files = Vec::new();
        match self {
            McpClient::ClaudeCode => {
                if let Some(dir) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
                    files.push((PathBuf::from(dir).join(".claude.json"), "user"));
                }
                if let Some(home) = &home {
                    files.push((home.join(".claude.json"), "user"));
                }
                if let Some(cwd) = &cwd {
                    files.push((cwd.join(".mcp.json"), "project"));
                }
            }
            McpClient::ClaudeDesktop => {
                if let Some(dir) = dirs::config_dir() {
                    files.push((
                        dir.join("Claude").join("claude_desktop_config.json"),
                        "user",
                    ));
                }
            }
            McpClient::Cursor => {
                if let Some(home) = &home {
                    files.push((home.join(".cursor").join("mcp.json"), "user"));
                }
                if let Some(cwd) = &cwd {
                    files.push((cwd.join(".cursor").join("mcp.json"), "project"));
                }
            }
        }
        files.dedup_by(|a, b| a.0 == b.0);
        files
    }
}

/// One dario entry found in a client's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    pub client: McpClient,
    pub file: PathBuf,
    /// `user`, `project`, or `local (<project path>)` for Claude Code's per-project entries.
    pub scope: String,
    /// The server's name in that file.
    pub name: String,
    /// The command it runs (stdio servers), if any. Never its args or env.
    pub command: Option<String>,
}

/// What looking for dario in one client found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientScan {
    pub client: McpClient,
    pub registrations: Vec<Registration>,
    /// Config files that exist.
    pub files_found: Vec<PathBuf>,
    /// Files that exist but could not be read or parsed: `(file, problem)`.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Look for dario in every config file of `client`.
pub fn scan(client: McpClient) -> ClientScan {
    let mut out = ClientScan {
        client,
        registrations: Vec::new(),
        files_found: Vec::new(),
        unreadable: Vec::new(),
    };
    for (file, scope) in client.config_files() {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                out.unreadable.push((file, err.to_string()));
                continue;
            }
        };
        out.files_found.push(file.clone());
        let json: Value = match serde_json::from_str(&text) {
            Ok(json) => json,
            Err(err) => {
                // serde_json's message names line and column, never the content.
                out.unreadable.push((file, err.to_string()));
                continue;
            }
        };
        collect(
            client,
            &file,
            scope,
            json.get("mcpServers"),
            &mut out.registrations,
        );
        if client == McpClient::ClaudeCode {
            if let Some(projects) = json.get("projects").and_then(Value::as_object) {
                for (project, entry) in projects {
                    collect(
                        client,
                        &file,
                        &format!("local ({project})"),
                        entry.get("mcpServers"),
                        &mut out.registrations,
                    );
                }
            }
        }
    }
    out
}

fn collect(
    client: McpClient,
    file: &Path,
    scope: &str,
    servers: Option<&Value>,
    out: &mut Vec<Registration>,
) {
    let Some(servers) = servers.and_then(Value::as_object) else {
        return;
    };
    for (name, server) in servers {
        let command = server.get("command").and_then(Value::as_str);
        if is_dario(name, server) {
            out.push(Registration {
                client,
                file: file.to_path_buf(),
                scope: scope.to_string(),
                name: name.clone(),
                command: command.map(str::to_string),
            });
        }
    }
}

/// An entry named `dario`, or one whose command is a `dario` binary run with `mcp`.
fn is_dario(name: &str, server: &Value) -> bool {
    if name.eq_ignore_ascii_case("dario") {
        return true;
    }
    let Some(command) = server.get("command").and_then(Value::as_str) else {
        return false;
    };
    // Split on both separators: a Windows path in a config read on any platform.
    let file = command.rsplit(['/', '\\']).next().unwrap_or(command);
    let stem = file
        .strip_suffix(".exe")
        .or_else(|| file.strip_suffix(".EXE"))
        .unwrap_or(file);
    let runs_mcp = server
        .get("args")
        .and_then(Value::as_array)
        .is_some_and(|args| args.iter().any(|a| a.as_str() == Some("mcp")));
    stem.eq_ignore_ascii_case("dario") && runs_mcp
}

/// The command that registers dario with `client`, using the installed binary's path (the one
/// builder `dario mcp --print-config` uses too).
pub fn register_command(client: McpClient) -> String {
    let launch = super::snippets::installed_exe();
    match client {
        McpClient::ClaudeCode => {
            super::snippets::claude_code_command(&launch.exe, &super::snippets::carried_env())
        }
        other => format!(
            "dario mcp --print-config {}   (add the printed entry to {})",
            other.print_config_name(),
            other
                .config_files()
                .first()
                .map(|(p, _)| p.display().to_string())
                .unwrap_or_else(|| "the client's MCP config".to_string())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognises_dario_entries() {
        assert!(is_dario("dario", &json!({"command": "x"})));
        assert!(is_dario("Dario", &json!({"url": "http://127.0.0.1"})));
        assert!(is_dario(
            "router",
            &json!({"command": "/usr/local/bin/dario", "args": ["mcp"]})
        ));
        assert!(is_dario(
            "router",
            &json!({"command": "C:\\bin\\dario.exe", "args": ["mcp"]})
        ));
        assert!(!is_dario(
            "router",
            &json!({"command": "/usr/local/bin/dario", "args": ["proxy"]})
        ));
        assert!(!is_dario(
            "other",
            &json!({"command": "npx", "args": ["mcp"]})
        ));
    }
}
