//! `dario doctor`, driven through the real binary with a temporary HOME / DARIO_HOME /
//! CLAUDE_CONFIG_DIR and stand-in servers on 127.0.0.1.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Output;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::support::home::{chmod, dario_command, free_port};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const CANARY: &str = "sk-canary-7f3e9a1c5b2d4e6f8a0b1c2d3e4f5a6b";

struct Sandbox {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    dario_home: PathBuf,
    work: PathBuf,
    port: u16,
    env: Vec<(String, String)>,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let work = tmp.path().join("work");
        fs::create_dir_all(&home).unwrap();
        fs::create_dir_all(&work).unwrap();
        Sandbox {
            dario_home: home.join(".dario"),
            home,
            work,
            port: free_port(),
            env: Vec::new(),
            _tmp: tmp,
        }
    }

    /// Create dario's home with safe modes.
    fn make_home(&self) {
        fs::create_dir_all(self.dario_home.join("backends")).unwrap();
        chmod(&self.dario_home, 0o700);
        chmod(&self.dario_home.join("backends"), 0o700);
    }

    fn write_backend(&self, name: &str, json: &str) -> PathBuf {
        self.make_home();
        let path = self
            .dario_home
            .join("backends")
            .join(format!("{name}.json"));
        fs::write(&path, json).unwrap();
        chmod(&path, 0o600);
        path
    }

    fn write_config_toml(&self, text: &str) -> PathBuf {
        self.make_home();
        let path = self.dario_home.join("config.toml");
        fs::write(&path, text).unwrap();
        chmod(&path, 0o600);
        path
    }

    fn set(&mut self, k: &str, v: &str) {
        self.env.push((k.to_string(), v.to_string()));
    }

    /// `dario <args>` in `work`, with nothing from the test machine's environment but PATH
    /// (no keys, no proxy settings, no CLAUDE_CONFIG_DIR) and the variables set with `set`.
    fn dario(&self, args: &[&str]) -> Output {
        let mut cmd = dario_command(&self.home, &self.dario_home, args);
        cmd.current_dir(&self.work)
            .env("DARIO_HOST", "127.0.0.1")
            .env("DARIO_PORT", self.port.to_string());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// `doctor --json` (plus `extra`), parsed; also returns the exit code.
    fn json(&self, extra: &[&str]) -> (Value, i32) {
        let mut args = vec!["doctor", "--json"];
        args.extend_from_slice(extra);
        let out = self.dario(&args);
        let text = String::from_utf8(out.stdout).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (v, out.status.code().unwrap())
    }
}

/// Rows whose label equals `label` (or starts with it when it ends with `*`).
fn rows<'a>(report: &'a Value, label: &str) -> Vec<&'a Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            let l = c["label"].as_str().unwrap();
            match label.strip_suffix('*') {
                Some(prefix) => l.starts_with(prefix),
                None => l == label,
            }
        })
        .collect()
}

fn row<'a>(report: &'a Value, label: &str) -> &'a Value {
    let found = rows(report, label);
    assert_eq!(found.len(), 1, "expected one `{label}` row in {report:#}");
    found[0]
}

/// One request as the stand-in server saw it.
#[derive(Debug, Clone)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body_len: usize,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1: answers every request with `status` and `body`
/// (`Connection: close`) and records what it received. Lives until the test process ends.
fn stand_in(status: u16, body: &str) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    stand_in_on(TcpListener::bind("127.0.0.1:0").unwrap(), status, body)
}

fn stand_in_on(listener: TcpListener, status: u16, body: &str) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let body = body.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = serve_one(stream, status, &body, &seen2);
        }
    });
    (port, seen)
}

