//! The corpus of real Claude Code requests (`tests/fixtures/claude-code/<version>/`, captured from
//! the installed CLI by `scripts/capture-claude-code`), replayed:
//! - Anthropic → OpenAI Chat, in each system-message mode, asserting field by field that every
//!   instruction, text, tool, tool call, tool result and thinking block arrives or is reported;
//! - back again, OpenAI Chat → Anthropic (the other translation direction), asserting the same
//!   conversation comes out;
//! - through the real server: passthrough byte for byte (body, query, `anthropic-*` and Claude
//!   Code's own headers), and translated to an OpenAI-protocol stand-in; the probes (`HEAD
//!   /api/hello`, `GET /v1/models?limit=1000`) answered.
//!
//! Updating Claude Code = rerun the capture script; every version directory present is replayed.

use crate::support;

use std::path::{Path, PathBuf};

use dario::translate::{
    anthropic_request_to_openai, openai_request_to_anthropic, RequestContext, SystemMessages,
    DEFAULT_ANTHROPIC_VERSION,
};
use serde_json::{json, Value};
use support::*;

const BILLING_LINE: &str = "x-anthropic-billing-header:";
const PLACEHOLDER_TOOL: &str = "DeferredToolPlaceholder";

/// One captured request.
struct Fixture {
    name: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude-code")
}

/// Every captured request of every captured version, in file order.
fn corpus() -> Vec<Fixture> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/fixtures/claude-code is missing")
        .map(|v| v.unwrap().path())
        .filter(|v| v.is_dir())
        .flat_map(|v| std::fs::read_dir(v).unwrap())
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let out: Vec<Fixture> = files
        .iter()
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            Fixture {
                name: p.strip_prefix(corpus_dir()).unwrap().display().to_string(),
                method: v["method"].as_str().unwrap().to_string(),
                path: v["path"].as_str().unwrap().to_string(),
                headers: v["headers"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect(),
                body: v["body"].clone(),
            }
        })
        .collect();
    assert!(
        out.len() >= 20,
        "the corpus is too small to mean anything: {}",
        out.len()
    );
    out
}

/// The completion requests of the corpus (the ones worth translating).
fn messages_requests() -> Vec<Fixture> {
    corpus()
        .into_iter()
        .filter(|f| f.method == "POST" && f.path.split('?').next() == Some("/v1/messages"))
        .collect()
}

fn ctx(model: &'static str, openai_itself: bool, mode: SystemMessages) -> RequestContext<'static> {
    RequestContext {
        upstream_model: model,
        backend_name: "compat",
        upstream_is_openai_itself: openai_itself,
        accepts_reasoning_content: false,
        system_messages: mode,
        anthropic_version: DEFAULT_ANTHROPIC_VERSION,
    }
}

// ---- what a request says, protocol-neutrally ------------------------------------------------

/// The texts of an Anthropic or OpenAI `content` (a string, or text blocks/parts).
fn texts(content: &Value) -> Vec<String> {
    match content {
        Value::String(s) => vec![s.clone()],
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

/// What the model is told and asked, from an Anthropic request: instructions (top-level system
/// and system turns, billing line excepted) in order; user and assistant texts in order; tool calls
/// (id, name, input); tool results (id, texts, is_error); thinking block count.
#[derive(Debug, Default)]
struct Conversation {
    instructions: Vec<String>,
    texts: Vec<String>,
    calls: Vec<(String, String, Value)>,
    results: Vec<(String, Vec<String>, bool)>,
    thinking_blocks: Vec<String>,
}

fn anthropic_conversation(body: &Value) -> Conversation {
    let mut c = Conversation::default();
    c.instructions.extend(
        texts(&body["system"])
            .into_iter()
            .filter(|t| !t.starts_with(BILLING_LINE)),
    );
    for (i, m) in body["messages"].as_array().unwrap().iter().enumerate() {
        let role = m["role"].as_str().unwrap();
        if role == "system" {
            c.instructions.extend(texts(&m["content"]));
            continue;
        }
        c.texts.extend(texts(&m["content"]));
        for (j, b) in m["content"].as_array().into_iter().flatten().enumerate() {
            match b["type"].as_str().unwrap() {
                "tool_use" => c.calls.push((
                    b["id"].as_str().unwrap().into(),
                    b["name"].as_str().unwrap().into(),
                    b["input"].clone(),
                )),
                "tool_result" => c.results.push((
                    b["tool_use_id"].as_str().unwrap().into(),
                    texts(&b["content"]),
                    b["is_error"] == true,
                )),
                "thinking" | "redacted_thinking" => c
                    .thinking_blocks
                    .push(format!("messages[{i}].content[{j}]")),
                _ => {}
            }
        }
    }
    c
}

/// `needles` occur in `hay`, each after the previous one.
fn assert_in_order(hay: &str, needles: &[String], what: &str, name: &str) {
    let mut at = 0;
    for n in needles {
        match hay[at..].find(n.as_str()) {
            Some(k) => at += k + n.len(),
            None => panic!(
                "{name}: {what} missing or out of order: {:?}",
                n.chars().take(160).collect::<String>()
            ),
        }
    }
}

fn tool_defs(body: &Value) -> Vec<(String, Value, Value)> {
    body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["name"] != PLACEHOLDER_TOOL)
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["description"].clone(),
                t["input_schema"].clone(),
            )
        })
        .collect()
}

