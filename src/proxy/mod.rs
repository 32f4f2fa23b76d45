//! The HTTP router: server, guard, handlers, upstream client, failover, admin endpoints.
//!
//! Owns: the request path from socket to upstream and back. Must not: parse bodies it only
//! forwards.
//!
//! Walk it in this order: `server` (sockets) → `handler` (endpoints, guard, body limits) →
//! `chat` (routing, failover, accounting) → `ingress` (peek/splice `model`) → `dispatch`
//! (same protocol or translated body) → `upstream` (outbound request) → `client` (pooled
//! connections, TLS) → `egress` / `relay` (response body, passthrough or translated).

pub mod admin;
pub mod body;
pub mod chat;
pub mod client;
pub mod dispatch;
pub mod egress;
pub mod error;
pub mod failure_log;
pub mod guard;
pub mod handler;
pub mod headers;
pub mod ingress;
pub mod models;
pub mod rejects;
pub mod relay;
pub mod reload;
pub mod responses_store;
pub mod server;
pub mod state;
pub mod upstream;

pub use server::{bind, shutdown_signal, BoundProxy, ServerError};
pub use state::{ProxyOptions, ProxyState};
