//! Scrubbing of text leaving dario on the request path (upstream error bodies, log lines):
//! configured secret values first, then key shapes (`translate::scrub_secrets`, the one
//! key-shape scrubber of the crate).
//!
//! Must not: allocate when there is nothing to scrub.

use std::borrow::Cow;

/// Removes key-shaped tokens (`sk-…`, `Bearer …`, JWTs…), whole.
pub fn scrub(text: &str) -> Cow<'_, str> {
    crate::translate::scrub_secrets(text)
}

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

#[cfg(test)]
mod tests {
    use super::{scrub, scrub_with};

    #[test]
    fn scrubs_configured_values_and_key_shapes() {
        let out = scrub("invalid x-api-key sk-ant-api03-abcdefghijkl0123");
        assert!(!out.contains("sk-ant") && !out.contains("abcdef"), "{out}");
        assert_eq!(scrub("nothing here"), "nothing here");
        assert_eq!(
            scrub_with("key is plainsecretvalue!", &["plainsecretvalue"]),
            "key is ***!"
        );
    }
}
