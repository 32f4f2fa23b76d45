//! The proxy: dario's HTTP server, from the socket to the upstream and back.
//!
//! Owns: the request path. Must not: parse bodies it only forwards.
//!
//! The folders follow a chat request, one module per arrow of DESIGN's request path (`routing`
//! and `pool` are crate modules of their own):
//!
//! ```text
//! server/      accept; HTTP/1.1 + h2c; limits; graceful shutdown
//!   endpoints    method + path → endpoint; the chat path's spine, in this order:
//! guard          API key, CORS/Origin, loopback authority; body size and read deadline
//! ingress        which protocol and endpoint came in (`Inbound`); peek `model`/`stream`
//!   (routing/)   model name → RouteDecision
//! failover       the candidates in turn, until one upstream answers; per attempt:
//!   (pool/)        RouteDecision → a leased deployment
//!   dispatch       same protocol: the bytes, `model` spliced · else the translated body
//!   upstream/      the outbound request; client/: pooled HTTP/1 + HTTP/2, TLS, deadlines
//!   egress/        status + headers; relay: passthrough bytes or per-stream translation
//! meter          one record per request (analytics, cluster charge, log lines)
//! ```
//!
//! Beside the path: `state` (what every request reads), `error` (dario's errors in the caller's
//! protocol), `body`, `headers` (the header policy both ways), `admin` (status, pool,
//! analytics, metrics, models, reload endpoints), `dashboard` and its `feed`, `models` (upstream
//! model lists), `reload`, `responses_store`, `scrub`, `failure_log`.
//!
//! Every module is private; this file re-exports what the rest of the crate, the binary, the
//! tests and the benchmarks use.

mod admin;
mod body;
mod chunked;
mod dashboard;
mod dispatch;
mod egress;
mod error;
mod failover;
mod failure_log;
mod feed;
mod guard;
mod headers;
mod ingress;
mod meter;
mod models;
mod reload;
mod responses_store;
mod server;
mod state;
mod upstream;

pub use admin::ENDPOINTS;
pub use dispatch::serves_responses;
pub use ingress::{peek, splice_model, Peek};
pub use reload::{reload_and_log, spawn_watcher};
pub use server::{bind, shutdown_signal, BoundProxy, ServerError};
pub use state::{ProxyOptions, ProxyState};
pub use upstream::client::install_crypto_provider;

/// How dario's HTTP/1.1 server reads a client's bytes (heads, then bodies), without a socket:
/// for the `http1_requests` fuzz target and tests.
pub mod http1_reading {
    pub use super::server::{replay, Replayed};
}

/// The header policy — what dario forwards, strips and adds in each direction — as `dario mcp`
/// shows it.
pub mod header_policy {
    pub use super::headers::{
        ADDED_REQUEST, ADDED_RESPONSE, FORWARDED_RESPONSE, FORWARDED_RESPONSE_PREFIXES,
        FORWARDED_WHEN_TRANSLATING, HOP_BY_HOP, STRIPPED_REQUEST, STRIPPED_REQUEST_PREFIXES,
    };
}
