//! The HTTP router: server, guard, handlers, upstream client, failover, admin endpoints.
//!
//! Owns: the request path from socket to upstream and back. Must not: parse bodies it only
//! forwards.
pub mod headers;