/// The last effort the request asks for: a turn's own `output_config.effort` (per-turn
/// control), else the request's.
fn wanted_effort(body: &Value) -> Option<String> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find_map(|m| m["output_config"]["effort"].as_str())
        .or(body["output_config"]["effort"].as_str())
        .map(str::to_string)
}

// ---- Anthropic in → OpenAI Chat out ---------------------------------------------------------

/// Checks one translated Chat body against the Anthropic request it came from.
fn check_chat(f: &Fixture, out: &Value, dropped: &[String], mode: SystemMessages) {
    let name = format!("{} ({mode:?})", f.name);
    let name = name.as_str();
    let src = anthropic_conversation(&f.body);
    let msgs = out["messages"].as_array().unwrap();
    let role = |m: &Value| m["role"].as_str().unwrap().to_string();

    // Every instruction, in order; the billing line nowhere.
    let system_text: String = msgs
        .iter()
        .filter(|m| match mode {
            SystemMessages::User => role(m) == "system" || role(m) == "user",
            _ => role(m) == "system",
        })
        .flat_map(|m| texts(&m["content"]))
        .collect::<Vec<_>>()
        .join("\u{0}");
    assert_in_order(&system_text, &src.instructions, "instruction", name);
    let everything = out.to_string();
    assert!(
        !everything.contains(BILLING_LINE),
        "{name}: billing line sent"
    );
    assert_eq!(role(&msgs[0]), "system", "{name}");
    match mode {
        SystemMessages::Inline => {}
        SystemMessages::User | SystemMessages::Hoist => assert!(
            msgs[1..].iter().all(|m| role(m) != "system"),
            "{name}: a system message after the first"
        ),
    }
    for m in msgs {
        assert!(
            ["system", "user", "assistant", "tool"].contains(&role(m).as_str()),
            "{name}: role {}",
            role(m)
        );
    }

    // User and assistant texts, in order.
    let convo_text: String = msgs
        .iter()
        .filter(|m| role(m) == "user" || role(m) == "assistant")
        .flat_map(|m| texts(&m["content"]))
        .collect::<Vec<_>>()
        .join("\u{0}");
    assert_in_order(&convo_text, &src.texts, "user/assistant text", name);

    // Tool calls, in order, verbatim ids and inputs; their results right after them.
    let calls: Vec<(String, String, Value)> = msgs
        .iter()
        .flat_map(|m| m["tool_calls"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            assert_eq!(c["type"], "function", "{name}");
            let args: Value =
                serde_json::from_str(c["function"]["arguments"].as_str().unwrap()).unwrap();
            (
                c["id"].as_str().unwrap().into(),
                c["function"]["name"].as_str().unwrap().into(),
                args,
            )
        })
        .collect();
    assert_eq!(calls, src.calls, "{name}: tool calls");
    for (k, m) in msgs.iter().enumerate() {
        let Some(tc) = m["tool_calls"].as_array() else {
            continue;
        };
        let follow: Vec<&Value> = msgs[k + 1..].iter().take(tc.len()).collect();
        assert!(
            follow.iter().all(|r| r["role"] == "tool"),
            "{name}: the results must follow their calls at once: {:?}",
            follow.iter().map(|r| role(r)).collect::<Vec<_>>()
        );
        for (call, result) in tc.iter().zip(&follow) {
            assert_eq!(call["id"], result["tool_call_id"], "{name}");
        }
    }
    for (id, result_texts, is_error) in &src.results {
        let m = msgs
            .iter()
            .find(|m| role(m) == "tool" && m["tool_call_id"] == id.as_str())
            .unwrap_or_else(|| panic!("{name}: no tool message for {id}"));
        let got = texts(&m["content"]).join("\n");
        assert_in_order(&got, result_texts, "tool result text", name);
        if *is_error {
            assert!(got.starts_with("Error"), "{name}: is_error lost: {got:?}");
        }
    }

    // Tools: every one offered (deferred ones too), the placeholder never, schemas unchanged.
    let tools: Vec<(String, Value, Value)> = out["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            assert_eq!(t["type"], "function", "{name}");
            (
                t["function"]["name"].as_str().unwrap().to_string(),
                t["function"]["description"].clone(),
                t["function"]["parameters"].clone(),
            )
        })
        .collect();
    assert_eq!(tools, tool_defs(&f.body), "{name}: tools");

    // Top-level fields.
    assert_eq!(out["max_tokens"], f.body["max_tokens"], "{name}");
    assert_eq!(out["stream"], f.body["stream"], "{name}");
    if f.body["stream"] == true {
        assert_eq!(out["stream_options"]["include_usage"], true, "{name}");
    }
    assert_eq!(out["user"], f.body["metadata"]["user_id"], "{name}");

    // Nothing silently lost: thinking blocks (this upstream takes no reasoning_content) and
    // cache_control are reported; context_management's clear_thinking is applied, not reported.
    for path in &src.thinking_blocks {
        assert!(
            dropped.iter().any(|d| d.starts_with(path.as_str())),
            "{name}: thinking block {path} neither sent nor reported: {dropped:?}"
        );
    }
    let body_text = f.body.to_string();
    if body_text.contains("\"cache_control\"") {
        assert!(
            dropped.iter().any(|d| d.ends_with("cache_control")),
            "{name}: {dropped:?}"
        );
    }
    assert!(
        !dropped.iter().any(|d| d.starts_with("context_management")),
        "{name}: clear_thinking is applicable: {dropped:?}"
    );
}

