//! Stickiness: conversation key → deployment alias, with an idle TTL and an LRU cap (SPEC §5),
//! and the conversation key itself (`x-claude-code-session-id`, else a digest of the system
//! prompt and the first user message).
//!
//! Owns: the binding table (O(log n) per operation: a hash map plus a use-order index) and key
//! derivation. Must not: lock (callers wrap it in a short critical section), read the clock.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::protocol::Protocol;

#[derive(Debug)]
struct Binding {
    alias: Arc<str>,
    last_used: Instant,
    seq: u64,
    /// When this binding was last shared with other instances (src/cluster) or learnt from them.
    shared_at: Instant,
}

/// What [`StickyTable::bind`] did, so that a cluster can share new and changed bindings (and
/// refresh a long-lived one's expiry now and then) without a write per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindChange {
    /// The key had no live binding.
    New,
    /// The key was bound to another alias.
    Rebound,
    /// Same alias, not shared for a sixteenth of the TTL: worth refreshing elsewhere.
    Refresh,
    /// Same alias, nothing to share.
    Touched,
}

/// A bounded, idle-expiring map of conversation key → deployment alias.
#[derive(Debug)]
pub struct StickyTable {
    map: HashMap<Arc<str>, Binding, foldhash::fast::RandomState>,
    /// Use order: sequence number → key. The first entry is the least recently used.
    order: BTreeMap<u64, Arc<str>>,
    next_seq: u64,
    ttl: Duration,
    cap: usize,
}

