//! The blind final pass: every MCP tool, resource and prompt result goes through [`Scrubber`]
//! before it leaves the process.
//!
//! Owns: masking configured secret values (whole, or any 8-byte run, widened to the whole token)
//! and every key shape at [`Reach::EVERYTHING`], in strings and in JSON values (a field named like
//! a credential is masked whole). A match becomes [`MASK`], so not even a key's prefix survives.
//! Must not: depend on where the text came from — it is the last line of defence.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::shapes::{self, is_key_byte, Reach};
use super::{Redactor, AUTH_SCHEMES, CREDENTIAL_NAMES, MASK};

/// Scrubs secrets out of strings and JSON values.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    secrets: Redactor,
}

impl Scrubber {
    /// A redactor for these secret values (empty and very short values are ignored).
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let secrets: Vec<String> = secrets
            .into_iter()
            .map(|s| s.as_ref().trim().to_string())
            .collect();
        Scrubber {
            secrets: Redactor::new(secrets.iter().map(String::as_str)),
        }
    }

    /// The secrets dario's own environment holds even when no config could be loaded:
    /// `DARIO_API_KEY` and variables named like provider keys (`*_API_KEY`, `*_AUTH_TOKEN`,
    /// `*_ACCESS_TOKEN`).
    pub fn env_secrets() -> Vec<String> {
        std::env::vars()
            .filter(|(name, value)| {
                let upper = name.to_ascii_uppercase();
                !value.is_empty()
                    && (upper == "DARIO_API_KEY"
                        || upper.ends_with("_API_KEY")
                        || upper.ends_with("_AUTH_TOKEN")
                        || upper.ends_with("_ACCESS_TOKEN"))
            })
            .map(|(_, value)| value)
            .collect()
    }

    /// Whether this redactor knows any configured secret (pattern rules always apply).
    pub fn has_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// `text` with every secret and key-shaped token replaced by [`MASK`].
    pub fn scrub_str(&self, text: &str) -> String {
        let bytes = text.as_bytes();
        let mut ranges: Vec<(usize, usize)> = self
            .secrets
            .runs(bytes)
            .into_iter()
            .map(|(start, end)| widen_to_token(bytes, start, end))
            .collect();
        shapes::mark(text, Reach::EVERYTHING, &mut ranges);
        if ranges.is_empty() {
            return text.to_string();
        }
        shapes::apply(text, ranges)
    }

    /// Scrubs every string (and object key) of a JSON value in place; values of fields named
    /// like credentials (`x-api-key`, `authorization`, `token`, …) are masked whole.
    pub fn scrub_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                let scrubbed = self.scrub_str(s);
                if scrubbed != *s {
                    *s = scrubbed;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_value(v)),
            Value::Object(map) => {
                let old = std::mem::take(map);
                for (key, mut v) in old {
                    if is_sensitive_name(&key) {
                        mask_credential_value(&mut v);
                    }
                    self.scrub_value(&mut v);
                    map.insert(self.scrub_str(&key), v);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Scrubs any serialisable result by a round trip through JSON. This is the tool boundary:
    /// structured content, text content, resource text and `_meta` alike.
    pub fn scrub<T: Serialize + DeserializeOwned>(&self, item: T) -> Result<T, serde_json::Error> {
        let mut value = serde_json::to_value(&item)?;
        self.scrub_value(&mut value);
        serde_json::from_value(value)
    }
}

fn is_sensitive_name(name: &str) -> bool {
    let name = name.trim().trim_matches(|c| c == '"' || c == '\'');
    CREDENTIAL_NAMES
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

/// Masks a credential-bearing JSON field: strings become `***` (keeping an auth scheme), other
/// scalars are left alone (a numeric "token" count is not a secret).
fn mask_credential_value(value: &mut Value) {
    if let Value::String(s) = value {
        if s.is_empty() || s == MASK {
            return;
        }
        let trimmed = s.trim_start();
        if let Some((scheme, rest)) = trimmed.split_once(char::is_whitespace) {
            if AUTH_SCHEMES.iter().any(|a| a.eq_ignore_ascii_case(scheme)) && !rest.is_empty() {
                *s = format!("{scheme} {MASK}");
                return;
            }
        }
        *s = MASK.to_string();
    }
}

/// Grows `[start, end)` to the surrounding token so a partial match masks the whole key.
fn widen_to_token(bytes: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start > 0 && is_key_byte(bytes[start - 1]) {
        start -= 1;
    }
    while end < bytes.len() && is_key_byte(bytes[end]) {
        end += 1;
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn none() -> Scrubber {
        Scrubber::new(Vec::<String>::new())
    }

    #[test]
    fn configured_secret_is_masked_whole_and_in_pieces() {
        let secret = "QzX9-canary-8f3Kd0p7LmN2";
        let r = Scrubber::new([secret]);
        assert_eq!(r.scrub_str(&format!("key is {secret}.")), "key is ***.");
        // A fragment (8 bytes or more) anywhere is masked as a whole token.
        let out = r.scrub_str("leaked prefix QzX9-canary… in a log");
        assert!(!out.contains("canary"), "{out}");
        let out = r.scrub_str("tail: y8f3Kd0p7LmN2 end");
        assert!(!out.contains("8f3Kd0p7"), "{out}");
        assert!(out.starts_with("tail: ***"), "{out}");
        // No 8-byte piece of the secret survives anywhere.
        let text = format!("a{secret}b {secret} x{}", &secret[5..17]);
        let out = r.scrub_str(&text);
        for w in secret.as_bytes().windows(8) {
            assert!(!out.contains(std::str::from_utf8(w).unwrap()), "{out}");
        }
    }

    #[test]
    fn short_secret_is_masked_exactly() {
        let r = Scrubber::new(["abc1234", "", "xy"]);
        assert_eq!(r.scrub_str("v=abc1234 and xy stays"), "v=*** and xy stays");
    }

    #[test]
    fn provider_keys_lose_even_their_prefix() {
        let r = none();
        for (input, expect) in [
            ("key sk-ant-api03-AbCdEf123_- done", "key *** done"),
            ("sk-ant-api03-…", "***…"),
            ("openrouter sk-or-v1-0123456789abcdef", "openrouter ***"),
            ("groq gsk_abcdefghijklmnop", "groq ***"),
            ("(sk-proj-xyz)", "(***)"),
        ] {
            assert_eq!(r.scrub_str(input), expect, "{input}");
        }
        // Words that merely contain the letters are untouched.
        assert_eq!(
            r.scrub_str("task-runner disk-usage"),
            "task-runner disk-usage"
        );
        assert_eq!(r.scrub_str("sk- alone"), "sk- alone");
    }

    #[test]
    fn bearer_and_jwt() {
        let r = none();
        assert_eq!(
            r.scrub_str("Authorization: Bearer abc.def-ghi"),
            "Authorization: Bearer ***"
        );
        assert_eq!(r.scrub_str("bearer xyz123"), "bearer ***");
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        assert_eq!(r.scrub_str(&format!("token {jwt} end")), "token *** end");
        assert_eq!(r.scrub_str("eyJ"), "eyJ");
    }

    #[test]
    fn header_and_parameter_values() {
        let r = none();
        assert_eq!(r.scrub_str("x-api-key: plainvalue123"), "x-api-key: ***");
        assert_eq!(
            r.scrub_str(r#"{"x-api-key":"plainvalue123","n":1}"#),
            r#"{"x-api-key":"***","n":1}"#
        );
        assert_eq!(
            r.scrub_str("https://host/v1?key=abcdef&x=1"),
            "https://host/v1?key=***&x=1"
        );
        assert_eq!(
            r.scrub_str("Authorization: Basic dXNlcjpw"),
            "Authorization: Basic ***"
        );
        assert_eq!(r.scrub_str("api_key = 'quoted-val'"), "api_key = '***'");
        // Names that only start like a credential name are not credentials.
        assert_eq!(r.scrub_str("keyboard: yes"), "keyboard: yes");
        assert_eq!(r.scrub_str("tokens: 1234"), "tokens: 1234");
        assert_eq!(
            r.scrub_str("key_env = GROQ_API_KEY"),
            "key_env = GROQ_API_KEY"
        );
    }

    #[test]
    fn url_userinfo() {
        let r = none();
        assert_eq!(
            r.scrub_str("https://user:pa55@gateway.example/v1"),
            "https://***@gateway.example/v1"
        );
        assert_eq!(
            r.scrub_str("https://api.openai.com/v1"),
            "https://api.openai.com/v1"
        );
    }

    #[test]
    fn json_values_fields_and_keys() {
        let secret = "Canary-Secret-0987654321";
        let r = Scrubber::new([secret]);
        let mut v = json!({
            "credential": {"kind": "key", "key": "plain-but-named-key"},
            "headers": {"Authorization": "Bearer zzz", "x-api-key": "whatever"},
            "tokens": 42,
            "token": 7,
            "list": [format!("has {secret} inside"), "sk-ant-api03-xyz"],
            secret: "as a key",
        });
        r.scrub_value(&mut v);
        let s = v.to_string();
        assert!(!s.contains("Canary-S"), "{s}");
        assert!(!s.contains("plain-but"), "{s}");
        assert!(!s.contains("zzz"), "{s}");
        assert!(!s.contains("whatever"), "{s}");
        assert!(!s.contains("sk-ant"), "{s}");
        assert_eq!(v["headers"]["Authorization"], "Bearer ***");
        assert_eq!(v["tokens"], 42);
        assert_eq!(v["token"], 7);
        assert_eq!(v["list"][0], "has *** inside");
    }

    #[test]
    fn idempotent_and_utf8_safe() {
        let r = Scrubber::new(["ümlaut-secret-value"]);
        let once = r.scrub_str("é ümlaut-secret-value ü sk-ant-xyz ✓");
        assert_eq!(once, "é *** ü *** ✓");
        assert_eq!(r.scrub_str(&once), once);
    }

    #[test]
    fn round_trip_through_serde() {
        #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Out {
            text: String,
        }
        let r = Scrubber::new(["supersecretvalue"]);
        let out = r
            .scrub(Out {
                text: "a supersecretvalue b".into(),
            })
            .unwrap();
        assert_eq!(out.text, "a *** b");
    }
}
