//! Request translation, both directions: one table-driven test per mapping of TRANSLATION.md
//! §1 and §3, plus property-based round trips (Anthropic → OpenAI → Anthropic).

use dario::translate::{
    anthropic_request_to_openai, openai_request_to_anthropic, RequestContext, SystemMessages,
    TranslateError, DEFAULT_ANTHROPIC_VERSION,
};
use proptest::prelude::*;
use serde_json::{json, Value};

fn groq() -> RequestContext<'static> {
    RequestContext {
        upstream_model: "llama-3.3-70b-versatile",
        backend_name: "groq",
        upstream_is_openai_itself: false,
        accepts_reasoning_content: false,
        system_messages: SystemMessages::Inline,
        anthropic_version: DEFAULT_ANTHROPIC_VERSION,
    }
}

fn openai(model: &'static str) -> RequestContext<'static> {
    RequestContext {
        upstream_model: model,
        backend_name: "openai",
        upstream_is_openai_itself: true,
        accepts_reasoning_content: false,
        system_messages: SystemMessages::Inline,
        anthropic_version: DEFAULT_ANTHROPIC_VERSION,
    }
}

fn anthropic_ctx(model: &'static str) -> RequestContext<'static> {
    RequestContext {
        upstream_model: model,
        backend_name: "anthropic",
        upstream_is_openai_itself: false,
        accepts_reasoning_content: false,
        system_messages: SystemMessages::Inline,
        anthropic_version: DEFAULT_ANTHROPIC_VERSION,
    }
}

/// Anthropic request → (OpenAI body as JSON, dropped).
fn a2o(req: Value, ctx: &RequestContext) -> (Value, Vec<String>) {
    let t = anthropic_request_to_openai(&serde_json::to_vec(&req).unwrap(), ctx).unwrap();
    (serde_json::from_slice(&t.body).unwrap(), t.dropped)
}

/// OpenAI request → (Anthropic body as JSON, dropped).
fn o2a(req: Value, ctx: &RequestContext) -> (Value, Vec<String>) {
    let t = openai_request_to_anthropic(&serde_json::to_vec(&req).unwrap(), ctx).unwrap();
    (serde_json::from_slice(&t.body).unwrap(), t.dropped)
}

fn areq(messages: Value) -> Value {
    json!({"model": "claude-x", "max_tokens": 100, "messages": messages})
}

fn oreq(messages: Value) -> Value {
    json!({"model": "gpt-x", "messages": messages})
}

// ============================ Anthropic → OpenAI (§1) ============================

#[test]
fn a2o_model_and_basic_text() {
    let (o, d) = a2o(areq(json!([{"role": "user", "content": "hi"}])), &groq());
    assert_eq!(o["model"], "llama-3.3-70b-versatile");
    assert_eq!(o["messages"], json!([{"role": "user", "content": "hi"}]));
    assert_eq!(o["max_tokens"], 100);
    assert!(d.is_empty(), "{d:?}");
    // A lone text block becomes a plain string; several stay parts.
    let (o, _) = a2o(
        areq(json!([{"role": "user", "content": [{"type": "text", "text": "a"}]}])),
        &groq(),
    );
    assert_eq!(o["messages"][0]["content"], "a");
    let (o, _) = a2o(
        areq(
            json!([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]),
        ),
        &groq(),
    );
    assert_eq!(
        o["messages"][0]["content"],
        json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    );
}

#[test]
fn a2o_system_string_blocks_billing_line_and_cache_control() {
    let cases: Vec<(Value, Value, Vec<&str>)> = vec![
        (json!("be brief"), json!("be brief"), vec![]),
        (
            json!([{"type": "text", "text": "one"}, {"type": "text", "text": "two", "cache_control": {"type": "ephemeral"}}]),
            json!("one\n\ntwo"),
            vec!["system[1].cache_control"],
        ),
        (
            json!([{"type": "text", "text": "x-anthropic-billing-header: cc_version=1.0; cc_entrypoint=cli"}, {"type": "text", "text": "You are Claude Code."}]),
            json!("You are Claude Code."),
            vec![],
        ),
        (
            json!("x-anthropic-billing-header: a=b\nrest of prompt"),
            json!("rest of prompt"),
            vec![],
        ),
    ];
    for (system, want, want_dropped) in cases {
        let mut r = areq(json!([{"role": "user", "content": "q"}]));
        r["system"] = system.clone();
        let (o, d) = a2o(r, &groq());
        assert_eq!(
            o["messages"][0],
            json!({"role": "system", "content": want}),
            "{system}"
        );
        assert_eq!(d, want_dropped, "{system}");
    }
}

#[test]
fn a2o_images_and_documents() {
    let (o, d) = a2o(
        areq(json!([{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}, "title": "spec.pdf"},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"}},
            {"type": "document", "source": {"type": "url", "url": "https://example.com/x.pdf"}},
            {"type": "text", "text": "describe"}
        ]}])),
        &groq(),
    );
    assert_eq!(
        o["messages"][0]["content"],
        json!([
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "spec.pdf"}},
            {"type": "text", "text": "plain doc"},
            {"type": "text", "text": "describe"}
        ])
    );
    assert_eq!(d, vec!["messages[0].content[4] (document source url)"]);
}

