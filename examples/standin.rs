//! A stand-in upstream as its own process, for the SDK tests and the benchmark harness.
//!
//! `cargo run --example standin -- [PORT]` listens on 127.0.0.1:PORT (0 = any free port), prints
//! `listening <addr>` on stdout, and serves canned Anthropic and OpenAI replies (JSON and SSE)
//! until killed. See `tests/it/support/standin.rs` for the scenarios.

#[path = "../tests/it/support/standin.rs"]
mod standin;

use std::io::Write;

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let s = standin::StandIn::start_on(std::net::SocketAddr::from(([127, 0, 0, 1], port))).await;
    println!("listening {}", s.addr);
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
}