impl StickyTable {
    pub fn new(ttl: Duration, cap: usize) -> Self {
        StickyTable {
            map: HashMap::default(),
            order: BTreeMap::new(),
            next_seq: 0,
            ttl,
            cap: cap.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The alias `key` is bound to, if the binding is alive at `now`. Does not touch it.
    pub fn get(&self, key: &str, now: Instant) -> Option<&str> {
        let b = self.map.get(key)?;
        (now.saturating_duration_since(b.last_used) < self.ttl).then_some(&*b.alias)
    }

    /// Binds (or re-binds) `key` to `alias` and marks it used at `now`. Expired bindings are
    /// dropped first; then, at the cap, the least recently used one.
    pub fn bind(&mut self, key: &str, alias: &str, now: Instant) -> BindChange {
        self.expire(now);
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(b) = self.map.get_mut(key) {
            let k = self.order.remove(&b.seq).expect("order index in sync");
            b.seq = seq;
            b.last_used = now;
            let change = if &*b.alias != alias {
                b.alias = Arc::from(alias);
                BindChange::Rebound
            } else if now.saturating_duration_since(b.shared_at) >= self.ttl / 16 {
                BindChange::Refresh
            } else {
                BindChange::Touched
            };
            if change != BindChange::Touched {
                b.shared_at = now;
            }
            self.order.insert(seq, k);
            return change;
        }
        while self.map.len() >= self.cap {
            let (_, oldest) = self.order.pop_first().expect("non-empty at cap");
            self.map.remove(&oldest);
        }
        let k: Arc<str> = Arc::from(key);
        self.map.insert(
            k.clone(),
            Binding {
                alias: Arc::from(alias),
                last_used: now,
                seq,
                shared_at: now,
            },
        );
        self.order.insert(seq, k);
        BindChange::New
    }

    /// Re-binds `key` to `alias` only when it has a live binding here (another instance moved
    /// the conversation; conversations this instance has not seen are looked up when they come).
    pub fn rebind_if_present(&mut self, key: &str, alias: &str, now: Instant) {
        if self.get(key, now).is_some_and(|a| a != alias) {
            self.bind(key, alias, now);
        }
    }

    /// Drops bindings idle for the TTL or longer. Cheap when nothing expired (one peek).
    pub fn expire(&mut self, now: Instant) {
        while let Some((_, k)) = self.order.first_key_value() {
            let b = &self.map[k];
            if now.saturating_duration_since(b.last_used) < self.ttl {
                break;
            }
            let (_, k) = self.order.pop_first().expect("peeked");
            self.map.remove(&k);
        }
    }

    /// Removes every binding whose alias is not in `keep` (after a reload removed deployments).
    pub fn retain_aliases(&mut self, keep: &[&str]) {
        let order = &mut self.order;
        self.map.retain(|_, b| {
            let ok = keep.contains(&&*b.alias);
            if !ok {
                order.remove(&b.seq);
            }
            ok
        });
    }
}

/// The conversation key of a request: the `x-claude-code-session-id` header value when present
/// (values over 128 bytes are digested), else the first 16 hex digits of a SHA-256 over the
/// system prompt's text and the first user message's text. `None` when the body has neither or
/// is not JSON.
///
/// Only text is digested (block `type`s and `text`s), so moving a `cache_control` marker between
/// turns — as clients do — keeps the key stable. The body is scanned, not fully materialised:
/// messages after the first user message are skipped without allocation.
pub fn conversation_key(
    session_header: Option<&str>,
    body: &[u8],
    protocol: Protocol,
) -> Option<String> {
    if let Some(s) = session_header.map(str::trim).filter(|s| !s.is_empty()) {
        if s.len() <= 128 {
            return Some(s.to_string());
        }
        return Some(short_digest(&[b"session\0", s.as_bytes()]));
    }
    let parsed: KeyBody = serde_json::from_slice(body).ok()?;
    let mut system = String::new();
    if protocol == Protocol::Anthropic {
        if let Some(t) = parsed.system {
            system = t.0;
        }
    }
    // OpenAI-style system/developer messages before the first user message (also accepted in
    // Anthropic bodies, which never have them).
    let (leading_system, first_user) = parsed.messages.unwrap_or_default().into_parts();
    for s in leading_system {
        system.push('\u{1e}');
        system.push_str(&s);
    }
    if system.is_empty() && first_user.is_none() {
        return None;
    }
    Some(short_digest(&[
        b"system\0",
        system.as_bytes(),
        b"\0user\0",
        first_user.unwrap_or_default().as_bytes(),
    ]))
}

fn short_digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    hex::encode(&h.finalize()[..8])
}

#[derive(Deserialize)]
struct KeyBody {
    #[serde(default)]
    system: Option<Text>,
    #[serde(default)]
    messages: Option<FirstMessages>,
}

/// The text of a `content`/`system` value: a string, or the `type`s and `text`s of its blocks.
/// Anything else (null, numbers, objects) gives empty text.
#[derive(Default)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of content blocks")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text, A::Error> {
                let mut out = String::new();
                while let Some(b) = seq.next_element::<Block>()? {
                    if !out.is_empty() {
                        out.push('\u{1f}');
                    }
                    out.push_str(b.kind.as_deref().unwrap_or(""));
                    if let Some(t) = b.text {
                        out.push(':');
                        out.push_str(&t);
                    }
                }
                Ok(Text(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Text, E> {
                Ok(Text::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Text, E> {
                Ok(Text::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Text, E> {
                Ok(Text::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Text, E> {
                Ok(Text::default())
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct Block<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    content: Option<Text>,
}

/// The system/developer messages before the first user message, and that user message's text.
/// The rest of the array is skipped with `IgnoredAny`.
#[derive(Default)]
struct FirstMessages {
    system: Vec<String>,
    first_user: Option<String>,
}

impl FirstMessages {
    fn into_parts(self) -> (Vec<String>, Option<String>) {
        (self.system, self.first_user)
    }
}

impl<'de> Deserialize<'de> for FirstMessages {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FirstMessages;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of messages")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstMessages, A::Error> {
                let mut out = FirstMessages::default();
                while let Some(m) = seq.next_element::<Message>()? {
                    let text = m.content.unwrap_or_default().0;
                    match m.role.as_deref() {
                        Some("system" | "developer") => out.system.push(text),
                        Some("user") => {
                            out.first_user = Some(text);
                            break;
                        }
                        _ => {}
                    }
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Duration = Duration::from_secs(3600);

    #[test]
    fn binds_and_rebinds() {
        let t0 = Instant::now();
        let mut t = StickyTable::new(6 * H, 10);
        assert_eq!(t.get("k", t0), None);
        t.bind("k", "east", t0);
        assert_eq!(t.get("k", t0), Some("east"));
        t.bind("k", "west", t0 + H);
        assert_eq!(t.get("k", t0 + H), Some("west"));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn idle_ttl_expires_and_use_refreshes() {
        let t0 = Instant::now();
        let mut t = StickyTable::new(6 * H, 10);
        t.bind("a", "east", t0);
        t.bind("b", "east", t0);
        t.bind("a", "east", t0 + 5 * H); // used again: idle clock restarts
        assert_eq!(t.get("b", t0 + 6 * H), None);
        assert_eq!(t.get("a", t0 + 6 * H), Some("east"));
        assert_eq!(
            t.get("a", t0 + 11 * H - Duration::from_secs(1)),
            Some("east")
        );
        assert_eq!(t.get("a", t0 + 11 * H), None);
        t.expire(t0 + 6 * H);
        assert_eq!(t.len(), 1);
        t.expire(t0 + 11 * H);
        assert!(t.is_empty());
    }

    #[test]
    fn lru_eviction_at_cap() {
        let t0 = Instant::now();
        let mut t = StickyTable::new(6 * H, 3);
        t.bind("a", "x", t0);
        t.bind("b", "x", t0);
        t.bind("c", "x", t0);
        t.bind("a", "x", t0); // a is now the most recent; b the least
        t.bind("d", "x", t0);
        assert_eq!(t.len(), 3);
        assert_eq!(t.get("b", t0), None);
        for k in ["a", "c", "d"] {
            assert_eq!(t.get(k, t0), Some("x"), "{k}");
        }
        t.bind("e", "x", t0);
        assert_eq!(t.get("c", t0), None);
    }

    #[test]
    fn lru_cap_holds_under_many_keys() {
        let t0 = Instant::now();
        let mut t = StickyTable::new(6 * H, 10_000);
        for i in 0..25_000 {
            t.bind(&format!("k{i}"), "x", t0);
        }
        assert_eq!(t.len(), 10_000);
        assert_eq!(t.get("k14999", t0), None);
        assert_eq!(t.get("k15000", t0), Some("x"));
        assert_eq!(t.order.len(), t.map.len());
    }

    #[test]
    fn retain_aliases_drops_removed_deployments() {
        let t0 = Instant::now();
        let mut t = StickyTable::new(6 * H, 10);
        t.bind("a", "east", t0);
        t.bind("b", "west", t0);
        t.retain_aliases(&["west"]);
        assert_eq!(t.get("a", t0), None);
        assert_eq!(t.get("b", t0), Some("west"));
        assert_eq!(t.order.len(), 1);
    }

    #[test]
    fn session_header_wins() {
        let body = br#"{"system":"s","messages":[{"role":"user","content":"hi"}]}"#;
        assert_eq!(
            conversation_key(Some("sess-123"), body, Protocol::Anthropic).as_deref(),
            Some("sess-123")
        );
        let long = "x".repeat(500);
        let k = conversation_key(Some(&long), b"", Protocol::Anthropic).unwrap();
        assert_eq!(k.len(), 16);
        // Blank header falls back to the body.
        let k2 = conversation_key(Some("  "), body, Protocol::Anthropic).unwrap();
        assert_eq!(k2.len(), 16);
        assert!(k2.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn anthropic_key_is_stable_across_turns_and_cache_markers() {
        let turn1 = br#"{"model":"m","system":[{"type":"text","text":"You are helpful.","cache_control":{"type":"ephemeral"}}],
            "messages":[{"role":"user","content":[{"type":"text","text":"Fix the bug","cache_control":{"type":"ephemeral"}}]}]}"#;
        let turn2 = br#"{"model":"m","system":[{"type":"text","text":"You are helpful."}],
            "messages":[{"role":"user","content":[{"type":"text","text":"Fix the bug"}]},
                        {"role":"assistant","content":"Done."},
                        {"role":"user","content":[{"type":"text","text":"Thanks","cache_control":{"type":"ephemeral"}}]}]}"#;
        let k1 = conversation_key(None, turn1, Protocol::Anthropic).unwrap();
        let k2 = conversation_key(None, turn2, Protocol::Anthropic).unwrap();
        assert_eq!(k1, k2);
        let other = br#"{"system":"You are helpful.","messages":[{"role":"user","content":"Fix another bug"}]}"#;
        assert_ne!(
            conversation_key(None, other, Protocol::Anthropic).unwrap(),
            k1
        );
        let other_sys = br#"{"system":"You are terse.","messages":[{"role":"user","content":[{"type":"text","text":"Fix the bug"}]}]}"#;
        assert_ne!(
            conversation_key(None, other_sys, Protocol::Anthropic).unwrap(),
            k1
        );
    }

    #[test]
    fn openai_key_uses_system_messages() {
        let a = br#"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hello"}]}"#;
        let b = br#"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hello"},
                    {"role":"assistant","content":null,"tool_calls":[]},{"role":"user","content":"more"}]}"#;
        let c = br#"{"messages":[{"role":"system","content":"Be long."},{"role":"user","content":"hello"}]}"#;
        let ka = conversation_key(None, a, Protocol::OpenAi).unwrap();
        assert_eq!(ka, conversation_key(None, b, Protocol::OpenAi).unwrap());
        assert_ne!(ka, conversation_key(None, c, Protocol::OpenAi).unwrap());
        // The digest is a fixed function of the inputs (no per-process salt).
        let expect = short_digest(&[
            b"system\0",
            "\u{1e}Be brief.".as_bytes(),
            b"\0user\0",
            b"hello",
        ]);
        assert_eq!(ka, expect);
    }

    #[test]
    fn no_key_without_content_or_json() {
        assert_eq!(
            conversation_key(None, b"not json", Protocol::Anthropic),
            None
        );
        assert_eq!(conversation_key(None, b"{}", Protocol::Anthropic), None);
        assert_eq!(
            conversation_key(None, br#"{"messages":[]}"#, Protocol::OpenAi),
            None
        );
        // Odd content shapes do not fail the scan.
        let odd = br#"{"messages":[{"role":"user","content":{"weird":true}},{"role":"user","content":42}]}"#;
        assert!(conversation_key(None, odd, Protocol::OpenAi).is_some());
    }
}
