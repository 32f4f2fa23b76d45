//! The background side of the cluster: the supervisor (connect with backoff, subscribe, re-sync,
//! apply what other instances publish, health-check) and the writer (drains the bounded channel
//! of local events into Redis, coalescing rate-limit readings; publishes analytics counters).
//!
//! Owns: every Redis round trip that is not on a request's path. Must not: hold a lock across an
//! `.await`; keep the proxy alive (it holds a `Weak` and stops when the proxy is gone).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::{add_counters, limits, Cluster, Host, Message, Out};
use crate::pool::{CooldownReason, PoolEvent, WallReading};

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const PING_EVERY: Duration = Duration::from_secs(1);
/// Bound of a background round trip (never on a request's path).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
const LIMITS_FLUSH: Duration = Duration::from_millis(100);
const STATS_EVERY: Duration = Duration::from_secs(2);
/// An instance that stopped publishing drops out of the cluster scope after this long.
const STATS_TTL: Duration = Duration::from_secs(10);
/// The analytics window each instance publishes (the cluster scope's window).
pub(super) const STATS_WINDOW: Duration = Duration::from_secs(3600);
/// Rate-limit readings kept in Redis for instances that start later.
const LIMITS_TTL_SECS: u64 = 600;

/// Sets the cooldown key unless Redis already holds a later one, and publishes the event.
/// KEYS[1] = cooldown key; ARGV = until ms, reason, ttl ms, channel, message.
const COOLDOWN: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local u = tonumber(string.match(cur, '^(%d+)'))
  if u and u >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
"#;

fn cooldown_script() -> &'static redis::Script {
    static S: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    S.get_or_init(|| redis::Script::new(COOLDOWN))
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn reason_str(r: CooldownReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn short(e: impl std::fmt::Display) -> String {
    let s = e.to_string();
    s.chars().take(200).collect()
}

/// A background round trip, bounded by [`COMMAND_TIMEOUT`]; the error names `what` timed out
/// or what Redis said.
async fn bounded<T, E: std::fmt::Display>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match timeout(COMMAND_TIMEOUT, call).await {
        Ok(r) => r.map_err(short),
        Err(_) => Err(format!(
            "{what}: no answer within {} s",
            COMMAND_TIMEOUT.as_secs()
        )),
    }
}

/// Adds `SET key value EX ttl` and `PUBLISH channel message` to `pipe`.
fn set_and_publish(
    pipe: &mut redis::Pipeline,
    key: String,
    value: &str,
    ttl_secs: u64,
    channel: String,
    message: String,
) {
    pipe.cmd("SET")
        .arg(key)
        .arg(value)
        .arg("EX")
        .arg(ttl_secs)
        .ignore()
        .cmd("PUBLISH")
        .arg(channel)
        .arg(message)
        .ignore();
}

impl Cluster {
    /// The command connection whether or not Redis is marked up (for the supervisor).
    fn any_connection(&self) -> Option<ConnectionManager> {
        self.conn.load().as_deref().cloned()
    }

    /// A failed background write: mark Redis down and have the supervisor reconnect.
    fn fail(&self, why: &str) {
        self.mark_down(why);
        self.reconnect.notify_one();
    }
}

