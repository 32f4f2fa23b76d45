//! Unit tests of selection, cooldown, stickiness, exhaustion and reload. Time is injected.

use super::*;
use crate::config::{BackendConfig, BackendSource, DeploymentConfig, Limits, Secret};
use crate::protocol::Protocol;
use http::HeaderMap;
use http::{HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

fn backend(name: &str, aliases: &[&str]) -> BackendConfig {
    BackendConfig {
        name: name.to_string(),
        protocol: Protocol::OpenAi,
        base_url: format!("https://{name}.example/v1"),
        credential: Credential::Key {
            key: Secret::new(format!("sk-{name}")),
        },
        models: vec![],
        headers: vec![],
        deployments: aliases
            .iter()
            .map(|a| DeploymentConfig {
                alias: a.to_string(),
                base_url: Some(format!("https://{a}.{name}.example/v1/")),
                credential: None,
            })
            .collect(),
        system_messages: None,
        responses: false,
        source: BackendSource::BuiltIn,
    }
}

fn config(backends: Vec<BackendConfig>) -> Config {
    Config {
        home: PathBuf::from("/nonexistent"),
        default_backend: None,
        aliases: BTreeMap::new(),
        routes: vec![],
        backends: backends.into_iter().map(|b| (b.name.clone(), b)).collect(),
        limits: Limits::default(),
        prices: BTreeMap::new(),
        models: BTreeMap::new(),
        files: vec![],
        cluster: None,
        history: Default::default(),
    }
}

fn pool3() -> Pools {
    Pools::new(&config(vec![backend("p", &["a", "b", "c"])]))
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn limit(remaining: u64, of: u64) -> HeaderMap {
    headers(&[
        ("x-ratelimit-limit-requests", &of.to_string()),
        ("x-ratelimit-remaining-requests", &remaining.to_string()),
        ("x-ratelimit-reset-requests", "1m0s"),
    ])
}

const NONE: &[String] = &[];

fn pick(p: &Pools, key: Option<&str>, now: Instant) -> String {
    p.acquire("p", key, NONE, now).unwrap().alias().to_string()
}

/// Reports `status` with `h` on deployment `alias` at `now`.
fn report(p: &Pools, alias: &str, status: u16, h: &HeaderMap, now: Instant) -> Outcome {
    let ex: Vec<String> = ["a", "b", "c"]
        .iter()
        .filter(|a| **a != alias)
        .map(|a| a.to_string())
        .collect();
    let lease = p.acquire("p", None, &ex, now).unwrap();
    assert_eq!(lease.alias(), alias);
    lease.report_response(status, h, now)
}

fn dep<'a>(s: &'a PoolSnapshot, alias: &str) -> &'a DeploymentSnapshot {
    s.backend("p")
        .unwrap()
        .deployments
        .iter()
        .find(|d| d.alias == alias)
        .unwrap()
}

#[test]
fn implicit_default_deployment_and_explicit_ones() {
    let p = Pools::new(&config(vec![
        backend("solo", &[]),
        backend("p", &["a", "b"]),
    ]));
    let t = p.targets("solo");
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].alias, DEFAULT_ALIAS);
    assert_eq!(t[0].base_url, "https://solo.example/v1");
    let t = p.targets("p");
    assert_eq!(
        t[1].base_url, "https://b.p.example/v1",
        "trailing slash trimmed"
    );
    assert_eq!(
        t[1].credential.secret().unwrap().expose(),
        "sk-p",
        "backend credential inherited"
    );
    let lease = p.acquire("solo", Some("k"), NONE, Instant::now()).unwrap();
    assert_eq!(lease.backend(), "solo");
    let snap = p.snapshot(Instant::now());
    assert_eq!(
        snap.backend("solo").unwrap().sticky_keys,
        0,
        "no table for one deployment"
    );
    assert!(matches!(
        p.acquire("nope", None, NONE, Instant::now()),
        Err(AcquireError::UnknownBackend(b)) if b == "nope"
    ));
}

