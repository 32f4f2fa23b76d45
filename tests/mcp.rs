//! `dario mcp` end to end: the real binary as a child process, driven by the `rmcp` client and
//! by raw JSON-RPC lines, against a temporary DARIO_HOME and (for live data) a loopback
//! stand-in of the proxy's admin API — or the real `dario proxy` with DARIO_TEST_REAL_PROXY=1.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig,
    GetPromptRequestParams, Implementation, JsonObject, ProtocolVersion, ReadResourceRequestParams,
    Tool,
};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceExt};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_dario");

const TOOLS: [&str; 9] = [
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

const RESOURCES: [&str; 3] = ["dario://analytics", "dario://config", "dario://routes"];

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A temporary HOME with `.dario/` inside, isolated from the machine's real config.
struct TestHome {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl TestHome {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let dario = dir.path().join(".dario");
        std::fs::create_dir_all(dario.join("backends")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dario, std::fs::Permissions::from_mode(0o700)).unwrap();
            std::fs::set_permissions(
                dario.join("backends"),
                std::fs::Permissions::from_mode(0o700),
            )
            .unwrap();
        }
        TestHome {
            dir,
            env: Vec::new(),
        }
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }

    fn dario_home(&self) -> PathBuf {
        self.dir.path().join(".dario")
    }

    /// Writes `backends/<name>.json` (mode 0600).
    fn backend(&self, file: Value) {
        let name = file["name"].as_str().unwrap().to_string();
        let path = self
            .dario_home()
            .join("backends")
            .join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&file).unwrap()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    fn env(&mut self, k: &str, v: &str) {
        self.env.push((k.to_string(), v.to_string()));
    }

    /// The environment `dario mcp` runs with: nothing from the test machine but PATH.
    fn command(&self, port: u16) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("mcp");
        self.apply_env(&mut cmd, port);
        cmd
    }

    fn apply_env(&self, cmd: &mut Command, port: u16) {
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("DARIO_HOME", self.dario_home())
            .env("DARIO_HOST", "127.0.0.1")
            .env("DARIO_PORT", port.to_string());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
    }
}

/// A loopback port with nothing listening (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

type Client = RunningService<RoleClient, ClientConfig>;

fn client_info() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("dario-mcp-test", "0"),
    )
}

async fn connect(home: &TestHome, port: u16) -> Client {
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

async fn connect_discover(home: &TestHome, port: u16) -> Client {
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

fn args(v: Value) -> JsonObject {
    v.as_object().unwrap().clone()
}

/// Arguments that make every tool succeed.
fn good_args(tool: &str) -> JsonObject {
    match tool {
        "route_explain" => args(json!({"model": "sonnet"})),
        "analytics_summary" => args(json!({"window_minutes": 15})),
        _ => JsonObject::new(),
    }
}

async fn call(client: &Client, tool: &str, arguments: JsonObject) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(arguments))
        .await
        .unwrap_or_else(|e| panic!("tools/call {tool}: {e}"))
}

fn text_of(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn tool<'a>(tools: &'a [Tool], name: &str) -> &'a Tool {
    tools.iter().find(|t| t.name == name).unwrap()
}

