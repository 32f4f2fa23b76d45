//! Rate-limit response headers → numbers: Anthropic `anthropic-ratelimit-*`, OpenAI-style
//! `x-ratelimit-*`, `retry-after` / `retry-after-ms`. Values are turned into absolute
//! `Instant`s at parse time so that state never depends on when it is read.
//!
//! Owns: header parsing and headroom arithmetic. Must not: read the clock (callers pass `now`),
//! keep state. Garbage values are ignored field by field, never an error.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use serde::Serialize;

use crate::timefmt::{duration_from_secs, parse_go_duration, parse_rfc3339};

/// The limit dimensions providers report.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Requests,
    Tokens,
    InputTokens,
    OutputTokens,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [
        Dimension::Requests,
        Dimension::Tokens,
        Dimension::InputTokens,
        Dimension::OutputTokens,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Requests => "requests",
            Dimension::Tokens => "tokens",
            Dimension::InputTokens => "input_tokens",
            Dimension::OutputTokens => "output_tokens",
        }
    }

    /// The dimension named in a header: `requests`, `tokens`, `input-tokens`, `output-tokens`.
    fn from_header_part(s: &str) -> Option<Dimension> {
        match s {
            "requests" => Some(Dimension::Requests),
            "tokens" => Some(Dimension::Tokens),
            "input-tokens" => Some(Dimension::InputTokens),
            "output-tokens" => Some(Dimension::OutputTokens),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What one response said about one dimension. Each field is independent: a header that is
/// missing or unparsable leaves its field `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitReading {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// When the window resets (absolute, on the caller's monotonic clock).
    pub reset_at: Option<Instant>,
}

impl LimitReading {
    fn is_empty(&self) -> bool {
        self.limit.is_none() && self.remaining.is_none() && self.reset_at.is_none()
    }
}

/// Everything rate-limit related in one response's headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// Indexed by [`Dimension`] order.
    pub dims: [LimitReading; 4],
    /// From `retry-after-ms`, else `retry-after` (seconds or HTTP date), relative to `now`.
    pub retry_after: Option<Duration>,
}

impl RateLimitHeaders {
    pub fn get(&self, d: Dimension) -> &LimitReading {
        &self.dims[d.index()]
    }

    /// True when no rate-limit header was understood.
    pub fn is_empty(&self) -> bool {
        self.retry_after.is_none() && self.dims.iter().all(LimitReading::is_empty)
    }

    /// Parses every known header. `now` and `wall_now` are the same moment on the monotonic and
    /// the wall clock; RFC 3339 and HTTP-date values are converted through them.
    pub fn parse(headers: &HeaderMap, now: Instant, wall_now: SystemTime) -> Self {
        // One pass over the headers. Anthropic's values win over OpenAI-style ones when a
        // response carries both; `retry-after-ms` wins over `retry-after`.
        let mut anthropic = [LimitReading::default(); 4];
        let mut openai = [LimitReading::default(); 4];
        let (mut retry_ms, mut retry) = (None, None);
        for (name, value) in headers {
            let n = name.as_str();
            let Ok(v) = value.to_str() else { continue };
            let (table, dim, field) = if let Some(rest) = n.strip_prefix("anthropic-ratelimit-") {
                // anthropic-ratelimit-<dim>-<field>
                let Some((dim, field)) = rest.rsplit_once('-') else {
                    continue;
                };
                (&mut anthropic, dim, field)
            } else if let Some(rest) = n.strip_prefix("x-ratelimit-") {
                // x-ratelimit-<field>-<dim>
                let Some((field, dim)) = rest.split_once('-') else {
                    continue;
                };
                (&mut openai, dim, field)
            } else {
                match n {
                    "retry-after-ms" => retry_ms = Some(v),
                    "retry-after" => retry = Some(v),
                    _ => {}
                }
                continue;
            };
            let Some(d) = Dimension::from_header_part(dim) else {
                continue;
            };
            let r = &mut table[d.index()];
            match field {
                "limit" => r.limit = parse_u64(v),
                "remaining" => r.remaining = parse_u64(v),
                "reset" => r.reset_at = parse_reset(v, now, wall_now),
                _ => {}
            }
        }
        let mut out = RateLimitHeaders::default();
        for ((o, a), b) in out.dims.iter_mut().zip(anthropic).zip(openai) {
            o.limit = a.limit.or(b.limit);
            o.remaining = a.remaining.or(b.remaining);
            o.reset_at = a.reset_at.or(b.reset_at);
        }
        out.retry_after = retry_ms
            .and_then(|v| v.trim().parse::<f64>().ok())
            .and_then(|ms| duration_from_secs(ms / 1000.0))
            .or_else(|| retry.and_then(|v| parse_retry_after(v, wall_now)));
        out
    }
}

