//! Today's Claude Code request shapes (issue 11), translated both ways and through the real
//! server: system messages inside `messages`, adaptive thinking with an effort,
//! `context_management`, deferred tools and `tool_reference` results, the `HEAD /` probe, model
//! discovery with context limits, and the fallback for upstreams that refuse a system message
//! that is not first.

use crate::support;

use dario::translate::{
    anthropic_request_to_openai, openai_request_to_anthropic, RequestContext, SystemMessages,
    DEFAULT_ANTHROPIC_VERSION,
};
use serde_json::{json, Value};
use support::*;

fn compat_ctx(model: &'static str, mode: SystemMessages) -> RequestContext<'static> {
    RequestContext {
        upstream_model: model,
        backend_name: "compat",
        upstream_is_openai_itself: false,
        accepts_reasoning_content: false,
        system_messages: mode,
        anthropic_version: DEFAULT_ANTHROPIC_VERSION,
    }
}

fn a2o(req: &Value, ctx: &RequestContext) -> (Value, Vec<String>, bool) {
    let t = anthropic_request_to_openai(&serde_json::to_vec(req).unwrap(), ctx).unwrap();
    (
        serde_json::from_slice(&t.body).unwrap(),
        t.dropped,
        t.inline_system_messages,
    )
}

fn o2a(req: &Value, ctx: &RequestContext) -> (Value, Vec<String>) {
    let t = openai_request_to_anthropic(&serde_json::to_vec(req).unwrap(), ctx).unwrap();
    (serde_json::from_slice(&t.body).unwrap(), t.dropped)
}

/// A conversation shaped like today's Claude Code: billing line first in `system`, a reminder
/// as a system turn (text blocks with cache_control), a tool round trip with a system turn
/// between the call and its result, and a hook message as a plain-string system turn.
fn claude_code_conversation() -> Value {
    json!({
        "model": "llama-3.3-70b",
        "max_tokens": 32000,
        "stream": true,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332; cc_entrypoint=cli"},
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "list files"}]},
            {"role": "system", "content": [{"type": "text", "text": "<system-reminder>env: linux</system-reminder>", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Listing."},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
            ]},
            {"role": "system", "content": "PostToolUse hook: ran ls"},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt\nb.txt"},
                {"type": "text", "text": "thanks"}
            ]}
        ]
    })
}

fn roles(o: &Value) -> Vec<String> {
    o["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn mid_conversation_system_messages_stay_in_order_inline() {
    let (o, dropped, inline) = a2o(
        &claude_code_conversation(),
        &compat_ctx("llama-3.3-70b", SystemMessages::Inline),
    );
    assert!(inline);
    assert_eq!(
        roles(&o),
        [
            "system",
            "user",
            "system",
            "assistant",
            "tool",
            "system",
            "user"
        ],
        "{o:#}"
    );
    let m = &o["messages"];
    assert_eq!(
        m[0]["content"], "You are Claude Code.",
        "billing line kept away"
    );
    assert_eq!(
        m[2]["content"],
        "<system-reminder>env: linux</system-reminder>"
    );
    assert_eq!(m[4]["tool_call_id"], "toolu_1");
    assert_eq!(m[4]["content"], "a.txt\nb.txt");
    // The hook message moved after the tool result (OpenAI wants results right after calls).
    assert_eq!(m[5]["content"], "PostToolUse hook: ran ls");
    assert_eq!(m[6]["content"], "thanks");
    assert!(
        dropped.iter().any(|d| d.contains("cache_control")),
        "{dropped:?}"
    );
}

#[test]
fn mid_conversation_system_messages_as_user_text_keep_order() {
    let (o, _, inline) = a2o(
        &claude_code_conversation(),
        &compat_ctx("llama-3.3-70b", SystemMessages::User),
    );
    assert!(!inline);
    assert_eq!(
        roles(&o),
        ["system", "user", "assistant", "tool", "user"],
        "{o:#}"
    );
    let m = &o["messages"];
    assert_eq!(
        m[1]["content"],
        json!([
            {"type": "text", "text": "list files"},
            {"type": "text", "text": "<system-reminder>env: linux</system-reminder>"}
        ])
    );
    assert_eq!(
        m[4]["content"],
        json!([
            {"type": "text", "text": "PostToolUse hook: ran ls"},
            {"type": "text", "text": "thanks"}
        ])
    );
}

#[test]
fn mid_conversation_system_messages_hoisted_in_order() {
    let (o, _, inline) = a2o(
        &claude_code_conversation(),
        &compat_ctx("llama-3.3-70b", SystemMessages::Hoist),
    );
    assert!(!inline);
    assert_eq!(roles(&o), ["system", "user", "assistant", "tool", "user"]);
    assert_eq!(
        o["messages"][0]["content"],
        "You are Claude Code.\n\n<system-reminder>env: linux</system-reminder>\n\nPostToolUse hook: ran ls"
    );
    // Without a top-level system, the first system turn becomes the leading message.
    let req = json!({"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": "q"},
        {"role": "system", "content": "late rule"}
    ]});
    let (o, _, _) = a2o(&req, &compat_ctx("m", SystemMessages::Hoist));
    assert_eq!(roles(&o), ["system", "user"]);
    assert_eq!(o["messages"][0]["content"], "late rule");
}

