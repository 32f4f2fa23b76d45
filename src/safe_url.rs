//! URLs as dario prints them: a configured URL may carry credentials in its user-info
//! (`https://user:key@host`) or its query (`?key=…`), so neither is ever shown.
//!
//! Owns: the one parser of that shape and its renderings ([`display`], [`display_marked`],
//! [`scheme_and_host`]). Must not: validate URLs (the config loader does) or allocate beyond the
//! returned string.

struct Parts<'a> {
    /// `https` in `https://…`; `None` when the text has no `://`.
    scheme: Option<&'a str>,
    /// Whether user-info (`…@`) was cut from the authority.
    userinfo: bool,
    /// Host and port.
    host: &'a str,
    /// From the first `/` after the authority, up to the query or fragment.
    path: &'a str,
    /// `?` or `#` when a query or fragment was cut.
    cut: Option<char>,
}

fn parts(url: &str) -> Parts<'_> {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let (base, tail) = url.split_at(end);
    let (scheme, rest) = match base.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, base),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((_, host)) => (true, host),
        None => (false, authority),
    };
    Parts {
        scheme,
        userinfo,
        host,
        path,
        cut: tail.chars().next(),
    }
}

/// `url` without user-info, query or fragment: `http://u:p@h:8080/v1?k=1` → `http://h:8080/v1`.
pub fn display(url: &str) -> String {
    let p = parts(url);
    match p.scheme {
        Some(scheme) => format!("{scheme}://{}{}", p.host, p.path),
        None => format!("{}{}", p.host, p.path),
    }
}

/// Like [`display`], but marks what was cut, for a reader who is fixing the configuration:
/// `https://u:k@h/v1?key=k` → `https://***@h/v1?***`.
pub fn display_marked(url: &str) -> String {
    let p = parts(url);
    let mut out = p.scheme.map(|s| format!("{s}://")).unwrap_or_default();
    if p.userinfo {
        out.push_str(crate::redact::MASK);
        out.push('@');
    }
    out.push_str(p.host);
    out.push_str(p.path);
    if let Some(c) = p.cut {
        out.push(c);
        out.push_str(crate::redact::MASK);
    }
    out
}

/// The scheme (lower case; empty without `://`) and the host with its port, without user-info.
pub fn scheme_and_host(url: &str) -> (String, String) {
    let p = parts(url);
    let scheme = p.scheme.unwrap_or_default().to_ascii_lowercase();
    (scheme, p.host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show() {
        assert_eq!(display("https://api.x.com/v1"), "https://api.x.com/v1");
        assert_eq!(
            display("http://u:p@127.0.0.1:8080/v1?k=1"),
            "http://127.0.0.1:8080/v1"
        );
        assert_eq!(display("https://h/p@x"), "https://h/p@x");
        assert_eq!(display("not a url?key=1"), "not a url");
        assert_eq!(
            display("rediss://user@redis.internal:6380/2#f"),
            "rediss://redis.internal:6380/2"
        );
        assert_eq!(
            display_marked("https://u:sk-abc@api.x.com/v1"),
            "https://***@api.x.com/v1"
        );
        assert_eq!(
            display_marked("https://api.x.com/v1/models?key=sk-abc"),
            "https://api.x.com/v1/models?***"
        );
        assert_eq!(
            scheme_and_host("HTTPS://u:p@east.example:8443/v1?key=zz"),
            ("https".to_string(), "east.example:8443".to_string())
        );
        assert_eq!(
            display("https://u:p@east.example/v1?key=zz"),
            "https://east.example/v1"
        );
        assert_eq!(
            scheme_and_host("u:p@east.example:8443/v1"),
            (String::new(), "east.example:8443".to_string())
        );
    }
}
