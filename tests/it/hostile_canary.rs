//! Hostile-input suite, the secrets canary (issue 13): one random key, configured for two
//! backends, goes through everything dario does — the real `dario proxy -vv`, an upstream that
//! echoes the key back in error bodies, headers and a broken stream, refused connections,
//! translation errors, malformed requests, every admin endpoint and dashboard page,
//! `dario doctor --online`, `backend list`, `route`, `stats`, and every tool of `dario mcp` —
//! and not one 8-character run of it may appear in any stdout, stderr, HTTP response or file
//! under DARIO_HOME (other than the backend files that hold it).

use crate::support;

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, JsonObject,
};
use rmcp::transport::TokioChildProcess;
use rmcp::ServiceExt;
use serde_json::json;
use support::{Reply, StandIn};

/// A fresh random key: `sk-` and 40 characters from the process's random hasher seeds.
fn random_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::from("sk-");
    while out.len() < 43 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(out.len());
        let mut v = h.finish();
        for _ in 0..8 {
            out.push(ALPHABET[(v % ALPHABET.len() as u64) as usize] as char);
            v /= ALPHABET.len() as u64;
        }
    }
    out.truncate(43);
    out
}

/// Every place one of `key`'s 8-character runs appears in `text` (the run's first two
/// characters only, so the report itself leaks nothing).
fn leaks(key: &str, text: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(text);
    (0..=key.len() - 8)
        .map(|i| &key[i..i + 8])
        .find(|w| text.contains(w))
        .map(|w| format!("a run of the key starting {:?}…", &w[..2]))
}

