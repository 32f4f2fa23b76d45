//! Doctor rows about dario's home directory and the permissions of its secret files.
//!
//! Owns: stat calls on the home directory, `backends/` and the files that hold credentials. Must
//! not: read any file's content (credentials stay where they are) or change any mode itself.

use std::path::Path;

use super::{Check, Status};

/// The permission rows: the home directory and `backends/` must be 0700, every file holding a
/// credential 0600 (no group or other bits). `secret_files` are the files known to hold keys
/// besides `backends/*.json` (e.g. a `config.toml` with a `key = …`).
#[cfg(unix)]
pub fn permission_checks(home: &Path, secret_files: &[&Path]) -> Vec<Check> {
    use std::os::unix::fs::PermissionsExt;

    let mut rows = Vec::new();
    let mut dirs_ok = 0usize;
    let mut files_ok = 0usize;
    let mut check = |path: &Path, want: u32, is_dir: bool| {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            if is_dir {
                dirs_ok += 1;
            } else {
                files_ok += 1;
            }
            return;
        }
        let kind = if is_dir { "directory" } else { "private file" };
        rows.push(
            Check::new(
                Status::Fail,
                "permissions",
                format!(
                    "{} ({kind}) is {mode:04o}: other users on this machine can {}; it must be {want:04o}",
                    path.display(),
                    if is_dir { "list or enter it" } else { "read it" }
                ),
            )
            .with_fix(format!("chmod {want:o} {}", shell_quote(path))),
        );
    };

    check(home, 0o700, true);
    let backends = home.join("backends");
    check(&backends, 0o700, true);
    if let Ok(entries) = std::fs::read_dir(&backends) {
        let mut files: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
            .collect();
        files.sort();
        for file in files {
            check(&file, 0o600, false);
        }
    }
    for file in secret_files {
        check(file, 0o600, false);
    }
    if rows.is_empty() {
        rows.push(Check::new(
            Status::Ok,
            "permissions",
            format!(
                "{dirs_ok} {} 0700, {files_ok} private {} 0600",
                if dirs_ok == 1 {
                    "directory"
                } else {
                    "directories"
                },
                if files_ok == 1 { "file" } else { "files" }
            ),
        ));
    }
    rows
}

#[cfg(not(unix))]
pub fn permission_checks(_home: &Path, _secret_files: &[&Path]) -> Vec<Check> {
    vec![Check::new(
        Status::Info,
        "permissions",
        "not checked on this platform (the home directory is protected by your user profile's ACLs)",
    )]
}

/// Quote a path for a POSIX shell when it needs it.
pub fn shell_quote(path: &Path) -> String {
    let s = path.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-~+,:@".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
