//! What `[cluster]` costs per request: three `dario proxy` processes side by side in one run —
//! without `[cluster]`, with it, and with it plus a team limit (one Redis round trip per
//! request) — in front of the benchmark's lean upstream, against one real `redis-server`.
//!
//! ```sh
//! cargo build --release --bin dario --example bench_cluster
//! target/release/examples/bench_cluster [--rounds 20] [--per-round 500] [--dario-bin PATH]
//! ```
//!
//! Traffic: OpenAI chat, ~2 KiB, concurrency 1 on one keep-alive connection per target, to a
//! pool of two deployments; a new conversation every 10 requests (so the cluster targets make a
//! sticky look-up on a local miss and share a new binding once per conversation). Rounds are
//! interleaved with a rotating order, so drifts of the shared machine hit every target alike.
//! CPU per request = utime+stime of the dario process over the measured rounds ÷ requests
//! (`/proc/<pid>/stat`); Redis's own CPU is reported beside it. Each cluster target has its own
//! namespace. `REDIS_SERVER` names the server binary (default `redis-server`).

#[path = "bench/load.rs"]
#[allow(dead_code)]
mod load;
#[path = "bench/procs.rs"]
#[allow(dead_code)]
mod procs;
#[path = "../tests/it/support/standin.rs"]
mod standin;
#[path = "bench/upstream.rs"]
#[allow(dead_code)]
mod upstream;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn serve_upstream() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(upstream::serve(
        ([127, 0, 0, 1], 0).into(),
        upstream::StreamShape {
            events: 1,
            pace: Duration::ZERO,
        },
        |addr| {
            use std::io::Write;
            println!("listening {addr}");
            let _ = std::io::stdout().flush();
        },
    ));
}

struct Redis {
    child: std::process::Child,
    port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis() -> Redis {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    // Killed and waited for by `Redis`'s Drop, on every path.
    let server = Redis {
        child: Command::new(&bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {bin} ({e}): run scripts/install-redis")),
        port,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let url = format!("redis://127.0.0.1:{port}");
    loop {
        let ok = redis::Client::open(url.as_str())
            .ok()
            .and_then(|c| {
                c.get_connection_with_timeout(Duration::from_millis(200))
                    .ok()
            })
            .is_some();
        if ok {
            return server;
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn home(upstream: std::net::SocketAddr, cluster: Option<String>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{upstream}/v1");
    let mut toml = format!(
        "[backends.pool]\nprotocol = \"openai\"\nbase_url = \"{url}\"\nmodels = [\"pool-*\"]\n\
         [[backends.pool.deployments]]\nalias = \"east\"\nbase_url = \"{url}\"\n\
         [[backends.pool.deployments]]\nalias = \"west\"\nbase_url = \"{url}\"\n"
    );
    if let Some(c) = cluster {
        toml.push_str(&c);
    }
    std::fs::write(dir.path().join("config.toml"), toml).unwrap();
    dir
}

fn request(i: usize) -> load::Req {
    let filler = "The quick brown fox jumps over the lazy dog. ".repeat(40);
    let body = json!({
        "model": "pool-m",
        "messages": [
            {"role": "system", "content": format!("You are a helpful assistant (conversation {}).", i / 10)},
            {"role": "user", "content": filler},
        ],
    });
    load::Req {
        path: "/v1/chat/completions",
        headers: vec![],
        body: Bytes::from(body.to_string()),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve-upstream") {
        return serve_upstream();
    }
    let rounds: usize = flag(&args, "--rounds").map_or(20, |v| v.parse().unwrap());
    let per_round: usize = flag(&args, "--per-round").map_or(500, |v| v.parse().unwrap());
    let bin = flag(&args, "--dario-bin").map_or_else(
        || {
            let exe = std::env::current_exe().unwrap();
            exe.parent().unwrap().parent().unwrap().join("dario")
        },
        PathBuf::from,
    );
    let upstream = procs::spawn_self("upstream", &["--serve-upstream".to_string()]).unwrap();
    let redis = start_redis();
    let section = |ns: &str, extra: &str| {
        format!(
            "[cluster]\nredis_url = \"redis://127.0.0.1:{}\"\nnamespace = \"{ns}\"\n{extra}",
            redis.port
        )
    };
    let homes = [
        ("off", home(upstream.addr, None)),
        ("cluster", home(upstream.addr, Some(section("on", "")))),
        (
            "cluster + team limit",
            home(
                upstream.addr,
                Some(section("lim", "[cluster.limits.pool]\nrpm = 1000000000\n")),
            ),
        ),
    ];
    let darios: Vec<procs::Proc> = homes
        .iter()
        .map(|(_, h)| procs::spawn_dario_binary(&bin, h.path()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_secs(1)); // the cluster targets connect to Redis
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conns = Vec::new();
        for d in &darios {
            conns.push(load::connect(d.addr).await.unwrap());
        }
        let n = homes.len();
        let mut next = vec![0usize; n];
        // Warm-up: connections, allocator, Redis scripts loaded.
        for (t, conn) in conns.iter_mut().enumerate() {
            for _ in 0..500 {
                load::once(conn, &request(next[t])).await.unwrap();
                next[t] += 1;
            }
        }
        let mut lat: Vec<Vec<Duration>> = vec![Vec::new(); n];
        let mut cpu = vec![0f64; n];
        let redis_cpu_before = procs::cpu_seconds(&[redis.child.id()]);
        for round in 0..rounds {
            for k in 0..n {
                let t = (round + k) % n;
                let pid = darios[t].pid();
                let before = procs::cpu_seconds(&[pid]);
                for _ in 0..per_round {
                    let req = request(next[t]);
                    next[t] += 1;
                    let start = Instant::now();
                    load::once(&mut conns[t], &req).await.unwrap();
                    lat[t].push(start.elapsed());
                }
                cpu[t] += procs::cpu_seconds(&[pid]) - before;
            }
        }
        let redis_cpu = procs::cpu_seconds(&[redis.child.id()]) - redis_cpu_before;
        let requests = rounds * per_round;
        println!("{requests} requests per target, concurrency 1, {rounds} interleaved rounds\n");
        println!("| dario | p50 µs | p99 µs | CPU µs/request | added p50 µs | added CPU µs/request |");
        println!("|---|---|---|---|---|---|");
        let mut base = (0.0, 0.0);
        for t in 0..n {
            lat[t].sort();
            let p50 = percentile(&lat[t], 0.5);
            let p99 = percentile(&lat[t], 0.99);
            let cpu_us = cpu[t] * 1e6 / requests as f64;
            if t == 0 {
                base = (p50, cpu_us);
            }
            println!(
                "| {} | {p50:.0} | {p99:.0} | {cpu_us:.1} | {:+.0} | {:+.1} |",
                homes[t].0,
                p50 - base.0,
                cpu_us - base.1
            );
        }
        println!(
            "\nredis-server CPU: {:.1} µs per cluster request ({} requests to the two cluster targets)",
            redis_cpu * 1e6 / (2 * requests) as f64,
            2 * requests
        );
        let _ = rustls::crypto::ring::default_provider().install_default();
        for (t, d) in darios.iter().enumerate().skip(1) {
            let status = reqwest::get(format!("http://{}/status", d.addr))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_str(&status).unwrap();
            println!("{}: {}", homes[t].0, v["cluster"]);
        }
    });
}
