//! A raw TCP upstream for tests that need a misbehaving server: it reads each request (head and
//! announced body) and hands the socket to a script that writes whatever bytes it likes —
//! bodies cut without a proper end, huge lines, bad encodings, redirects.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts a raw upstream on loopback; `script` answers every request on its own connection.
pub async fn raw_upstream<F, Fut>(script: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let script = Arc::new(script);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let script = script.clone();
            tokio::spawn(async move {
                if read_request(&mut socket).await {
                    script(socket).await;
                }
            });
        }
    });
    addr
}

/// Reads one request's head and its `content-length` body; false when the peer went away.
pub async fn read_request(socket: &mut TcpStream) -> bool {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let Ok(n) = socket.read(&mut buf).await else {
            return false;
        };
        if n == 0 {
            return false;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return true;
            }
        }
    }
}

/// Writes `head` (status line and headers, without the blank line), then each chunk, then
/// closes the connection — a body delimited by the close, so a cut looks like a clean end.
pub async fn write_and_close(mut socket: TcpStream, head: &str, chunks: &[&[u8]]) {
    let _ = socket.write_all(format!("{head}\r\n\r\n").as_bytes()).await;
    for c in chunks {
        if socket.write_all(c).await.is_err() {
            return;
        }
        let _ = socket.flush().await;
    }
    let _ = socket.shutdown().await;
}

/// A config with `anthropic` and `openai` backends both pointing at `addr`.
pub fn config_for_raw(addr: SocketAddr) -> dario::config::Config {
    use dario::config::{BackendConfig, Config, Credential};
    use dario::protocol::Protocol;
    Config::builtin(std::env::temp_dir(), &|_| None)
        .with_backend(BackendConfig::new(
            "anthropic",
            Protocol::Anthropic,
            format!("http://{addr}"),
            Credential::Passthrough,
        ))
        .with_backend(BackendConfig::new(
            "openai",
            Protocol::OpenAi,
            format!("http://{addr}/v1"),
            Credential::Passthrough,
        ))
}
