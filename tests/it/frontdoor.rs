//! Issue 17, "the front door": what a newcomer meets, driven through the real binary as a
//! process against a loopback stand-in upstream — the start-up summary, refusing a config that
//! names a missing backend, config changes reaching a running proxy (`backend add`, the file
//! watcher, `dario reload`, doctor's "differs from disk"), the errors that say what to do
//! (unset `key_env`, unknown provider prefix, base URL without `/v1`, analytics windows) and one
//! log line per failed request at the default level.

use crate::support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::home::{dario_command, free_port, DarioHome};
use support::*;

const CANARY: &str = "sk-frontdoor-canary-3b9f2c7e1d4a6f80";

/// The built-in backends pointed at the stand-in (passthrough).
fn builtins_at(home: &DarioHome, up: &StandIn) {
    home.passthrough_builtins(&up.anthropic_url(), &up.openai_url());
}

/// `dario <args>` with `home`, talking to a proxy on `port`.
fn dario(home: &DarioHome, port: u16, args: &[&str], env: &[(&str, &str)]) -> Output {
    dario_at(home.home(), home.dir(), port, args, env)
}

/// `dario <args>` with `home` as HOME and `dir` as its home, talking to a proxy on `port`.
fn dario_at(home: &Path, dir: &Path, port: u16, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = dario_command(home, dir, args);
    cmd.env("DARIO_HOST", "127.0.0.1")
        .env("DARIO_PORT", port.to_string());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `dario proxy` as a child process; everything it writes to stderr is kept.
struct Proxy {
    child: Child,
    base: String,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn start(home: &DarioHome, env: &[(&str, &str)]) -> Proxy {
        let mut cmd = home.command(&["proxy", "--port", "0"]);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening on") {
                    let _ = tx.send(line.clone());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("dario did not start: {}", log.lock().unwrap()));
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .to_string();
        let port = base.rsplit(':').next().unwrap().parse().unwrap();
        let p = Proxy {
            child,
            base,
            port,
            log,
        };
        // The summary is complete when its last line is out.
        p.wait_log("Failed requests are logged here");
        p
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "no `{needle}` in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

async fn chat(base: &str, model: &str) -> reqwest::Response {
    client()
        .post(format!("{base}/v1/chat/completions"))
        .header("authorization", "Bearer sk-placeholder")
        .header("content-type", "application/json")
        .body(json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}).to_string())
        .send()
        .await
        .unwrap()
}