#[test]
fn a2o_tool_results_become_tool_messages_before_the_rest() {
    let (o, d) = a2o(
        areq(json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris", "units": "c"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "text", "text": "also this"},
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                    {"type": "text", "text": "18C"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "UE5H"}}
                ]},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "clock broke", "is_error": true}
            ]}
        ])),
        &groq(),
    );
    assert!(d.is_empty(), "{d:?}");
    let msgs = o["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 5);
    assert_eq!(
        msgs[1],
        json!({"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"units\":\"c\"}"}},
            {"id": "toolu_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
        ]})
    );
    assert_eq!(
        msgs[2],
        json!({"role": "tool", "tool_call_id": "toolu_1", "content": "18C"})
    );
    assert_eq!(
        msgs[3],
        json!({"role": "tool", "tool_call_id": "toolu_2", "content": "Error: clock broke"})
    );
    // Images from results move into the following user message, before the turn's own text.
    assert_eq!(
        msgs[4],
        json!({"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,UE5H"}},
            {"type": "text", "text": "also this"}
        ]})
    );
}

#[test]
fn a2o_tool_input_is_forwarded_byte_for_byte() {
    let body = br#"{"model":"c","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{"z":1,"a":{"y":[1,2],"b":"\u00e9"}}}]}]}"#;
    let t = anthropic_request_to_openai(body, &groq()).unwrap();
    let o: Value = serde_json::from_slice(&t.body).unwrap();
    assert_eq!(
        o["messages"][0]["tool_calls"][0]["function"]["arguments"],
        r#"{"z":1,"a":{"y":[1,2],"b":"\u00e9"}}"#
    );
    assert!(o["messages"][0].get("content").is_none());
}

#[test]
fn a2o_thinking_blocks() {
    let msgs = json!([
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "let me think", "signature": "sig"},
            {"type": "redacted_thinking", "data": "xxx"},
            {"type": "text", "text": "answer"}
        ]}
    ]);
    let mut ctx = groq();
    ctx.accepts_reasoning_content = true;
    let (o, d) = a2o(areq(msgs.clone()), &ctx);
    assert_eq!(
        o["messages"][1],
        json!({"role": "assistant", "content": "answer", "reasoning_content": "let me think"})
    );
    assert_eq!(d, vec!["messages[1].content[1] (redacted_thinking)"]);
    let (o, d) = a2o(areq(msgs), &groq());
    assert_eq!(
        o["messages"][1],
        json!({"role": "assistant", "content": "answer"})
    );
    assert_eq!(
        d,
        vec![
            "messages[1].content[0] (thinking)",
            "messages[1].content[1] (redacted_thinking)"
        ]
    );
}

