//! Hostile-input suite, files (issue 13): a `dario backend add` killed mid-write leaves the old
//! backend file byte-for-byte as it was (mode 0600) and the next `dario backend list` works.
//! The kill lands at the worst moment — the new bytes written and synced to the temporary file,
//! the rename not yet done — through the writer's test-build crash point
//! (`DARIO_TEST_CRASH_AFTER_TEMP_WRITE`, compiled only with debug assertions).

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn dario(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dario"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DARIO_HOME", home)
        .env("HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run dario")
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_backend_write_killed_before_its_rename_leaves_the_old_file_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("dario");
    let add = |key: &str, env: &[(&str, &str)]| {
        dario(
            &home,
            &[
                "backend",
                "add",
                "crashy",
                "--protocol",
                "openai",
                "--base-url",
                "http://127.0.0.1:9/v1",
                &format!("--key={key}"),
                "--model",
                "crashy-*",
            ],
            env,
        )
    };
    let first = add("sk-old-key-0123456789", &[]);
    assert!(first.status.success(), "{first:?}");
    let file = home.join("backends").join("crashy.json");
    let before = std::fs::read(&file).unwrap();

    // The second write dies between the synced temporary file and the rename.
    let crashed = add(
        "sk-new-key-9876543210",
        &[("DARIO_TEST_CRASH_AFTER_TEMP_WRITE", "1")],
    );
    assert!(
        !crashed.status.success(),
        "the writer must have been killed: {crashed:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            crashed.status.signal(),
            Some(libc::SIGABRT),
            "killed at the crash point, not failed some other way: {crashed:?}"
        );
    }
    // The old file: byte-identical, still 0600.
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the old file changed"
    );
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    // The new bytes did reach the disk, in the temporary file the rename would have moved.
    let leftovers: Vec<_> = std::fs::read_dir(home.join("backends"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().ends_with(".part"))
        .collect();
    assert_eq!(leftovers.len(), 1, "one temporary file: {leftovers:?}");
    assert!(
        String::from_utf8_lossy(&std::fs::read(&leftovers[0]).unwrap())
            .contains("sk-new-key-9876543210"),
        "the crash came after the new content was written"
    );
    #[cfg(unix)]
    assert_eq!(mode(&leftovers[0]), 0o600, "the temporary file too");

    // The next list works, sees the old backend, and is not confused by the leftover.
    let list = dario(&home, &["backend", "list", "--json"], &[]);
    assert!(list.status.success(), "{list:?}");
    let j: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let crashy = j["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "crashy")
        .unwrap_or_else(|| panic!("crashy listed: {j}"));
    assert_eq!(crashy["models"], serde_json::json!(["crashy-*"]));
    let stderr = String::from_utf8_lossy(&list.stderr);
    assert!(!stderr.contains("error"), "{stderr}");

    // And a later write succeeds over it.
    let again = add("sk-new-key-9876543210", &[]);
    assert!(again.status.success(), "{again:?}");
    assert_ne!(std::fs::read(&file).unwrap(), before);
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
}
