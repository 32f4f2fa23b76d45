//! What the pools tell other instances (src/cluster): [`PoolEvent`]s through [`PoolEvents`],
//! with times on the wall clock ([`WallReading`], [`to_unix_ms`], [`from_unix_ms`]), since
//! instances share no monotonic clock.
//!
//! Owns: the shape of shared pool facts. Must not: block (events are sent after the pool's locks
//! are released) or name a key.

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::CooldownReason;

/// Receives what this instance learns about its deployments, to share it with other instances
/// (src/cluster). Called after the pool's locks are released; must not block.
pub trait PoolEvents: Send + Sync + std::fmt::Debug {
    fn send(&self, event: PoolEvent);
}

/// Something worth telling other instances. Times are on the wall clock (instances do not
/// share a monotonic clock); deployments are named by backend and alias only, never by key.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolEvent {
    /// A deployment started (or extended) a cooldown after a 429/529 or a retryable 5xx.
    Cooldown {
        backend: String,
        alias: String,
        until: SystemTime,
        reason: CooldownReason,
    },
    /// The latest rate-limit readings of a deployment.
    Limits {
        backend: String,
        alias: String,
        dims: [WallReading; 4],
    },
    /// A conversation was bound (`new`: it had no binding here) or re-bound to a deployment,
    /// or a long-lived binding is worth refreshing elsewhere.
    Bound {
        backend: String,
        key: String,
        alias: String,
        new: bool,
    },
}

/// A [`super::LimitReading`] with its reset time on the wall clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct WallReading {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
    /// Milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_unix_ms: Option<u64>,
}

/// An instant as Unix milliseconds, through the pair (`now`, `wall_now`) naming one moment.
pub fn to_unix_ms(t: Instant, now: Instant, wall_now: SystemTime) -> u64 {
    let wall = if t >= now {
        wall_now + (t - now)
    } else {
        wall_now - (now - t)
    };
    wall.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Unix milliseconds as an instant, through the pair (`now`, `wall_now`) naming one moment.
pub fn from_unix_ms(ms: u64, now: Instant, wall_now: SystemTime) -> Instant {
    let wall = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    match wall.duration_since(wall_now) {
        Ok(ahead) => now.checked_add(ahead).unwrap_or(now),
        Err(e) => now.checked_sub(e.duration()).unwrap_or(now),
    }
}