#[test]
fn a2o_max_tokens_family_table() {
    let table = [
        (openai("o3"), "max_completion_tokens"),
        (openai("o4-mini"), "max_completion_tokens"),
        (openai("gpt-5-mini"), "max_completion_tokens"),
        (openai("gpt-4o"), "max_tokens"),
        (groq(), "max_tokens"),
    ];
    for (ctx, key) in table {
        let (o, _) = a2o(areq(json!([{"role": "user", "content": "q"}])), &ctx);
        assert_eq!(o[key], 100, "{}", ctx.upstream_model);
        let other = if key == "max_tokens" {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        assert!(o.get(other).is_none());
    }
}

#[test]
fn a2o_sampling_stop_user_stream() {
    let mut r = areq(json!([{"role": "user", "content": "q"}]));
    r["temperature"] = json!(0.3);
    r["top_p"] = json!(0.9);
    r["top_k"] = json!(40);
    r["stop_sequences"] = json!(["a", "b", "c", "d", "e", "f"]);
    r["metadata"] = json!({"user_id": "u-123"});
    r["stream"] = json!(true);
    let (o, d) = a2o(r.clone(), &groq());
    assert_eq!(o["temperature"], 0.3);
    assert_eq!(o["top_p"], 0.9);
    assert_eq!(o["stop"], json!(["a", "b", "c", "d", "e", "f"]));
    assert_eq!(o["user"], "u-123");
    assert_eq!(o["stream"], true);
    assert_eq!(o["stream_options"], json!({"include_usage": true}));
    assert_eq!(d, vec!["top_k"]);
    // OpenAI itself: 4 stop sequences at most.
    let (o, d) = a2o(r.clone(), &openai("gpt-4o"));
    assert_eq!(o["stop"], json!(["a", "b", "c", "d"]));
    assert_eq!(d, vec!["top_k", "stop_sequences[4]", "stop_sequences[5]"]);
    // OpenAI reasoning models take only default sampling values.
    let (o, d) = a2o(r, &openai("o3"));
    assert!(o.get("temperature").is_none() && o.get("top_p").is_none());
    assert!(
        d.contains(&"temperature (unsupported by o3)".to_string()),
        "{d:?}"
    );
    assert!(
        d.contains(&"top_p (unsupported by o3)".to_string()),
        "{d:?}"
    );
}

#[test]
fn a2o_tools_and_tool_choice_table() {
    let tools = json!([
        {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"type": "custom", "name": "bash_run", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}
    ]);
    let choices: Vec<(Value, Value, Option<bool>)> = vec![
        (json!({"type": "auto"}), json!("auto"), None),
        (json!({"type": "any"}), json!("required"), None),
        (json!({"type": "none"}), json!("none"), None),
        (
            json!({"type": "tool", "name": "get_weather"}),
            json!({"type": "function", "function": {"name": "get_weather"}}),
            None,
        ),
        (
            json!({"type": "auto", "disable_parallel_tool_use": true}),
            json!("auto"),
            Some(false),
        ),
        (
            json!({"type": "any", "disable_parallel_tool_use": true}),
            json!("required"),
            Some(false),
        ),
    ];
    for (choice, want, parallel) in choices {
        let mut r = areq(json!([{"role": "user", "content": "q"}]));
        r["tools"] = tools.clone();
        r["tool_choice"] = choice.clone();
        let (o, d) = a2o(r, &groq());
        assert_eq!(o["tool_choice"], want, "{choice}");
        assert_eq!(
            o.get("parallel_tool_calls").and_then(Value::as_bool),
            parallel
        );
        assert_eq!(
            o["tools"],
            json!([
                {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
                {"type": "function", "function": {"name": "bash_run", "parameters": {"type": "object"}}}
            ])
        );
        assert_eq!(
            d,
            vec!["tools[1] (web_search_20250305)", "tools[2].cache_control"]
        );
    }
}

#[test]
fn a2o_thinking_budget_to_reasoning_effort() {
    let table = [
        (1024, "low"),
        (3999, "low"),
        (4096, "medium"),
        (15000, "medium"),
        (16384, "high"),
        (32000, "high"),
    ];
    for (budget, effort) in table {
        let mut r = areq(json!([{"role": "user", "content": "q"}]));
        r["thinking"] = json!({"type": "enabled", "budget_tokens": budget});
        let (o, d) = a2o(r, &openai("gpt-5"));
        assert_eq!(o["reasoning_effort"], effort, "{budget}");
        assert!(d.is_empty());
    }
    // A model without reasoning effort: reported, not sent.
    let mut r = areq(json!([{"role": "user", "content": "q"}]));
    r["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
    let (o, d) = a2o(r.clone(), &groq());
    assert!(o.get("reasoning_effort").is_none());
    assert_eq!(
        d,
        vec!["thinking (not supported by llama-3.3-70b-versatile)"]
    );
    // Disabled / adaptive: omitted, nothing lost.
    for t in [json!({"type": "disabled"}), json!({"type": "adaptive"})] {
        r["thinking"] = t;
        let (o, d) = a2o(r.clone(), &openai("gpt-5"));
        assert!(o.get("reasoning_effort").is_none());
        assert!(d.is_empty());
    }
}

#[test]
fn a2o_unknown_top_level_fields_are_reported() {
    let mut r = areq(json!([{"role": "user", "content": "q"}]));
    r["service_tier"] = json!("auto");
    r["container"] = json!("c1");
    r["mcp_servers"] = json!([{"url": "https://x"}]);
    r["context_management"] = json!({"edits": [{"type": "clear_tool_uses_20250919"}]});
    r["brand_new"] = json!(null);
    let (_, d) = a2o(r, &groq());
    assert_eq!(
        d,
        vec![
            "container",
            "mcp_servers",
            "service_tier",
            "context_management.edits[0] (clear_tool_uses_20250919)"
        ]
    );
}

#[test]
fn a2o_everything_mappable_reports_nothing() {
    let r = json!({
        "model": "claude-x", "max_tokens": 512, "temperature": 0.5, "top_p": 0.9,
        "stop_sequences": ["END"], "stream": true, "metadata": {"user_id": "u"},
        "system": [{"type": "text", "text": "sys"}],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "q"}, {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"}, {"type": "text", "text": "a"}, {"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok", "is_error": false}]}
        ]
    });
    let mut ctx = openai("gpt-5");
    ctx.upstream_is_openai_itself = false; // an OpenAI-compatible reasoning host
    ctx.accepts_reasoning_content = true;
    let (_, d) = a2o(r, &ctx);
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn a2o_errors() {
    let e = anthropic_request_to_openai(b"{not json", &groq()).unwrap_err();
    assert!(matches!(e, TranslateError::InvalidJson(_)));
    assert_eq!(e.status(), 400);
    let e = anthropic_request_to_openai(br#"{"model":"m"}"#, &groq()).unwrap_err();
    assert!(e.to_string().contains("`messages` is required"), "{e}");
    let e = anthropic_request_to_openai(
        br#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#,
        &groq(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("messages[0].role"), "{e}");
    let e = anthropic_request_to_openai(br#"{"model":"m","messages":5}"#, &groq()).unwrap_err();
    assert!(matches!(e, TranslateError::InvalidShape(_)), "{e:?}");
    let body: Value = serde_json::from_slice(&e.to_anthropic_body()).unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
}

// ============================ OpenAI → Anthropic (§3) ============================

#[test]
fn o2a_system_and_developer_are_hoisted_in_order() {
    let (a, d) = o2a(
        oreq(json!([
            {"role": "system", "content": "first"},
            {"role": "user", "content": "q1"},
            {"role": "developer", "content": [{"type": "text", "text": "second"}]},
            {"role": "assistant", "content": "a1"},
            {"role": "system", "content": "third"},
            {"role": "user", "content": "q2"}
        ])),
        &anthropic_ctx("claude-sonnet-4"),
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        a["system"],
        json!([{"type": "text", "text": "first"}, {"type": "text", "text": "second"}, {"type": "text", "text": "third"}])
    );
    assert_eq!(
        a["messages"],
        json!([
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "q2"}
        ])
    );
    assert_eq!(a["model"], "claude-sonnet-4");
}

#[test]
fn o2a_user_parts_images_files_audio() {
    let (a, d) = o2a(
        oreq(json!([{"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/webp;base64,V0VC"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}},
            {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}},
            {"type": "file", "file": {"file_id": "file-abc"}},
            {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}
        ]}])),
        &anthropic_ctx("claude-sonnet-4"),
    );
    assert_eq!(
        a["messages"][0]["content"],
        json!([
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": "V0VC"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}, "title": "a.pdf"}
        ])
    );
    assert_eq!(
        d,
        vec![
            "messages[0].content[2].image_url.detail",
            "messages[0].content[4] (file: file_id)",
            "messages[0].content[5] (input_audio)"
        ]
    );
}

#[test]
fn o2a_tool_calls_and_results_merge_into_one_user_turn() {
    let (a, d) = o2a(
        oreq(json!([
            {"role": "user", "content": "weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
                {"id": "call_3", "type": "function", "function": {"name": "now", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
            {"role": "tool", "tool_call_id": "call_3", "content": "noon"},
            {"role": "user", "content": "thanks, and?"}
        ])),
        &anthropic_ctx("claude-sonnet-4"),
    );
    assert!(d.is_empty(), "{d:?}");
    let msgs = a["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert_eq!(
        msgs[1]["content"],
        json!([
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}},
            {"type": "tool_use", "id": "call_3", "name": "now", "input": {}}
        ])
    );
    assert_eq!(
        msgs[2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
            {"type": "tool_result", "tool_use_id": "call_3", "content": "noon"},
            {"type": "text", "text": "thanks, and?"}
        ]})
    );
}

