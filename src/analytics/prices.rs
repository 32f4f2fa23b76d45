//! Price table: model glob → USD per million tokens, for estimated request cost.
//!
//! Lookup: `Config::prices` overrides first, then the built-in defaults; within each, the most
//! specific matching glob wins (most literal characters, then the longer pattern). Matching is
//! case-insensitive; a model with a vendor path (`openai/gpt-4o` on OpenRouter) is also tried by
//! its last segment. An override without cache prices gets cache read = 0.1 × input and cache
//! write = 1.25 × input. Reasoning tokens are part of output tokens and are not charged again.
//!
//! Owns: prices and cost arithmetic. Must not: guess — an unknown model costs 0 and is flagged
//! unpriced.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::PriceConfig;
use crate::protocol::Usage;

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
}

impl Price {
    /// Anthropic-style: cache read 0.1 × input, cache write 1.25 × input.
    pub fn anthropic(input: f64, output: f64) -> Price {
        Price {
            input,
            output,
            cache_read: input * 0.1,
            cache_write: input * 1.25,
        }
    }

    /// OpenAI-style: cached input at `cached`, no cache-write surcharge.
    pub fn openai(input: f64, output: f64, cached: f64) -> Price {
        Price {
            input,
            output,
            cache_read: cached,
            cache_write: input,
        }
    }

    /// USD for `usage` at this price.
    pub fn cost(&self, u: &Usage) -> f64 {
        (u.input_tokens as f64 * self.input
            + u.output_tokens as f64 * self.output
            + u.cache_read_tokens as f64 * self.cache_read
            + u.cache_write_tokens as f64 * self.cache_write)
            / 1_000_000.0
    }
}

impl From<&PriceConfig> for Price {
    fn from(p: &PriceConfig) -> Price {
        Price {
            input: p.input,
            output: p.output,
            cache_read: p.cache_read.unwrap_or(p.input * 0.1),
            cache_write: p.cache_write.unwrap_or(p.input * 1.25),
        }
    }
}

/// Built-in prices (USD per MTok), public list prices of current models.
pub fn default_prices() -> Vec<(&'static str, Price)> {
    let a = Price::anthropic;
    let o = Price::openai;
    vec![
        // Anthropic
        ("claude-opus-4-5*", a(5.0, 25.0)),
        ("claude-opus-4-1*", a(15.0, 75.0)),
        ("claude-opus-4", a(15.0, 75.0)),
        ("claude-opus-4-0*", a(15.0, 75.0)),
        ("claude-opus-4-2025*", a(15.0, 75.0)),
        ("claude-3-opus*", a(15.0, 75.0)),
        ("claude-sonnet-4-5*", a(3.0, 15.0)),
        ("claude-sonnet-4", a(3.0, 15.0)),
        ("claude-sonnet-4-0*", a(3.0, 15.0)),
        ("claude-sonnet-4-2025*", a(3.0, 15.0)),
        ("claude-3-7-sonnet*", a(3.0, 15.0)),
        ("claude-3-5-sonnet*", a(3.0, 15.0)),
        ("claude-haiku-4-5*", a(1.0, 5.0)),
        ("claude-3-5-haiku*", a(0.8, 4.0)),
        ("claude-3-haiku*", a(0.25, 1.25)),
        // OpenAI
        ("gpt-4o", o(2.5, 10.0, 1.25)),
        ("gpt-4o-20*", o(2.5, 10.0, 1.25)),
        ("gpt-4o-mini*", o(0.15, 0.6, 0.075)),
        ("gpt-4.1*", o(2.0, 8.0, 0.5)),
        ("gpt-4.1-mini*", o(0.4, 1.6, 0.1)),
        ("gpt-4.1-nano*", o(0.1, 0.4, 0.025)),
        ("gpt-5", o(1.25, 10.0, 0.125)),
        ("gpt-5-20*", o(1.25, 10.0, 0.125)),
        ("gpt-5-chat*", o(1.25, 10.0, 0.125)),
        ("gpt-5-mini*", o(0.25, 2.0, 0.025)),
        ("gpt-5-nano*", o(0.05, 0.4, 0.005)),
        ("o3", o(2.0, 8.0, 0.5)),
        ("o3-20*", o(2.0, 8.0, 0.5)),
        ("o3-mini*", o(1.1, 4.4, 0.55)),
        ("o4-mini*", o(1.1, 4.4, 0.275)),
    ]
}

