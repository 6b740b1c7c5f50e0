//! `cargo jiti destroy`: delete an environment's stacks, dependents first; a dry run unless --yes.

use std::io::Write;
use std::process::ExitCode;

use jiti_core::cloud::CallCounter;
use jiti_core::deploy::DeployOptions;
use jiti_core::destroy;
use serde_json::json;

use crate::cli::DestroyArgs;
use crate::output::{self, DIM, ERROR, GOOD, WARNING};
use crate::progress::Progress;

pub fn exec(args: DestroyArgs) -> anyhow::Result<ExitCode> {
    let project = super::load_project(&args.project)?;
    let counter = CallCounter::default();
    let progress = Progress::new();
    let options = DeployOptions { timeout: args.timeout, ..DeployOptions::default() };
    let (plan, deleted) = super::block_on(&progress, async {
        let apis = super::connect(project.selected_apps(), &args.cloud.connect, &counter).await;
        let stacks = destroy::stacks(&project, args.env.as_deref(), &apis).await?;
        let plan = destroy::plan(&project, args.env.as_deref(), &stacks, args.allow_protected)?;
        let deleted = if args.yes { destroy::execute(&project, &plan, &apis, &options, &progress).await } else { Vec::new() };
        Ok::<_, anyhow::Error>((plan, deleted))
    })?;
    progress.finish();
    let refused = plan.iter().filter(|i| i.status.is_some() && i.refused.is_some()).count();
    let failed = deleted.iter().filter(|d| !d.deleted).count();
    if args.cloud.json {
        output::print_json(&json!({"dry_run": !args.yes, "plan": plan, "deleted": deleted, "api_calls": super::calls_json(&counter)}))?;
    } else {
        let mut out = output::stdout();
        for item in &plan {
            let (style, what) = match (&item.status, &item.refused, args.yes) {
                (None, _, _) => (DIM, "absent".to_owned()),
                (Some(_), Some(why), _) => (ERROR, format!("kept: {why}")),
                (Some(status), None, false) => (WARNING, format!("would delete ({status})")),
                (Some(_), None, true) => match deleted.iter().find(|d| d.stack_name == item.stack_name) {
                    Some(d) if d.deleted => (GOOD, format!("deleted in {:.1}s", d.seconds)),
                    Some(d) => (ERROR, format!("FAILED: {}", d.error.as_deref().unwrap_or("unknown error"))),
                    None => (DIM, "not attempted".to_owned()),
                },
            };
            writeln!(out, "{style}{:>12}{style:#} {} {DIM}({}){DIM:#}: {what}", item.app, item.stack_name, item.environment)?;
        }
        if !args.yes && plan.iter().any(|i| i.status.is_some() && i.refused.is_none()) {
            writeln!(out, "dry run: nothing was deleted; run again with --yes to delete")?;
        }
    }
    Ok(if refused + failed > 0 { ExitCode::from(output::EXIT_ERROR) } else { ExitCode::SUCCESS })
}