#[test]
fn o2a_bad_arguments_and_odd_ids() {
    let (a, d) = o2a(
        oreq(json!([
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "sure", "tool_calls": [
                {"id": "functions.get_weather:0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Par"}}
            ]},
            {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "x"}
        ])),
        &anthropic_ctx("claude-sonnet-4"),
    );
    let m = &a["messages"];
    assert_eq!(
        m[1]["content"],
        json!([
            {"type": "text", "text": "sure"},
            {"type": "tool_use", "id": "functions_get_weather_0", "name": "get_weather", "input": {}}
        ])
    );
    assert_eq!(m[2]["content"][0]["tool_use_id"], "functions_get_weather_0");
    assert_eq!(
        d,
        vec!["messages[1].tool_calls[0].function.arguments (not a JSON object)"]
    );
}

#[test]
fn o2a_consecutive_roles_merge() {
    let (a, _) = o2a(
        oreq(json!([
            {"role": "user", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "c"},
            {"role": "assistant", "content": "d"},
            {"role": "user", "content": ""},
            {"role": "user", "content": "e"}
        ])),
        &anthropic_ctx("claude-sonnet-4"),
    );
    assert_eq!(
        a["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]},
            {"role": "user", "content": "e"}
        ])
    );
}

#[test]
fn o2a_max_tokens_table() {
    let table: Vec<(Value, &str, u64)> = vec![
        (json!({}), "claude-sonnet-4", 8192),
        (json!({}), "claude-3-haiku-20240307", 4096),
        (json!({"max_tokens": 300}), "claude-sonnet-4", 300),
        (
            json!({"max_completion_tokens": 200, "max_tokens": 300}),
            "claude-sonnet-4",
            200,
        ),
    ];
    for (extra, model, want) in table {
        let mut r = oreq(json!([{"role": "user", "content": "q"}]));
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        let (a, d) = o2a(r, &anthropic_ctx(model));
        assert_eq!(a["max_tokens"], want, "{extra} {model}");
        assert!(d.is_empty());
    }
}