#[test]
fn adaptive_thinking_and_effort_map_to_reasoning_effort() {
    let mut req = json!({"model": "m", "max_tokens": 5,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "high"},
        "messages": [{"role": "user", "content": "q"}]});
    let (o, d, _) = a2o(&req, &compat_ctx("gpt-oss-120b", SystemMessages::Inline));
    assert_eq!(o["reasoning_effort"], "high");
    assert!(d.is_empty(), "{d:?}");
    for (effort, model, want) in [
        ("low", "gpt-oss-120b", "low"),
        ("medium", "qwen3-32b", "medium"),
        ("max", "gpt-oss-120b", "high"),
        ("max", "gpt-5.2", "xhigh"),
        ("max", "gpt-5", "high"),
    ] {
        req["output_config"]["effort"] = json!(effort);
        let (o, _, _) = a2o(&req, &compat_ctx(model, SystemMessages::Inline));
        assert_eq!(o["reasoning_effort"], want, "{effort} on {model}");
    }
    // A model without reasoning: nothing sent, and said so.
    let (o, d, _) = a2o(&req, &compat_ctx("llama-3.3-70b", SystemMessages::Inline));
    assert!(o.get("reasoning_effort").is_none());
    assert_eq!(d, ["thinking (not supported by llama-3.3-70b)"]);
    // Adaptive without an effort: the upstream's default, nothing lost.
    let req = json!({"model": "m", "max_tokens": 5, "thinking": {"type": "adaptive"},
        "messages": [{"role": "user", "content": "q"}]});
    let (o, d, _) = a2o(&req, &compat_ctx("gpt-oss-120b", SystemMessages::Inline));
    assert!(o.get("reasoning_effort").is_none());
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn clear_thinking_is_applied_and_other_edits_reported() {
    let req = json!({"model": "m", "max_tokens": 5,
    "context_management": {"edits": [
        {"type": "clear_thinking_20251015", "keep": {"type": "thinking_turns", "value": 1}},
        {"type": "clear_tool_uses_20250919"}
    ]},
    "messages": [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "old", "signature": "s"}, {"type": "text", "text": "a1"}]},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "new", "signature": "s"}, {"type": "text", "text": "a2"}]},
        {"role": "user", "content": "q3"}
    ]});
    let mut ctx = compat_ctx("deepseek-r1", SystemMessages::Inline);
    ctx.accepts_reasoning_content = true;
    let (o, d, _) = a2o(&req, &ctx);
    let m = &o["messages"];
    assert!(m[1].get("reasoning_content").is_none(), "{m:#}");
    assert_eq!(m[3]["reasoning_content"], "new");
    assert_eq!(
        d,
        ["context_management.edits[1] (clear_tool_uses_20250919)"]
    );
}

