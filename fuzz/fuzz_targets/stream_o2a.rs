//! The OpenAI → Anthropic stream transducer on arbitrary upstream bytes, cut into arbitrary chunks: never
//! panics, and what it writes is a well-formed event stream (every event's data is JSON, or
//! OpenAI's `[DONE]`), whether the stream finished or failed.
#![no_main]

use bytes::BytesMut;
use dario::sse::SseParser;
use dario::translate::{OpenAiToAnthropicStream, ResponseContext};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, input)) = data.split_first() else {
        return;
    };
    let ctx = ResponseContext {
        client_model: "fuzz-model",
        include_usage: knobs & 1 != 0,
    };
    let mut t = OpenAiToAnthropicStream::new(&ctx);
    let mut out = BytesMut::new();
    for chunk in input.chunks((knobs >> 1) as usize % 31 + 1) {
        t.feed(chunk, &mut out);
    }
    if knobs & 0x80 == 0 {
        t.finish(&mut out);
    } else {
        t.fail("fuzz: upstream went away", &mut out);
    }
    let mut p = SseParser::new();
    for e in p.feed_collect(&out) {
        assert!(
            e.data == "[DONE]" || serde_json::from_str::<serde_json::Value>(&e.data).is_ok(),
            "an event whose data is not JSON: {:?}",
            e.data
        );
    }
    assert!(
        !p.has_partial(),
        "the output ends mid-event: {:?}",
        String::from_utf8_lossy(&out)
    );
});
