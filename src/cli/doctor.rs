//! `dario doctor [--json] [--online]`: runs [`crate::doctor::run_checks`] and renders the rows;
//! exit 1 iff a row is FAIL.

use std::process::ExitCode;

use clap::Args;

use crate::doctor::{self, DoctorOptions, Report};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the rows as JSON ({version, ok, summary, checks: [{status, label, detail, fix?}]}).
    #[arg(long)]
    pub json: bool,
    /// Also probe each backend's model list (one GET per deployment, 5 s timeout).
    #[arg(long)]
    pub online: bool,
}

pub fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let opts = DoctorOptions {
        online: args.online,
    };
    let report = Report::new(runtime.block_on(doctor::run_checks(&opts)));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", doctor::render_human(&report.checks));
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
