//! dario's integration tests, one test binary (as ripgrep does): the real server in process or
//! the real `dario` binary as a child, against loopback stand-in upstreams (`support/`). One
//! module per concern; run one with `cargo test --test it <module>::`, e.g.
//! `cargo test --test it proxy_passthrough::`.
//!
//! The tests share one process and run on parallel threads: nothing here may change
//! process-wide state (environment variables, the current directory, a global subscriber).
//! Settings reach a child process through its own `Command::env`, and anything that measures the
//! process (memory) measures a child `dario`, not this process.

mod support;

mod claude_code_corpus;
mod claude_code_requests;
mod claude_command;
mod cluster;
mod config_cli;
mod doctor;
mod frontdoor;
mod history;
mod hostile_access;
mod hostile_canary;
mod hostile_client;
mod hostile_faults;
mod hostile_files;
mod hostile_idle;
mod hostile_memory;
mod hostile_secrets;
mod hostile_upstream;
mod mcp;
mod module_cycles;
mod pool_failover;
mod proxy_limits;
mod proxy_passthrough;
mod proxy_process;
mod relay_idle;
mod responses_api;
mod routing_table;
mod server_http1;
mod subagent;
mod translate_e2e;
mod translate_request;
mod translate_response;
mod translate_stream;
mod upstream_http1;
mod upstream_tls;
mod usage_tap;
