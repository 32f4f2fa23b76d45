//! Tests of the tools' pure parts (outputs from a configuration and live data).

use super::*;
use crate::config::{BackendConfig, DeploymentConfig, Limits, Secret, SourceFile};
use crate::mcp::live::proxy_state;
use serde_json::json;

fn backend(name: &str, protocol: Protocol, url: &str, credential: Credential) -> BackendConfig {
    BackendConfig {
        name: name.to_string(),
        protocol,
        base_url: url.to_string(),
        credential,
        models: vec![],
        headers: vec![("x-custom".into(), "v".into())],
        deployments: vec![],
        system_messages: None,
        responses: false,
        source: BackendSource::BuiltIn,
    }
}

fn config() -> Config {
    let mut backends = BTreeMap::new();
    backends.insert(
        "anthropic".to_string(),
        backend(
            "anthropic",
            Protocol::Anthropic,
            "https://api.anthropic.com",
            Credential::Passthrough,
        ),
    );
    let mut groq = backend(
        "groq",
        Protocol::OpenAi,
        "https://api.groq.com/openai/v1",
        Credential::KeyEnv {
            var: "GROQ_API_KEY".into(),
            value: None,
        },
    );
    groq.deployments = vec![DeploymentConfig {
        alias: "east".into(),
        base_url: Some("https://u:p@east.example/v1?key=zz".into()),
        credential: Some(Credential::Key {
            key: Secret::new("sk-east-secret-123456"),
        }),
    }];
    backends.insert("groq".to_string(), groq);
    Config {
        home: "/tmp/h".into(),
        default_backend: Some("groq".into()),
        aliases: [("fast".to_string(), "groq:llama".to_string())].into(),
        routes: vec![crate::config::RouteRule {
            model: "claude-*".into(),
            backend: "anthropic".into(),
            upstream_model: None,
            fallbacks: vec!["groq".into()],
        }],
        backends,
        limits: Limits::default(),
        prices: BTreeMap::new(),
        models: BTreeMap::new(),
        files: vec![SourceFile {
            path: "/tmp/h/config.toml".into(),
            sha256: "ab".repeat(32),
        }],
        cluster: None,
        history: Default::default(),
    }
}

fn not_running() -> ProxyState {
    proxy_state(
        "127.0.0.1:1",
        &Fetch::NotRunning("proxy not running: test".into()),
    )
    .0
}

#[test]
fn live_backends_come_from_the_typed_status_or_as_sent() {
    let typed = serde_json::to_value(crate::admin_api::tests::status()).unwrap();
    let out = backends_list(&config(), not_running(), Some(&typed));
    let groq = out.backends.iter().find(|b| b.name == "groq").unwrap();
    let live = groq.live.as_ref().unwrap();
    assert_eq!(live["credential_source"], "env GROQ_API_KEY");
    assert_eq!(live["deployments"][0]["alias"], "east");
    // The entry is the typed one, re-serialised: the same JSON as the proxy wrote.
    assert_eq!(
        live,
        &serde_json::to_value(&crate::admin_api::tests::status().backends[0]).unwrap()
    );
    let anthropic = out.backends.iter().find(|b| b.name == "anthropic").unwrap();
    assert!(anthropic.live.is_none());
    // A body of another shape (a field renamed): its entry is shown as sent, not dropped.
    let mut renamed = typed.clone();
    let routing = renamed["routing"].as_object_mut().unwrap();
    let n = routing.remove("routes").unwrap();
    routing.insert("route_count".into(), n);
    renamed["backends"][0]["extra"] = json!("as sent");
    let out = auth_status(&config(), not_running(), Some(&renamed));
    let groq = out.backends.iter().find(|b| b.backend == "groq").unwrap();
    assert_eq!(groq.live.as_ref().unwrap()["extra"], "as sent");
}

#[test]
fn auth_status_reports_sources_and_missing() {
    let status = json!({"backends": [{"name": "groq", "last_status": 401}]});
    let out = auth_status(&config(), not_running(), Some(&status));
    assert_eq!(out.missing, vec!["groq".to_string()]);
    let groq = out.backends.iter().find(|b| b.backend == "groq").unwrap();
    assert_eq!(groq.health, CredentialHealth::Missing);
    assert_eq!(groq.deployments[0].health, CredentialHealth::Configured);
    assert_eq!(groq.live.as_ref().unwrap()["last_status"], 401);
    let text = out.render();
    assert!(text.contains("GROQ_API_KEY"), "{text}");
    let all = serde_json::to_string(&out).unwrap() + &text;
    assert!(!all.contains("east-secret"), "{all}");
}

#[test]
fn backends_list_hides_values() {
    let out = backends_list(&config(), not_running(), None);
    let all = serde_json::to_string(&out).unwrap() + &out.render();
    assert!(!all.contains("east-secret"));
    assert!(!all.contains("u:p@"));
    assert!(!all.contains("key=zz"));
    assert!(all.contains("x-custom"));
}

