//! Validation of names, environment variable names, base URLs and header pairs.
//!
//! Owns: the naming rule (SPEC §3) and base URL normalisation. Must not: echo a value that may
//! be a credential in an error message (environment variable names and URLs are checked without
//! repeating values that fail in key-like ways).

use crate::protocol::Protocol;

use super::ConfigError;

/// Checks the SPEC §3 naming rule: 1–64 of letters, digits, `.`, `_`, `-`, starting with a
/// letter or digit. Used for backend names, deployment aliases and file names read from disk.
pub fn validate_name(what: &'static str, name: &str) -> Result<(), ConfigError> {
    if crate::redact::looks_like_key(name) {
        return Err(ConfigError::InvalidName {
            what,
            name: "(not shown)".to_string(),
            reason: "the value looks like a key, not a name; a key goes in `key` or `key_env`",
        });
    }
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 64 {
        Some("it is longer than 64 characters")
    } else if !name.as_bytes()[0].is_ascii_alphanumeric() {
        Some("it must start with a letter or digit")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some("it contains a character other than letters, digits, `.`, `_`, `-`")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(ConfigError::InvalidName {
            what,
            // A name that long is shown shortened; it is never a credential field.
            name: name.chars().take(64).collect(),
            reason,
        }),
    }
}

/// `true` when `name` obeys the backend naming rule.
pub fn is_valid_name(name: &str) -> bool {
    validate_name("backend", name).is_ok()
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 characters. The value is
/// not repeated in the error (people paste a key where a variable name belongs).
pub fn validate_env_var(var: &str) -> Result<(), String> {
    if crate::redact::looks_like_key(var) {
        return Err(
            "`key_env` must be the NAME of an environment variable, and the value given looks \
             like a key itself (it is not shown); to store a key use `key` (or `--key`), or \
             export it and give the variable's name"
                .to_string(),
        );
    }
    let ok = !var.is_empty()
        && var.len() <= 128
        && (var.as_bytes()[0].is_ascii_alphabetic() || var.as_bytes()[0] == b'_')
        && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(
            "`key_env` must be the NAME of an environment variable (letters, digits, `_`), \
             not a key; to store a key use `key` (or `--key`)"
                .to_string(),
        )
    }
}

/// Normalises a base URL: `http(s)://host[:port][/path]`, no credentials in it, no trailing
/// slash; an Anthropic-protocol URL also loses a trailing `/v1` (dario adds `/v1/messages`).
pub fn normalize_base_url(protocol: Protocol, url: &str) -> Result<String, String> {
    let trimmed = url.trim();
    let rest = if let Some(r) = trimmed.strip_prefix("https://") {
        r
    } else if let Some(r) = trimmed.strip_prefix("http://") {
        r
    } else {
        return Err("a base URL must start with `http://` or `https://`".to_string());
    };
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a base URL must not contain spaces or control characters".to_string());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(
            "a base URL must not carry credentials (`user:pass@`): pass the key with `--key` \
             or `key_env`"
                .to_string(),
        );
    }
    if authority.is_empty() || authority.starts_with(':') {
        return Err("a base URL needs a host (e.g. `https://api.example.com/v1`)".to_string());
    }
    if rest.contains('#') {
        return Err("a base URL must not contain a `#fragment`".to_string());
    }
    // dario appends the API path to the base URL, so a query could only end up in the middle
    // of it — and a query is where keys get pasted (`?api-key=…`).
    if rest.contains('?') {
        return Err(
            "a base URL must not contain a `?query` (it is not shown: it may hold a key): pass \
             a key with `--key` or `key_env`, other parameters as headers"
                .to_string(),
        );
    }
    let mut out = trimmed.trim_end_matches('/').to_string();
    if protocol == Protocol::Anthropic {
        if let Some(stripped) = out.strip_suffix("/v1") {
            out = stripped.trim_end_matches('/').to_string();
        }
    }
    Ok(out)
}

