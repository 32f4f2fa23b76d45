//! Soak (issue 13; a benchmark, not a CI step): the real `dario proxy` process under mixed
//! streaming / non-streaming traffic, passthrough and translated, both protocols, for a long
//! time, with faults injected on a separate backend — upstream 400 error bodies, resets
//! mid-stream, stalls past the stream idle deadline, clients that leave mid-stream. It reports
//! the proxy's RSS, descriptors and threads over time, errors by class (only the injected ones
//! may appear), and what is left open at the end against the start.
//!
//!   cargo build --release && cargo run --release --example soak -- [MINUTES] [WORKERS]
//!
//! MINUTES defaults to 30, WORKERS (clean traffic loops) to 8. DARIO_BIN names the binary to run
//! (default: the `dario` next to this example's build directory). Numbers of a run are in
//! docs/hardening.md.

#[path = "../tests/it/support/standin.rs"]
mod standin;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::json;
use standin::{Reply, StandIn};

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

fn count(c: &Counts, class: &str) {
    *c.lock().entry(class.to_string()).or_default() += 1;
}

fn proc_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn dario_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("DARIO_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/examples/soak → target/<profile>/dario
    exe.parent().unwrap().parent().unwrap().join("dario")
}

fn write_home(home: &std::path::Path, clean: &StandIn, faulty: &StandIn) {
    let backends = home.join("backends");
    std::fs::create_dir_all(&backends).unwrap();
    for (name, protocol, url, models) in [
        ("cleana", "anthropic", clean.anthropic_url(), "clean-a-*"),
        ("cleano", "openai", clean.openai_url(), "clean-o-*"),
        ("faultyo", "openai", faulty.openai_url(), "faulty-o-*"),
    ] {
        std::fs::write(
            backends.join(format!("{name}.json")),
            json!({"name": name, "protocol": protocol, "base_url": url, "key": "sk-soak", "models": [models]})
                .to_string(),
        )
        .unwrap();
    }
    std::fs::write(
        home.join("config.toml"),
        "[limits]\nstream_idle_timeout = 2\nmax_in_flight = 4096\n",
    )
    .unwrap();
}

/// One clean request; its outcome class ("ok" or what went wrong).
async fn clean_request(http: &reqwest::Client, base: &str, i: u64) -> &'static str {
    let stream = i.is_multiple_of(2);
    let model = if i % 4 < 2 { "clean-a-1" } else { "clean-o-1" };
    let anthropic_client = (i / 4).is_multiple_of(2);
    let (path, body) = if anthropic_client {
        (
            "/v1/messages",
            json!({"model": model, "max_tokens": 64, "stream": stream,
                "messages": [{"role": "user", "content": format!("soak {i}")}]}),
        )
    } else {
        (
            "/v1/chat/completions",
            json!({"model": model, "stream": stream,
                "messages": [{"role": "user", "content": format!("soak {i}")}]}),
        )
    };
    let r = match http
        .post(format!("{base}{path}"))
        .body(body.to_string())
        .send()
        .await
    {
        Ok(r) => r,
        Err(_) => return "clean: transport error",
    };
    if r.status() != 200 {
        return "clean: non-200";
    }
    let Ok(text) = r.text().await else {
        return "clean: body cut";
    };
    let complete = if !stream {
        serde_json::from_str::<serde_json::Value>(&text).is_ok()
    } else if anthropic_client {
        text.contains("event: message_stop")
    } else {
        text.contains("data: [DONE]")
    };
    if !complete {
        "clean: incomplete"
    } else if text.contains("\"error\"") {
        "clean: error in body"
    } else {
        "ok"
    }
}

