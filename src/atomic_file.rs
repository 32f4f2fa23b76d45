//! The one atomic file writer: a temporary file beside the target (a dot file, so listings skip
//! it), written, given its mode, fsynced, renamed over the target, and the directory fsynced, so
//! a reader sees the old file or the new one — never half of one — and the new one survives a
//! crash.
//!
//! Owns: that sequence, and the directory fsync after a removal. Must not: decide modes or
//! paths (callers do: `0o600` for files holding keys) or run on the async runtime's
//! threads (it blocks on fsync).

use std::io::Write;
use std::path::{Path, PathBuf};

/// What failed, on which path.
#[derive(Debug, thiserror::Error)]
#[error("could not {action} {}: {source}", path.display())]
pub struct WriteError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Replaces `path` with `bytes` atomically and durably; the file gets `mode` (Unix permission
/// bits; ignored elsewhere) before it is visible under its name.
pub fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let fail = |action: &'static str, at: &Path| {
        let path = at.to_path_buf();
        move |source| WriteError {
            action,
            path,
            source,
        }
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-").suffix(".part");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(fail("create a temporary file in", dir))?;
    tmp.write_all(bytes).map_err(fail("write", tmp.path()))?;
    tmp.as_file().sync_all().map_err(fail("sync", tmp.path()))?;
    crash_point_after_temp_write();
    tmp.persist(path)
        .map_err(|e| fail("replace", path)(e.error))?;
    sync_dir(dir)
}

/// Test builds only (issue 13's crash test, tests/it/hostile_files.rs): with
/// `DARIO_TEST_CRASH_AFTER_TEMP_WRITE` set, the process dies here — the new bytes written and
/// synced to the temporary file, the rename not yet done — as a writer killed mid-way would.
#[cfg(debug_assertions)]
fn crash_point_after_temp_write() {
    if std::env::var_os("DARIO_TEST_CRASH_AFTER_TEMP_WRITE").is_some() {
        std::process::abort();
    }
}

#[cfg(not(debug_assertions))]
fn crash_point_after_temp_write() {}

/// Makes a rename or removal in `dir` durable (a no-op where directories cannot be fsynced).
pub fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| WriteError {
            action: "sync directory",
            path: dir.to_path_buf(),
            source,
        })?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_with_the_mode_and_leaves_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f.json");
        std::fs::write(&path, "old").unwrap();
        write(&path, b"new", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            write(&path, b"newer", 0o644).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_missing_directory_is_named_in_the_error() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("no/such/dir/f.json");
        let err = write(&path, b"x", 0o600).unwrap_err();
        assert_eq!(err.action, "create a temporary file in");
        assert!(err.to_string().contains("no/such/dir"), "{err}");
    }
}
