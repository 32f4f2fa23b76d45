//! `dario reload`: ask the running proxy to read its configuration from disk again
//! (`POST /admin/reload` on `DARIO_HOST:DARIO_PORT`, with `DARIO_API_KEY` when set). Also used
//! by `dario backend add/remove`, so that a change reaches a running proxy at once and says so.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::proxy_address::ProxyAddress;

#[derive(Debug, Args)]
pub struct ReloadArgs {}

/// What the running proxy said.
#[derive(Debug)]
pub enum Reloaded {
    /// It reloaded (or found nothing changed).
    Done {
        changed: bool,
        backends: Vec<String>,
    },
    /// It refused the configuration on disk and keeps the one it runs; the message says why.
    Refused(String),
    /// No proxy answers on the address.
    NotRunning(String),
    /// Something else went wrong (auth, an old dario without the endpoint…).
    Failed(String),
}

pub fn run(_args: ReloadArgs) -> anyhow::Result<ExitCode> {
    let addr = ProxyAddress::from_env().map_err(anyhow::Error::msg)?;
    Ok(match reload_running_proxy() {
        Reloaded::Done { changed, backends } => {
            println!(
                "{} {}: backends {}",
                if changed {
                    "reloaded the configuration of the proxy on"
                } else {
                    "no change: the proxy on"
                },
                addr.display(),
                backends.join(", ")
            );
            ExitCode::SUCCESS
        }
        Reloaded::Refused(why) => {
            eprintln!("error: the proxy on {} refused the configuration on disk and keeps running the previous one: {why}", addr.display());
            ExitCode::FAILURE
        }
        Reloaded::NotRunning(why) => {
            eprintln!(
                "error: no dario proxy answers on {} ({why}): start one with `dario proxy` (it reads the configuration when it starts)",
                addr.display()
            );
            ExitCode::FAILURE
        }
        Reloaded::Failed(why) => {
            eprintln!(
                "error: could not reload the proxy on {}: {why}",
                addr.display()
            );
            ExitCode::FAILURE
        }
    })
}

/// Sends `POST /admin/reload` to the proxy at `DARIO_HOST:DARIO_PORT` (loopback when bound to
/// all addresses) and interprets the answer. Blocking; at most a few seconds.
pub fn reload_running_proxy() -> Reloaded {
    let addr = match ProxyAddress::from_env() {
        Ok(a) => a,
        Err(e) => return Reloaded::Failed(e),
    };
    let url = addr.url("/admin/reload");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return Reloaded::Failed(format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async move {
        let client =
            match crate::doctor::http_client(Duration::from_millis(500), Duration::from_secs(10)) {
                Ok(c) => c,
                Err(e) => return Reloaded::Failed(e.to_string()),
            };
        let key = std::env::var("DARIO_API_KEY").unwrap_or_default();
        let headers: &[(&str, &str)] = if key.is_empty() {
            &[]
        } else {
            &[("x-api-key", &key)]
        };
        let resp = match client.send(http::Method::POST, &url, headers).await {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Reloaded::NotRunning("connection refused".to_string())
            }
            Err(e) => return Reloaded::Failed(e.to_string()),
        };
        let status = resp.status();
        let body: serde_json::Value = resp
            .read_capped(64 * 1024)
            .await
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let message = body
            .pointer("/error/message")
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_string();
        match status.as_u16() {
            200 => Reloaded::Done {
                changed: body["changed"].as_bool().unwrap_or(true),
                backends: body["backends"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|b| b.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            400 => Reloaded::Refused(
                message
                    .strip_prefix("configuration refused, the running one stays: ")
                    .unwrap_or(&message)
                    .to_string(),
            ),
            401 => Reloaded::Failed(format!(
                "the proxy requires DARIO_API_KEY and {}: set it in this shell",
                if std::env::var("DARIO_API_KEY").is_ok_and(|k| !k.is_empty()) {
                    "the one set here does not match"
                } else {
                    "none is set here"
                }
            )),
            404 | 405 => Reloaded::Failed(
                "that proxy has no /admin/reload (an older dario): restart it, or send it SIGHUP"
                    .to_string(),
            ),
            s => Reloaded::Failed(format!("HTTP {s}: {message}")),
        }
    })
}

/// One line for `dario backend add/remove` about the running proxy, on stderr.
pub fn tell_running_proxy() {
    match reload_running_proxy() {
        Reloaded::Done { .. } => {
            eprintln!("The running proxy picked up the change.")
        }
        Reloaded::Refused(why) => eprintln!(
            "warning: the running proxy refused the new configuration and keeps the previous one: {why}"
        ),
        Reloaded::NotRunning(_) => {}
        Reloaded::Failed(why) => eprintln!(
            "note: could not tell the running proxy ({why}); it picks up changes to its files by itself within a second"
        ),
    }
}
