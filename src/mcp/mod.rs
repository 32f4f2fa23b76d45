//! `dario mcp`: a read-only stdio MCP server (rmcp) exposing dario's state (SPEC §8).
//!
//! Owns: tools, resources, prompts, the final redaction pass. Must not: mutate anything.

pub mod redact;

pub use redact::Redactor;
