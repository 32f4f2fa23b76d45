//! What the pools look like at one moment (`GET /pool`, `/metrics` gauges, `dario mcp`):
//! plain serialisable copies, taken under each deployment's lock for a few field reads.
//!
//! Owns: the snapshot's shape. Must not: hold a reference into the live state.

use serde::Serialize;

use super::{CooldownReason, Dimension};

/// One deployment's gauges (`/metrics`, rendered by `analytics`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentGauge {
    pub backend: String,
    pub deployment: String,
    /// 0.0–1.0.
    pub headroom: f64,
    /// Seconds until the cooldown ends; 0 when not cooling.
    pub cooldown_seconds: f64,
}

/// Every pool at one moment (`GET /pool`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PoolSnapshot {
    /// Sorted by backend name.
    pub backends: Vec<BackendPoolSnapshot>,
}

impl PoolSnapshot {
    /// The per-deployment gauges of `/metrics`.
    pub fn deployment_gauges(&self) -> Vec<DeploymentGauge> {
        self.backends
            .iter()
            .flat_map(|b| {
                b.deployments.iter().map(|d| DeploymentGauge {
                    backend: b.backend.clone(),
                    deployment: d.alias.clone(),
                    headroom: d.headroom,
                    cooldown_seconds: d.cooldown_remaining_ms as f64 / 1000.0,
                })
            })
            .collect()
    }

    pub fn backend(&self, name: &str) -> Option<&BackendPoolSnapshot> {
        self.backends.iter().find(|b| b.backend == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct BackendPoolSnapshot {
    pub backend: String,
    /// Deployments not cooling down.
    pub available: usize,
    /// Live conversation bindings (0 for a single-deployment backend, which needs none).
    pub sticky_keys: usize,
    pub deployments: Vec<DeploymentSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct DeploymentSnapshot {
    pub alias: String,
    /// Without userinfo, query or fragment.
    pub base_url: String,
    /// Where the credential comes from, never any part of it.
    pub credential: String,
    /// The key's environment variable is not set: chosen only as a last resort.
    pub credential_missing: bool,
    /// Smallest known remaining/limit fraction, 1.0 when unknown.
    pub headroom: f64,
    pub in_flight: u64,
    pub cooling: bool,
    pub cooldown_remaining_ms: u64,
    pub cooldown_reason: Option<CooldownReason>,
    pub consecutive_failures: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<CooldownReason>,
    /// Responses reported (any status).
    pub responses: u64,
    /// Rate limits, retryable 5xx, connect errors and timeouts.
    pub failures: u64,
    /// Only dimensions an upstream reported.
    pub limits: Vec<LimitSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LimitSnapshot {
    pub dimension: Dimension,
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub reset_in_ms: Option<u64>,
}