#[test]
fn o2a_temperature_clamp_top_p_stop_user() {
    let table: Vec<(f64, f64, Vec<&str>)> = vec![
        (0.0, 0.0, vec![]),
        (0.7, 0.7, vec![]),
        (1.0, 1.0, vec![]),
        (1.6, 1.0, vec!["temperature (clamped to 1)"]),
        (2.0, 1.0, vec!["temperature (clamped to 1)"]),
    ];
    for (t, want, dropped) in table {
        let mut r = oreq(json!([{"role": "user", "content": "q"}]));
        r["temperature"] = json!(t);
        let (a, d) = o2a(r, &anthropic_ctx("claude-sonnet-4"));
        assert_eq!(a["temperature"].as_f64(), Some(want), "{t}");
        assert_eq!(d, dropped);
    }
    let mut r = oreq(json!([{"role": "user", "content": "q"}]));
    r["top_p"] = json!(0.8);
    r["stop"] = json!("END");
    r["user"] = json!("user-9");
    let (a, d) = o2a(r.clone(), &anthropic_ctx("claude-sonnet-4"));
    assert_eq!(a["top_p"], 0.8);
    assert_eq!(a["stop_sequences"], json!(["END"]));
    assert_eq!(a["metadata"], json!({"user_id": "user-9"}));
    assert!(d.is_empty());
    r["stop"] = json!(["A", "\n", "B"]);
    let (a, d) = o2a(r.clone(), &anthropic_ctx("claude-sonnet-4"));
    assert_eq!(a["stop_sequences"], json!(["A", "B"]));
    assert_eq!(d, vec!["stop[1] (whitespace-only)"]);
    // Claude 4.5 models refuse temperature together with top_p: top_p goes.
    r["temperature"] = json!(0.5);
    let (a, d) = o2a(r, &anthropic_ctx("claude-sonnet-4-5"));
    assert_eq!(a["temperature"], 0.5);
    assert!(a.get("top_p").is_none());
    assert_eq!(
        d,
        vec![
            "top_p (cannot be combined with temperature on claude-sonnet-4-5)",
            "stop[1] (whitespace-only)"
        ]
    );
}

#[test]
fn o2a_n_greater_than_one_is_refused() {
    let mut r = oreq(json!([{"role": "user", "content": "q"}]));
    r["n"] = json!(1);
    o2a(r.clone(), &anthropic_ctx("claude-sonnet-4"));
    r["n"] = json!(3);
    let e = openai_request_to_anthropic(&serde_json::to_vec(&r).unwrap(), &anthropic_ctx("c"))
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert_eq!(e.to_string(), "n > 1 is not supported for this model");
    let body: Value = serde_json::from_slice(&e.to_openai_body()).unwrap();
    assert_eq!(
        body["error"]["message"],
        "n > 1 is not supported for this model"
    );
    assert_eq!(body["error"]["type"], "invalid_request_error");
}

