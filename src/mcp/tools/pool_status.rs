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

/// The proxy's `/pool` snapshot, one line per backend and deployment. `None` when the body
/// does not have the expected shape (the generic rendering is used then).
pub fn render_pool(pool: &Value) -> Option<String> {
    let backends = pool.get("backends")?.as_array()?;
    let mut out = String::new();
    for b in backends {
        let name = b.get("backend")?.as_str()?;
        let deployments = b.get("deployments")?.as_array()?;
        out.push_str(&format!(
            "- {name}: {} of {} deployment(s) available, {} sticky conversation(s)\n",
            b.get("available").and_then(Value::as_u64).unwrap_or(0),
            deployments.len(),
            b.get("sticky_keys").and_then(Value::as_u64).unwrap_or(0)
        ));
        for d in deployments {
            let mut line = format!(
                "    {}: headroom {}, {} in flight",
                d.get("alias").and_then(Value::as_str).unwrap_or("?"),
                num(d, "/headroom").map_or("?".to_string(), |h| format!("{:.0}%", h * 100.0)),
                d.get("in_flight").and_then(Value::as_u64).unwrap_or(0)
            );
            if d.get("cooling").and_then(Value::as_bool) == Some(true) {
                line.push_str(&format!(
                    ", COOLING {:.1} s",
                    num(d, "/cooldown_remaining_ms").unwrap_or(0.0) / 1000.0
                ));
                if let Some(r) = d.get("cooldown_reason").and_then(Value::as_str) {
                    line.push_str(&format!(" ({r})"));
                }
            }
            if d.get("credential_missing").and_then(Value::as_bool) == Some(true) {
                line.push_str(", credential MISSING");
            }
            if let Some(st) = d.get("last_status").and_then(Value::as_u64) {
                line.push_str(&format!(", last status {st}"));
            }
            if let Some(e) = d.get("last_error").and_then(Value::as_str) {
                line.push_str(&format!(", last error: {e}"));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    if backends.is_empty() {
        out.push_str("  (no backends)\n");
    }
    if let Some(c) = pool.get("cluster").filter(|c| c.is_object()) {
        let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("?");
        out.push_str(&format!(
            "Cluster: instance {} via {} (namespace {}): {}",
            text("instance_id"),
            text("redis"),
            text("namespace"),
            text("state")
        ));
        if let Some(e) = c.get("last_error").and_then(Value::as_str) {
            out.push_str(&format!(" — {e}"));
        }
        out.push_str(&format!(
            "; {} request(s) on local state, {} refused by team limits\n",
            c.get("local_fallbacks")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            c.get("team_limited").and_then(Value::as_u64).unwrap_or(0)
        ));
    }
    Some(out)
}