#[test]
fn every_captured_request_translates_to_chat_with_nothing_lost() {
    let corpus = messages_requests();
    assert!(corpus.len() >= 15);
    for f in &corpus {
        for mode in [
            SystemMessages::Inline,
            SystemMessages::User,
            SystemMessages::Hoist,
        ] {
            let t = anthropic_request_to_openai(
                &serde_json::to_vec(&f.body).unwrap(),
                &ctx("llama-3.3-70b", false, mode),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", f.name));
            let out: Value = serde_json::from_slice(&t.body).unwrap();
            assert_eq!(out["model"], "llama-3.3-70b");
            check_chat(f, &out, &t.dropped, mode);
            // A model without reasoning_effort: thinking and effort are reported, not sent.
            assert!(out.get("reasoning_effort").is_none(), "{}", f.name);
            if f.body["thinking"]["type"] == "adaptive" {
                assert!(
                    t.dropped.iter().any(|d| d.starts_with("thinking")),
                    "{}: {:?}",
                    f.name,
                    t.dropped
                );
            }
        }
    }
}

#[test]
fn adaptive_thinking_and_per_turn_effort_reach_a_reasoning_model() {
    for f in messages_requests() {
        let t = anthropic_request_to_openai(
            &serde_json::to_vec(&f.body).unwrap(),
            &ctx("gpt-5.1", true, SystemMessages::Inline),
        )
        .unwrap();
        let out: Value = serde_json::from_slice(&t.body).unwrap();
        let effort = wanted_effort(&f.body).expect("Claude Code always sends an effort");
        let expected = if effort == "max" { "high" } else { &effort };
        assert_eq!(out["reasoning_effort"], expected, "{}", f.name);
        // OpenAI's reasoning families take max_completion_tokens.
        assert_eq!(out["max_completion_tokens"], f.body["max_tokens"]);
        assert!(out.get("max_tokens").is_none());
        assert!(
            !t.dropped
                .iter()
                .any(|d| d.starts_with("thinking") || d.ends_with("output_config")),
            "{}: effort was applied, nothing to report: {:?}",
            f.name,
            t.dropped
        );
    }
}

// ---- and back: OpenAI Chat in → Anthropic out -------------------------------------------------

#[test]
fn the_translated_conversation_translates_back_to_anthropic_intact() {
    for f in messages_requests() {
        let chat = anthropic_request_to_openai(
            &serde_json::to_vec(&f.body).unwrap(),
            &ctx("llama-3.3-70b", false, SystemMessages::Inline),
        )
        .unwrap();
        let mut chat_body: Value = serde_json::from_slice(&chat.body).unwrap();
        chat_body["model"] = json!("claude-sonnet-5-5");
        let back = openai_request_to_anthropic(
            &serde_json::to_vec(&chat_body).unwrap(),
            &ctx("claude-sonnet-5-5", false, SystemMessages::Inline),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", f.name));
        let a: Value = serde_json::from_slice(&back.body).unwrap();
        let name = f.name.as_str();
        let src = anthropic_conversation(&f.body);
        let got = anthropic_conversation(&a);

        // Every instruction hoisted to `system`, in order; no system turn left in messages.
        assert_in_order(
            &got.instructions.join("\u{0}"),
            &src.instructions,
            "instruction",
            name,
        );
        assert!(
            a["messages"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["role"] == "user" || m["role"] == "assistant"),
            "{name}"
        );
        assert_in_order(
            &got.texts.join("\u{0}"),
            &src.texts,
            "user/assistant text",
            name,
        );
        assert_eq!(got.calls, src.calls, "{name}: tool_use blocks");
        let ids = |c: &Conversation| c.results.iter().map(|r| r.0.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&got), ids(&src), "{name}: tool_result ids");
        for ((_, got_texts, _), (_, want, _)) in got.results.iter().zip(&src.results) {
            assert_in_order(&got_texts.join("\n"), want, "tool result text", name);
        }
        assert_eq!(tool_defs(&a), tool_defs(&f.body), "{name}: tools");
        assert_eq!(a["max_tokens"], f.body["max_tokens"], "{name}");
        assert_eq!(a["stream"], f.body["stream"], "{name}");
        assert_eq!(
            a["metadata"]["user_id"], f.body["metadata"]["user_id"],
            "{name}"
        );
    }
}

// ---- through the real server ------------------------------------------------------------------

/// The captured headers a client would send again (placeholders and per-connection ones
/// replaced by what this test sends).
fn replay_headers(f: &Fixture) -> Vec<(String, String)> {
    f.headers
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "host" | "content-length" | "connection" | "accept-encoding"
            )
        })
        .map(|(k, v)| {
            let v = match k.as_str() {
                "x-api-key" => "test-client-key".to_string(),
                "authorization" => "Bearer test-client-key".to_string(),
                _ => v.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

fn replay(c: &reqwest::Client, dario: &Dario, f: &Fixture, body: &[u8]) -> reqwest::RequestBuilder {
    let method = reqwest::Method::from_bytes(f.method.as_bytes()).unwrap();
    let mut rb = c.request(method, dario.url(&f.path));
    for (k, v) in replay_headers(f) {
        rb = rb.header(k, v);
    }
    if f.method == "POST" {
        rb = rb.body(body.to_vec());
    }
    rb
}

#[tokio::test]
async fn passthrough_replays_every_request_byte_for_byte() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let c = client();
    for f in messages_requests() {
        // The session that asked for a non-Claude model goes to a Claude one here.
        let mut body = f.body.clone();
        if !body["model"].as_str().unwrap().starts_with("claude") {
            body["model"] = json!("claude-sonnet-5-5");
        }
        let body = serde_json::to_vec(&body).unwrap();
        let resp = replay(&c, &dario, &f, &body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{}", f.name);
        assert_eq!(resp.headers()["x-dario-backend"], "anthropic");
        let text = resp.text().await.unwrap();
        assert!(text.contains("event: message_stop"), "{}: {text}", f.name);

        let rec = up.last();
        assert_eq!(rec.uri, f.path, "{}: path and query", f.name);
        assert_eq!(&rec.body[..], &body[..], "{}: body byte for byte", f.name);
        for (k, v) in replay_headers(&f) {
            if k == "user-agent" {
                assert_eq!(
                    rec.header(&k).unwrap(),
                    format!("{v} dario/{}", dario::VERSION),
                    "{}",
                    f.name
                );
            } else if k.starts_with("anthropic-")
                || k.starts_with("x-claude-code-")
                || k.starts_with("x-stainless-")
                || k == "x-app"
                || k == "x-api-key"
            {
                assert_eq!(
                    rec.header(&k).as_deref(),
                    Some(v.as_str()),
                    "{}: {k}",
                    f.name
                );
            }
        }
    }
}

#[tokio::test]
async fn translated_replays_reach_an_openai_upstream_as_valid_chat() {
    let up = StandIn::start().await;
    let compat = openai_backend("compat", &up, &["llama-*"]);
    let dario = Dario::start(config_for(&up, vec![compat])).await;
    let c = client();
    for f in messages_requests() {
        let mut body = f.body.clone();
        body["model"] = json!("llama-3.3-70b");
        let bytes = serde_json::to_vec(&body).unwrap();
        let resp = replay(&c, &dario, &f, &bytes).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{}", f.name);
        assert_eq!(resp.headers()["x-dario-backend"], "compat");
        let dropped = resp
            .headers()
            .get("x-dario-dropped")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = resp.text().await.unwrap();
        assert!(text.contains("event: message_stop"), "{}: {text}", f.name);

        let rec = up.last();
        assert_eq!(rec.uri, "/v1/chat/completions", "{}", f.name);
        // Anthropic's own headers and the client's key stay behind.
        for (k, _) in rec.headers.iter() {
            assert!(
                !k.as_str().starts_with("anthropic-") && k != "x-api-key",
                "{}: {k} sent to an OpenAI-protocol upstream",
                f.name
            );
        }
        let sent = rec.json();
        let fixture = Fixture {
            body,
            name: f.name.clone(),
            method: f.method.clone(),
            path: f.path.clone(),
            headers: vec![],
        };
        let dropped: Vec<String> = dropped.split(',').map(|d| d.trim().to_string()).collect();
        check_chat(&fixture, &sent, &dropped, SystemMessages::Inline);
    }
}

#[tokio::test]
async fn the_captured_probes_are_answered() {
    let up = StandIn::start().await;
    let dario = Dario::start(config_for(&up, vec![])).await;
    let c = client();
    let probes: Vec<Fixture> = corpus()
        .into_iter()
        .filter(|f| f.method != "POST")
        .collect();
    assert!(
        probes.iter().any(|f| f.method == "HEAD"),
        "the corpus has Claude Code's start-up probe"
    );
    for f in &probes {
        let resp = replay(&c, &dario, f, b"").send().await.unwrap();
        assert_eq!(resp.status(), 200, "{} {}", f.method, f.path);
        if f.path.starts_with("/v1/models") {
            let list: Value = json(resp).await;
            let data = list["data"].as_array().unwrap();
            // Anthropic shape (the probe carries anthropic-version), with the limits Claude
            // Code reads for the ids it keeps.
            let claude: Vec<&Value> = data
                .iter()
                .filter(|m| m["id"].as_str().unwrap().starts_with("claude"))
                .collect();
            assert!(!claude.is_empty(), "{list}");
            for m in claude {
                assert_eq!(m["type"], "model", "{m}");
                assert!(m["display_name"].is_string(), "{m}");
                assert!(m["max_input_tokens"].as_u64().unwrap() > 0, "{m}");
                assert!(m["max_tokens"].as_u64().unwrap() > 0, "{m}");
            }
        }
    }
}
