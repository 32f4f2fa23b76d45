//! The rmcp server: the nine read-only tools, three resources and two prompts of `dario mcp`,
//! and the redaction pass every result goes through on its way out.
//!
//! Owns: the MCP surface (names, titles, annotations, schemas), argument validation with
//! actionable messages, gathering inputs for `tools` (config from disk off the runtime, live
//! data from the proxy). Must not: mutate anything — no tool, resource or prompt writes a file,
//! starts or stops a process, or sends anything but GETs to the local proxy.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::{schema_for_input, schema_for_output, ToolCallContext};
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation, JsonObject,
    ListPromptsResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams, Prompt,
    PromptArgument, PromptMessage, ProtocolVersion, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ResultType, Role,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, ErrorData, RoleServer, ServerHandler};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::Config;
use crate::mcp::live::LiveClient;
use crate::mcp::sources;
use crate::mcp::tools::{self, AnalyticsArgs, NoArgs, RouteArgs};
use crate::redact::Scrubber;

/// The tools, exactly (SPEC §8). Every one is read-only.
pub const TOOL_NAMES: [&str; 9] = [
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

/// The resources.
pub const RESOURCE_URIS: [&str; 3] = ["dario://config", "dario://routes", "dario://analytics"];

/// The prompts.
pub const PROMPT_NAMES: [&str; 2] = ["diagnose", "explain_route"];

const INSTRUCTIONS: &str = "dario is the local LLM router on this machine (Anthropic Messages and OpenAI Chat Completions on one port). \
These tools only read its state: start with `doctor` for problems, `route_explain` for where a model name goes, \
`template_info` for the whole routing table, `pool_status` and `analytics_summary` for live load. \
Nothing here changes dario; changes are made by the user with the `dario` command line.";

fn input_schema<T: schemars::JsonSchema + 'static>() -> Arc<JsonObject> {
    schema_for_input::<T>().unwrap_or_else(|e| panic!("input schema of a dario MCP tool: {e}"))
}

/// The MCP server of `dario mcp`.
#[derive(Clone)]
pub struct DarioMcp {
    live: Arc<LiveClient>,
    tool_router: ToolRouter<DarioMcp>,
}

impl std::fmt::Debug for DarioMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DarioMcp")
            .field("live", &self.live)
            .finish()
    }
}

impl Default for DarioMcp {
    fn default() -> Self {
        DarioMcp::new(LiveClient::from_env())
    }
}

/// A successful result: structured content plus its readable rendering.
fn success<T: Serialize>(out: &T, text: String) -> CallToolResult {
    match serde_json::to_value(out) {
        Ok(value) => {
            let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
            r.structured_content = Some(value);
            r
        }
        Err(e) => tool_error(format!("could not serialise the result: {e}")),
    }
}

/// The one ending of every tool: the output as structured content with its text rendering, or
/// the failure as a tool error named after the tool.
fn finish<O: tools::Rendered>(tool: &str, out: Result<O, String>) -> CallToolResult {
    match out {
        Ok(out) => finish_ok(out),
        Err(e) => tool_error(format!("{tool}: {e}")),
    }
}

fn finish_ok<O: tools::Rendered>(out: O) -> CallToolResult {
    let text = out.render();
    success(&out, text)
}

/// A tool error the caller sees (`isError: true`), not a protocol error.
fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// Decodes a tool's arguments, or explains what the tool accepts.
fn parse_args<T: DeserializeOwned>(
    tool: &str,
    args: JsonObject,
    accepts: &str,
) -> Result<T, CallToolResult> {
    serde_json::from_value(Value::Object(args))
        .map_err(|e| tool_error(format!("{tool}: invalid arguments: {e}. {accepts}")))
}

const NO_ARGS: &str = "This tool takes no arguments: call it with {}.";
const ANALYTICS_ARGS: &str = "Arguments: window_minutes (optional integer, 1-1440, default 60), e.g. {\"window_minutes\": 15}.";
const ROUTE_ARGS: &str = "Arguments: model (required string), e.g. {\"model\": \"sonnet\"}.";

