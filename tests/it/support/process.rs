//! The real `dario` binary as a child process on an ephemeral loopback port, with its own
//! `DARIO_HOME`/`HOME` and no API keys from the developer's environment. Killed on drop.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Running {
    pub child: Child,
    /// `http://127.0.0.1:<port>`, from the "listening on" line.
    pub base: String,
    /// The stderr lines after "listening on", kept by the thread that drains the pipe.
    drain: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Running {
    /// Everything the process wrote to stderr after its "listening on" line, once it has exited
    /// (wait for the exit first: this waits for the pipe to close).
    pub fn stderr_after_exit(&mut self) -> Vec<String> {
        self.drain
            .take()
            .map(|t| t.join().unwrap())
            .unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `dario [args]` with `home` as its home and `env` added, and waits for its
/// "listening on" line (warnings may come before it).
pub fn start_process<K, V>(home: &Path, args: &[&str], env: &[(K, V)]) -> Running
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let mut command = Command::new(env!("CARGO_BIN_EXE_dario"));
    command
        .args(args)
        .env("DARIO_HOME", home)
        .env("HOME", home)
        .env("DARIO_PORT", "0")
        .env_remove("DARIO_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    // One stderr line as text (lossy: a line that is not UTF-8 must not stop the reading).
    fn next_line(r: &mut impl BufRead) -> Option<String> {
        let mut line = Vec::new();
        match r.read_until(b'\n', &mut line) {
            Ok(n) if n > 0 => Some(String::from_utf8_lossy(&line).trim_end().to_string()),
            _ => None,
        }
    }
    let base = loop {
        let line = next_line(&mut stderr).expect("dario exited before listening");
        if line.contains("listening on") {
            break line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .unwrap_or_else(|| panic!("no address in {line:?}"))
                .to_string();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe; keep the lines for tests
    // that read the log.
    let drain = std::thread::spawn(move || std::iter::from_fn(|| next_line(&mut stderr)).collect());
    Running {
        child,
        base,
        drain: Some(drain),
    }
}

impl Running {
    /// Sends `sig` (`-TERM`, `-HUP`, `-KILL`) to the process.
    pub fn signal(&self, sig: &str) {
        signal(self.child.id(), sig);
    }

    /// Waits for the process to exit, at most `within`; returns its status.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "dario did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Sends `sig` (`-TERM`, `-HUP`, `-KILL`) to process `pid` with kill(1).
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}
