//! The real `dario` binary against a temporary `DARIO_HOME`: `dario backend add|list|remove`
//! and `dario route`, file modes, key handling, Node dario files, malformed files.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::home::{chmod as set_mode, mode};

struct Home {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Home {
    fn new() -> Home {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dario-home");
        Home { _tmp: tmp, dir }
    }

    fn backends(&self) -> PathBuf {
        self.dir.join("backends")
    }

    fn write(&self, rel: &str, text: &str, mode: u32) {
        let path = self.dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        set_mode(&path, mode);
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

fn run_with(home: &Home, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dario"));
    cmd.args(args)
        .env_clear()
        .env("DARIO_HOME", &home.dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn dario");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out: Output = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn run(home: &Home, args: &[&str]) -> Run {
    run_with(home, args, &[], None)
}

fn ok(home: &Home, args: &[&str]) -> Run {
    let r = run(home, args);
    assert_eq!(r.code, 0, "dario {args:?} failed:\n{}", r.all());
    r
}

fn fails(home: &Home, args: &[&str]) -> Run {
    let r = run(home, args);
    assert_ne!(r.code, 0, "dario {args:?} should fail:\n{}", r.all());
    r
}

fn list_json(home: &Home) -> Value {
    serde_json::from_str(&ok(home, &["backend", "list", "--json"]).stdout).unwrap()
}

fn backend<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
}

fn route_json(home: &Home, args: &[&str]) -> Value {
    let mut full = vec!["route"];
    full.extend_from_slice(args);
    full.push("--json");
    serde_json::from_str(&ok(home, &full).stdout).unwrap()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn backend_add_list_remove_round_trip() {
    let home = Home::new();
    // Empty home: the two built-ins, no files created by listing.
    let l = list_json(&home);
    let names: Vec<_> = l["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["anthropic", "openai"]);
    assert!(!home.dir.exists(), "listing must not create the home");

    let r = ok(
        &home,
        &[
            "backend",
            "add",
            "groq",
            "--key-env",
            "GROQ_API_KEY",
            "--model",
            "llama-*",
        ],
    );
    assert!(r.stdout.contains("Added backend `groq`"), "{}", r.stdout);
    assert!(
        r.stdout.contains("https://api.groq.com/openai/v1"),
        "{}",
        r.stdout
    );

    let l = list_json(&home);
    let g = backend(&l, "groq").expect("groq listed");
    assert_eq!(g["protocol"], "openai");
    assert_eq!(g["base_url"], "https://api.groq.com/openai/v1");
    assert_eq!(g["credential"]["kind"], "key_env");
    assert_eq!(g["credential"]["var"], "GROQ_API_KEY");
    assert_eq!(g["credential"]["set"], false);
    assert_eq!(g["models"], serde_json::json!(["llama-*"]));
    // With the variable set, list says so.
    let r = run_with(
        &home,
        &["backend", "list"],
        &[("GROQ_API_KEY", "gsk_x")],
        None,
    );
    assert!(r.stdout.contains("env GROQ_API_KEY (set)"), "{}", r.stdout);
    let header = r.stdout.lines().next().unwrap();
    assert!(
        header.starts_with("NAME") && header.contains("CREDENTIAL"),
        "{header}"
    );

    // Update keeps what is not given, replaces what is.
    ok(
        &home,
        &[
            "backend",
            "add",
            "groq",
            "--base-url",
            "http://127.0.0.1:9/v1/",
        ],
    );
    let l = list_json(&home);
    let g = backend(&l, "groq").unwrap();
    assert_eq!(g["base_url"], "http://127.0.0.1:9/v1");
    assert_eq!(g["credential"]["var"], "GROQ_API_KEY");
    assert_eq!(g["models"], serde_json::json!(["llama-*"]));

    let r = ok(&home, &["backend", "remove", "groq"]);
    assert!(r.stdout.contains("Removed backend `groq`"), "{}", r.stdout);
    assert!(backend(&list_json(&home), "groq").is_none());
    let r = fails(&home, &["backend", "remove", "groq"]);
    assert!(r.stderr.contains("no backend `groq`"), "{}", r.stderr);
}

#[test]
fn known_providers_and_unknown_names() {
    let home = Home::new();
    ok(&home, &["backend", "add", "ollama"]);
    let l = list_json(&home);
    let o = backend(&l, "ollama").unwrap();
    assert_eq!(o["base_url"], "http://127.0.0.1:11434/v1");
    assert_eq!(o["credential"]["kind"], "none");

    let r = fails(&home, &["backend", "add", "mystery"]);
    assert!(r.stderr.contains("--base-url"), "{}", r.stderr);
    ok(
        &home,
        &[
            "backend",
            "add",
            "mystery",
            "--base-url",
            "http://127.0.0.1:7/v1",
        ],
    );

    // Anthropic-protocol base URLs lose `/v1`.
    ok(
        &home,
        &[
            "backend",
            "add",
            "corp",
            "--protocol",
            "anthropic",
            "--base-url",
            "http://127.0.0.1:8/v1/",
            "--passthrough",
        ],
    );
    let l = list_json(&home);
    let c = backend(&l, "corp").unwrap();
    assert_eq!(c["protocol"], "anthropic");
    assert_eq!(c["base_url"], "http://127.0.0.1:8");
    assert_eq!(c["credential"]["kind"], "passthrough");

    for bad in ["../x", "-x", "a b", ".hidden", &"a".repeat(65)] {
        let r = fails(&home, &["backend", "add", bad, "--base-url", "http://h/v1"]);
        assert!(
            r.stderr.contains("name") || r.stderr.contains("unexpected argument"),
            "{bad}: {}",
            r.stderr
        );
    }
    let r = fails(&home, &["backend", "add", "x", "--base-url", "ftp://h"]);
    assert!(r.stderr.contains("http"), "{}", r.stderr);
    let r = fails(
        &home,
        &[
            "backend",
            "add",
            "x",
            "--protocol",
            "grpc",
            "--base-url",
            "http://h",
        ],
    );
    assert!(r.stderr.contains("--protocol"), "{}", r.stderr);
    // Credential flags exclude each other.
    fails(
        &home,
        &[
            "backend",
            "add",
            "x",
            "--base-url",
            "http://h/v1",
            "--key=a",
            "--passthrough",
        ],
    );
}

#[cfg(unix)]
#[test]
fn files_are_0600_and_directories_0700() {
    let home = Home::new();
    ok(&home, &["backend", "add", "groq", "--key=gsk_modes"]);
    assert_eq!(mode(&home.dir), 0o700);
    assert_eq!(mode(&home.backends()), 0o700);
    let file = home.backends().join("groq.json");
    assert_eq!(mode(&file), 0o600);
    // Rewriting keeps 0600 even if the file had been loosened, and leaves no temp files.
    set_mode(&file, 0o644);
    ok(&home, &["backend", "add", "groq", "--key=gsk_modes2"]);
    assert_eq!(mode(&file), 0o600);
    let mut entries: Vec<_> = std::fs::read_dir(home.backends())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    // The lock `backend add` takes for its read-modify-write stays, private like the rest.
    assert_eq!(entries, [".lock", "groq.json"]);
    assert_eq!(mode(&home.backends().join(".lock")), 0o600);
    // An existing home directory keeps its mode (dario never changes it behind your back).
    set_mode(&home.dir, 0o750);
    ok(
        &home,
        &[
            "backend",
            "add",
            "other",
            "--base-url",
            "http://127.0.0.1:1/v1",
        ],
    );
    assert_eq!(mode(&home.dir), 0o750);
}

#[test]
fn keys_are_stored_but_never_printed() {
    const CANARY: &str = "sk-canary-7f3a9c1e5b";
    let home = Home::new();
    let mut outputs = Vec::new();
    // Both `--key=K` and `--key K`, a key starting with `-`, a deployment key, `--key -`.
    outputs.push(ok(
        &home,
        &["backend", "add", "groq", &format!("--key={CANARY}-eq")],
    ));
    outputs.push(ok(
        &home,
        &[
            "backend",
            "add",
            "openrouter",
            "--key",
            &format!("{CANARY}-sp"),
        ],
    ));
    outputs.push(ok(
        &home,
        &[
            "backend",
            "add",
            "dash",
            "--base-url",
            "http://127.0.0.1:1/v1",
            "--key",
            &format!("-{CANARY}"),
        ],
    ));
    outputs.push(ok(
        &home,
        &[
            "backend",
            "add",
            "pool",
            "--deployment",
            "east",
            "--base-url",
            "http://127.0.0.1:2/v1",
            &format!("--key={CANARY}-dep"),
        ],
    ));
    let r = run_with(
        &home,
        &[
            "backend",
            "add",
            "stdin",
            "--base-url",
            "http://127.0.0.1:3/v1",
            "--key",
            "-",
        ],
        &[],
        Some(&format!("{CANARY}-stdin\n")),
    );
    assert_eq!(r.code, 0, "{}", r.all());
    outputs.push(r);

    // The files hold the keys.
    let read = |n: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(home.backends().join(format!("{n}.json"))).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(read("groq")["key"], format!("{CANARY}-eq"));
    assert_eq!(read("openrouter")["key"], format!("{CANARY}-sp"));
    assert_eq!(read("dash")["key"], format!("-{CANARY}"));
    assert_eq!(
        read("pool")["deployments"][0]["key"],
        format!("{CANARY}-dep")
    );
    assert_eq!(read("stdin")["key"], format!("{CANARY}-stdin"));

    outputs.push(ok(&home, &["backend", "list"]));
    outputs.push(ok(&home, &["backend", "list", "--json"]));
    outputs.push(ok(&home, &["route", "groq:llama-3.3-70b-versatile"]));
    outputs.push(ok(&home, &["route", "groq:x", "--json"]));
    // Keys pasted where they do not belong are not echoed back.
    outputs.push(fails(
        &home,
        &[
            "backend",
            "add",
            "x",
            "--base-url",
            "http://h/v1",
            "--key-env",
            CANARY,
        ],
    ));
    outputs.push(fails(
        &home,
        &[
            "backend",
            "add",
            "x",
            "--protocol",
            CANARY,
            "--base-url",
            "http://h/v1",
        ],
    ));
    outputs.push(fails(
        &home,
        &[
            "backend",
            "add",
            "x",
            "--base-url",
            "http://h/v1",
            &format!("--key={CANARY} x"),
        ],
    ));
    home.write(
        "config.toml",
        &format!("[backends.t]\nbase_url = \"http://h/v1\"\nkey = \"{CANARY}-toml\"\n"),
        0o644,
    );
    let r = fails(&home, &["backend", "list"]);
    assert!(r.stderr.contains("chmod 600"), "{}", r.stderr);
    outputs.push(r);
    set_mode(&home.dir.join("config.toml"), 0o600);
    outputs.push(ok(&home, &["backend", "list", "--json"]));
    home.write(
        "config.toml",
        &format!("[backends.t]\nbase_url = \"http://h/v1\"\npassthrough = \"{CANARY}\"\n"),
        0o600,
    );
    outputs.push(fails(&home, &["backend", "list"]));
    outputs.push(ok(&home, &["backend", "remove", "groq"]));

    for r in &outputs {
        assert!(!r.all().contains("canary"), "a key leaked:\n{}", r.all());
    }
    let listed = &outputs[5].stdout;
    assert!(listed.contains("key (stored)"), "{listed}");
}

#[test]
fn node_dario_backend_files_are_read_as_they_are() {
    let home = Home::new();
    let node = r#"{"provider":"openai","name":"local","apiKey":"anything","baseUrl":"http://127.0.0.1:11434/v1/"}"#;
    home.write("backends/local.json", node, 0o600);
    let l = list_json(&home);
    let b = backend(&l, "local").expect("Node dario file listed");
    assert_eq!(b["protocol"], "openai");
    assert_eq!(b["base_url"], "http://127.0.0.1:11434/v1");
    assert_eq!(b["credential"]["kind"], "key");
    assert!(!serde_json::to_string(&l).unwrap().contains("anything"));

    let d = route_json(&home, &["local:llama3:8b"]);
    assert_eq!(d["backend"], "local");
    assert_eq!(d["upstream_model"], "llama3:8b");
    // The only OpenAI-compatible backend besides `openai` is the default.
    let d = route_json(&home, &["qwen2.5-coder:32b"]);
    assert_eq!(d["backend"], "local");
    assert_eq!(d["rule"]["rule"], "default");
    // Reading never rewrites the file.
    assert_eq!(
        std::fs::read_to_string(home.backends().join("local.json")).unwrap(),
        node
    );
}

#[test]
fn malformed_files_fail_with_position_and_stay_untouched() {
    let home = Home::new();
    let bad = "default_backend = \"local\"\n\n[[routes]]\nmodel = \"claude-*\"\n  backnd = \"anthropic\"\n";
    home.write("config.toml", bad, 0o600);
    for args in [
        &["backend", "list"][..],
        &["route", "sonnet"],
        &["route", "x", "--json"],
    ] {
        let r = fails(&home, args);
        assert!(
            r.stderr.contains("config.toml:5:3:"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(r.stderr.contains("unknown field `backnd`"), "{}", r.stderr);
        assert!(r.stderr.contains("valid fields"), "{}", r.stderr);
    }
    // Adding a backend works (it writes its own file) and does not touch config.toml.
    ok(
        &home,
        &[
            "backend",
            "add",
            "local",
            "--base-url",
            "http://127.0.0.1:1/v1",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(home.dir.join("config.toml")).unwrap(),
        bad
    );
    std::fs::remove_file(home.dir.join("config.toml")).unwrap();

    // A malformed backend file is an error for readers and is never overwritten by `add`.
    let broken =
        "{\n  \"name\": \"groq\",\n  \"base_url\": \"https://api.groq.com/openai/v1\",\n}\n";
    home.write("backends/groq.json", broken, 0o600);
    let r = fails(&home, &["backend", "list"]);
    assert!(r.stderr.contains("groq.json:4:1:"), "{}", r.stderr);
    let r = fails(
        &home,
        &["backend", "add", "groq", "--key-env", "GROQ_API_KEY"],
    );
    assert!(r.stderr.contains("groq.json:4:"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(home.backends().join("groq.json")).unwrap(),
        broken
    );
    // Removing it is the way out.
    ok(&home, &["backend", "remove", "groq"]);
    ok(&home, &["backend", "list"]);

    // A backend file with a name that breaks the rule is reported, not skipped.
    home.write("backends/bad name.json", "{}", 0o600);
    let r = fails(&home, &["backend", "list"]);
    assert!(r.stderr.contains("bad name.json"), "{}", r.stderr);
}

#[test]
fn builtins_cannot_be_removed_but_can_be_replaced() {
    let home = Home::new();
    let r = fails(&home, &["backend", "remove", "anthropic"]);
    assert!(r.stderr.contains("built-in"), "{}", r.stderr);
    ok(
        &home,
        &[
            "backend",
            "add",
            "anthropic",
            "--base-url",
            "http://127.0.0.1:5/v1",
            "--passthrough",
        ],
    );
    let l = list_json(&home);
    let a = backend(&l, "anthropic").unwrap();
    assert_eq!(a["base_url"], "http://127.0.0.1:5");
    assert_eq!(a["builtin"], false);
    let d = route_json(&home, &["claude-sonnet-4-5"]);
    assert_eq!(d["base_url"], "http://127.0.0.1:5");
    let r = ok(&home, &["backend", "remove", "anthropic"]);
    assert!(
        r.stdout
            .contains("built-in `anthropic` backend is used again"),
        "{}",
        r.stdout
    );
    assert_eq!(
        backend(&list_json(&home), "anthropic").unwrap()["base_url"],
        "https://api.anthropic.com"
    );
    // A backend defined in config.toml is not removed by the CLI.
    home.write(
        "config.toml",
        "[backends.tom]\nbase_url = \"http://127.0.0.1:6/v1\"\n",
        0o600,
    );
    let r = fails(&home, &["backend", "remove", "tom"]);
    assert!(r.stderr.contains("config.toml"), "{}", r.stderr);
}

#[test]
fn deployments_are_added_and_replaced() {
    let home = Home::new();
    ok(
        &home,
        &[
            "backend",
            "add",
            "pool",
            "--deployment",
            "east",
            "--base-url",
            "http://127.0.0.1:1/v1",
            "--key-env",
            "EAST",
        ],
    );
    ok(
        &home,
        &[
            "backend",
            "add",
            "pool",
            "--deployment",
            "west",
            "--base-url",
            "http://127.0.0.1:2/v1",
            "--key-env",
            "WEST",
        ],
    );
    ok(
        &home,
        &[
            "backend",
            "add",
            "pool",
            "--deployment",
            "east",
            "--base-url",
            "http://127.0.0.1:3/v1",
            "--key-env",
            "EAST2",
        ],
    );
    let l = list_json(&home);
    let p = backend(&l, "pool").unwrap();
    let deps = p["deployments"].as_array().unwrap();
    assert_eq!(deps.len(), 2);
    assert_eq!(deps[0]["alias"], "east");
    assert_eq!(deps[0]["base_url"], "http://127.0.0.1:3/v1");
    assert_eq!(deps[0]["credential"]["var"], "EAST2");
    assert_eq!(deps[1]["alias"], "west");
    // A known provider gets its base URL for the backend itself.
    ok(
        &home,
        &[
            "backend",
            "add",
            "groq",
            "--deployment",
            "b",
            "--key-env",
            "GROQ_B",
        ],
    );
    let l = list_json(&home);
    let g = backend(&l, "groq").unwrap();
    assert_eq!(g["base_url"], "https://api.groq.com/openai/v1");
    assert_eq!(
        g["deployments"][0]["base_url"],
        "https://api.groq.com/openai/v1"
    );
    let r = ok(&home, &["backend", "list"]);
    assert!(r.stdout.contains("└ east"), "{}", r.stdout);
}

// ---- dario route: one case per SPEC §4 rule -------------------------------------------------

fn routed_home() -> Home {
    let home = Home::new();
    ok(
        &home,
        &[
            "backend",
            "add",
            "openrouter",
            "--key-env",
            "OPENROUTER_API_KEY",
        ],
    );
    ok(
        &home,
        &[
            "backend",
            "add",
            "groq",
            "--key-env",
            "GROQ_API_KEY",
            "--model",
            "llama-*",
        ],
    );
    ok(
        &home,
        &[
            "backend",
            "add",
            "local",
            "--base-url",
            "http://127.0.0.1:11434/v1",
            "--model",
            "qwen*",
        ],
    );
    home.write(
        "config.toml",
        r#"default_backend = "local"

[aliases]
fast = "groq:llama-3.3-70b-versatile"
sonnet = "claude-sonnet-4-0"

[[routes]]
model = "claude-opus-*"
backend = "anthropic"
upstream_model = "claude-opus-4-5"
fallbacks = ["openrouter"]
"#,
        0o600,
    );
    home
}

#[test]
fn route_rule_1_override() {
    let home = routed_home();
    let d = route_json(
        &home,
        &["gpt-4o", "--override", "groq:llama-3.1-8b-instant"],
    );
    assert_eq!(d["requested_model"], "gpt-4o");
    assert_eq!(d["backend"], "groq");
    assert_eq!(d["upstream_model"], "llama-3.1-8b-instant");
    assert_eq!(d["rule"]["rule"], "override");
    assert_eq!(d["override_rule"]["rule"], "prefix");
    let r = ok(&home, &["route", "gpt-4o", "--override", "opus"]);
    assert!(r.stdout.contains("--model override"), "{}", r.stdout);
    assert!(r.stdout.contains("claude-opus-4-5"), "{}", r.stdout);
}

#[test]
fn route_rule_2_prefix() {
    let home = routed_home();
    let d = route_json(&home, &["openrouter:meta-llama/llama-3.1-70b"]);
    assert_eq!(
        (d["backend"].as_str(), d["upstream_model"].as_str()),
        (Some("openrouter"), Some("meta-llama/llama-3.1-70b"))
    );
    assert_eq!(d["rule"]["prefix"], "openrouter");
    let d = route_json(&home, &["LOCAL:llama3:8b"]);
    assert_eq!(
        (d["backend"].as_str(), d["upstream_model"].as_str()),
        (Some("local"), Some("llama3:8b"))
    );
    let d = route_json(&home, &["claude:haiku"]);
    assert_eq!(
        (d["backend"].as_str(), d["upstream_model"].as_str()),
        (Some("anthropic"), Some("claude-haiku-5-5"))
    );
    // Not a prefix: the unknown left side keeps the whole name.
    let d = route_json(&home, &["llama3:8b"]);
    assert_eq!(d["upstream_model"], "llama3:8b");
    assert_ne!(d["rule"]["rule"], "prefix");
    assert_eq!(d["backend"], "local");
}

#[test]
fn route_rule_3_routes() {
    let home = routed_home();
    let d = route_json(&home, &["claude-opus-4-1"]);
    assert_eq!(d["backend"], "anthropic");
    assert_eq!(d["upstream_model"], "claude-opus-4-5");
    assert_eq!(d["fallbacks"], serde_json::json!(["openrouter"]));
    assert_eq!(d["rule"]["rule"], "route");
    assert_eq!(d["rule"]["index"], 0);
    let r = ok(&home, &["route", "claude-opus-4-1"]);
    assert!(r.stdout.contains("[[routes]] #1"), "{}", r.stdout);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("fallbacks ") && l.trim_end().ends_with(" openrouter")),
        "{}",
        r.stdout
    );
}

#[test]
fn route_rule_4_backend_globs() {
    let home = routed_home();
    let d = route_json(&home, &["llama-3.3-70b-versatile"]);
    assert_eq!(d["backend"], "groq");
    assert_eq!(d["rule"]["rule"], "backend_models");
    assert_eq!(d["rule"]["pattern"], "llama-*");
    assert_eq!(route_json(&home, &["qwen2.5-coder"])["backend"], "local");
}

#[test]
fn route_rule_5_aliases_and_families() {
    let home = routed_home();
    let d = route_json(&home, &["opus1m"]);
    assert_eq!(d["backend"], "anthropic");
    // Expanded, then met the [[routes]] rename.
    assert_eq!(d["upstream_model"], "claude-opus-4-5");
    assert_eq!(d["anthropic_beta"], "context-1m-2025-08-07");
    let d = route_json(&home, &["sonnet"]);
    // config.toml overrides the built-in alias.
    assert_eq!(d["upstream_model"], "claude-sonnet-4-0");
    assert_eq!(d["rule"]["rule"], "family");
    let d = route_json(&home, &["fast"]);
    assert_eq!(
        (d["backend"].as_str(), d["upstream_model"].as_str()),
        (Some("groq"), Some("llama-3.3-70b-versatile"))
    );
    assert_eq!(d["alias"], "fast");
    for (m, b) in [
        ("gpt-4o", "openai"),
        ("o3-mini", "openai"),
        ("text-embedding-3-small", "openai"),
        ("claude-haiku-4-5", "anthropic"),
    ] {
        let d = route_json(&home, &[m]);
        assert_eq!(d["backend"], b, "{m}");
        assert_eq!(d["rule"]["rule"], "family", "{m}");
    }
    let r = ok(&home, &["route", "sonnet1m"]);
    assert!(
        r.stdout.contains("anthropic-beta: context-1m-2025-08-07"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("sonnet1m → claude-sonnet-5-5"),
        "{}",
        r.stdout
    );
}

#[test]
fn route_rule_6_default_and_no_route() {
    let home = routed_home();
    let d = route_json(&home, &["mixtral-8x7b"]);
    assert_eq!(d["backend"], "local");
    assert_eq!(d["rule"]["rule"], "default");

    // Without default_backend and with several compat backends: no route, exit 1, how to fix.
    std::fs::remove_file(home.dir.join("config.toml")).unwrap();
    let r = run(&home, &["route", "mixtral-8x7b"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("no route for model `mixtral-8x7b`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("dario backend add <name> --model 'mixtral-8x7b'"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("[[routes]]"), "{}", r.stderr);
    let r = run(&home, &["route", "mixtral-8x7b", "--json"]);
    assert_eq!(r.code, 1);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["error"].as_str().unwrap().contains("mixtral-8x7b"));

    // A route to a backend that does not exist is a clear error.
    home.write(
        "config.toml",
        "[[routes]]\nmodel = \"x-*\"\nbackend = \"gone\"\n",
        0o600,
    );
    let r = run(&home, &["route", "x-1"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("`gone`") && r.stderr.contains("[[routes]] #1"),
        "{}",
        r.stderr
    );
}

#[test]
fn route_explains_each_endpoint_and_responses_capable_backends() {
    let home = Home::new();
    home.write(
        "config.toml",
        "[backends.vllm]\nprotocol = \"openai\"\nbase_url = \"http://127.0.0.1:8000/v1\"\nmodels = [\"qwen-*\"]\nresponses = true\n\n[backends.groq]\nprotocol = \"openai\"\nbase_url = \"https://api.groq.com/openai/v1\"\nmodels = [\"llama-*\"]\n",
        0o600,
    );
    let d = route_json(&home, &["qwen-3"]);
    assert_eq!(d["backend"], "vllm");
    assert_eq!(
        d["endpoints"]["/v1/responses"],
        "passthrough (only `model` rewritten)"
    );
    let d = route_json(&home, &["llama-3"]);
    assert!(d["endpoints"]["/v1/responses"]
        .as_str()
        .unwrap()
        .starts_with("translated to Chat Completions"));
    let d = route_json(&home, &["claude-sonnet-4-5"]);
    assert_eq!(
        d["endpoints"]["/v1/responses"],
        "translated (Responses -> Chat -> Messages)"
    );
    assert_eq!(
        d["endpoints"]["/v1/messages"],
        "passthrough (only `model` rewritten)"
    );
    let out = ok(&home, &["route", "gpt-5"]).stdout;
    assert!(out.contains("/v1/responses"), "{out}");
}

/// issue 19: a key pasted where a name or URL belongs is refused, and no message repeats it —
/// an unknown field name in a backend file, `default_backend`, `--key-env`, a query in
/// `--base-url`.
#[test]
fn a_key_pasted_in_the_wrong_place_is_refused_and_never_repeated() {
    const KEY: &str = "Zx9Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk";
    let leaks = |text: &str| (0..=KEY.len() - 8).any(|i| text.contains(&KEY[i..i + 8]));

    let home = Home::new();
    home.write(
        "backends/b1.json",
        &format!(r#"{{"protocol":"openai","base_url":"https://api.example.com/v1","{KEY}":"x"}}"#),
        0o600,
    );
    set_mode(&home.dir, 0o700);
    set_mode(&home.backends(), 0o700);
    for args in [&["backend", "list"][..], &["doctor"], &["route", "gpt-4o"]] {
        let r = run(&home, args);
        assert_ne!(r.code, 0, "{args:?}: {}", r.all());
        assert!(!leaks(&r.all()), "{args:?} repeated the key:\n{}", r.all());
    }
    std::fs::remove_file(home.backends().join("b1.json")).unwrap();

    home.write(
        "config.toml",
        &format!("default_backend = \"{KEY}\"\n"),
        0o600,
    );
    for args in [&["backend", "list"][..], &["doctor"]] {
        let r = run(&home, args);
        assert_ne!(r.code, 0, "{args:?} must refuse the file: {}", r.all());
        assert!(!leaks(&r.all()), "{args:?} repeated the key:\n{}", r.all());
        assert!(r.all().contains("looks like a key"), "{}", r.all());
    }
    std::fs::remove_file(home.dir.join("config.toml")).unwrap();

    let r = fails(
        &home,
        &[
            "backend",
            "add",
            "b2",
            "--protocol",
            "openai",
            "--base-url",
            "https://api.example.com/v1",
            "--key-env",
            KEY,
        ],
    );
    assert!(!leaks(&r.all()), "{}", r.all());
    assert!(r.all().contains("looks like a key"), "{}", r.all());
    let base = format!("https://api.example.com/v1?api-key={KEY}");
    let r = fails(
        &home,
        &[
            "backend",
            "add",
            "b3",
            "--protocol",
            "openai",
            "--base-url",
            &base,
        ],
    );
    assert!(!leaks(&r.all()), "{}", r.all());
    // Nothing was stored, so nothing can be listed later.
    let listed = ok(&home, &["backend", "list", "--json"]).all();
    assert!(!leaks(&listed), "{listed}");
    assert!(!home.backends().join("b2.json").exists() && !home.backends().join("b3.json").exists());
}

/// issue 13: `dario backend add` run by several processes at once loses nothing — neither other
/// backends nor other deployments of the same backend (a read-modify-write of one file).
#[test]
fn concurrent_backend_adds_lose_nothing() {
    let home = Home::new();
    let children: Vec<_> = (0..8)
        .flat_map(|i| {
            let deployment = [
                "backend".to_string(),
                "add".into(),
                "pool".into(),
                "--deployment".into(),
                format!("d{i}"),
                "--base-url".into(),
                format!("http://127.0.0.1:{}/v1", 1000 + i),
                "--key-env".into(),
                format!("KEY_{i}"),
            ];
            let own = [
                "backend".to_string(),
                "add".into(),
                format!("b{i}"),
                "--protocol".into(),
                "openai".into(),
                "--base-url".into(),
                format!("http://127.0.0.1:{}/v1", 2000 + i),
                "--key-env".into(),
                format!("OWN_{i}"),
            ];
            [deployment, own]
        })
        .map(|args| {
            Command::new(env!("CARGO_BIN_EXE_dario"))
                .args(&args)
                .env_clear()
                .env("DARIO_HOME", &home.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let l = list_json(&home);
    for i in 0..8 {
        assert!(backend(&l, &format!("b{i}")).is_some(), "b{i} lost: {l}");
    }
    let pool = backend(&l, "pool").unwrap();
    let mut aliases: Vec<String> = pool["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["alias"].as_str().unwrap().to_string())
        .collect();
    aliases.sort();
    let want: Vec<String> = (0..8).map(|i| format!("d{i}")).collect();
    assert_eq!(aliases, want, "{pool}");
}
