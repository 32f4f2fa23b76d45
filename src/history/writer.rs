//! The history writer: one plain thread that owns the write connection, gathers rows from a
//! bounded channel and commits them in batches (rows + per-minute rollups in one transaction),
//! and prunes what is past its retention once an hour.
//!
//! Owns: every write to the database. Must not: run on the async runtime, or panic on a database
//! error (a failed batch is counted and reported through `Health`, and the next batch tries again).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, Statement};

use super::{AsRow, Health, Msg, Pending, RowRef, BATCH_SIZE, FLUSH_INTERVAL};
use crate::config::HistoryConfig;

const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const DAY_MS: i64 = 86_400_000;

pub(crate) fn spawn(
    conn: Connection,
    rx: Receiver<Msg>,
    health: Arc<Health>,
    config: HistoryConfig,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("dario-history".into())
        .spawn(move || run(conn, rx, &health, &config))
}

/// The writer sleeps (`park_timeout`) instead of waiting on the channel, so a recorded request
/// wakes nobody: the recorder unparks it only when a batch is full (see `History::accept`), and
/// `Flush` / `Stop` unpark it. Otherwise it wakes when the oldest gathered record is
/// `FLUSH_INTERVAL` old, or to prune.
fn run(mut conn: Connection, rx: Receiver<Msg>, health: &Health, config: &HistoryConfig) {
    let mut batch: Vec<Pending> = Vec::with_capacity(BATCH_SIZE);
    let mut due: Option<Instant> = None;
    let mut next_prune = Instant::now();
    loop {
        loop {
            match rx.try_recv() {
                Ok(Msg::Row(row)) => {
                    health.pending.fetch_sub(1, Ordering::Relaxed);
                    batch.push(row);
                    if due.is_none() {
                        due = Some(Instant::now() + FLUSH_INTERVAL);
                    }
                    if batch.len() >= BATCH_SIZE {
                        commit(&mut conn, &mut batch, health);
                        due = None;
                    }
                }
                Ok(Msg::Flush(done)) => {
                    commit(&mut conn, &mut batch, health);
                    due = None;
                    let _ = done.send(());
                }
                Ok(Msg::Stop) | Err(TryRecvError::Disconnected) => {
                    commit(&mut conn, &mut batch, health);
                    // Leave a checkpointed database (readers need no WAL to replay).
                    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
                    return;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        let now = Instant::now();
        if due.is_some_and(|d| now >= d) {
            commit(&mut conn, &mut batch, health);
            due = None;
        }
        if now >= next_prune && batch.is_empty() {
            if let Err(e) = prune(&conn, config, now_ms()) {
                health.fail(&format!("pruning old records failed: {e}"), 0);
            }
            next_prune = Instant::now() + PRUNE_EVERY;
        }
        let until = due.map_or(next_prune, |d| d.min(next_prune));
        std::thread::park_timeout(until.saturating_duration_since(Instant::now()));
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn commit(conn: &mut Connection, batch: &mut Vec<Pending>, health: &Health) {
    if batch.is_empty() {
        return;
    }
    match write_batch(conn, batch, health.instance.get().map(String::as_str)) {
        Ok(()) => {
            health
                .written
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            health.batches.fetch_add(1, Ordering::Relaxed);
            health.ok();
        }
        Err(e) => health.fail(
            &format!("could not write {} records: {e}", batch.len()),
            batch.len(),
        ),
    }
    batch.clear();
}

#[derive(Default)]
struct Rollup {
    requests: i64,
    errors: i64,
    streamed: i64,
    attempts: i64,
    input: i64,
    output: i64,
    cache_read: i64,
    cache_write: i64,
    reasoning: i64,
    cost: f64,
    latency_us: i64,
}

/// The columns of `requests` the writer fills, in the order [`bind_row`] binds them.
const COLUMNS: [&str; 27] = [
    "ts_ms",
    "request_id",
    "endpoint",
    "inbound",
    "client",
    "session_id",
    "agent_id",
    "backend",
    "deployment",
    "requested_model",
    "upstream_model",
    "model",
    "status",
    "streamed",
    "attempts",
    "latency_us",
    "ttfb_us",
    "overhead_us",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "priced",
    "dropped",
    "instance",
];

/// Rows per multi-row INSERT: one statement of 8 rows cost ~1,260 instructions per row less than
/// 8 statements of one (fewer steps, resets and cursor openings; callgrind, passthrough lane);
/// 16 rows measured no better and 32 worse (a scratch loop of 256-row batches).
const ROWS_PER_INSERT: usize = 8;

/// `INSERT INTO requests (…) VALUES (?, …)` with `rows` rows of placeholders.
fn insert_sql(rows: usize) -> String {
    let one = format!("({})", vec!["?"; COLUMNS.len()].join(", "));
    format!(
        "INSERT INTO requests ({}) VALUES {}",
        COLUMNS.join(", "),
        vec![one; rows].join(", ")
    )
}

static INSERT_ONE: LazyLock<String> = LazyLock::new(|| insert_sql(1));
static INSERT_MANY: LazyLock<String> = LazyLock::new(|| insert_sql(ROWS_PER_INSERT));

/// Binds `r` to the parameters after `offset`, in [`COLUMNS`] order. Bound one by one with
/// their own types: `execute(params![…])` cost more (an array of `dyn ToSql`, a parameter count
/// per call; callgrind: ~1,570 instructions per row in a scratch loop of 256-row batches, and
/// with schema 3's dropped index ~1,060 per row in the passthrough lane).
fn bind_row(
    stmt: &mut Statement<'_>,
    offset: usize,
    r: &RowRef<'_>,
    instance: Option<&str>,
) -> rusqlite::Result<()> {
    let mut i = offset;
    let mut next = || {
        i += 1;
        i
    };
    stmt.raw_bind_parameter(next(), r.ts_ms)?;
    stmt.raw_bind_parameter(next(), r.request_id)?;
    stmt.raw_bind_parameter(next(), r.endpoint)?;
    stmt.raw_bind_parameter(next(), r.inbound)?;
    stmt.raw_bind_parameter(next(), r.client)?;
    stmt.raw_bind_parameter(next(), r.session_id)?;
    stmt.raw_bind_parameter(next(), r.agent_id)?;
    stmt.raw_bind_parameter(next(), r.backend)?;
    stmt.raw_bind_parameter(next(), r.deployment)?;
    stmt.raw_bind_parameter(next(), r.requested_model)?;
    stmt.raw_bind_parameter(next(), r.upstream_model)?;
    stmt.raw_bind_parameter(next(), r.model())?;
    stmt.raw_bind_parameter(next(), r.status)?;
    stmt.raw_bind_parameter(next(), r.streamed)?;
    stmt.raw_bind_parameter(next(), r.attempts)?;
    stmt.raw_bind_parameter(next(), r.latency_us as i64)?;
    stmt.raw_bind_parameter(next(), r.ttfb_us.map(|v| v as i64))?;
    stmt.raw_bind_parameter(next(), r.overhead_us as i64)?;
    stmt.raw_bind_parameter(next(), r.input_tokens as i64)?;
    stmt.raw_bind_parameter(next(), r.output_tokens as i64)?;
    stmt.raw_bind_parameter(next(), r.cache_read_tokens as i64)?;
    stmt.raw_bind_parameter(next(), r.cache_write_tokens as i64)?;
    stmt.raw_bind_parameter(next(), r.reasoning_tokens as i64)?;
    stmt.raw_bind_parameter(next(), r.cost_usd)?;
    stmt.raw_bind_parameter(next(), r.priced)?;
    stmt.raw_bind_parameter(next(), r.dropped.as_ref())?;
    stmt.raw_bind_parameter(next(), instance)?;
    debug_assert_eq!(i - offset, COLUMNS.len());
    Ok(())
}

/// Inserts the rows (tagged with `instance`, this process's cluster instance id, if any) and
/// folds them into the per-minute rollups, in one transaction.
pub(crate) fn write_batch<R: AsRow>(
    conn: &mut Connection,
    rows: &[R],
    instance: Option<&str>,
) -> rusqlite::Result<()> {
    let rows: Vec<_> = rows.iter().map(AsRow::row).collect();
    let tx = conn.transaction()?;
    {
        // Whole statements of ROWS_PER_INSERT rows, then the rest one by one.
        let mut many = tx.prepare_cached(&INSERT_MANY)?;
        let mut chunks = rows.chunks_exact(ROWS_PER_INSERT);
        for chunk in &mut chunks {
            for (i, r) in chunk.iter().enumerate() {
                bind_row(&mut many, i * COLUMNS.len(), r, instance)?;
            }
            many.raw_execute()?;
        }
        let mut one = tx.prepare_cached(&INSERT_ONE)?;
        for r in chunks.remainder() {
            bind_row(&mut one, 0, r, instance)?;
            one.raw_execute()?;
        }
        let mut rollups: HashMap<(i64, &str, &str, &str), Rollup> = HashMap::new();
        for r in &rows {
            let g = rollups
                .entry((
                    r.ts_ms.div_euclid(60_000),
                    r.backend,
                    r.deployment,
                    r.model(),
                ))
                .or_default();
            g.requests += 1;
            g.errors += i64::from(r.is_error());
            g.streamed += i64::from(r.streamed);
            g.attempts += i64::from(r.attempts);
            g.input += r.input_tokens as i64;
            g.output += r.output_tokens as i64;
            g.cache_read += r.cache_read_tokens as i64;
            g.cache_write += r.cache_write_tokens as i64;
            g.reasoning += r.reasoning_tokens as i64;
            g.cost += r.cost_usd;
            g.latency_us += r.latency_us as i64;
        }
        let mut up = tx.prepare_cached(
            "INSERT INTO minute_rollups (minute, backend, deployment, model, requests, errors,
                streamed, attempts, input_tokens, output_tokens, cache_read_tokens,
                cache_write_tokens, reasoning_tokens, cost_usd, latency_us_sum)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
             ON CONFLICT (minute, backend, deployment, model) DO UPDATE SET
                requests = requests + excluded.requests,
                errors = errors + excluded.errors,
                streamed = streamed + excluded.streamed,
                attempts = attempts + excluded.attempts,
                input_tokens = input_tokens + excluded.input_tokens,
                output_tokens = output_tokens + excluded.output_tokens,
                cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
                cost_usd = cost_usd + excluded.cost_usd,
                latency_us_sum = latency_us_sum + excluded.latency_us_sum",
        )?;
        for ((minute, backend, deployment, model), g) in rollups {
            up.execute(params![
                minute,
                backend,
                deployment,
                model,
                g.requests,
                g.errors,
                g.streamed,
                g.attempts,
                g.input,
                g.output,
                g.cache_read,
                g.cache_write,
                g.reasoning,
                g.cost,
                g.latency_us,
            ])?;
        }
    }
    tx.commit()
}

/// Deletes raw records older than the retention and rollups older than theirs; records where
/// raw records now start (`meta.raw_from_ms`), so queries know to use rollups before it.
pub(crate) fn prune(
    conn: &Connection,
    config: &HistoryConfig,
    now_ms: i64,
) -> rusqlite::Result<()> {
    let raw_from = now_ms - i64::from(config.retention_days) * DAY_MS;
    let rollup_from = now_ms - i64::from(config.rollup_retention_days) * DAY_MS;
    conn.execute("DELETE FROM requests WHERE ts_ms < ?1", [raw_from])?;
    conn.execute(
        "DELETE FROM minute_rollups WHERE minute < ?1",
        [rollup_from.div_euclid(60_000)],
    )?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('raw_from_ms', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [raw_from.to_string()],
    )?;
    Ok(())
}