/// Connect, subscribe, re-sync, then apply what arrives until something breaks; again, with
/// backoff, for as long as the proxy lives.
pub(super) async fn supervise(c: Arc<Cluster>, state: Weak<dyn Host>) {
    let mut backoff = BACKOFF_MIN;
    while state.strong_count() > 0 {
        let stream = match connect(&c).await {
            Ok(s) => s,
            Err(e) => {
                c.mark_down(&e);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        if let Err(e) = resync(&c, &state).await {
            c.mark_down(&format!("re-sync failed: {e}"));
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            continue;
        }
        backoff = BACKOFF_MIN;
        c.stats.resyncs.fetch_add(1, Ordering::Relaxed);
        c.mark_up();
        run(&c, &state, stream).await;
        tokio::time::sleep(BACKOFF_MIN).await;
    }
}

async fn connect(c: &Cluster) -> Result<redis::aio::PubSubStream, String> {
    match c.any_connection() {
        None => {
            let cfg = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(COMMAND_TIMEOUT))
                .set_response_timeout(Some(COMMAND_TIMEOUT))
                .set_number_of_retries(1);
            let m = timeout(
                COMMAND_TIMEOUT * 2,
                ConnectionManager::new_with_config(c.client.clone(), cfg),
            )
            .await
            .map_err(|_| "connecting timed out".to_string())?
            .map_err(short)?;
            c.conn.store(Some(Arc::new(m)));
        }
        Some(mut m) => {
            if let Err(e) = ping(&mut m).await {
                // A fresh connection next time rather than waiting on this one's own retries.
                c.conn.store(None);
                return Err(e);
            }
        }
    }
    let mut ps = bounded("subscribing", c.client.get_async_pubsub()).await?;
    bounded("subscribing", ps.subscribe(c.channel())).await?;
    Ok(ps.into_on_message())
}

async fn ping(conn: &mut ConnectionManager) -> Result<(), String> {
    let cmd = redis::cmd("PING");
    bounded("PING", cmd.query_async::<String>(conn))
        .await
        .map(drop)
}

async fn run(c: &Arc<Cluster>, state: &Weak<dyn Host>, mut stream: redis::aio::PubSubStream) {
    let mut tick = tokio::time::interval(PING_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(msg) => apply(c, state, msg.get_payload_bytes()),
                None => {
                    c.mark_down("the subscription connection closed");
                    return;
                }
            },
            _ = tick.tick() => {
                if state.strong_count() == 0 {
                    return;
                }
                let Some(mut conn) = c.any_connection() else { return };
                if let Err(e) = ping(&mut conn).await {
                    c.mark_down(&e);
                    return;
                }
            }
            _ = c.reconnect.notified() => return,
        }
    }
}

/// Applies one message from another instance to the local pools.
fn apply(c: &Cluster, state: &Weak<dyn Host>, payload: &[u8]) {
    let Ok(m) = serde_json::from_slice::<Message>(payload) else {
        return;
    };
    let Some(state) = state.upgrade() else {
        return;
    };
    let pools = state.pools();
    let (now, wall) = (Instant::now(), SystemTime::now());
    let mine = |from: &str| from == c.instance_id;
    match m {
        Message::Cooldown {
            from,
            backend,
            alias,
            until_ms,
            reason,
        } if !mine(&from) => {
            pools.apply_cooldown(&backend, &alias, until_ms, reason, now, wall);
        }
        Message::Limits {
            from,
            backend,
            alias,
            dims,
        } if !mine(&from) => pools.apply_limits(&backend, &alias, &dims, now, wall),
        Message::Bind {
            from,
            backend,
            key,
            alias,
        } if !mine(&from) => pools.apply_binding(&backend, &key, &alias, now, true),
        _ => return,
    }
    c.stats.received.fetch_add(1, Ordering::Relaxed);
}

