//! Local token estimate for `count_tokens` on backends that have no such endpoint.
//! Must not: call any tokenizer service or load anything from the network.

use super::{invalid_json, TranslateError};
use crate::protocol::anthropic::{Content, ContentBlock, MessagesRequest};

/// Tokens added per message for role and framing (as in OpenAI's chat format).
const PER_MESSAGE: u64 = 4;
/// Tokens that prime the assistant's reply.
const REPLY_PRIMING: u64 = 3;
/// Framing per tool definition.
const PER_TOOL: u64 = 8;
/// An image of unknown size: Anthropic's cost for a ~1.15-megapixel image (≈ w·h/750).
const PER_IMAGE: u64 = 1600;
/// A PDF page (text plus page image), and the bytes of PDF assumed per page.
const PER_PDF_PAGE: u64 = 1500;
const PDF_BYTES_PER_PAGE: u64 = 50_000;

/// Estimate the input tokens of an Anthropic Messages request without asking a provider.
///
/// Method: every piece of text is encoded with the `o200k_base` BPE (via `tiktoken-rs`, bundled,
/// no download) and the token counts are summed: the system prompt, text blocks, thinking
/// blocks, tool results, tool-use inputs (their JSON text), and each tool's name, description
/// and input schema (JSON text). Fixed overheads are added: 4 per message, 3 for the reply, 8
/// per tool. Images count 1600 tokens each (their pixel size is not decoded); PDFs 1500 per
/// estimated page (one page per 50 kB of decoded data). Claude's own tokenizer differs from
/// o200k_base, so treat the result as an estimate (typically within ~10–20% for prose and code).
pub fn estimate_tokens_anthropic_request(body: &[u8]) -> Result<u64, TranslateError> {
    let req: MessagesRequest = crate::protocol::json_str::from_slice(body).map_err(invalid_json)?;
    let bpe = tiktoken_rs::o200k_base_singleton();
    let count = |s: &str| -> u64 {
        if s.is_empty() {
            0
        } else {
            bpe.encode_ordinary(s).len() as u64
        }
    };
    let mut total = REPLY_PRIMING;
    if let Some(system) = &req.system {
        total += PER_MESSAGE + content_tokens(system, &count);
    }
    for m in req.messages.iter().flatten() {
        total += PER_MESSAGE;
        if let Some(c) = &m.content {
            total += content_tokens(c, &count);
        }
    }
    for t in req.tools.iter().flatten() {
        total += PER_TOOL;
        total += count(t.name.as_deref().unwrap_or(""));
        total += count(t.description.as_deref().unwrap_or(""));
        if let Some(s) = &t.input_schema {
            total += count(s.get());
        }
    }
    Ok(total)
}

fn content_tokens(c: &Content<ContentBlock>, count: &impl Fn(&str) -> u64) -> u64 {
    match c {
        Content::Text(t) => count(t),
        Content::Parts(blocks) => blocks.iter().map(|b| block_tokens(b, count)).sum(),
    }
}

fn block_tokens(b: &ContentBlock, count: &impl Fn(&str) -> u64) -> u64 {
    let mut n = 0;
    match b.kind() {
        "image" => n += PER_IMAGE,
        "document" => {
            let src = b.source.as_ref();
            match src.and_then(|s| s.kind.as_deref()) {
                Some("text") => n += count(src.and_then(|s| s.data.as_deref()).unwrap_or("")),
                Some("content") => {
                    if let Some(c) = src.and_then(|s| s.content.as_ref()) {
                        n += content_tokens(c, count);
                    }
                }
                _ => {
                    let b64 = src.and_then(|s| s.data.as_deref()).map_or(0, str::len) as u64;
                    let pages = (b64 * 3 / 4).div_ceil(PDF_BYTES_PER_PAGE).max(1);
                    n += pages * PER_PDF_PAGE;
                }
            }
        }
        _ => {}
    }
    for s in [&b.text, &b.thinking, &b.name, &b.title] {
        n += count(s.as_deref().unwrap_or(""));
    }
    if let Some(input) = &b.input {
        n += count(input.get());
    }
    if let Some(inner) = &b.content {
        n += content_tokens(inner, count);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_grows_with_content_and_counts_tools() {
        let small = br#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"Hello, world"}]}"#;
        let n_small = estimate_tokens_anthropic_request(small).unwrap();
        // "Hello, world" is 3 tokens in o200k_base; + 4 per message + 3 priming.
        assert_eq!(n_small, 3 + PER_MESSAGE + REPLY_PRIMING);
        let with_tool = br#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"Hello, world"}],
            "tools":[{"name":"get_weather","description":"Get the weather","input_schema":{"type":"object"}}]}"#;
        assert!(estimate_tokens_anthropic_request(with_tool).unwrap() > n_small + PER_TOOL);
        let image = br#"{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}]}"#;
        assert_eq!(
            estimate_tokens_anthropic_request(image).unwrap(),
            PER_IMAGE + PER_MESSAGE + REPLY_PRIMING
        );
        assert!(estimate_tokens_anthropic_request(b"{").is_err());
    }
}