#[test]
fn template_drift() {
    let cfg = config();
    let table = || crate::routing::RouteTable::new(&cfg, None).template();
    let mut proxy = not_running();
    let t = template_info(&cfg, "d1".into(), table(), proxy.clone());
    assert_eq!(t.differs_from_disk, None);
    assert!(t.table.prefixes.iter().any(|p| p.prefix == "groq"));
    assert!(t.render().contains("claude-*"), "{}", t.render());
    proxy.running = true;
    proxy.config_digest = Some("d1".into());
    assert_eq!(
        template_info(&cfg, "d1".into(), table(), proxy.clone()).differs_from_disk,
        Some(false)
    );
    proxy.config_digest = Some("d2".into());
    let t = template_info(&cfg, "d1".into(), table(), proxy);
    assert_eq!(t.differs_from_disk, Some(true));
    assert!(t.render().contains("differs from disk"));
    let responses = t
        .endpoints
        .iter()
        .find(|e| e.endpoint == "POST /v1/responses")
        .expect("the Responses endpoint is listed");
    assert_eq!(responses.protocol, "responses");
    assert!(t.render().contains("POST /v1/responses (responses)"));
}

#[test]
fn fingerprint_lists_hosts_and_tls() {
    let cfg = config();
    let f = fingerprint_info(Ok(&cfg), Some("dd".into()), not_running());
    assert!(f.render().contains("POST /v1/responses"));
    let hosts: Vec<_> = f.upstream_hosts.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(hosts, ["api.anthropic.com", "api.groq.com", "east.example"]);
    assert_ne!(f.tls.library_version, "unknown");
    assert!(
        f.tls.protocol_versions.iter().any(|v| v == "TLS 1.3"),
        "{:?}",
        f.tls
    );
    let openai = &f.request_headers["openai"];
    assert!(openai
        .added
        .contains(&"authorization (backend credential)".to_string()));
    assert!(!openai.added.iter().any(|h| h.contains("x-api-key")));
    assert_eq!(f.request_headers["anthropic"].auth_header, "x-api-key");
    assert!(f.render().contains("api.groq.com"));
}

#[test]
fn analytics_window_bounds() {
    assert_eq!(window_minutes(&AnalyticsArgs::default()), Ok(60));
    assert_eq!(
        window_minutes(&AnalyticsArgs {
            window_minutes: Some(5)
        }),
        Ok(5)
    );
    let e = window_minutes(&AnalyticsArgs {
        window_minutes: Some(0),
    })
    .unwrap_err();
    assert!(e.contains("between 1 and 1440"), "{e}");
    let out = analytics_summary(
        60,
        not_running(),
        Fetch::NotRunning("proxy not running: x".into()),
    );
    assert!(out.analytics.is_none());
    assert!(out.render().contains("proxy not running"));
}

#[test]
fn pool_and_analytics_rendering() {
    // The bodies as the proxy writes them (`admin_api::Pool`).
    let deployment = crate::pool::DeploymentSnapshot {
        alias: "east".into(),
        base_url: "https://east.example/v1".into(),
        credential: "env GROQ_API_KEY".into(),
        credential_missing: false,
        headroom: 0.25,
        in_flight: 3,
        cooling: true,
        cooldown_remaining_ms: 1500,
        cooldown_reason: Some(crate::pool::CooldownReason::RateLimited),
        consecutive_failures: 1,
        last_status: Some(429),
        last_error: None,
        responses: 5,
        failures: 1,
        limits: vec![],
    };
    let body = |backends, cluster| {
        serde_json::to_value(crate::admin_api::Pool {
            pools: crate::pool::PoolSnapshot { backends },
            cluster,
        })
        .unwrap()
    };
    let pool = body(
        vec![crate::pool::BackendPoolSnapshot {
            backend: "groq".into(),
            available: 1,
            sticky_keys: 2,
            deployments: vec![deployment],
        }],
        None,
    );
    let text = render_pool(&pool).unwrap();
    assert!(
        text.contains("groq: 1 of 1 deployment(s) available, 2 sticky"),
        "{text}"
    );
    assert!(
        text.contains(
            "east: headroom 25%, 3 in flight, COOLING 1.5 s (rate_limited), last status 429"
        ),
        "{text}"
    );
    assert!(render_pool(&json!({"other": 1})).is_none());
    let clustered = body(
        vec![],
        Some(crate::cluster::ClusterStatus {
            instance_id: "i1".into(),
            redis: "redis://r:6379".into(),
            namespace: "team".into(),
            state: "unreachable: routing on local state".into(),
            connected: false,
            down_for_secs: Some(4),
            last_error: Some("connection refused".into()),
            timeout_ms: 50,
            team_limits: Default::default(),
            events_published: 0,
            events_received: 0,
            events_dropped: 0,
            sticky_lookups: 0,
            sticky_lookup_hits: 0,
            local_fallbacks: 3,
            team_limited: 1,
            resyncs: 0,
        }),
    );
    let text = render_pool(&clustered).unwrap();
    assert!(
        text.contains("Cluster: instance i1 via redis://r:6379 (namespace team): unreachable: routing on local state — connection refused; 3 request(s) on local state, 1 refused by team limits"),
        "{text}"
    );
    let a = serde_json::to_value(analytics_body()).unwrap();
    let text = render_analytics(&a, 15).unwrap();
    assert!(text.starts_with("Window (last 15 min): 4 req, 1 err, 100 tokens, $0.5000, latency p50 120 ms / p95 300 ms, TTFB p50 80 ms"), "{text}");
    assert!(
        text.contains("  tokens: 60 in, 40 out, 0 cache read, 0 cache write (0 reasoning)"),
        "{text}"
    );
    assert!(text.contains("burn: 10.0 tokens/min, $1.0000/h"), "{text}");
    assert!(text.contains("groq: 4 req"), "{text}");
    assert!(text.contains("groq llama: 4 req"), "{text}");
    assert!(text.contains("All time: 9 req"), "{text}");
    assert!(
        text.contains("Failovers (by failing backend): groq 2"),
        "{text}"
    );
    assert!(
        text.contains("without a price (cost counted as 0): x"),
        "{text}"
    );
    assert!(!text.contains("Instance"), "{text}");
    assert!(render_analytics(&json!({"requests": 1}), 60).is_err());
    // In cluster mode the body says which instance answered.
    let mut clustered = analytics_body();
    clustered.instance_id = Some("i-7".into());
    clustered.scope = Some("instance".into());
    let text = render_analytics(&serde_json::to_value(clustered).unwrap(), 15).unwrap();
    assert!(text.contains("Instance i-7 only"), "{text}");
}

