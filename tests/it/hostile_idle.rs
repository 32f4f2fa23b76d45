//! Hostile-input suite, connection floods (issue 13): 10,000 idle keep-alive connections to the
//! real `dario proxy` process cost it bounded memory (its RSS, read from /proc, before and
//! after), it goes on serving while they are open, and once they close its descriptors go back
//! to where they were (no connection, and no task holding one, is leaked). Alone in its test
//! binary: it needs ~10,000 descriptors on each side.

use crate::support;

use std::time::Duration;

use support::process::start_process;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECTIONS: usize = 10_000;

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (the child inherits it).
fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur
    }
}

fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// One keep-alive request on `s`; returns once the whole response was read.
async fn health(s: &mut TcpStream) {
    s.write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "dario closed a keep-alive connection");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse().ok())
                .expect("a content-length");
            if body.len() >= len {
                assert!(head.starts_with("HTTP/1.1 200"), "{text}");
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_keep_alive_connections_cost_bounded_memory() {
    let nofile = raise_nofile();
    assert!(
        nofile >= (CONNECTIONS + 500) as u64,
        "RLIMIT_NOFILE hard limit {nofile} is below the {} descriptors this test needs: raise it (ulimit -Hn)",
        CONNECTIONS + 500
    );
    let home = tempfile::tempdir().unwrap();
    // The header-read deadline (which hyper also applies to an idle keep-alive connection's
    // next request) is put out of the way: this test is about what an open connection costs.
    std::fs::write(
        home.path().join("config.toml"),
        "[limits]\nheader_read_timeout = 600\n",
    )
    .unwrap();
    let proxy = start_process(home.path(), &["proxy"], &[] as &[(&str, &str)]);
    let pid = proxy.child.id();
    let addr: std::net::SocketAddr = proxy.base.trim_start_matches("http://").parse().unwrap();

    // Warm up (the first requests allocate what every later one reuses), then the baseline.
    for _ in 0..50 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        health(&mut s).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = proc_status_kb(pid, "VmRSS:");
    let fds_before = open_fds(pid);

    // 10,000 connections, each one request answered, then left open and silent.
    let mut idle = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS / 250 {
        let batch = futures_util::future::join_all((0..250).map(|_| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            health(&mut s).await;
            s
        }))
        .await;
        idle.extend(batch);
    }
    let rss_open = proc_status_kb(pid, "VmRSS:");
    let fds_open = open_fds(pid);
    assert!(
        fds_open >= fds_before + CONNECTIONS,
        "dario holds the connections open: {fds_before} → {fds_open} descriptors"
    );

    // Still serving, on a new connection and on an old one.
    let mut fresh = TcpStream::connect(addr).await.unwrap();
    health(&mut fresh).await;
    health(&mut idle[0]).await;

    let growth_kb = rss_open.saturating_sub(rss_before);
    eprintln!(
        "dario RSS {} MiB → {} MiB with {CONNECTIONS} idle keep-alive connections (+{} KiB, {} bytes per connection); fds {fds_before} → {fds_open}",
        rss_before >> 10,
        rss_open >> 10,
        growth_kb,
        growth_kb * 1024 / CONNECTIONS as u64
    );
    // Generous: hyper's per-connection state is a few KiB; 64 KiB each would be a buffer kept
    // per idle connection.
    assert!(
        growth_kb < 64 * CONNECTIONS as u64,
        "RSS grew by {} MiB for {CONNECTIONS} idle connections",
        growth_kb >> 10
    );

    // Closed again: every descriptor (and the task serving it) goes away.
    drop(idle);
    drop(fresh);
    let mut fds_after = open_fds(pid);
    for _ in 0..600 {
        if fds_after <= fds_before + 16 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        fds_after = open_fds(pid);
    }
    let rss_after = proc_status_kb(pid, "VmRSS:");
    eprintln!(
        "after closing: fds {fds_after}, RSS {} MiB",
        rss_after >> 10
    );
    assert!(
        fds_after <= fds_before + 16,
        "descriptors leaked: {fds_before} before, {fds_after} after the connections closed"
    );
    let mut s = TcpStream::connect(addr).await.unwrap();
    health(&mut s).await;
}
