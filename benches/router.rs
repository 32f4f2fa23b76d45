//! Micro-benchmarks of the per-request routing work: the routing table (model name → backend)
//! and the ingress peek (`model`/`stream` from a body) and splice (rewrite `model` in place).
//!
//! `cargo bench --bench router`. Under `cargo test --all-targets` criterion runs each benchmark
//! once, as a smoke test.

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dario::config::{BackendConfig, BackendSource, Config, Credential, Limits};
use dario::protocol::Protocol;
use dario::proxy::{peek, splice_model};
use dario::routing::RouteTable;

fn config() -> Config {
    let backend = |name: &str, protocol, base_url: &str| BackendConfig {
        name: name.into(),
        protocol,
        base_url: base_url.into(),
        credential: Credential::Passthrough,
        models: vec![],
        headers: vec![],
        deployments: vec![],
        system_messages: None,
        responses: false,
        source: BackendSource::BuiltIn,
    };
    let mut backends = BTreeMap::new();
    for (name, proto, url) in [
        ("anthropic", Protocol::Anthropic, "http://127.0.0.1:9"),
        ("openai", Protocol::OpenAi, "http://127.0.0.1:9/v1"),
        ("groq", Protocol::OpenAi, "http://127.0.0.1:9/openai/v1"),
        ("openrouter", Protocol::OpenAi, "http://127.0.0.1:9/api/v1"),
        ("local", Protocol::OpenAi, "http://127.0.0.1:9/v1"),
    ] {
        backends.insert(name.to_string(), backend(name, proto, url));
    }
    Config {
        home: std::env::temp_dir(),
        default_backend: None,
        aliases: BTreeMap::new(),
        routes: vec![],
        backends,
        limits: Limits::default(),
        prices: BTreeMap::new(),
        models: BTreeMap::new(),
        files: vec![],
        cluster: None,
        history: Default::default(),
    }
}

/// A chat body of about `size` bytes with `model` first or last.
fn body(model: &str, size: usize, model_last: bool) -> Vec<u8> {
    let pad: String = "lorem ipsum \\\"dolor\\\" sit amet é✓ "
        .chars()
        .cycle()
        .take(size)
        .collect();
    let messages = format!(
        r#""messages":[{{"role":"user","content":"{pad}"}}],"max_tokens":256,"stream":true"#
    );
    if model_last {
        format!(r#"{{{messages},"model":"{model}"}}"#).into_bytes()
    } else {
        format!(r#"{{"model":"{model}",{messages}}}"#).into_bytes()
    }
}

fn routing(c: &mut Criterion) {
    let table = RouteTable::new(&config(), None);
    let mut g = c.benchmark_group("route");
    for model in [
        "claude-sonnet-4-5",
        "gpt-4o-mini",
        "groq:llama-3.3-70b-versatile",
    ] {
        assert!(table.resolve(model).is_ok(), "{model} must route");
        g.bench_with_input(BenchmarkId::from_parameter(model), model, |b, m| {
            b.iter(|| table.resolve(std::hint::black_box(m)))
        });
    }
    g.finish();
}

fn ingress_peek(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingress_peek");
    for (size, last) in [(2 * 1024, false), (2 * 1024, true), (200 * 1024, true)] {
        let b = body("claude-sonnet-4-5", size, last);
        let p = peek(&b).expect("valid body");
        assert_eq!(p.model, "claude-sonnet-4-5");
        g.throughput(Throughput::Bytes(b.len() as u64));
        let id = format!(
            "{}KiB_model_{}",
            size / 1024,
            if last { "last" } else { "first" }
        );
        g.bench_with_input(BenchmarkId::from_parameter(id), &b, |bench, b| {
            bench.iter(|| peek(std::hint::black_box(b)))
        });
    }
    g.finish();
}

fn ingress_splice(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingress_splice");
    for size in [2 * 1024, 200 * 1024] {
        let b = body("sonnet", size, false);
        let p = peek(&b).expect("valid body");
        let out = splice_model(&b, &p.model_span, "claude-sonnet-4-5");
        assert_eq!(peek(&out).unwrap().model, "claude-sonnet-4-5");
        g.throughput(Throughput::Bytes(b.len() as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{}KiB", size / 1024)),
            &b,
            |bench, b| {
                bench.iter(|| {
                    splice_model(std::hint::black_box(b), &p.model_span, "claude-sonnet-4-5")
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, routing, ingress_peek, ingress_splice);
criterion_main!(benches);
