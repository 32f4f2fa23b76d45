//! The local store behind `previous_response_id`: recent responses made on translated backends
//! with `store: true` (the API's default), each kept as its whole conversation (input items and
//! output items), bounded in entries and in bytes, evicted least recently used first. In memory
//! only.
//!
//! Owns: keeping and finding conversations by response id. Must not: hold its lock for more
//! than a map operation (never across an await), or grow without bound.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;

/// How many responses are kept.
pub const DEFAULT_CAPACITY: usize = 1_000;
/// How many bytes of conversation (strings and numbers, roughly as serialised) are kept.
pub const DEFAULT_BYTE_BUDGET: usize = 256 * 1024 * 1024;

pub struct ResponseStore {
    cap: usize,
    byte_budget: usize,
    inner: Mutex<Inner>,
}

struct Entry {
    used: u64,
    bytes: usize,
    conversation: Arc<Vec<Value>>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Entry>,
    /// (use, id) in order of use; entries whose use is stale are skipped on eviction.
    order: VecDeque<(u64, String)>,
    clock: u64,
    bytes: usize,
}

impl ResponseStore {
    pub fn new(cap: usize, byte_budget: usize) -> Self {
        ResponseStore {
            cap: cap.max(1),
            byte_budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Keeps `conversation` (input then output items) under `id`. A conversation larger than
    /// the whole budget is not kept.
    pub fn insert(&self, id: String, conversation: Vec<Value>) {
        let bytes = conversation.iter().map(approx_size).sum::<usize>() + id.len();
        if bytes > self.byte_budget {
            return;
        }
        let mut g = self.inner.lock();
        g.clock += 1;
        let now = g.clock;
        g.order.push_back((now, id.clone()));
        let entry = Entry {
            used: now,
            bytes,
            conversation: Arc::new(conversation),
        };
        g.bytes += bytes;
        if let Some(old) = g.map.insert(id, entry) {
            g.bytes -= old.bytes;
        }
        while g.map.len() > self.cap || g.bytes > self.byte_budget {
            let Some((used, id)) = g.order.pop_front() else {
                break;
            };
            if g.map.get(&id).is_some_and(|e| e.used == used) {
                if let Some(old) = g.map.remove(&id) {
                    g.bytes -= old.bytes;
                }
            }
        }
        g.compact(self.cap);
    }

    /// The conversation of response `id`, marking it used.
    pub fn get(&self, id: &str) -> Option<Arc<Vec<Value>>> {
        let mut g = self.inner.lock();
        g.clock += 1;
        let now = g.clock;
        let conv = {
            let entry = g.map.get_mut(id)?;
            entry.used = now;
            entry.conversation.clone()
        };
        g.order.push_back((now, id.to_string()));
        g.compact(self.cap);
        Some(conv)
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    /// Drops stale order entries once they outnumber the live ones well (bounded memory).
    fn compact(&mut self, cap: usize) {
        if self.order.len() > 4 * cap + 16 {
            let map = &self.map;
            self.order
                .retain(|(used, id)| map.get(id).is_some_and(|e| e.used == *used));
        }
    }
}

impl Default for ResponseStore {
    fn default() -> Self {
        ResponseStore::new(DEFAULT_CAPACITY, DEFAULT_BYTE_BUDGET)
    }
}

/// Roughly the serialised size of a value, without serialising it.
fn approx_size(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 12,
        Value::String(s) => s.len() + 2,
        Value::Array(a) => 2 + a.iter().map(|x| approx_size(x) + 1).sum::<usize>(),
        Value::Object(o) => {
            2 + o
                .iter()
                .map(|(k, x)| k.len() + 4 + approx_size(x))
                .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_most_recently_used() {
        let s = ResponseStore::new(2, DEFAULT_BYTE_BUDGET);
        s.insert("a".into(), vec![json!(1)]);
        s.insert("b".into(), vec![json!(2)]);
        assert!(s.get("a").is_some()); // a is now more recent than b
        s.insert("c".into(), vec![json!(3)]);
        assert_eq!(s.len(), 2);
        assert!(s.get("b").is_none());
        assert_eq!(s.get("a").unwrap()[0], json!(1));
        assert_eq!(s.get("c").unwrap()[0], json!(3));
    }

    #[test]
    fn byte_budget_evicts_the_least_recently_used() {
        let big = || vec![json!("x".repeat(400))];
        let s = ResponseStore::new(100, 1000);
        s.insert("a".into(), big());
        s.insert("b".into(), big());
        assert!(s.get("a").is_some());
        s.insert("c".into(), big()); // over 1000 bytes: b (least recently used) goes
        assert!(s.get("b").is_none());
        assert!(s.get("a").is_some() && s.get("c").is_some());
        s.insert("huge".into(), vec![json!("y".repeat(2000))]);
        assert!(
            s.get("huge").is_none(),
            "larger than the whole budget: not kept"
        );
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn order_stays_bounded_under_many_reads() {
        let s = ResponseStore::new(3, DEFAULT_BYTE_BUDGET);
        s.insert("a".into(), vec![]);
        for _ in 0..1000 {
            s.get("a");
        }
        assert!(s.inner.lock().order.len() <= 4 * 3 + 17);
        assert!(s.get("a").is_some());
    }
}
