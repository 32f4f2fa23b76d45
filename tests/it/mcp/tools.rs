//! The tool catalogue: exactly the read-only tools, each with input and output schemas; no tool
//! offers a mutation; every tool answers from disk when no proxy runs; bad arguments are tool
//! errors that say what to do.

use std::collections::BTreeSet;

use super::*;
use crate::support::home::free_port;

#[tokio::test]
async fn tools_list_is_exact_read_only_and_schematised() {
    let home = TestHome::new();
    let client = connect(&home, free_port()).await;
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
    let client = connect(&home, free_port()).await;
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
    let port = free_port();
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
    let client = connect(&home, free_port()).await;
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