fn parse_u64(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(n) = v.parse::<u64>() {
        return Some(n);
    }
    // Some gateways send "1000.0"; accept a finite non-negative number.
    v.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 0.0)
        .map(|f| f as u64)
}

/// A reset value in any of the shapes seen in the wild: RFC 3339, a Go duration (`6m0s`),
/// a bare number of seconds (`12`, `0.5`), or a Unix timestamp in seconds (> 10⁹) or
/// milliseconds (> 10¹²).
pub fn parse_reset(v: &str, now: Instant, wall_now: SystemTime) -> Option<Instant> {
    let v = v.trim();
    if let Some(t) = parse_rfc3339(v) {
        return Some(wall_to_instant(t, now, wall_now));
    }
    if let Some(d) = parse_go_duration(v) {
        return now.checked_add(d);
    }
    let n: f64 = v
        .parse()
        .ok()
        .filter(|f: &f64| f.is_finite() && *f >= 0.0)?;
    let t = if n > 1e12 {
        UNIX_EPOCH.checked_add(Duration::from_secs_f64(n / 1000.0))?
    } else if n > 1e9 {
        UNIX_EPOCH.checked_add(Duration::from_secs_f64(n))?
    } else {
        return now.checked_add(duration_from_secs(n)?);
    };
    Some(wall_to_instant(t, now, wall_now))
}

/// `retry-after`: delay-seconds (integers; decimals tolerated) or an HTTP date.
pub fn parse_retry_after(v: &str, wall_now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return duration_from_secs(secs);
    }
    let t = httpdate::parse_http_date(v).ok()?;
    Some(t.duration_since(wall_now).unwrap_or(Duration::ZERO))
}

/// A wall-clock moment on the monotonic clock; moments in the past map to `now`.
fn wall_to_instant(t: SystemTime, now: Instant, wall_now: SystemTime) -> Instant {
    match t.duration_since(wall_now) {
        Ok(ahead) => now.checked_add(ahead).unwrap_or(now),
        Err(_) => now,
    }
}

/// The live rate-limit knowledge of one deployment: the latest value seen per field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitState {
    pub dims: [LimitReading; 4],
}

impl RateLimitState {
    /// Merges a response's readings: fields it carries replace the old ones, others are kept.
    pub fn merge(&mut self, h: &RateLimitHeaders) {
        for (cur, new) in self.dims.iter_mut().zip(h.dims.iter()) {
            if new.limit.is_some() {
                cur.limit = new.limit;
            }
            if new.remaining.is_some() {
                cur.remaining = new.remaining;
            }
            if new.reset_at.is_some() {
                cur.reset_at = new.reset_at;
            }
        }
    }

    /// remaining/limit of one dimension at `now`, when both are known, the limit is positive and
    /// the window has not reset yet (after its reset the old numbers say nothing).
    pub fn fraction(&self, d: Dimension, now: Instant) -> Option<f64> {
        let r = &self.dims[d.index()];
        let (limit, remaining) = (r.limit?, r.remaining?);
        if limit == 0 || r.reset_at.is_some_and(|t| t <= now) {
            return None;
        }
        Some((remaining as f64 / limit as f64).min(1.0))
    }

    /// The smallest known remaining/limit fraction at `now`; 1.0 when nothing is known.
    pub fn headroom(&self, now: Instant) -> f64 {
        Dimension::ALL
            .iter()
            .filter_map(|&d| self.fraction(d, now))
            .fold(1.0, f64::min)
    }

