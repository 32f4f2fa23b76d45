//! `dario subagent install|remove|status`, driven through the real binary with a temporary HOME,
//! DARIO_HOME and CLAUDE_CONFIG_DIR.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::home::dario_command;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const TEMPLATE: &str = include_str!("../../agents/dario.md");

fn rendered(version: &str) -> String {
    TEMPLATE.replace("{{version}}", version)
}

struct Sandbox {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    /// The current directory of every command (for `--project`).
    work: PathBuf,
    claude_config_dir: Option<PathBuf>,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let work = tmp.path().join("work");
        fs::create_dir_all(&home).unwrap();
        fs::create_dir_all(&work).unwrap();
        Sandbox {
            home,
            work,
            claude_config_dir: None,
            _tmp: tmp,
        }
    }

    fn with_claude_config_dir() -> Sandbox {
        let mut sb = Sandbox::new();
        let dir = sb.home.join("custom-claude");
        sb.claude_config_dir = Some(dir);
        sb
    }

    fn user_agents_dir(&self) -> PathBuf {
        match &self.claude_config_dir {
            Some(dir) => dir.join("agents"),
            None => self.home.join(".claude").join("agents"),
        }
    }

    fn user_file(&self) -> PathBuf {
        self.user_agents_dir().join("dario.md")
    }

    fn dario(&self, args: &[&str]) -> Output {
        let mut cmd = dario_command(&self.home, &self.home.join(".dario"), args);
        cmd.current_dir(&self.work);
        if let Some(dir) = &self.claude_config_dir {
            cmd.env("CLAUDE_CONFIG_DIR", dir);
        }
        cmd.output().unwrap()
    }

    /// Run and require exit 0; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.dario(args);
        assert!(
            out.status.success(),
            "dario {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(snapshot(&p));
            } else {
                out.insert(p.clone(), fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn install_creates_then_reports_unchanged() {
    let sb = Sandbox::new();
    let out = sb.ok(&["subagent", "install"]);
    assert!(out.starts_with("created "), "{out}");
    assert!(out.contains("start a new session"), "{out}");
    assert_eq!(
        fs::read_to_string(sb.user_file()).unwrap(),
        rendered(VERSION)
    );

    let out = sb.ok(&["subagent", "install"]);
    assert!(out.starts_with("unchanged: "), "{out}");
    assert_eq!(
        fs::read_to_string(sb.user_file()).unwrap(),
        rendered(VERSION)
    );
    let files = snapshot(&sb.user_agents_dir());
    assert_eq!(
        files.len(),
        1,
        "only dario.md, no temp or backup files: {files:?}"
    );
}

#[test]
fn install_honours_claude_config_dir() {
    let sb = Sandbox::with_claude_config_dir();
    let out = sb.ok(&["subagent", "install"]);
    assert!(out.contains(&sb.user_file().display().to_string()), "{out}");
    assert!(sb.user_file().is_file());
    assert!(!sb.home.join(".claude").exists());
}

#[test]
fn install_updates_a_file_from_an_older_version() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.user_agents_dir()).unwrap();
    fs::write(sb.user_file(), rendered("0.0.1")).unwrap();

    let status = sb.ok(&["subagent", "status"]);
    assert!(status.contains("stale (written by dario 0.0.1"), "{status}");

    let out = sb.ok(&["subagent", "install"]);
    assert!(out.starts_with("updated "), "{out}");
    assert!(out.contains("was stale"), "{out}");
    assert_eq!(
        fs::read_to_string(sb.user_file()).unwrap(),
        rendered(VERSION)
    );
    assert!(!sb.user_agents_dir().join("dario.md.bak").exists());
    assert!(sb.ok(&["subagent", "status"]).contains("current"));
}

