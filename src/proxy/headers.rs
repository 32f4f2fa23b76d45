//! Header policy: what dario forwards upstream, what it strips, what it adds, and which upstream
//! response headers reach the client. One table, used by the proxy and shown by the MCP
//! `fingerprint_info` tool, so what dario says it does is what it does.

/// Hop-by-hop headers (RFC 9110 §7.6.1) and others that describe one connection: never forwarded,
/// in either direction.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Request headers dario never forwards upstream (besides hop-by-hop ones): routing and framing
/// headers it recomputes, credentials it handles itself, and browser/proxy context.
pub const STRIPPED_REQUEST: &[&str] = &[
    "host",
    "content-length",
    // dario has read the whole body before it sends anything upstream: nothing to wait for.
    "expect",
    "accept-encoding",
    "authorization",
    "x-api-key",
    "cookie",
    "origin",
    "referer",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Request header prefixes dario never forwards (its own control headers and browser fetch
/// metadata).
pub const STRIPPED_REQUEST_PREFIXES: &[&str] = &["x-dario-", "sec-fetch-", "sec-ch-"];

/// When client and backend speak different protocols, only these client headers go upstream
/// (the rest describe the client's protocol and would confuse the other API).
pub const FORWARDED_WHEN_TRANSLATING: &[&str] = &["accept-language", "x-request-id"];

/// Headers added by dario on the way upstream.
/// `user-agent` is the client's own followed by `dario/<version>` (or just `dario/<version>`).
pub const ADDED_REQUEST: &[&str] = &[
    "user-agent",
    "content-type",
    "x-api-key | authorization (per backend credential)",
];

/// Upstream response headers that reach the client (besides `content-type`): rate-limit
/// information and request ids. Everything else from upstream is dropped.
pub const FORWARDED_RESPONSE: &[&str] = &[
    "content-type",
    "retry-after",
    "request-id",
    "x-request-id",
    "anthropic-organization-id",
    "openai-processing-ms",
    "openai-version",
];

/// Upstream response header prefixes that reach the client.
pub const FORWARDED_RESPONSE_PREFIXES: &[&str] = &["anthropic-ratelimit-", "x-ratelimit-"];

/// Headers dario adds to every response it sends.
pub const ADDED_RESPONSE: &[&str] = &[
    "x-dario-backend",
    "x-dario-request-id",
    "x-dario-overhead-us",
    "x-dario-dropped (when translation dropped fields)",
    "x-content-type-options: nosniff",
    "x-frame-options: DENY",
    "cache-control: no-store",
];

fn in_list(name: &str, list: &[&str]) -> bool {
    list.iter().any(|h| h.eq_ignore_ascii_case(name))
}

fn has_prefix(name: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| {
        name.len() >= p.len() && name.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
    })
}

/// Whether a client request header may be forwarded to an upstream of the *same* protocol.
pub fn forward_request_header(name: &str) -> bool {
    !in_list(name, HOP_BY_HOP)
        && !in_list(name, STRIPPED_REQUEST)
        && !has_prefix(name, STRIPPED_REQUEST_PREFIXES)
        && !in_list(name, &["user-agent", "content-type"])
}

/// Whether an upstream response header may reach the client.
pub fn forward_response_header(name: &str) -> bool {
    in_list(name, FORWARDED_RESPONSE) || has_prefix(name, FORWARDED_RESPONSE_PREFIXES)
}

/// The tokens of a comma-separated header (`Connection: keep-alive, x-foo`), over all its
/// fields, trimmed, empty ones left out. A field that is not text holds no tokens.
pub fn list_tokens<'a>(
    headers: &'a http::HeaderMap,
    name: &http::header::HeaderName,
) -> impl DoubleEndedIterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_policy() {
        assert!(forward_request_header("anthropic-version"));
        assert!(forward_request_header("Anthropic-Beta"));
        assert!(!forward_request_header("Connection"));
        assert!(!forward_request_header("x-api-key"));
        assert!(!forward_request_header("Authorization"));
        assert!(!forward_request_header("x-dario-anything"));
        assert!(!forward_request_header("host"));
    }

    #[test]
    fn response_policy() {
        assert!(forward_response_header(
            "anthropic-ratelimit-requests-remaining"
        ));
        assert!(forward_response_header("x-ratelimit-reset-tokens"));
        assert!(forward_response_header("Retry-After"));
        assert!(forward_response_header("request-id"));
        assert!(!forward_response_header("set-cookie"));
        assert!(!forward_response_header("transfer-encoding"));
    }
}