/// After (re)connecting: tells the others about the cooldowns this instance holds (it may have
/// learnt them while Redis was away), then takes over every cooldown and rate-limit reading
/// Redis holds for the deployments configured here.
async fn resync(c: &Cluster, state: &Weak<dyn Host>) -> Result<(), String> {
    let Some(state) = state.upgrade() else {
        return Ok(());
    };
    let pools = state.pools();
    drop(state);
    let mut conn = c.any_connection().ok_or("no connection")?;
    let (now, wall) = (Instant::now(), SystemTime::now());
    for (backend, alias, until_ms, reason) in pools.shared_cooldowns(now, wall) {
        publish_cooldown(c, &mut conn, &backend, &alias, until_ms, reason).await?;
    }
    let names = pools.deployment_names();
    if names.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<String> = names
        .iter()
        .map(|(b, a)| c.key(&["cooldown", b, a]))
        .collect();
    keys.extend(names.iter().map(|(b, a)| c.key(&["limits", b, a])));
    let mut cmd = redis::cmd("MGET");
    cmd.arg(&keys);
    let values: Vec<Option<String>> = bounded("MGET", cmd.query_async(&mut conn)).await?;
    let (now, wall) = (Instant::now(), SystemTime::now());
    let (cooldowns, readings) = values.split_at(names.len().min(values.len()));
    for ((backend, alias), v) in names.iter().zip(cooldowns) {
        let Some((until, reason)) = v.as_deref().and_then(|v| v.split_once('|')) else {
            continue;
        };
        let (Ok(until), Ok(reason)) = (
            until.parse::<u64>(),
            serde_json::from_value::<CooldownReason>(Value::String(reason.to_string())),
        ) else {
            continue;
        };
        pools.apply_cooldown(backend, alias, until, reason, now, wall);
    }
    for ((backend, alias), v) in names.iter().zip(readings) {
        if let Some(dims) = v
            .as_deref()
            .and_then(|v| serde_json::from_str::<[WallReading; 4]>(v).ok())
        {
            pools.apply_limits(backend, alias, &dims, now, wall);
        }
    }
    Ok(())
}

async fn publish_cooldown(
    c: &Cluster,
    conn: &mut ConnectionManager,
    backend: &str,
    alias: &str,
    until_ms: u64,
    reason: CooldownReason,
) -> Result<(), String> {
    let ttl = until_ms.saturating_sub(unix_ms(SystemTime::now()));
    if ttl == 0 {
        return Ok(());
    }
    let message = serde_json::to_string(&Message::Cooldown {
        from: c.instance_id.clone(),
        backend: backend.to_string(),
        alias: alias.to_string(),
        until_ms,
        reason,
    })
    .map_err(short)?;
    let mut inv = cooldown_script().key(c.key(&["cooldown", backend, alias]));
    inv.arg(until_ms)
        .arg(reason_str(reason))
        .arg(ttl)
        .arg(c.channel())
        .arg(message);
    bounded("cooldown write", inv.invoke_async::<i64>(conn)).await?;
    c.stats.published.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Drains the channel of local events into Redis while it is up (dropping them while it is
/// away: the re-sync after reconnecting carries the cooldowns that still matter), coalesces
/// rate-limit readings per deployment, and publishes this instance's analytics counters.
pub(super) async fn write(c: Arc<Cluster>, state: Weak<dyn Host>, mut rx: mpsc::Receiver<Out>) {
    let mut pending: HashMap<(String, String), [WallReading; 4]> = HashMap::new();
    let mut flush = tokio::time::interval(LIMITS_FLUSH);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stats = tokio::time::interval(STATS_EVERY);
    stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            out = rx.recv() => {
                let Some(out) = out else { return };
                match out {
                    Out::Pool(event) if matches!(*event, PoolEvent::Limits { .. }) => {
                        let PoolEvent::Limits { backend, alias, dims } = *event else { continue };
                        let slot = pending.entry((backend, alias)).or_default();
                        for (cur, new) in slot.iter_mut().zip(dims) {
                            if new.limit.is_some() { cur.limit = new.limit; }
                            if new.remaining.is_some() { cur.remaining = new.remaining; }
                            if new.reset_unix_ms.is_some() { cur.reset_unix_ms = new.reset_unix_ms; }
                        }
                    }
                    other => {
                        if let Some(mut conn) = c.connection() {
                            if let Err(e) = write_one(&c, &state, &mut conn, other).await {
                                c.fail(&e);
                            }
                        }
                    }
                }
            }
            // Only while readings wait: an idle instance does not wake ten times a second.
            _ = flush.tick(), if !pending.is_empty() => {
                let batch = std::mem::take(&mut pending);
                if let Some(mut conn) = c.connection() {
                    if let Err(e) = write_limits(&c, &mut conn, batch).await {
                        c.fail(&e);
                    }
                }
            }
            _ = stats.tick() => {
                if state.strong_count() == 0 {
                    return;
                }
                if let Some(mut conn) = c.connection() {
                    if let Err(e) = publish_stats(&c, &state, &mut conn).await {
                        c.fail(&e);
                    }
                }
            }
        }
    }
}

