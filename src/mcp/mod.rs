//! `dario mcp`: a read-only stdio MCP server (rmcp) exposing dario's state (SPEC §8).
//!
//! Owns: tools, resources, prompts, the final redaction pass. Must not: mutate anything.

pub mod live;
pub mod server;
mod sources;
pub mod tools;

pub use live::{LiveClient, ProxyState};
pub use server::{DarioMcp, PROMPT_NAMES, RESOURCE_URIS, TOOL_NAMES};

use rmcp::ServiceExt;

/// Why the MCP server stopped other than by its client closing stdin.
#[derive(Debug, thiserror::Error)]
pub enum McpServeError {
    #[error("MCP handshake failed: {0}")]
    Handshake(String),
    #[error("the MCP server task failed: {0}")]
    Join(String),
}

/// Serves MCP on this process's stdin/stdout until the client closes stdin (EOF). Only protocol
/// frames are written to stdout.
pub async fn serve_stdio() -> Result<(), McpServeError> {
    let server = DarioMcp::default();
    let running = match server.serve(rmcp::transport::stdio_pipes()).await {
        Ok(running) => running,
        // The client went away before (or instead of) initialising: a normal end.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
        Err(e) => return Err(McpServeError::Handshake(e.to_string())),
    };
    running
        .waiting()
        .await
        .map(|_| ())
        .map_err(|e| McpServeError::Join(e.to_string()))
}
