//! `dario mcp --print-config <client>`: the snippet for Claude Desktop, Cursor and Claude Code
//! names this build (or the installed `dario` on PATH) and carries DARIO_PORT.

use super::*;

#[test]
fn print_config_snippets() {
    let home = TestHome::new();
    // A PATH without dario: the snippet names this build, and says how to install.
    let empty_path = home.home().join("empty-path");
    std::fs::create_dir_all(&empty_path).unwrap();
    for client in ["claude-desktop", "cursor", "claude-code"] {
        let mut cmd = home.dario(&["mcp", "--print-config", client], 4567);
        cmd.env("PATH", &empty_path);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{client}: {out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        let exe = std::fs::canonicalize(BIN).unwrap().display().to_string();
        assert!(stdout.contains(&exe), "{client}: {stdout}");
        assert!(
            stdout.contains("4567"),
            "{client}: DARIO_PORT not carried: {stdout}"
        );
        match client {
            "claude-code" => {
                // The server name comes before `-e` (Claude Code's `-e` takes several values).
                assert!(
                    stdout.starts_with("claude mcp add --scope user dario -e "),
                    "{stdout}"
                );
                assert!(
                    stdout.trim_end().ends_with(&format!(" -- {exe} mcp")),
                    "{stdout}"
                );
            }
            _ => {
                let v: Value = serde_json::from_str(&stdout).unwrap();
                assert_eq!(v["mcpServers"]["dario"]["command"], exe);
                assert_eq!(v["mcpServers"]["dario"]["args"], json!(["mcp"]));
            }
        }
        assert!(stderr.contains("DARIO_API_KEY"), "{stderr}");
        assert!(
            stderr.contains("cargo install --locked --path ."),
            "{client}: a path into target/ needs the install hint: {stderr}"
        );
        let place = match client {
            "claude-desktop" => "claude_desktop_config.json",
            "cursor" => "mcp.json",
            _ => ".mcp.json",
        };
        assert!(stderr.contains(place), "{client}: {stderr}");
    }

    // `dario` on PATH (as `cargo install` leaves it): that path, no install hint.
    let bin_dir = home.home().join("cargo-bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let installed = bin_dir.join("dario");
    std::fs::copy(BIN, &installed).unwrap();
    let mut cmd = home.dario(&["mcp", "--print-config", "claude-code"], 4567);
    cmd.env("PATH", &bin_dir);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stdout
            .trim_end()
            .ends_with(&format!(" -- {} mcp", installed.display())),
        "{stdout}"
    );
    assert!(!stderr.contains("cargo install"), "{stderr}");
}
