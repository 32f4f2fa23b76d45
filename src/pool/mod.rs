//! Pools: deployments of a backend, their live rate-limit headroom, cooldowns, stickiness (SPEC §5).
//!
//! Owns: per-deployment state and the selection rule. Must not: hold a lock across `.await`,
//! do network I/O.