async fn load_config() -> Result<Config, String> {
    tokio::task::spawn_blocking(sources::load_config)
        .await
        .unwrap_or_else(|e| Err(format!("loading the configuration crashed: {e}")))
}

/// Every credential value a configuration holds (for the redaction pass), plus the values of
/// extra upstream headers whose name suggests a credential.
pub fn config_secrets(cfg: &Config) -> Vec<String> {
    let mut out: Vec<String> = cfg
        .secret_values()
        .into_iter()
        .map(|s| s.expose().to_string())
        .collect();
    for b in cfg.backends.values() {
        for (name, value) in &b.headers {
            if header_is_sensitive(name) {
                out.push(value.clone());
            }
        }
    }
    out
}

/// Extra upstream headers whose value is (or may be) a credential.
fn header_is_sensitive(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "key",
        "token",
        "auth",
        "secret",
        "cookie",
        "session",
        "signature",
        "password",
    ]
    .iter()
    .any(|w| n.contains(w))
}

#[tool_router(router = tool_router)]
impl DarioMcp {
    pub fn new(live: LiveClient) -> Self {
        DarioMcp {
            live: Arc::new(live),
            tool_router: Self::tool_router(),
        }
    }

    /// The redaction pass for one result: secrets of the configuration on disk plus those in
    /// this process's environment.
    pub async fn redactor(&self) -> Scrubber {
        let mut secrets = Scrubber::env_secrets();
        if let Ok(cfg) = load_config().await {
            secrets.extend(config_secrets(&cfg));
        }
        Scrubber::new(secrets)
    }

