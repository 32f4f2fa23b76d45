//! Analytics: one record per request, a ring of recent records, window summaries, price table,
//! Prometheus rendering (SPEC §6, accounting).
//!
//! Owns: counting. Must not: block the request path.
