//! Usage taps for passthrough traffic: read token counts out of a response body or a stream that
//! is forwarded untouched. Must not: produce output or parse events it does not need.

use crate::protocol::anthropic::{AnthropicUsage, MessagesResponse};
use crate::protocol::openai::ChatUsage;
use crate::protocol::{Protocol, Usage};
use crate::sse::SseParser;
use memchr::memmem::Finder;
use serde::Deserialize;

/// Usage from a non-streaming response body of either protocol (zeros when absent or invalid).
///
/// Fast path: both APIs put the top-level `usage` object last, so the last `"usage":{` in the
/// body is parsed on its own instead of the whole body. (Inside a JSON string the sequence
/// `"usage"` cannot occur unescaped, so a hit is always a real key.) When there is no such key
/// or its value does not parse, the whole body is parsed.
pub fn usage_from_json(protocol: Protocol, body: &[u8]) -> Usage {
    if let Some(usage) = last_usage_object(protocol, body) {
        return usage;
    }
    #[derive(Deserialize)]
    struct A {
        usage: Option<AnthropicUsage>,
    }
    #[derive(Deserialize)]
    struct O {
        usage: Option<ChatUsage>,
    }
    match protocol {
        Protocol::Anthropic => serde_json::from_slice::<A>(body)
            .ok()
            .and_then(|a| a.usage)
            .map(|u| u.to_usage())
            .unwrap_or_default(),
        Protocol::OpenAi => serde_json::from_slice::<O>(body)
            .ok()
            .and_then(|o| o.usage)
            .map(|u| u.to_usage())
            .unwrap_or_default(),
        Protocol::Responses => serde_json::from_slice::<R>(body)
            .ok()
            .and_then(|r| r.usage)
            .map(|u| super::responses::usage_from_responses(&u))
            .unwrap_or_default(),
    }
}

#[derive(Deserialize)]
struct R {
    usage: Option<serde_json::Value>,
}

/// The value of the last `"usage": {…}` member in `body`, parsed alone.
fn last_usage_object(protocol: Protocol, body: &[u8]) -> Option<Usage> {
    let key = memchr::memmem::rfind(body, b"\"usage\"")?;
    let rest = &body[key + b"\"usage\"".len()..];
    let rest = rest
        .trim_ascii_start()
        .strip_prefix(b":")?
        .trim_ascii_start();
    if !rest.starts_with(b"{") {
        return None;
    }
    // Parse one value and see where it ended.
    fn one<T: serde::de::DeserializeOwned>(rest: &[u8]) -> Option<(T, usize)> {
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<T>();
        let value = values.next()?.ok()?;
        Some((value, values.byte_offset()))
    }
    let (usage, end) = match protocol {
        Protocol::Anthropic => one::<AnthropicUsage>(rest).map(|(u, end)| (u.to_usage(), end)),
        Protocol::OpenAi => one::<ChatUsage>(rest).map(|(u, end)| (u.to_usage(), end)),
        Protocol::Responses => one::<serde_json::Value>(rest)
            .map(|(u, end)| (super::responses::usage_from_responses(&u), end)),
    }?;
    // Only the top-level object's last member counts: nothing but its closing brace may follow
    // (a nested `usage`, or one followed by more members, takes the full parse instead).
    (rest[end..].trim_ascii() == b"}").then_some(usage)
}

/// The largest event a usage tap buffers (usage and end events are far smaller).
const TAP_EVENT_LIMIT: usize = 64 * 1024;

/// Watches a passthrough stream for usage and completion. Only `message_start`,
/// `message_delta`, `message_stop` (Anthropic) and chunks containing a `"usage":{` object or
/// `[DONE]` (OpenAI) are parsed; content deltas are skipped after a cheap look at the event name
/// or a substring search.
pub struct UsageTap {
    protocol: Protocol,
    parser: SseParser,
    anthropic: AnthropicUsage,
    openai: Option<Usage>,
    completed: bool,
    /// The upstream ended the stream with its own error event.
    errored: bool,
    /// What may mark an event this tap reads ([`signals`]).
    signals: &'static [Finder<'static>],
}

