//! Registration snippets for MCP clients (`dario mcp --print-config <client>`).
//!
//! Owns: the text that registers this binary's MCP server with Claude Desktop, Cursor and Claude
//! Code, and where that text goes. Must not: write any client's config file, or put a credential
//! in a snippet (`DARIO_API_KEY` is named, never copied).
//!
//! It lives in `doctor` next to `clients` (which finds the registrations) so that `doctor` does not
//! depend on `mcp`, whose tools run doctor's checks.

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

/// The program an MCP client should launch, and a note when that path is not a stable one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub exe: PathBuf,
    /// Set when `exe` lives in a build directory (`target/`): the path changes with every build
    /// and `cargo clean` removes it, so the note says how to install dario.
    pub note: Option<String>,
}

/// The installed dario: `dario` as found on `PATH` (what `cargo install` or a release archive
/// put there), else this very binary — with a note when it runs from a build directory.
pub fn installed_exe() -> Launch {
    installed_exe_from(
        std::env::var_os("PATH").as_deref(),
        std::env::current_exe().ok(),
    )
}

fn installed_exe_from(path: Option<&std::ffi::OsStr>, current: Option<PathBuf>) -> Launch {
    let name = if cfg!(windows) { "dario.exe" } else { "dario" };
    if let Some(path) = path {
        for dir in std::env::split_paths(path) {
            let candidate = dir.join(name);
            if dir.is_absolute() && is_executable(&candidate) {
                return Launch {
                    exe: candidate,
                    note: None,
                };
            }
        }
    }
    let exe = current
        .map(|p| p.canonicalize().unwrap_or(p))
        .unwrap_or_else(|| PathBuf::from(name));
    let in_build_dir = exe.components().any(|c| c.as_os_str() == "target");
    let note = in_build_dir.then(|| {
        format!(
            "note: `dario` is not on your PATH, so this names the binary you ran, {}, which lives \
             in a build directory (rebuilt or removed by cargo). Install dario first — \
             `cargo install --locked --path .` in the repository — and run this command again \
             to get a path that stays valid.",
            exe.display()
        )
    });
    Launch { exe, note }
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// The one Claude Code registration command (print-config, doctor and the sub-agent all use
/// it): `claude mcp add --scope user dario -e K=V -- /path/to/dario mcp`. The server name comes
/// before `-e`, whose values are variadic in Claude Code's CLI and would swallow it.
pub fn claude_code_command(exe: &Path, env: &[(String, String)]) -> String {
    let mut cmd = String::from("claude mcp add --scope user dario");
    for (k, v) in env {
        cmd.push_str(&format!(" -e {}", shell_quote(&format!("{k}={v}"))));
    }
    cmd.push_str(&format!(
        " -- {} mcp",
        shell_quote(&exe.display().to_string())
    ));
    cmd
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
            let cmd = claude_code_command(exe, env);
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

    #[test]
    fn claude_code_gets_the_server_name_before_its_env_options() {
        // Issue 17 #5: `-e` takes several values in Claude Code's CLI; a name after it is
        // swallowed as one more variable.
        let cmd = claude_code_command(
            Path::new("/usr/local/bin/dario"),
            &[
                ("DARIO_HOME".into(), "/h/.dario".into()),
                ("DARIO_PORT".into(), "4000".into()),
            ],
        );
        assert_eq!(
            cmd,
            "claude mcp add --scope user dario -e DARIO_HOME=/h/.dario -e DARIO_PORT=4000 -- /usr/local/bin/dario mcp"
        );
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let name = words.iter().position(|w| *w == "dario").unwrap();
        let first_e = words.iter().position(|w| *w == "-e").unwrap();
        assert!(name < first_e);
    }

    #[test]
    fn the_installed_binary_on_path_wins_over_a_build_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let built = tmp.path().join("repo/target/debug/dario");
        std::fs::create_dir_all(built.parent().unwrap()).unwrap();
        std::fs::write(&built, "").unwrap();
        // Not on PATH: the build is named, with how to install.
        let l = installed_exe_from(Some(bin.as_os_str()), Some(built.clone()));
        assert!(l.exe.ends_with("target/debug/dario"), "{:?}", l.exe);
        assert!(
            l.note
                .as_deref()
                .unwrap()
                .contains("cargo install --locked --path ."),
            "{:?}",
            l.note
        );
        // On PATH (executable): that path, no note.
        let installed = bin.join("dario");
        std::fs::write(&installed, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&installed, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let l = installed_exe_from(Some(bin.as_os_str()), Some(built));
        assert_eq!(l.exe, installed);
        assert_eq!(l.note, None);
    }
}
