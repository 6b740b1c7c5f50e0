//! `cargo jiti check`: every finding about config, templates, tags, limits and dependencies.
//! Exit 0 when clean, 1 on errors or warnings, 2 when the check itself could not run.

use std::io::Write;
use std::process::ExitCode;

use jiti_core::check::{self, Finding, Severity};
use jiti_core::discovery::DiscoveryError;
use jiti_core::resolve::ResolveError;
use serde_json::json;

use crate::cli::CheckArgs;
use crate::output::{self, ERROR, GOOD, NOTE, WARNING};

pub fn exec(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let options = super::options(&args.project, true)?;
    let project = match jiti_core::resolve::Project::load(&options) {
        Ok(p) => p,
        // An invalid jiti.toml is a finding of `check`, not a failure to run it.
        Err(ResolveError::Discovery(DiscoveryError::Config(e))) => {
            let finding = config_finding(&e);
            return report(&args, &[finding], None);
        }
        Err(e) => return Err(e.into()),
    };
    output::hide(project.secrets());
    let result = check::check(&project);
    let context = json!({
        "branch": project.git.branch,
        "commit": project.git.commit,
        "apps": project.selected_apps().map(|a| json!({"app": a.name, "environment": a.environment.name, "stack_name": a.stack_name})).collect::<Vec<_>>(),
    });
    report(&args, &result.findings, Some(context))
}

fn config_finding(e: &jiti_core::config::ConfigError) -> Finding {
    let (file, line) = match e {
        jiti_core::config::ConfigError::Invalid { path, line, .. } => (Some(path.clone()), Some(*line)),
        jiti_core::config::ConfigError::Read { path, .. } => (Some(path.clone()), None),
    };
    Finding { severity: Severity::Error, code: "config", app: None, file, line, resource: None, message: e.to_string() }
}

fn report(args: &CheckArgs, findings: &[Finding], context: Option<serde_json::Value>) -> anyhow::Result<ExitCode> {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let (errors, warnings, infos) = (count(Severity::Error), count(Severity::Warning), count(Severity::Info));
    if args.json {
        let mut value = context.unwrap_or_else(|| json!({}));
        value["findings"] = json!(findings);
        value["summary"] = json!({"errors": errors, "warnings": warnings, "infos": infos});
        output::print_json(&value)?;
    } else {
        let mut out = output::stdout();
        for f in findings {
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
        let apps = context.as_ref().and_then(|c| c["apps"].as_array().map(Vec::len)).unwrap_or(0);
        let verdict = if errors + warnings == 0 { format!("{GOOD}ok{GOOD:#}") } else { format!("{ERROR}failed{ERROR:#}") };
        writeln!(out, "check {verdict}: {apps} app(s), {errors} error(s), {warnings} warning(s), {infos} note(s)")?;
    }
    Ok(if errors + warnings > 0 { ExitCode::from(output::EXIT_FINDINGS) } else { ExitCode::SUCCESS })
}