impl UsageTap {
    pub fn new(protocol: Protocol) -> Self {
        UsageTap {
            protocol,
            // Usage and end events are small; anything larger (a huge content delta) is
            // skipped, never buffered: the bytes themselves are relayed untouched.
            parser: SseParser::with_limit(TAP_EVENT_LIMIT),
            anthropic: AnthropicUsage::default(),
            openai: None,
            completed: false,
            errored: false,
            signals: signals(protocol),
        }
    }

    /// Feed the next bytes of the stream (any chunk boundaries).
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.parser.takes_whole_events(chunk)
            && self.signals.iter().all(|s| s.find(chunk).is_none())
        {
            // Whole content deltas only: nothing below would look at them.
            self.parser.skip(chunk);
            return;
        }
        let mut evs = self.parser.feed(chunk);
        while let Some(ev) = evs.next_event() {
            match self.protocol {
                Protocol::Anthropic => {
                    let name = match ev.event {
                        Some(n) => n,
                        None => sniff_anthropic_type(&ev.data),
                    };
                    match name {
                        "message_start" => {
                            #[derive(Deserialize)]
                            struct Start {
                                message: Option<MessagesResponse>,
                            }
                            if let Ok(Start { message: Some(m) }) =
                                serde_json::from_str::<Start>(&ev.data)
                            {
                                if let Some(u) = m.usage {
                                    self.anthropic.merge(&u);
                                }
                            }
                        }
                        "message_delta" => {
                            #[derive(Deserialize)]
                            struct Delta {
                                usage: Option<AnthropicUsage>,
                            }
                            if let Ok(Delta { usage: Some(u) }) =
                                serde_json::from_str::<Delta>(&ev.data)
                            {
                                self.anthropic.merge(&u);
                            }
                        }
                        "message_stop" => self.completed = true,
                        "error" => self.errored = true,
                        _ => {}
                    }
                }
                Protocol::Responses => {
                    // Only the terminal events carry usage (inside `response`).
                    let name = ev.event.unwrap_or("");
                    let terminal = matches!(
                        name,
                        "response.completed" | "response.incomplete" | "response.failed"
                    ) || (name.is_empty()
                        && ev.data.contains("\"response.completed\""));
                    if terminal {
                        #[derive(Deserialize)]
                        struct Ev {
                            response: Option<R>,
                        }
                        if let Ok(Ev {
                            response: Some(R { usage: Some(u) }),
                        }) = serde_json::from_str::<Ev>(&ev.data)
                        {
                            self.openai = Some(super::responses::usage_from_responses(&u));
                        }
                        self.completed = name != "response.failed";
                    }
                }
                Protocol::OpenAi => {
                    let data = ev.data.trim();
                    if data == "[DONE]" {
                        self.completed = true;
                    } else if data.starts_with("{\"error\"") {
                        self.errored = true;
                    } else if has_usage_object(data) {
                        #[derive(Deserialize)]
                        struct Chunk {
                            usage: Option<ChatUsage>,
                        }
                        if let Ok(Chunk { usage: Some(u) }) = serde_json::from_str::<Chunk>(data) {
                            self.openai = Some(u.to_usage());
                        }
                    }
                }
            }
        }
    }

    /// Usage seen so far.
    pub fn usage(&self) -> Usage {
        match self.protocol {
            Protocol::Anthropic => self.anthropic.to_usage(),
            Protocol::OpenAi | Protocol::Responses => self.openai.unwrap_or_default(),
        }
    }

    /// The stream reached its proper end (`message_stop` / `[DONE]`).
    pub fn completed(&self) -> bool {
        self.completed
    }

    /// The upstream sent its own error event (an end the client already understands).
    pub fn errored(&self) -> bool {
        self.errored
    }
}

