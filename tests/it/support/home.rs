//! Temporary homes for the tests that run the real binary: a `HOME` with dario's home at
//! `.dario/` inside (private modes, as `dario backend add` makes it), the files tests write into
//! it, and the `dario` command that runs against it with nothing from the developer's
//! environment. Also the small file and port helpers those tests share. Owns no process: see
//! `process.rs` for `dario proxy` as a child.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

/// A temporary `HOME` holding dario's home `.dario/` (with `backends/`, both mode 0700).
/// Removed on drop.
pub struct DarioHome {
    tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl DarioHome {
    pub fn new() -> DarioHome {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(".dario");
        std::fs::create_dir_all(dir.join("backends")).unwrap();
        chmod(&dir, 0o700);
        chmod(&dir.join("backends"), 0o700);
        DarioHome { tmp, dir }
    }

    /// `HOME` (the parent of [`DarioHome::dir`]).
    pub fn home(&self) -> &Path {
        self.tmp.path()
    }

    /// dario's home, `DARIO_HOME`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `backends/<name>.json` (mode 0600) from `spec`, with `"name"` set to `name` when
    /// `spec` has none.
    pub fn backend(&self, name: &str, spec: Value) -> PathBuf {
        let mut spec = spec;
        if spec.get("name").is_none() {
            spec["name"] = json!(name);
        }
        self.backend_file(name, &spec.to_string())
    }

    /// The built-in `anthropic` and `openai` backends pointed at other base URLs, passing the
    /// client's own credential through.
    pub fn passthrough_builtins(&self, anthropic_url: &str, openai_url: &str) {
        self.backend(
            "anthropic",
            json!({"protocol": "anthropic", "base_url": anthropic_url, "passthrough": true}),
        );
        self.backend(
            "openai",
            json!({"protocol": "openai", "base_url": openai_url, "passthrough": true}),
        );
    }

    /// Writes `backends/<name>.json` (mode 0600) with exactly `text` (for malformed files).
    pub fn backend_file(&self, name: &str, text: &str) -> PathBuf {
        self.write(&format!("backends/{name}.json"), text, 0o600)
    }

    /// Writes `config.toml` (mode 0600).
    pub fn config_toml(&self, text: &str) -> PathBuf {
        self.write("config.toml", text, 0o600)
    }

    /// Writes `rel` under dario's home with `mode`, creating its directories.
    pub fn write(&self, rel: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        chmod(&path, mode);
        path
    }

    /// `dario <args>` with this home and nothing from the test machine's environment but `PATH`
    /// (no API keys, no proxies, no `CLAUDE_CONFIG_DIR`); add variables with `.env`.
    pub fn command(&self, args: &[&str]) -> Command {
        dario_command(self.home(), self.dir(), args)
    }
}

/// `dario <args>` with `home` as `HOME`, `dario_home` as `DARIO_HOME` and nothing else from the
/// test machine's environment but `PATH`.
pub fn dario_command(home: &Path, dario_home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dario"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("DARIO_HOME", dario_home);
    cmd
}

pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The permission bits of `path`.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