#[test]
fn deferred_tools_are_offered_the_placeholder_never_and_tool_references_read_as_text() {
    let req = json!({"model": "m", "max_tokens": 5,
    "tools": [
        {"name": "Bash", "description": "run", "input_schema": {"type": "object"}},
        {"name": "ToolSearch", "description": "find tools", "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}},
        {"name": "mcp__db__query", "description": "query", "input_schema": {"type": "object"}, "defer_loading": true},
        {"name": "DeferredToolPlaceholder", "description": "placeholder", "input_schema": {"type": "object"}}
    ],
    "messages": [
        {"role": "user", "content": "find the db tool"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": "ToolSearch", "input": {"query": "db"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": [
            {"type": "tool_reference", "tool_name": "mcp__db__query"}
        ]}]}
    ]});
    let (o, d, _) = a2o(&req, &compat_ctx("llama-3.3-70b", SystemMessages::Inline));
    let names: Vec<&str> = o["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Bash", "ToolSearch", "mcp__db__query"]);
    assert!(o["tools"][2]["function"].get("defer_loading").is_none());
    assert_eq!(o["messages"][2]["role"], "tool");
    assert_eq!(o["messages"][2]["content"], "Tool loaded: mcp__db__query");
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn structured_output_maps_both_ways() {
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
    let req = json!({"model": "m", "max_tokens": 5,
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
        "messages": [{"role": "user", "content": "q"}]});
    let (o, d, _) = a2o(&req, &compat_ctx("gpt-4o", SystemMessages::Inline));
    assert_eq!(o["response_format"]["type"], "json_schema");
    assert_eq!(o["response_format"]["json_schema"]["schema"], schema);
    assert!(d.is_empty(), "{d:?}");

    let req = json!({"model": "gpt-x", "messages": [{"role": "user", "content": "q"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}});
    let (a, d) = o2a(
        &req,
        &compat_ctx("claude-sonnet-5-5", SystemMessages::Inline),
    );
    assert_eq!(
        a["output_config"]["format"],
        json!({"type": "json_schema", "schema": schema})
    );
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn reasoning_effort_becomes_adaptive_thinking_on_new_claude_models() {
    let req = json!({"model": "gpt-x", "reasoning_effort": "high", "max_tokens": 1000,
        "messages": [{"role": "developer", "content": "rules"}, {"role": "user", "content": "q"},
                     {"role": "system", "content": "late"}]});
    let (a, d) = o2a(&req, &compat_ctx("claude-opus-4-7", SystemMessages::Inline));
    assert_eq!(a["thinking"], json!({"type": "adaptive"}));
    assert_eq!(a["output_config"], json!({"effort": "high"}));
    assert_eq!(a["max_tokens"], 1000, "no budget to make room for");
    assert_eq!(
        a["system"],
        json!([{"type": "text", "text": "rules"}, {"type": "text", "text": "late"}])
    );
    assert!(d.is_empty(), "{d:?}");
    let mut req = req;
    req["reasoning_effort"] = json!("xhigh");
    let (a, _) = o2a(
        &req,
        &compat_ctx("claude-sonnet-5-5", SystemMessages::Inline),
    );
    assert_eq!(a["output_config"]["effort"], "max");
    // Older models keep the budget form.
    let (a, _) = o2a(
        &req,
        &compat_ctx("claude-sonnet-4-5", SystemMessages::Inline),
    );
    assert_eq!(a["thinking"]["type"], "enabled");
    assert!(a.get("output_config").is_none());
}

#[test]
fn sampling_knobs_are_dropped_for_api_versions_that_reject_them() {
    let req = json!({"model": "gpt-x", "temperature": 0.2, "top_p": 0.9,
        "messages": [{"role": "user", "content": "q"}]});
    let mut ctx = compat_ctx("claude-haiku-4-5", SystemMessages::Inline);
    ctx.anthropic_version = "2026-10-21";
    let (a, d) = o2a(&req, &ctx);
    assert!(
        a.get("temperature").is_none() && a.get("top_p").is_none(),
        "{a}"
    );
    assert_eq!(
        d,
        [
            "temperature (rejected by anthropic-version 2026-10-21)",
            "top_p (rejected by anthropic-version 2026-10-21)"
        ]
    );
    ctx.anthropic_version = DEFAULT_ANTHROPIC_VERSION;
    let (a, _) = o2a(&req, &ctx);
    assert_eq!(a["temperature"], 0.2);
}

// ------------------------------------------------------------------ through the server

async fn setup(system_messages: Option<SystemMessages>) -> (StandIn, Dario) {
    let up = StandIn::start().await;
    let mut compat = openai_backend("compat", &up, &["llama-*"]);
    compat.system_messages = system_messages;
    let dario = Dario::start(config_for(&up, vec![compat])).await;
    (up, dario)
}

fn openai_reply(text: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "llama-3.3-70b",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}})
}

fn template_refusal() -> Value {
    json!({"object": "error", "message": "System message must be at the beginning.",
        "type": "BadRequestError", "param": null, "code": 400})
}

