//! HTTPS upstreams, through the real `dario` binary: a stand-in behind TLS with a certificate from
//! a throwaway CA. dario trusts the platform's roots (here `SSL_CERT_FILE`, as on any Linux box),
//! negotiates HTTP/2 by ALPN, reuses the connection, streams through it — and refuses a server
//! whose certificate it cannot verify, saying why, without sending it the request.

use crate::support;

use std::sync::Arc;

use serde_json::json;
use support::home::DarioHome;
use support::process::{start_process, Running};
use support::standin::{Reply, StandIn};
use support::*;

/// A CA and a server certificate for `localhost` / `127.0.0.1` signed by it.
struct Pki {
    ca_pem: String,
    server: Arc<tokio_rustls::rustls::ServerConfig>,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "dario test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut server = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Pki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
    }
}

/// `dario proxy` with both backends pointing at `https://localhost:<port>` and `SSL_CERT_FILE`
/// naming `trusted` (a PEM file).
fn start_dario(home: &DarioHome, port: u16, trusted: &std::path::Path) -> Running {
    home.passthrough_builtins(
        &format!("https://localhost:{port}"),
        &format!("https://localhost:{port}/v1"),
    );
    spawn_dario(home, trusted)
}

/// `dario proxy` with `SSL_CERT_FILE` naming `trusted` and an empty `SSL_CERT_DIR`, so the
/// trust store is exactly that file.
fn spawn_dario(home: &DarioHome, trusted: &std::path::Path) -> Running {
    let cert_dir = home.home().join("no-certs");
    std::fs::create_dir_all(&cert_dir).unwrap();
    start_process(
        home.dir(),
        &["proxy"],
        &[
            ("SSL_CERT_FILE", trusted),
            ("SSL_CERT_DIR", cert_dir.as_path()),
        ],
    )
}

