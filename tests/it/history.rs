//! The usage history on disk with the real binary: it survives SIGTERM and restart (`dario stats
//! --json` and `/analytics?since=` show everything), a SIGKILL loses at most one batch, and a
//! damaged database never stops the proxy (it says so in `/status` and `dario doctor`, and the
//! file is left as it was).

use crate::support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::home::DarioHome;
use support::process::{start_process, Running};
use support::standin::StandIn;
use support::*;

/// The batch size `dario::history` documents (a SIGKILL loses at most this many records).
const BATCH: u64 = dario::history::BATCH_SIZE as u64;

fn home_with_standin(standin: &StandIn) -> DarioHome {
    let home = DarioHome::new();
    home.backend(
        "compat",
        json!({"protocol": "openai", "base_url": standin.openai_url(),
               "key": "sk-compat-history-test-0001", "models": ["llama-*"]}),
    );
    home
}

fn start(home: &Path) -> Running {
    start_process::<&str, &str>(home, &["proxy"], &[])
}

/// `n` requests: OpenAI chat in, and every third one Anthropic Messages in (translated), with
/// Claude Code session headers on the even ones.
async fn traffic(base: &str, n: usize) {
    let c = client();
    for i in 0..n {
        let mut req = if i % 3 == 2 {
            c.post(format!("{base}/v1/messages"))
                .header("content-type", "application/json")
                .body(
                    json!({
                        "model": "llama-3.3", "max_tokens": 16,
                        "messages": [{"role": "user", "content": "hi"}]
                    })
                    .to_string(),
                )
        } else {
            c.post(format!("{base}/v1/chat/completions"))
                .header("content-type", "application/json")
                .body(
                    json!({"model": "llama-3.3", "messages": [{"role": "user", "content": "hi"}]})
                        .to_string(),
                )
        };
        if i % 2 == 0 {
            req = req
                .header("user-agent", "claude-cli/2.1.332 (external, cli)")
                .header("x-claude-code-session-id", "session-history-test")
                .header("x-claude-code-agent-id", format!("agent-{}", i % 4));
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }
}

fn stats_json(home: &DarioHome, since: &str) -> Value {
    let out = home
        .command(&["stats", "--json", "--since", since])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["periods"][0]["summary"].clone()
}

/// How long a stopped or killed dario may take to exit.
const EXIT: Duration = Duration::from_secs(15);

async fn get_json(url: String) -> Value {
    json(client().get(url).send().await.unwrap()).await
}

fn totals(summary: &Value) -> (u64, u64, f64) {
    let t = &summary["window"]["totals"];
    (
        t["requests"].as_u64().unwrap(),
        t["tokens"]["total"].as_u64().unwrap(),
        t["cost_usd"].as_f64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_sigterm_and_restart() {
    let standin = StandIn::start().await;
    let home = home_with_standin(&standin);

    let mut p = start(home.dir());
    traffic(&p.base, 9).await;
    // Before the restart, /analytics?since= (history) agrees with the in-memory window.
    let since = get_json(format!("{}/analytics?since=24h", p.base)).await;
    let memory = get_json(format!("{}/analytics", p.base)).await;
    assert_eq!(since["source"], "history");
    assert_eq!(totals(&since).0, 9);
    assert_eq!(
        since["window"]["totals"]["tokens"],
        memory["window"]["totals"]["tokens"]
    );
    assert_eq!(
        since["window"]["totals"]["requests"],
        memory["window"]["totals"]["requests"]
    );
    p.signal("-TERM");
    assert!(p.wait_exit(EXIT).success());

    // Stopped: `dario stats` reads the file itself.
    let stopped = stats_json(&home, "24h");
    assert_eq!(stopped["source"], "history");
    assert_eq!(totals(&stopped), totals(&since));
    let sessions = stopped["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["session_id"], "session-history-test");
    assert_eq!(sessions[0]["requests"], 5);
    assert_eq!(sessions[0]["agents"], 2);
    assert_eq!(sessions[0]["client"], "claude-code");
    let clients: Vec<&str> = stopped["window"]["by_client"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client"].as_str().unwrap())
        .collect();
    assert!(clients.contains(&"claude-code"), "{clients:?}");

    // Started again: the old records are there, and new ones add to them.
    let mut p = start(home.dir());
    traffic(&p.base, 4).await;
    let after = get_json(format!("{}/analytics?since=7d", p.base)).await;
    assert_eq!(totals(&after).0, 13);
    let memory = get_json(format!("{}/analytics", p.base)).await;
    assert_eq!(memory["window"]["totals"]["requests"], 4, "memory restarts");
    let state = get_json(format!("{}/dashboard/state?since=7d", p.base)).await;
    assert_eq!(
        state["summary"]["window"]["totals"],
        after["window"]["totals"]
    );
    assert_eq!(state["recent"].as_array().unwrap().len(), 13);
    p.signal("-TERM");
    assert!(p.wait_exit(EXIT).success());
    let stats = stats_json(&home, "30d");
    assert_eq!(totals(&stats), totals(&after));
    // Percentiles are the same arithmetic over the same rows.
    assert_eq!(
        stats["window"]["totals"]["latency_ms"],
        after["window"]["totals"]["latency_ms"]
    );

    // Nothing secret in the file: not the backend key, not the prompt.
    let bytes = std::fs::read(home.dir().join("history.sqlite3")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("sk-compat-history-test"));
    assert!(text.contains("session-history-test"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.dir().join("history.sqlite3"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_at_most_one_batch() {
    let standin = StandIn::start().await;
    let home = home_with_standin(&standin);
    let mut p = start(home.dir());
    let sent = 2 * BATCH as usize + 50;
    traffic(&p.base, sent).await;
    // The kill lands once the full batches are committed (`written` in /status): the writer
    // thread commits a batch when it fills, and how soon it runs on a loaded machine is not
    // what this test is about (a kill during that commit lost two batches under load).
    let full = sent as u64 / BATCH * BATCH;
    let deadline = Instant::now() + EXIT;
    loop {
        let status = get_json(format!("{}/status", p.base)).await;
        let written = status["history"]["written"].as_u64().unwrap();
        if written >= full {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the writer committed {written} of {full} records: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p.signal("-KILL");
    let _ = p.wait_exit(EXIT);
    let stats = stats_json(&home, "24h");
    let kept = totals(&stats).0;
    assert!(
        kept <= sent as u64 && kept + BATCH >= sent as u64,
        "kept {kept} of {sent}: a SIGKILL may lose at most one batch ({BATCH})"
    );
    // The database is intact after the kill (WAL recovery) and takes new records.
    let mut p = start(home.dir());
    traffic(&p.base, 3).await;
    p.signal("-TERM");
    assert!(p.wait_exit(EXIT).success());
    assert_eq!(totals(&stats_json(&home, "24h")).0, kept + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_is_reported_and_left_alone() {
    let standin = StandIn::start().await;
    let home = home_with_standin(&standin);
    let db = home.dir().join("history.sqlite3");
    let junk = b"not a database; dario must neither replace nor rename me\n".repeat(200);
    std::fs::write(&db, &junk).unwrap();
    let mut p = start(home.dir());
    traffic(&p.base, 3).await;
    let status = get_json(format!("{}/status", p.base)).await;
    assert_eq!(status["history"]["state"], "unavailable", "{status}");
    assert!(status["history"]["error"]
        .as_str()
        .unwrap()
        .contains("history.sqlite3"));
    // Still counting in memory; a short span falls back to memory, a long one says why not.
    let a = get_json(format!("{}/analytics?since=24h", p.base)).await;
    assert_eq!(a["source"], "memory");
    assert_eq!(a["window"]["totals"]["requests"], 3);
    let r = client()
        .get(format!("{}/analytics?since=30d", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(json(r).await.to_string().contains("not available"));

    let out = home
        .command(&["doctor", "--json"])
        .env("DARIO_PORT", p.base.rsplit(':').next().unwrap())
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "history")
        .expect("a history row")
        .clone();
    assert_eq!(row["status"], "fail", "{row}");
    assert!(row["fix"].as_str().unwrap().contains(".broken"));
    assert!(!out.status.success());
    p.signal("-TERM");
    assert!(p.wait_exit(EXIT).success());
    assert_eq!(std::fs::read(&db).unwrap(), junk);
    let err = home.command(&["stats"]).output().unwrap();
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("move it aside"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_off_writes_nothing() {
    let standin = StandIn::start().await;
    let home = home_with_standin(&standin);
    std::fs::write(
        home.dir().join("config.toml"),
        "[history]\nenabled = false\n",
    )
    .unwrap();
    let mut p = start(home.dir());
    traffic(&p.base, 2).await;
    let status = get_json(format!("{}/status", p.base)).await;
    assert_eq!(status["history"]["state"], "disabled");
    p.signal("-TERM");
    assert!(p.wait_exit(EXIT).success());
    assert!(!home.dir().join("history.sqlite3").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_page_feed_and_root() {
    let standin = StandIn::start().await;
    let home = home_with_standin(&standin);
    let mut p = start(home.dir());
    let c = client();
    // Non-browser clients keep the JSON root; a browser is sent to the dashboard.
    let root = c.get(format!("{}/", p.base)).send().await.unwrap();
    assert_eq!(root.status(), 200);
    assert_eq!(json(root).await["service"], "dario");
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .get(format!("{}/", p.base))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/dashboard");
    let page = c.get(format!("{}/dashboard", p.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"));
    let html = page.text().await.unwrap();
    assert!(html.contains("src=\"/dashboard/app.js\"") && !html.contains("<script>"));
    for asset in ["/dashboard/app.js", "/dashboard/app.css"] {
        let r = c.get(format!("{}{asset}", p.base)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }

    // The feed: a state snapshot first, then a record for a request made while watching.
    let mut feed = c
        .get(format!("{}/dashboard/events", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        feed.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut text = String::new();
    while !text.contains("event: state") {
        text.push_str(&String::from_utf8_lossy(
            &feed.chunk().await.unwrap().unwrap(),
        ));
    }
    traffic(&p.base, 1).await;
    while !text.contains("event: record") {
        text.push_str(&String::from_utf8_lossy(
            &feed.chunk().await.unwrap().unwrap(),
        ));
    }
    let record_line = text
        .split("event: record\ndata: ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    let rec: Value = serde_json::from_str(record_line).unwrap();
    assert_eq!(rec["client"], "claude-code");
    assert_eq!(rec["session_id"], "session-history-test");
    assert_eq!(rec["endpoint"], "/v1/chat/completions");
    assert!(!record_line.contains("sk-compat"));
    // SIGTERM ends the open feed instead of waiting out the grace period.
    p.signal("-TERM");
    assert!(p.wait_exit(EXIT).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_data_needs_the_api_key() {
    let standin = StandIn::start().await;
    let home = home_with_standin(&standin);
    let p = start_process(
        home.dir(),
        &["proxy"],
        &[("DARIO_API_KEY", "dario-test-key-123")],
    );
    let c = client();
    // The page itself holds no data and loads without the key (it asks for it).
    let r = c.get(format!("{}/dashboard", p.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    for path in [
        "/dashboard/state",
        "/dashboard/events",
        "/analytics?since=7d",
    ] {
        let r = c.get(format!("{}{path}", p.base)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let r = c
            .get(format!("{}{path}", p.base))
            .header("x-api-key", "dario-test-key-123")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
}