    #[tool(
        name = "doctor",
        title = "Health report",
        description = "Run dario's offline health checks (version, home directory and file permissions, config files, each backend's credential, routing, proxy, sub-agent, MCP registrations) and return every row as OK/WARN/FAIL/INFO with the command that fixes it. Read-only; sends nothing upstream.",
        annotations(
            title = "Health report",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        input_schema = input_schema::<NoArgs>(),
        output_schema = schema_for_output::<tools::DoctorOut>()
    )]
    async fn doctor(&self, args: JsonObject) -> CallToolResult {
        if let Err(e) = parse_args::<NoArgs>("doctor", args, NO_ARGS) {
            return e;
        }
        let (proxy, report) = tokio::join!(self.live.status(), sources::doctor_report());
        finish(
            "doctor",
            report.map(|report| tools::doctor(report, proxy.0)),
        )
    }

    #[tool(
        name = "auth_status",
        title = "Credential status",
        description = "For every backend: where its credential comes from (stored key, environment variable, the client's own passthrough, none), whether it is present, and what the running proxy reports about it. Never shows a key or any part of one.",
        annotations(
            title = "Credential status",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        input_schema = input_schema::<NoArgs>(),
        output_schema = schema_for_output::<tools::AuthStatusOut>()
    )]
    async fn auth_status(&self, args: JsonObject) -> CallToolResult {
        if let Err(e) = parse_args::<NoArgs>("auth_status", args, NO_ARGS) {
            return e;
        }
        let (cfg, (proxy, status)) = tokio::join!(load_config(), self.live.status());
        finish(
            "auth_status",
            cfg.map(|cfg| tools::auth_status(&cfg, proxy, status.as_ref())),
        )
    }

    #[tool(
        name = "pool_status",
        title = "Pool status",
        description = "The running proxy's pool snapshot (per deployment: headroom from rate-limit headers, cooldowns, in-flight requests, sticky conversations) next to the pools configured on disk. Says so when the proxy is not running.",
        annotations(
            title = "Pool status",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        input_schema = input_schema::<NoArgs>(),
        output_schema = schema_for_output::<tools::PoolStatusOut>()
    )]
    async fn pool_status(&self, args: JsonObject) -> CallToolResult {
        if let Err(e) = parse_args::<NoArgs>("pool_status", args, NO_ARGS) {
            return e;
        }
        let (cfg, (proxy, _, pool)) = tokio::join!(load_config(), self.live.status_and("/pool"));
        let out = tools::pool_status(cfg.as_ref().map_err(String::as_str), proxy, pool);
        finish_ok(out)
    }

    #[tool(
        name = "backends_list",
        title = "Backends",
        description = "Every configured backend (built-in ones included): protocol, base URL, credential source (never the value), model globs, extra header names, deployments, and the file that defines it.",
        annotations(
            title = "Backends",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        input_schema = input_schema::<NoArgs>(),
        output_schema = schema_for_output::<tools::BackendsListOut>()
    )]
    async fn backends_list(&self, args: JsonObject) -> CallToolResult {
        if let Err(e) = parse_args::<NoArgs>("backends_list", args, NO_ARGS) {
            return e;
        }
        let (cfg, (proxy, status)) = tokio::join!(load_config(), self.live.status());
        finish(
            "backends_list",
            cfg.map(|cfg| tools::backends_list(&cfg, proxy, status.as_ref())),
        )
    }

    #[tool(
        name = "template_info",
        title = "Routing table",
        description = "The routing table: route rules (first match wins), aliases, provider prefixes, default backend, the files it was read from with their SHA-256, the config digest, and whether the running proxy has loaded a table that differs from disk.",
        annotations(
            title = "Routing table",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        input_schema = input_schema::<NoArgs>(),
        output_schema = schema_for_output::<tools::TemplateInfoOut>()
    )]
    async fn template_info(&self, args: JsonObject) -> CallToolResult {
        if let Err(e) = parse_args::<NoArgs>("template_info", args, NO_ARGS) {
            return e;
        }
        finish("template_info", self.template().await)
    }

    #[tool(
        name = "fingerprint_info",
        title = "What upstreams see",
        description = "What upstream providers see from dario: the User-Agent rule, request headers added, forwarded and stripped per protocol, response headers passed back, TLS library and versions, HTTP versions, the upstream hosts of the configured backends, build and config digest.",
        annotations(
            title = "What upstreams see",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        input_schema = input_schema::<NoArgs>(),
        output_schema = schema_for_output::<tools::FingerprintOut>()
    )]
    async fn fingerprint_info(&self, args: JsonObject) -> CallToolResult {
        if let Err(e) = parse_args::<NoArgs>("fingerprint_info", args, NO_ARGS) {
            return e;
        }
        let (cfg, (proxy, _)) = tokio::join!(load_config(), self.live.status());
        let digest = cfg.as_ref().ok().map(sources::config_digest);
        let out = tools::fingerprint_info(cfg.as_ref().map_err(String::as_str), digest, proxy);
        finish_ok(out)
    }

    #[tool(
        name = "analytics_summary",
        title = "Usage summary",
        description = "Usage the running proxy recorded over a window (default 60 minutes): requests, errors, tokens, estimated cost, p50/p95 latency and time to first byte per backend and model, burn rate. Says so when the proxy is not running.",
        annotations(
            title = "Usage summary",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        input_schema = input_schema::<AnalyticsArgs>(),
        output_schema = schema_for_output::<tools::AnalyticsOut>()
    )]
    async fn analytics_summary(&self, args: JsonObject) -> CallToolResult {
        let args = match parse_args::<AnalyticsArgs>("analytics_summary", args, ANALYTICS_ARGS) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let window = match tools::window_minutes(&args) {
            Ok(w) => w,
            Err(e) => return tool_error(format!("analytics_summary: {e}")),
        };
        let out = self.analytics(window).await;
        finish_ok(out)
    }

    #[tool(
        name = "subagent_status",
        title = "Sub-agent status",
        description = "Whether dario's Claude Code sub-agent (agents/dario.md) is installed for the user and in this project, and whether it is current, stale, locally modified or newer than this binary, with the command that brings it up to date.",
        annotations(
            title = "Sub-agent status",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        input_schema = input_schema::<NoArgs>(),
        output_schema = schema_for_output::<tools::SubagentOut>()
    )]
    async fn subagent_status(&self, args: JsonObject) -> CallToolResult {
        if let Err(e) = parse_args::<NoArgs>("subagent_status", args, NO_ARGS) {
            return e;
        }
        let status = tokio::task::spawn_blocking(sources::subagent_status)
            .await
            .unwrap_or_else(|e| Err(format!("reading the sub-agent state crashed: {e}")));
        finish("subagent_status", status)
    }

    #[tool(
        name = "route_explain",
        title = "Explain a route",
        description = "Which backend, upstream model and fallbacks a model name gets, and which routing rule decided it — the same decision `dario route <model>` prints.",
        annotations(
            title = "Explain a route",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        input_schema = input_schema::<RouteArgs>(),
        output_schema = schema_for_output::<tools::RouteExplainOut>()
    )]
    async fn route_explain(&self, args: JsonObject) -> CallToolResult {
        let args = match parse_args::<RouteArgs>("route_explain", args, ROUTE_ARGS) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let model = args.model.trim().to_string();
        if model.is_empty() || model.len() > 256 {
            return tool_error(format!(
                "route_explain: `model` must be a model name of 1 to 256 characters. {ROUTE_ARGS}"
            ));
        }
        let cfg = match load_config().await {
            Ok(cfg) => cfg,
            Err(e) => return tool_error(format!("route_explain: {e}")),
        };
        match sources::route_explain(&cfg, &model) {
            Ok(decision) => {
                let out = tools::route_explain(&cfg, &decision);
                finish_ok(out)
            }
            Err(e) => tool_error(e),
        }
    }
}