/// An `/analytics` body as the proxy writes it (`admin_api::Analytics`).
fn analytics_body() -> crate::admin_api::Analytics {
    use crate::analytics::{
        BucketSummary, Burn, GroupSummary, Quantiles, Section, Summary, Tokens, WindowSummary,
    };
    let q = |p50, p95| Quantiles { p50, p95, max: p95 };
    let group = |backend: Option<&str>, model: Option<&str>, requests, errors| GroupSummary {
        backend: backend.map(str::to_string),
        deployment: None,
        model: model.map(str::to_string),
        requests,
        errors,
        streamed: 0,
        unpriced_requests: 0,
        attempts: requests,
        retried: 0,
        tokens: Tokens {
            input: 60,
            output: 40,
            cache_read: 0,
            cache_write: 0,
            reasoning: 0,
            total: 100,
        },
        cost_usd: 0.5,
        latency_ms: q(Some(120.0), Some(300.0)),
        ttfb_ms: q(Some(80.0), None),
        overhead_ms: q(None, None),
    };
    let section = |totals| Section {
        totals,
        by_backend: vec![group(Some("groq"), None, 4, 1)],
        by_deployment: vec![],
        by_model: vec![group(Some("groq"), Some("llama"), 4, 1)],
    };
    crate::admin_api::Analytics {
        summary: Summary {
            generated_at: "2026-01-01T00:00:00Z".into(),
            quantile_method: crate::analytics::QUANTILE_METHOD.into(),
            window: WindowSummary {
                window_secs: 900,
                window_start: "2025-12-31T23:45:00Z".into(),
                bucket_secs: 300,
                burn: Burn {
                    span_secs: 600,
                    tokens_per_min: 10.0,
                    usd_per_hour: 1.0,
                },
                section: section(group(None, None, 4, 1)),
                buckets: vec![BucketSummary {
                    start: "2025-12-31T23:45:00Z".into(),
                    requests: 4,
                    errors: 1,
                    tokens: 100,
                    cost_usd: 0.5,
                }],
            },
            all_time: section(group(None, None, 9, 1)),
            records_total: 9,
            records_kept: 9,
            records_dropped: 0,
            failovers: [("groq".to_string(), 2)].into(),
            unpriced_models: vec!["x".into()],
        },
        instance_id: None,
        scope: None,
    }
}

#[test]
fn an_analytics_body_of_another_shape_is_shown_as_sent_not_as_zeros() {
    let mut a = serde_json::to_value(analytics_body()).unwrap();
    // A field renamed on the proxy's side (an older or newer dario).
    let totals = a["window"]["totals"].as_object_mut().unwrap();
    let n = totals.remove("requests").unwrap();
    totals.insert("request_count".into(), n);
    let out = analytics_summary(
        15,
        proxy_state("127.0.0.1:1", &Fetch::Ok(json!({"version": "9.9.9"}))).0,
        Fetch::Ok(a.clone()),
    );
    // The structured output is the body as sent.
    assert_eq!(out.analytics.as_ref(), Some(&a));
    let text = out.render();
    assert!(text.contains("not the shape this dario"), "{text}");
    assert!(text.contains("missing field `requests`"), "{text}");
    assert!(text.contains("request_count: 4"), "{text}");
    assert!(!text.contains("Window (last"), "{text}");
    assert!(!text.contains("0 req"), "{text}");
}

#[test]
fn value_rendering() {
    let v = json!({"a": 1, "b": {"c": [1, {"d": "x"}]}, "e": []});
    assert_eq!(
        render_value(&v, 0),
        "a: 1\nb:\n  c:\n    - 1\n    -\n      d: x\ne: []\n"
    );
}
