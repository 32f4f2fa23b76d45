//! Translation between the Anthropic Messages and OpenAI Chat Completions protocols: pure
//! functions for requests and responses, and per-stream transducers (`TRANSLATION.md`).
//!
//! Must not: do I/O.
