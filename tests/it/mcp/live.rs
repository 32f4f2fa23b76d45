//! Live data from a running proxy: every tool reports it, a loaded table that differs from
//! disk is reported, and a wrong admin key is explained.

use super::admin_standin::{start_proxy, StandInState};
use std::sync::atomic::Ordering;

use super::*;
use crate::support::home::free_port;

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
        let client = connect(&home, free_port()).await;
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
    // The proxy's entry for a backend, from `/status` (typed from the real proxy; the
    // stand-in's older-shaped body is shown as sent).
    let b = call(&client, "backends_list", JsonObject::new()).await;
    let b = b.structured_content.unwrap();
    let anthropic = b["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "anthropic")
        .unwrap();
    assert_eq!(anthropic["live"]["protocol"], "anthropic", "{anthropic}");
    assert!(
        anthropic["live"]["credential_source"].is_string(),
        "{anthropic}"
    );
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