#[derive(Debug, Clone)]
struct Entry {
    pattern: String,
    price: Price,
    overridden: bool,
}

/// Model → price, see the module docs for the lookup rule.
#[derive(Debug, Clone)]
pub struct PriceTable {
    /// Overrides first, then defaults; each group sorted most specific first.
    entries: Vec<Entry>,
    /// Model name → its price (or none), so the pattern scan runs once per distinct name.
    memo: PriceMemo,
}

/// A bounded memo of lookups; a clone starts empty (it is a cache, not state).
#[derive(Debug, Default)]
struct PriceMemo(
    parking_lot::Mutex<
        std::collections::HashMap<String, Option<Price>, foldhash::fast::RandomState>,
    >,
);

impl Clone for PriceMemo {
    fn clone(&self) -> Self {
        PriceMemo::default()
    }
}

/// Distinct model names remembered; a flood of new names clears the memo and starts again.
const PRICE_MEMO_CAP: usize = 1024;

/// A match: which pattern priced the model, and whether it came from the config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceMatch {
    pub pattern: String,
    pub price: Price,
    pub overridden: bool,
}

fn specificity(p: &str) -> (usize, usize) {
    (
        p.chars().filter(|c| !matches!(c, '*' | '?')).count(),
        p.len(),
    )
}

impl PriceTable {
    pub fn new(overrides: &BTreeMap<String, PriceConfig>) -> Self {
        let mut over: Vec<Entry> = overrides
            .iter()
            .map(|(k, v)| Entry {
                pattern: k.to_ascii_lowercase(),
                price: v.into(),
                overridden: true,
            })
            .collect();
        let mut defaults: Vec<Entry> = default_prices()
            .into_iter()
            .map(|(k, price)| Entry {
                pattern: k.to_string(),
                price,
                overridden: false,
            })
            .collect();
        for v in [&mut over, &mut defaults] {
            v.sort_by(|a, b| {
                specificity(&b.pattern)
                    .cmp(&specificity(&a.pattern))
                    .then_with(|| a.pattern.cmp(&b.pattern))
            });
        }
        over.extend(defaults);
        PriceTable {
            entries: over,
            memo: PriceMemo::default(),
        }
    }

    pub fn lookup(&self, model: &str) -> Option<PriceMatch> {
        let model = model.trim().to_ascii_lowercase();
        let last = model.rsplit('/').next().unwrap_or(&model);
        let hit = |name: &str| {
            self.entries
                .iter()
                .find(|e| crate::routing::glob::matches(&e.pattern, name))
        };
        let e = hit(&model).or_else(|| if last != model { hit(last) } else { None })?;
        Some(PriceMatch {
            pattern: e.pattern.clone(),
            price: e.price,
            overridden: e.overridden,
        })
    }