/// Polls until `model` is served by `backend` (the watcher reloads within a second).
async fn wait_routed(base: &str, model: &str, backend: &str) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = chat(base, model).await;
        if r.status() == 200
            && r.headers()
                .get("x-dario-backend")
                .and_then(|v| v.to_str().ok())
                == Some(backend)
        {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "`{model}` never reached `{backend}`: {} {:?}",
            r.status(),
            r.text().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- problem 3: a route or fallback naming a missing backend ---------------------------------

#[test]
fn a_route_naming_a_missing_backend_is_refused_at_start_with_file_and_line() {
    let home = DarioHome::new();
    // The README's old example: a fallback that does not exist.
    home.config_toml(
        "[[routes]]\nmodel = \"claude-*\"\nbackend = \"anthropic\"\nfallbacks = [\"openrouter\"]\n",
    );
    let out = dario(&home, 0, &["proxy", "--port", "0"], &[]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config.toml:4:"), "{err}");
    assert!(err.contains("fallback `openrouter`"), "{err}");
    assert!(err.contains("configured: anthropic, openai"), "{err}");
    assert!(
        err.contains("dario backend add openrouter --key-env OPENROUTER_API_KEY"),
        "{err}"
    );
    // `dario doctor` names the same problem.
    let doctor = dario(&home, 0, &["doctor"], &[]);
    assert!(!doctor.status.success());
    assert!(text(&doctor).contains("openrouter"), "{}", text(&doctor));
}

// ---- problem 7: the start-up summary, failed requests in the log -----------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_up_summary_names_backends_default_problems_and_base_urls_never_a_key() {
    let up = StandIn::start().await;
    let home = DarioHome::new();
    builtins_at(&home, &up);
    home.backend(
        "compat",
        json!({"protocol": "openai", "base_url": up.openai_url(), "key": CANARY, "models": ["llama-*"]}),
    );
    home.backend(
        "claude-gw",
        json!({"protocol": "anthropic", "base_url": up.anthropic_url(), "key_env": "FRONTDOOR_UNSET_KEY"}),
    );
    let p = Proxy::start(&home, &[]);
    let log = p.log();
    let summary = log.split("listening on").nth(1).unwrap();
    for want in [
        "backends  anthropic",
        "compat",
        &up.openai_url(),
        "key (stored)",
        "env FRONTDOOR_UNSET_KEY (NOT SET)",
        "default   compat (the only OpenAI-compatible backend besides `openai`)",
        "[FAIL] backend claude-gw",
        "export FRONTDOOR_UNSET_KEY=",
        &format!("ANTHROPIC_BASE_URL=http://127.0.0.1:{}", p.port),
        &format!("OPENAI_BASE_URL=http://127.0.0.1:{}/v1", p.port),
    ] {
        assert!(summary.contains(want), "no `{want}` in:\n{log}");
    }
    assert!(
        !log.contains(CANARY) && !log.contains(&CANARY[..12]),
        "{log}"
    );

    // One line per failed request at the default level, none for a good one.
    let ok = chat(&p.base, "llama-3").await;
    assert_eq!(ok.status(), 200);
    let r = chat(&p.base, "groq:llama-3.3-70b-versatile").await;
    assert_eq!(r.status(), 404);
    let log = p.wait_log("failed with 404");
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("failed with")).collect();
    assert_eq!(failed.len(), 1, "{log}");
    assert!(
        failed[0].contains("groq:llama-3.3-70b-versatile")
            && failed[0].contains("no backend `groq` is configured"),
        "{}",
        failed[0]
    );
}