#[test]
fn install_refuses_a_locally_modified_file_without_force() {
    let sb = Sandbox::new();
    sb.ok(&["subagent", "install"]);
    let edited =
        rendered(VERSION).replace("Keep it short.", "Keep it short. Always answer in French.");
    assert_ne!(edited, rendered(VERSION));
    fs::write(sb.user_file(), &edited).unwrap();
    assert!(sb.ok(&["subagent"]).contains("locally modified"));

    let out = sb.dario(&["subagent", "install"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("locally modified") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(sb.user_file()).unwrap(), edited);
    assert!(!sb.user_agents_dir().join("dario.md.bak").exists());

    let out = sb.ok(&["subagent", "install", "--force"]);
    assert!(out.starts_with("updated "), "{out}");
    assert!(out.contains("dario.md.bak"), "{out}");
    assert_eq!(
        fs::read_to_string(sb.user_file()).unwrap(),
        rendered(VERSION)
    );
    assert_eq!(
        fs::read_to_string(sb.user_agents_dir().join("dario.md.bak")).unwrap(),
        edited
    );
}

#[test]
fn an_older_marker_with_edits_counts_as_locally_modified() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.user_agents_dir()).unwrap();
    let edited = rendered("0.0.1").replace("Keep it short.", "Be verbose.");
    fs::write(sb.user_file(), &edited).unwrap();
    let out = sb.dario(&["subagent", "install"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(fs::read_to_string(sb.user_file()).unwrap(), edited);
}

#[test]
fn a_foreign_dario_md_without_marker_is_not_overwritten() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.user_agents_dir()).unwrap();
    let mine = "---\nname: dario\ndescription: my own\n---\nHello\n";
    fs::write(sb.user_file(), mine).unwrap();
    assert!(sb
        .ok(&["subagent", "status"])
        .contains("no dario version marker"));
    let out = sb.dario(&["subagent", "install"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(fs::read_to_string(sb.user_file()).unwrap(), mine);
    let out = sb.dario(&["subagent", "remove"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(fs::read_to_string(sb.user_file()).unwrap(), mine);
    sb.ok(&["subagent", "remove", "--force"]);
    assert!(!sb.user_file().exists());
}

#[test]
fn project_scope_writes_below_the_current_directory() {
    let sb = Sandbox::new();
    let out = sb.ok(&["subagent", "install", "--project"]);
    let project_file = sb.work.join(".claude").join("agents").join("dario.md");
    assert!(out.starts_with("created "), "{out}");
    assert!(out.contains(&project_file.display().to_string()), "{out}");
    assert_eq!(
        fs::read_to_string(&project_file).unwrap(),
        rendered(VERSION)
    );
    assert!(
        !sb.user_file().exists(),
        "--project must not touch the user file"
    );

    let status = sb.ok(&["subagent", "status"]);
    assert!(
        status.contains("user: ") && status.contains("not installed"),
        "{status}"
    );
    assert!(
        status.contains("project: ") && status.contains("current"),
        "{status}"
    );

    assert!(sb
        .ok(&["subagent", "remove", "--project"])
        .starts_with("removed "));
    assert!(!project_file.exists());
    assert!(sb.work.join(".claude").join("agents").is_dir());
}

#[test]
fn remove_is_idempotent_and_keeps_the_directory() {
    let sb = Sandbox::new();
    sb.ok(&["subagent", "install"]);
    let out = sb.ok(&["subagent", "remove"]);
    assert!(out.starts_with("removed "), "{out}");
    assert!(!sb.user_file().exists());
    assert!(sb.user_agents_dir().is_dir());
    let out = sb.ok(&["subagent", "remove"]);
    assert!(out.starts_with("nothing to remove"), "{out}");
    assert!(sb.ok(&["subagent", "status"]).contains("not installed"));
}

#[test]
fn remove_keeps_a_locally_modified_file_without_force() {
    let sb = Sandbox::new();
    sb.ok(&["subagent", "install"]);
    fs::write(sb.user_file(), rendered(VERSION) + "\nmy note\n").unwrap();
    let out = sb.dario(&["subagent", "remove"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(sb.user_file().exists());
    assert!(sb
        .ok(&["subagent", "remove", "--force"])
        .starts_with("removed "));
    assert!(!sb.user_file().exists());
}

#[test]
fn other_agent_files_are_never_touched() {
    let sb = Sandbox::new();
    let dir = sb.user_agents_dir();
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("reviewer.md"),
        "---\nname: reviewer\n---\nreview\n",
    )
    .unwrap();
    fs::write(dir.join("dario-notes.md"), "notes").unwrap();
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("sub").join("dario.md"), "nested").unwrap();
    let before = snapshot(&dir);

    sb.ok(&["subagent", "install"]);
    fs::write(
        sb.user_file(),
        "edited\n<!-- dario-sub-agent-version: 0.0.1 -->\n",
    )
    .unwrap();
    sb.ok(&["subagent", "install", "--force"]);
    sb.ok(&["subagent", "remove"]);

    let mut after = snapshot(&dir);
    let backup = after.remove(&dir.join("dario.md.bak"));
    assert!(backup.is_some(), "--force keeps the backup");
    assert_eq!(before, after, "only dario.md and dario.md.bak may change");
}

#[test]
fn install_hints_at_mcp_registration_only_when_missing() {
    let sb = Sandbox::new();
    let out = sb.ok(&["subagent", "install"]);
    // The same command as `dario mcp --print-config claude-code` (issue 17 #5).
    assert!(out.contains("claude mcp add --scope user dario"), "{out}");
    assert!(out.trim_end().ends_with(" mcp"), "{out}");

    let sb = Sandbox::new();
    fs::write(
        sb.home.join(".claude.json"),
        r#"{"numStartups": 3, "mcpServers": {"dario": {"type": "stdio", "command": "/usr/bin/dario", "args": ["mcp"]}}}"#,
    )
    .unwrap();
    let out = sb.ok(&["subagent", "install"]);
    assert!(!out.contains("claude mcp add"), "{out}");
}

#[test]
fn status_json_reports_state_and_template_hash() {
    let sb = Sandbox::new();
    let out = sb.ok(&["subagent", "status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["state"], "not_installed");
    assert_eq!(v[0]["scope"], "user");
    sb.ok(&["subagent", "install"]);
    let v: serde_json::Value =
        serde_json::from_str(&sb.ok(&["subagent", "status", "--json"])).unwrap();
    assert_eq!(v[0]["state"], "current");
    assert_eq!(v[0]["current_version"], VERSION);
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(rendered(VERSION).as_bytes()));
    assert_eq!(v[0]["template_sha256"], sha);
}

#[derive(serde::Deserialize)]
struct Frontmatter {
    name: String,
    description: String,
    tools: String,
    model: String,
}

#[test]
fn installed_file_has_valid_frontmatter_and_read_only_tools() {
    let sb = Sandbox::new();
    sb.ok(&["subagent", "install"]);
    let text = fs::read_to_string(sb.user_file()).unwrap();
    let rest = text
        .strip_prefix("---\n")
        .expect("starts with a frontmatter fence");
    let (yaml, body) = rest.split_once("\n---\n").expect("closing fence");
    let fm: Frontmatter = serde_norway::from_str(yaml).unwrap();
    assert_eq!(fm.name, "dario");
    assert_eq!(fm.model, "haiku");
    let description = fm.description.to_lowercase();
    for word in ["dario", "rate limit", "backend", "route", "401"] {
        assert!(description.contains(word), "description lacks {word:?}");
    }

    let read_only = [
        "mcp__dario__doctor",
        "mcp__dario__auth_status",
        "mcp__dario__pool_status",
        "mcp__dario__backends_list",
        "mcp__dario__template_info",
        "mcp__dario__fingerprint_info",
        "mcp__dario__analytics_summary",
        "mcp__dario__subagent_status",
        "mcp__dario__route_explain",
        // The read-only-`dario`-commands fallback; the body restricts what it may run.
        "Bash",
    ];
    let tools: Vec<&str> = fm.tools.split(',').map(str::trim).collect();
    for tool in &tools {
        assert!(read_only.contains(tool), "tool {tool:?} is not read-only");
    }
    for tool in read_only {
        assert!(tools.contains(&tool), "missing tool {tool}");
    }

    let marker = format!("<!-- dario-sub-agent-version: {VERSION} -->");
    assert!(body.contains(&marker));
    assert!(!text.contains("{{version}}"));
    for must in [
        "dario doctor",
        "dario route <model>",
        "dario backend list",
        "Never start the proxy",
        "explicit confirmation",
        "Headline first",
        "FAIL, then every WARN",
    ] {
        assert!(body.contains(must), "body lacks {must:?}");
    }
}

#[cfg(unix)]
#[test]
fn a_symlinked_dario_md_is_updated_through_the_link() {
    let sb = Sandbox::new();
    let dotfiles = sb.home.join("dotfiles");
    fs::create_dir_all(&dotfiles).unwrap();
    fs::write(dotfiles.join("dario.md"), rendered("0.0.1")).unwrap();
    fs::create_dir_all(sb.user_agents_dir()).unwrap();
    std::os::unix::fs::symlink(dotfiles.join("dario.md"), sb.user_file()).unwrap();

    assert!(sb.ok(&["subagent", "install"]).starts_with("updated "));
    assert!(fs::symlink_metadata(sb.user_file())
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_to_string(dotfiles.join("dario.md")).unwrap(),
        rendered(VERSION)
    );

    assert!(sb.ok(&["subagent", "remove"]).starts_with("removed "));
    assert!(
        fs::symlink_metadata(sb.user_file()).is_err(),
        "the link is removed"
    );
    assert!(dotfiles.join("dario.md").exists(), "its target is kept");
}

#[test]
fn status_json_matches_the_schema_the_mcp_tool_publishes() {
    let sb = Sandbox::new();
    sb.ok(&["subagent", "install", "--project"]);
    fs::create_dir_all(sb.user_agents_dir()).unwrap();
    fs::write(sb.user_file(), rendered("0.0.1")).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&sb.ok(&["subagent", "status", "--json"])).unwrap();
    let targets = v.as_array().unwrap();
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[0]["state"], "stale");
    assert_eq!(targets[0]["version"], "0.0.1");
    assert_eq!(targets[1]["scope"], "project");
    let schema = serde_json::to_value(schemars::schema_for!(dario::subagent::Status)).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for t in targets {
        let errors: Vec<String> = validator.iter_errors(t).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
}
