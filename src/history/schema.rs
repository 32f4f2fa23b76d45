//! The history database's schema and its migrations (`PRAGMA user_version`).
//!
//! Owns: the tables and how a database of an older schema is brought up to date. Must not: touch
//! a database whose schema is newer than this build knows (that is an error the caller reports).

use rusqlite::Connection;

use super::HistoryError;

/// The schema this build writes. Migration `i` (0-based) takes `user_version` from `i` to `i + 1`.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

const MIGRATIONS: &[&str] = &[
    // 1: raw request records, per-minute rollups, bookkeeping.
    "CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        ts_ms INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        inbound TEXT NOT NULL,
        client TEXT NOT NULL,
        session_id TEXT,
        agent_id TEXT,
        backend TEXT NOT NULL,
        deployment TEXT NOT NULL,
        requested_model TEXT NOT NULL,
        upstream_model TEXT NOT NULL,
        model TEXT NOT NULL,
        status INTEGER NOT NULL,
        streamed INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        latency_us INTEGER NOT NULL,
        ttfb_us INTEGER,
        overhead_us INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        priced INTEGER NOT NULL,
        dropped TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX requests_ts ON requests (ts_ms);
    CREATE INDEX requests_session ON requests (session_id, ts_ms) WHERE session_id IS NOT NULL;
    CREATE TABLE minute_rollups (
        minute INTEGER NOT NULL,
        backend TEXT NOT NULL,
        deployment TEXT NOT NULL,
        model TEXT NOT NULL,
        requests INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        streamed INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        latency_us_sum INTEGER NOT NULL,
        PRIMARY KEY (minute, backend, deployment, model)
    ) WITHOUT ROWID;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
    // 2: the instance that served a request (`[cluster] instance_id`; NULL when alone), so the
    // histories of several instances can be told apart when put side by side.
    "ALTER TABLE requests ADD COLUMN instance TEXT;",
    // 3: no query reads `requests` by session (summaries scan the time range and group in
    // memory), and the index cost a b-tree insert per Claude Code request (callgrind: ~5,900
    // instructions per row with a session id, ~440 without).
    "DROP INDEX IF EXISTS requests_session;",
];

/// The schema version of an open database.
pub fn version(conn: &Connection) -> Result<u32, HistoryError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get::<_, u32>(0))?)
}

/// Brings the database up to [`SCHEMA_VERSION`], each step in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<u32, HistoryError> {
    let from = version(conn)?;
    if from > SCHEMA_VERSION {
        return Err(HistoryError::NewerSchema {
            found: from,
            known: SCHEMA_VERSION,
            path: None,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as u32)?;
        tx.commit()?;
    }
    Ok(SCHEMA_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_from_empty_and_is_idempotent() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(version(&c).unwrap(), 0);
        assert_eq!(migrate(&mut c).unwrap(), SCHEMA_VERSION);
        assert_eq!(version(&c).unwrap(), SCHEMA_VERSION);
        assert_eq!(migrate(&mut c).unwrap(), SCHEMA_VERSION);
        let n: i64 = c
            .query_row("SELECT count(*) FROM requests", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn a_version_1_database_keeps_its_records_and_gains_the_instance_column() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute(
            "INSERT INTO requests (ts_ms, request_id, endpoint, inbound, client, backend,
                deployment, requested_model, upstream_model, model, status, streamed, attempts,
                latency_us, overhead_us, input_tokens, output_tokens, cache_read_tokens,
                cache_write_tokens, reasoning_tokens, cost_usd, priced)
             VALUES (1, 'req_1', 'chat', 'openai', 'curl', 'b', 'd', 'm', 'm', 'm', 200, 0, 1,
                10, 1, 1, 1, 0, 0, 0, 0.0, 0)",
            [],
        )
        .unwrap();
        assert_eq!(migrate(&mut c).unwrap(), SCHEMA_VERSION);
        let (id, instance): (String, Option<String>) = c
            .query_row("SELECT request_id, instance FROM requests", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((id.as_str(), instance), ("req_1", None));
    }

    /// A history file written by a build of schema 2 (with its session index) opens for
    /// writing, keeps its rows, loses the index, and its sessions still summarise.
    #[test]
    fn a_version_2_file_keeps_its_records_and_loses_the_session_index() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("history.sqlite3");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.execute_batch(MIGRATIONS[1]).unwrap();
            c.pragma_update(None, "user_version", 2).unwrap();
            for (i, session) in [(1, Some("sess-a")), (2, Some("sess-a")), (3, None)] {
                c.execute(
                    "INSERT INTO requests (ts_ms, request_id, endpoint, inbound, client,
                        session_id, backend, deployment, requested_model, upstream_model, model,
                        status, streamed, attempts, latency_us, overhead_us, input_tokens,
                        output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
                        cost_usd, priced, instance)
                     VALUES (?1, 'req_' || ?1, '/v1/messages', 'anthropic', 'claude-code', ?2,
                        'b', '', 'm', 'm', 'm', 200, 1, 1, 10, 1, 5, 1, 0, 0, 0, 0.25, 1, 'i-1')",
                    rusqlite::params![1_800_000_000_000i64 + i, session],
                )
                .unwrap();
            }
        }
        let index = |c: &Connection| -> i64 {
            c.query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'requests_session'",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(index(&Connection::open(&path).unwrap()), 1);
        let c = super::super::store::open_for_writing(&path).unwrap();
        assert_eq!(version(&c).unwrap(), SCHEMA_VERSION);
        assert_eq!(index(&c), 0);
        let (n, instances): (i64, i64) = c
            .query_row("SELECT count(*), count(instance) FROM requests", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((n, instances), (3, 3));
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_800_000_001_000);
        let s = super::super::summarize(&c, 1_800_000_000_000, now).unwrap();
        assert_eq!(s.window.totals.requests, 3);
        assert_eq!(s.sessions.len(), 1);
        assert_eq!(
            (s.sessions[0].session_id.as_str(), s.sessions[0].requests),
            ("sess-a", 2)
        );
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let e = migrate(&mut c).unwrap_err();
        assert!(
            matches!(e, HistoryError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1)
        );
        assert!(e.to_string().contains("newer than this dario"), "{e}");
    }
}