async fn write_one(
    c: &Cluster,
    state: &Weak<dyn Host>,
    conn: &mut ConnectionManager,
    out: Out,
) -> Result<(), String> {
    match out {
        Out::Pool(event) => write_event(c, state, conn, *event).await,
        Out::Tokens { backend, tokens } => {
            let key = c.key(&["rate", &backend, "tok"]);
            bounded(
                "token count write",
                limits::charge_remote(conn, &key, tokens),
            )
            .await
        }
    }
}

async fn write_event(
    c: &Cluster,
    state: &Weak<dyn Host>,
    conn: &mut ConnectionManager,
    event: PoolEvent,
) -> Result<(), String> {
    match event {
        PoolEvent::Cooldown {
            backend,
            alias,
            until,
            reason,
        } => publish_cooldown(c, conn, &backend, &alias, unix_ms(until), reason).await,
        PoolEvent::Bound {
            backend,
            key,
            alias,
            new,
        } => {
            let Some(state) = state.upgrade() else {
                return Ok(());
            };
            let pools = state.pools();
            drop(state);
            let ttl = pools.settings().sticky_ttl.as_secs().max(1);
            let redis_key = c.key(&["sticky", &backend, &key]);
            if new {
                // The first instance to bind a conversation wins; a later one adopts its choice.
                let mut cmd = redis::cmd("SET");
                cmd.arg(&redis_key)
                    .arg(&alias)
                    .arg("NX")
                    .arg("GET")
                    .arg("EX")
                    .arg(ttl);
                let prior: Option<String> = bounded("sticky write", cmd.query_async(conn)).await?;
                if let Some(prior) = prior.filter(|p| *p != alias) {
                    pools.apply_binding(&backend, &key, &prior, Instant::now(), false);
                }
            } else {
                let message = serde_json::to_string(&Message::Bind {
                    from: c.instance_id.clone(),
                    backend,
                    key,
                    alias: alias.clone(),
                })
                .map_err(short)?;
                let mut pipe = redis::pipe();
                set_and_publish(&mut pipe, redis_key, &alias, ttl, c.channel(), message);
                bounded("sticky write", pipe.query_async::<()>(conn)).await?;
            }
            c.stats.published.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        PoolEvent::Limits { .. } => Ok(()),
    }
}

async fn write_limits(
    c: &Cluster,
    conn: &mut ConnectionManager,
    batch: HashMap<(String, String), [WallReading; 4]>,
) -> Result<(), String> {
    let mut pipe = redis::pipe();
    let n = batch.len() as u64;
    for ((backend, alias), dims) in batch {
        let value = serde_json::to_string(&dims).map_err(short)?;
        let message = serde_json::to_string(&Message::Limits {
            from: c.instance_id.clone(),
            backend: backend.clone(),
            alias: alias.clone(),
            dims,
        })
        .map_err(short)?;
        set_and_publish(
            &mut pipe,
            c.key(&["limits", &backend, &alias]),
            &value,
            LIMITS_TTL_SECS,
            c.channel(),
            message,
        );
    }
    bounded("rate-limit readings write", pipe.query_async::<()>(conn)).await?;
    c.stats.published.fetch_add(n, Ordering::Relaxed);
    Ok(())
}

/// The counters of one analytics section: totals and per backend (quantiles do not add up
/// across instances, so only counts, tokens and cost are kept).
fn section_counters(s: &crate::analytics::Section) -> Value {
    json!({
        "totals": s.totals,
        "by_backend": s.by_backend,
    })
}

async fn publish_stats(
    c: &Cluster,
    state: &Weak<dyn Host>,
    conn: &mut ConnectionManager,
) -> Result<(), String> {
    let Some(state) = state.upgrade() else {
        return Ok(());
    };
    let wall = SystemTime::now();
    let summary = state.analytics().summary(STATS_WINDOW, wall);
    drop(state);
    let now_ms = unix_ms(wall);
    let value = json!({
        "instance_id": c.instance_id,
        "at_ms": now_ms,
        "window": section_counters(&summary.window.section),
        "all_time": section_counters(&summary.all_time),
    })
    .to_string();
    let stats_key = c.key(&["stats", &c.instance_id]);
    let instances = c.key(&["instances"]);
    let mut pipe = redis::pipe();
    pipe.cmd("HSET")
        .arg(&stats_key)
        .arg("summary")
        .arg(value)
        .arg("at_ms")
        .arg(now_ms)
        .ignore()
        .cmd("PEXPIRE")
        .arg(&stats_key)
        .arg(STATS_TTL.as_millis() as u64)
        .ignore()
        .cmd("ZADD")
        .arg(&instances)
        .arg(now_ms)
        .arg(&c.instance_id)
        .ignore()
        .cmd("ZREMRANGEBYSCORE")
        .arg(&instances)
        .arg("-inf")
        .arg(now_ms.saturating_sub(STATS_TTL.as_millis() as u64))
        .ignore();
    bounded("analytics counters write", pipe.query_async::<()>(conn)).await
}

/// `GET /analytics?scope=cluster`: the counters every live instance published (each its last
/// 60 minutes and all time), summed; per backend too. `Err` says why Redis could not answer.
pub async fn cluster_analytics(c: &Cluster) -> Result<Value, String> {
    let mut conn = c.connection().ok_or_else(|| {
        format!(
            "Redis at {} is unreachable, so the cluster's counters can not be read (GET /analytics still shows this instance)",
            c.cfg.display_url()
        )
    })?;
    let instances = c.key(&["instances"]);
    let mut zrange = redis::cmd("ZRANGE");
    zrange.arg(&instances).arg(0).arg(-1);
    let ids: Vec<String> =
        bounded("reading the instance list", zrange.query_async(&mut conn)).await?;
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.cmd("HGET").arg(c.key(&["stats", id])).arg("summary");
    }
    let values: Vec<Option<String>> = if ids.is_empty() {
        Vec::new()
    } else {
        bounded("reading the counters", pipe.query_async(&mut conn)).await?
    };
    let mut listed = Vec::new();
    let mut sections: HashMap<&str, (Value, std::collections::BTreeMap<String, Value>)> =
        HashMap::new();
    for (id, v) in ids.iter().zip(values) {
        let Some(v) = v.and_then(|v| serde_json::from_str::<Value>(&v).ok()) else {
            continue;
        };
        listed.push(json!({ "instance_id": id, "at_ms": v["at_ms"] }));
        for name in ["window", "all_time"] {
            let (totals, by_backend) = sections
                .entry(name)
                .or_insert((json!({}), Default::default()));
            add_counters(totals, &v[name]["totals"]);
            for b in v[name]["by_backend"].as_array().into_iter().flatten() {
                let Some(backend) = b["backend"].as_str() else {
                    continue;
                };
                let slot = by_backend
                    .entry(backend.to_string())
                    .or_insert_with(|| json!({}));
                add_counters(slot, b);
                slot["backend"] = Value::String(backend.to_string());
            }
        }
    }
    let section = |name: &str| match sections.get(name) {
        Some((totals, by_backend)) => json!({
            "totals": totals,
            "by_backend": by_backend.values().collect::<Vec<_>>(),
        }),
        None => json!({ "totals": {}, "by_backend": [] }),
    };
    Ok(json!({
        "scope": "cluster",
        "namespace": c.cfg.namespace,
        "instance_id": c.instance_id,
        "instances": listed,
        "window_secs": STATS_WINDOW.as_secs(),
        "window": section("window"),
        "all_time": section("all_time"),
        "note": "counts, tokens and cost summed over the instances that published in the last 10 s; latency percentiles are per instance (GET /analytics on each)",
    }))
}
