//! `dario doctor`: health checks as data (`Check { status, label, detail }`), rendered by the CLI,
//! `--json` and the MCP `doctor` tool alike (SPEC §7). Must not: print directly.