#[test]
fn needs_sticky_key_only_for_real_pools() {
    let p = Pools::new(&config(vec![
        backend("solo", &[]),
        backend("p", &["a", "b"]),
    ]));
    assert!(p.needs_sticky_key("p"));
    assert!(!p.needs_sticky_key("solo"));
    assert!(!p.needs_sticky_key("nope"));
}

#[test]
fn unset_key_env_ranks_last() {
    let mut b = backend("p", &["a", "b"]);
    b.deployments[0].credential = Some(Credential::KeyEnv {
        var: "POOL_KEY_A".into(),
        value: None,
    });
    let p = Pools::new(&config(vec![b]));
    let now = Instant::now();
    let _busy: Vec<Lease> = (0..3)
        .map(|_| p.acquire("p", None, &["a".into()], now).unwrap())
        .collect();
    assert_eq!(pick(&p, None, now), "b", "b is busy but a has no key");
    assert_eq!(pick(&p, Some("k"), now), "b");
    assert!(dep(&p.snapshot(now), "a").credential_missing);
    assert!(!dep(&p.snapshot(now), "b").credential_missing);
    // As a last resort it is still chosen (the upstream's auth error then reaches the client).
    report(&p, "b", 429, &headers(&[("retry-after", "5")]), now);
    assert_eq!(pick(&p, Some("k"), now), "a");
    assert_eq!(
        pick(&p, Some("k"), now + Duration::from_secs(5)),
        "b",
        "not kept on a"
    );
}

#[test]
fn highest_headroom_wins() {
    let p = pool3();
    let now = Instant::now();
    report(&p, "a", 200, &limit(10, 100), now);
    report(&p, "b", 200, &limit(90, 100), now);
    report(&p, "c", 200, &limit(50, 100), now);
    assert_eq!(pick(&p, None, now), "b");
    report(&p, "b", 200, &limit(5, 100), now);
    assert_eq!(pick(&p, None, now), "c");
    let s = p.snapshot(now);
    assert!((dep(&s, "a").headroom - 0.1).abs() < 1e-12);
    assert_eq!(dep(&s, "a").limits[0].remaining, Some(10));
    assert_eq!(dep(&s, "a").limits[0].reset_in_ms, Some(60_000));
    // After the window resets, old numbers no longer count: all back to 1.0, first in order.
    assert_eq!(pick(&p, None, now + Duration::from_secs(61)), "a");
}

#[test]
fn ties_go_to_fewest_in_flight_then_config_order() {
    let p = pool3();
    let now = Instant::now();
    let l1 = p.acquire("p", None, NONE, now).unwrap();
    assert_eq!(l1.alias(), "a");
    let l2 = p.acquire("p", None, NONE, now).unwrap();
    assert_eq!(l2.alias(), "b");
    let l3 = p.acquire("p", None, NONE, now).unwrap();
    assert_eq!(l3.alias(), "c");
    let l4 = p.acquire("p", None, NONE, now).unwrap();
    assert_eq!(l4.alias(), "a");
    assert_eq!(dep(&p.snapshot(now), "a").in_flight, 2);
    drop(l2);
    assert_eq!(pick(&p, None, now), "b");
    drop((l1, l3, l4));
    let s = p.snapshot(now);
    assert!(s.backends[0].deployments.iter().all(|d| d.in_flight == 0));
    // Headroom within the same whole percent ties; fewer in flight then decides.
    report(&p, "a", 200, &limit(9991, 10000), now);
    report(&p, "b", 200, &limit(9999, 10000), now);
    let _hold = p
        .acquire("p", None, &["a".into(), "c".into()], now)
        .unwrap();
    assert_eq!(pick(&p, None, now), "a");
}

