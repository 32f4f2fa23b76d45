//! Doctor's row for the usage history database (`<home>/history.sqlite3`).
//!
//! Owns: turning what `crate::history::inspect` finds into a row. Must not: open the database
//! for writing, or move, repair or delete it (the fix says how).

use std::path::Path;

use super::{Check, Status};
use crate::config::HistoryConfig;
use crate::history::{self, HistoryError};

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// The `history` row.
pub fn history_row(home: &Path, config: Option<&HistoryConfig>) -> Check {
    let default = HistoryConfig::default();
    let config = config.unwrap_or(&default);
    let path = history::db_path(home);
    if !config.enabled {
        return Check::new(
            Status::Info,
            "history",
            format!(
                "off ([history] enabled = false in config.toml); {} is not written",
                path.display()
            ),
        );
    }
    let aside = format!(
        "mv {p} {p}.broken   (dario then starts a new history; it never replaces the file itself), or set `[history] enabled = false` in config.toml",
        p = path.display()
    );
    match history::inspect(&path) {
        Err(HistoryError::Missing(_)) => Check::new(
            Status::Info,
            "history",
            format!(
                "no database yet at {} (dario proxy creates it, mode 0600)",
                path.display()
            ),
        ),
        Err(e) if e.to_string().contains("locked") || e.to_string().contains("busy") => Check::new(
            Status::Warn,
            "history",
            format!("{e} (another program holds a lock on it)"),
        )
        .with_fix(
            "find the process holding it: fuser -v ".to_string() + &path.display().to_string(),
        ),
        Err(e) => Check::new(Status::Fail, "history", e.to_string()).with_fix(aside),
        Ok(info) if info.integrity != "ok" => Check::new(
            Status::Fail,
            "history",
            format!(
                "{} is damaged (quick_check: {}); the proxy serves without it",
                path.display(),
                info.integrity.chars().take(200).collect::<String>()
            ),
        )
        .with_fix(aside),
        Ok(info) => {
            let span = match (info.oldest_ms, info.newest_ms) {
                (Some(a), Some(b)) => {
                    let t = |ms: i64| {
                        crate::timefmt::format_rfc3339(
                            std::time::UNIX_EPOCH
                                + std::time::Duration::from_millis(ms.max(0) as u64),
                        )
                    };
                    format!(" from {} to {}", t(a), t(b))
                }
                _ => String::new(),
            };
            let detail = format!(
                "{}: {}, {} records{span}, {} minutes of rollups, schema v{}, retention {} days (rollups {} days), healthy",
                path.display(),
                human_bytes(info.bytes),
                info.records,
                info.rollup_minutes,
                info.schema_version,
                config.retention_days,
                config.rollup_retention_days,
            );
            match info.mode {
                Some(m) if m & 0o077 != 0 => Check::new(
                    Status::Warn,
                    "history",
                    format!("{detail}; but mode {m:04o} lets other users read it"),
                )
                .with_fix(format!("chmod 600 {}", path.display())),
                _ => Check::new(Status::Ok, "history", detail),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_for_missing_disabled_healthy_and_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        let row = history_row(tmp.path(), None);
        assert_eq!(row.status, Status::Info, "{row:?}");
        let off = HistoryConfig {
            enabled: false,
            ..HistoryConfig::default()
        };
        assert!(history_row(tmp.path(), Some(&off)).detail.contains("off"));

        drop(history::store::open_for_writing(&history::db_path(tmp.path())).unwrap());
        let row = history_row(tmp.path(), None);
        assert_eq!(row.status, Status::Ok, "{row:?}");
        assert!(
            row.detail.contains("0 records")
                && row.detail.contains(&format!(
                    "schema v{}",
                    crate::history::schema::SCHEMA_VERSION
                ))
        );

        let bad = tempfile::tempdir().unwrap();
        std::fs::write(history::db_path(bad.path()), vec![7u8; 8192]).unwrap();
        let row = history_row(bad.path(), None);
        assert_eq!(row.status, Status::Fail, "{row:?}");
        assert!(row.fix.unwrap().contains(".broken"));
    }
}
