//! A [`Lease`]: one attempt's hold on a deployment, and the reports that move the deployment's
//! live state — cooldowns after 429/529 and retryable 5xx, connect errors and timeouts, the
//! rate-limit readings of every response — sharing what it learns through [`super::PoolEvents`].
//!
//! Owns: the transitions of a deployment's live state after a response. Must not: hold a lock
//! across anything but a few field updates, or read the clock where `now` is passed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::HeaderMap;

use super::*;

/// One attempt's hold on a deployment. Counts as in flight until dropped: keep it alive until
/// the response (stream included) is finished. Report the outcome with one of the `report_*`
/// methods (several reports are harmless; none leaves the state untouched).
#[derive(Debug)]
pub struct Lease {
    pub(super) dep: Arc<Deployment>,
    pub(super) settings: Arc<PoolSettings>,
    pub(super) events: Option<Arc<dyn PoolEvents>>,
}

impl Lease {
    pub fn target(&self) -> &DeploymentTarget {
        &self.dep.target
    }

    pub fn alias(&self) -> &str {
        &self.dep.target.alias
    }

    pub fn backend(&self) -> &str {
        &self.dep.target.backend
    }

    /// Records a response: its rate-limit headers always; then success, cooldown or nothing by
    /// [`Outcome::of_status`]. RFC 3339 / HTTP-date values are read against the system clock.
    pub fn report_response(&self, status: u16, headers: &HeaderMap, now: Instant) -> Outcome {
        self.report_response_at(status, headers, now, SystemTime::now())
    }

    /// [`Lease::report_response`] with the wall clock given (`wall_now` is the same moment as
    /// `now`).
    pub fn report_response_at(
        &self,
        status: u16,
        headers: &HeaderMap,
        now: Instant,
        wall_now: SystemTime,
    ) -> Outcome {
        let rl = RateLimitHeaders::parse(headers, now, wall_now);
        let outcome = Outcome::of_status(status);
        let s = &self.settings;
        let mut cooled = false;
        let mut st = self.dep.state.lock();
        st.limits.merge(&rl);
        st.last_status = Some(status);
        st.responses += 1;
        match outcome {
            Outcome::Success => {
                st.consecutive_failures = 0;
                st.last_error = None;
            }
            Outcome::RateLimited => {
                st.consecutive_failures = st.consecutive_failures.saturating_add(1);
                st.failures += 1;
                st.last_error = Some(CooldownReason::RateLimited);
                let until = match rl.retry_after {
                    Some(d) => now.checked_add(d).unwrap_or(now + s.max_cooldown),
                    None => st.limits.recovery_at(now).unwrap_or_else(|| {
                        now + s.rate_limit_backoff.delay(st.consecutive_failures)
                    }),
                };
                cooled = st.cool(until, CooldownReason::RateLimited, now, s.max_cooldown);
            }
            Outcome::ServerError => {
                st.consecutive_failures = st.consecutive_failures.saturating_add(1);
                st.failures += 1;
                st.last_error = Some(CooldownReason::ServerError);
                let until = match rl.retry_after {
                    Some(d) => now.checked_add(d).unwrap_or(now + s.max_cooldown),
                    None => now + s.error_backoff.delay(st.consecutive_failures),
                };
                cooled = st.cool(until, CooldownReason::ServerError, now, s.max_cooldown);
            }
            Outcome::Neutral => {}
        }
        let cooldown = if cooled {
            st.cooldown_until.zip(st.cooldown_reason)
        } else {
            None
        };
        drop(st);
        if let Some(events) = &self.events {
            let t = &self.dep.target;
            if let Some((until, reason)) = cooldown {
                events.send(PoolEvent::Cooldown {
                    backend: t.backend.clone(),
                    alias: t.alias.clone(),
                    until: std::time::UNIX_EPOCH
                        + Duration::from_millis(to_unix_ms(until, now, wall_now)),
                    reason,
                });
            }
            if rl
                .dims
                .iter()
                .any(|r| r.limit.is_some() || r.remaining.is_some())
            {
                let mut dims = [WallReading::default(); 4];
                for (w, r) in dims.iter_mut().zip(rl.dims.iter()) {
                    *w = WallReading {
                        limit: r.limit,
                        remaining: r.remaining,
                        reset_unix_ms: r.reset_at.map(|t| to_unix_ms(t, now, wall_now)),
                    };
                }
                events.send(PoolEvent::Limits {
                    backend: t.backend.clone(),
                    alias: t.alias.clone(),
                    dims,
                });
            }
        }
        outcome
    }

    /// The upstream could not be reached (DNS, refused, TLS, reset before a response).
    pub fn report_connect_error(&self, now: Instant) {
        self.report_failure(CooldownReason::ConnectError, now);
    }

    /// No first byte within the first-byte deadline.
    pub fn report_timeout(&self, now: Instant) {
        self.report_failure(CooldownReason::Timeout, now);
    }

    fn report_failure(&self, reason: CooldownReason, now: Instant) {
        let s = &self.settings;
        let mut st = self.dep.state.lock();
        st.consecutive_failures = st.consecutive_failures.saturating_add(1);
        st.failures += 1;
        st.last_error = Some(reason);
        let until = now + s.error_backoff.delay(st.consecutive_failures);
        st.cool(until, reason, now, s.max_cooldown);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.dep.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