struct Proxy {
    child: Child,
    port: u16,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dario(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dario"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("DARIO_HOME", home.join(".dario"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .stdin(Stdio::null());
    cmd
}

fn start_proxy(home: &Path, logs: &Path) -> Proxy {
    let stdout = logs.join("proxy.stdout");
    let stderr = logs.join("proxy.stderr");
    let child = dario(home)
        .args(["proxy", "-vv"])
        .env("DARIO_PORT", "0")
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let port = loop {
        let text = std::fs::read_to_string(&stderr).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("listening on")) {
            let url = line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .unwrap();
            break url
                .rsplit(':')
                .next()
                .unwrap()
                .trim_matches('/')
                .parse()
                .unwrap();
        }
        assert!(Instant::now() < deadline, "dario never listened: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    Proxy {
        child,
        port,
        stdout,
        stderr,
    }
}

/// Runs a CLI command; its stdout and stderr together.
fn run(home: &Path, args: &[&str], port: u16) -> Vec<u8> {
    let out = dario(home)
        .args(args)
        .env("DARIO_PORT", port.to_string())
        .output()
        .unwrap();
    let mut all = out.stdout;
    all.extend_from_slice(&out.stderr);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_key_never_leaves_its_backend_file() {
    let key = random_key();
    let up = StandIn::start().await;
    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let dario_home = home.join(".dario");
    let backends = dario_home.join("backends");
    std::fs::create_dir_all(&backends).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for d in [&dario_home, &backends] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
    }
    // The key's own files: an OpenAI-protocol and an Anthropic-protocol backend on the
    // stand-in, and one whose server refuses connections.
    let key_files = [
        (
            "canaryo",
            json!({"name": "canaryo", "protocol": "openai", "base_url": up.openai_url(),
                "key": key, "models": ["canary-o-*"]}),
        ),
        (
            "canarya",
            json!({"name": "canarya", "protocol": "anthropic", "base_url": up.anthropic_url(),
                "key": key, "models": ["canary-a-*"]}),
        ),
        (
            "canarydead",
            json!({"name": "canarydead", "protocol": "openai",
                "base_url": format!("http://127.0.0.1:{dead_port}/v1"),
                "key": key, "models": ["canary-dead-*"]}),
        ),
    ];
    for (name, file) in &key_files {
        let path = backends.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(file).unwrap()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    let proxy = start_proxy(&home, &logs);
    let base = format!("http://127.0.0.1:{}", proxy.port);
    let http = support::client();
    let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
    async fn record(seen: &mut Vec<(String, Vec<u8>)>, what: String, r: reqwest::Response) {
        let mut text = format!("{} {:?}\n", r.status(), r.headers()).into_bytes();
        text.extend_from_slice(&r.bytes().await.unwrap_or_default());
        seen.push((what, text));
    }

    // The upstream echoes the key the ways providers do: whole in the message, in a header,
    // a prefix, a run from the middle.
    let echo = format!(
        "Incorrect API key provided: {key}. You passed `{}…{}`",
        &key[..12],
        &key[20..32]
    );
    let openai_401 = || {
        Reply::status(
            401,
            json!({"error": {"message": echo, "type": "invalid_request_error", "code": "invalid_api_key"}}),
        )
        .with_headers(&[("x-echo-key", &key), ("www-authenticate", &format!("Bearer {key}"))])
    };
    let anthropic_401 = || {
        Reply::status(
            401,
            json!({"type": "error", "error": {"type": "authentication_error", "message": echo}}),
        )
        .with_headers(&[("x-echo-key", &key), ("request-id", &key[5..30])])
    };
    let chat = |model: &str, stream: bool| {
        json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
            .to_string()
    };
    let messages = |model: &str, stream: bool| {
        json!({"model": model, "max_tokens": 5, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
            .to_string()
    };
    // (path, body, scripted reply)
    let cases: Vec<(&str, String, Option<Reply>)> = vec![
        // Bad key: passthrough and translated, JSON and stream, both protocols.
        ("/v1/chat/completions", chat("canary-o-1", false), Some(openai_401())),
        ("/v1/chat/completions", chat("canary-o-1", true), Some(openai_401())),
        ("/v1/messages", messages("canary-o-1", false), Some(openai_401())),
        ("/v1/messages", messages("canary-o-1", true), Some(openai_401())),
        ("/v1/messages", messages("canary-a-1", false), Some(anthropic_401())),
        ("/v1/chat/completions", chat("canary-a-1", true), Some(anthropic_401())),
        ("/v1/responses", json!({"model": "canary-o-1", "input": "hi"}).to_string(), Some(openai_401())),
        // A stream that carries the key and then breaks.
        (
            "/v1/chat/completions",
            chat("canary-o-1", true),
            Some(
                Reply::sse(vec![
                    format!("data: {}\n\n", json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                        "choices": [{"index": 0, "delta": {"content": format!("your key is {key}")}, "finish_reason": null}]})),
                    "never".into(),
                ])
                .reset_after(1),
            ),
        ),
        (
            "/v1/messages",
            messages("canary-o-1", true),
            Some(
                Reply::sse(vec![format!("data: {{\"error\":{{\"message\":\"bad key {key}\"}}}}\n\n")])
                    .hanging(),
            )
            .map(|r| r.paced(Duration::from_millis(1))),
        ),
        // An error body that is not JSON.
        (
            "/v1/messages",
            messages("canary-o-1", false),
            Some(
                Reply::sse(vec![format!("<html>denied for {key}</html>")])
                    .with_status(403)
                    .with_headers(&[("content-type", "text/html")]),
            ),
        ),
        // Connection refused.
        ("/v1/chat/completions", chat("canary-dead-1", false), None),
        ("/v1/messages", messages("canary-dead-1", true), None),
        // Translation errors and malformed requests.
        (
            "/v1/chat/completions",
            json!({"model": "canary-a-1", "n": 3, "messages": [{"role": "user", "content": "hi"}]}).to_string(),
            None,
        ),
        ("/v1/messages", "{not json".into(), None),
        ("/v1/chat/completions", json!({"messages": []}).to_string(), None),
        ("/v1/messages", json!({"model": "nobody-routes-this", "max_tokens": 1, "messages": []}).to_string(), None),
        ("/v1/messages/count_tokens", messages("canary-a-1", false), Some(anthropic_401())),
        ("/v1/messages/count_tokens", messages("canary-o-1", false), None),
    ];
    for (path, body, reply) in cases {
        if let Some(r) = reply {
            up.push(r);
        }
        let r = tokio::time::timeout(
            Duration::from_secs(30),
            http.post(format!("{base}{path}"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send(),
        )
        .await
        .expect("dario answers")
        .unwrap();
        let what = format!("POST {path} {body}");
        if r.headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
        {
            // A stream dario does not end by itself (the upstream hangs) is read for a while.
            let mut text = format!("{} {:?}\n", r.status(), r.headers()).into_bytes();
            let mut r = r;
            while let Ok(Ok(Some(c))) =
                tokio::time::timeout(Duration::from_secs(2), r.chunk()).await
            {
                text.extend_from_slice(&c);
            }
            seen.push((what, text));
        } else {
            record(&mut seen, what, r).await;
        }
    }
    // The stand-in did receive the key (it is configured and sent), so the canary is live.
    assert!(
        up.requests().iter().any(|r| {
            r.header("authorization").is_some_and(|v| v.contains(&key))
                || r.header("x-api-key").is_some_and(|v| v == key)
        }),
        "the key was never sent upstream: the canary proves nothing"
    );

    // Every admin endpoint and dashboard page.
    for path in [
        "/",
        "/api/hello",
        "/health",
        "/status",
        "/pool",
        "/analytics",
        "/analytics?window=1h",
        "/metrics",
        "/v1/models",
        "/models",
        "/dashboard",
        "/dashboard/app.js",
        "/dashboard/app.css",
        "/dashboard/state",
        "/nowhere",
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        record(&mut seen, format!("GET {path}"), r).await;
    }
    let mut feed = http
        .get(format!("{base}/dashboard/events"))
        .send()
        .await
        .unwrap();
    let mut text = format!("{} {:?}\n", feed.status(), feed.headers()).into_bytes();
    while let Ok(Ok(Some(c))) = tokio::time::timeout(Duration::from_secs(2), feed.chunk()).await {
        text.extend_from_slice(&c);
    }
    seen.push(("GET /dashboard/events".into(), text));
    let r = http
        .post(format!("{base}/admin/reload"))
        .send()
        .await
        .unwrap();
    record(&mut seen, "POST /admin/reload".into(), r).await;

    // The CLI, with the proxy running. doctor --online probes each backend with its key; the
    // stand-in answers the probes with the echoing 401.
    for _ in 0..4 {
        up.push(openai_401());
    }
    let port = proxy.port;
    for args in [
        &["doctor"][..],
        &["doctor", "--json"],
        &["doctor", "--online"],
        &["backend", "list"],
        &["backend", "list", "--json"],
        &["route", "canary-o-1"],
        &["reload"],
    ] {
        seen.push((format!("dario {}", args.join(" ")), run(&home, args, port)));
    }

    // Every tool of `dario mcp`, live (the proxy runs).
    {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_dario"));
        cmd.arg("mcp")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("DARIO_HOME", &dario_home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("DARIO_HOST", "127.0.0.1")
            .env("DARIO_PORT", port.to_string());
        let (transport, stderr) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let client = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("dario-canary-test", "0"),
        )
        .serve(transport)
        .await
        .expect("mcp handshake");
        let tools = client.list_all_tools().await.unwrap();
        assert!(tools.len() >= 9, "{tools:?}");
        for t in &tools {
            let mut args = JsonObject::new();
            match t.name.as_ref() {
                "route_explain" => {
                    args.insert("model".into(), json!("canary-o-1"));
                }
                "analytics_summary" => {
                    args.insert("window_minutes".into(), json!(60));
                }
                _ => {}
            }
            let r = client
                .call_tool(CallToolRequestParams::new(t.name.to_string()).with_arguments(args))
                .await
                .unwrap_or_else(|e| panic!("tools/call {}: {e}", t.name));
            seen.push((format!("mcp {}", t.name), serde_json::to_vec(&r).unwrap()));
        }
        for uri in client.list_all_resources().await.unwrap() {
            let r = client
                .read_resource(rmcp::model::ReadResourceRequestParams::new(uri.uri.clone()))
                .await
                .unwrap();
            seen.push((format!("mcp {}", uri.uri), serde_json::to_vec(&r).unwrap()));
        }
        client.cancel().await.unwrap();
        if let Some(mut e) = stderr {
            use tokio::io::AsyncReadExt;
            let mut buf = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(10), e.read_to_end(&mut buf)).await;
            seen.push(("mcp stderr".into(), buf));
        }
    }

    // Stop the proxy (SIGTERM: history flushed), then `dario stats` from its files.
    let mut proxy = proxy;
    assert!(Command::new("kill")
        .args(["-TERM", &proxy.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "dario did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    for args in [&["stats"][..], &["stats", "--json"]] {
        seen.push((format!("dario {}", args.join(" ")), run(&home, args, port)));
    }
    let stderr = std::fs::read(&proxy.stderr).unwrap();
    assert!(
        String::from_utf8_lossy(&stderr).contains("DEBUG")
            || String::from_utf8_lossy(&stderr).contains("TRACE"),
        "-vv logged at debug level"
    );
    seen.push(("proxy stderr".into(), stderr));
    seen.push(("proxy stdout".into(), std::fs::read(&proxy.stdout).unwrap()));

    // Every file under DARIO_HOME (and HOME) but the backend files that hold the key.
    let own: Vec<PathBuf> = key_files
        .iter()
        .map(|(n, _)| backends.join(format!("{n}.json")))
        .collect();
    let mut stack = vec![home.clone()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !own.contains(&p) {
                files += 1;
                seen.push((format!("file {}", p.display()), std::fs::read(&p).unwrap()));
            }
        }
    }
    assert!(files >= 1, "dario wrote no file at all (history?)");

    let found: Vec<String> = seen
        .iter()
        .filter_map(|(what, text)| leaks(&key, text).map(|l| format!("{what}: {l}")))
        .collect();
    assert!(
        found.is_empty(),
        "the key leaked ({} of {} outputs):\n{}",
        found.len(),
        seen.len(),
        found.join("\n")
    );
    // The outputs are real ones, not empty shells.
    let all: Vec<u8> = seen.iter().flat_map(|(_, t)| t.clone()).collect();
    let all = String::from_utf8_lossy(&all);
    for expected in [
        "401",
        "502",
        "canaryo",
        "canarya",
        "canarydead",
        "event: error",
    ] {
        assert!(
            all.contains(expected),
            "no {expected:?} anywhere in the outputs"
        );
    }
}
