//! The `cluster` row: whether the `[cluster]` Redis answers, and which instances publish to it.
//!
//! Owns: that one row. Must not: write to Redis, or show the password (only the URL without
//! userinfo, and the name of `password_env`).

use std::time::Duration;

use super::{Check, Status};
use crate::config::ClusterConfig;

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

pub(super) async fn row(c: &ClusterConfig) -> Check {
    let url = c.display_url();
    if let Some(var) = &c.password_env {
        if c.password.is_none() {
            return Check::new(
                Status::Fail,
                "cluster",
                format!("Redis at {url}: password_env {var} is not set"),
            )
            .with_fix(format!(
                "export {var}=… (the Redis password) before `dario proxy`"
            ));
        }
    }
    match crate::cluster::probe(c, PROBE_TIMEOUT).await {
        Ok(p) => {
            let who = if p.instances.is_empty() {
                "no instance publishing yet".to_string()
            } else {
                format!(
                    "{} instance(s) publishing: {}",
                    p.instances.len(),
                    p.instances.join(", ")
                )
            };
            Check::new(
                Status::Ok,
                "cluster",
                format!(
                    "Redis at {url} answers (namespace `{}`); {who}",
                    c.namespace
                ),
            )
        }
        Err(e) => Check::new(
            Status::Fail,
            "cluster",
            format!("Redis at {url} does not answer: {e}; each instance routes on its own state until it does"),
        )
        .with_fix("start Redis there, or fix `redis_url` / `password_env` under [cluster] in config.toml (docs/cluster.md)"),
    }
}
