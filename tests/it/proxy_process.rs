//! The real `dario` binary as a process: default command, refusal to bind off loopback without a
//! key, SIGHUP hot reload (a bad file keeps the old config), SIGTERM exits 0.

use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::home::DarioHome;
use support::process::{start_process, Running};
use support::*;

fn dario() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dario"))
}

/// Starts `dario [args]` on an ephemeral port and waits for its "listening on" line.
fn start(home: &std::path::Path, args: &[&str]) -> Running {
    start_process::<&str, &str>(home, args, &[])
}

/// SIGTERM, then a successful exit within 10 s.
fn terminate_and_expect_clean_exit(p: &mut Running) {
    p.signal("-TERM");
    let status = p.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn no_command_runs_the_proxy_and_sigterm_exits_zero() {
    let home = DarioHome::new();
    let mut p = start(home.dir(), &[]);
    let r = client()
        .get(format!("{}/health", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(json(r).await["service"], "dario");
    terminate_and_expect_clean_exit(&mut p);
}

#[test]
fn refuses_a_public_bind_without_an_api_key() {
    let home = DarioHome::new();
    let out = dario()
        .args(["proxy", "--host", "0.0.0.0", "--port", "0"])
        .env("DARIO_HOME", home.dir())
        .env_remove("DARIO_API_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DARIO_API_KEY") && err.contains("--allow-unauthenticated"),
        "{err}"
    );
}

#[tokio::test]
async fn sighup_reloads_and_a_bad_config_keeps_the_old_one() {
    let up = StandIn::start().await;
    let home = DarioHome::new();
    let p = start(home.dir(), &["proxy"]);
    let c = client();
    let ask = |model: &'static str| {
        let c = c.clone();
        let url = format!("{}/v1/chat/completions", p.base);
        async move {
            c.post(url)
                .body(format!(r#"{{"model":"{model}","messages":[]}}"#))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(ask("llama-local").await, 404);

    home.backend_file(
        "local",
        &format!(
            r#"{{"name":"local","protocol":"openai","base_url":"{}","models":["llama-*"]}}"#,
            up.openai_url()
        ),
    );
    p.signal("-HUP");
    let mut status = 0;
    for _ in 0..100 {
        status = ask("llama-local").await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200, "the new backend is live after SIGHUP");

    // A malformed config.toml is rejected; the running config stays.
    std::fs::write(
        home.dir().join("config.toml"),
        "default_backend = [unclosed\n",
    )
    .unwrap();
    p.signal("-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ask("llama-local").await, 200);
    assert_eq!(
        std::fs::read_to_string(home.dir().join("config.toml")).unwrap(),
        "default_backend = [unclosed\n",
        "a corrupt file is never rewritten"
    );
}

/// `--workers 2`: two threads accept from the same socket, each with its own upstream pool.
/// Many concurrent keep-alive clients all get answers, every request is counted once, both
/// threads exist, and SIGTERM still drains and exits 0.
#[tokio::test]
async fn two_workers_serve_and_count_everything_and_exit_cleanly() {
    let up = StandIn::start().await;
    let home = DarioHome::new();
    home.backend_file(
        "openai",
        &format!(
            r#"{{"name":"openai","protocol":"openai","base_url":"{}","passthrough":true}}"#,
            up.openai_url()
        ),
    );
    let mut p = start(home.dir(), &["proxy", "--workers", "2"]);

    let clients: Vec<_> = (0..16)
        .map(|_| {
            // One keep-alive connection per client, so connections spread over both workers.
            // (reqwest is built without a crypto provider: install the process default first,
            // or this test fails when it runs alone.)
            dario::proxy::install_crypto_provider();
            let c = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let url = format!("{}/v1/chat/completions", p.base);
            tokio::spawn(async move {
                let mut ok = 0;
                let mut ids = Vec::new();
                for _ in 0..20 {
                    let r = c
                        .post(&url)
                        .header("authorization", "Bearer sk-client")
                        .body(r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#)
                        .send()
                        .await
                        .unwrap();
                    if let Some(id) = r.headers().get("x-dario-request-id") {
                        ids.push(id.to_str().unwrap().to_string());
                    }
                    if r.status() == 200 && r.bytes().await.unwrap().len() > 10 {
                        ok += 1;
                    }
                }
                (ok, ids)
            })
        })
        .collect();
    let mut ok = 0;
    let mut ids = std::collections::HashSet::new();
    for c in clients {
        let (n, mine) = c.await.unwrap();
        ok += n;
        ids.extend(mine);
    }
    assert_eq!(ok, 16 * 20);
    // Request ids are numbered per worker (no shared counter) and still never repeat.
    assert_eq!(ids.len(), 16 * 20);
    assert_eq!(up.requests().len(), 16 * 20);
    let threads = std::fs::read_dir(format!("/proc/{}/task", p.child.id()))
        .unwrap()
        .count();
    assert!(
        threads >= 2,
        "expected a second worker thread, found {threads}"
    );

    let s = json(
        client()
            .get(format!("{}/analytics?window=60", p.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s["window"]["totals"]["requests"], 16 * 20, "{s}");
    // The per-worker counters, summed: every proxied request once (plus the /analytics read).
    let metrics = client()
        .get(format!("{}/metrics", p.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(name))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
            .sum()
    };
    assert_eq!(value("dario_requests_total{"), 320.0, "{metrics}");
    assert_eq!(
        value("dario_http_requests_received_total "),
        322.0,
        "{metrics}"
    );

    terminate_and_expect_clean_exit(&mut p);
}

/// issue 13: a flood of wrong API keys gets 401s, never locks the real key out, and writes a
/// bounded number of log lines (at most 20 a second, the rest summed up in one line).
#[tokio::test]
async fn a_flood_of_wrong_keys_neither_locks_out_the_real_one_nor_floods_the_log() {
    let up = StandIn::start().await;
    let home = DarioHome::new();
    home.backend_file(
        "openai",
        &format!(
            r#"{{"protocol":"openai","base_url":"{}","passthrough":true}}"#,
            up.openai_url()
        ),
    );
    let mut dario = start_process(
        home.dir(),
        &["proxy"],
        &[("DARIO_API_KEY", "the-real-dario-key-7c1e")],
    );
    let base = dario.base.clone();
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
    let c = client();
    let started = Instant::now();
    const FLOOD: usize = 600;
    for i in 0..FLOOD {
        let r = c
            .post(format!("{base}/v1/chat/completions"))
            .header("authorization", format!("Bearer wrong-key-{i}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let secs = started.elapsed().as_secs() + 1;
    // The real key still works at once.
    let r = c
        .post(format!("{base}/v1/chat/completions"))
        .header("x-api-key", "the-real-dario-key-7c1e")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        up.requests().len() == 1,
        "no wrong-key request went upstream"
    );
    // Every refusal is counted.
    let a: serde_json::Value = json(
        c.get(format!("{base}/analytics"))
            .header("x-api-key", "the-real-dario-key-7c1e")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a["window"]["totals"]["requests"], FLOOD as u64 + 1, "{a}");
    terminate_and_expect_clean_exit(&mut dario);
    let text = dario.stderr_after_exit().join("\n");
    let lines = text
        .lines()
        .filter(|l| l.contains("failed with 401"))
        .count();
    assert!(lines >= 20, "the first failures are logged: {lines}");
    assert!(
        lines as u64 <= 20 * (secs + 1),
        "{lines} failure lines for {FLOOD} refusals in {secs} s"
    );
    assert!(
        !text.contains("wrong-key-"),
        "a refused key was written to the log"
    );
}
