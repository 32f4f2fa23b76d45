//! Scrubbing of key-shaped text from upstream error bodies and log lines before they leave dario.
//!
//! Owns: the key-shape rules used on the request path. Must not: allocate when there is nothing
//! to scrub.

use std::borrow::Cow;

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_')
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
}

/// Prefixes of well-known credential formats (Anthropic/OpenAI `sk-`, Groq `gsk_`, xAI `xai-`,
/// Google `AIza`, Hugging Face `hf_`, GitHub `ghp_`, JWTs `eyJ`).
const KEY_PREFIXES: &[&[u8]] = &[
    b"sk-", b"sk_", b"gsk_", b"xai-", b"AIza", b"hf_", b"ghp_", b"eyJ",
];

/// Replaces every occurrence of a known secret value (configured keys) with `***`, then scrubs
/// key shapes.
pub fn scrub_with<'a>(text: &'a str, secrets: &[&str]) -> Cow<'a, str> {
    let mut owned: Option<String> = None;
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        let current = owned.as_deref().unwrap_or(text);
        if current.contains(secret) {
            owned = Some(current.replace(secret, "***"));
        }
    }
    match owned {
        None => scrub(text),
        Some(o) => Cow::Owned(scrub(&o).into_owned()),
    }
}

/// Replaces every key-shaped token (`sk-…`, `sk-ant-…`, `Bearer <token>`, JWT-like `eyJ…`) with
/// `***`. Whole tokens go: not even a prefix survives.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let at_boundary = i == 0 || !is_word_char(bytes[i - 1]);
        let rest = &bytes[i..];
        let start_len = if !at_boundary {
            0
        } else if KEY_PREFIXES.iter().any(|p| rest.starts_with(p)) {
            0 // the token itself starts here
        } else if rest.len() > 7 && rest[..7].eq_ignore_ascii_case(b"bearer ") {
            7
        } else {
            i += 1;
            continue;
        };
        if !at_boundary {
            i += 1;
            continue;
        }
        let tok_start = i + start_len;
        let mut j = tok_start;
        while j < bytes.len() && is_token_char(bytes[j]) {
            j += 1;
        }
        // A bare "sk-" or "eyJ" inside prose with fewer than 8 token chars is not a key.
        if j - tok_start < 8 {
            i += 1;
            continue;
        }
        let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
        o.push_str(&text[copied..tok_start]);
        o.push_str("***");
        copied = j;
        i = j;
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{scrub, scrub_with};

    #[test]
    fn scrubs_key_shapes() {
        assert_eq!(
            scrub("invalid x-api-key sk-ant-api03-abcdefghijkl"),
            "invalid x-api-key ***"
        );
        assert_eq!(
            scrub("Authorization: Bearer abc.def-ghi_jkl"),
            "Authorization: Bearer ***"
        );
        assert_eq!(scrub("tok eyJhbGciOi.eyJzdWIi.sig123"), "tok ***");
        assert_eq!(scrub("key=sk-proj-1234567890"), "key=***");
        assert!(matches!(
            scrub("nothing here"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(scrub("task-list"), "task-list");
        assert_eq!(scrub("groq gsk_abcdefghijklmnop"), "groq ***");
        assert_eq!(
            scrub_with("key is plainsecretvalue!", &["plainsecretvalue"]),
            "key is ***!"
        );
    }
}
