//! `POST /v1/responses` through the real server against the stand-in upstream: translated to an
//! OpenAI Chat backend and to an Anthropic backend (JSON and event streams, tools, reasoning),
//! passed through to a Responses-capable backend byte for byte, `previous_response_id` from the
//! local store, errors in the OpenAI envelope, dropped fields reported, failures mid-stream.

use crate::support;

use dario::protocol::Protocol;
use dario::sse::SseParser;
use serde_json::{json, Value};
use support::standin::{canned_content, responses_sse};
use support::*;

/// `compat` (OpenAI Chat, `llama-*`), `native` (OpenAI protocol serving `/responses`, `gpt-r-*`),
/// `anthropic` (`claude-*`), all the stand-in.
async fn setup() -> (StandIn, Dario) {
    let up = StandIn::start().await;
    let compat = openai_backend("compat", &up, &["llama-*"]);
    let mut native = openai_backend("native", &up, &["gpt-r-*"]);
    native.responses = true;
    let dario = Dario::start(config_for(&up, vec![compat, native])).await;
    (up, dario)
}

async fn post(dario: &Dario, body: Value) -> reqwest::Response {
    client()
        .post(dario.url("/v1/responses"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// The events of a Responses stream as (event line, data JSON); every data line must be JSON.
fn events(bytes: &[u8]) -> Vec<(String, Value)> {
    SseParser::new()
        .feed_collect(bytes)
        .into_iter()
        .map(|e| {
            let v: Value = serde_json::from_str(&e.data)
                .unwrap_or_else(|err| panic!("event data is not JSON ({err}): {}", e.data));
            (e.event.unwrap_or_default(), v)
        })
        .collect()
}

/// Checks what every Responses stream must satisfy and returns the final `response` object:
/// event line = `type`, sequence numbers 0, 1, 2…, created first, in_progress second, a terminal
/// event last, every delta on an item that was added and not yet done.
fn check_stream(evs: &[(String, Value)]) -> Value {
    assert!(evs.len() >= 3, "{evs:?}");
    for (i, (name, data)) in evs.iter().enumerate() {
        assert_eq!(data["type"], name.as_str(), "event {i}");
        assert_eq!(data["sequence_number"], i as u64, "event {i}: {data}");
    }
    assert_eq!(evs[0].0, "response.created");
    assert_eq!(evs[0].1["response"]["status"], "in_progress");
    assert_eq!(evs[1].0, "response.in_progress");
    let mut open: Vec<String> = Vec::new();
    let mut added = 0;
    for (name, d) in evs {
        match name.as_str() {
            "response.output_item.added" => {
                assert_eq!(d["output_index"], added, "{d}");
                added += 1;
                open.push(d["item"]["id"].as_str().unwrap().to_string());
            }
            "response.output_item.done" => {
                let id = d["item"]["id"].as_str().unwrap();
                assert_eq!(
                    open.last().map(String::as_str),
                    Some(id),
                    "done out of order"
                );
                open.pop();
            }
            n if n.ends_with(".delta") => {
                assert_eq!(
                    open.last().map(String::as_str),
                    d["item_id"].as_str(),
                    "delta for an item that is not open: {d}"
                );
            }
            _ => {}
        }
    }
    let (last, data) = evs.last().unwrap();
    assert!(
        [
            "response.completed",
            "response.incomplete",
            "response.failed"
        ]
        .contains(&last.as_str()),
        "{last}"
    );
    data["response"].clone()
}

fn names(evs: &[(String, Value)]) -> Vec<&str> {
    evs.iter().map(|(n, _)| n.as_str()).collect()
}

fn weather_tool() -> Value {
    json!({"type": "function", "name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}})
}

#[tokio::test]
async fn chat_backend_json_text() {
    let (up, dario) = setup().await;
    let r = post(
        &dario,
        json!({"model": "llama-3-test", "instructions": "Be brief.", "input": "hello",
               "max_output_tokens": 50, "temperature": 0.3, "user": "u-1", "store": false}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-dario-backend"], "compat");
    assert!(r.headers().get("x-dario-dropped").is_none());
    let body = json(r).await;
    let sent = up.last();
    assert!(sent.uri.ends_with("/chat/completions"), "{}", sent.uri);
    let sent = sent.json();
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}])
    );
    assert_eq!(sent["max_tokens"], 50);
    assert_eq!(sent["temperature"], 0.3);
    assert_eq!(sent["user"], "u-1");

    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert!(body["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(body["model"], "llama-3-test");
    assert_eq!(body["instructions"], "Be brief.");
    let c = canned_content("text");
    assert_eq!(body["output"].as_array().unwrap().len(), 1);
    assert_eq!(body["output"][0]["type"], "message");
    assert_eq!(body["output"][0]["role"], "assistant");
    assert_eq!(body["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(body["output"][0]["content"][0]["text"], c.text.as_str());
    assert_eq!(body["usage"]["input_tokens"], 16);
    assert_eq!(body["usage"]["input_tokens_details"]["cached_tokens"], 4);
    assert_eq!(body["usage"]["output_tokens"], 9);
    assert_eq!(body["usage"]["total_tokens"], 25);
}

#[tokio::test]
async fn chat_backend_stream_with_function_calls() {
    let (up, dario) = setup().await;
    let r = post(
        &dario,
        json!({"model": "llama-3-test", "stream": true, "store": false,
               "input": [{"role": "user", "content": [{"type": "input_text", "text": "[scenario:tools] weather?"}]}],
               "tools": [weather_tool()], "tool_choice": "required", "parallel_tool_calls": true}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let evs = events(&r.bytes().await.unwrap());
    let sent = up.last().json();
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["tool_choice"], "required");
    assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(sent["tools"][0]["type"], "function");

    let resp = check_stream(&evs);
    assert_eq!(evs.last().unwrap().0, "response.completed");
    let n = names(&evs);
    assert_eq!(
        &n[..6],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta"
        ]
    );
    assert!(n.contains(&"response.output_text.done"));
    assert!(n.contains(&"response.content_part.done"));
    assert_eq!(
        n.iter()
            .filter(|e| **e == "response.function_call_arguments.done")
            .count(),
        2
    );
    let c = canned_content("tools");
    let output = resp["output"].as_array().unwrap();
    assert_eq!(output.len(), 3, "{resp}");
    assert_eq!(output[0]["content"][0]["text"], c.text.as_str());
    for (i, (id, name, args)) in c.tool_calls.iter().enumerate() {
        let item = &output[i + 1];
        assert_eq!(item["type"], "function_call");
        assert_eq!(item["call_id"], id.as_str());
        assert_eq!(item["name"], name.as_str());
        let parsed: Value = serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(&parsed, args);
        // The arguments deltas of this item add up to its arguments.
        let deltas: String = evs
            .iter()
            .filter(|(n, d)| {
                n == "response.function_call_arguments.delta" && d["item_id"] == item["id"]
            })
            .map(|(_, d)| d["delta"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(deltas, item["arguments"].as_str().unwrap());
    }
    assert_eq!(resp["usage"]["output_tokens"], 45);
}

#[tokio::test]
async fn anthropic_backend_stream_with_reasoning() {
    let (up, dario) = setup().await;
    let r = post(
        &dario,
        json!({"model": "claude-sonnet-test", "stream": true, "store": false,
               "reasoning": {"effort": "medium", "summary": "auto"},
               "input": "[scenario:thinking] what is the answer?"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-dario-backend"], "anthropic");
    let evs = events(&r.bytes().await.unwrap());
    let sent = up.last();
    assert!(sent.uri.ends_with("/v1/messages"), "{}", sent.uri);
    let sent = sent.json();
    assert_eq!(sent["messages"][0]["role"], "user");
    assert!(sent["thinking"].is_object(), "{sent}");
    assert_eq!(sent["stream"], true);

    let resp = check_stream(&evs);
    let c = canned_content("thinking");
    let summary: String = evs
        .iter()
        .filter(|(n, _)| n == "response.reasoning_summary_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(summary, c.thinking.clone().unwrap());
    let n = names(&evs);
    assert_eq!(n[3], "response.reasoning_summary_part.added");
    assert!(n.contains(&"response.reasoning_summary_text.done"));
    assert!(n.contains(&"response.reasoning_summary_part.done"));
    assert_eq!(resp["output"][0]["type"], "reasoning");
    assert_eq!(
        resp["output"][0]["summary"][0]["text"],
        c.thinking.clone().unwrap().as_str()
    );
    // The thinking block's signature rides in `encrypted_content`, as the client sends it back.
    assert_eq!(
        resp["output"][0]["encrypted_content"],
        "anthropic-thinking-signature:sig-standin"
    );

    // Sent back (Codex's stateless history), it is a signed thinking block again for Anthropic…
    let mut history =
        vec![json!({"role": "user", "content": "[scenario:thinking] what is the answer?"})];
    history.extend(resp["output"].as_array().unwrap().iter().cloned());
    history.push(json!({"role": "user", "content": "and again?"}));
    let r = post(
        &dario,
        json!({"model": "claude-sonnet-test", "input": history, "store": false,
               "include": ["reasoning.encrypted_content"], "reasoning": {"effort": "medium"}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("x-dario-dropped").is_none(),
        "{:?}",
        r.headers().get("x-dario-dropped")
    );
    let sent = up.last().json();
    assert_eq!(sent["messages"][1]["role"], "assistant");
    assert_eq!(
        sent["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": c.thinking.clone().unwrap(), "signature": "sig-standin"})
    );
    assert_eq!(sent["messages"][1]["content"][1]["text"], c.text.as_str());
    // Non-streamed, the signature is there too.
    let body = json(
        post(&dario, json!({"model": "claude-sonnet-test", "input": "[scenario:thinking] x", "store": false})).await,
    )
    .await;
    assert_eq!(
        body["output"][0]["encrypted_content"],
        "anthropic-thinking-signature:sig-standin"
    );

    // …and reported, not sent, to a Chat backend.
    let r = post(
        &dario,
        json!({"model": "llama-3-test", "input": history, "store": false,
               "include": ["reasoning.encrypted_content"]}),
    )
    .await;
    let dropped = r.headers()["x-dario-dropped"].to_str().unwrap().to_string();
    assert!(dropped.contains("input[1] (reasoning)"), "{dropped}");
    assert!(
        dropped.contains("include (reasoning.encrypted_content)"),
        "{dropped}"
    );
    let sent = up.last().json();
    assert!(!sent.to_string().contains("sig-standin"), "{sent}");
    assert_eq!(resp["output"][1]["content"][0]["text"], c.text.as_str());
    assert_eq!(resp["usage"]["input_tokens"], 30);
    assert_eq!(resp["usage"]["output_tokens"], 25);
}

#[tokio::test]
async fn anthropic_backend_json_tools_and_cached_usage() {
    let (up, dario) = setup().await;
    let r = post(
        &dario,
        json!({"model": "claude-sonnet-test", "input": "[scenario:tools] weather?",
               "tools": [weather_tool()], "tool_choice": {"type": "function", "name": "get_weather"},
               "parallel_tool_calls": false, "store": false}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body = json(r).await;
    let sent = up.last().json();
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    assert_eq!(
        sent["tools"][0]["input_schema"]["required"],
        json!(["city"])
    );
    assert_eq!(sent["tool_choice"]["type"], "tool");
    assert_eq!(sent["tool_choice"]["name"], "get_weather");
    assert_eq!(sent["tool_choice"]["disable_parallel_tool_use"], true);
    let c = canned_content("tools");
    let calls: Vec<&Value> = body["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "function_call")
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["call_id"], c.tool_calls[0].0.as_str());
    let args: Value = serde_json::from_str(calls[1]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, c.tool_calls[1].2);

    // Cached input tokens on a plain text reply (the stand-in's text scenario reads 4 from cache).
    let body = json(
        post(
            &dario,
            json!({"model": "claude-sonnet-test", "input": "hi", "store": false}),
        )
        .await,
    )
    .await;
    assert_eq!(body["usage"]["input_tokens"], 16);
    assert_eq!(body["usage"]["input_tokens_details"]["cached_tokens"], 4);
}

#[tokio::test]
async fn tool_round_trip_history_reaches_both_backends() {
    let (up, dario) = setup().await;
    let input = json!([
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You run tools."}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather in Paris?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "need a tool"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 21 C"},
    ]);
    let r = post(
        &dario,
        json!({"model": "llama-3-test", "input": input, "tools": [weather_tool()], "store": false}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-dario-dropped"], "input[2] (reasoning)");
    let sent = up.last().json();
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "system", "content": "You run tools."},
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
        ])
    );

    let r = post(
        &dario,
        json!({"model": "claude-sonnet-test", "input": input, "tools": [weather_tool()], "store": false}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = up.last().json();
    assert_eq!(sent["system"][0]["text"], "You run tools.");
    let m = &sent["messages"];
    assert_eq!(m[1]["role"], "assistant");
    assert_eq!(m[1]["content"][1]["type"], "tool_use");
    assert_eq!(m[1]["content"][1]["id"], "call_1");
    assert_eq!(m[1]["content"][1]["input"], json!({"city": "Paris"}));
    assert_eq!(m[2]["role"], "user");
    assert_eq!(m[2]["content"][0]["type"], "tool_result");
    assert_eq!(m[2]["content"][0]["tool_use_id"], "call_1");
}

#[tokio::test]
async fn previous_response_id_continues_a_stored_conversation() {
    let (up, dario) = setup().await;
    // `store` defaults to true.
    let first = json(
        post(
            &dario,
            json!({"model": "llama-3-test", "input": "[scenario:tools] go"}),
        )
        .await,
    )
    .await;
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(first["store"], true);
    let call_id = first["output"][1]["call_id"].as_str().unwrap().to_string();

    let r = post(
        &dario,
        json!({"model": "llama-3-test", "previous_response_id": id, "stream": true,
               "input": [{"type": "function_call_output", "call_id": call_id, "output": "done"},
                         {"type": "function_call_output", "call_id": "call_weather_2", "output": "done too"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let evs = events(&r.bytes().await.unwrap());
    let second = check_stream(&evs);
    assert_eq!(second["previous_response_id"], id.as_str());
    let sent = up.last().json();
    let m = sent["messages"].as_array().unwrap();
    assert_eq!(m.len(), 4, "{m:?}");
    assert_eq!(m[0]["content"], "[scenario:tools] go");
    assert_eq!(m[1]["role"], "assistant");
    assert_eq!(m[1]["tool_calls"].as_array().unwrap().len(), 2);
    assert_eq!(m[2]["role"], "tool");
    assert_eq!(m[2]["tool_call_id"], call_id.as_str());

    // The streamed second response is stored too: a third turn sees all of it.
    let third = post(
        &dario,
        json!({"model": "llama-3-test", "previous_response_id": second["id"], "input": "thanks"}),
    )
    .await;
    assert_eq!(third.status(), 200);
    let m = up.last().json()["messages"].as_array().unwrap().clone();
    assert_eq!(m.len(), 6, "{m:?}");
    assert_eq!(m[4]["role"], "assistant");
    assert_eq!(m[5]["content"], "thanks");

    // Not stored (store: false), and unknown ids: 400 in the Responses error shape.
    let unstored = json(
        post(
            &dario,
            json!({"model": "llama-3-test", "input": "x", "store": false}),
        )
        .await,
    )
    .await;
    for missing in [unstored["id"].as_str().unwrap(), "resp_nope"] {
        let r = post(
            &dario,
            json!({"model": "llama-3-test", "previous_response_id": missing, "input": "again"}),
        )
        .await;
        assert_eq!(r.status(), 400);
        let e = json(r).await;
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert_eq!(e["error"]["param"], "previous_response_id");
        assert_eq!(e["error"]["code"], "previous_response_not_found");
        assert!(e["error"]["message"].as_str().unwrap().contains(missing));
    }
}

#[tokio::test]
async fn responses_capable_backend_is_passed_through_byte_for_byte() {
    let (up, dario) = setup().await;
    let body = r#"{"model":"gpt-r-1",  "input":"hello", "store":false, "include":["reasoning.encrypted_content"], "tools":[{"type":"web_search"}]}"#;
    let r = client()
        .post(dario.url("/v1/responses"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-dario-dropped").is_none());
    let got = json(r).await;
    let sent = up.last();
    assert!(sent.uri.ends_with("/v1/responses"), "{}", sent.uri);
    assert_eq!(&sent.body[..], body.as_bytes());
    assert_eq!(got["id"], "resp_standin_01");

    // Streaming: the client gets exactly the upstream's bytes.
    let body = r#"{"model":"gpt-r-1","input":"[scenario:tools] x","stream":true}"#;
    let r = client()
        .post(dario.url("/v1/responses"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    let expected: String = responses_sse(&canned_content("tools"), "gpt-r-1").concat();
    assert_eq!(String::from_utf8_lossy(&bytes), expected);
    check_stream(&events(&bytes));
    assert_eq!(&up.last().body[..], body.as_bytes());
}

#[tokio::test]
async fn built_in_tools_and_encrypted_reasoning_are_reported_elsewhere() {
    let (up, dario) = setup().await;
    let r = post(
        &dario,
        json!({"model": "llama-3-test", "input": "hi", "store": false,
               "include": ["reasoning.encrypted_content"],
               "tools": [weather_tool(), {"type": "web_search"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let dropped = r.headers()["x-dario-dropped"].to_str().unwrap().to_string();
    assert!(dropped.contains("tools[1] (web_search)"), "{dropped}");
    assert!(
        dropped.contains("include (reasoning.encrypted_content)"),
        "{dropped}"
    );
    let sent = up.last().json();
    assert_eq!(sent["tools"].as_array().unwrap().len(), 1);
    assert!(sent.get("include").is_none());
}

#[tokio::test]
async fn errors_use_the_openai_envelope() {
    let (up, dario) = setup().await;
    let c = client();
    let r = c
        .post(dario.url("/v1/responses"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e = json(r).await;
    assert_eq!(e["error"]["type"], "invalid_request_error");

    let e = json(post(&dario, json!({"input": "hi"})).await).await;
    assert_eq!(e["error"]["param"], "model");

    let r = post(&dario, json!({"model": "llama-3-test"})).await;
    assert_eq!(r.status(), 400);
    let e = json(r).await;
    assert!(
        e["error"]["message"].as_str().unwrap().contains("input"),
        "{e}"
    );

    let r = post(
        &dario,
        json!({"model": "nobody-serves-this", "input": "hi"}),
    )
    .await;
    assert_eq!(r.status(), 404);
    assert!(json(r).await["error"]["message"].is_string());

    // An Anthropic upstream's error, re-enveloped.
    up.push(Reply::status(
        400,
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long"}}),
    ));
    let r = post(
        &dario,
        json!({"model": "claude-sonnet-test", "input": "hi", "store": false}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let e = json(r).await;
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("prompt is too long"));

    // GET is not allowed.
    let r = c.get(dario.url("/v1/responses")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn upstream_failure_mid_stream_is_response_failed() {
    let (up, dario) = setup().await;
    let c = canned_content("text");
    up.push(Reply::sse(support::standin::anthropic_sse(&c, "claude-sonnet-test")).reset_after(5));
    let r = post(
        &dario,
        json!({"model": "claude-sonnet-test", "input": "hi", "stream": true, "store": false}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let evs = events(&r.bytes().await.unwrap());
    let resp = check_stream(&evs);
    assert_eq!(evs.last().unwrap().0, "response.failed");
    assert_eq!(resp["status"], "failed");
    assert!(resp["error"]["message"].is_string());
    assert!(!names(&evs).contains(&"response.completed"));
}

#[tokio::test]
async fn accounting_records_the_responses_endpoint_with_usage() {
    let (_up, dario) = setup().await;
    for (model, stream) in [
        ("llama-3-test", false),
        ("claude-sonnet-test", true),
        ("gpt-r-1", true),
        ("gpt-r-1", false),
    ] {
        let r = post(
            &dario,
            json!({"model": model, "input": "hi", "stream": stream, "store": false}),
        )
        .await;
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    // The end hook records as the body ends; wait for all four records.
    let mut recs = Vec::new();
    for _ in 0..200 {
        recs = dario.state.analytics.recent(10);
        if recs.len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(recs.len(), 4, "{recs:?}");
    for r in &recs {
        assert_eq!(r.inbound, Protocol::Responses, "{r:?}");
        assert_eq!(r.status, 200, "{r:?}");
        // The stand-in's text reply: 12 fresh input tokens, 4 from cache, 9 out.
        assert_eq!(
            (
                r.usage.input_tokens,
                r.usage.cache_read_tokens,
                r.usage.output_tokens
            ),
            (12, 4, 9),
            "{r:?}"
        );
    }
    let text = serde_json::to_string(&recs[0]).unwrap();
    assert!(text.contains("\"inbound\":\"responses\""), "{text}");
}

#[tokio::test]
async fn leading_instructions_merge_and_late_system_messages_follow_the_backend() {
    let (up, dario) = setup().await;
    let input = json!([
        {"role": "developer", "content": "Rule one."},
        {"role": "developer", "content": [{"type": "input_text", "text": "Rule two."}]},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "hello"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "world"}]},
        {"role": "developer", "content": "Late context."},
        {"role": "user", "content": "again"},
    ]);
    // A chat template that takes one leading system message only: refused, then sent again at
    // once with the late one as user text.
    up.push(Reply::status(
        400,
        json!({"error": {"message": "System message must be at the beginning.", "type": "invalid_request_error"}}),
    ));
    let r = post(
        &dario,
        json!({"model": "llama-3-test", "instructions": "Be brief.", "input": input, "store": false}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let reqs = up.requests();
    let (first, second) = (reqs[reqs.len() - 2].json(), reqs[reqs.len() - 1].json());
    assert_eq!(
        first["messages"][0],
        json!({"role": "system", "content": "Be brief.\n\nRule one.\n\nRule two."})
    );
    // Two assistant messages in a row are one Chat message.
    assert_eq!(
        first["messages"][2],
        json!({"role": "assistant", "content": "hello\n\nworld"})
    );
    assert_eq!(
        first["messages"][3],
        json!({"role": "system", "content": "Late context."})
    );
    let second = second["messages"].as_array().unwrap().clone();
    assert!(
        second.iter().skip(1).all(|m| m["role"] != "system"),
        "{second:?}"
    );
    assert!(
        second.last().unwrap().to_string().contains("Late context."),
        "{second:?}"
    );
    assert!(
        second.last().unwrap().to_string().contains("again"),
        "{second:?}"
    );
}

/// The transducer alone: any chunking of the upstream stream gives the same events, and the
/// streamed response equals the non-streamed translation of the same reply.
#[test]
fn chat_to_responses_stream_is_chunking_independent_and_equals_the_json_translation() {
    use dario::translate::responses::{
        chat_response_to_responses, ChatToResponsesStream, ResponsesMeta,
    };
    use support::standin::{openai_json, openai_sse};
    let meta = ResponsesMeta {
        id: "resp_test01".into(),
        created_at: 1_700_000_000,
        echo: serde_json::Map::new(),
        input: vec![],
        store: false,
        namespaced: vec![],
        custom: vec![],
    };
    for scenario in ["text", "tools", "thinking"] {
        let c = canned_content(scenario);
        let upstream = openai_sse(&c, "m", true).concat();
        let run = |step: usize| {
            let mut t = ChatToResponsesStream::new(meta.clone());
            let mut out = bytes::BytesMut::new();
            for chunk in upstream.as_bytes().chunks(step) {
                t.feed(chunk, &mut out);
            }
            t.finish(&mut out);
            assert!(!t.failed(), "{scenario}");
            (out.to_vec(), t.take_output().expect("completed"), t.usage())
        };
        let (whole, output, usage) = run(upstream.len());
        for step in [1, 2, 7, 64] {
            let (bytes, _, _) = run(step);
            assert_eq!(
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&whole),
                "{scenario}, {step}-byte chunks"
            );
        }
        let evs = events(&whole);
        let resp = check_stream(&evs);
        assert_eq!(resp["output"], Value::Array(output.clone()), "{scenario}");
        let json =
            chat_response_to_responses(openai_json(&c, "m").to_string().as_bytes(), &meta, None)
                .unwrap();
        assert_eq!(json.output, output, "{scenario}: streamed != non-streamed");
        assert_eq!(json.usage, usage, "{scenario}");
    }
}

#[tokio::test]
async fn a_failing_anthropic_backend_fails_over_to_a_chat_fallback() {
    let up = StandIn::start().await;
    let fallback = StandIn::start().await;
    let mut cfg = config_for(&up, vec![openai_backend("compat", &fallback, &[])]);
    cfg.routes = vec![dario::config::RouteRule {
        model: "claude-*".into(),
        backend: "anthropic".into(),
        upstream_model: None,
        fallbacks: vec!["compat".into()],
    }];
    let dario = Dario::start(cfg).await;
    up.push(Reply::status(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let r = post(
        &dario,
        json!({"model": "claude-sonnet-test", "input": "hi", "stream": true, "store": false}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-dario-backend"], "compat");
    assert_eq!(r.headers()["x-dario-attempts"], "2");
    let evs = events(&r.bytes().await.unwrap());
    let resp = check_stream(&evs);
    assert_eq!(
        resp["output"][0]["content"][0]["text"],
        canned_content("text").text.as_str()
    );
    assert!(up.last().uri.ends_with("/v1/messages"));
    assert!(fallback.last().uri.ends_with("/chat/completions"));

    // Every attempt failing: the last upstream error, in the OpenAI envelope with its status.
    for _ in 0..2 {
        up.push(Reply::status(
            529,
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ));
    }
    fallback.push(Reply::status(
        503,
        json!({"error": {"message": "busy", "type": "server_error"}}),
    ));
    let r = post(
        &dario,
        json!({"model": "claude-sonnet-test", "input": "hi", "store": false}),
    )
    .await;
    assert_eq!(r.status(), 503);
    assert_eq!(json(r).await["error"]["message"], "busy");
}

#[tokio::test]
async fn structured_output_reasoning_effort_metadata_and_images_map_to_chat() {
    let (up, dario) = setup().await;
    let schema =
        json!({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]});
    let r = post(
        &dario,
        json!({"model": "llama-3-test", "store": false, "top_p": 0.5,
               "input": [{"role": "user", "content": [
                   {"type": "input_text", "text": "what is this?"},
                   {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}]}],
               "text": {"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": true}},
               "metadata": {"k": "v"}, "reasoning": {"effort": "high"}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    // llama is no reasoning model: the effort is reported, not sent.
    assert_eq!(r.headers()["x-dario-dropped"], "reasoning.effort (high)");
    let sent = up.last().json();
    assert_eq!(
        sent["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": true}})
    );
    assert_eq!(sent["metadata"], json!({"k": "v"}));
    assert_eq!(sent["top_p"], 0.5);
    assert!(sent.get("reasoning_effort").is_none());
    assert_eq!(
        sent["messages"][0]["content"],
        json!([{"type": "text", "text": "what is this?"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}])
    );

    // A reasoning model gets the effort; json_object maps too.
    let r = post(
        &dario,
        json!({"model": "llama-qwen3-think", "store": false, "input": "hi",
               "text": {"format": {"type": "json_object"}}, "reasoning": {"effort": "low"}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-dario-dropped").is_none());
    let sent = up.last().json();
    assert_eq!(sent["reasoning_effort"], "low");
    assert_eq!(sent["response_format"], json!({"type": "json_object"}));

    // Towards Anthropic: the image becomes an image block, metadata has no equivalent.
    let r = post(
        &dario,
        json!({"model": "claude-sonnet-test", "store": false, "metadata": {"k": "v"}, "user": "u-9",
               "input": [{"role": "user", "content": [
                   {"type": "input_image", "image_url": "https://example.com/cat.png"}]}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-dario-dropped"], "metadata");
    let sent = up.last().json();
    assert_eq!(sent["metadata"]["user_id"], "u-9");
    assert_eq!(
        sent["messages"][0]["content"][0],
        json!({"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}})
    );
}

/// A Chat reply that is one tool call.
fn one_call(id: &str, name: &str, args: Value) -> support::standin::Canned {
    support::standin::Canned {
        text: String::new(),
        thinking: None,
        tool_calls: vec![(id.into(), name.into(), args)],
        input_tokens: 10,
        output_tokens: 5,
        cache_read_tokens: 0,
    }
}

/// Posts `body` (with `stream` set) after scripting the stand-in's Chat reply; returns the final
/// `response` object and, for a stream, its events. Nothing may be reported as dropped.
async fn via_scripted_chat_reply(
    up: &StandIn,
    dario: &Dario,
    reply: &support::standin::Canned,
    mut body: Value,
    stream: bool,
) -> (Value, Vec<(String, Value)>) {
    use support::standin::{openai_json, openai_sse};
    if stream {
        up.push(Reply::sse(openai_sse(reply, "llama-3-test", true)));
    } else {
        up.push(Reply::status(200, openai_json(reply, "llama-3-test")));
    }
    body["stream"] = json!(stream);
    let r = post(dario, body).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-dario-dropped").is_none());
    if stream {
        let evs = events(&r.bytes().await.unwrap());
        (check_stream(&evs), evs)
    } else {
        (json(r).await, Vec::new())
    }
}

#[tokio::test]
async fn functions_inside_a_namespace_tool_are_offered_flat_and_named_back() {
    let (up, dario) = setup().await;
    let spawn = json!({"type": "function", "name": "spawn_agent", "description": "Start a sub-agent",
                       "parameters": {"type": "object", "properties": {"task": {"type": "string"}}}});
    let tools = json!([weather_tool(),
        {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents", "tools": [spawn]}]);
    let reply = one_call(
        "call_ns_1",
        "multi_agent_v1__spawn_agent",
        json!({"task": "look around"}),
    );
    for stream in [false, true] {
        let body = json!({"model": "llama-3-test", "input": "go", "tools": tools, "store": false});
        let (resp, _) = via_scripted_chat_reply(&up, &dario, &reply, body, stream).await;
        let sent = up.last().json();
        let names: Vec<&str> = sent["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["get_weather", "multi_agent_v1__spawn_agent"]);
        let call = &resp["output"][0];
        assert_eq!(call["type"], "function_call", "{resp}");
        assert_eq!(call["name"], "spawn_agent");
        assert_eq!(call["namespace"], "multi_agent_v1");
    }

    // Sent back in the history, the call is the flat name again.
    let r = post(
        &dario,
        json!({"model": "llama-3-test", "tools": tools, "store": false, "input": [
            {"role": "user", "content": "go"},
            {"type": "function_call", "call_id": "call_ns_1", "name": "spawn_agent",
             "namespace": "multi_agent_v1", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_ns_1", "output": "started"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = up.last().json();
    assert_eq!(
        sent["messages"][1]["tool_calls"][0]["function"]["name"],
        "multi_agent_v1__spawn_agent"
    );
}

#[tokio::test]
async fn custom_freeform_tools_become_functions_with_one_input_and_come_back_custom() {
    let (up, dario) = setup().await;
    let patch = "*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch\n";
    let tools = json!([{"type": "custom", "name": "apply_patch", "description": "Edit files.",
        "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch hunk+ end_patch"}}]);
    let reply = one_call("call_p1", "apply_patch", json!({ "input": patch }));
    for stream in [false, true] {
        let body =
            json!({"model": "llama-3-test", "input": "add a.txt", "tools": tools, "store": false});
        let (resp, evs) = via_scripted_chat_reply(&up, &dario, &reply, body, stream).await;
        if stream {
            let n = names(&evs);
            assert!(n.contains(&"response.custom_tool_call_input.done"), "{n:?}");
            assert!(
                !n.contains(&"response.function_call_arguments.delta"),
                "{n:?}"
            );
            let input: String = evs
                .iter()
                .filter(|(n, _)| n == "response.custom_tool_call_input.delta")
                .map(|(_, d)| d["delta"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(input, patch);
        }
        let sent = up.last().json();
        let f = &sent["tools"][0]["function"];
        assert_eq!(f["name"], "apply_patch");
        assert_eq!(f["parameters"]["required"], json!(["input"]));
        assert!(f["description"]
            .as_str()
            .unwrap()
            .contains("start: begin_patch"));
        let call = &resp["output"][0];
        assert_eq!(call["type"], "custom_tool_call", "{resp}");
        assert_eq!(call["name"], "apply_patch");
        assert_eq!(call["call_id"], "call_p1");
        assert_eq!(call["input"], patch);
    }

    // The call and its output in the history: a tool call with `{"input"}` and a tool message.
    let r = post(
        &dario,
        json!({"model": "llama-3-test", "tools": tools, "store": false, "input": [
            {"role": "user", "content": "add a.txt"},
            {"type": "custom_tool_call", "call_id": "call_p1", "name": "apply_patch", "input": patch},
            {"type": "custom_tool_call_output", "call_id": "call_p1", "output": "Success."}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let m = &up.last().json()["messages"];
    let args: Value = serde_json::from_str(
        m[1]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(args, json!({ "input": patch }));
    assert_eq!(
        m[2],
        json!({"role": "tool", "tool_call_id": "call_p1", "content": "Success."})
    );
}