    /// Estimated USD for `usage` on `model`; `None` when the model has no price.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        let known = self.memo.0.lock().get(model).copied();
        let price = match known {
            Some(price) => price,
            None => {
                let price = self.lookup(model).map(|m| m.price);
                let mut memo = self.memo.0.lock();
                if memo.len() >= PRICE_MEMO_CAP {
                    memo.clear();
                }
                memo.insert(model.to_string(), price);
                price
            }
        };
        price.map(|p| p.cost(usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64, cr: u64, cw: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: cr,
            cache_write_tokens: cw,
            reasoning_tokens: 0,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn default_prices_of_current_models() {
        let t = PriceTable::new(&BTreeMap::new());
        let m = usage(1_000_000, 1_000_000, 1_000_000, 1_000_000);
        // opus 4.5: 5 + 25 + 0.5 + 6.25
        assert!(close(
            t.cost("claude-opus-4-5-20251101", &m).unwrap(),
            36.75
        ));
        assert!(close(
            t.cost("claude-opus-4-1-20250805", &m).unwrap(),
            15.0 + 75.0 + 1.5 + 18.75
        ));
        assert!(close(t.cost("claude-opus-4-20250514", &m).unwrap(), 110.25));
        assert!(close(
            t.cost("claude-sonnet-4-5", &m).unwrap(),
            3.0 + 15.0 + 0.3 + 3.75
        ));
        assert!(close(
            t.cost("claude-haiku-4-5", &m).unwrap(),
            1.0 + 5.0 + 0.1 + 1.25
        ));
        assert!(close(
            t.cost("claude-3-5-haiku-latest", &m).unwrap(),
            0.8 + 4.0 + 0.08 + 1.0
        ));
        // gpt-4o: cached at 50 %, no write surcharge.
        assert!(close(
            t.cost("gpt-4o", &m).unwrap(),
            2.5 + 10.0 + 1.25 + 2.5
        ));
        assert!(close(
            t.cost("gpt-4o-2024-08-06", &usage(0, 1_000_000, 0, 0))
                .unwrap(),
            10.0
        ));
        assert!(close(
            t.cost("gpt-4o-mini", &usage(1_000_000, 0, 0, 0)).unwrap(),
            0.15
        ));
        assert!(close(
            t.cost("gpt-4.1-mini", &usage(0, 1_000_000, 0, 0)).unwrap(),
            1.6
        ));
        assert!(close(
            t.cost("gpt-4.1", &usage(0, 1_000_000, 0, 0)).unwrap(),
            8.0
        ));
        assert!(close(
            t.cost("gpt-5", &usage(1_000_000, 0, 0, 0)).unwrap(),
            1.25
        ));
        assert!(close(
            t.cost("gpt-5-mini", &usage(0, 1_000_000, 0, 0)).unwrap(),
            2.0
        ));
        assert!(close(
            t.cost("o3", &usage(1_000_000, 0, 0, 0)).unwrap(),
            2.0
        ));
        assert!(close(
            t.cost("o4-mini", &usage(0, 1_000_000, 0, 0)).unwrap(),
            4.4
        ));
        assert!(close(
            t.cost("openai/gpt-4o", &usage(1_000_000, 0, 0, 0)).unwrap(),
            2.5
        ));
        assert!(close(
            t.cost("GPT-4O", &usage(1_000_000, 0, 0, 0)).unwrap(),
            2.5
        ));
    }

    #[test]
    fn small_requests_cost_arithmetic() {
        let t = PriceTable::new(&BTreeMap::new());
        // sonnet 4.5: 1200 in, 350 out, 5000 cache read, 800 cache write
        // = (1200·3 + 350·15 + 5000·0.3 + 800·3.75) / 1e6 = (3600 + 5250 + 1500 + 3000)/1e6
        let c = t
            .cost("claude-sonnet-4-5-20250929", &usage(1200, 350, 5000, 800))
            .unwrap();
        assert!(close(c, 0.01335), "{c}");
    }

    #[test]
    fn unknown_models_are_unpriced() {
        let t = PriceTable::new(&BTreeMap::new());
        for m in [
            "llama-3.3-70b-versatile",
            "claude-opus-4-6",
            "gpt-5-pro",
            "o3-pro",
            "",
        ] {
            assert_eq!(t.lookup(m), None, "{m}");
        }
    }

    #[test]
    fn overrides_win_and_fill_cache_prices() {
        let mut o = BTreeMap::new();
        o.insert(
            "claude-sonnet-*".to_string(),
            PriceConfig {
                input: 2.0,
                output: 10.0,
                cache_read: None,
                cache_write: Some(3.0),
            },
        );
        o.insert(
            "llama-*".to_string(),
            PriceConfig {
                input: 0.59,
                output: 0.79,
                cache_read: Some(0.0),
                cache_write: None,
            },
        );
        let t = PriceTable::new(&o);
        // The override is less specific than the default `claude-sonnet-4-5*` but still wins.
        let m = t.lookup("claude-sonnet-4-5").unwrap();
        assert!(m.overridden);
        assert_eq!(m.pattern, "claude-sonnet-*");
        assert!(close(m.price.cache_read, 0.2));
        assert!(close(m.price.cache_write, 3.0));
        assert!(close(
            t.cost("llama-3.3-70b", &usage(1_000_000, 1_000_000, 0, 1_000_000))
                .unwrap(),
            0.59 + 0.79 + 0.59 * 1.25
        ));
        assert!(!t.lookup("claude-haiku-4-5").unwrap().overridden);
    }

    #[test]
    fn most_specific_default_wins() {
        let t = PriceTable::new(&BTreeMap::new());
        assert_eq!(
            t.lookup("gpt-4.1-mini-2025-04-14").unwrap().pattern,
            "gpt-4.1-mini*"
        );
        assert_eq!(t.lookup("gpt-4.1-2025-04-14").unwrap().pattern, "gpt-4.1*");
        assert_eq!(t.lookup("o3-mini").unwrap().pattern, "o3-mini*");
        assert_eq!(
            t.lookup("gpt-4o-mini-2024-07-18").unwrap().pattern,
            "gpt-4o-mini*"
        );
    }
}
