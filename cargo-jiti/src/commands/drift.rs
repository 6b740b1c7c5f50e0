//! `cargo jiti drift`: CloudFormation drift detection of the branch's stacks, per resource;
//! exit 1 when something drifted that nobody meant to (hotswapped code is expected drift).

use std::io::Write;

use jiti_core::cloud::CallCounter;
use jiti_core::report::DriftReport;

use crate::cli::DriftArgs;
use crate::shell::{DIM, ERROR, Exit, GOOD, NOTE, Shell, WARNING};

pub fn exec(args: DriftArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let project = super::load_project(&args.project, shell)?;
    let counter = CallCounter::default();
    let timeout = args.wait.timeout;
    let apps = super::runtime()?.block_on(async {
        let apis = super::connect(project.selected_apps(), &args.cloud.connect, &counter).await;
        Ok::<_, anyhow::Error>(jiti_core::drift::detect(&project, &apis, timeout).await?)
    })?;
    let unexpected = apps.iter().map(|a| a.unexpected()).sum();
    let report = DriftReport { apps, unexpected, api_calls: (&counter).into() };
    let exit = if report.unexpected > 0 { Exit::Findings } else { Exit::Success };
    if shell.json() {
        shell.print_report(report)?;
    } else {
        let mut out = shell.out();
        for a in &report.apps {
            if !a.exists {
                writeln!(out, "{NOTE}{}{NOTE:#}: no stack {} to check", a.app, a.stack_name)?;
                continue;
            }
            match a.unexpected() {
                0 => {
                    writeln!(out, "{GOOD}{}{GOOD:#}: {} as its template says", a.app, a.stack_name)?
                }
                n => writeln!(
                    out,
                    "{ERROR}{}{ERROR:#}: {} has {n} drifted resource(s)",
                    a.app, a.stack_name
                )?,
            }
            for d in &a.drifted {
                let (style, why) = match d.expected {
                    true => (DIM, " (expected: code hotswapped since the last deploy)"),
                    false => (WARNING, ""),
                };
                writeln!(
                    out,
                    "  {style}{}{style:#} {} {DIM}{}{DIM:#}{why}",
                    d.status, d.logical_id, d.resource_type
                )?;
                for p in &d.differences {
                    writeln!(out, "      {} {}: {} → {}", p.kind, p.path, p.expected, p.actual)?;
                }
            }
            if !a.not_checked.is_empty() {
                writeln!(
                    out,
                    "  {DIM}not checked (drift detection does not cover them): {}{DIM:#}",
                    a.not_checked.join(", ")
                )?;
            }
            if let Some(reason) = &a.detection_error {
                writeln!(out, "  {WARNING}detection failed in part{WARNING:#}: {reason}")?;
            }
            if a.hotswaps > 0 {
                writeln!(
                    out,
                    "  {DIM}code hotswapped {} time(s) since the last deploy{DIM:#}",
                    a.hotswaps
                )?;
            }
        }
    }
    Ok(exit)
}
