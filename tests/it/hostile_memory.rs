//! Hostile-input suite, upstream faults (issue 19): a 200 MB event-stream line without a newline
//! must not grow dario's memory — passthrough never buffers a line it only forwards, and a
//! translated stream ends with an error event once the event passes its limit. dario runs as a
//! child process, so the RSS measured is dario's alone (the other tests share this process).

use std::time::Duration;

use crate::support;
use futures_util::StreamExt;
use support::home::DarioHome;
use support::process::{start_process, Running};
use support::raw::raw_upstream;
use support::*;

const LINE: usize = 200 * 1024 * 1024;

/// The resident set of process `pid`, from `/proc/<pid>/status`.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// An upstream whose stream is one line of `LINE` bytes (after an opening `head`), then closed.
async fn long_line_upstream(head: &'static str) -> std::net::SocketAddr {
    use tokio::io::AsyncWriteExt;
    raw_upstream(move |mut s| async move {
        if s.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let block = vec![b'x'; 256 * 1024];
        for _ in 0..LINE / block.len() {
            if s.write_all(&block).await.is_err() {
                return;
            }
        }
        let _ = s.shutdown().await;
    })
    .await
}

/// `dario proxy` as a child process whose `anthropic` and `openai` backends pass through to
/// `addr`.
fn dario_for(home: &DarioHome, addr: std::net::SocketAddr) -> Running {
    home.passthrough_builtins(&format!("http://{addr}"), &format!("http://{addr}/v1"));
    start_process::<&str, &str>(home.dir(), &["proxy"], &[])
}

/// Streams `body`'s response to the end; returns the bytes received, the RSS growth over the
/// stream (the peak, sampled by a separate thread every 2 ms) and the last few KiB.
async fn stream_and_measure(dario: &Running, body: &'static str) -> (usize, u64, String) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let pid = dario.child.id();
    let before = rss_bytes(pid);
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let resp = client()
        .post(format!("{}/v1/messages", dario.base))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut received = 0usize;
    let mut tail = Vec::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(120), stream.next())
        .await
        .expect("the stream keeps moving")
    {
        let chunk = chunk.unwrap();
        received += chunk.len();
        tail.extend_from_slice(&chunk[chunk.len().saturating_sub(4096)..]);
        if tail.len() > 8192 {
            tail.drain(..tail.len() - 8192);
        }
    }
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed).max(rss_bytes(pid));
    let growth = peak.saturating_sub(before);
    eprintln!(
        "RSS before {} MiB, peak {} MiB (+{} MiB) over a {} MiB line",
        before >> 20,
        peak >> 20,
        growth >> 20,
        LINE >> 20
    );
    (
        received,
        growth,
        String::from_utf8_lossy(&tail).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_line_does_not_grow_memory() {
    // Passthrough: every byte is relayed, nothing is kept.
    let addr = long_line_upstream(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\nevent: content_block_delta\r\ndata: ",
    )
    .await;
    let home = DarioHome::new();
    let dario = dario_for(&home, addr);
    let (received, growth, tail) = stream_and_measure(
        &dario,
        r#"{"model":"claude-x","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await;
    assert!(received >= LINE, "every byte is relayed: {received}");
    assert!(
        growth < 48 * 1024 * 1024,
        "RSS grew by {} MiB relaying one long line",
        growth >> 20
    );
    assert!(
        tail.contains("event: error\ndata: "),
        "the cut stream ends with an error event: {tail:?}"
    );

    // Translated (an OpenAI upstream for an Anthropic client): the event is refused at its limit.
    let addr = long_line_upstream(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: {\"x\":\"",
    )
    .await;
    let home = DarioHome::new();
    let dario = dario_for(&home, addr);
    let (_, growth, tail) = stream_and_measure(
        &dario,
        r#"{"model":"gpt-4o","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await;
    assert!(
        growth < 48 * 1024 * 1024,
        "RSS grew by {} MiB translating one long line",
        growth >> 20
    );
    assert!(
        tail.contains("event: error\ndata: ") && tail.contains("larger than"),
        "the translated stream ends with an error event: {tail:?}"
    );
}
