//! Cluster mode for real: three `dario proxy` processes sharing one real `redis-server` (started
//! per test on a free loopback port, see support/redis_server.rs) in front of in-process
//! stand-in upstreams. A 429 seen by one instance steers the others; a conversation stays on one
//! deployment whichever instance serves it; a team rate limit holds across instances; killing
//! Redis mid-traffic loses no request and recovery needs no restart; the cluster scope of
//! `/analytics` sums the instances.
//!
//! Without `redis-server` these tests FAIL (install it with scripts/install-redis), unless
//! DARIO_SKIP_CLUSTER_TESTS=1 is set.

use crate::support;

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::home::{dario_command, DarioHome};
use support::process::{start_process, Running};
use support::redis_server::RedisServer;
use support::standin::{canned_content, openai_json};
use support::*;

/// Generous: a loaded CI machine runs three dario processes, Redis and the test at once.
const PATIENCE: Duration = Duration::from_secs(15);

/// One instance's home with `config.toml` (mode 0600: no stored keys, but tidy).
fn home_with(toml: &str) -> DarioHome {
    let home = DarioHome::new();
    home.config_toml(toml);
    home
}

/// The `[cluster]` section of instance `n`. The bound on a request's wait is raised from 5 ms
/// to 1 s: these tests are about sharing, not about how fast a loaded CI machine answers.
fn cluster_section(redis_url: &str, n: usize, extra: &str) -> String {
    let bound = if extra.contains("timeout_ms") {
        ""
    } else {
        "timeout_ms = 1000\n"
    };
    format!(
        "[cluster]\nredis_url = \"{redis_url}\"\nnamespace = \"test\"\ninstance_id = \"i{n}\"\n{bound}{extra}"
    )
}

/// A pool backend `pool` (models `pool-*`) with one deployment per stand-in, in this order.
fn pool_backend(deployments: &[(&str, &StandIn)]) -> String {
    let mut s = format!(
        "[backends.pool]\nprotocol = \"openai\"\nbase_url = \"{}\"\nmodels = [\"pool-*\"]\n",
        deployments[0].1.openai_url()
    );
    for (alias, standin) in deployments {
        s.push_str(&format!(
            "[[backends.pool.deployments]]\nalias = \"{alias}\"\nbase_url = \"{}\"\n",
            standin.openai_url()
        ));
    }
    s
}

/// A single-deployment backend `team` (models `team-*`) at `up`.
fn team_backend(up: &StandIn) -> String {
    format!(
        "[backends.team]\nprotocol = \"openai\"\nbase_url = \"{}\"\nmodels = [\"team-*\"]\n",
        up.openai_url()
    )
}

struct Instances {
    procs: Vec<Running>,
    homes: Vec<DarioHome>,
}

impl Instances {
    /// `n` instances of `dario proxy` with `backends` and each its own `[cluster]` section;
    /// returns once every one reports Redis connected.
    async fn start(redis: &RedisServer, n: usize, backends: &str, cluster_extra: &str) -> Self {
        let me = Self::start_at(&redis.url(), n, backends, cluster_extra, &[]);
        for i in 0..n {
            me.wait_connected(i, true).await;
        }
        me
    }

    /// [`Instances::start`] at any Redis URL, with `env` added, not waiting for Redis.
    fn start_at(
        redis_url: &str,
        n: usize,
        backends: &str,
        cluster_extra: &str,
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_args(redis_url, n, backends, cluster_extra, env, &["proxy"])
    }

