//! Resources and prompts: listed, readable, and answering from disk.

use std::collections::BTreeSet;

use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams};

use super::*;
use crate::support::home::free_port;

#[tokio::test]
async fn resources_and_prompts() {
    let home = TestHome::new();
    let client = connect(&home, free_port()).await;
    let resources = client.list_all_resources().await.unwrap();
    let uris: BTreeSet<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(uris, RESOURCES.iter().copied().collect::<BTreeSet<_>>());
    for uri in RESOURCES {
        let r = client
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .unwrap();
        assert_eq!(r.contents.len(), 1);
        let text = match &r.contents[0] {
            rmcp::model::ResourceContents::TextResourceContents {
                text, mime_type, ..
            } => {
                assert_eq!(mime_type.as_deref(), Some("application/json"));
                text.clone()
            }
            other => panic!("{uri}: {other:?}"),
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v.is_object(), "{uri}: {v}");
    }
    assert!(client
        .read_resource(ReadResourceRequestParams::new("dario://nope"))
        .await
        .is_err());

    let prompts = client.list_all_prompts().await.unwrap();
    let names: BTreeSet<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["diagnose", "explain_route"].into_iter().collect());
    let p = client
        .get_prompt(GetPromptRequestParams::new("diagnose"))
        .await
        .unwrap();
    let text = serde_json::to_string(&p.messages).unwrap();
    assert!(
        text.contains("doctor") && text.contains("pool_status"),
        "{text}"
    );
    let mut a = JsonObject::new();
    a.insert("model".into(), json!("opus"));
    let p = client
        .get_prompt(GetPromptRequestParams::new("explain_route").with_arguments(a))
        .await
        .unwrap();
    assert!(serde_json::to_string(&p.messages).unwrap().contains("opus"));
    assert!(client
        .get_prompt(GetPromptRequestParams::new("explain_route"))
        .await
        .is_err());
    client.cancel().await.unwrap();
}