/// An Anthropic event without an `event:` line: find its `type` cheaply.
fn sniff_anthropic_type(data: &str) -> &str {
    for t in ["message_start", "message_delta", "message_stop"] {
        let needle = format!("\"{t}\"");
        if data.contains(&needle) && data.contains("\"type\"") {
            // Content deltas never carry these as values of `type` at top level in practice,
            // but confirm by parsing the type only.
            #[derive(Deserialize)]
            struct T<'a> {
                #[serde(rename = "type", borrow)]
                kind: Option<std::borrow::Cow<'a, str>>,
            }
            if let Ok(T { kind: Some(k) }) = serde_json::from_str::<T>(data) {
                if k == t {
                    return t;
                }
            }
        }
    }
    ""
}

/// Substrings of which whole events holding none are of no concern to a `protocol` tap:
///
/// - OpenAI: `[DONE]`, an error, or a `"usage"` member. (A JSON string cannot hold `"usage"` or
///   `"error"` with unescaped quotes, so content deltas never match.)
/// - Anthropic: the tap reads events named (by their `event:` line, or else by their data's
///   `"type"`) `message_start`, `message_delta`, `message_stop` or `error`; each such name holds
///   `message_` or `error`, and an SSE field cannot be escaped, so an event without either
///   substring is none of them.
/// - Responses: the terminal `response.completed`, `response.incomplete`, `response.failed`.
///
/// A few searches over the raw chunk: cheaper than parsing its events (callgrind: the OpenAI tap
/// cost ~1,080 instructions per relayed event). A match only means the chunk is parsed.
fn signals(protocol: Protocol) -> &'static [Finder<'static>] {
    use std::sync::LazyLock;
    static OPENAI: LazyLock<[Finder<'static>; 3]> = LazyLock::new(|| {
        [
            Finder::new(b"\"usage\""),
            Finder::new(b"[DONE]"),
            Finder::new(b"\"error\""),
        ]
    });
    static ANTHROPIC: LazyLock<[Finder<'static>; 2]> =
        LazyLock::new(|| [Finder::new(b"message_"), Finder::new(b"error")]);
    static RESPONSES: LazyLock<[Finder<'static>; 3]> = LazyLock::new(|| {
        [
            Finder::new(b"response.completed"),
            Finder::new(b"response.incomplete"),
            Finder::new(b"response.failed"),
        ]
    });
    match protocol {
        Protocol::OpenAi => &*OPENAI,
        Protocol::Anthropic => &*ANTHROPIC,
        Protocol::Responses => &*RESPONSES,
    }
}

fn has_usage_object(data: &str) -> bool {
    // Built once: a `Finder` per event cost ~350 instructions (callgrind), more than the search.
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"usage\""));
    let b = data.as_bytes();
    for pos in FINDER.find_iter(b) {
        let rest = &b[pos + 7..];
        let rest = trim_ws(rest);
        if let Some(rest) = rest.strip_prefix(b":") {
            if trim_ws(rest).first() == Some(&b'{') {
                return true;
            }
        }
    }
    false
}

