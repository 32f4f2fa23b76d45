//! Non-streaming response translation both ways (TRANSLATION.md §2 and §4) and error envelopes
//! (§5).

use dario::protocol::{Protocol, Usage};
use dario::translate::{
    anthropic_response_to_openai, error_to_anthropic, error_to_openai,
    openai_response_to_anthropic, usage_from_json, ResponseContext, TranslateError,
};
use serde_json::{json, Value};

const CTX: ResponseContext<'static> = ResponseContext {
    client_model: "client-model",
    include_usage: false,
};

fn o2a(resp: Value) -> (Value, Usage, Vec<String>) {
    let (b, u, d) =
        openai_response_to_anthropic(&serde_json::to_vec(&resp).unwrap(), &CTX).unwrap();
    (serde_json::from_slice(&b).unwrap(), u, d)
}

fn a2o(resp: Value) -> (Value, Usage, Vec<String>) {
    let (b, u, d) =
        anthropic_response_to_openai(&serde_json::to_vec(&resp).unwrap(), &CTX).unwrap();
    (serde_json::from_slice(&b).unwrap(), u, d)
}

fn completion(message: Value, finish: &str) -> Value {
    json!({
        "id": "chatcmpl-AbC123", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                  "prompt_tokens_details": {"cached_tokens": 40},
                  "completion_tokens_details": {"reasoning_tokens": 5}}
    })
}

#[test]
fn openai_to_anthropic_text_and_usage() {
    let (a, u, d) = o2a(completion(
        json!({"role": "assistant", "content": "Hello!"}),
        "stop",
    ));
    assert_eq!(
        a,
        json!({
            "id": "msg_AbC123", "type": "message", "role": "assistant", "model": "client-model",
            "content": [{"type": "text", "text": "Hello!"}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 60, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 40, "output_tokens": 20}
        })
    );
    assert_eq!(
        u,
        Usage {
            input_tokens: 60,
            output_tokens: 20,
            cache_read_tokens: 40,
            cache_write_tokens: 0,
            reasoning_tokens: 5
        }
    );
    assert!(d.is_empty());
}

#[test]
fn openai_to_anthropic_finish_reasons() {
    let table = [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
    ];
    for (finish, stop) in table {
        let (a, _, _) = o2a(completion(
            json!({"role": "assistant", "content": "x"}),
            finish,
        ));
        assert_eq!(a["stop_reason"], stop, "{finish}");
    }
}

