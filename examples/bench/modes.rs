//! The internal modes the harness re-executes itself in: the stand-in upstream, dario's library
//! server, and `--drive` (a plain sequential client for profiling a server by hand). Must not:
//! measure anything itself beyond what `--drive` prints.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::requests::{chat_req, Proto};
use crate::stats::{us, Dist};
use crate::{load, upstream, Cli, EVENTS};

pub fn serve_upstream(cli: &Cli) {
    let events = cli.events;
    let pace = Duration::from_millis(cli.pace_ms);
    // One thread: a current-thread runtime (the default, lean); more for the pinned mode, where
    // the upstream must outrun a proxy on several cores.
    let rt = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    }
    .expect("runtime");
    rt.block_on(upstream::serve(
        ([127, 0, 0, 1], 0).into(),
        upstream::StreamShape { events, pace },
        |addr| {
            use std::io::Write;
            println!("listening {addr}");
            let _ = std::io::stdout().flush();
        },
    ));
}

/// dario's library server as its own process, with backends pointing at the upstream (used until
/// the binary reads backend files from `DARIO_HOME`). Same runtime as `dario proxy`.
pub fn serve_dario(cli: &Cli) {
    use dario::config::{BackendConfig, BackendSource, Config, Credential, Limits};
    use dario::protocol::Protocol;
    let up: SocketAddr = cli.upstream.expect("--upstream ADDR");
    let max_in_flight = cli.max_in_flight.unwrap_or(Limits::default().max_in_flight);
    // `--key K`: the backends hold a configured key (so every response passes the secret
    // scrubber, for measuring its cost); default: the client's credential is passed through.
    let credential = match &cli.key {
        Some(k) => Credential::Key {
            key: dario::config::Secret::new(k.clone()),
        },
        None => Credential::Passthrough,
    };
    let backend = |name: &str, protocol, base_url: String| BackendConfig {
        name: name.into(),
        protocol,
        base_url,
        credential: credential.clone(),
        models: vec![],
        headers: vec![],
        deployments: vec![],
        system_messages: None,
        responses: false,
        source: BackendSource::BuiltIn,
    };
    let mut backends = BTreeMap::new();
    backends.insert(
        "anthropic".to_string(),
        backend("anthropic", Protocol::Anthropic, format!("http://{up}")),
    );
    backends.insert(
        "openai".to_string(),
        backend("openai", Protocol::OpenAi, format!("http://{up}/v1")),
    );
    let config = Config {
        home: std::env::temp_dir(),
        default_backend: None,
        aliases: BTreeMap::new(),
        routes: vec![],
        backends,
        limits: Limits {
            max_in_flight,
            ..Limits::default()
        },
        prices: BTreeMap::new(),
        models: BTreeMap::new(),
        files: vec![],
        cluster: None,
        history: Default::default(),
    };
    let options = dario::proxy::ProxyOptions {
        listen: ([127, 0, 0, 1], 0).into(),
        api_key: None,
        cors_origin: None,
        model_override: None,
        verbosity: 0,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let bound = dario::proxy::bind(config, options, false)
            .await
            .expect("bind dario");
        {
            use std::io::Write;
            println!("listening {}", bound.local_addr());
            let _ = std::io::stdout().flush();
        }
        bound.serve(dario::proxy::shutdown_signal()).await;
    });
}

/// Sends `--n` sequential 2 KiB requests to `--target` (for profiling a server under
/// callgrind or perf): `--drive --target ADDR [--proto openai|anthropic] [--n N] [--size BYTES]
/// [--model NAME] [--stream]` (streams need an upstream started with `--pace-ms 0`).
pub fn drive(cli: &Cli) {
    let addr: SocketAddr = cli.target.expect("--target ADDR");
    let proto = match cli.proto.as_str() {
        "anthropic" => Proto::Anthropic,
        _ => Proto::OpenAi,
    };
    // `--model NAME` picks the route (e.g. an OpenAI model on the Anthropic endpoint = a
    // translated lane); default: the protocol's own passthrough model.
    let model = cli
        .model
        .clone()
        .unwrap_or_else(|| proto.model().to_string());
    let (n, size) = (cli.n, cli.size);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if cli.stream {
        let req = chat_req(proto, &model, size, true);
        let ok = rt.block_on(async {
            let mut ok = 0;
            let mut c = load::connect(addr).await.expect("connect");
            for _ in 0..n {
                if load::stream_once(&mut c, &req, EVENTS).await.ok {
                    ok += 1;
                }
            }
            ok
        });
        println!("{ok} of {n} streams complete");
        return;
    }
    let r = rt.block_on(load::sequential(
        addr,
        &chat_req(proto, &model, size, false),
        0,
        n,
    ));
    let d = Dist::of(r.lat_ns);
    println!(
        "{} ok, {} errors, p50 {} µs, p99 {} µs",
        d.n,
        r.errors,
        us(d.p50),
        us(d.p99)
    );
}