#[tokio::test]
async fn an_upstream_that_refuses_late_system_messages_gets_them_as_user_text() {
    let (up, dario) = setup(None).await;
    up.push(Reply::status(400, template_refusal()));
    up.push(Reply::status(200, openai_reply("first answer")));
    up.push(Reply::status(200, openai_reply("second answer")));
    let mut body = claude_code_conversation();
    body["stream"] = json!(false);
    let c = client();
    let r = c
        .post(dario.url("/v1/messages?beta=true"))
        .header("anthropic-version", "2023-06-01")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer = json(r).await;
    assert_eq!(answer["content"][0]["text"], "first answer");
    let sent = up.requests();
    assert_eq!(sent.len(), 2, "one refusal, one retry");
    assert_eq!(
        roles(&sent[0].json()),
        [
            "system",
            "user",
            "system",
            "assistant",
            "tool",
            "system",
            "user"
        ]
    );
    assert_eq!(
        roles(&sent[1].json()),
        ["system", "user", "assistant", "tool", "user"]
    );
    // Learned: the next request goes as user text straight away.
    let r = c
        .post(dario.url("/v1/messages"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up.requests().len(), 3);
    assert_eq!(
        roles(&up.last().json()),
        ["system", "user", "assistant", "tool", "user"]
    );
}

#[tokio::test]
async fn a_configured_mode_is_kept_and_a_refusal_reaches_the_client() {
    let (up, dario) = setup(Some(SystemMessages::Inline)).await;
    up.push(Reply::status(400, template_refusal()));
    let mut body = claude_code_conversation();
    body["stream"] = json!(false);
    let r = client()
        .post(dario.url("/v1/messages"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let err = json(r).await;
    assert_eq!(err["type"], "error");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("System message must be at the beginning"),
        "{err}"
    );
    assert_eq!(up.requests().len(), 1);
}

#[tokio::test]
async fn head_and_get_root_answer_and_unknown_paths_are_not_model_errors() {
    let (_up, dario) = setup(None).await;
    let c = client();
    let r = c.head(dario.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(dario.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let root = json(r).await;
    assert_eq!(root["service"], "dario");
    assert!(root["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "POST /v1/messages"));
    let r = c.post(dario.url("/v1/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let err = json(r).await;
    assert_eq!(err["error"]["code"], "unknown_url");
    assert_ne!(err["error"]["code"], "model_not_found");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("POST /v1/chat/completions"));
}

#[tokio::test]
async fn model_discovery_in_anthropic_shape_carries_limits() {
    let (_up, dario) = setup(None).await;
    let r = client()
        .get(dario.url("/v1/models?limit=1000"))
        .header("anthropic-version", "2023-06-01")
        .header("x-api-key", "placeholder")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list = json(r).await;
    let sonnet = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "claude-sonnet-5-5")
        .expect("the sonnet alias target is listed");
    assert_eq!(sonnet["type"], "model");
    assert_eq!(sonnet["display_name"], "Claude Sonnet 5.5");
    assert_eq!(sonnet["max_input_tokens"], 200_000);
    assert_eq!(sonnet["max_tokens"], 64_000);
}

#[test]
fn a_turns_own_effort_overrides_the_requests() {
    // Per-turn control (`per-turn-control-2026-07-01`): Claude Code puts `output_config` on a
    // system turn; the latest turn's effort is the one that applies.
    let mut req = claude_code_conversation();
    req["thinking"] = json!({"type": "adaptive", "display": "omitted"});
    req["output_config"] = json!({"effort": "high"});
    req["messages"][1]["output_config"] = json!({"effort": "low"});
    let (o, dropped, _) = a2o(&req, &compat_ctx("gpt-oss-120b", SystemMessages::Inline));
    assert_eq!(o["reasoning_effort"], "low");
    assert!(
        !dropped.iter().any(|d| d.contains("output_config")),
        "{dropped:?}"
    );
    // A model without reasoning_effort: the turn's output_config is reported with thinking.
    let (o, dropped, _) = a2o(&req, &compat_ctx("llama-3.3-70b", SystemMessages::Inline));
    assert!(o.get("reasoning_effort").is_none());
    assert!(
        dropped.contains(&"messages[1].output_config".to_string()),
        "{dropped:?}"
    );
    // Anything besides an effort on a turn is reported as it is.
    req["messages"][1]["output_config"] =
        json!({"effort": "low", "format": {"type": "json_schema"}});
    let (o, dropped, _) = a2o(&req, &compat_ctx("gpt-oss-120b", SystemMessages::Inline));
    assert_eq!(o["reasoning_effort"], "high");
    assert!(
        dropped.contains(&"messages[1].output_config".to_string()),
        "{dropped:?}"
    );
}