    /// When a rate-limited deployment may be tried again according to its reset headers: the
    /// latest reset among dimensions known to be exhausted (remaining 0); if none is known to be
    /// exhausted, the earliest future reset; `None` when no future reset is known.
    pub fn recovery_at(&self, now: Instant) -> Option<Instant> {
        let future = |r: &&LimitReading| r.reset_at.is_some_and(|t| t > now);
        let exhausted = self
            .dims
            .iter()
            .filter(future)
            .filter(|r| r.remaining == Some(0))
            .filter_map(|r| r.reset_at)
            .max();
        exhausted.or_else(|| {
            self.dims
                .iter()
                .filter(future)
                .filter_map(|r| r.reset_at)
                .min()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn clock() -> (Instant, SystemTime) {
        // A fixed wall time so RFC 3339 values below are exact.
        (
            Instant::now(),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
    }

    #[test]
    fn anthropic_headers_all_dimensions() {
        let (now, wall) = clock();
        // 1_700_000_000 = 2023-11-14T22:13:20Z
        let h = headers(&[
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "49"),
            ("anthropic-ratelimit-requests-reset", "2023-11-14T22:13:21Z"),
            ("anthropic-ratelimit-tokens-limit", "100000"),
            ("anthropic-ratelimit-tokens-remaining", "25000"),
            ("anthropic-ratelimit-tokens-reset", "2023-11-14T22:14:20.5Z"),
            ("anthropic-ratelimit-input-tokens-limit", "80000"),
            ("anthropic-ratelimit-input-tokens-remaining", "20000"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "2023-11-14T23:13:20+01:00",
            ),
            ("anthropic-ratelimit-output-tokens-limit", "20000"),
            ("anthropic-ratelimit-output-tokens-remaining", "19000"),
            (
                "anthropic-ratelimit-output-tokens-reset",
                "2023-11-14T22:13:30Z",
            ),
        ]);
        let p = RateLimitHeaders::parse(&h, now, wall);
        let r = p.get(Dimension::Requests);
        assert_eq!((r.limit, r.remaining), (Some(50), Some(49)));
        assert_eq!(r.reset_at, Some(now + Duration::from_secs(1)));
        assert_eq!(
            p.get(Dimension::Tokens).reset_at,
            Some(now + Duration::from_millis(60_500))
        );
        // +01:00 offset: 23:13:20+01:00 is exactly `wall`, so the reset is now.
        assert_eq!(p.get(Dimension::InputTokens).reset_at, Some(now));
        assert_eq!(p.get(Dimension::InputTokens).remaining, Some(20000));
        assert_eq!(
            p.get(Dimension::OutputTokens).reset_at,
            Some(now + Duration::from_secs(10))
        );
        assert_eq!(p.retry_after, None);
    }

    #[test]
    fn openai_headers_with_go_durations() {
        let (now, wall) = clock();
        let h = headers(&[
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-remaining-requests", "499"),
            ("x-ratelimit-reset-requests", "120ms"),
            ("x-ratelimit-limit-tokens", "30000"),
            ("x-ratelimit-remaining-tokens", "3000"),
            ("x-ratelimit-reset-tokens", "1h2m3.5s"),
        ]);
        let p = RateLimitHeaders::parse(&h, now, wall);
        assert_eq!(p.get(Dimension::Requests).limit, Some(500));
        assert_eq!(
            p.get(Dimension::Requests).reset_at,
            Some(now + Duration::from_millis(120))
        );
        assert_eq!(
            p.get(Dimension::Tokens).reset_at,
            Some(now + Duration::from_millis(3_723_500))
        );
        assert_eq!(p.get(Dimension::InputTokens), &LimitReading::default());
        let mut st = RateLimitState::default();
        st.merge(&p);
        assert!((st.headroom(now) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn other_reset_shapes() {
        let (now, wall) = clock();
        let secs = |n: u64| Some(now + Duration::from_secs(n));
        assert_eq!(parse_reset("6m0s", now, wall), secs(360));
        assert_eq!(parse_reset("12", now, wall), secs(12));
        assert_eq!(parse_reset("1700000030", now, wall), secs(30));
        assert_eq!(parse_reset("1700000030000", now, wall), secs(30));
        // A reset in the past means "now".
        assert_eq!(parse_reset("2001-01-01T00:00:00Z", now, wall), Some(now));
        assert_eq!(parse_reset("soon", now, wall), None);
        assert_eq!(parse_reset("-3", now, wall), None);
        assert_eq!(parse_reset("NaN", now, wall), None);
    }

    #[test]
    fn garbage_values_are_ignored_field_by_field() {
        let (now, wall) = clock();
        let h = headers(&[
            ("anthropic-ratelimit-requests-limit", "lots"),
            ("anthropic-ratelimit-requests-remaining", "-5"),
            ("anthropic-ratelimit-requests-reset", "tomorrow"),
            ("anthropic-ratelimit-tokens-limit", "1000"),
            ("anthropic-ratelimit-tokens-remaining", "1e400"),
            ("x-ratelimit-reset-tokens", "3 fortnights"),
            ("retry-after", "whenever"),
        ]);
        let p = RateLimitHeaders::parse(&h, now, wall);
        assert_eq!(p.get(Dimension::Requests), &LimitReading::default());
        assert_eq!(p.get(Dimension::Tokens).limit, Some(1000));
        assert_eq!(p.get(Dimension::Tokens).remaining, None);
        assert_eq!(p.get(Dimension::Tokens).reset_at, None);
        assert_eq!(p.retry_after, None);
        let mut st = RateLimitState::default();
        st.merge(&p);
        assert_eq!(st.headroom(now), 1.0);
        assert!(!p.is_empty());
        assert!(RateLimitHeaders::parse(&HeaderMap::new(), now, wall).is_empty());
    }

    #[test]
    fn anthropic_wins_over_openai_style_and_opaque_bytes_are_skipped() {
        let (now, wall) = clock();
        let mut h = headers(&[
            ("x-ratelimit-limit-tokens", "10"),
            ("x-ratelimit-remaining-tokens", "1"),
            ("anthropic-ratelimit-tokens-limit", "100"),
            ("x-ratelimit-reset-tokens", "2s"),
            ("x-ratelimit-bogus-tokens", "5"),
            ("x-ratelimit-limit-widgets", "5"),
            ("anthropic-ratelimit-unified-status", "allowed"),
        ]);
        h.insert(
            "anthropic-ratelimit-tokens-remaining",
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        let p = RateLimitHeaders::parse(&h, now, wall);
        let t = p.get(Dimension::Tokens);
        assert_eq!(t.limit, Some(100));
        assert_eq!(
            t.remaining,
            Some(1),
            "Anthropic value unreadable: OpenAI-style one used"
        );
        assert_eq!(t.reset_at, Some(now + Duration::from_secs(2)));
        assert_eq!(p.get(Dimension::Requests), &LimitReading::default());
    }

    #[test]
    fn retry_after_seconds_date_and_ms() {
        let (now, wall) = clock();
        let p = |pairs: &[(&str, &str)]| RateLimitHeaders::parse(&headers(pairs), now, wall);
        assert_eq!(
            p(&[("retry-after", "17")]).retry_after,
            Some(Duration::from_secs(17))
        );
        assert_eq!(
            p(&[("retry-after", "1.5")]).retry_after,
            Some(Duration::from_millis(1500))
        );
        // 1_700_000_000 + 42 s as an HTTP date.
        let date = httpdate::fmt_http_date(wall + Duration::from_secs(42));
        assert_eq!(
            p(&[("retry-after", &date)]).retry_after,
            Some(Duration::from_secs(42))
        );
        let past = httpdate::fmt_http_date(wall - Duration::from_secs(42));
        assert_eq!(
            p(&[("retry-after", &past)]).retry_after,
            Some(Duration::ZERO)
        );
        assert_eq!(
            p(&[("retry-after", "30"), ("retry-after-ms", "250")]).retry_after,
            Some(Duration::from_millis(250))
        );
        assert_eq!(p(&[("retry-after", "-1")]).retry_after, None);
    }

    #[test]
    fn headroom_is_the_smallest_known_fraction() {
        let now = Instant::now();
        let mut st = RateLimitState::default();
        assert_eq!(st.headroom(now), 1.0);
        let reading = |limit, remaining, reset: Option<u64>| LimitReading {
            limit: Some(limit),
            remaining: Some(remaining),
            reset_at: reset.map(|s| now + Duration::from_secs(s)),
        };
        st.dims[0] = reading(100, 80, Some(10));
        st.dims[1] = reading(1000, 300, Some(60));
        st.dims[3] = reading(50, 45, None);
        assert!((st.headroom(now) - 0.3).abs() < 1e-12);
        // Remaining above limit clamps to 1; a zero limit is unknown.
        st.dims[1] = reading(10, 20, None);
        st.dims[2] = reading(0, 0, None);
        assert!((st.headroom(now) - 0.8).abs() < 1e-12);
        // After its reset, a dimension's numbers no longer count.
        st.dims[0] = reading(100, 0, Some(10));
        assert_eq!(st.headroom(now), 0.0);
        assert!((st.headroom(now + Duration::from_secs(10)) - 0.9).abs() < 1e-12);
    }

    #[test]
    fn merge_keeps_fields_a_response_did_not_carry() {
        let (now, wall) = clock();
        let mut st = RateLimitState::default();
        st.merge(&RateLimitHeaders::parse(
            &headers(&[
                ("x-ratelimit-limit-requests", "10"),
                ("x-ratelimit-remaining-requests", "5"),
            ]),
            now,
            wall,
        ));
        st.merge(&RateLimitHeaders::parse(
            &headers(&[("x-ratelimit-remaining-requests", "2")]),
            now,
            wall,
        ));
        assert!((st.headroom(now) - 0.2).abs() < 1e-12);
    }

    #[test]
    fn recovery_prefers_exhausted_dimensions() {
        let now = Instant::now();
        let s = |n| Some(now + Duration::from_secs(n));
        let mut st = RateLimitState::default();
        assert_eq!(st.recovery_at(now), None);
        st.dims[0] = LimitReading {
            limit: Some(10),
            remaining: Some(3),
            reset_at: s(5),
        };
        st.dims[1] = LimitReading {
            limit: Some(10),
            remaining: Some(4),
            reset_at: s(50),
        };
        assert_eq!(st.recovery_at(now), s(5));
        st.dims[1].remaining = Some(0);
        st.dims[2] = LimitReading {
            limit: Some(10),
            remaining: Some(0),
            reset_at: s(20),
        };
        assert_eq!(st.recovery_at(now), s(50));
        // Resets already past do not count.
        assert_eq!(st.recovery_at(now + Duration::from_secs(60)), None);
    }
}