// ---- problems 9 and 8: errors that say what to do --------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unset_key_env_is_a_401_naming_the_variable_before_any_upstream_call() {
    let up = StandIn::start().await;
    let home = DarioHome::new();
    builtins_at(&home, &up);
    home.backend(
        "needs-key",
        json!({"protocol": "openai", "base_url": up.openai_url(), "key_env": "FRONTDOOR_MISSING_KEY", "models": ["x-*"]}),
    );
    home.backend(
        "has-key",
        json!({"protocol": "openai", "base_url": up.openai_url(), "key_env": "FRONTDOOR_SET_KEY", "models": ["y-*"]}),
    );
    let p = Proxy::start(&home, &[("FRONTDOOR_SET_KEY", CANARY)]);
    let r = chat(&p.base, "x-model").await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-dario-backend"], "needs-key");
    let body: Value = json(r).await;
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("FRONTDOOR_MISSING_KEY")
            && msg.contains("needs-key")
            && msg.contains("not set"),
        "{msg}"
    );
    assert_eq!(up.requests().len(), 0, "nothing may reach the upstream");
    p.wait_log("failed with 401");

    // An upstream that refuses the key: the response and the log say which credential was sent
    // (its source, never its value).
    up.push(Reply::status(
        401,
        json!({"error": {"message": "Invalid API Key", "type": "invalid_request_error"}}),
    ));
    let r = chat(&p.base, "y-model").await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["x-dario-credential-source"],
        "env FRONTDOOR_SET_KEY (set)"
    );
    let log = p.wait_log("credential sent: env FRONTDOOR_SET_KEY (set)");
    assert!(!log.contains(CANARY), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_prefix_analytics_windows_and_a_missing_v1_get_clear_answers() {
    let up = StandIn::start().await;
    let home = DarioHome::new();
    builtins_at(&home, &up);
    // A base URL without /v1, whose server answers 404 there.
    home.backend(
        "nov1",
        json!({"protocol": "openai", "base_url": format!("http://{}", up.addr), "key": "k", "models": ["nov1-*"]}),
    );
    let p = Proxy::start(&home, &[]);

    // An unknown provider prefix names the configured backends.
    let r = chat(&p.base, "openrouter:meta-llama/llama-3.1-70b").await;
    assert_eq!(r.status(), 404);
    let msg = json(r).await["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("configured: anthropic, nov1, openai")
            && msg.contains("dario backend add openrouter"),
        "{msg}"
    );
    let route = dario(&home, p.port, &["route", "openrouter:x"], &[]);
    assert!(text(&route).contains("no backend `openrouter` is configured"));

    // The upstream's 404 on a URL without /v1 comes with the hint.
    up.push(Reply::status(404, json!({"detail": "Not Found"})));
    let r = chat(&p.base, "nov1-a").await;
    assert_eq!(r.status(), 404);
    let body: Value = json(r).await;
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("Not Found") && msg.contains(&format!("http://{}/v1", up.addr)),
        "{msg}"
    );
    assert_ne!(body["error"]["code"], "model_not_found");

    // Analytics windows: nonsense and too large are 400s naming the maximum.
    for (q, status) in [
        ("window=abc", 400),
        ("window=0", 400),
        ("window=100000", 400),
        ("window=1440", 200),
        ("", 200),
    ] {
        let r = client()
            .get(format!("{}/analytics?{q}", p.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{q}");
        if status == 400 {
            let msg = json(r).await["error"]["message"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(msg.contains("1440"), "{q}: {msg}");
        }
    }

    // `?pretty`: indented, with rounded numbers.
    let r = client()
        .get(format!("{}/analytics?window=60&pretty", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.starts_with("{\n  \""), "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(
        !has_long_decimal(&v),
        "numbers are rounded to 3 decimals: {body}"
    );

    // The unknown-endpoint 404 lists every endpoint, reload included.
    let r = client()
        .get(format!("{}/v2/nothing", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = json(r).await;
    assert_eq!(body["error"]["code"], "unknown_url");
    let msg = body["error"]["message"].as_str().unwrap();
    for e in dario::proxy::ENDPOINTS {
        assert!(msg.contains(e), "{e} missing: {msg}");
    }
}

/// A number with more than 3 decimals anywhere in `v`.
fn has_long_decimal(v: &Value) -> bool {
    match v {
        Value::Number(n) => n
            .as_f64()
            .is_some_and(|f| ((f * 1000.0).round() - f * 1000.0).abs() > 1e-6),
        Value::Array(a) => a.iter().any(has_long_decimal),
        Value::Object(m) => m.values().any(has_long_decimal),
        _ => false,
    }
}

#[test]
fn backend_add_warns_about_a_missing_v1_and_gives_known_providers_their_models() {
    let home = DarioHome::new();
    let out = dario(
        &home,
        1,
        &[
            "backend",
            "add",
            "local",
            "--base-url",
            "http://127.0.0.1:8000",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("did you mean `http://127.0.0.1:8000/v1`"),
        "{}",
        text(&out)
    );
    // The single compat backend becomes the default, and `backend add` says so.
    assert!(
        text(&out).contains("Default backend (models no rule claims): local"),
        "{}",
        text(&out)
    );
    let out = dario(
        &home,
        1,
        &[
            "backend",
            "add",
            "deepseek",
            "--key-env",
            "DEEPSEEK_API_KEY",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    // A second one removes the implicit default: said too.
    assert!(text(&out).contains("No default backend"), "{}", text(&out));
    let route = dario(&home, 1, &["route", "deepseek-chat", "--json"], &[]);
    let d: Value = serde_json::from_slice(&route.stdout).unwrap();
    assert_eq!(d["backend"], "deepseek", "{d}");
    // `route` shows the default (or its absence) for any model.
    let route = dario(&home, 1, &["route", "deepseek-chat"], &[]);
    assert!(
        String::from_utf8_lossy(&route.stdout)
            .lines()
            .any(|l| l.starts_with("default ") && l[8..].trim_start().starts_with("none (")),
        "{}",
        text(&route)
    );
}

// ---- problem 4: config changes reach a running proxy ------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_add_and_file_changes_reach_a_running_proxy_and_doctor_sees_a_refused_one() {
    let up = StandIn::start().await;
    let home = DarioHome::new();
    builtins_at(&home, &up);
    let p = Proxy::start(&home, &[]);
    assert_eq!(chat(&p.base, "newprov-1").await.status(), 404);

    // `dario backend add` tells the running proxy, which routes the new model at once.
    let url = up.openai_url();
    let out = dario(
        &home,
        p.port,
        &[
            "backend",
            "add",
            "newprov",
            "--base-url",
            &url,
            "--key",
            "sk-newprov-key",
            "--model",
            "newprov-*",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("The running proxy picked up the change"),
        "{}",
        text(&out)
    );
    let r = chat(&p.base, "newprov-1").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-dario-backend"], "newprov");

    // A file written by hand is picked up by the watcher.
    home.backend(
        "handmade",
        json!({"protocol": "openai", "base_url": up.openai_url(), "key": "k2", "models": ["hand-*"]}),
    );
    wait_routed(&p.base, "hand-1", "handmade").await;

    // A change that names a missing backend is refused; the running config stays, `dario
    // reload` says why, and doctor sees the running config differ from disk.
    home.config_toml("default_backend = \"nowhere\"\n");
    p.wait_log("configuration change refused");
    assert_eq!(chat(&p.base, "hand-1").await.status(), 200);
    let out = dario(&home, p.port, &["reload"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("config.toml:1:") && text(&out).contains("`nowhere`"),
        "{}",
        text(&out)
    );
    let doctor = dario(&home, p.port, &["doctor", "--json"], &[]);
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let row = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "proxy config")
        .unwrap_or_else(|| panic!("no `proxy config` row: {report}"));
    assert_eq!(row["status"], "warn");
    assert!(row["fix"].as_str().unwrap().contains("dario reload"));

    // Fixed: `dario reload` applies it, and doctor no longer complains.
    home.config_toml("default_backend = \"handmade\"\n");
    let out = dario(&home, p.port, &["reload"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    wait_routed(&p.base, "anything-else", "handmade").await;
    let doctor = dario(&home, p.port, &["doctor", "--json"], &[]);
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert!(
        !report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["label"] == "proxy config"),
        "{report}"
    );
}

#[test]
fn reload_without_a_proxy_says_how_to_start_one() {
    let home = DarioHome::new();
    let port = free_port();
    let out = dario(&home, port, &["reload"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("dario proxy"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_does_not_cut_a_stream_in_flight() {
    let up = StandIn::start().await;
    let home = DarioHome::new();
    builtins_at(&home, &up);
    let p = Proxy::start(&home, &[]);
    let events = support::standin::openai_sse(
        &support::standin::canned_content("plain"),
        "gpt-4o-mini",
        false,
    );
    let n = events.len();
    up.push(Reply::sse(events).paced(Duration::from_millis(150)));
    let mut r = client()
        .post(format!("{}/v1/chat/completions", p.base))
        .header("authorization", "Bearer sk-placeholder")
        .header("content-type", "application/json")
        .body(
            json!({"model": "gpt-4o-mini", "stream": true,
                   "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = String::from_utf8(r.chunk().await.unwrap().unwrap().to_vec()).unwrap();

    // The configuration changes under the stream: a new backend, reloaded at once.
    let url = up.openai_url();
    let (home_dir, dir) = (home.home().to_path_buf(), home.dir().to_path_buf());
    let port = p.port;
    let out = tokio::task::spawn_blocking(move || {
        dario_at(
            &home_dir,
            &dir,
            port,
            &[
                "backend",
                "add",
                "late",
                "--base-url",
                &url,
                "--model",
                "late-*",
            ],
            &[],
        )
    })
    .await
    .unwrap();
    assert!(
        text(&out).contains("The running proxy picked up the change"),
        "{}",
        text(&out)
    );
    while let Some(chunk) = r.chunk().await.unwrap() {
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    assert_eq!(body.matches("data: ").count(), n, "{body}");
    // And the new configuration serves new requests.
    wait_routed(&p.base, "late-1", "late").await;
}