impl DarioMcp {
    async fn template(&self) -> Result<tools::TemplateInfoOut, String> {
        let (cfg, (proxy, _)) = tokio::join!(load_config(), self.live.status());
        let cfg = cfg?;
        let digest = sources::config_digest(&cfg);
        let table = sources::route_template(&cfg);
        Ok(tools::template_info(&cfg, digest, table, proxy))
    }

    async fn analytics(&self, window: u32) -> tools::AnalyticsOut {
        let (proxy, _, fetch) = self
            .live
            .status_and(&format!("/analytics?window={window}"))
            .await;
        tools::analytics_summary(window, proxy, fetch)
    }

    async fn resource_json(&self, uri: &str) -> Result<Value, ErrorData> {
        match uri {
            "dario://config" => Ok(match load_config().await {
                // `Secret` and header values serialise as `***`.
                Ok(cfg) => json!({
                    "digest": sources::config_digest(&cfg),
                    "config": cfg,
                }),
                Err(e) => json!({ "error": e }),
            }),
            "dario://routes" => Ok(match self.template().await {
                Ok(t) => serde_json::to_value(t).unwrap_or(Value::Null),
                Err(e) => json!({ "error": e }),
            }),
            "dario://analytics" => {
                let out = self.analytics(tools::DEFAULT_WINDOW_MINUTES).await;
                Ok(serde_json::to_value(out).unwrap_or(Value::Null))
            }
            other => Err(ErrorData::resource_not_found(
                format!(
                    "no resource `{other}`: dario offers {}",
                    RESOURCE_URIS.join(", ")
                ),
                None,
            )),
        }
    }

    fn prompts() -> Vec<Prompt> {
        vec![
            Prompt::new(
                "diagnose",
                Some("Run dario's doctor and pool status, then explain every failure and how to fix it."),
                None,
            )
            .with_title("Diagnose dario"),
            Prompt::new(
                "explain_route",
                Some("Explain where a model name is routed and why, and how to change it."),
                Some(vec![PromptArgument::new("model")
                    .with_title("Model name")
                    .with_description("The model name a client sends, e.g. `sonnet` or `groq:llama-3.3-70b-versatile`.")
                    .with_required(true)]),
            )
            .with_title("Explain a route"),
        ]
    }
}

