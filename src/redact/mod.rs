//! Redaction, the crate's one home for it: what a secret looks like and how it is masked, for
//! relayed bodies, upstream error text, log lines, the doctor, the config loader and the MCP
//! server.
//!
//! Owns: the one list of key shapes ([`KEY_PREFIXES`], [`CREDENTIAL_NAMES`], [`AUTH_SCHEMES`]),
//! the one mask ([`MASK`]; a relayed body keeps its length, so there a run becomes one `*` per
//! byte), the matcher of configured secrets ([`Redactor`], built once per config snapshot), the
//! key-shape scanner ([`scrub_key_shapes`]) and the MCP server's blind final pass ([`Scrubber`]).
//! Must not: allocate or copy when nothing matches, buffer a stream, or print a secret or any
//! part of one.

mod scrubber;
mod secrets;
mod shapes;

pub use scrubber::Scrubber;
pub use secrets::{mask_whole, Redactor, StreamScrubber, FRAGMENT};
pub use shapes::{scrub_key_shapes, Reach};

/// What a secret is replaced with, everywhere dario prints or returns text.
pub const MASK: &str = "***";

/// Prefixes that mark a token as a provider API key — the crate's one list, used by the key-shape
/// scanner ([`scrub_key_shapes`], [`Scrubber`]) and by [`looks_like_key`]. Case-sensitive,
/// matched at a word start.
pub const KEY_PREFIXES: &[&str] = &[
    "sk-",
    "sk_",
    "rk-",
    "gsk_",
    "xai-",
    "hf_",
    "ghp_",
    "gho_",
    "ghs_",
    "github_pat_",
    "glpat-",
    "AIza",
    "AKIA",
    "pplx-",
    "nvapi-",
    "csk-",
    "r8_",
    "fw_",
];

/// Whether a value given where a *name* or *URL part* belongs (a field name, a backend name, an
/// environment variable name, a URL query) looks like an API key instead: a known provider key
/// prefix followed by 16+ key characters, or an unbroken run (no `-`, `_`, `.`) that is 20+
/// characters mixing upper case, lower case and digits, 24+ hex digits with letters and digits,
/// or 32+ letters and digits. Names are words joined by separators (`Qwen2-72B-Instruct-AWQ`),
/// keys are long unbroken random runs. Callers refuse such a value with a message that does not
/// repeat it.
pub fn looks_like_key(value: &str) -> bool {
    let v = value.trim();
    let key_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let prefixed = KEY_PREFIXES.iter().any(|p| {
        v.strip_prefix(p)
            .is_some_and(|rest| rest.len() >= 16 && rest.bytes().all(key_char))
    });
    prefixed
        || v.split(['-', '_', '.']).any(|run| {
            let b = run.as_bytes();
            let has = |f: fn(&u8) -> bool| b.iter().any(f);
            let alnum = b.iter().all(u8::is_ascii_alphanumeric);
            let (digits, letters) = (has(u8::is_ascii_digit), has(u8::is_ascii_alphabetic));
            alnum
                && digits
                && letters
                && ((b.len() >= 20 && has(u8::is_ascii_lowercase) && has(u8::is_ascii_uppercase))
                    || (b.len() >= 24 && b.iter().all(u8::is_ascii_hexdigit))
                    || b.len() >= 32)
        })
}

/// Header or parameter names whose value is a credential (compared case-insensitively): a
/// value after `name=`, `name: ` or `"name": ` is masked.
pub const CREDENTIAL_NAMES: &[&str] = &[
    "x-api-key",
    "api-key",
    "api_key",
    "apikey",
    "x-goog-api-key",
    "authorization",
    "proxy-authorization",
    "key",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "bearer",
];

/// Authorization schemes kept in front of a masked credential (`Bearer ***`); the first two are
/// also recognised in running text.
pub const AUTH_SCHEMES: &[&str] = &["bearer", "basic", "token", "digest"];

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-ant-api03-Qw7Er9Ty1Ui3Op5As8Df0Gh2Jk4";

    #[test]
    fn key_shapes_are_told_from_names() {
        for key in [
            KEY,
            "Zx9Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk",
            "gsk_abcdefghijklmnop1234",
            "4f3a9b2c8d7e6f5a4b3c2d1e0f9a8b7c",
        ] {
            assert!(looks_like_key(key), "{key}");
        }
        for name in [
            "ANTHROPIC_API_KEY",
            "OPENROUTER_API_KEY_PRODUCTION_2",
            "groq",
            "my-local-llama-3-70b-instruct",
            "claude-sonnet-4-5-20250929",
            "gpt-4o-mini",
            "DeepSeek-R1",
            "sk-short",
            "Qwen2-72B-Instruct-AWQ-v1",
            "my-organization-llama-3-1-70b-instruct-fp8-v2",
            "MISTRAL_API_KEY_2",
        ] {
            assert!(!looks_like_key(name), "{name}");
        }
    }
}
