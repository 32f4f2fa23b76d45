//! The SSE parser on arbitrary bytes: never panics, never holds more than its limit allows,
//! and yields the same events however the bytes are split into chunks.
#![no_main]

use dario::sse::{OwnedSseEvent, SseParser};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 4096;

fn parse(data: &[u8], step: usize) -> (Vec<OwnedSseEvent>, bool) {
    let mut p = SseParser::with_limit(LIMIT);
    let mut events = Vec::new();
    let mut oversized = false;
    for chunk in data.chunks(step.max(1)) {
        events.extend(p.feed_collect(chunk));
        oversized |= p.take_oversized();
        // Every buffer is bounded by the limit (capacities may round up, never run away).
        assert!(
            p.buffered_capacity() <= 8 * LIMIT + 4096,
            "parser holds {} bytes with a {LIMIT}-byte limit",
            p.buffered_capacity()
        );
    }
    assert_eq!(p.bytes_fed(), data.len() as u64);
    (events, oversized)
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let whole = parse(rest, rest.len());
    let split = parse(rest, step as usize % 17 + 1);
    let bytewise = parse(rest, 1);
    assert_eq!(whole, split, "chunking changed the events");
    assert_eq!(whole, bytewise, "byte-by-byte feeding changed the events");
});