#[test]
fn o2a_unmappable_knobs_are_reported_only_when_set() {
    let mut r = oreq(json!([{"role": "user", "content": "q"}]));
    r["presence_penalty"] = json!(0.5);
    r["frequency_penalty"] = json!(0);
    r["logit_bias"] = json!({"50256": -100});
    r["logprobs"] = json!(true);
    r["top_logprobs"] = json!(2);
    r["seed"] = json!(42);
    r["store"] = json!(false);
    let (_, d) = o2a(r, &anthropic_ctx("claude-sonnet-4"));
    assert_eq!(
        d,
        vec![
            "logit_bias",
            "logprobs",
            "presence_penalty",
            "seed",
            "top_logprobs"
        ]
    );
}

#[test]
fn o2a_tools_and_choice_table() {
    let tools = json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, "strict": true}},
        {"type": "function", "function": {"name": "ping"}},
        {"type": "function", "function": {"name": "loose", "parameters": {"properties": {"a": {}}}}}
    ]);
    let table: Vec<(Value, Option<bool>, Value)> = vec![
        (json!("auto"), None, json!({"type": "auto"})),
        (json!("required"), None, json!({"type": "any"})),
        (json!("none"), None, json!({"type": "none"})),
        (
            json!({"type": "function", "function": {"name": "ping"}}),
            None,
            json!({"type": "tool", "name": "ping"}),
        ),
        (
            json!("auto"),
            Some(false),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        (
            Value::Null,
            Some(false),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        (json!("required"), Some(true), json!({"type": "any"})),
    ];
    for (choice, parallel, want) in table {
        let mut r = oreq(json!([{"role": "user", "content": "q"}]));
        r["tools"] = tools.clone();
        if !choice.is_null() {
            r["tool_choice"] = choice.clone();
        }
        if let Some(p) = parallel {
            r["parallel_tool_calls"] = json!(p);
        }
        let (a, d) = o2a(r, &anthropic_ctx("claude-sonnet-4"));
        assert_eq!(a["tool_choice"], want, "{choice} {parallel:?}");
        assert_eq!(
            a["tools"],
            json!([
                {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
                {"name": "ping", "input_schema": {"type": "object", "properties": {}}},
                {"name": "loose", "input_schema": {"type": "object", "properties": {"a": {}}}}
            ])
        );
        assert_eq!(d, vec!["tools[0].function.strict"]);
    }
}

#[test]
fn o2a_reasoning_effort_table() {
    let table = [
        ("low", 1024, 8192),
        ("medium", 8192, 16384),
        ("high", 24576, 32768),
    ];
    for (effort, budget, max) in table {
        let mut r = oreq(json!([{"role": "user", "content": "q"}]));
        r["reasoning_effort"] = json!(effort);
        r["max_completion_tokens"] = json!(8192);
        r["temperature"] = json!(0.2);
        let (a, d) = o2a(r, &anthropic_ctx("claude-sonnet-4"));
        assert_eq!(
            a["thinking"],
            json!({"type": "enabled", "budget_tokens": budget}),
            "{effort}"
        );
        assert_eq!(
            a["max_tokens"], max,
            "{effort}: max_tokens must exceed the budget"
        );
        assert!(a.get("temperature").is_none());
        assert_eq!(d, vec!["temperature (extended thinking requires 1)"]);
    }
}

#[test]
fn o2a_response_format_reasoning_content_and_stream_flags() {
    let mut r = oreq(json!([
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "reasoning_content": "hidden"},
        {"role": "user", "content": "q2"}
    ]));
    r["response_format"] =
        json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}});
    r["stream"] = json!(true);
    r["stream_options"] = json!({"include_usage": true});
    let t = openai_request_to_anthropic(
        &serde_json::to_vec(&r).unwrap(),
        &anthropic_ctx("claude-sonnet-4"),
    )
    .unwrap();
    assert!(t.stream && t.include_usage);
    let a: Value = serde_json::from_slice(&t.body).unwrap();
    assert_eq!(a["stream"], true);
    assert!(a.get("stream_options").is_none());
    assert_eq!(
        t.dropped,
        vec![
            "messages[1].reasoning_content",
            "response_format (json_schema)"
        ]
    );
    r["response_format"] = json!({"type": "text"});
    r["stream_options"] = json!({"include_usage": false});
    let t =
        openai_request_to_anthropic(&serde_json::to_vec(&r).unwrap(), &anthropic_ctx("c")).unwrap();
    assert!(t.stream && !t.include_usage);
    assert_eq!(t.dropped, vec!["messages[1].reasoning_content"]);
}

