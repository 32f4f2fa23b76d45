//! `dario codex`: the real binary runs a stand-in `codex` executable (a script that records its
//! arguments and environment and asks the proxy named in its `-c` overrides for `/health`),
//! starting `dario proxy` for the session when nothing answers and stopping it afterwards. The
//! real Codex CLI through `dario codex` is in tests/clients/test_codex.py.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn runs_codex_with_a_dario_provider_through_a_session_proxy() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("seen.json");
    let script = home.path().join("codex");
    let mut f = std::fs::File::create(&script).unwrap();
    write!(
        f,
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
    )
    .unwrap();
    drop(f);
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let status = Command::new(env!("CARGO_BIN_EXE_dario"))
        .args([
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
        .env("DARIO_HOME", home.path())
        .env("HOME", home.path())
        .env_remove("OPENAI_API_KEY")
        .env_remove("DARIO_API_KEY")
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
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dario"))
        .args(["codex", "--print-env", "--", "exec", "hi"])
        .env("DARIO_HOME", home.path())
        .env("HOME", home.path())
        .env("DARIO_API_KEY", "dario-secret-canary-123")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("DARIO_CODEX_KEY='***'"), "{text}");
    assert!(!text.contains("canary"), "{text}");
    assert!(text.contains("wire_api=\"responses\""), "{text}");

    let port = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_dario"))
        .args([
            "codex",
            "--port",
            &port.to_string(),
            "--codex-bin",
            "/nonexistent/codex",
        ])
        .env("DARIO_HOME", home.path())
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("install the Codex CLI"), "{err}");
}
