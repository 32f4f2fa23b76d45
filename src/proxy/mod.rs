//! The HTTP router: server, guard, handlers, upstream client, failover, admin endpoints.
//!
//! Owns: the request path from socket to upstream and back. Must not: parse bodies it only
//! forwards.
//!
//! Walk it in this order: `server` (sockets) → `handler` (dispatch, guard, chat path) →
//! `ingress` (peek/splice `model`) → `upstream` (outbound request) → `relay` (response body).

pub mod admin;
pub mod body;
pub mod error;
pub mod guard;
pub mod handler;
pub mod headers;
pub mod ingress;
pub mod relay;
pub mod scrub;
pub mod server;
pub mod state;
pub mod upstream;

pub use server::{bind, shutdown_signal, BoundProxy, ServerError};
pub use state::{ProxyOptions, ProxyState};