fn serve_one(
    stream: TcpStream,
    status: u16,
    body: &str,
    seen: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut buf = vec![0; len];
    reader.read_exact(&mut buf)?;
    seen.lock().unwrap().push(Seen {
        request_line: request_line.trim_end().to_string(),
        headers,
        body_len: len,
    });
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn a_fresh_machine_has_no_failures_and_exits_0() {
    let sb = Sandbox::new();
    let out = sb.dario(&["doctor"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("[ OK ] version"), "{text}");
    assert!(text.contains("[INFO] platform"), "{text}");
    assert!(text.contains("does not exist yet"), "{text}");
    assert!(text.contains("0 failures"), "{text}");
    // Rows are aligned: every detail starts in the same column.
    let detail_cols: Vec<usize> = text
        .lines()
        .filter(|l| l.starts_with('['))
        .map(|l| {
            let after_tag = &l[7..];
            let label_end = after_tag.find("  ").unwrap();
            7 + label_end + after_tag[label_end..].find(|c: char| c != ' ').unwrap()
        })
        .collect();
    assert!(detail_cols.len() >= 8);
    assert!(detail_cols.windows(2).all(|w| w[0] == w[1]), "{text}");
}

#[test]
fn json_output_matches_the_report_schema_and_the_human_rows() {
    let sb = Sandbox::new();
    sb.make_home();
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 0);
    let schema = serde_json::to_value(schemars::schema_for!(dario::doctor::Report)).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report["version"], VERSION);
    for c in report["checks"].as_array().unwrap() {
        let status = c["status"].as_str().unwrap();
        assert!(["ok", "warn", "fail", "info"].contains(&status));
        assert!(!c["label"].as_str().unwrap().is_empty());
    }
    let s = &report["summary"];
    let total = ["ok", "warn", "fail", "info"]
        .iter()
        .map(|k| s[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(total as usize, report["checks"].as_array().unwrap().len());
    assert_eq!(report["ok"], true);

    // The human output has the same rows in the same order.
    let human = String::from_utf8(sb.dario(&["doctor"]).stdout).unwrap();
    let human_rows: Vec<&str> = human.lines().filter(|l| l.starts_with('[')).collect();
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(human_rows.len(), checks.len());
    for (line, c) in human_rows.iter().zip(checks) {
        let tag = match c["status"].as_str().unwrap() {
            "ok" => "[ OK ]",
            "warn" => "[WARN]",
            "fail" => "[FAIL]",
            _ => "[INFO]",
        };
        assert!(line.starts_with(tag), "{line}");
        assert!(line.contains(c["label"].as_str().unwrap()), "{line}");
        assert!(line.ends_with(c["detail"].as_str().unwrap()), "{line}");
    }
}

#[test]
fn loose_permissions_fail_with_the_chmod_command() {
    let sb = Sandbox::new();
    let file = sb.write_backend(
        "groq",
        r#"{"protocol":"openai","base_url":"https://api.groq.com/openai/v1","key_env":"GROQ_API_KEY"}"#,
    );
    chmod(&sb.dario_home, 0o755);
    chmod(&file, 0o644);
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 1);
    assert_eq!(report["ok"], false);
    let perms = rows(&report, "permissions");
    let fixes: Vec<&str> = perms
        .iter()
        .filter(|r| r["status"] == "fail")
        .map(|r| r["fix"].as_str().unwrap())
        .collect();
    assert!(
        fixes.contains(&format!("chmod 700 {}", sb.dario_home.display()).as_str()),
        "{fixes:?}"
    );
    assert!(
        fixes.contains(&format!("chmod 600 {}", file.display()).as_str()),
        "{fixes:?}"
    );

    chmod(&sb.dario_home, 0o700);
    chmod(&file, 0o600);
    let (report, _) = sb.json(&[]);
    let perms = rows(&report, "permissions");
    assert_eq!(perms.len(), 1);
    assert_eq!(perms[0]["status"], "ok");
    assert!(perms[0]["detail"]
        .as_str()
        .unwrap()
        .contains("1 private file 0600"));
}

#[test]
fn proxy_not_running_is_info_and_the_port_is_free() {
    let sb = Sandbox::new();
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 0);
    assert_eq!(row(&report, "port")["status"], "ok");
    assert!(row(&report, "port")["detail"]
        .as_str()
        .unwrap()
        .contains("free"));
    assert_eq!(row(&report, "proxy")["status"], "info");
    assert_eq!(
        row(&report, "proxy")["fix"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>(),
        ["dario", "proxy"]
    );
}

#[test]
fn a_running_dario_of_the_same_version_is_ok() {
    let mut sb = Sandbox::new();
    let (port, seen) = stand_in(
        200,
        &format!(r#"{{"status":"ok","service":"dario","version":"{VERSION}","uptime_secs":303}}"#),
    );
    sb.port = port;
    sb.set("DARIO_API_KEY", CANARY);
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 0);
    assert_eq!(row(&report, "proxy")["status"], "ok");
    assert!(row(&report, "proxy")["detail"]
        .as_str()
        .unwrap()
        .contains("same version as this binary, up 5m 3s"));
    assert!(row(&report, "port")["detail"]
        .as_str()
        .unwrap()
        .contains("held by dario"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one request: {seen:?}");
    assert_eq!(seen[0].request_line, "GET /health HTTP/1.1");
    assert_eq!(
        seen[0].header("user-agent"),
        Some(format!("dario/{VERSION}").as_str())
    );
    assert_eq!(seen[0].body_len, 0);
    // /health needs no auth: the API key is not sent anywhere.
    assert!(seen[0].headers.iter().all(|(_, v)| !v.contains(CANARY)));
}

#[test]
fn a_running_dario_of_another_version_is_a_warning() {
    let mut sb = Sandbox::new();
    let (port, _) = stand_in(
        200,
        r#"{"status":"ok","service":"dario","version":"0.0.1"}"#,
    );
    sb.port = port;
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 0);
    let proxy = row(&report, "proxy");
    assert_eq!(proxy["status"], "warn");
    assert!(proxy["detail"].as_str().unwrap().contains("0.0.1"));
    assert!(proxy["fix"].as_str().unwrap().contains("dario proxy"));
}

#[test]
fn another_program_on_the_port_fails() {
    let mut sb = Sandbox::new();
    let (port, _) = stand_in(404, r#"{"error":"nope"}"#);
    sb.port = port;
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 1);
    let port_row = row(&report, "port");
    assert_eq!(port_row["status"], "fail");
    assert!(port_row["detail"]
        .as_str()
        .unwrap()
        .contains("another program"));
    assert!(port_row["fix"].as_str().unwrap().contains("DARIO_PORT="));

    // A listener that speaks no HTTP at all.
    let mut sb = Sandbox::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    sb.port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            drop(s);
        }
    });
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 1);
    assert_eq!(row(&report, "port")["status"], "fail");
}