#[tokio::test]
async fn https_upstream_over_http2_with_the_platform_trust_store() {
    let pki = pki();
    let standin = StandIn::start_tls(pki.server.clone()).await;
    let home = DarioHome::new();
    let ca_file = home.home().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let dario = start_dario(&home, standin.addr.port(), &ca_file);
    let http = client();

    // Non-streaming, both protocols.
    let r = post_anthropic(
        &http,
        &dario.base,
        json!({"model": "claude-sonnet-4-5", "max_tokens": 16,
                      "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body = json(r).await;
    assert_eq!(body["type"], "message", "{body}");
    let seen = standin.last();
    // Over HTTP/2 the request target is absolute (`:scheme` + `:authority` + `:path`).
    assert_eq!(path_of(&seen.uri), "/v1/messages");
    assert_eq!(seen.version, http::Version::HTTP_2, "ALPN should pick h2");
    assert_eq!(seen.header("x-api-key").as_deref(), Some("sk-ant-client"));
    assert!(seen.header("user-agent").unwrap().contains("dario/"));

    let r = post_openai(
        &http,
        &dario.base,
        "sk-client",
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["object"], "chat.completion");
    assert_eq!(path_of(&standin.last().uri), "/v1/chat/completions");

    // A stream through the same connection, delivered whole.
    let chunk = |delta: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    standin.push(Reply::sse(vec![
        chunk(r#"{"role":"assistant","content":"Hel"}"#, "null"),
        chunk(r#"{"content":"lo"}"#, r#""stop""#),
        "data: [DONE]\n\n".to_string(),
    ]));
    let r = post_openai(
        &http,
        &dario.base,
        "sk-client",
        json!({"model": "gpt-4o", "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains(r#""content":"Hel""#), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // Several requests, one TLS connection (HTTP/2 multiplexes; nothing reconnects).
    for _ in 0..5 {
        let r = post_openai(
            &http,
            &dario.base,
            "sk-client",
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
        assert_eq!(r.status(), 200);
    }
    // A JSON reply with a content-length, sent in two DATA frames and closed by a third, empty
    // one (END_STREAM after the last byte): relayed whole and accounted as complete.
    let first = r#"{"id":"c2","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"#;
    let second = r#""message":{"role":"assistant","content":"split"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":9}}"#;
    let length = (first.len() + second.len()).to_string();
    standin.push(
        Reply::sse(vec![first.to_string(), second.to_string()])
            .paced(std::time::Duration::from_millis(5))
            .with_headers(&[
                ("content-type", "application/json"),
                ("content-length", length.as_str()),
            ]),
    );
    let r = post_openai(
        &http,
        &dario.base,
        "sk-client",
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("content-length")
            .map(|v| v.to_str().unwrap().to_string()),
        Some(length.clone()),
        "a passthrough JSON body keeps its length"
    );
    assert_eq!(json(r).await["choices"][0]["message"]["content"], "split");

    assert_eq!(standin.requests().len(), 9);
    assert_eq!(standin.opened_connections(), 1);

    // Every response over HTTP/2 was accounted as complete, with the usage the stand-in sent
    // (9 output tokens per JSON reply; the hand-written event stream carried none).
    std::thread::sleep(std::time::Duration::from_millis(100));
    let s = json(
        http.get(format!("{}/analytics?window=60", dario.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let totals = &s["window"]["totals"];
    assert_eq!(totals["requests"], 9, "{s}");
    assert_eq!(totals["errors"], 0, "{s}");
    assert_eq!(totals["tokens"]["output"], 8 * 9, "{s}");
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_before_any_request_is_sent() {
    let pki = pki();
    let standin = StandIn::start_tls(pki.server.clone()).await;
    // dario trusts a different CA only.
    let other = pki_other_ca();
    let home = DarioHome::new();
    let ca_file = home.home().join("other-ca.pem");
    std::fs::write(&ca_file, other).unwrap();
    let dario = start_dario(&home, standin.addr.port(), &ca_file);

    let r = post_openai(
        &client(),
        &dario.base,
        "sk-client-secret-123456",
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 502);
    let body = json(r).await;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("could not connect to backend `openai`")
            && message.contains("certificate"),
        "the error should say the certificate was refused: {body}"
    );
    assert!(
        standin.requests().is_empty(),
        "nothing may reach an unverified server"
    );
}

/// A PEM CA certificate unrelated to the stand-in's.
fn pki_other_ca() -> String {
    pki().ca_pem
}

/// `POST /v1/chat/completions` as an OpenAI client with its own key.
async fn post_openai(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    http.post(format!("{base}/v1/chat/completions"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// `POST /v1/messages` as an Anthropic client with its own key.
async fn post_anthropic(
    http: &reqwest::Client,
    base: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    http.post(format!("{base}/v1/messages"))
        .header("x-api-key", "sk-ant-client")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

fn path_of(uri: &str) -> String {
    uri.parse::<http::Uri>().unwrap().path().to_string()
}

/// A machine without any CA certificate (a minimal container): dario still starts and serves
/// plain-HTTP backends; an HTTPS backend fails with a 502 that names the certificate problem.
#[tokio::test]
async fn without_ca_certificates_http_backends_still_work() {
    let plain = StandIn::start().await;
    let pki = pki();
    let tls = StandIn::start_tls(pki.server.clone()).await;
    let home = DarioHome::new();
    let empty = home.home().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    home.passthrough_builtins(
        &format!("https://localhost:{}", tls.addr.port()),
        &plain.openai_url(),
    );
    let dario = spawn_dario(&home, &empty);
    let http = client();

    let r = post_openai(
        &http,
        &dario.base,
        "sk-client",
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200, "plain HTTP works without a trust store");

    let r = post_anthropic(
        &http,
        &dario.base,
        json!({"model": "claude-sonnet-4-5", "max_tokens": 16,
                   "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 502);
    let body = json(r).await;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("certificate"), "{body}");
    assert!(tls.requests().is_empty());
}
