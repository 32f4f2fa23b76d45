//! The check both stream-transducer targets run (`stream_a2o`, `stream_o2a`): arbitrary upstream
//! bytes cut into arbitrary chunks never panic the transducer, and what it writes is a
//! well-formed event stream (every event's data is JSON, or OpenAI's `[DONE]`), whether the
//! stream finished or failed. Must not: know which direction it is checking.

use bytes::BytesMut;
use dario::sse::SseParser;
use dario::translate::{AnthropicToOpenAiStream, OpenAiToAnthropicStream, ResponseContext};

/// The transducers' common surface (they share no trait in the library).
pub trait Transducer {
    fn new(ctx: &ResponseContext) -> Self;
    fn feed(&mut self, chunk: &[u8], out: &mut BytesMut);
    fn finish(&mut self, out: &mut BytesMut);
    fn fail(&mut self, message: &str, out: &mut BytesMut);
}

macro_rules! transducer {
    ($t:ty) => {
        impl Transducer for $t {
            fn new(ctx: &ResponseContext) -> Self {
                <$t>::new(ctx)
            }
            fn feed(&mut self, chunk: &[u8], out: &mut BytesMut) {
                <$t>::feed(self, chunk, out)
            }
            fn finish(&mut self, out: &mut BytesMut) {
                <$t>::finish(self, out)
            }
            fn fail(&mut self, message: &str, out: &mut BytesMut) {
                <$t>::fail(self, message, out)
            }
        }
    };
}
transducer!(AnthropicToOpenAiStream);
transducer!(OpenAiToAnthropicStream);

/// The first byte chooses usage on/off (bit 0), the chunk size (bits 1–6) and finish or fail
/// (bit 7); the rest is the upstream's bytes.
pub fn check<T: Transducer>(data: &[u8]) {
    let Some((&knobs, input)) = data.split_first() else {
        return;
    };
    let ctx = ResponseContext {
        client_model: "fuzz-model",
        include_usage: knobs & 1 != 0,
    };
    let mut t = T::new(&ctx);
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
}