    /// [`Instances::start_at`] with other command-line arguments.
    fn start_args(
        redis_url: &str,
        n: usize,
        backends: &str,
        cluster_extra: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Self {
        let mut procs = Vec::new();
        let mut homes = Vec::new();
        for i in 0..n {
            let toml = format!(
                "{backends}\n{}",
                cluster_section(redis_url, i, cluster_extra)
            );
            let home = home_with(&toml);
            procs.push(start_process(home.dir(), args, env));
            homes.push(home);
        }
        Instances { procs, homes }
    }

    fn base(&self, i: usize) -> &str {
        &self.procs[i].base
    }

    /// Stops instance `i` with SIGTERM (its graceful path: in-flight work and the history
    /// writer's last batch are finished) and waits for it to exit.
    fn terminate(&mut self, i: usize) {
        let child = &mut self.procs[i].child;
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + PATIENCE;
        while child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "instance {i} did not exit on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    async fn get(&self, i: usize, path: &str) -> Value {
        let r = client()
            .get(format!("{}{path}", self.base(i)))
            .send()
            .await
            .unwrap();
        json(r).await
    }

    async fn text(&self, i: usize, path: &str) -> String {
        let r = client()
            .get(format!("{}{path}", self.base(i)))
            .send()
            .await
            .unwrap();
        r.text().await.unwrap()
    }

    async fn cluster_status(&self, i: usize) -> Value {
        self.get(i, "/status").await["cluster"].clone()
    }

    async fn wait_connected(&self, i: usize, connected: bool) {
        let what = format!("instance {i} reports Redis connected = {connected}");
        wait_for(&what, || async {
            self.cluster_status(i).await["connected"] == json!(connected)
        })
        .await;
    }

    /// The live `/pool` entry of deployment `alias` of backend `pool` on instance `i`.
    async fn deployment(&self, i: usize, alias: &str) -> Value {
        let pool = self.get(i, "/pool").await;
        let backend = pool["backends"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["backend"] == "pool")
            .cloned()
            .unwrap();
        backend["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["alias"] == alias)
            .cloned()
            .unwrap()
    }
}

/// Polls `check` every 25 ms until it holds; fails the test after [`PATIENCE`].
async fn wait_for<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < PATIENCE,
            "not within {PATIENCE:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// An OpenAI chat request for `model` with a system prompt and the given user/assistant turns.
async fn chat(base: &str, model: &str, system: &str, turns: &[&str]) -> reqwest::Response {
    let mut messages = vec![json!({"role": "system", "content": system})];
    for (i, t) in turns.iter().enumerate() {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        messages.push(json!({"role": role, "content": t}));
    }
    client()
        .post(format!("{base}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(json!({"model": model, "messages": messages}).to_string())
        .send()
        .await
        .unwrap()
}

/// The same as Anthropic Messages.
async fn messages(base: &str, model: &str, user: &str) -> reqwest::Response {
    client()
        .post(format!("{base}/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(
            json!({"model": model, "max_tokens": 16,
                   "messages": [{"role": "user", "content": user}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap()
}

fn rate_limited() -> Reply {
    Reply::status(
        429,
        json!({"error": {"message": "slow down", "type": "rate_limit_error"}}),
    )
    .with_headers(&[("retry-after", "30")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_seen_by_one_instance_steers_the_others_and_analytics_sum_up() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let east = StandIn::start().await;
    let west = StandIn::start().await;
    east.push(rate_limited());
    // The deployments' key comes from the environment: it must never reach Redis.
    let backends = pool_backend(&[("east", &east), ("west", &west)]).replacen(
        "models = [\"pool-*\"]\n",
        "models = [\"pool-*\"]\nkey_env = \"POOL_KEY\"\n",
        1,
    );
    let cluster = Instances::start_at(&redis.url(), 3, &backends, "", &[("POOL_KEY", CANARY)]);
    for i in 0..3 {
        cluster.wait_connected(i, true).await;
    }

    // Instance 0 meets the 429 on east and fails over to west.
    let r = chat(cluster.base(0), "pool-m", "s", &["hello"]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-dario-attempts"], "2");
    assert_eq!((east.requests().len(), west.requests().len()), (1, 1));

    // The others learn it through Redis without sending anything.
    for i in [1, 2] {
        let took = wait_for(&format!("instance {i} sees east cooling"), || async {
            cluster.deployment(i, "east").await["cooling"] == json!(true)
        })
        .await;
        eprintln!("instance {i} saw the cooldown after {took:?}");
        let east_there = cluster.deployment(i, "east").await;
        assert_eq!(east_there["cooldown_reason"], "rate_limited");
        // Until the 429's retry-after (30 s), not a guess of its own.
        assert!(east_there["cooldown_remaining_ms"].as_u64().unwrap() > 5_000);
        // Not their own failure: their failure count is untouched.
        assert_eq!(east_there["failures"], 0);
    }
    // ... and route around east at once: without the shared cooldown each would try east first
    // (configuration order), which now answers 200 to anyone.
    for i in [1, 2, 1, 2] {
        let r = chat(cluster.base(i), "pool-m", "s", &["hi again"]).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("x-dario-attempts").is_none());
    }
    assert_eq!(
        east.requests().len(),
        1,
        "no instance sent to the cooling deployment"
    );
    assert_eq!(west.requests().len(), 5);

    // Redis holds the cooldown by alias (never a key), expiring with it.
    let mut conn = redis.connection();
    let v: String = redis::cmd("GET")
        .arg("test:cooldown:pool:east")
        .query(&mut conn)
        .unwrap();
    assert!(v.ends_with("|rate_limited"), "{v}");
    let ttl: i64 = redis::cmd("PTTL")
        .arg("test:cooldown:pool:east")
        .query(&mut conn)
        .unwrap();
    assert!((1..=30_000).contains(&ttl), "{ttl}");

    // The cluster scope of /analytics sums the three instances (1 + 2 + 2 requests).
    wait_for(
        "the cluster scope counts every instance's requests",
        || async {
            let a = cluster.get(2, "/analytics?scope=cluster").await;
            a["instances"].as_array().map_or(0, Vec::len) == 3
                && a["window"]["totals"]["requests"] == json!(5)
        },
    )
    .await;
    let a = cluster.get(2, "/analytics?scope=cluster").await;
    assert_eq!(a["scope"], "cluster");
    assert_eq!(a["all_time"]["totals"]["requests"], 5);
    assert_eq!(a["window"]["by_backend"][0]["backend"], "pool");
    assert_eq!(a["window"]["by_backend"][0]["retried"], 1);
    // This instance alone served two of them.
    let local = cluster.get(2, "/analytics").await;
    assert_eq!(local["window"]["totals"]["requests"], 2);
    for standin in [&east, &west] {
        assert_eq!(
            standin.last().header("authorization").as_deref(),
            Some(format!("Bearer {CANARY}").as_str())
        );
    }
    assert_no_canary_in(&redis);
}

const CANARY: &str = "sk-cluster-canary-5f1e";

/// Every key and value in Redis, as text: none may hold the canary key.
fn assert_no_canary_in(redis: &RedisServer) {
    let mut conn = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    assert!(!keys.is_empty());
    for k in keys {
        let kind: String = redis::cmd("TYPE").arg(&k).query(&mut conn).unwrap();
        let dump: Vec<String> = match kind.as_str() {
            "string" => vec![redis::cmd("GET").arg(&k).query(&mut conn).unwrap()],
            "hash" => redis::cmd("HGETALL").arg(&k).query(&mut conn).unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&k)
                .arg(0)
                .arg(-1)
                .query(&mut conn)
                .unwrap(),
            other => panic!("unexpected {other} at {k}"),
        };
        assert!(!k.contains(CANARY), "{k}");
        for v in dump {
            assert!(!v.contains(CANARY) && !v.contains("sk-"), "{k}: {v}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_stays_on_one_deployment_whichever_instance_serves_it() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = StandIn::start().await;
    let b = StandIn::start().await;
    // Deployment `a` reports 10 % headroom left on every answer; `b` reports nothing (100 %).
    for _ in 0..10 {
        let body = openai_json(&canned_content("text"), "pool-m");
        a.push(Reply::status(200, body).with_headers(&[
            ("x-ratelimit-limit-requests", "100"),
            ("x-ratelimit-remaining-requests", "10"),
        ]));
    }
    let backends = pool_backend(&[("a", &a), ("b", &b)]);
    let cluster = Instances::start(&redis, 3, &backends, "").await;

    // Turn 1 on instance 0: nothing known yet, the first deployment.
    let sys = "You are a careful assistant.";
    let r = chat(cluster.base(0), "pool-m", sys, &["plan the trip"]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(a.requests().len(), 1);

    // Instances 1 and 2 learn a's low headroom: on their own they would now choose b.
    for i in [1, 2] {
        wait_for(&format!("instance {i} sees a's headroom"), || async {
            cluster.deployment(i, "a").await["headroom"] == json!(0.1)
        })
        .await;
    }
    let mut conn = redis.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("test:sticky:pool:*")
        .query(&mut conn)
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let bound: String = redis::cmd("GET").arg(&keys[0]).query(&mut conn).unwrap();
    assert_eq!(bound, "a");

    // Turns 2 and 3 on the other instances stay on a.
    let r = chat(
        cluster.base(1),
        "pool-m",
        sys,
        &["plan the trip", "Sure.", "and the hotel?"],
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = chat(
        cluster.base(2),
        "pool-m",
        sys,
        &[
            "plan the trip",
            "Sure.",
            "and the hotel?",
            "Booked.",
            "thanks",
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(a.requests().len(), 3, "every turn went to deployment a");
    assert_eq!(b.requests().len(), 0);
    assert_eq!(a.last().json()["messages"].as_array().unwrap().len(), 6);
    let looked_up = cluster.cluster_status(1).await;
    assert_eq!(looked_up["sticky_lookup_hits"], 1, "{looked_up}");

    // Control: a new conversation on instance 1 goes by headroom, to b.
    let r = chat(cluster.base(1), "pool-m", sys, &["another topic"]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(b.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_rate_limit_holds_across_instances() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let up = StandIn::start().await;
    let backends = team_backend(&up);
    const LIMIT: usize = 5;
    let limits = format!("[cluster.limits.team]\nrpm = {LIMIT}\n");
    let cluster = Instances::start(&redis, 3, &backends, &limits).await;

    // 18 requests at once, 6 per instance, half of them Anthropic Messages (translated).
    let mut tasks = Vec::new();
    for n in 0..18 {
        let base = cluster.base(n % 3).to_string();
        tasks.push(tokio::spawn(async move {
            let anthropic = n % 2 == 0;
            let r = if anthropic {
                messages(&base, "team-m", "hi").await
            } else {
                chat(&base, "team-m", "s", &["hi"]).await
            };
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            (anthropic, status, retry_after, json(r).await)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (anthropic, status, retry_after, body) = t.await.unwrap();
        match status {
            200 => ok += 1,
            429 => {
                let secs = retry_after.expect("a 429 carries retry-after");
                assert!((1..=60).contains(&secs), "{secs}");
                // In the caller's protocol.
                if anthropic {
                    assert_eq!(body["type"], "error");
                    assert_eq!(body["error"]["type"], "rate_limit_error");
                } else {
                    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
                }
                let msg = body["error"]["message"].as_str().unwrap();
                assert!(
                    msg.contains("team") && msg.contains("cluster.limits.team"),
                    "{msg}"
                );
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    let sent = up.requests().len();
    assert_eq!(sent, ok, "every admitted request reached the upstream");
    // Never more than the limit plus one in flight per instance (the shared window is atomic,
    // so in fact exactly the limit).
    assert!(
        (LIMIT..=LIMIT + 3).contains(&ok),
        "{ok} requests passed a team limit of {LIMIT} across 3 instances"
    );
    eprintln!("{ok} of 18 passed a team limit of {LIMIT}");
    let mut limited = 0;
    for i in 0..3 {
        limited += cluster.cluster_status(i).await["team_limited"]
            .as_u64()
            .unwrap();
    }
    assert_eq!(limited as usize, 18 - ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_mid_traffic_loses_no_request_and_recovery_needs_no_restart() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let port = redis.port;
    let east = StandIn::start().await;
    let west = StandIn::start().await;
    let backends = pool_backend(&[("east", &east), ("west", &west)]);
    // A team limit far above the traffic: its check runs on every request, against Redis while
    // it is there and on the local window while it is not.
    let cluster = Instances::start(
        &redis,
        3,
        &backends,
        "[cluster.limits.pool]\nrpm = 100000\n",
    )
    .await;

    // Traffic: two clients, round robin over the instances, until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bases: Vec<String> = (0..3).map(|i| cluster.base(i).to_string()).collect();
    let mut clients = Vec::new();
    for c in 0..2 {
        let (stop, bases) = (stop.clone(), bases.clone());
        clients.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut n = c;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = chat(&bases[n % 3], "pool-m", "s", &[&format!("q{n}")]).await;
                statuses.push(r.status().as_u16());
                n += 1;
            }
            statuses
        }));
    }
    let sent = || east.requests().len() + west.requests().len();
    wait_for("traffic flows", || async { sent() >= 20 }).await;

    redis.kill();
    for i in 0..3 {
        cluster.wait_connected(i, false).await;
        let s = cluster.cluster_status(i).await;
        assert_eq!(s["state"], "unreachable: routing on local state", "{s}");
        // GET /pool (what the MCP pool_status tool shows) says so too.
        let p = cluster.get(i, "/pool").await;
        assert_eq!(p["cluster"]["connected"], false, "{p}");
        let metrics = cluster.text(i, "/metrics").await;
        assert!(
            metrics.contains(&format!("dario_cluster_connected{{instance=\"i{i}\"}} 0")),
            "{metrics}"
        );
    }
    let before = sent();
    wait_for("traffic flows without Redis", || async {
        sent() >= before + 20
    })
    .await;

    let redis = RedisServer::start_on(port);
    for i in 0..3 {
        cluster.wait_connected(i, true).await;
    }
    let before = sent();
    wait_for("traffic flows after Redis returned", || async {
        sent() >= before + 20
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for c in clients {
        let statuses = c.await.unwrap();
        total += statuses.len();
        assert!(
            statuses.iter().all(|&s| s == 200),
            "a request failed: {statuses:?}"
        );
    }
    assert!(total >= 60, "{total}");
    for i in 0..3 {
        let s = cluster.cluster_status(i).await;
        assert!(s["resyncs"].as_u64().unwrap() >= 2, "{s}");
        assert!(s["local_fallbacks"].as_u64().unwrap() >= 1, "{s}");
    }

    // Sharing works again without a restart: a 429 on one instance steers the others.
    east.push(rate_limited());
    let r = chat(cluster.base(0), "pool-m", "s", &["after"]).await;
    assert_eq!(r.status(), 200);
    for i in [1, 2] {
        wait_for(&format!("instance {i} sees east cooling"), || async {
            cluster.deployment(i, "east").await["cooling"] == json!(true)
        })
        .await;
    }
    drop(redis);
}

#[test]
fn config_refuses_a_password_in_the_url() {
    let home = home_with("[cluster]\nredis_url = \"redis://:hunter2@127.0.0.1:6379\"\n");
    let out = home
        .command(&["proxy"])
        .env("DARIO_PORT", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("password_env"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

/// `dario doctor --json` in `home`, parsed, with the cluster's password variable set.
fn doctor(home: &DarioHome) -> Value {
    let out = home
        .command(&["doctor", "--json"])
        .env("DARIO_HOST", "127.0.0.1")
        .env("DARIO_PORT", "9")
        .env("CLUSTER_TEST_PW", "pw-canary-123")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("pw-canary"), "{text}");
    serde_json::from_str(&text).unwrap()
}

fn cluster_row(report: &Value) -> Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "cluster")
        .cloned()
        .unwrap_or_else(|| panic!("no cluster row in {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_has_a_cluster_row() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let up = StandIn::start().await;
    let backends = team_backend(&up);
    let cluster = Instances::start(&redis, 1, &backends, "").await;
    wait_for("instance 0 publishes its counters", || async {
        let a = cluster.get(0, "/analytics?scope=cluster").await;
        a["instances"].as_array().map_or(0, Vec::len) == 1
    })
    .await;
    let home = home_with(&format!(
        "{}password_env = \"CLUSTER_TEST_PW\"\n",
        cluster_section(&redis.url(), 9, "")
    ));
    // This Redis has no password: AUTH with one fails, and the row says so.
    let row = cluster_row(&doctor(&home));
    assert_eq!(row["status"], "fail", "{row}");

    let home = home_with(&cluster_section(&redis.url(), 9, ""));
    let row = cluster_row(&doctor(&home));
    assert_eq!(row["status"], "ok", "{row}");
    let detail = row["detail"].as_str().unwrap();
    assert!(
        detail.contains(&redis.url()) && detail.contains("1 instance(s) publishing: i0"),
        "{detail}"
    );

    redis.kill();
    let row = cluster_row(&doctor(&home));
    assert_eq!(row["status"], "fail", "{row}");
    assert!(row["fix"].as_str().unwrap().contains("redis_url"), "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_token_limit_counts_every_instances_tokens() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let up = StandIn::start().await;
    let backends = team_backend(&up);
    const TPM: u64 = 200;
    let limits = format!("[cluster.limits.team]\ntpm = {TPM}\n");
    let cluster = Instances::start(&redis, 3, &backends, &limits).await;
    let mut conn = redis.connection();
    let mut used = 0u64;
    let mut last = 0u64;
    for n in 0..30 {
        let r = chat(cluster.base(n % 3), "team-m", "s", &["hi"]).await;
        if r.status() == 429 {
            let body = json(r).await;
            let msg = body["error"]["message"].as_str().unwrap();
            assert!(msg.contains("tokens limit of 200"), "{msg}");
            // Refused exactly when the team's tokens (from every instance) reached the limit.
            assert!(used >= TPM && used - last < TPM, "used {used}, last {last}");
            return;
        }
        assert_eq!(r.status(), 200);
        last = json(r).await["usage"]["total_tokens"].as_u64().unwrap();
        assert!(last > 0);
        used += last;
        // The count is written after the response (fire-and-forget): wait for it to land.
        wait_for("the tokens are counted in Redis", || {
            let sum: u64 = redis::cmd("HVALS")
                .arg("test:rate:team:tok")
                .query::<Vec<u64>>(&mut conn)
                .unwrap()
                .iter()
                .sum();
            async move { sum == used }
        })
        .await;
    }
    panic!("no request was refused after {used} tokens with a team tpm of {TPM}");
}

/// A CA, and a certificate for `localhost` signed by it, as PEM files in `dir`:
/// (ca.pem, server.pem, server.key).
fn tls_files(dir: &std::path::Path) -> [std::path::PathBuf; 3] {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "dario cluster test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let files = [
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    ];
    std::fs::write(&files[0], ca.pem()).unwrap();
    std::fs::write(&files[1], leaf.pem()).unwrap();
    std::fs::write(&files[2], key.serialize_pem()).unwrap();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_password_from_the_environment() {
    if std::env::var("DARIO_SKIP_CLUSTER_TESTS").as_deref() == Ok("1") {
        eprintln!("SKIPPED: DARIO_SKIP_CLUSTER_TESTS=1");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [ca, cert, key] = tls_files(dir.path());
    const PASSWORD: &str = "pw-canary-7f3a";
    let redis = RedisServer::start_tls(&cert, &key, &ca, PASSWORD);
    let east = StandIn::start().await;
    let west = StandIn::start().await;
    east.push(rate_limited());
    let backends = pool_backend(&[("east", &east), ("west", &west)]);
    let url = format!("rediss://localhost:{}", redis.port);
    let ca = ca.to_str().unwrap();
    let env = [("SSL_CERT_FILE", ca), ("DARIO_TEST_REDIS_PW", PASSWORD)];
    let extra = "password_env = \"DARIO_TEST_REDIS_PW\"\n";
    let cluster = Instances::start_at(&url, 2, &backends, extra, &env);
    for i in 0..2 {
        cluster.wait_connected(i, true).await;
    }
    // Shared over TLS: a 429 on instance 0 cools east on instance 1.
    let r = chat(cluster.base(0), "pool-m", "s", &["hello"]).await;
    assert_eq!(r.status(), 200);
    wait_for("instance 1 sees east cooling", || async {
        cluster.deployment(1, "east").await["cooling"] == json!(true)
    })
    .await;
    for i in 0..2 {
        for path in ["/status", "/pool", "/analytics"] {
            let text = cluster.text(i, path).await;
            assert!(!text.contains(PASSWORD), "{path}: {text}");
        }
    }

    // A wrong password: never connected, and the status says why (without the password).
    let env = [("SSL_CERT_FILE", ca), ("DARIO_TEST_REDIS_PW", "wrong-one")];
    let wrong = Instances::start_at(&url, 1, &backends, extra, &env);
    wait_for("the wrong password is reported", || async {
        let s = wrong.cluster_status(0).await;
        s["connected"] == json!(false)
            && s["last_error"].as_str().is_some_and(|e| {
                let e = e.to_ascii_lowercase();
                e.contains("wrongpass") || e.contains("invalid password") || e.contains("auth")
            })
    })
    .await;
    // And it still serves, on its own state.
    let r = chat(wrong.base(0), "pool-m", "s", &["alone"]).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_threads_share_the_one_connection() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let up = StandIn::start().await;
    let limits = "[cluster.limits.team]\nrpm = 3\n";
    let args = ["proxy", "--workers", "3"];
    let cluster = Instances::start_args(&redis.url(), 1, &team_backend(&up), limits, &[], &args);
    cluster.wait_connected(0, true).await;
    // New connections land on whichever worker accepts them; every one asks the same Redis.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = support::client()
            .post(format!("{}/v1/chat/completions", cluster.base(0)))
            .header("content-type", "application/json")
            .header("connection", "close")
            .body(r#"{"model":"team-m","messages":[{"role":"user","content":"hi"}]}"#)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
    let s = cluster.cluster_status(0).await;
    assert_eq!(s["local_fallbacks"], 0, "{s}");
    assert_eq!(s["team_limited"], 3, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_delays_no_request_beyond_the_bound() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let up = StandIn::start().await;
    // The default bound is 5 ms; 50 ms here so that a loaded machine's own scheduling delays
    // are not mistaken for Redis's.
    let extra = "timeout_ms = 50\n[cluster.limits.team]\nrpm = 1000\n";
    let cluster = Instances::start(&redis, 1, &team_backend(&up), extra).await;
    let r = chat(cluster.base(0), "team-m", "s", &["warm"]).await;
    assert_eq!(r.status(), 200);

    // Redis stops answering for 3 s (it is busy, not gone: connections stay open).
    let port = redis.port;
    let sleeper = std::thread::spawn(move || {
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .unwrap()
            .get_connection()
            .unwrap();
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(3)
            .query::<()>(&mut conn)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    for n in 0..5 {
        let t = Instant::now();
        let r = chat(cluster.base(0), "team-m", "s", &[&format!("during {n}")]).await;
        assert_eq!(r.status(), 200);
        // 50 ms bound, generous allowance for the rest; far below the 3 s Redis is away.
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    sleeper.join().unwrap().unwrap();
    let s = cluster.cluster_status(0).await;
    assert!(s["local_fallbacks"].as_u64().unwrap() >= 5, "{s}");
    // And it is back to sharing without a restart.
    cluster.wait_connected(0, true).await;
}

/// Each instance tags the records of its usage history with its `instance_id`, so the histories
/// of a team's instances can be told apart when put side by side; `dario stats --cluster` shows
/// the team's totals summed over the instances.
#[tokio::test]
async fn each_instance_tags_its_history_and_stats_cluster_sums_them() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let up = StandIn::start().await;
    let mut cluster = Instances::start(&redis, 2, &team_backend(&up), "").await;
    for (i, n) in [(0, 2), (1, 3)] {
        for _ in 0..n {
            assert_eq!(
                chat(cluster.base(i), "team-m", "s", &["hi"]).await.status(),
                200
            );
        }
    }
    wait_for(
        "the cluster scope counts both instances' requests",
        || async {
            let a = cluster.get(0, "/analytics?scope=cluster").await;
            a["instances"].as_array().map_or(0, Vec::len) == 2
                && a["window"]["totals"]["requests"] == json!(5)
        },
    )
    .await;
    let port = cluster.base(0).rsplit(':').next().unwrap().to_string();
    // `dario stats --cluster ARGS`, as a user on instance 0's machine runs it.
    let home0 = &cluster.homes[0];
    let (home0, dir0) = (home0.home().to_path_buf(), home0.dir().to_path_buf());
    let stats = |args: &[&str]| {
        dario_command(&home0, &dir0, &["stats", "--cluster"])
            .args(args)
            .env("DARIO_PORT", &port)
            .output()
            .unwrap()
    };
    let stdout_of = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let v: Value = serde_json::from_str(&stdout_of(stats(&["--json"]))).unwrap();
    assert_eq!(v["scope"], "cluster");
    assert_eq!(v["all_time"]["totals"]["requests"], 5);
    let text = stdout_of(stats(&[]));
    assert!(text.contains("2 instance(s) publishing"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("all time:") && l.contains(" 5 requests")),
        "{text}"
    );

    for i in 0..2 {
        cluster.terminate(i);
    }
    // With no proxy to ask, a clear error naming what to do.
    let out = stats(&[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("start it with `dario proxy`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (i, n) in [(0usize, 2i64), (1, 3)] {
        let db =
            rusqlite::Connection::open(cluster.homes[i].dir().join("history.sqlite3")).unwrap();
        let tags: Vec<(Option<String>, i64)> = db
            .prepare("SELECT instance, count(*) FROM requests GROUP BY instance")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(tags, vec![(Some(format!("i{i}")), n)], "instance {i}");
    }
}
