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