/// For an OpenAI-protocol base URL whose path has no version segment (`/v1`, `/v1beta`,
/// `/api/v1`…): a warning saying what dario will call and the likely fix. Most OpenAI-compatible
/// servers answer `/v1/chat/completions`, and without `/v1` they give a bare 404.
pub fn missing_version_hint(base_url: &str) -> Option<String> {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let versioned = path.split('/').any(|seg| {
        let b = seg.as_bytes();
        b.len() >= 2 && (b[0] == b'v' || b[0] == b'V') && b[1].is_ascii_digit()
    });
    if versioned {
        return None;
    }
    // A query string may carry a key (`?key=…`): never repeat it.
    let (without_query, had_query) = match base_url.split_once('?') {
        Some((before, _)) => (before, true),
        None => (base_url, false),
    };
    let trimmed = without_query.trim_end_matches('/');
    if had_query {
        return Some(format!(
            "base URL `{trimmed}?***` has no version segment: most OpenAI-compatible servers \
             serve `/v1/chat/completions` — did you mean `{trimmed}/v1`?"
        ));
    }
    Some(format!(
        "base URL `{trimmed}` has no version segment: dario will call \
         `{trimmed}/chat/completions`, and most OpenAI-compatible servers serve \
         `/v1/chat/completions` — did you mean `{trimmed}/v1`? (fix: dario backend add <name> \
         --base-url {trimmed}/v1)"
    ))
}

/// An extra header: a token name (and not one dario manages itself), a value without CR/LF.
pub fn validate_header(name: &str, value: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(format!(
            "header name `{name}` is not a valid HTTP header name"
        ));
    }
    let lower = name.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "host" | "content-length" | "transfer-encoding" | "connection" | "upgrade" | "te"
    ) {
        return Err(format!(
            "header `{name}` is managed by dario and cannot be set per backend"
        ));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!(
            "the value of header `{name}` contains a line break or NUL"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        for ok in ["groq", "a", "my.server_1-x", "9lives", &"a".repeat(64)] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-x",
            ".x",
            "_x",
            "a/b",
            "a b",
            "a:b",
            "ä",
            &"a".repeat(65),
            "..",
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        let err = validate_name("backend", "a/b").unwrap_err().to_string();
        assert!(
            err.contains("`a/b`") && err.contains("letters, digits"),
            "{err}"
        );
    }

    #[test]
    fn env_var_names() {
        assert!(validate_env_var("GROQ_API_KEY").is_ok());
        assert!(validate_env_var("_X1").is_ok());
        for bad in ["", "1X", "sk-ant-abc", "A B", "A=B"] {
            let e = validate_env_var(bad).unwrap_err();
            assert!(bad.is_empty() || !e.contains(bad), "value echoed: {e}");
        }
    }

    #[test]
    fn base_urls_are_normalised() {
        let n = |p, u| normalize_base_url(p, u);
        assert_eq!(
            n(Protocol::OpenAi, "https://api.groq.com/openai/v1/").unwrap(),
            "https://api.groq.com/openai/v1"
        );
        assert_eq!(
            n(Protocol::Anthropic, "https://api.anthropic.com/v1/").unwrap(),
            "https://api.anthropic.com"
        );
        assert_eq!(
            n(Protocol::Anthropic, "http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            n(Protocol::OpenAi, "http://127.0.0.1:11434/v1").unwrap(),
            "http://127.0.0.1:11434/v1"
        );
        assert!(n(Protocol::OpenAi, "ftp://x").is_err());
        assert!(n(Protocol::OpenAi, "https://").is_err());
        assert!(n(Protocol::OpenAi, "https://user:pw@host/v1").is_err());
        assert!(n(Protocol::OpenAi, "https://ho st/v1").is_err());
        assert!(n(Protocol::OpenAi, "api.openai.com").is_err());
    }

    #[test]
    fn a_base_url_without_a_version_is_flagged() {
        for ok in [
            "https://api.groq.com/openai/v1",
            "http://127.0.0.1:11434/v1",
            "https://generativelanguage.googleapis.com/v1beta/openai",
            "https://api.fireworks.ai/inference/v1",
        ] {
            assert_eq!(missing_version_hint(ok), None, "{ok}");
        }
        let h = missing_version_hint("http://127.0.0.1:8000").unwrap();
        assert!(h.contains("http://127.0.0.1:8000/v1"), "{h}");
        assert!(missing_version_hint("https://x.example/openai").is_some());
        let h = missing_version_hint("https://x.example/openai?key=sk-canary-123").unwrap();
        assert!(!h.contains("canary"), "{h}");
    }

    #[test]
    fn headers() {
        assert!(validate_header("x-org", "abc").is_ok());
        assert!(validate_header("x org", "abc").is_err());
        assert!(validate_header("Host", "abc").is_err());
        assert!(validate_header("x-a", "a\r\nb").is_err());
    }
}