#[test]
fn an_invalid_dario_port_fails() {
    let mut sb = Sandbox::new();
    sb.set("DARIO_PORT", "seventy");
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 1);
    assert!(row(&report, "proxy")["detail"]
        .as_str()
        .unwrap()
        .contains("DARIO_PORT"));
}

#[test]
fn sub_agent_state_is_reported() {
    let sb = Sandbox::new();
    let (report, _) = sb.json(&[]);
    let r = row(&report, "sub-agent");
    assert_eq!(r["status"], "info");
    assert!(r["fix"]
        .as_str()
        .unwrap()
        .starts_with("dario subagent install"));

    assert!(sb.dario(&["subagent", "install"]).status.success());
    let (report, _) = sb.json(&[]);
    assert_eq!(row(&report, "sub-agent")["status"], "ok");

    // Stale: written by an older dario.
    let agent = sb.home.join(".claude/agents/dario.md");
    let older = include_str!("../../agents/dario.md").replace("{{version}}", "0.0.1");
    fs::write(&agent, older).unwrap();
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 0, "a stale sub-agent is a warning, not a failure");
    let r = row(&report, "sub-agent");
    assert_eq!(r["status"], "warn");
    assert!(r["detail"].as_str().unwrap().contains("stale"));
    assert_eq!(r["fix"], "dario subagent install");

    // Locally modified.
    fs::write(&agent, "edited\n<!-- dario-sub-agent-version: 0.0.1 -->\n").unwrap();
    let (report, _) = sb.json(&[]);
    let r = row(&report, "sub-agent");
    assert_eq!(r["status"], "warn");
    assert!(r["fix"].as_str().unwrap().contains("--force"));
}

