//! The handshake: `initialize` negotiates the version and answers `ping`; the stateless
//! 2026-07-28 protocol (`server/discover`, calls carrying their own `_meta`).

use super::raw_rpc::{stateless_meta, Raw};
use super::*;
use crate::support::home::free_port;

#[tokio::test]
async fn initialize_handshake_negotiates_and_answers_ping() {
    let home = TestHome::new();
    let client = connect(&home, free_port()).await;
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
    let client = connect_discover(&home, free_port()).await;
    let info = client.peer_info().expect("server info");
    assert_eq!(info.protocol_version, ProtocolVersion::V_2026_07_28);
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), TOOLS.len());
    let r = call(&client, "fingerprint_info", JsonObject::new()).await;
    check_structured(tool(&tools, "fingerprint_info"), &r);
    client.cancel().await.unwrap();
}
