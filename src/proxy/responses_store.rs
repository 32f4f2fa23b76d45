//! The local store behind `previous_response_id`: recent responses made on translated backends
//! with `store: true` (the API's default), each kept as its whole conversation (input items and
//! output items), bounded in entries and evicted least recently used first. In memory only.
//!
//! Owns: keeping and finding conversations by response id. Must not: hold its lock for more
//! than a map operation (never across an await), or grow without bound.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;

/// How many responses are kept.
pub const DEFAULT_CAPACITY: usize = 1_000;

pub struct ResponseStore {
    cap: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// id → (last use, conversation).
    map: HashMap<String, (u64, Arc<Vec<Value>>)>,
    /// (use, id) in order of use; entries whose use is stale are skipped on eviction.
    order: VecDeque<(u64, String)>,
    clock: u64,
}

impl ResponseStore {
    pub fn new(cap: usize) -> Self {
        ResponseStore {
            cap: cap.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Keeps `conversation` (input then output items) under `id`.
    pub fn insert(&self, id: String, conversation: Vec<Value>) {
        let mut g = self.inner.lock();
        g.clock += 1;
        let now = g.clock;
        g.order.push_back((now, id.clone()));
        g.map.insert(id, (now, Arc::new(conversation)));
        while g.map.len() > self.cap {
            let Some((used, id)) = g.order.pop_front() else {
                break;
            };
            if g.map.get(&id).is_some_and(|(u, _)| *u == used) {
                g.map.remove(&id);
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
            entry.0 = now;
            entry.1.clone()
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
                .retain(|(used, id)| map.get(id).is_some_and(|(u, _)| u == used));
        }
    }
}

impl Default for ResponseStore {
    fn default() -> Self {
        ResponseStore::new(DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_most_recently_used() {
        let s = ResponseStore::new(2);
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
    fn order_stays_bounded_under_many_reads() {
        let s = ResponseStore::new(3);
        s.insert("a".into(), vec![]);
        for _ in 0..1000 {
            s.get("a");
        }
        assert!(s.inner.lock().order.len() <= 4 * 3 + 17);
        assert!(s.get("a").is_some());
    }
}