/// Asserts a successful result whose structured content is valid against the tool's own
/// output schema; returns the structured content.
fn check_structured(t: &Tool, r: &CallToolResult) -> Value {
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

// ---------------------------------------------------------------------------------------------
// Live proxy: stand-in (default) or the real binary (DARIO_TEST_REAL_PROXY=1)
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct StandInState {
    api_key: Option<String>,
    digest: String,
    /// Extra text put in `/status` (to test that the final pass scrubs live data too).
    leak: String,
    last_window: Mutex<Option<String>>,
    requests: AtomicU64,
    unauthorized: AtomicU64,
}

enum LiveProxy {
    StandIn {
        port: u16,
        state: Arc<StandInState>,
        task: tokio::task::JoinHandle<()>,
    },
    Real {
        port: u16,
        child: Child,
    },
}

impl LiveProxy {
    fn port(&self) -> u16 {
        match self {
            LiveProxy::StandIn { port, .. } | LiveProxy::Real { port, .. } => *port,
        }
    }

    fn stand_in(&self) -> Option<&StandInState> {
        match self {
            LiveProxy::StandIn { state, .. } => Some(state),
            LiveProxy::Real { .. } => None,
        }
    }
}

impl Drop for LiveProxy {
    fn drop(&mut self) {
        match self {
            LiveProxy::StandIn { task, .. } => task.abort(),
            LiveProxy::Real { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn use_real_proxy() -> bool {
    std::env::var("DARIO_TEST_REAL_PROXY").is_ok_and(|v| v == "1")
}

/// Starts what answers the admin API: the stand-in, or `dario proxy` on a free port.
async fn start_proxy(home: &TestHome, state: StandInState) -> LiveProxy {
    if use_real_proxy() {
        let port = closed_port();
        let mut cmd = Command::new(BIN);
        cmd.arg("proxy").arg("--port").arg(port.to_string());
        home.apply_env(&mut cmd, port);
        let child = cmd.stdout(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "dario proxy did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        return LiveProxy::Real { port, child };
    }
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use std::collections::HashMap;

    fn authorized(s: &StandInState, h: &HeaderMap) -> bool {
        s.requests.fetch_add(1, Ordering::SeqCst);
        let ok = match &s.api_key {
            None => true,
            Some(k) => h.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(k.as_str()),
        };
        if !ok {
            s.unauthorized.fetch_add(1, Ordering::SeqCst);
        }
        ok
    }
    fn deny() -> Response {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"type":"error","error":{"type":"authentication_error","message":"x-api-key required"}})),
        )
            .into_response()
    }
    async fn status(State(s): State<Arc<StandInState>>, h: HeaderMap) -> Response {
        if !authorized(&s, &h) {
            return deny();
        }
        axum::Json(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "listen": "127.0.0.1:0",
            "uptime_secs": 4242,
            "config_digest": s.digest,
            "requests_total": 17,
            "auth_required": s.api_key.is_some(),
            "backends": [{"name": "anthropic", "protocol": "anthropic",
                "credential_source": "passthrough (client's own credential)", "last_error": s.leak}],
            "pool": {"backends": []},
        }))
        .into_response()
    }
    async fn pool(State(s): State<Arc<StandInState>>, h: HeaderMap) -> Response {
        if !authorized(&s, &h) {
            return deny();
        }
        // The body in the type the proxy writes (`admin_api::Pool`), so the stand-in speaks
        // the real shape.
        let deployment = dario::pool::DeploymentSnapshot {
            alias: "default".into(),
            base_url: "https://api.anthropic.com".into(),
            credential: "passthrough (client's own credential)".into(),
            credential_missing: false,
            headroom: 0.25,
            in_flight: 1,
            cooling: false,
            cooldown_remaining_ms: 0,
            cooldown_reason: None,
            consecutive_failures: 0,
            last_status: Some(200),
            last_error: None,
            responses: 1,
            failures: 0,
            limits: vec![],
        };
        axum::Json(dario::admin_api::Pool {
            pools: dario::pool::PoolSnapshot {
                backends: vec![dario::pool::BackendPoolSnapshot {
                    backend: "anthropic".into(),
                    available: 1,
                    sticky_keys: 3,
                    deployments: vec![deployment],
                }],
            },
            cluster: None,
        })
        .into_response()
    }
    async fn analytics(
        State(s): State<Arc<StandInState>>,
        h: HeaderMap,
        Query(q): Query<HashMap<String, String>>,
    ) -> Response {
        if !authorized(&s, &h) {
            return deny();
        }
        *s.last_window.lock().unwrap() = q.get("window").cloned();
        let minutes = q
            .get("window")
            .and_then(|w| w.parse::<u64>().ok())
            .unwrap_or(60);
        let totals = json!({"requests": 17, "errors": 1, "streamed": 3, "attempts": 18, "retried": 1,
            "tokens": {"input": 1200, "output": 340, "cache_read": 0, "cache_write": 0, "reasoning": 0, "total": 1540},
            "cost_usd": 0.0123, "latency_ms": {"p50": 210.0, "p95": 900.0, "max": 950.0},
            "ttfb_ms": {"p50": 80.0, "p95": 200.0, "max": 210.0}});
        let mut by_backend = totals.clone();
        by_backend["backend"] = json!("anthropic");
        axum::Json(json!({
            "window": {"window_secs": minutes * 60, "bucket_secs": 300,
                "burn": {"span_secs": 60, "tokens_per_min": 25.0, "usd_per_hour": 0.74},
                "totals": totals, "by_backend": [by_backend], "by_deployment": [], "by_model": [],
                "buckets": []},
            "all_time": {"totals": totals, "by_backend": [], "by_deployment": [], "by_model": []},
            "records_total": 17, "failovers": {}, "unpriced_models": [],
        }))
        .into_response()
    }
    let state = Arc::new(state);
    let app = axum::Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/status", get(status))
        .route("/pool", get(pool))
        .route("/analytics", get(analytics))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    LiveProxy::StandIn { port, state, task }
}