#[test]
fn mcp_registrations_are_found_in_each_client() {
    let sb = Sandbox::new();
    let (report, _) = sb.json(&[]);
    for label in ["mcp: Claude Code", "mcp: Claude Desktop", "mcp: Cursor"] {
        let r = row(&report, label);
        assert_eq!(r["status"], "info", "{label}");
        assert!(r["detail"].as_str().unwrap().contains("not registered"));
    }
    let fix = row(&report, "mcp: Claude Code")["fix"].as_str().unwrap();
    assert!(
        fix.starts_with("claude mcp add --scope user dario -e DARIO_HOME=")
            && fix.contains(" -- /")
            && fix.ends_with(" mcp"),
        "{fix}"
    );
    // One registration command (issue 17 #5): doctor's fix is what print-config prints.
    let printed = sb.dario(&["mcp", "--print-config", "claude-code"]);
    assert_eq!(String::from_utf8_lossy(&printed.stdout).trim(), fix);
    assert!(row(&report, "mcp: Cursor")["fix"]
        .as_str()
        .unwrap()
        .contains("dario mcp --print-config cursor"));

    let exe = env!("CARGO_BIN_EXE_dario");
    // Claude Code: per-project entry (the file also holds account data that must never show).
    fs::write(
        sb.home.join(".claude.json"),
        serde_json::json!({
            "oauthAccount": {"emailAddress": "someone@example.com"},
            "primaryApiKey": CANARY,
            "projects": {"/some/project": {"mcpServers": {"router": {"command": exe, "args": ["mcp"], "env": {"K": CANARY}}}}}
        })
        .to_string(),
    )
    .unwrap();
    // Claude Desktop at the Linux path ($XDG_CONFIG_HOME/Claude).
    fs::create_dir_all(sb.home.join(".config/Claude")).unwrap();
    fs::write(
        sb.home.join(".config/Claude/claude_desktop_config.json"),
        serde_json::json!({"mcpServers": {"dario": {"command": "/nonexistent/bin/dario", "args": ["mcp"]}}}).to_string(),
    )
    .unwrap();
    // Cursor: malformed file.
    fs::create_dir_all(sb.home.join(".cursor")).unwrap();
    fs::write(sb.home.join(".cursor/mcp.json"), "{ \"mcpServers\": ").unwrap();

    let out = sb.dario(&["doctor", "--json"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains(CANARY) && !text.contains("someone@example.com"),
        "{text}"
    );
    let report: Value = serde_json::from_str(&text).unwrap();
    let cc = row(&report, "mcp: Claude Code");
    assert_eq!(cc["status"], "ok");
    assert!(cc["detail"]
        .as_str()
        .unwrap()
        .contains("local (/some/project)"));
    let desktop = row(&report, "mcp: Claude Desktop");
    assert_eq!(desktop["status"], "warn");
    assert!(desktop["detail"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/bin/dario does not exist"));
    let cursor = row(&report, "mcp: Cursor");
    assert_eq!(cursor["status"], "warn");
    assert!(cursor["detail"].as_str().unwrap().contains("line"));

    // Project `.mcp.json` in the current directory.
    fs::write(
        sb.work.join(".mcp.json"),
        r#"{"mcpServers": {"dario": {"command": "dario", "args": ["mcp"]}}}"#,
    )
    .unwrap();
    fs::remove_file(sb.home.join(".claude.json")).unwrap();
    let (report, _) = sb.json(&[]);
    let cc = row(&report, "mcp: Claude Code");
    assert_eq!(cc["status"], "ok");
    assert!(cc["detail"]
        .as_str()
        .unwrap()
        .contains(".mcp.json (project)"));
}

// ---- configuration, backends, routing -------------------------------------------------------

#[test]
fn a_malformed_config_file_fails_naming_file_and_line() {
    let sb = Sandbox::new();
    sb.write_backend(
        "good",
        r#"{"protocol":"openai","base_url":"http://127.0.0.1:9/v1"}"#,
    );
    sb.write_backend(
        "broken",
        "{\n  \"protocol\": \"openai\",\n  \"base_url\": 12\n}\n",
    );
    sb.write_config_toml("default_backend = \"good\"\n[[routes]]\nmodel = \"x-*\"\nbackend = \n");
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 1);
    let fails: Vec<String> = rows(&report, "config")
        .iter()
        .filter(|r| r["status"] == "fail")
        .map(|r| r["detail"].as_str().unwrap().to_string())
        .collect();
    assert!(
        fails.iter().any(|d| d.contains("backends/broken.json:3:")),
        "{fails:?}"
    );
    // Backend rows are skipped, and say why, when the config does not load.
    assert_eq!(row(&report, "backends")["status"], "info");

    // With the JSON fixed, the TOML error (line 4) is the one reported.
    sb.write_backend(
        "broken",
        r#"{"protocol":"openai","base_url":"http://127.0.0.1:9/v1"}"#,
    );
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 1);
    let config = row(&report, "config");
    assert_eq!(config["status"], "fail");
    let detail = config["detail"].as_str().unwrap();
    assert!(detail.contains("config.toml:4:"), "{detail}");
    assert!(config["fix"].as_str().unwrap().contains("line 4"));

    sb.write_config_toml("default_backend = \"good\"\n");
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 0, "{report:#}");
    let config = row(&report, "config");
    assert_eq!(config["status"], "ok");
    assert!(config["detail"].as_str().unwrap().contains("3 files parse"));
}

