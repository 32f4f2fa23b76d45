//! What a response means for the deployment that produced it: which statuses are worth another
//! attempt, the [`Outcome`] of a status, and why a deployment is cooling.
//!
//! Owns: the status tables of SPEC §5. Must not: hold state.

use serde::Serialize;

/// Statuses worth another attempt on another deployment or backend (SPEC §5): 408, 409, 429 and
/// every 5xx except 501 (Not Implemented) and 505 (HTTP Version Not Supported), which would
/// fail the same way anywhere. This covers 500/502/503/504, Anthropic's 529 and the 520–524 of
/// CDNs in front of providers. Any other 4xx goes back to the client as it is.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429)
        || ((500..=599).contains(&status) && !matches!(status, 501 | 505))
}

/// What a response status means for the deployment that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 1xx–3xx: resets the consecutive failure count.
    Success,
    /// 429, 529: cool down until retry-after / reset / exponential (1 s → 60 s).
    RateLimited,
    /// Retryable 5xx: short exponential cooldown (1 s → 30 s).
    ServerError,
    /// Other 4xx (and 408/409, which are retried but are not the deployment's fault), 501, 505:
    /// the deployment's state is left as it is.
    Neutral,
}

impl Outcome {
    pub fn of_status(status: u16) -> Outcome {
        match status {
            429 | 529 => Outcome::RateLimited,
            s if s >= 500 && is_retryable_status(s) => Outcome::ServerError,
            100..=399 => Outcome::Success,
            _ => Outcome::Neutral,
        }
    }
}

/// Why a deployment is cooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CooldownReason {
    RateLimited,
    ServerError,
    ConnectError,
    Timeout,
}
