//! dario's HTTP/1.1 server reading arbitrary client bytes (heads, then bodies by length or
//! strict chunked framing): never panics, and reads the same requests however the bytes are
//! split — the first byte of the input picks one split, compared with reading it whole.
#![no_main]

use dario::proxy::http1_reading::{replay, Replayed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let whole = replay(bytes, bytes.len().max(1));
    let pieces = replay(bytes, usize::from(split % 64) + 1);
    // The requests read are the same; the last entry may differ only in that a split reading
    // ends waiting for more where the whole reading already saw a refusal (a head is parsed
    // again only when new bytes may end it), or the other way round.
    let requests = |r: &[Replayed]| {
        r.iter()
            .take_while(|x| matches!(x, Replayed::Request { .. }))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(requests(&whole), requests(&pieces));
    match (whole.last(), pieces.last()) {
        (Some(Replayed::Incomplete), _) | (_, Some(Replayed::Incomplete)) => {}
        (a, b) => assert_eq!(a, b),
    }
});