#[test]
fn a_missing_key_fails_with_the_variable_to_set() {
    let mut sb = Sandbox::new();
    sb.write_backend(
        "groq",
        r#"{"protocol":"openai","base_url":"https://api.groq.com/openai/v1","key_env":"DOCTOR_TEST_GROQ_KEY"}"#,
    );
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 1);
    let groq = row(&report, "backend groq");
    assert_eq!(groq["status"], "fail");
    assert!(groq["detail"]
        .as_str()
        .unwrap()
        .contains("DOCTOR_TEST_GROQ_KEY is not set"));
    assert!(groq["fix"]
        .as_str()
        .unwrap()
        .starts_with("export DOCTOR_TEST_GROQ_KEY="));
    // Built-ins without their variables are passthrough, which is fine.
    assert_eq!(row(&report, "backend anthropic")["status"], "ok");
    assert!(row(&report, "backend anthropic")["detail"]
        .as_str()
        .unwrap()
        .contains("passthrough"));

    sb.set("DOCTOR_TEST_GROQ_KEY", CANARY);
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 0);
    let groq = row(&report, "backend groq");
    assert_eq!(groq["status"], "ok");
    assert!(groq["detail"]
        .as_str()
        .unwrap()
        .contains("env DOCTOR_TEST_GROQ_KEY (set)"));
}

#[test]
fn a_pool_deployment_without_its_key_fails_naming_the_deployment() {
    let sb = Sandbox::new();
    sb.write_backend(
        "pool",
        r#"{"protocol":"openai","base_url":"http://127.0.0.1:9/v1","deployments":[
            {"alias":"east","key":"sk-east-0123456789abcdef"},
            {"alias":"west","key_env":"DOCTOR_TEST_WEST_KEY"}]}"#,
    );
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 1);
    let pool = row(&report, "backend pool");
    assert_eq!(pool["status"], "fail");
    let detail = pool["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("deployment west: environment variable DOCTOR_TEST_WEST_KEY is not set"),
        "{detail}"
    );
    assert!(detail.contains("pool of 2 deployments"));
    assert!(pool["fix"].as_str().unwrap().contains("--deployment west"));
    assert!(!serde_json::to_string(&report).unwrap().contains("sk-east"));
}

#[test]
fn routing_reports_default_shadowed_rules_and_dangling_backends() {
    let sb = Sandbox::new();
    sb.write_backend(
        "local",
        r#"{"protocol":"openai","base_url":"http://127.0.0.1:9/v1"}"#,
    );
    let (report, _) = sb.json(&[]);
    let routing = row(&report, "routing");
    assert_eq!(routing["status"], "ok");
    assert!(routing["detail"]
        .as_str()
        .unwrap()
        .contains("default backend `local`"));

    sb.write_config_toml(
        "default_backend = \"local\"\n\
         [[routes]]\nmodel = \"claude-*\"\nbackend = \"anthropic\"\n\
         [[routes]]\nmodel = \"claude-3*\"\nbackend = \"local\"\n",
    );
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 0, "shadowed rules warn, they do not fail");
    let warns: Vec<&str> = rows(&report, "routing")
        .iter()
        .filter(|r| r["status"] == "warn")
        .map(|r| r["detail"].as_str().unwrap())
        .collect();
    assert_eq!(warns.len(), 1, "{warns:?}");
    assert!(
        warns[0].contains("#2 `claude-3*`") && warns[0].contains("#1 `claude-*`"),
        "{warns:?}"
    );

    sb.write_config_toml("[[routes]]\nmodel = \"mistral-*\"\nbackend = \"nowhere\"\n");
    let (report, code) = sb.json(&[]);
    if code == 1 {
        let fails: Vec<String> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "fail")
            .map(|r| r["detail"].as_str().unwrap().to_string())
            .collect();
        assert!(fails.iter().any(|d| d.contains("nowhere")), "{fails:?}");
        // Where: config.toml and the line of `backend = "nowhere"`.
        assert!(
            fails.iter().any(|d| d.contains("config.toml:3:")),
            "{fails:?}"
        );
    } else {
        panic!("a route to a missing backend must fail: {report:#}");
    }
}