#[test]
fn cooldown_from_retry_after_and_expiry_by_time() {
    let p = pool3();
    let now = Instant::now();
    let out = report(&p, "a", 429, &headers(&[("retry-after", "20")]), now);
    assert_eq!(out, Outcome::RateLimited);
    let s = p.snapshot(now);
    assert!(dep(&s, "a").cooling);
    assert_eq!(dep(&s, "a").cooldown_remaining_ms, 20_000);
    assert_eq!(
        dep(&s, "a").cooldown_reason,
        Some(CooldownReason::RateLimited)
    );
    assert_eq!(s.backend("p").unwrap().available, 2);
    assert_eq!(pick(&p, None, now), "b");
    assert_eq!(pick(&p, None, now + Duration::from_millis(19_999)), "b");
    // Comes back by itself.
    assert_eq!(pick(&p, None, now + Duration::from_secs(20)), "a");
    assert!(!dep(&p.snapshot(now + Duration::from_secs(20)), "a").cooling);
}

#[test]
fn cooldown_from_reset_header_of_the_exhausted_limit() {
    let p = pool3();
    let now = Instant::now();
    let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000); // 2023-11-14T22:13:20Z
    let h = headers(&[
        ("anthropic-ratelimit-requests-limit", "50"),
        ("anthropic-ratelimit-requests-remaining", "10"),
        ("anthropic-ratelimit-requests-reset", "2023-11-14T22:13:25Z"),
        ("anthropic-ratelimit-tokens-limit", "1000"),
        ("anthropic-ratelimit-tokens-remaining", "0"),
        ("anthropic-ratelimit-tokens-reset", "2023-11-14T22:13:52Z"),
    ]);
    let lease = p.acquire("p", None, NONE, now).unwrap();
    assert_eq!(
        lease.report_response_at(529, &h, now, wall),
        Outcome::RateLimited
    );
    let s = p.snapshot(now);
    assert_eq!(dep(&s, "a").cooldown_remaining_ms, 32_000);
    assert_eq!(dep(&s, "a").headroom, 0.0);
}