fn trim_ws(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_tap_byte_by_byte() {
        let stream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"cache_creation_input_tokens\":2,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"message_delta usage\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":42}}\n\n",
        );
        let mut tap = UsageTap::new(Protocol::Anthropic);
        for b in stream.as_bytes() {
            tap.feed(std::slice::from_ref(b));
        }
        assert!(!tap.completed());
        tap.feed(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        assert!(tap.completed());
        let u = tap.usage();
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.cache_write_tokens
            ),
            (10, 42, 5, 2)
        );
    }

    #[test]
    fn openai_tap_reads_usage_chunk() {
        let stream = concat!(
            "data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\": {\"}}],\"usage\":null}\n\n",
            "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12,\"prompt_tokens_details\":{\"cached_tokens\":4}}}\n\n",
            "data: [DONE]\n\n"
        );
        let mut tap = UsageTap::new(Protocol::OpenAi);
        for c in stream.as_bytes().chunks(7) {
            tap.feed(c);
        }
        assert!(tap.completed());
        let u = tap.usage();
        assert_eq!(
            (u.input_tokens, u.cache_read_tokens, u.output_tokens),
            (5, 4, 3)
        );
    }

    /// Chunks of whole content deltas are passed over unparsed; whatever the chunking, the usage
    /// event, `[DONE]` and an error event are still read (also when split across chunks, or
    /// when they follow skipped deltas in the same chunk).
    #[test]
    fn openai_tap_skips_whole_delta_chunks_but_reads_every_signal() {
        let delta = "data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
        let usage = "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}\n\n";
        let stream = format!("{delta}{delta}{delta}{usage}{delta}data: [DONE]\n\n");
        let bytes = stream.as_bytes();
        let cuts: [&[usize]; 4] = [
            &[
                delta.len(),
                2 * delta.len(),
                3 * delta.len(),
                3 * delta.len() + usage.len(),
            ],
            &[2 * delta.len(), 3 * delta.len() + 20, bytes.len() - 3],
            &[delta.len(), 3 * delta.len() + usage.len() + delta.len()],
            &[bytes.len()],
        ];
        for cut in cuts {
            let mut tap = UsageTap::new(Protocol::OpenAi);
            let mut from = 0;
            for &to in cut.iter().chain([&bytes.len()]) {
                tap.feed(&bytes[from..to]);
                from = to;
            }
            assert!(tap.completed(), "{cut:?}");
            let u = tap.usage();
            assert_eq!((u.input_tokens, u.output_tokens), (9, 3), "{cut:?}");
        }
        let mut tap = UsageTap::new(Protocol::OpenAi);
        tap.feed(delta.as_bytes());
        tap.feed(delta.as_bytes());
        tap.feed(b"data: {\"error\":{\"message\":\"overloaded\"}}\n\n");
        assert!(tap.errored() && !tap.completed());
    }

    #[test]
    fn usage_from_bodies() {
        let a = usage_from_json(
            Protocol::Anthropic,
            br#"{"id":"m","usage":{"input_tokens":3,"output_tokens":4}}"#,
        );
        assert_eq!((a.input_tokens, a.output_tokens), (3, 4));
        let o = usage_from_json(
            Protocol::OpenAi,
            br#"{"usage":{"prompt_tokens":7,"completion_tokens":2,"completion_tokens_details":{"reasoning_tokens":1}}}"#,
        );
        assert_eq!(
            (o.input_tokens, o.output_tokens, o.reasoning_tokens),
            (7, 2, 1)
        );
        assert_eq!(
            usage_from_json(Protocol::OpenAi, b"not json"),
            Usage::default()
        );
    }

    #[test]
    fn usage_is_the_top_level_member_whatever_else_says_usage() {
        // A tool input with its own `usage` key, the word in text, in an escaped string, and
        // as a value; pretty-printed spacing around the real member.
        let body = br#"{"content":[{"type":"tool_use","input":{"usage":{"input_tokens":999}}},
            {"type":"text","text":"the \"usage\": {\"input_tokens\": 1} field"}],
            "kind":"usage",
            "usage" :
              {"input_tokens": 12, "output_tokens": 34, "cache_read_input_tokens": 5}}"#;
        let a = usage_from_json(Protocol::Anthropic, body);
        assert_eq!(
            (a.input_tokens, a.output_tokens, a.cache_read_tokens),
            (12, 34, 5)
        );
        // The last `"usage"` is a value, not a key: the whole body is parsed instead.
        let body = br#"{"usage":{"prompt_tokens":7,"completion_tokens":2},"object":"usage"}"#;
        let o = usage_from_json(Protocol::OpenAi, body);
        assert_eq!((o.input_tokens, o.output_tokens), (7, 2));
        // A nested `usage` after the top-level one (or one not last): the full parse decides.
        let body = br#"{"usage":{"prompt_tokens":7,"completion_tokens":2},"x":{"usage":{"prompt_tokens":1}}}"#;
        let o = usage_from_json(Protocol::OpenAi, body);
        assert_eq!((o.input_tokens, o.output_tokens), (7, 2));
        let body = br#"{"usage":{"prompt_tokens":7,"completion_tokens":2},"id":"x"}"#;
        let o = usage_from_json(Protocol::OpenAi, body);
        assert_eq!((o.input_tokens, o.output_tokens), (7, 2));
        // No usage at all.
        assert_eq!(
            usage_from_json(Protocol::OpenAi, br#"{"choices":[]}"#),
            Usage::default()
        );
    }
}