#[test]
fn openai_to_anthropic_reasoning_tools_refusal_empty() {
    let (a, _, d) = o2a(completion(
        json!({"role": "assistant", "content": "", "reasoning_content": "thinking hard",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
            {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{broken"}}
        ]}),
        "tool_calls",
    ));
    assert_eq!(
        a["content"],
        json!([
            {"type": "thinking", "thinking": "thinking hard", "signature": ""},
            {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
            {"type": "tool_use", "id": "call_2", "name": "g", "input": {}}
        ]),
        "no empty text block"
    );
    assert_eq!(a["stop_reason"], "tool_use");
    assert_eq!(
        d,
        vec!["choices[0].message.tool_calls[1].function.arguments"]
    );
    // `reasoning` (OpenRouter-style) also maps; refusal → text + stop_reason refusal.
    let (a, _, _) = o2a(completion(
        json!({"role": "assistant", "content": null, "reasoning": "r", "refusal": "I can't help with that."}),
        "stop",
    ));
    assert_eq!(
        a["content"],
        json!([
            {"type": "thinking", "thinking": "r", "signature": ""},
            {"type": "text", "text": "I can't help with that."}
        ])
    );
    assert_eq!(a["stop_reason"], "refusal");
    // Tool calls with finish_reason "stop" (some compatible servers) still mean tool_use.
    let (a, _, _) = o2a(completion(
        json!({"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
        "stop",
    ));
    assert_eq!(a["stop_reason"], "tool_use");
    assert_eq!(a["content"][0]["input"], json!({}));
}

#[test]
fn openai_to_anthropic_parts_escapes_and_fields_it_does_not_need() {
    // Content as an array of parts (some compatible servers), text with escapes (not borrowed),
    // and the fields real completions carry beside the ones translation reads.
    let mut resp = completion(
        json!({"role": "assistant",
               "content": [{"type": "text", "text": "line \"one\"\n"}, {"type": "text", "text": "two é"}],
               "annotations": [], "audio": null}),
        "stop",
    );
    resp["system_fingerprint"] = json!("fp_1");
    resp["service_tier"] = json!("default");
    resp["choices"][0]["logprobs"] = json!({"content": [{"token": "x", "logprob": -0.1}]});
    let (a, _, d) = o2a(resp);
    assert_eq!(
        a["content"],
        json!([{"type": "text", "text": "line \"one\"\ntwo é"}])
    );
    assert_eq!(a["stop_reason"], "end_turn");
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn openai_to_anthropic_bad_upstream() {
    for body in [
        &b"nope"[..],
        br#"{"id":"x","choices":[]}"#,
        br#"{"error":{"message":"boom"}}"#,
    ] {
        let e = openai_response_to_anthropic(body, &CTX).unwrap_err();
        assert!(matches!(e, TranslateError::InvalidUpstream(_)), "{e:?}");
        assert_eq!(e.status(), 502);
    }
}

fn message(content: Value, stop: &str) -> Value {
    json!({
        "id": "msg_01XYZ", "type": "message", "role": "assistant", "model": "claude-sonnet-4",
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 10, "cache_creation_input_tokens": 3, "cache_read_input_tokens": 7, "output_tokens": 9}
    })
}

#[test]
fn anthropic_to_openai_full_shape() {
    let (o, u, d) = a2o(message(
        json!([{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]),
        "end_turn",
    ));
    assert!(o["id"].as_str().unwrap() == "chatcmpl-01XYZ");
    assert!(o["created"].as_u64().unwrap() > 1_600_000_000);
    let mut o2 = o.clone();
    o2["created"] = json!(0);
    assert_eq!(
        o2,
        json!({
            "id": "chatcmpl-01XYZ", "object": "chat.completion", "created": 0, "model": "client-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there", "refusal": null},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29,
                      "prompt_tokens_details": {"cached_tokens": 7}}
        })
    );
    assert_eq!(
        u,
        Usage {
            input_tokens: 10,
            output_tokens: 9,
            cache_read_tokens: 7,
            cache_write_tokens: 3,
            reasoning_tokens: 0
        }
    );
    assert!(d.is_empty());
}

#[test]
fn anthropic_to_openai_stop_reasons() {
    let table = [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ];
    for (stop, finish) in table {
        let (o, _, _) = a2o(message(json!([{"type": "text", "text": "x"}]), stop));
        assert_eq!(o["choices"][0]["finish_reason"], finish, "{stop}");
    }
}

#[test]
fn anthropic_to_openai_tools_thinking_and_dropped() {
    let (o, _, d) = a2o(message(
        json!([
            {"type": "thinking", "thinking": "step 1", "signature": "sig"},
            {"type": "redacted_thinking", "data": "zzz"},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}
        ]),
        "tool_use",
    ));
    let m = &o["choices"][0]["message"];
    assert_eq!(m["content"], Value::Null, "only tool calls → null content");
    assert_eq!(m["reasoning_content"], "step 1");
    assert_eq!(
        m["tool_calls"],
        json!([
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "toolu_2", "type": "function", "function": {"name": "now", "arguments": "{}"}}
        ])
    );
    assert_eq!(o["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(d, vec!["content[1] (redacted_thinking)"]);
}

#[test]
fn response_round_trip_keeps_content() {
    // Anthropic → OpenAI → Anthropic keeps text, tool calls, stop reason and usage.
    let original = message(
        json!([
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"q": "x", "n": [1, 2]}}
        ]),
        "tool_use",
    );
    let (o, u1, _) = a2o(original.clone());
    let (back, u2, d) = o2a(o);
    assert_eq!(back["content"], original["content"]);
    assert_eq!(back["stop_reason"], "tool_use");
    assert_eq!(back["model"], "client-model");
    assert!(d.is_empty());
    // Cache writes are reported as plain prompt tokens by OpenAI, so they come back as input.
    assert_eq!(u1.output_tokens, u2.output_tokens);
    assert_eq!(u1.cache_read_tokens, u2.cache_read_tokens);
    assert_eq!(u1.input_tokens + u1.cache_write_tokens, u2.input_tokens);
}

#[test]
fn usage_from_non_streaming_bodies() {
    let o = usage_from_json(
        Protocol::OpenAi,
        &serde_json::to_vec(&completion(json!({"content": "x"}), "stop")).unwrap(),
    );
    assert_eq!(
        (
            o.input_tokens,
            o.cache_read_tokens,
            o.output_tokens,
            o.reasoning_tokens
        ),
        (60, 40, 20, 5)
    );
    let a = usage_from_json(
        Protocol::Anthropic,
        &serde_json::to_vec(&message(json!([]), "end_turn")).unwrap(),
    );
    assert_eq!(
        (
            a.input_tokens,
            a.cache_write_tokens,
            a.cache_read_tokens,
            a.output_tokens
        ),
        (10, 3, 7, 9)
    );
}

#[test]
fn error_envelopes_keep_message_and_map_type() {
    let v: Value = serde_json::from_slice(&error_to_openai(
        529,
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    ))
    .unwrap();
    assert_eq!(
        v,
        json!({"error": {"message": "Overloaded", "type": "server_error", "param": null, "code": "overloaded"}})
    );
    let v: Value = serde_json::from_slice(&error_to_anthropic(
        401,
        br#"{"error":{"message":"Incorrect API key provided: sk-proj-abcdefABCDEF0123456789. You can find your key at ...","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
    ))
    .unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "authentication_error");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("Incorrect API key provided: ***."), "{msg}");
    assert!(!msg.contains("sk-"), "{msg}");
    // OpenAI error to an OpenAI envelope keeps its own type and code.
    let v: Value = serde_json::from_slice(&error_to_openai(
        429,
        br#"{"error":{"message":"slow down","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#,
    ))
    .unwrap();
    assert_eq!(v["error"]["type"], "tokens");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
}