#[test]
fn online_probes_each_backend_once_with_its_key_and_reports_the_result() {
    let mut sb = Sandbox::new();
    let (ok_port, ok_seen) = stand_in(200, r#"{"object":"list","data":[{"id":"m1"},{"id":"m2"}]}"#);
    let (anth_port, anth_seen) = stand_in(200, r#"{"data":[{"id":"claude-x"}],"has_more":false}"#);
    let (deny_port, deny_seen) = stand_in(
        401,
        &format!(r#"{{"error":{{"message":"bad key {CANARY}"}}}}"#),
    );
    // Built-ins replaced by loopback stand-ins so nothing leaves the machine.
    sb.write_backend(
        "anthropic",
        &format!(r#"{{"protocol":"anthropic","base_url":"http://127.0.0.1:{anth_port}","key_env":"DOCTOR_TEST_ANTH_KEY"}}"#),
    );
    sb.write_backend(
        "openai",
        &format!(
            r#"{{"protocol":"openai","base_url":"http://127.0.0.1:{ok_port}/v1","key":"{CANARY}"}}"#
        ),
    );
    sb.write_backend(
        "denied",
        &format!(r#"{{"protocol":"openai","base_url":"http://127.0.0.1:{deny_port}/v1","key":"sk-wrong-0000000000000000"}}"#),
    );
    sb.write_backend(
        "open",
        &format!(r#"{{"protocol":"openai","base_url":"http://127.0.0.1:{deny_port}/v1","passthrough":true}}"#),
    );
    let dead = free_port();
    sb.write_backend(
        "dead",
        &format!(r#"{{"protocol":"openai","base_url":"http://127.0.0.1:{dead}/v1"}}"#),
    );
    sb.set("DOCTOR_TEST_ANTH_KEY", "anth-test-key-abcdef0123456789");

    // Without --online nothing is sent upstream.
    let (report, _) = sb.json(&[]);
    assert!(rows(&report, "online*").is_empty());
    assert!(ok_seen.lock().unwrap().is_empty() && anth_seen.lock().unwrap().is_empty());

    let out = sb.dario(&["doctor", "--json", "--online"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains(CANARY) && !text.contains("sk-canary"),
        "{text}"
    );
    assert!(!text.contains("anth-test-key"), "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a rejected key and a dead backend fail"
    );

    let openai = row(&report, "online openai");
    assert_eq!(openai["status"], "ok");
    let d = openai["detail"].as_str().unwrap();
    assert!(
        d.contains("HTTP 200")
            && d.contains(" ms")
            && d.contains("2 models listed")
            && d.contains("key accepted"),
        "{d}"
    );
    let seen = ok_seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].request_line, "GET /v1/models HTTP/1.1");
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {CANARY}").as_str())
    );
    assert_eq!(
        seen[0].header("user-agent"),
        Some(format!("dario/{VERSION}").as_str())
    );
    assert_eq!(seen[0].body_len, 0);

    let anth = row(&report, "online anthropic");
    assert_eq!(anth["status"], "ok");
    let seen = anth_seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].request_line, "GET /v1/models HTTP/1.1");
    assert_eq!(
        seen[0].header("x-api-key"),
        Some("anth-test-key-abcdef0123456789")
    );
    assert!(seen[0].header("anthropic-version").is_some());
    assert!(seen[0].header("authorization").is_none());

    let denied = row(&report, "online denied");
    assert_eq!(denied["status"], "fail");
    assert!(denied["detail"].as_str().unwrap().contains("HTTP 401"));
    assert!(denied["detail"].as_str().unwrap().contains("rejected"));
    let open = row(&report, "online open");
    assert_eq!(
        open["status"], "info",
        "passthrough backends expect the client's key"
    );
    let seen = deny_seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let passthrough_req = seen
        .iter()
        .find(|s| s.header("authorization").is_none())
        .unwrap();
    assert!(passthrough_req.header("x-api-key").is_none());

    let dead_row = row(&report, "online dead");
    assert_eq!(dead_row["status"], "fail");
    assert!(dead_row["detail"]
        .as_str()
        .unwrap()
        .contains("request failed"));
}

#[test]
fn a_canary_key_never_appears_in_any_output() {
    let mut sb = Sandbox::new();
    let (port, _) = stand_in(401, &format!(r#"{{"error":"{CANARY}"}}"#));
    sb.write_backend(
        "anthropic",
        &format!(
            r#"{{"protocol":"anthropic","base_url":"http://127.0.0.1:{port}","key":"{CANARY}"}}"#
        ),
    );
    sb.write_backend(
        "openai",
        &format!(r#"{{"protocol":"openai","base_url":"http://127.0.0.1:{port}/v1","key_env":"DOCTOR_TEST_CANARY"}}"#),
    );
    // A key pasted into the wrong places: a URL's userinfo and the protocol field.
    sb.write_backend(
        "pasted",
        &format!(
            r#"{{"protocol":"openai","base_url":"https://user:{CANARY}@api.example.com/v1"}}"#
        ),
    );
    sb.write_backend(
        "pasted2",
        &format!(r#"{{"protocol":"{CANARY}","base_url":"https://api.example.com/v1"}}"#),
    );
    sb.set("DOCTOR_TEST_CANARY", CANARY);
    sb.set("DARIO_API_KEY", CANARY);
    let mut outputs = Vec::new();
    for args in [
        &["doctor"][..],
        &["doctor", "--json"],
        &["doctor", "--online"],
        &["doctor", "--json", "--online"],
    ] {
        let out = sb.dario(args);
        outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
        outputs.push(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    assert!(outputs[0].contains("[FAIL] config"), "{}", outputs[0]);
    // With the pasted keys removed the config loads and the online probes run.
    fs::remove_file(sb.dario_home.join("backends/pasted.json")).unwrap();
    fs::remove_file(sb.dario_home.join("backends/pasted2.json")).unwrap();
    let out = sb.dario(&["doctor", "--online"]);
    let loaded = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(loaded.contains("online anthropic"), "{loaded}");
    outputs.push(loaded);
    outputs.push(String::from_utf8_lossy(&out.stderr).into_owned());
    // Not the key, nor any 12-character piece of it.
    for text in &outputs {
        for start in 0..CANARY.len() - 12 {
            let piece = &CANARY[start..start + 12];
            assert!(!text.contains(piece), "{piece:?} leaked in:\n{text}");
        }
    }
}

/// A machine without any CA certificate: the loopback checks still work (they need no TLS);
/// the port is reported free, not "held by another program".
#[test]
fn no_ca_certificates_do_not_break_the_loopback_checks() {
    let mut sb = Sandbox::new();
    let empty = sb.work.join("empty.pem");
    fs::write(&empty, "").unwrap();
    let no_dir = sb.work.join("no-certs");
    fs::create_dir_all(&no_dir).unwrap();
    sb.set("SSL_CERT_FILE", empty.to_str().unwrap());
    sb.set("SSL_CERT_DIR", no_dir.to_str().unwrap());
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(row(&report, "port")["status"], "ok", "{report}");
    assert_eq!(row(&report, "proxy")["status"], "info", "{report}");
}

/// A server that answers every request with a 307 to `location`.
fn redirector(location: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    port
}

/// issue 19: `doctor --online` must not follow a redirect with the key (to wherever it points).
#[test]
fn online_probe_never_follows_a_redirect_with_the_key() {
    let sb = Sandbox::new();
    let (elsewhere, elsewhere_seen) = stand_in(200, r#"{"object":"list","data":[]}"#);
    let port = redirector(format!("http://127.0.0.1:{elsewhere}/v1/models"));
    sb.write_backend(
        "openai",
        &format!(
            r#"{{"protocol":"openai","base_url":"http://127.0.0.1:{port}/v1","key":"{CANARY}"}}"#
        ),
    );
    sb.write_backend(
        "anthropic",
        &format!(
            r#"{{"protocol":"anthropic","base_url":"http://127.0.0.1:{port}","key":"{CANARY}"}}"#
        ),
    );
    let out = sb.dario(&["doctor", "--json", "--online"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        elsewhere_seen.lock().unwrap().is_empty(),
        "the redirect was followed"
    );
    let report: Value = serde_json::from_str(&text).unwrap();
    for name in ["online openai", "online anthropic"] {
        let r = row(&report, name);
        assert_eq!(r["status"], "fail", "{r}");
        assert!(r["detail"].as_str().unwrap().contains("redirect"), "{r}");
    }
    assert!(!text.contains(CANARY), "{text}");
}