/// Internal error for a result the redaction pass could not process (never sent unscrubbed).
fn redaction_failed(e: serde_json::Error) -> ErrorData {
    ErrorData::internal_error(format!("redaction of the result failed: {e}"), None)
}

impl ServerHandler for DarioMcp {
    fn get_info(&self) -> ServerConfig {
        let mut implementation = Implementation::new("dario", crate::VERSION);
        implementation.title = Some("dario — local LLM router".to_string());
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(implementation)
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut result = ListToolsResult::with_all_items(self.tool_router.list_all());
        if context
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
        {
            result = result.with_ttl_ms(0).with_cache_scope(CacheScope::Public);
        }
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tool_router.get(name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        if !TOOL_NAMES.contains(&name.as_str()) {
            return Err(ErrorData::invalid_params(
                format!("no tool `{name}`: dario offers {}", TOOL_NAMES.join(", ")),
                None,
            ));
        }
        let context = ToolCallContext::new(self, request, context);
        let response = self.tool_router.call(context).await?;
        let redactor = self.redactor().await;
        match response {
            CallToolResponse::Complete(result) => Ok(CallToolResponse::Complete(
                redactor.scrub(result).map_err(redaction_failed)?,
            )),
            _ => Err(ErrorData::internal_error(
                format!("tool `{name}` produced a result kind dario does not send"),
                None,
            )),
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let json = "application/json";
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new("dario://config", "config")
                .with_title("Effective configuration")
                .with_description("dario's effective configuration (built-ins, backend files and config.toml merged), with every credential redacted, and its digest.")
                .with_mime_type(json),
            Resource::new("dario://routes", "routes")
                .with_title("Routing table")
                .with_description("The routing table, its source files and digest, and whether the running proxy's table differs from disk (same as the template_info tool).")
                .with_mime_type(json),
            Resource::new("dario://analytics", "analytics")
                .with_title("Usage summary (60 min)")
                .with_description("The running proxy's usage summary over the last 60 minutes (same as analytics_summary).")
                .with_mime_type(json),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let value = self.resource_json(&request.uri).await?;
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        let result =
            ReadResourceResult::new(vec![ResourceContents::text(text, request.uri.clone())
                .with_mime_type("application/json")]);
        let redactor = self.redactor().await;
        Ok(redactor.scrub(result).map_err(redaction_failed)?.into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(Self::prompts()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let text = match request.name.as_str() {
            "diagnose" => "Diagnose my local dario LLM router. Call the dario `doctor` tool and the `pool_status` tool. \
Then report: a one-line headline (healthy or not); every FAIL first, then every WARN, each with what it means and the exact command that fixes it (from the row's fix when there is one); \
then what the pool shows (cooling deployments, low headroom). If the proxy is not running, say so and how to start it (`dario proxy`). \
Do not change anything yourself and never print credentials."
                .to_string(),
            "explain_route" => {
                let model = request
                    .arguments
                    .as_ref()
                    .and_then(|a| a.get("model"))
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .ok_or_else(|| {
                        ErrorData::invalid_params(
                            "prompt `explain_route` needs the argument `model` (a model name such as `sonnet`)",
                            None,
                        )
                    })?;
                format!(
                    "Call the dario `route_explain` tool with model {model:?} and explain in plain words which backend and upstream model it gets, which rule decided it, \
and what the fallbacks are. If I might want a different route, show the config.toml `[[routes]]` entry or `dario backend add` command that would do it, \
but do not change anything yourself."
                )
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("no prompt `{other}`: dario offers {}", PROMPT_NAMES.join(", ")),
                    None,
                ))
            }
        };
        let mut result = GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]);
        result.result_type = Some(ResultType::COMPLETE);
        let redactor = self.redactor().await;
        Ok(redactor.scrub(result).map_err(redaction_failed)?.into())
    }
}