#[test]
fn o2a_everything_mappable_reports_nothing() {
    let r = json!({
        "model": "gpt-x", "max_completion_tokens": 1000, "temperature": 0.4, "top_p": 0.9,
        "stop": ["END"], "stream": true, "stream_options": {"include_usage": true}, "user": "u", "n": 1,
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}],
        "tool_choice": "required", "parallel_tool_calls": false,
        "messages": [
            {"role": "developer", "content": "dev"},
            {"role": "user", "content": [{"type": "text", "text": "q"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]},
            {"role": "assistant", "content": "a", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "r"}
        ]
    });
    let (_, d) = o2a(r, &anthropic_ctx("claude-sonnet-4"));
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn o2a_errors() {
    let e = openai_request_to_anthropic(b"[]", &anthropic_ctx("c")).unwrap_err();
    assert!(matches!(e, TranslateError::InvalidShape(_)), "{e:?}");
    let e = openai_request_to_anthropic(
        br#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
        &anthropic_ctx("c"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("messages[0].role"), "{e}");
    let e = openai_request_to_anthropic(b"", &anthropic_ctx("c")).unwrap_err();
    assert!(matches!(e, TranslateError::InvalidJson(_)), "{e:?}");
}

// ============================ Round trips (proptest) ============================

#[derive(Debug, Clone)]
struct ToolUse {
    id: String,
    name: String,
    input: Value,
}

#[derive(Debug, Clone)]
struct Turn {
    /// User turn: text blocks. Assistant turn: at most one text block.
    texts: Vec<String>,
    tool_uses: Vec<ToolUse>,
    /// (content, is_error) per tool use of the previous assistant turn.
    results: Vec<(String, bool)>,
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ,.!?]{1,40}",
        "\\PC{1,30}",
        Just("line one\nline \"two\"\t\\ end".to_string()),
    ]
    .prop_filter("non-blank", |s: &String| !s.trim().is_empty())
}

fn input_strategy() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        "[a-z_]{1,8}",
        prop_oneof![
            any::<i32>().prop_map(Value::from),
            "\\PC{0,20}".prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            prop::collection::vec(any::<u8>().prop_map(Value::from), 0..4).prop_map(Value::from),
        ],
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn conversation_strategy() -> impl Strategy<Value = (Vec<Turn>, String)> {
    let assistant = (
        prop::option::of(text_strategy()),
        prop::collection::vec(
            ("[a-zA-Z0-9]{4,12}", "[a-z_]{1,10}", input_strategy()),
            0..3,
        ),
    );
    let user_texts = || prop::collection::vec(text_strategy(), 1..3);
    (
        prop::collection::vec(
            (
                user_texts(),
                assistant,
                prop::collection::vec((text_strategy(), any::<bool>()), 3),
            ),
            0..4,
        ),
        user_texts(),
        text_strategy(),
    )
        .prop_map(|(rounds, last_user, system)| {
            let mut turns = Vec::new();
            let mut pending: Vec<(String, bool)> = Vec::new();
            for (k, (user, (atext, uses), results)) in rounds.into_iter().enumerate() {
                turns.push(Turn {
                    texts: user,
                    tool_uses: vec![],
                    results: std::mem::take(&mut pending),
                });
                let uses: Vec<ToolUse> = uses
                    .into_iter()
                    .enumerate()
                    .map(|(j, (id, name, input))| ToolUse {
                        id: format!("toolu_{k}{j}{id}"),
                        name,
                        input,
                    })
                    .collect();
                let atext: Vec<String> = match (&atext, uses.is_empty()) {
                    (None, true) => vec!["ok".into()],
                    _ => atext.into_iter().collect(),
                };
                pending = results.into_iter().take(uses.len()).collect();
                turns.push(Turn {
                    texts: atext,
                    tool_uses: uses,
                    results: vec![],
                });
            }
            turns.push(Turn {
                texts: last_user,
                tool_uses: vec![],
                results: pending,
            });
            (turns, system)
        })
}

