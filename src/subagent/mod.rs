//! The Claude Code sub-agent: template (embedded from `agents/dario.md`), install/remove/status
//! (SPEC §9). Must not: touch any file but its own target.
