//! `doctor`: the health report (the doctor's rows) next to the live proxy line.
//!
//! Owns: this tool's output type, how it is built from its inputs, and its text. Must not: do
//! I/O (the server gathers inputs through `server::run`).

use super::*;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DoctorOut {
    pub proxy: ProxyState,
    /// The report `dario doctor --json` prints: version, ok, summary, checks.
    #[serde(flatten)]
    pub report: Report,
}

pub fn doctor(report: Report, proxy: ProxyState) -> DoctorOut {
    DoctorOut { proxy, report }
}

impl Rendered for DoctorOut {
    fn render(&self) -> String {
        let headline = if self.report.ok {
            "healthy"
        } else {
            "PROBLEMS FOUND"
        };
        // FAIL first, then WARN, OK, INFO (stable within a status).
        let mut rows = self.report.checks.clone();
        rows.sort_by_key(|c| c.status);
        format!(
            "dario doctor: {headline} ({}).\n{}\n\n{}",
            self.report.summary.line(),
            proxy_line(&self.proxy),
            crate::doctor::render_human(&rows)
        )
    }
}
