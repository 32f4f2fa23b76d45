//! `dario claude` and `dario codex`: the real binary runs a stand-in `claude` / `codex`
//! executable (a script that records its environment and arguments and asks the proxy for
//! `/health`), starting `dario proxy` for the session when nothing answers on the port and
//! stopping it afterwards. The real Codex CLI through `dario codex` is in
//! tests/clients/test_codex.py.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::support::home::{chmod, free_port, DarioHome};

/// Writes an executable script `dir/name`.
fn executable(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    chmod(&path, 0o755);
    path
}

/// A `claude` that writes its environment and the proxy's `/health` answer to `out`.
fn fake_claude(dir: &Path, out: &Path) -> PathBuf {
    executable(
        dir,
        "claude",
        &format!(
            r#"#!/usr/bin/env python3
import json, os, sys, urllib.request
with urllib.request.urlopen(os.environ["ANTHROPIC_BASE_URL"] + "/health", timeout=5) as r:
    health = json.load(r)
json.dump({{"env": dict(os.environ), "args": sys.argv[1:], "health": health}}, open({out:?}, "w"))
sys.exit(3)
"#,
            out = out.display().to_string()
        ),
    )
}

/// A home with a `groq` backend (OpenAI protocol, `llama-*`, its key in GROQ_API_KEY, unset).
fn home_with_groq() -> DarioHome {
    let home = DarioHome::new();
    home.backend(
        "groq",
        json!({"protocol": "openai", "base_url": "http://127.0.0.1:9/openai/v1",
               "key_env": "GROQ_API_KEY", "models": ["llama-*"]}),
    );
    home
}

#[test]
fn runs_claude_code_through_a_session_proxy_with_the_model_and_its_limits() {
    let home = home_with_groq();
    let out = home.home().join("seen.json");
    let claude = fake_claude(home.home(), &out);
    let port = free_port();
    let status = home
        .command(&[
            "claude",
            "--model",
            "llama-3.3-70b-versatile",
            "--port",
            &port.to_string(),
            "--claude-bin",
            claude.to_str().unwrap(),
            "--",
            "-p",
            "hello there",
        ])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3), "Claude Code's exit code is dario's");
    let seen: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("claude ran")).unwrap();
    let env = &seen["env"];
    assert_eq!(
        env["ANTHROPIC_BASE_URL"],
        format!("http://127.0.0.1:{port}")
    );
    for var in [
        "ANTHROPIC_MODEL",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL",
        "CLAUDE_CODE_SUBAGENT_MODEL",
    ] {
        assert_eq!(env[var], "llama-3.3-70b-versatile", "{var}");
    }
    assert_eq!(env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"], "131072");
    assert_eq!(env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"], "32768");
    assert_eq!(
        env["ANTHROPIC_API_KEY"], "dario",
        "a placeholder: groq has its own key"
    );
    assert_eq!(seen["args"], serde_json::json!(["-p", "hello there"]));
    assert_eq!(seen["health"]["service"], "dario");
    // The session's proxy is gone with the session.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the proxy started for the session still listens"
    );
}

#[test]
fn a_claude_model_gets_only_the_base_url_and_a_missing_claude_is_a_clear_error() {
    let home = DarioHome::new();
    let out = home
        .command(&["claude", "--model", "sonnet", "--print-env"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("ANTHROPIC_BASE_URL=http://127.0.0.1:3456"),
        "{text}"
    );
    assert!(!text.contains("CLAUDE_CODE_MAX_CONTEXT_TOKENS"), "{text}");
    assert!(
        !text.contains("ANTHROPIC_API_KEY"),
        "passthrough: Claude Code's own login: {text}"
    );

    let err = missing_client(&home, "claude");
    assert!(err.contains("install Claude Code"), "{err}");
}

/// Runs `dario <command> --<command>-bin /nonexistent/…`, which must fail; returns its stderr.
fn missing_client(home: &DarioHome, command: &str) -> String {
    let port = free_port();
    let out = home
        .command(&[
            command,
            "--port",
            &port.to_string(),
            &format!("--{command}-bin"),
            &format!("/nonexistent/{command}"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn runs_codex_with_a_dario_provider_through_a_session_proxy() {
    let home = DarioHome::new();
    let out = home.home().join("seen.json");
    let script = executable(
        home.home(),
        "codex",
        &format!(
            r#"#!/usr/bin/env python3
import json, os, re, sys, urllib.request
args = sys.argv[1:]
base = next(re.search(r'"(.*)"', a).group(1) for a in args if a.startswith("model_providers.dario.base_url="))
with urllib.request.urlopen(base.removesuffix("/v1") + "/health", timeout=5) as r:
    health = json.load(r)
json.dump({{"env": dict(os.environ), "args": args, "health": health}}, open({out:?}, "w"))
sys.exit(5)
"#,
            out = out.display().to_string()
        ),
    );
    let port = free_port();
    let status = home
        .command(&[
            "codex",
            "--model",
            "claude-sonnet-4-5",
            "--port",
            &port.to_string(),
            "--codex-bin",
            script.to_str().unwrap(),
            "--",
            "exec",
            "hello there",
        ])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(5), "Codex's exit code is dario's");
    let seen: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("codex ran")).unwrap();
    let args: Vec<String> = serde_json::from_value(seen["args"].clone()).unwrap();
    let overrides: Vec<&str> = args
        .chunks(2)
        .filter(|p| p[0] == "-c")
        .map(|p| p[1].as_str())
        .collect();
    assert!(overrides.contains(&"model_provider=\"dario\""), "{args:?}");
    assert!(
        overrides.contains(&"model_providers.dario.wire_api=\"responses\""),
        "{args:?}"
    );
    assert!(
        overrides.contains(
            &format!("model_providers.dario.base_url=\"http://127.0.0.1:{port}/v1\"").as_str()
        ),
        "{args:?}"
    );
    assert!(
        overrides.contains(&"model=\"claude-sonnet-4-5\""),
        "{args:?}"
    );
    assert_eq!(&args[args.len() - 2..], ["exec", "hello there"]);
    assert_eq!(seen["env"]["DARIO_CODEX_KEY"], "dario");
    assert_eq!(seen["health"]["service"], "dario");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the proxy started for the session still listens"
    );
}

#[test]
fn print_env_hides_the_key_and_a_missing_codex_is_a_clear_error() {
    let home = DarioHome::new();
    let out = home
        .command(&["codex", "--print-env", "--", "exec", "hi"])
        .env("DARIO_API_KEY", "dario-secret-canary-123")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("DARIO_CODEX_KEY='***'"), "{text}");
    assert!(!text.contains("canary"), "{text}");
    assert!(text.contains("wire_api=\"responses\""), "{text}");

    let err = missing_client(&home, "codex");
    assert!(err.contains("install the Codex CLI"), "{err}");
}

#[test]
fn print_env_never_shows_the_dario_key_claude_code_gets() {
    let home = home_with_groq();
    let out = home
        .command(&[
            "claude",
            "--model",
            "llama-3.3-70b-versatile",
            "--print-env",
        ])
        .env("DARIO_API_KEY", "dario-secret-canary-456")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("ANTHROPIC_API_KEY='***'"), "{text}");
    assert!(!text.contains("canary"), "{text}");
    assert!(
        text.contains("CLAUDE_CODE_MAX_CONTEXT_TOKENS=131072"),
        "{text}"
    );
}