// ---------------------------------------------------------------------------------------------
// Raw JSON-RPC over the child's stdio
// ---------------------------------------------------------------------------------------------

struct Raw {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Raw {
    fn spawn(home: &TestHome) -> Raw {
        let mut child = home
            .command(closed_port())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        let stdin = child.stdin.take();
        Raw {
            child,
            stdin,
            lines,
        }
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    fn send(&mut self, v: Value) {
        let mut line = serde_json::to_vec(&v).unwrap();
        line.push(b'\n');
        self.send_bytes(&line);
    }

    /// Every stdout line must be a JSON-RPC frame; returns the response with this id.
    fn response(&self, id: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no response to id {id}"));
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout carried a non-JSON line ({e}): {line:?}"));
            assert_eq!(v["jsonrpc"], "2.0", "not a JSON-RPC frame: {line}");
            if v["id"] == json!(id) {
                return v;
            }
        }
    }

    /// The next frame that has no id or a null id (an error about unreadable input).
    fn next_frame(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a frame");
        serde_json::from_str(&line).unwrap()
    }

    fn initialize(&mut self, version: &str) -> Value {
        self.send(
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
            "protocolVersion": version, "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}}),
        );
        let r = self.response(1);
        self.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        r
    }

    /// Closes stdin and waits for the exit; returns how long it took.
    fn close_and_wait(&mut self) -> (Duration, std::process::ExitStatus) {
        let start = Instant::now();
        drop(self.stdin.take());
        let deadline = start + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (start.elapsed(), status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("dario mcp still running 5 s after stdin closed");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stateless_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

// ---------------------------------------------------------------------------------------------
// Protocol
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn initialize_handshake_negotiates_and_answers_ping() {
    let home = TestHome::new();
    let client = connect(&home, closed_port()).await;
    let info = client.peer_info().expect("server info");
    let server = info.server_info.as_ref().expect("serverInfo");
    assert_eq!(server.name, "dario");
    assert_eq!(server.version, env!("CARGO_PKG_VERSION"));
    assert!(info.capabilities.tools.is_some());
    assert!(info.capabilities.resources.is_some());
    assert!(info.capabilities.prompts.is_some());
    assert!(info.protocol_version.has_initialize());
    client.cancel().await.unwrap();

    // Raw frames: the server echoes any version it supports, falls back for unknown ones,
    // and answers ping.
    for (asked, expect) in [
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2024-11-05", "2024-11-05"),
        ("2099-01-01", "2025-11-25"),
    ] {
        let mut raw = Raw::spawn(&home);
        let r = raw.initialize(asked);
        assert_eq!(r["result"]["protocolVersion"], expect, "asked {asked}: {r}");
        raw.send(json!({"jsonrpc":"2.0","id":7,"method":"ping"}));
        assert_eq!(raw.response(7)["result"], json!({}));
    }
}

#[tokio::test]
async fn stateless_2026_07_28_discover_and_calls() {
    let home = TestHome::new();
    // Raw: server/discover lists both eras; a stateless request works without initialize.
    let mut raw = Raw::spawn(&home);
    raw.send(json!({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta": stateless_meta()}}));
    let d = raw.response(1);
    let versions: Vec<&str> = d["result"]["supportedVersions"]
        .as_array()
        .unwrap_or_else(|| panic!("{d}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(versions.contains(&"2026-07-28"), "{versions:?}");
    assert!(versions.contains(&"2025-11-25"), "{versions:?}");
    assert!(d["result"]["capabilities"]["tools"].is_object(), "{d}");
    raw.send(
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta": stateless_meta()}}),
    );
    let l = raw.response(2);
    assert_eq!(
        l["result"]["tools"].as_array().unwrap().len(),
        TOOLS.len(),
        "{l}"
    );
    // A stateless request without the per-request metadata is refused with a protocol error.
    raw.send(json!({"jsonrpc":"2.0","id":3,"method":"tools/list","params":{}}));
    assert!(raw.response(3)["error"].is_object());
    drop(raw);

    // rmcp client in Discover mode: negotiated 2026-07-28, tools callable.
    let client = connect_discover(&home, closed_port()).await;
    let info = client.peer_info().expect("server info");
    assert_eq!(info.protocol_version, ProtocolVersion::V_2026_07_28);
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), TOOLS.len());
    let r = call(&client, "fingerprint_info", JsonObject::new()).await;
    check_structured(tool(&tools, "fingerprint_info"), &r);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn tools_list_is_exact_read_only_and_schematised() {
    let home = TestHome::new();
    let client = connect(&home, closed_port()).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: BTreeSet<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, TOOLS.iter().copied().collect::<BTreeSet<_>>());
    for t in &tools {
        let a = t
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no annotations", t.name));
        assert_eq!(a.read_only_hint, Some(true), "{}", t.name);
        assert_eq!(a.destructive_hint, Some(false), "{}", t.name);
        assert_eq!(a.idempotent_hint, Some(true), "{}", t.name);
        assert_eq!(a.open_world_hint, Some(false), "{}", t.name);
        assert!(
            a.title.as_ref().is_some_and(|s| !s.is_empty()),
            "{}",
            t.name
        );
        assert!(
            t.title.as_ref().is_some_and(|s| !s.is_empty()),
            "{}",
            t.name
        );
        assert!(
            t.description.as_ref().is_some_and(|d| d.len() > 40),
            "{}",
            t.name
        );
        let input = Value::Object(t.input_schema.as_ref().clone());
        assert_eq!(input["type"], "object", "{}", t.name);
        assert_eq!(input["additionalProperties"], false, "{}: {input}", t.name);
        jsonschema::validator_for(&input).expect("input schema compiles");
        let output = Value::Object(
            t.output_schema
                .as_ref()
                .expect("output schema")
                .as_ref()
                .clone(),
        );
        assert_eq!(output["type"], "object", "{}", t.name);
        assert!(output["properties"].is_object(), "{}", t.name);
    }
    let route = Value::Object(tool(&tools, "route_explain").input_schema.as_ref().clone());
    assert_eq!(route["required"], json!(["model"]));
    let analytics = Value::Object(
        tool(&tools, "analytics_summary")
            .input_schema
            .as_ref()
            .clone(),
    );
    assert!(analytics["properties"]["window_minutes"].is_object());
    // The advertised limit is what the proxy keeps (and accepts on `/analytics?window=`).
    assert_eq!(
        analytics["properties"]["window_minutes"]["maximum"],
        json!(dario::analytics::MAX_WINDOW_MINUTES)
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn no_tool_offers_a_mutation() {
    let home = TestHome::new();
    let client = connect(&home, closed_port()).await;
    let tools = client.list_all_tools().await.unwrap();
    let mutating_words = [
        "add",
        "remove",
        "delete",
        "install",
        "uninstall",
        "login",
        "logout",
        "start",
        "stop",
        "restart",
        "reload",
        "set",
        "write",
        "update",
        "create",
        "edit",
        "kill",
        "register",
    ];
    let mutating_phrases = [
        "adds ",
        "removes ",
        "deletes ",
        "installs ",
        "uninstalls ",
        "logs in",
        "log in",
        "starts the proxy",
        "stops the proxy",
        "restarts",
        "reloads",
        "writes ",
        "edits ",
        "creates ",
        "registers ",
    ];
    for t in &tools {
        for part in t.name.split('_') {
            assert!(
                !mutating_words.contains(&part),
                "tool name {} offers a mutation",
                t.name
            );
        }
        let d = t.description.as_deref().unwrap_or("").to_ascii_lowercase();
        for p in mutating_phrases {
            assert!(
                !d.contains(p),
                "{} description offers a mutation ({p:?}): {d}",
                t.name
            );
        }
    }
    // A mutation cannot be called by name either.
    for name in [
        "backend_add",
        "backend_remove",
        "subagent_install",
        "proxy_start",
        "login",
    ] {
        let err = client
            .call_tool(CallToolRequestParams::new(name.to_string()))
            .await;
        assert!(err.is_err(), "{name} answered as a tool");
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn every_tool_answers_from_disk_when_no_proxy_runs() {
    let home = TestHome::new();
    let port = closed_port();
    let client = connect(&home, port).await;
    let tools = client.list_all_tools().await.unwrap();
    for name in TOOLS {
        let r = call(&client, name, good_args(name)).await;
        let s = check_structured(tool(&tools, name), &r);
        let text = text_of(&r);
        if let Some(proxy) = s.get("proxy") {
            assert_eq!(proxy["running"], false, "{name}: {proxy}");
            assert_eq!(proxy["address"], format!("127.0.0.1:{port}"));
            assert!(text.contains("proxy not running"), "{name}: {text}");
        }
    }
    // Nothing in the fingerprint is a secret: the redaction pass must leave it intact.
    let r = call(&client, "fingerprint_info", JsonObject::new()).await;
    assert!(!text_of(&r).contains("***"), "{}", text_of(&r));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_arguments_are_tool_errors_with_a_way_out() {
    let home = TestHome::new();
    let client = connect(&home, closed_port()).await;
    for (name, bad, hint) in [
        ("doctor", json!({"verbose": true}), "takes no arguments"),
        (
            "analytics_summary",
            json!({"window_minutes": 0}),
            "between 1 and 1440",
        ),
        (
            "analytics_summary",
            json!({"window_minutes": "ten"}),
            "window_minutes",
        ),
        ("analytics_summary", json!({"window": 5}), "window_minutes"),
        ("route_explain", json!({}), "model"),
        ("route_explain", json!({"model": "   "}), "model"),
        ("route_explain", json!({"model": 5}), "model"),
        // Valid arguments, but no rule claims the model and there is no default backend.
        (
            "route_explain",
            json!({"model": "mystery-model-x"}),
            "dario backend add",
        ),
    ] {
        let r = call(&client, name, args(bad.clone())).await;
        assert_eq!(r.is_error, Some(true), "{name} {bad} was accepted");
        let text = text_of(&r);
        assert!(text.contains(hint), "{name} {bad}: {text}");
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn resources_and_prompts() {
    let home = TestHome::new();
    let client = connect(&home, closed_port()).await;
    let resources = client.list_all_resources().await.unwrap();
    let uris: BTreeSet<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(uris, RESOURCES.iter().copied().collect::<BTreeSet<_>>());
    for uri in RESOURCES {
        let r = client
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .unwrap();
        assert_eq!(r.contents.len(), 1);
        let text = match &r.contents[0] {
            rmcp::model::ResourceContents::TextResourceContents {
                text, mime_type, ..
            } => {
                assert_eq!(mime_type.as_deref(), Some("application/json"));
                text.clone()
            }
            other => panic!("{uri}: {other:?}"),
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v.is_object(), "{uri}: {v}");
    }
    assert!(client
        .read_resource(ReadResourceRequestParams::new("dario://nope"))
        .await
        .is_err());

    let prompts = client.list_all_prompts().await.unwrap();
    let names: BTreeSet<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["diagnose", "explain_route"].into_iter().collect());
    let p = client
        .get_prompt(GetPromptRequestParams::new("diagnose"))
        .await
        .unwrap();
    let text = serde_json::to_string(&p.messages).unwrap();
    assert!(
        text.contains("doctor") && text.contains("pool_status"),
        "{text}"
    );
    let mut a = JsonObject::new();
    a.insert("model".into(), json!("opus"));
    let p = client
        .get_prompt(GetPromptRequestParams::new("explain_route").with_arguments(a))
        .await
        .unwrap();
    assert!(serde_json::to_string(&p.messages).unwrap().contains("opus"));
    assert!(client
        .get_prompt(GetPromptRequestParams::new("explain_route"))
        .await
        .is_err());
    client.cancel().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Transport robustness
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_input_does_not_kill_the_server() {
    let home = TestHome::new();
    let mut raw = Raw::spawn(&home);
    // Garbage before the handshake is ignored.
    raw.send_bytes(b"this is not json\n{\"unterminated\": \n\xff\xfe\x00binary\n\n");
    let r = raw.initialize("2025-11-25");
    assert_eq!(r["result"]["serverInfo"]["name"], "dario");
    // Garbage after it too; well-formed JSON that is not a message gets an Invalid Request.
    raw.send_bytes(b"}{ nope\n\x00\x01\x02\n");
    raw.send(json!({"hello": "world"}));
    let e = raw.next_frame();
    assert_eq!(e["error"]["code"], -32600, "{e}");
    // An unknown method is a protocol error, and the server still answers afterwards.
    raw.send(json!({"jsonrpc":"2.0","id":5,"method":"dario/mutate","params":{}}));
    assert!(raw.response(5)["error"].is_object());
    raw.send(json!({"jsonrpc":"2.0","id":6,"method":"tools/list"}));
    let l = raw.response(6);
    assert_eq!(l["result"]["tools"].as_array().unwrap().len(), TOOLS.len());
    raw.send(json!({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"fingerprint_info","arguments":{}}}));
    assert!(raw.response(8)["result"]["structuredContent"].is_object());
    let (_, status) = raw.close_and_wait();
    assert!(status.success(), "{status}");
}

#[test]
fn eof_on_stdin_ends_the_process_promptly() {
    let home = TestHome::new();
    // After a session.
    let mut raw = Raw::spawn(&home);
    raw.initialize("2025-11-25");
    raw.send(json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}));
    raw.response(2);
    let (took, status) = raw.close_and_wait();
    eprintln!("EOF → exit after a session: {} ms", took.as_millis());
    assert!(status.success(), "{status}");
    // Before any handshake.
    let mut raw = Raw::spawn(&home);
    let (took, status) = raw.close_and_wait();
    eprintln!("EOF → exit before initialize: {} ms", took.as_millis());
    assert!(status.success(), "{status}");
}

#[test]
fn cold_start_to_first_tools_list() {
    let home = TestHome::new();
    let mut samples = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut raw = Raw::spawn(&home);
        raw.send_bytes(
            format!(
                "{}\n{}\n{}\n",
                json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}),
                json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
                json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
            )
            .as_bytes(),
        );
        let l = raw.response(2);
        samples.push(start.elapsed());
        assert_eq!(l["result"]["tools"].as_array().unwrap().len(), TOOLS.len());
    }
    samples.sort();
    eprintln!(
        "cold start to first tools/list answer ({} build): median {:.1} ms, min {:.1} ms, max {:.1} ms",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        samples[2].as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
        samples[4].as_secs_f64() * 1e3
    );
}

#[test]
fn print_config_snippets() {
    let home = TestHome::new();
    // A PATH without dario: the snippet names this build, and says how to install.
    let empty_path = home.home().join("empty-path");
    std::fs::create_dir_all(&empty_path).unwrap();
    for client in ["claude-desktop", "cursor", "claude-code"] {
        let mut cmd = Command::new(BIN);
        cmd.args(["mcp", "--print-config", client]);
        home.apply_env(&mut cmd, 4567);
        cmd.env("PATH", &empty_path);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{client}: {out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        let exe = std::fs::canonicalize(BIN).unwrap().display().to_string();
        assert!(stdout.contains(&exe), "{client}: {stdout}");
        assert!(
            stdout.contains("4567"),
            "{client}: DARIO_PORT not carried: {stdout}"
        );
        match client {
            "claude-code" => {
                // The server name comes before `-e` (Claude Code's `-e` takes several values).
                assert!(
                    stdout.starts_with("claude mcp add --scope user dario -e "),
                    "{stdout}"
                );
                assert!(
                    stdout.trim_end().ends_with(&format!(" -- {exe} mcp")),
                    "{stdout}"
                );
            }
            _ => {
                let v: Value = serde_json::from_str(&stdout).unwrap();
                assert_eq!(v["mcpServers"]["dario"]["command"], exe);
                assert_eq!(v["mcpServers"]["dario"]["args"], json!(["mcp"]));
            }
        }
        assert!(stderr.contains("DARIO_API_KEY"), "{stderr}");
        assert!(
            stderr.contains("cargo install --locked --path ."),
            "{client}: a path into target/ needs the install hint: {stderr}"
        );
        let place = match client {
            "claude-desktop" => "claude_desktop_config.json",
            "cursor" => "mcp.json",
            _ => ".mcp.json",
        };
        assert!(stderr.contains(place), "{client}: {stderr}");
    }

    // `dario` on PATH (as `cargo install` leaves it): that path, no install hint.
    let bin_dir = home.home().join("cargo-bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let installed = bin_dir.join("dario");
    std::fs::copy(BIN, &installed).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["mcp", "--print-config", "claude-code"]);
    home.apply_env(&mut cmd, 4567);
    cmd.env("PATH", &bin_dir);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stdout
            .trim_end()
            .ends_with(&format!(" -- {} mcp", installed.display())),
        "{stdout}"
    );
    assert!(!stderr.contains("cargo install"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Live data
// ---------------------------------------------------------------------------------------------

/// The digest of the configuration on disk, as `template_info` reports it.
async fn disk_digest(client: &Client) -> String {
    let r = call(client, "template_info", JsonObject::new()).await;
    assert_ne!(r.is_error, Some(true), "{}", text_of(&r));
    r.structured_content.unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn live_data_when_the_proxy_runs() {
    let mut home = TestHome::new();
    home.env("DARIO_API_KEY", "test-admin-key-0000");
    let digest = {
        let client = connect(&home, closed_port()).await;
        let d = disk_digest(&client).await;
        client.cancel().await.unwrap();
        d
    };
    let proxy = start_proxy(
        &home,
        StandInState {
            api_key: Some("test-admin-key-0000".into()),
            digest: digest.clone(),
            ..Default::default()
        },
    )
    .await;
    let client = connect(&home, proxy.port()).await;
    let tools = client.list_all_tools().await.unwrap();
    for name in TOOLS {
        let r = call(&client, name, good_args(name)).await;
        let s = check_structured(tool(&tools, name), &r);
        if let Some(p) = s.get("proxy") {
            assert_eq!(p["running"], true, "{name}: {p}");
            assert_eq!(p["version"], env!("CARGO_PKG_VERSION"));
            assert!(!text_of(&r).contains("proxy not running"), "{name}");
        }
    }
    let t = call(&client, "template_info", JsonObject::new()).await;
    let t = t.structured_content.unwrap();
    assert_eq!(t["proxy_digest"], json!(digest));
    assert_eq!(t["differs_from_disk"], false, "{t}");

    let p = call(&client, "pool_status", JsonObject::new()).await;
    let p = p.structured_content.unwrap();
    assert!(p["pool"].is_object(), "{p}");
    let a = call(
        &client,
        "analytics_summary",
        args(json!({"window_minutes": 15})),
    )
    .await;
    let a = a.structured_content.unwrap();
    assert!(a["analytics"].is_object(), "{a}");
    assert_eq!(a["window_minutes"], 15);
    assert!(
        text_of(&call(&client, "pool_status", JsonObject::new()).await)
            .contains("deployment(s) available"),
        "pool text rendering"
    );
    let a_text = text_of(
        &call(
            &client,
            "analytics_summary",
            args(json!({"window_minutes": 15})),
        )
        .await,
    );
    assert!(a_text.contains("Window (last 15 min):"), "{a_text}");
    if let Some(s) = proxy.stand_in() {
        assert_eq!(p["pool"]["backends"][0]["sticky_keys"], 3);
        assert_eq!(a["analytics"]["window"]["totals"]["requests"], 17);
        assert_eq!(a["analytics"]["window"]["window_secs"], 900);
        assert!(a_text.contains("17 req, 1 err, 1540 tokens"), "{a_text}");
        assert_eq!(s.last_window.lock().unwrap().as_deref(), Some("15"));
        assert!(s.requests.load(Ordering::SeqCst) > 0);
        assert_eq!(
            s.unauthorized.load(Ordering::SeqCst),
            0,
            "DARIO_API_KEY not sent"
        );
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn loaded_table_that_differs_from_disk_is_reported() {
    let home = TestHome::new();
    let proxy = start_proxy(
        &home,
        StandInState {
            digest: "0".repeat(64),
            ..Default::default()
        },
    )
    .await;
    if proxy.stand_in().is_none() {
        return; // the real proxy loads what is on disk
    }
    let client = connect(&home, proxy.port()).await;
    let r = call(&client, "template_info", JsonObject::new()).await;
    let t = r.structured_content.clone().unwrap();
    assert_eq!(t["differs_from_disk"], true, "{t}");
    assert!(text_of(&r).contains("differs from disk"), "{}", text_of(&r));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn wrong_admin_key_is_explained() {
    let mut home = TestHome::new();
    home.env("DARIO_API_KEY", "not-the-right-one");
    let proxy = start_proxy(
        &home,
        StandInState {
            api_key: Some("the-right-one-1234".into()),
            ..Default::default()
        },
    )
    .await;
    if proxy.stand_in().is_none() {
        return;
    }
    let client = connect(&home, proxy.port()).await;
    let r = call(&client, "pool_status", JsonObject::new()).await;
    let s = r.structured_content.clone().unwrap();
    assert_eq!(s["proxy"]["running"], true);
    assert!(s["pool"].is_null());
    assert!(
        s["pool_error"].as_str().unwrap().contains("does not match"),
        "{s}"
    );
    client.cancel().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Canary: no key, and no 8-character piece of one, ever leaves the server
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn canary_keys_never_appear_in_any_output() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let marker = format!("QzCanary{}x{nanos}", std::process::id());
    let file_key = format!("sk-ant-api03-{marker}-AAAA1111BBBB2222");
    let plain_key = format!("{marker}plainKEY9876543210");
    let pool_key = format!("gsk_{marker}poolKEY13579");
    let env_key = format!("{marker}envVALUE24680");
    let admin_key = format!("{marker}dariokey55555");

    let mut home = TestHome::new();
    home.backend(json!({"name": "canaryfile", "protocol": "anthropic",
        "base_url": "https://canary-anthropic.invalid", "key": file_key}));
    home.backend(json!({"name": "canaryplain", "protocol": "openai",
        "base_url": "https://canary-openai.invalid/v1", "key": plain_key, "models": ["canary-*"]}));
    home.backend(json!({"name": "canaryenv", "protocol": "openai",
        "base_url": "https://canary-env.invalid/v1", "key_env": "CANARY_SECRET_VAR"}));
    home.backend(json!({"name": "canarypool", "protocol": "openai",
        "base_url": "https://canary-pool.invalid/v1", "key": pool_key.clone(),
        "deployments": [{"alias": "east", "base_url": "https://east.canary.invalid/v1", "key": pool_key}]}));
    home.env("CANARY_SECRET_VAR", &env_key);
    home.env("DARIO_API_KEY", &admin_key);
    let keys = [&file_key, &plain_key, &pool_key, &env_key, &admin_key];

    // The stand-in leaks the keys back in /status, the way a buggy proxy or an upstream error
    // message could: the final pass must still catch them.
    let leak = format!(
        "upstream said: invalid x-api-key {file_key}; retried with {plain_key} and Authorization: Bearer {admin_key}; env {env_key} pool {}",
        &pool_key[..14]
    );
    let proxy = start_proxy(
        &home,
        StandInState {
            api_key: Some(admin_key.clone()),
            digest: "f".repeat(64),
            leak,
            ..Default::default()
        },
    )
    .await;

    let mut transcript = String::new();
    for port in [closed_port(), proxy.port()] {
        let client = connect(&home, port).await;
        let b = call(&client, "backends_list", JsonObject::new()).await;
        let listed = serde_json::to_string(&b).unwrap();
        for name in ["canaryfile", "canaryplain", "canaryenv", "canarypool"] {
            assert!(listed.contains(name), "backend {name} not loaded: {listed}");
        }
        for name in TOOLS {
            let r = call(&client, name, good_args(name)).await;
            transcript.push_str(&serde_json::to_string(&r).unwrap());
        }
        let r = call(
            &client,
            "route_explain",
            args(json!({"model": "canary-model"})),
        )
        .await;
        transcript.push_str(&serde_json::to_string(&r).unwrap());
        for uri in RESOURCES {
            let r = client
                .read_resource(ReadResourceRequestParams::new(uri))
                .await
                .unwrap();
            transcript.push_str(&serde_json::to_string(&r).unwrap());
        }
        for p in ["diagnose", "explain_route"] {
            let mut a = JsonObject::new();
            a.insert("model".into(), json!("canary-x"));
            let r = client
                .get_prompt(GetPromptRequestParams::new(p).with_arguments(a))
                .await
                .unwrap();
            transcript.push_str(&serde_json::to_string(&r).unwrap());
        }
        client.cancel().await.unwrap();
    }
    if proxy.stand_in().is_some() {
        assert!(
            transcript.contains("upstream said"),
            "live data was not fetched"
        );
    }
    assert!(!transcript.contains(&marker), "the canary marker leaked");
    for key in keys {
        for w in key.as_bytes().windows(8) {
            let w = std::str::from_utf8(w).unwrap();
            assert!(
                !transcript.contains(w),
                "an 8-character piece {w:?} of a configured key leaked"
            );
        }
    }
}
