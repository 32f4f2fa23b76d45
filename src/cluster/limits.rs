//! Team-wide rate limits: a sliding 60 s window of requests and of tokens per backend, shared by
//! every instance through Redis (one Lua script decides and counts atomically, on Redis's clock),
//! and the same window kept locally for when Redis is away.
//!
//! Owns: the scripts and the local window. Must not: wait on Redis itself (the caller bounds
//! the call), keep more than one window's worth of entries.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::TeamLimit;

/// The window of every team limit.
pub const WINDOW: Duration = Duration::from_secs(60);

/// A request refused by a team limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the team's {what} limit of {limit} per minute on backend `{backend}` is used up; retry in {retry_after_secs} s (`[cluster.limits.{backend}]` in config.toml)")]
pub struct TeamLimited {
    pub backend: String,
    /// `requests` or `tokens`.
    pub what: &'static str,
    pub limit: u64,
    /// Whole seconds until the window has room again (at least 1).
    pub retry_after_secs: u64,
}

/// Decides one request on Redis: drops entries older than the window, refuses when the tokens
/// or the requests of the window reached their limit (answering the milliseconds until the
/// oldest entry leaves the window), else records the request. Tokens sit in a hash of
/// per-second buckets (field = Unix second), requests in a sorted set scored by milliseconds.
/// Returns {1, 0, 0} to admit, {0, retry_ms, 1 for requests | 2 for tokens} to refuse.
const ADMIT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local win = tonumber(ARGV[4])
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
if tpm > 0 then
  local h = redis.call('HGETALL', KEYS[2])
  local used = 0
  local oldest = nil
  for i = 1, #h, 2 do
    local sec = tonumber(h[i])
    if (sec + 1) * 1000 <= now - win then
      redis.call('HDEL', KEYS[2], h[i])
    else
      used = used + tonumber(h[i + 1])
      if oldest == nil or sec < oldest then oldest = sec end
    end
  end
  if used >= tpm then
    return {0, (oldest + 1) * 1000 + win - now, 2}
  end
end
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
  if redis.call('ZCARD', KEYS[1]) >= rpm then
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {0, tonumber(first[2]) + win - now, 1}
  end
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], win)
end
return {1, 0, 0}
"#;

/// Adds one request's tokens to the bucket of the current second (Redis's clock).
const CHARGE: &str = r#"
local t = redis.call('TIME')
redis.call('HINCRBY', KEYS[1], t[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"#;

fn admit_script() -> &'static redis::Script {
    static S: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    S.get_or_init(|| redis::Script::new(ADMIT))
}

fn charge_script() -> &'static redis::Script {
    static S: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    S.get_or_init(|| redis::Script::new(CHARGE))
}

fn refusal(backend: &str, limit: TeamLimit, retry_ms: i64, which: i64) -> TeamLimited {
    let (what, n) = if which == 2 {
        ("tokens", limit.tpm.unwrap_or(0))
    } else {
        ("requests", limit.rpm.unwrap_or(0))
    };
    TeamLimited {
        backend: backend.to_string(),
        what,
        limit: n,
        retry_after_secs: (retry_ms.max(1) as u64).div_ceil(1000).max(1),
    }
}

/// One EVALSHA (EVAL the first time): the team's verdict on one more request to `backend`.
pub(super) async fn admit_remote(
    conn: &mut redis::aio::ConnectionManager,
    req_key: &str,
    tok_key: &str,
    limit: TeamLimit,
    member: &str,
) -> redis::RedisResult<Result<(), TeamLimited>> {
    let mut inv = admit_script().key(req_key);
    inv.key(tok_key)
        .arg(limit.rpm.unwrap_or(0))
        .arg(limit.tpm.unwrap_or(0))
        .arg(member)
        .arg(WINDOW.as_millis() as u64);
    let r: Vec<i64> = inv.invoke_async(conn).await?;
    Ok(match r.as_slice() {
        [0, retry_ms, which, ..] => Err(refusal("", limit, *retry_ms, *which)),
        _ => Ok(()),
    })
}

/// Counts `tokens` in the token window at `tok_key`.
pub(super) async fn charge_remote(
    conn: &mut redis::aio::ConnectionManager,
    tok_key: &str,
    tokens: u64,
) -> redis::RedisResult<()> {
    let mut inv = charge_script().key(tok_key);
    inv.arg(tokens).arg(WINDOW.as_millis() as u64 + 2000);
    let _: i64 = inv.invoke_async(conn).await?;
    Ok(())
}

/// One backend's window on this instance alone.
#[derive(Debug, Default)]
pub(super) struct LocalWindow {
    requests: VecDeque<Instant>,
    tokens: VecDeque<(Instant, u64)>,
    token_sum: u64,
}

impl LocalWindow {
    fn expire(&mut self, now: Instant) {
        while self
            .requests
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            self.requests.pop_front();
        }
        while let Some(&(t, n)) = self.tokens.front() {
            if now.saturating_duration_since(t) < WINDOW {
                break;
            }
            self.tokens.pop_front();
            self.token_sum -= n;
        }
    }

    /// A request Redis admitted: kept so that the local window is warm if Redis goes away.
    pub(super) fn note_request(&mut self, now: Instant) {
        self.expire(now);
        self.requests.push_back(now);
    }

    pub(super) fn note_tokens(&mut self, now: Instant, tokens: u64) {
        self.expire(now);
        self.tokens.push_back((now, tokens));
        self.token_sum += tokens;
    }

    /// The local verdict, recording the request when admitted.
    pub(super) fn admit(&mut self, limit: TeamLimit, now: Instant) -> Result<(), TeamLimited> {
        self.expire(now);
        let left = |t: Instant| {
            (WINDOW.saturating_sub(now.saturating_duration_since(t))).as_millis() as i64
        };
        if let Some(tpm) = limit.tpm {
            if self.token_sum >= tpm {
                let oldest = self.tokens.front().map_or(now, |x| x.0);
                return Err(refusal("", limit, left(oldest), 2));
            }
        }
        if let Some(rpm) = limit.rpm {
            if self.requests.len() as u64 >= rpm {
                let oldest = *self.requests.front().expect("len >= rpm > 0");
                return Err(refusal("", limit, left(oldest), 1));
            }
        }
        self.requests.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_window_holds_the_limit_and_slides() {
        let lim = TeamLimit {
            rpm: Some(2),
            tpm: None,
        };
        let mut w = LocalWindow::default();
        let t0 = Instant::now();
        assert!(w.admit(lim, t0).is_ok());
        assert!(w.admit(lim, t0 + Duration::from_secs(10)).is_ok());
        let e = w.admit(lim, t0 + Duration::from_secs(20)).unwrap_err();
        assert_eq!((e.what, e.limit, e.retry_after_secs), ("requests", 2, 40));
        assert!(w.admit(lim, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn local_window_counts_tokens() {
        let lim = TeamLimit {
            rpm: None,
            tpm: Some(100),
        };
        let mut w = LocalWindow::default();
        let t0 = Instant::now();
        assert!(w.admit(lim, t0).is_ok());
        w.note_tokens(t0, 150);
        let e = w.admit(lim, t0 + Duration::from_secs(1)).unwrap_err();
        assert_eq!((e.what, e.limit), ("tokens", 100));
        assert!(w.admit(lim, t0 + Duration::from_secs(61)).is_ok());
    }
}
