//! Opening the history database: the writer's connection (created 0600, WAL, migrated) and
//! read-only connections for queries (`dario stats`, `/analytics?since=`, doctor).
//!
//! Owns: the file, its mode and its pragmas. Must not: delete, rename or recreate a database it
//! cannot read (a corrupt file is reported, never replaced).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::{schema, HistoryError};

/// `<home>/history.sqlite3`.
pub fn db_path(home: &Path) -> PathBuf {
    home.join("history.sqlite3")
}

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating when missing, mode 0600) and migrates the database for writing.
pub fn open_for_writing(path: &Path) -> Result<Connection, HistoryError> {
    let ctx = |e| HistoryError::io(path, e);
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(dir).map_err(ctx)?;
        }
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    drop(opts.open(path).map_err(ctx)?);
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| HistoryError::sqlite(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| HistoryError::sqlite(path, e))?;
    // The first statement that reads the header: a file that is not a database fails here.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| HistoryError::sqlite(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(HistoryError::Unusable {
            path: path.to_path_buf(),
            why: format!("could not switch to WAL mode (journal_mode is `{mode}`)"),
        });
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| HistoryError::sqlite(path, e))?;
    schema::migrate(&mut conn).map_err(|e| e.at(path))?;
    Ok(conn)
}

/// Opens an existing database for reading only (works whether or not a proxy is writing).
pub fn open_read_only(path: &Path) -> Result<Connection, HistoryError> {
    if !path.exists() {
        return Err(HistoryError::Missing(path.to_path_buf()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| HistoryError::sqlite(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| HistoryError::sqlite(path, e))?;
    let v = schema::version(&conn).map_err(|e| e.at(path))?;
    if v > schema::SCHEMA_VERSION {
        return Err(HistoryError::NewerSchema {
            found: v,
            known: schema::SCHEMA_VERSION,
            path: None,
        }
        .at(path));
    }
    if v == 0 {
        return Err(HistoryError::Unusable {
            path: path.to_path_buf(),
            why: "the database has no dario schema yet (no proxy has written to it)".into(),
        });
    }
    Ok(conn)
}

/// What doctor shows about the database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbInfo {
    pub path: PathBuf,
    /// Database plus its WAL, in bytes.
    pub bytes: u64,
    pub schema_version: u32,
    pub records: u64,
    pub rollup_minutes: u64,
    /// Unix milliseconds of the oldest and newest raw record.
    pub oldest_ms: Option<i64>,
    pub newest_ms: Option<i64>,
    /// `PRAGMA quick_check`'s verdict (`ok` when healthy).
    pub integrity: String,
    /// Unix mode bits of the file.
    pub mode: Option<u32>,
}

/// Inspects the database read-only (doctor): size, counts, schema and a quick integrity check.
pub fn inspect(path: &Path) -> Result<DbInfo, HistoryError> {
    let conn = open_read_only(path)?;
    let q = |sql: &str| -> Result<i64, HistoryError> {
        conn.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
            .map(|v| v.unwrap_or(0))
            .map_err(|e| HistoryError::sqlite(path, e))
    };
    let records = q("SELECT count(*) FROM requests")? as u64;
    let rollup_minutes = q("SELECT count(DISTINCT minute) FROM minute_rollups")? as u64;
    let (oldest_ms, newest_ms) = conn
        .query_row("SELECT min(ts_ms), max(ts_ms) FROM requests", [], |r| {
            Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?))
        })
        .map_err(|e| HistoryError::sqlite(path, e))?;
    let integrity: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| HistoryError::sqlite(path, e))?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    Ok(DbInfo {
        path: path.to_path_buf(),
        bytes: size(path) + size(Path::new(&wal)),
        schema_version: schema::version(&conn)?,
        records,
        rollup_minutes,
        oldest_ms,
        newest_ms,
        integrity,
        mode: crate::config::mode_of(path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn creates_the_file_0600_in_wal_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let path = db_path(&tmp.path().join("home"));
        let conn = open_for_writing(&path).unwrap();
        assert_eq!(crate::config::mode_of(&path), Some(0o600));
        assert_eq!(crate::config::mode_of(path.parent().unwrap()), Some(0o700));
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(conn);
        let info = inspect(&path).unwrap();
        assert_eq!(info.schema_version, schema::SCHEMA_VERSION);
        assert_eq!(info.records, 0);
        assert_eq!(info.integrity, "ok");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_reported_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let path = db_path(tmp.path());
        let junk = b"this is not a database, and it must survive being opened".repeat(100);
        std::fs::write(&path, &junk).unwrap();
        let e = open_for_writing(&path).unwrap_err();
        assert!(e.to_string().contains("history.sqlite3"), "{e}");
        assert!(e.to_string().contains("enabled = false"), "{e}");
        assert!(inspect(&path).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), junk);
    }

    #[test]
    fn read_only_open_of_a_missing_file_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let e = open_read_only(&db_path(tmp.path())).unwrap_err();
        assert!(matches!(e, HistoryError::Missing(_)));
    }
}
