//! The OpenAI → Anthropic request translator on arbitrary bodies: an error or a body that is
//! valid JSON, never a panic.
#![no_main]

use dario::translate::{
    openai_request_to_anthropic, RequestContext, SystemMessages, DEFAULT_ANTHROPIC_VERSION,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, body)) = data.split_first() else {
        return;
    };
    let ctx = RequestContext {
        upstream_model: if knobs & 1 == 0 {
            "claude-sonnet-4-5"
        } else {
            "claude-3-5-haiku"
        },
        backend_name: "fuzz",
        upstream_is_openai_itself: knobs & 2 != 0,
        accepts_reasoning_content: knobs & 4 != 0,
        system_messages: match knobs >> 3 & 3 {
            0 => SystemMessages::Inline,
            1 => SystemMessages::User,
            _ => SystemMessages::Hoist,
        },
        anthropic_version: if knobs & 32 == 0 {
            DEFAULT_ANTHROPIC_VERSION
        } else {
            "2026-10-21"
        },
    };
    if let Ok(t) = openai_request_to_anthropic(body, &ctx) {
        assert!(
            serde_json::from_slice::<serde_json::Value>(&t.body).is_ok(),
            "the translated body is not JSON: {}",
            String::from_utf8_lossy(&t.body)
        );
    }
});
