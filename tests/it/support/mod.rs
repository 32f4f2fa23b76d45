//! Shared test support, declared once in `main.rs`: here the real dario server in this process
//! on an ephemeral loopback port with a config built in code, the backends tests point at the
//! stand-in, and the test HTTP client. `standin` is the upstream stand-in (also built into the
//! examples), `raw` a raw TCP upstream for misbehaving servers, `home` temporary homes and the
//! clean `dario` command, `process` `dario proxy` as a child process, `redis_server` a real
//! `redis-server` for the cluster tests.
//!
//! Must not: touch process-wide state (environment variables, the current directory) — every
//! test of the binary shares this process.

pub mod home;
pub mod process;
pub mod raw;
pub mod redis_server;
pub mod standin;

use std::net::SocketAddr;

use dario::config::{BackendConfig, Config, Credential, Secret};
use dario::protocol::Protocol;
use dario::proxy::{self, ProxyOptions};

pub use standin::{Reply, StandIn};

/// A backend pointing at a stand-in.
pub fn backend(
    name: &str,
    protocol: Protocol,
    base_url: &str,
    credential: Credential,
) -> BackendConfig {
    BackendConfig::new(name, protocol, base_url, credential)
}

/// An OpenAI-protocol backend `name` at the stand-in, without a credential, serving `models`
/// (the usual "compat" backend of an OpenAI-compatible server).
pub fn openai_backend(name: &str, standin: &StandIn, models: &[&str]) -> BackendConfig {
    let mut b = backend(
        name,
        Protocol::OpenAi,
        &standin.openai_url(),
        Credential::None,
    );
    b.models = models.iter().map(|m| m.to_string()).collect();
    b
}

pub fn key(k: &str) -> Credential {
    Credential::Key {
        key: Secret::new(k),
    }
}

/// A config whose built-in `anthropic` and `openai` backends point at the stand-in.
pub fn config_for(standin: &StandIn, extra: Vec<BackendConfig>) -> Config {
    let mut cfg = Config::builtin(std::env::temp_dir(), &|_| None)
        .with_backend(backend(
            "anthropic",
            Protocol::Anthropic,
            &standin.anthropic_url(),
            Credential::Passthrough,
        ))
        .with_backend(backend(
            "openai",
            Protocol::OpenAi,
            &standin.openai_url(),
            Credential::Passthrough,
        ));
    for b in extra {
        cfg = cfg.with_backend(b);
    }
    cfg
}

/// A dario server running in this process.
pub struct Dario {
    pub addr: SocketAddr,
    pub state: std::sync::Arc<dario::proxy::ProxyState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Dario {
    pub async fn start(config: Config) -> Dario {
        Self::start_with(config, |_| {}).await
    }

    pub async fn start_with(config: Config, tweak: impl FnOnce(&mut ProxyOptions)) -> Dario {
        let mut options = ProxyOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            api_key: None,
            cors_origin: None,
            model_override: None,
            verbosity: 0,
        };
        tweak(&mut options);
        let bound = proxy::bind(config, options, false)
            .await
            .expect("bind dario");
        let addr = bound.local_addr();
        let state = bound.state.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(bound.serve(async {
            let _ = rx.await;
        }));
        Dario {
            addr,
            state,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Signals shutdown and waits for the server to finish draining.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Dario {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// A plain HTTP client for tests (no connection reuse surprises).
pub fn client() -> reqwest::Client {
    dario::proxy::install_crypto_provider();
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Polls `count` every 20 ms, for 5 s at most, until it reaches `want`; returns its last value,
/// for the caller to assert (so a miss fails with the caller's own message).
pub async fn count_reaching(count: impl Fn() -> usize, want: usize) -> usize {
    for _ in 0..250 {
        if count() >= want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    count()
}

/// Waits (generously) until no request holds an admission slot: nothing was left hanging.
pub async fn no_request_in_flight(dario: &Dario) {
    let max = dario.state.snapshot.load().config.limits.max_in_flight;
    for _ in 0..500 {
        if dario.state.admission.in_flight(max) == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!(
        "{} request(s) still in flight",
        dario.state.admission.in_flight(max)
    );
}

/// Reads the JSON body of a response.
pub async fn json(resp: reqwest::Response) -> serde_json::Value {
    let bytes = resp.bytes().await.unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}
