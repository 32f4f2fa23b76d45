//! Scrubbing of text leaving dario on the request path (upstream error bodies, log lines): key
//! shapes (`translate::scrub_secrets`, the one key-shape scrubber of the crate). Configured secret
//! values are masked first by the snapshot's `redact::Redactor` (`Snapshot::scrub`).
//!
//! Must not: allocate when there is nothing to scrub.

use std::borrow::Cow;

/// Removes key-shaped tokens (`sk-…`, `Bearer …`, JWTs…), whole.
pub fn scrub(text: &str) -> Cow<'_, str> {
    crate::translate::scrub_secrets(text)
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn scrubs_key_shapes() {
        let out = scrub("invalid x-api-key sk-ant-api03-abcdefghijkl0123");
        assert!(!out.contains("sk-ant") && !out.contains("abcdef"), "{out}");
        assert_eq!(scrub("nothing here"), "nothing here");
    }
}
