//! `[cluster]` in config.toml: several dario instances sharing pool state through one Redis
//! (src/cluster, docs/cluster.md).
//!
//! Owns: the section's schema and validation, and the display form of the Redis URL. Must not:
//! connect anywhere, or accept a password written into the file (it comes from `password_env`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::validate::{validate_env_var, validate_name};
use super::Secret;

/// The default key prefix in Redis.
pub const DEFAULT_NAMESPACE: &str = "dario";
/// The default bound on a request's wait for Redis.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5);

/// `[cluster]` as validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterConfig {
    /// `redis://` or `rediss://`, without a password (shown without userinfo).
    #[serde(serialize_with = "serialize_url")]
    pub redis_url: String,
    /// The environment variable holding the Redis password, if any.
    pub password_env: Option<String>,
    /// Its value when the variable is set (never printed, never written anywhere).
    pub password: Option<Secret>,
    /// Prefix of every Redis key and channel, so several teams can share one Redis.
    pub namespace: String,
    /// This instance's name among the others; `None` = hostname and pid.
    pub instance_id: Option<String>,
    /// The longest a request waits on Redis (sticky lookup, team rate limit) before it goes on
    /// with local state.
    pub timeout: Duration,
    /// Team-wide limits per backend (`[cluster.limits.<backend>]`).
    pub limits: BTreeMap<String, TeamLimit>,
}

/// One backend's team-wide limits over a sliding 60 s window, across every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamLimit {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens (input + output) per minute.
    pub tpm: Option<u64>,
}

/// `[cluster]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCluster {
    redis_url: String,
    password_env: Option<String>,
    namespace: Option<String>,
    instance_id: Option<String>,
    timeout_ms: Option<u64>,
    #[serde(default)]
    limits: BTreeMap<String, TeamLimit>,
}

impl RawCluster {
    /// Validates the section (the password is read later, by [`ClusterConfig::read_password`]).
    pub(crate) fn build(self) -> Result<ClusterConfig, String> {
        let url = self.redis_url.trim().to_string();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!(
                "`redis_url` must look like redis://host:6379 or rediss://host:6380, not `{}`",
                display_url(&url)
            ));
        };
        if scheme != "redis" && scheme != "rediss" {
            return Err(format!(
                "`redis_url` scheme `{scheme}` is not supported: use redis:// or rediss:// (TLS)"
            ));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if userinfo.contains(':') {
                return Err(
                    "`redis_url` must not carry a password: put it in an environment \
                     variable and name that variable in `password_env`"
                        .to_string(),
                );
            }
        }
        if authority.rsplit('@').next().unwrap_or("").is_empty() {
            return Err("`redis_url` has no host (e.g. redis://127.0.0.1:6379)".to_string());
        }
        if let Some(var) = &self.password_env {
            validate_env_var(var).map_err(|e| e.replace("`key_env`", "`password_env`"))?;
        }
        let namespace = self
            .namespace
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        check_word("namespace", &namespace)?;
        if let Some(id) = &self.instance_id {
            check_word("instance_id", id)?;
        }
        let timeout = match self.timeout_ms {
            None => DEFAULT_TIMEOUT,
            Some(ms @ 1..=10_000) => Duration::from_millis(ms),
            Some(ms) => {
                return Err(format!(
                    "`timeout_ms` = {ms}: must be between 1 and 10000 (milliseconds)"
                ))
            }
        };
        for (backend, limit) in &self.limits {
            validate_name("backend", backend).map_err(|e| format!("limits.{backend}: {e}"))?;
            if limit.rpm.is_none() && limit.tpm.is_none() {
                return Err(format!("limits.{backend}: set `rpm`, `tpm` or both"));
            }
            if limit.rpm == Some(0) || limit.tpm == Some(0) {
                return Err(format!(
                    "limits.{backend}: `rpm` and `tpm` must be positive (leave one out for no limit)"
                ));
            }
        }
        Ok(ClusterConfig {
            redis_url: url,
            password_env: self.password_env,
            password: None,
            namespace,
            instance_id: self.instance_id,
            timeout,
            limits: self.limits,
        })
    }
}

fn check_word(what: &str, v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{what}` = \"{v}\": use 1 to 64 letters, digits, `-`, `_` or `.`"
        ))
    }
}

impl ClusterConfig {
    /// Reads the password from `password_env` through `env` (an unset or empty variable: none).
    pub(crate) fn read_password(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        self.password = self
            .password_env
            .as_deref()
            .and_then(env)
            .filter(|v| !v.is_empty())
            .map(Secret::new);
    }

    /// The Redis URL for display: scheme, host, port and database, no userinfo.
    pub fn display_url(&self) -> String {
        display_url(&self.redis_url)
    }
}

/// `safe_url::display`, and nothing at all of a value without `://` (it may be a bare password).
fn display_url(url: &str) -> String {
    if url.contains("://") {
        crate::safe_url::display(url)
    } else {
        "(not a URL)".to_string()
    }
}

fn serialize_url<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&display_url(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<ClusterConfig, String> {
        let raw: RawCluster = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut c = raw.build()?;
        c.read_password(env);
        Ok(c)
    }

    #[test]
    fn defaults_and_limits() {
        let c = build(
            "redis_url = \"redis://127.0.0.1:6379\"\n[limits.groq]\nrpm = 10\n",
            &|_| None,
        )
        .unwrap();
        assert_eq!(c.namespace, "dario");
        assert_eq!(c.timeout, Duration::from_millis(5));
        assert_eq!(c.limits["groq"].rpm, Some(10));
        assert_eq!(c.limits["groq"].tpm, None);
        assert_eq!(c.password, None);
    }

    #[test]
    fn password_comes_from_the_environment_and_never_prints() {
        let c = build(
            "redis_url = \"rediss://user@redis.internal:6380/2\"\npassword_env = \"REDIS_PW\"\n",
            &|k| (k == "REDIS_PW").then(|| "hunter2-canary".to_string()),
        )
        .unwrap();
        assert_eq!(c.password.as_ref().unwrap().expose(), "hunter2-canary");
        let shown = format!("{c:?} {}", serde_json::to_string(&c).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(c.display_url(), "rediss://redis.internal:6380/2");
    }

    #[test]
    fn refusals_say_what_to_do() {
        let e = build("redis_url = \"redis://:pw@h:6379\"\n", &|_| None).unwrap_err();
        assert!(e.contains("password_env") && !e.contains("pw@"), "{e}");
        let e = build("redis_url = \"http://h:6379\"\n", &|_| None).unwrap_err();
        assert!(e.contains("rediss://"), "{e}");
        let e = build("redis_url = \"redis://h\"\nnamespace = \"a b\"\n", &|_| {
            None
        })
        .unwrap_err();
        assert!(e.contains("namespace"), "{e}");
        let e = build("redis_url = \"redis://h\"\n[limits.x]\n", &|_| None).unwrap_err();
        assert!(e.contains("rpm"), "{e}");
        let e = build("redis_url = \"redis://h\"\ntimeout_ms = 0\n", &|_| None).unwrap_err();
        assert!(e.contains("timeout_ms"), "{e}");
        let e = build(
            "redis_url = \"redis://h\"\npassword_env = \"sk-abc\"\n",
            &|_| None,
        )
        .unwrap_err();
        assert!(e.contains("password_env"), "{e}");
    }
}