/// Build the Anthropic request for a conversation.
fn build_anthropic(turns: &[Turn], system: &str) -> Value {
    let mut msgs = Vec::new();
    let mut prev_ids: Vec<String> = Vec::new();
    for (i, t) in turns.iter().enumerate() {
        let user = i % 2 == 0;
        let mut blocks = Vec::new();
        if user {
            for ((content, err), id) in t.results.iter().zip(&prev_ids) {
                let mut b = json!({"type": "tool_result", "tool_use_id": id, "content": content});
                if *err {
                    b["is_error"] = json!(true);
                }
                blocks.push(b);
            }
        }
        for s in &t.texts {
            blocks.push(json!({"type": "text", "text": s}));
        }
        for u in &t.tool_uses {
            blocks.push(json!({"type": "tool_use", "id": u.id, "name": u.name, "input": u.input}));
        }
        prev_ids = t.tool_uses.iter().map(|u| u.id.clone()).collect();
        msgs.push(json!({"role": if user { "user" } else { "assistant" }, "content": blocks}));
    }
    json!({
        "model": "claude-x", "max_tokens": 777, "system": system, "messages": msgs,
        "temperature": 0.25, "top_p": 0.5, "stop_sequences": ["STOP"], "metadata": {"user_id": "u1"},
        "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
    })
}

/// Normal form of an Anthropic message list: blocks always as arrays, tool_result content as a
/// plain string with `is_error` folded into an "Error: " prefix (how OpenAI carries it).
fn normalize(messages: &Value) -> Vec<(String, Vec<Value>)> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let role = m["role"].as_str().unwrap().to_string();
            let blocks = match &m["content"] {
                Value::String(s) => vec![json!({"type": "text", "text": s})],
                Value::Array(a) => a
                    .iter()
                    .map(|b| match b["type"].as_str().unwrap() {
                        "tool_result" => {
                            let mut text = match &b["content"] {
                                Value::String(s) => s.clone(),
                                Value::Null => String::new(),
                                other => other.to_string(),
                            };
                            if b["is_error"] == json!(true) {
                                text = format!("Error: {text}");
                            }
                            json!({"type": "tool_result", "tool_use_id": b["tool_use_id"], "content": text})
                        }
                        _ => b.clone(),
                    })
                    .collect(),
                other => panic!("content {other}"),
            };
            (role, blocks)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn anthropic_openai_anthropic_round_trip((turns, system) in conversation_strategy()) {
        let original = build_anthropic(&turns, &system);
        let t1 = anthropic_request_to_openai(&serde_json::to_vec(&original).unwrap(), &groq()).unwrap();
        prop_assert!(t1.dropped.is_empty(), "{:?}", t1.dropped);
        let t2 = openai_request_to_anthropic(&t1.body, &anthropic_ctx("claude-x")).unwrap();
        prop_assert!(t2.dropped.is_empty(), "{:?}", t2.dropped);
        let back: Value = serde_json::from_slice(&t2.body).unwrap();

        prop_assert_eq!(normalize(&back["messages"]), normalize(&original["messages"]));
        prop_assert_eq!(&back["system"], &json!([{"type": "text", "text": system}]));
        for k in ["max_tokens", "temperature", "top_p", "stop_sequences", "metadata", "tools", "tool_choice"] {
            prop_assert_eq!(&back[k], &original[k], "{}", k);
        }
    }

    #[test]
    fn openai_requests_never_panic_and_report_paths(text in "\\PC{0,50}", temp in 0.0f64..2.0, n in 0u64..2) {
        let r = json!({"model": "m", "n": n, "temperature": temp, "messages": [
            {"role": "user", "content": format!("q{text}")},
            {"role": "assistant", "tool_calls": [{"id": "x y", "type": "function", "function": {"name": "f", "arguments": text}}]},
            {"role": "tool", "tool_call_id": "x y", "content": text}
        ]});
        let t = openai_request_to_anthropic(&serde_json::to_vec(&r).unwrap(), &anthropic_ctx("claude-x")).unwrap();
        let a: Value = serde_json::from_slice(&t.body).unwrap();
        // Ids stay paired after sanitising; temperature stays in Anthropic's range.
        prop_assert_eq!(&a["messages"][1]["content"][0]["id"], &json!("x_y"));
        prop_assert!(a["temperature"].as_f64().unwrap() <= 1.0);
        for d in &t.dropped {
            prop_assert!(d.starts_with("messages[1].tool_calls[0]") || d.starts_with("temperature"), "{}", d);
        }
    }
}