/// One injected fault on the faulty backend, sequentially (nothing else uses that stand-in);
/// its outcome class.
async fn faulty_request(
    http: &reqwest::Client,
    base: &str,
    faulty: &StandIn,
    i: u64,
) -> &'static str {
    let chunk = |s: &str| {
        format!("data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{s}\"}},\"finish_reason\":null}}]}}\n\n")
    };
    let kind = i % 4;
    match kind {
        0 => faulty.push(Reply::status(
            400,
            json!({"error": {"message": "injected", "type": "invalid_request_error"}}),
        )),
        1 => faulty.push(Reply::sse(vec![chunk("a"), "never".into()]).reset_after(1)),
        2 => faulty.push(Reply::sse(vec![chunk("a")]).hanging()),
        _ => faulty.push(Reply::sse(vec![chunk("a")]).hanging()),
    }
    let body = json!({"model": "faulty-o-1", "max_tokens": 16, "stream": kind != 0,
        "messages": [{"role": "user", "content": "fault"}]});
    let r = match http
        .post(format!("{base}/v1/messages"))
        .body(body.to_string())
        .send()
        .await
    {
        Ok(r) => r,
        Err(_) => return "fault: transport error (unexpected)",
    };
    match kind {
        0 => {
            if r.status() == 400 {
                "injected 400 → 400 in the caller's envelope"
            } else {
                "fault 400: other status (unexpected)"
            }
        }
        3 => {
            // The client leaves after the first bytes.
            let mut r = r;
            let _ = r.chunk().await;
            drop(r);
            "injected client abort mid-stream"
        }
        _ => {
            let text = r.text().await.unwrap_or_default();
            let ended_with_error = text.contains("event: error") && !text.contains("message_stop");
            match (kind, ended_with_error) {
                (1, true) => "injected reset mid-stream → error event",
                (2, true) => "injected stall → idle timeout error event",
                _ => "fault stream: no error event (unexpected)",
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let minutes: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30.0);
    let workers: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(8);
    let clean = StandIn::start().await;
    let faulty = Arc::new(StandIn::start().await);
    let tmp = tempfile::tempdir().unwrap();
    write_home(tmp.path(), &clean, &faulty);
    let bin = dario_bin();
    let mut child = Command::new(&bin)
        .arg("proxy")
        .env("DARIO_HOME", tmp.path())
        .env("HOME", tmp.path())
        .env("DARIO_PORT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("listening on") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(line);
                }
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("dario listens");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    println!(
        "soak: {} ({}), {minutes} min, {workers} clean workers + 1 fault injector",
        bin.display(),
        base
    );

    dario::proxy::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    // Warm-up, then the start figures.
    for i in 0..64 {
        clean_request(&http, &base, i).await;
    }
    let start_rss = proc_kb(pid, "VmRSS:");
    let start_fds = fds(pid);
    let start_threads = proc_kb(pid, "Threads:");
    println!("start: RSS {start_rss} KiB, fds {start_fds}, threads {start_threads}");

    let counts: Counts = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (http, base, counts, stop, done) = (
            http.clone(),
            base.clone(),
            counts.clone(),
            stop.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let class = clean_request(&http, &base, i).await;
                count(&counts, class);
                done.fetch_add(1, Ordering::Relaxed);
                i += workers;
            }
        }));
    }
    {
        let (http, base, counts, stop, faulty) = (
            http.clone(),
            base.clone(),
            counts.clone(),
            stop.clone(),
            faulty.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let class = faulty_request(&http, &base, &faulty, i).await;
                count(&counts, class);
                i += 1;
            }
        }));
    }

    let began = Instant::now();
    let total = Duration::from_secs_f64(minutes * 60.0);
    let every = Duration::from_secs(if minutes >= 10.0 { 60 } else { 15 });
    let mut last = 0;
    while began.elapsed() < total {
        tokio::time::sleep(every.min(total.saturating_sub(began.elapsed()))).await;
        let n = done.load(Ordering::Relaxed);
        println!(
            "t={:>5.0}s RSS {:>7} KiB  fds {:>4}  threads {:>3}  clean req/s {:>6.0}",
            began.elapsed().as_secs_f64(),
            proc_kb(pid, "VmRSS:"),
            fds(pid),
            proc_kb(pid, "Threads:"),
            (n - last) as f64 / every.as_secs_f64()
        );
        last = n;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    drop(http);
    // Let closed connections and ended streams settle, then the end figures.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status: serde_json::Value = serde_json::from_str(
        &reqwest::get(format!("{base}/status"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let end_rss = proc_kb(pid, "VmRSS:");
    let end_fds = fds(pid);
    println!(
        "end: RSS {end_rss} KiB ({:+} KiB), fds {end_fds} ({:+}), threads {}, in_flight {}, queued {}",
        end_rss as i64 - start_rss as i64,
        end_fds as i64 - start_fds as i64,
        proc_kb(pid, "Threads:"),
        status["in_flight"],
        status["queued"]
    );
    println!("outcomes:");
    for (class, n) in counts.lock().iter() {
        println!("  {n:>8}  {class}");
    }
    println!(
        "upstream connections: clean {} opened / {} closed, faulty {} opened / {} closed, streams cut {}",
        clean.opened_connections(),
        clean.closed_connections(),
        faulty.opened_connections(),
        faulty.closed_connections(),
        faulty.streams_cut()
    );
    let _ = child.kill();
    let _ = child.wait();
}
