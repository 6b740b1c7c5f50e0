//! `cargo jiti check`: every finding about config, templates, tags, limits and dependencies.
//! Exit 0 when clean, 1 on errors or warnings, 2 when the check itself could not run.

use std::io::Write;

use jiti_core::check::{self, Severity};
use jiti_core::report::{CheckReport, CheckSummary, CheckedApp};

use crate::cli::CheckArgs;
use crate::shell::{ERROR, Exit, GOOD, NOTE, Shell, WARNING};

pub fn exec(args: CheckArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let options = super::options(&args.project, true)?;
    // An invalid jiti.toml is a finding of `check`, not a failure to run it.
    let (project, result) = check::load_and_check(&options)?;
    if let Some(project) = &project {
        shell.hide(project.secrets());
    }
    let findings = result.findings;
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let summary = CheckSummary {
        errors: count(Severity::Error),
        warnings: count(Severity::Warning),
        infos: count(Severity::Info),
    };
    let report = CheckReport {
        checkout: project.as_ref().map(super::checkout),
        apps: project
            .iter()
            .flat_map(|p| p.selected_apps())
            .map(|a| CheckedApp {
                app: a.name.clone(),
                environment: a.environment.name.clone(),
                stack_name: a.stack_name.clone(),
            })
            .collect(),
        findings,
        summary,
    };
    let failed = report.summary.errors + report.summary.warnings > 0;
    if shell.json() {
        shell.print_report(report)?;
    } else {
        let mut out = shell.out();
        for f in &report.findings {
            let (style, label) = match f.severity {
                Severity::Error => (ERROR, "error"),
                Severity::Warning => (WARNING, "warning"),
                Severity::Info => (NOTE, "info"),
            };
            let app = f.app.as_deref().map(|a| format!("{a}: ")).unwrap_or_default();
            writeln!(out, "{style}{label}[{}]{style:#}: {app}{}", f.code, f.message)?;
            if let Some(file) = &f.file {
                let line = f.line.map(|l| format!(":{l}")).unwrap_or_default();
                writeln!(out, "  --> {}{line}", file.display())?;
            }
        }
        let verdict =
            if failed { format!("{ERROR}failed{ERROR:#}") } else { format!("{GOOD}ok{GOOD:#}") };
        let s = &report.summary;
        writeln!(
            out,
            "check {verdict}: {} app(s), {} error(s), {} warning(s), {} note(s)",
            report.apps.len(),
            s.errors,
            s.warnings,
            s.infos
        )?;
    }
    Ok(if failed { Exit::Findings } else { Exit::Success })
}