#[test]
fn rate_limit_without_hints_backs_off_exponentially_to_60s() {
    let p = pool3();
    let mut now = Instant::now();
    let mut seen = vec![];
    for _ in 0..9 {
        report(&p, "a", 429, &HeaderMap::new(), now);
        let ms = dep(&p.snapshot(now), "a").cooldown_remaining_ms;
        seen.push(ms / 1000);
        now += Duration::from_millis(ms);
    }
    assert_eq!(seen, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    assert_eq!(dep(&p.snapshot(now), "a").consecutive_failures, 9);
    // A success resets the exponent.
    report(&p, "a", 200, &HeaderMap::new(), now);
    assert_eq!(dep(&p.snapshot(now), "a").consecutive_failures, 0);
    report(&p, "a", 429, &HeaderMap::new(), now);
    assert_eq!(dep(&p.snapshot(now), "a").cooldown_remaining_ms, 1000);
}

#[test]
fn server_errors_and_connect_errors_back_off_to_30s() {
    let p = pool3();
    let mut now = Instant::now();
    let mut seen = vec![];
    for i in 0..7 {
        let ex = vec!["b".to_string(), "c".to_string()];
        let lease = p.acquire("p", None, &ex, now).unwrap();
        match i % 3 {
            0 => assert_eq!(
                lease.report_response(503, &HeaderMap::new(), now),
                Outcome::ServerError
            ),
            1 => lease.report_connect_error(now),
            _ => lease.report_timeout(now),
        }
        let ms = dep(&p.snapshot(now), "a").cooldown_remaining_ms;
        seen.push(ms / 1000);
        now += Duration::from_millis(ms);
    }
    assert_eq!(seen, [1, 2, 4, 8, 16, 30, 30]);
    let s = p.snapshot(now - Duration::from_millis(1));
    assert_eq!(
        dep(&s, "a").cooldown_reason,
        Some(CooldownReason::ServerError)
    );
    assert_eq!(dep(&s, "a").last_error, Some(CooldownReason::ServerError));
    assert_eq!(dep(&s, "a").failures, 7);
    // 503 with retry-after honours it.
    report(&p, "b", 503, &headers(&[("retry-after", "3")]), now);
    assert_eq!(dep(&p.snapshot(now), "b").cooldown_remaining_ms, 3000);
}

#[test]
fn neutral_statuses_leave_state_alone() {
    let p = pool3();
    let now = Instant::now();
    report(&p, "a", 500, &HeaderMap::new(), now);
    let later = now + Duration::from_secs(5);
    for status in [400, 401, 404, 408, 409, 413, 501] {
        assert_eq!(
            report(&p, "a", status, &HeaderMap::new(), later),
            Outcome::Neutral,
            "{status}"
        );
    }
    let s = p.snapshot(later);
    assert_eq!(dep(&s, "a").consecutive_failures, 1);
    assert_eq!(dep(&s, "a").last_status, Some(501));
    assert!(!dep(&s, "a").cooling);
}

#[test]
fn a_shorter_cooldown_does_not_cut_a_longer_one() {
    let p = pool3();
    let now = Instant::now();
    // Two leases on a taken before it cooled; their responses arrive in any order.
    let first = p.acquire("p", None, NONE, now).unwrap();
    let second = p
        .acquire("p", None, &["b".into(), "c".into()], now)
        .unwrap();
    assert_eq!((first.alias(), second.alias()), ("a", "a"));
    first.report_response(429, &headers(&[("retry-after", "30")]), now);
    second.report_response(429, &headers(&[("retry-after", "2")]), now);
    assert_eq!(dep(&p.snapshot(now), "a").cooldown_remaining_ms, 30_000);
    // An absurd retry-after is capped at a day.
    let late = p.acquire("p", None, NONE, now).unwrap();
    assert_eq!(late.alias(), "b");
    late.report_response(429, &headers(&[("retry-after", "99999999")]), now);
    assert_eq!(
        dep(&p.snapshot(now), "b").cooldown_remaining_ms,
        24 * 3600 * 1000
    );
}

#[test]
fn retryable_statuses() {
    for s in [408, 409, 429, 500, 502, 503, 504, 529, 520, 524] {
        assert!(is_retryable_status(s), "{s}");
    }
    for s in [200, 301, 400, 401, 403, 404, 413, 422, 501, 505] {
        assert!(!is_retryable_status(s), "{s}");
    }
}

#[test]
fn stickiness_binds_and_survives_headroom_changes() {
    let p = pool3();
    let now = Instant::now();
    report(&p, "b", 200, &limit(100, 100), now);
    report(&p, "a", 200, &limit(50, 100), now);
    report(&p, "c", 200, &limit(40, 100), now);
    // First request of a conversation: best headroom (b), then bound.
    assert_eq!(pick(&p, Some("conv"), now), "b");
    // b's headroom drops below a's: the conversation stays on b (its cache is warm there).
    report(&p, "b", 200, &limit(10, 100), now);
    assert_eq!(pick(&p, Some("conv"), now), "b");
    assert_eq!(pick(&p, None, now), "a");
    // A new conversation goes to the best one.
    assert_eq!(pick(&p, Some("other"), now), "a");
    assert_eq!(p.snapshot(now).backend("p").unwrap().sticky_keys, 2);
    // A known-empty bound deployment is left (and the key rebound).
    report(&p, "b", 200, &limit(0, 100), now);
    assert_eq!(pick(&p, Some("conv"), now), "a");
    report(&p, "b", 200, &limit(100, 100), now);
    assert_eq!(pick(&p, Some("conv"), now), "a", "rebound to a");
}

#[test]
fn stickiness_rebinds_on_cooldown_and_failover() {
    let p = pool3();
    let now = Instant::now();
    assert_eq!(pick(&p, Some("conv"), now), "a");
    // Cooldown: select anew and rebind.
    report(&p, "a", 429, &headers(&[("retry-after", "10")]), now);
    assert_eq!(pick(&p, Some("conv"), now), "b");
    let later = now + Duration::from_secs(11);
    assert_eq!(
        pick(&p, Some("conv"), later),
        "b",
        "stays on the new binding"
    );
    // Failover: the caller excludes b; c is chosen and becomes the binding.
    let l = p.acquire("p", Some("conv"), &["b".into()], later).unwrap();
    assert_eq!(l.alias(), "a");
    drop(l);
    let l = p
        .acquire("p", Some("conv"), &["b".into(), "a".into()], later)
        .unwrap();
    assert_eq!(l.alias(), "c");
    drop(l);
    assert_eq!(pick(&p, Some("conv"), later), "c");
}

#[test]
fn stickiness_idle_ttl_and_lru_cap() {
    let settings = PoolSettings {
        sticky_cap: 2,
        ..PoolSettings::default()
    };
    let p = Pools::with_settings(&config(vec![backend("p", &["a", "b", "c"])]), settings);
    let now = Instant::now();
    let hold_a = p.acquire("p", None, NONE, now).unwrap();
    assert_eq!(pick(&p, Some("k1"), now), "b");
    drop(hold_a);
    // k1 stays on b although a is now equally good and less busy.
    assert_eq!(pick(&p, Some("k1"), now), "b");
    pick(&p, Some("k2"), now);
    pick(&p, Some("k3"), now); // evicts k1 (least recently used)
    assert_eq!(p.snapshot(now).backend("p").unwrap().sticky_keys, 2);
    assert_eq!(
        pick(&p, Some("k1"), now),
        "a",
        "k1 was evicted, selected anew"
    );
    // Idle TTL: 6 h.
    let hold_a = p.acquire("p", None, NONE, now).unwrap();
    assert_eq!(pick(&p, Some("k9"), now), "b");
    drop(hold_a);
    let t = now + Duration::from_secs(6 * 3600);
    assert_eq!(pick(&p, Some("k9"), t - Duration::from_secs(1)), "b");
    assert_eq!(pick(&p, Some("k9"), t + Duration::from_secs(6 * 3600)), "a");
    assert_eq!(
        p.snapshot(t + Duration::from_secs(6 * 3600))
            .backend("p")
            .unwrap()
            .sticky_keys,
        1
    );
}

#[test]
fn exhaustion_reports_earliest_return() {
    let p = pool3();
    let now = Instant::now();
    report(&p, "a", 429, &headers(&[("retry-after", "40")]), now);
    report(&p, "b", 429, &headers(&[("retry-after-ms", "12500")]), now);
    report(&p, "c", 503, &headers(&[("retry-after", "30")]), now);
    match p.acquire("p", Some("k"), NONE, now) {
        Err(AcquireError::Exhausted {
            retry_after,
            earliest,
            backend,
        }) => {
            assert_eq!(backend, "p");
            assert_eq!(earliest, now + Duration::from_millis(12_500));
            assert_eq!(retry_after, Duration::from_secs(13), "rounded up");
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
    let err = p.acquire("p", None, NONE, now).unwrap_err();
    assert!(err.to_string().contains("retry in 13s"), "{err}");
    // Excluding b: the earliest of the rest.
    match p.acquire("p", None, &["b".into()], now) {
        Err(AcquireError::Exhausted { earliest, .. }) => {
            assert_eq!(earliest, now + Duration::from_secs(30))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pick(&p, None, now + Duration::from_millis(12_500)), "b");
    // All excluded: AllTried, not Exhausted.
    let all: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        p.acquire("p", None, &all, now).unwrap_err(),
        AcquireError::AllTried {
            backend: "p".into(),
            tried: 3
        }
    );
}

#[tokio::test]
async fn acquire_or_wait_sleeps_until_the_first_returns() {
    let p = Pools::new(&config(vec![backend("p", &["a", "b"])]));
    let now = Instant::now();
    let l = p.acquire("p", None, NONE, now).unwrap();
    l.report_response(429, &headers(&[("retry-after", "3600")]), now);
    drop(l);
    let l = p.acquire("p", None, NONE, now).unwrap();
    assert_eq!(l.alias(), "b");
    l.report_response(429, &headers(&[("retry-after-ms", "50")]), now);
    drop(l);
    let l = p
        .acquire_or_wait("p", None, NONE, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(l.alias(), "b");
    assert!(Instant::now() >= now + Duration::from_millis(50));
    l.report_response(429, &headers(&[("retry-after", "600")]), Instant::now());
    drop(l);
    // Nothing comes back within the wait: the error comes at once, with the real retry-after.
    match p
        .acquire_or_wait("p", None, NONE, Duration::from_secs(30))
        .await
    {
        Err(AcquireError::Exhausted { retry_after, .. }) => {
            assert!(
                retry_after > Duration::from_secs(590) && retry_after <= Duration::from_secs(600)
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rebuild_keeps_live_state_of_unchanged_deployments() {
    let p = pool3();
    let now = Instant::now();
    report(&p, "a", 429, &headers(&[("retry-after", "60")]), now);
    report(&p, "b", 429, &headers(&[("retry-after", "60")]), now);
    let held = p.acquire("p", Some("conv"), NONE, now).unwrap();
    assert_eq!(held.alias(), "c");
    // New config: b moved to another URL, c's key rotated, a unchanged, d added.
    let mut b = backend("p", &["a", "b", "c", "d"]);
    b.deployments[1].base_url = Some("https://elsewhere.example/v1".into());
    b.deployments[2].credential = Some(Credential::Key {
        key: Secret::new("sk-new"),
    });
    let p2 = p.rebuild(&config(vec![b]));
    let s = p2.snapshot(now);
    assert!(dep(&s, "a").cooling, "unchanged: cooldown kept");
    assert!(!dep(&s, "b").cooling, "moved: fresh state");
    assert_eq!(dep(&s, "c").in_flight, 0, "new key: fresh state");
    assert!(!dep(&s, "d").cooling);
    // The old lease still reports into the old (shared) state and releases it.
    assert_eq!(dep(&p.snapshot(now), "c").in_flight, 1);
    drop(held);
    assert_eq!(dep(&p.snapshot(now), "c").in_flight, 0);
    // Sticky bindings survive for deployments that still exist.
    assert_eq!(s.backend("p").unwrap().sticky_keys, 1);
    // Removing c drops its bindings.
    let p3 = p2.rebuild(&config(vec![backend("p", &["a", "b"])]));
    assert_eq!(p3.snapshot(now).backend("p").unwrap().sticky_keys, 0);
}

#[test]
fn snapshot_is_secret_free_and_serialises() {
    let mut b = backend("p", &["a", "b"]);
    b.deployments[0].base_url =
        Some("https://user:sk-live-123@host.example/v1?api_key=sk-q#f".into());
    let p = Pools::new(&config(vec![b]));
    let now = Instant::now();
    let s = p.snapshot(now);
    assert_eq!(dep(&s, "a").base_url, "https://host.example/v1");
    let json = serde_json::to_string(&s).unwrap();
    assert!(!json.contains("sk-"), "{json}");
    assert!(json.contains("\"credential\":\"key (stored)\""), "{json}");
    let g = s.deployment_gauges();
    assert_eq!(g.len(), 2);
    assert_eq!(
        (g[0].backend.as_str(), g[0].deployment.as_str()),
        ("p", "a")
    );
    assert_eq!(g[0].headroom, 1.0);
}

#[test]
fn concurrent_acquire_and_release_keeps_counts_exact() {
    let p = pool3();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                for i in 0..2000 {
                    let now = Instant::now();
                    let key = format!("k{}", (t * 7 + i) % 50);
                    let l = p.acquire("p", Some(&key), NONE, now).unwrap();
                    if i % 97 == 0 {
                        let h = HeaderMap::new();
                        assert_eq!(l.report_response(400, &h, now), Outcome::Neutral);
                    } else {
                        l.report_response(200, &limit(50 + (i % 50) as u64, 100), now);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = p.snapshot(Instant::now());
    let d = &s.backend("p").unwrap().deployments;
    assert!(d.iter().all(|d| d.in_flight == 0));
    assert_eq!(d.iter().map(|d| d.responses).sum::<u64>(), 16_000);
    assert_eq!(s.backend("p").unwrap().sticky_keys, 50);
}

#[test]
fn shared_types_are_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Pools>();
    check::<Lease>();
    check::<AcquireError>();
}

/// Collects what the pools would share with other instances.
#[derive(Debug, Default)]
struct Collect(parking_lot::Mutex<Vec<PoolEvent>>);

impl PoolEvents for Collect {
    fn send(&self, event: PoolEvent) {
        self.0.lock().push(event);
    }
}

#[test]
fn events_for_other_instances_and_their_application() {
    let sink = Arc::new(Collect::default());
    let p = pool3().with_events(sink.clone());
    let t0 = Instant::now();
    let wall = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    // A new conversation is shared as new; using it again shares nothing.
    assert_eq!(pick(&p, Some("conv"), t0), "a");
    assert_eq!(pick(&p, Some("conv"), t0), "a");
    let events = std::mem::take(&mut *sink.0.lock());
    assert_eq!(
        events,
        vec![PoolEvent::Bound {
            backend: "p".into(),
            key: "conv".into(),
            alias: "a".into(),
            new: true
        }]
    );
    // A 429 with retry-after: the cooldown (on the wall clock) and the readings are shared.
    let lease = p.acquire("p", None, NONE, t0).unwrap();
    let mut h = limit(0, 100);
    h.insert("retry-after", HeaderValue::from_static("20"));
    lease.report_response_at(429, &h, t0, wall);
    let events = std::mem::take(&mut *sink.0.lock());
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[0],
        PoolEvent::Cooldown {
            backend: "p".into(),
            alias: "a".into(),
            until: wall + Duration::from_secs(20),
            reason: CooldownReason::RateLimited,
        }
    );
    let PoolEvent::Limits { dims, .. } = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(dims[0].remaining, Some(0));
    // The same 429 again extends nothing: nothing to share.
    lease.report_response_at(429, &h, t0, wall);
    assert!(matches!(sink.0.lock()[..], [PoolEvent::Limits { .. }]));
    drop(lease);
    // The conversation moves off the cooling deployment: shared as a re-binding.
    sink.0.lock().clear();
    assert_eq!(pick(&p, Some("conv"), t0), "b");
    assert!(matches!(
        &sink.0.lock()[..],
        [PoolEvent::Bound { alias, new: false, .. }] if alias == "b"
    ));

    // Elsewhere: a fresh pool applies the cooldown and the binding, and shares neither back.
    let other_sink = Arc::new(Collect::default());
    let q = pool3().with_events(other_sink.clone());
    let until_ms = to_unix_ms(t0 + Duration::from_secs(20), t0, wall);
    assert!(q.apply_cooldown("p", "a", until_ms, CooldownReason::RateLimited, t0, wall));
    assert!(!q.apply_cooldown("p", "a", until_ms, CooldownReason::RateLimited, t0, wall));
    assert!(!q.apply_cooldown("p", "zz", until_ms, CooldownReason::RateLimited, t0, wall));
    let s = q.snapshot(t0);
    assert!(dep(&s, "a").cooling);
    assert_eq!(dep(&s, "a").failures, 0);
    assert_eq!(dep(&s, "a").cooldown_remaining_ms, 20_000);
    q.apply_binding("p", "conv", "c", t0, true);
    assert_eq!(
        q.binding("p", "conv", t0),
        None,
        "only_if_present ignores new keys"
    );
    q.apply_binding("p", "conv", "c", t0, false);
    assert_eq!(q.binding("p", "conv", t0).as_deref(), Some("c"));
    assert_eq!(pick(&q, Some("conv"), t0), "c");
    assert!(other_sink.0.lock().is_empty(), "{:?}", other_sink.0.lock());
    assert_eq!(
        q.shared_cooldowns(t0, wall),
        vec![(
            "p".into(),
            "a".into(),
            until_ms,
            CooldownReason::RateLimited
        )]
    );
}
