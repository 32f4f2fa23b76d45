//! `pool_status`: the running proxy's pool snapshot next to the pools on disk.
//!
//! Owns: this tool's output type, how it is built from its inputs, and its text. Must not: do
//! I/O (the server gathers inputs through `server::run`).

use super::*;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ConfiguredPool {
    pub backend: String,
    pub deployments: Vec<DeploymentInfo>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PoolStatusOut {
    pub proxy: ProxyState,
    /// The running proxy's pool snapshot (`GET /pool`): per deployment headroom, cooldown,
    /// in-flight requests, sticky bindings. `null` when the proxy is not running.
    pub pool: Option<Value>,
    /// Why `pool` is null, when it is.
    pub pool_error: Option<String>,
    /// Pools (backends with several deployments) in the configuration on disk.
    pub configured: Vec<ConfiguredPool>,
    /// Why `configured` is empty because the configuration could not be read, if so.
    pub config_error: Option<String>,
}

pub fn pool_status(cfg: Result<&Config, &str>, proxy: ProxyState, pool: Fetch) -> PoolStatusOut {
    let (configured, config_error) = match cfg {
        Ok(cfg) => (
            cfg.backends
                .values()
                .filter(|b| !b.deployments.is_empty())
                .map(|b| ConfiguredPool {
                    backend: b.name.clone(),
                    deployments: backend_info(b, None).deployments,
                })
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let (pool, pool_error) = match pool {
        Fetch::Ok(v) => (Some(v), None),
        Fetch::NotRunning(e) | Fetch::Failed(e) => (None, Some(e)),
    };
    PoolStatusOut {
        proxy,
        pool,
        pool_error,
        configured,
        config_error,
    }
}

impl Rendered for PoolStatusOut {
    fn render(&self) -> String {
        let mut out = format!("Pool status.\n{}\n\n", proxy_line(&self.proxy));
        match (&self.pool, &self.pool_error) {
            (Some(pool), _) => {
                out.push_str("Live pool (GET /pool):\n");
                out.push_str(&render_pool(pool).unwrap_or_else(|| render_value(pool, 1)));
            }
            (None, Some(_)) if !self.proxy.running => {
                out.push_str("No live pool data (the proxy is not running).\n")
            }
            (None, Some(e)) => out.push_str(&format!("No live pool data: {e}\n")),
            (None, None) => {}
        }
        out.push('\n');
        if let Some(e) = &self.config_error {
            out.push_str(&format!("Configuration unreadable: {e}\n"));
        } else if self.configured.is_empty() {
            out.push_str(
                "No pools configured (a pool is a backend with several deployments: `dario backend add <name> --deployment <alias> --base-url … --key …`).\n",
            );
        } else {
            out.push_str("Configured pools:\n");
            for p in &self.configured {
                out.push_str(&format!("- {}:\n", p.backend));
                for d in &p.deployments {
                    out.push_str(&format!(
                        "    {}: {} — {}\n",
                        d.alias, d.base_url, d.credential
                    ));
                }
            }
        }
        out
    }
}

/// The proxy's `/pool` snapshot (`admin_api::Pool`, the type the proxy writes), one line per
/// backend and deployment. `None` when the body is not of that type (the generic rendering of
/// the body is used then, so a field renamed on one side never shows as 0).
pub fn render_pool(pool: &Value) -> Option<String> {
    let pool: crate::admin_api::Pool = serde_json::from_value(pool.clone()).ok()?;
    // The wire name of a cooldown reason (`rate_limited`).
    let reason = |r: crate::pool::CooldownReason| {
        serde_json::to_value(r)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let mut out = String::new();
    for b in &pool.pools.backends {
        out.push_str(&format!(
            "- {}: {} of {} deployment(s) available, {} sticky conversation(s)\n",
            b.backend,
            b.available,
            b.deployments.len(),
            b.sticky_keys
        ));
        for d in &b.deployments {
            let mut line = format!(
                "    {}: headroom {:.0}%, {} in flight",
                d.alias,
                d.headroom * 100.0,
                d.in_flight
            );
            if d.cooling {
                line.push_str(&format!(
                    ", COOLING {:.1} s",
                    d.cooldown_remaining_ms as f64 / 1000.0
                ));
                if let Some(r) = d.cooldown_reason {
                    line.push_str(&format!(" ({})", reason(r)));
                }
            }
            if d.credential_missing {
                line.push_str(", credential MISSING");
            }
            if let Some(st) = d.last_status {
                line.push_str(&format!(", last status {st}"));
            }
            if let Some(e) = d.last_error {
                line.push_str(&format!(", last error: {}", reason(e)));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    if pool.pools.backends.is_empty() {
        out.push_str("  (no backends)\n");
    }
    if let Some(c) = &pool.cluster {
        out.push_str(&format!(
            "Cluster: instance {} via {} (namespace {}): {}",
            c.instance_id, c.redis, c.namespace, c.state
        ));
        if let Some(e) = &c.last_error {
            out.push_str(&format!(" — {e}"));
        }
        out.push_str(&format!(
            "; {} request(s) on local state, {} refused by team limits\n",
            c.local_fallbacks, c.team_limited
        ));
    }
    Some(out)
}
