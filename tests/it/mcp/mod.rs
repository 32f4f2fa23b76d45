//! `dario mcp` end to end: the real binary as a child process, driven by the `rmcp` client and
//! by raw JSON-RPC lines, against a temporary DARIO_HOME and (for live data) a loopback
//! stand-in of the proxy's admin API — or the real `dario proxy` with DARIO_TEST_REAL_PROXY=1.
//! This module holds the shared fixtures (the home, the rmcp client, tool calls and their
//! schemas); `raw_rpc` drives the server line by line and `admin_standin` answers for the proxy.
//! The tests, by concern: `handshake` (initialize, the stateless 2026-07-28 protocol), `tools`
//! (the catalogue, read-only, answers from disk, bad arguments), `resources` (resources and
//! prompts), `transport` (malformed input, EOF, cold start), `print_config` (the client config
//! snippets), `live` (data from a running proxy) and `redaction` (no key ever leaves).

mod admin_standin;
mod raw_rpc;

mod handshake;
mod live;
mod print_config;
mod redaction;
mod resources;
mod tools;
mod transport;

use std::path::Path;
use std::process::{Command, Stdio};

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    JsonObject, ProtocolVersion, Tool,
};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceExt};
use serde_json::{json, Value};

use crate::support::home::DarioHome;

pub const BIN: &str = env!("CARGO_BIN_EXE_dario");

pub const TOOLS: [&str; 9] = [
    "analytics_summary",
    "auth_status",
    "backends_list",
    "doctor",
    "fingerprint_info",
    "pool_status",
    "route_explain",
    "subagent_status",
    "template_info",
];

pub const RESOURCES: [&str; 3] = ["dario://analytics", "dario://config", "dario://routes"];

/// A temporary HOME with `.dario/` inside, isolated from the machine's real config, and the
/// variables `dario mcp` gets on top of a clean environment.
pub struct TestHome {
    home: DarioHome,
    env: Vec<(String, String)>,
}

impl TestHome {
    pub fn new() -> Self {
        TestHome {
            home: DarioHome::new(),
            env: Vec::new(),
        }
    }

    pub fn home(&self) -> &Path {
        self.home.home()
    }

    /// Writes `backends/<name>.json` (mode 0600); `file` names itself.
    pub fn backend(&self, file: Value) {
        let name = file["name"].as_str().unwrap().to_string();
        self.home.backend(&name, file);
    }

    pub fn env(&mut self, k: &str, v: &str) {
        self.env.push((k.to_string(), v.to_string()));
    }

    /// `dario mcp` with nothing from the test machine but PATH, pointed at a proxy on `port`.
    pub fn command(&self, port: u16) -> Command {
        self.dario(&["mcp"], port)
    }

    /// `dario <args>` in the same environment.
    pub fn dario(&self, args: &[&str], port: u16) -> Command {
        let mut cmd = self.home.command(args);
        cmd.env("DARIO_HOST", "127.0.0.1")
            .env("DARIO_PORT", port.to_string());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }
}

pub type Client = RunningService<RoleClient, ClientConfig>;

pub fn client_info() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("dario-mcp-test", "0"),
    )
}

pub async fn connect(home: &TestHome, port: u16) -> Client {
    let cmd = tokio::process::Command::from(home.command(port));
    let transport = TokioChildProcess::builder(cmd)
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
        .0;
    client_info()
        .serve(transport)
        .await
        .expect("initialize handshake")
}

pub async fn connect_discover(home: &TestHome, port: u16) -> Client {
    let cmd = tokio::process::Command::from(home.command(port));
    let transport = TokioChildProcess::builder(cmd).spawn().unwrap().0;
    client_info()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("server/discover startup")
}

pub fn args(v: Value) -> JsonObject {
    v.as_object().unwrap().clone()
}

/// Arguments that make every tool succeed.
pub fn good_args(tool: &str) -> JsonObject {
    match tool {
        "route_explain" => args(json!({"model": "sonnet"})),
        "analytics_summary" => args(json!({"window_minutes": 15})),
        _ => JsonObject::new(),
    }
}

pub async fn call(client: &Client, tool: &str, arguments: JsonObject) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(arguments))
        .await
        .unwrap_or_else(|e| panic!("tools/call {tool}: {e}"))
}

pub fn text_of(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn tool<'a>(tools: &'a [Tool], name: &str) -> &'a Tool {
    tools.iter().find(|t| t.name == name).unwrap()
}

/// Asserts a successful result whose structured content is valid against the tool's own
/// output schema; returns the structured content.
pub fn check_structured(t: &Tool, r: &CallToolResult) -> Value {
    assert_ne!(r.is_error, Some(true), "{} failed: {}", t.name, text_of(r));
    let structured = r
        .structured_content
        .clone()
        .unwrap_or_else(|| panic!("{} has no structuredContent", t.name));
    let schema = Value::Object(t.output_schema.as_ref().unwrap().as_ref().clone());
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{}: output schema does not compile: {e}", t.name));
    let errors: Vec<String> = validator
        .iter_errors(&structured)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{}: {errors:#?}\n{structured:#}", t.name);
    assert!(
        !text_of(r).trim().is_empty(),
        "{} has no text rendering",
        t.name
    );
    structured
}
