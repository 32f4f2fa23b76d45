//! Canary: no key, and no 8-character piece of one, ever leaves the server — in tool results,
//! resources, prompts or logs, from disk or from a proxy that leaks them back.

use super::admin_standin::{start_proxy, StandInState};
use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams};

use super::*;
use crate::support::home::free_port;

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
    for port in [free_port(), proxy.port()] {
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
