//! Hostile-input suite, upstream faults (issue 19): a 200 MB event-stream line without a newline
//! relayed on passthrough must not grow dario's memory — passthrough never buffers a line it
//! only forwards. Alone in its test binary so the process's RSS is this test's.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use support::raw::{config_for_raw, raw_upstream};
use support::*;

const LINE: usize = 200 * 1024 * 1024;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_line_on_passthrough_does_not_grow_memory() {
    use tokio::io::AsyncWriteExt;
    let addr = raw_upstream(|mut s| async move {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\nevent: content_block_delta\r\ndata: ";
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
    .await;
    let dario = Dario::start(config_for_raw(addr)).await;
    let before = rss_bytes();
    let resp = client()
        .post(dario.url("/v1/messages"))
        .body(r#"{"model":"claude-x","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut received = 0usize;
    let mut peak = before;
    let mut tail = Vec::new();
    let mut next_sample = 0usize;
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(120), stream.next())
        .await
        .expect("the stream keeps moving")
    {
        let chunk = chunk.unwrap();
        received += chunk.len();
        if received >= next_sample {
            peak = peak.max(rss_bytes());
            next_sample += 8 * 1024 * 1024;
        }
        tail.extend_from_slice(&chunk[chunk.len().saturating_sub(4096)..]);
        if tail.len() > 8192 {
            tail.drain(..tail.len() - 8192);
        }
    }
    peak = peak.max(rss_bytes());
    let growth = peak.saturating_sub(before);
    eprintln!(
        "RSS before {} MiB, peak {} MiB (+{} MiB) over a {} MiB line",
        before >> 20,
        peak >> 20,
        growth >> 20,
        LINE >> 20
    );
    assert!(received >= LINE, "every byte is relayed: {received}");
    assert!(
        growth < 48 * 1024 * 1024,
        "RSS grew by {} MiB relaying one long line",
        growth >> 20
    );
    let tail = String::from_utf8_lossy(&tail);
    assert!(
        tail.contains("event: error\ndata: "),
        "the cut stream ends with an error event: {tail:?}"
    );
}
