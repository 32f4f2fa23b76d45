//! The Anthropic → OpenAI stream transducer on arbitrary upstream bytes, cut into arbitrary chunks
//! (the check is `stream_common::check`, shared with the other direction).
#![no_main]

use dario::translate::AnthropicToOpenAiStream;
use libfuzzer_sys::fuzz_target;

#[path = "stream_common.rs"]
mod stream_common;

fuzz_target!(|data: &[u8]| stream_common::check::<AnthropicToOpenAiStream>(data));
