//! What `dario claude` and `dario codex` share: a `dario proxy` started for the session when none
//! answers on the port (stopped when the session ends), running the client with its environment,
//! and printing that environment.
//!
//! Owns: the session proxy's lifetime and the child process. Must not: know which client it runs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::Home;

/// Stops the session's proxy (if this command started one) however the session ends.
pub struct ProxyGuard(Option<Child>);

impl Drop for ProxyGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Makes sure a dario proxy answers on `addr`: the one already running, or one started now
/// (its log in `~/.dario/<log_name>`), which the returned guard stops.
pub fn ensure_proxy(home: &Home, addr: SocketAddr, log_name: &str) -> anyhow::Result<ProxyGuard> {
    let mut proxy = ProxyGuard(None);
    if dario_answers(addr) {
        return Ok(proxy);
    }
    let port = addr.port();
    let exe = std::env::current_exe().context("cannot find the dario executable")?;
    home.ensure()?;
    let log = home.dir().join(log_name);
    let log_file = std::fs::File::create(&log)
        .with_context(|| format!("cannot write the proxy log {}", log.display()))?;
    let child = Command::new(exe)
        .args(["proxy", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .context("could not start `dario proxy`")?;
    proxy.0 = Some(child);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !dario_answers(addr) {
        if let Some(status) = proxy.0.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            anyhow::bail!(
                "`dario proxy --port {port}` exited ({status}) before it answered: see {}",
                log.display()
            );
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "`dario proxy --port {port}` did not answer within 15 s: see {}",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(proxy)
}

/// Runs the client to completion; its exit code becomes dario's. `missing` is the next step
/// when the executable cannot be run.
pub fn run_client(
    bin: &str,
    args: &[String],
    env: &[(String, String)],
    missing: &str,
) -> anyhow::Result<ExitCode> {
    let status = Command::new(bin)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .status()
        .with_context(|| format!("could not run `{bin}`: {missing}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(c.clamp(1, 255) as u8),
        None => ExitCode::FAILURE,
    })
}

/// `--print-env`: the variables (shell-quoted; keys and tokens as `***`, which may be the
/// `DARIO_API_KEY`) and the command line.
pub fn print_env(env: &[(String, String)], bin: &str, args: &[String]) {
    for (k, v) in env {
        let secret = k.ends_with("_KEY") || k.ends_with("_TOKEN");
        println!("{k}={}", shell_quote(if secret { "***" } else { v }));
    }
    let quoted: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
    println!("{bin} {}", quoted.join(" "));
}

/// Does a dario proxy answer `GET /health` on `addr`?
fn dario_answers(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.take(64 * 1024).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.starts_with("HTTP/1.1 200") && text.contains("\"service\":\"dario\"")
}

fn shell_quote(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=@".contains(c))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}
