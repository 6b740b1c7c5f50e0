//! `cargo jiti destroy`: delete an environment's stacks, dependents first; a dry run unless --yes.

use std::io::Write;

use jiti_core::cloud::CallCounter;
use jiti_core::destroy;
use jiti_core::report::DestroyReport;

use crate::cli::DestroyArgs;
use crate::progress::Progress;
use crate::shell::{DIM, ERROR, Exit, GOOD, Shell, WARNING};

pub fn exec(args: DestroyArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let (report, exit) = run(args, shell)?;
    if shell.json() {
        shell.print_report(report)?;
    } else {
        print(shell, &report)?;
    }
    Ok(exit)
}

/// Destroys (or plans to, without --yes), and returns the report, not printed.
pub fn run(args: DestroyArgs, shell: &Shell) -> anyhow::Result<(DestroyReport, Exit)> {
    let project = super::load_project(&args.project, shell)?;
    let counter = CallCounter::default();
    let progress = Progress::new(shell);
    let (yes, env) = (args.yes.yes, args.env.env.as_deref());
    let (plan, deleted) = super::block_on(&progress, async {
        let apis = super::connect(project.selected_apps(), &args.cloud.connect, &counter).await;
        let stacks = destroy::stacks(&project, env, &apis).await?;
        let plan = destroy::plan(&project, env, &stacks, args.allow_protected)?;
        let deleted = if yes {
            destroy::execute(&project, &plan, &apis, &args.wait.options(), &progress).await
        } else {
            Vec::new()
        };
        Ok::<_, anyhow::Error>((plan, deleted))
    })?;
    progress.finish();
    let refused = plan.iter().filter(|i| i.status.is_some() && i.refused.is_some()).count();
    let failed = deleted.iter().filter(|d| !d.deleted).count();
    let report = DestroyReport { dry_run: !yes, plan, deleted, api_calls: (&counter).into() };
    Ok((report, if refused + failed > 0 { Exit::Error } else { Exit::Success }))
}

/// The report as people read it in a terminal.
pub fn print(shell: &Shell, report: &DestroyReport) -> anyhow::Result<()> {
    let yes = !report.dry_run;
    let (plan, deleted) = (&report.plan, &report.deleted);
    let mut out = shell.out();
    for item in plan {
        let (style, what) = match (&item.status, &item.refused, yes) {
            (None, _, _) => (DIM, "absent".to_owned()),
            (Some(_), Some(why), _) => (ERROR, format!("kept: {why}")),
            (Some(status), None, false) => (WARNING, format!("would delete ({status})")),
            (Some(_), None, true) => {
                match deleted.iter().find(|d| d.stack_name == item.stack_name) {
                    Some(d) if d.deleted => (GOOD, format!("deleted in {:.1}s", d.seconds)),
                    Some(d) => (
                        ERROR,
                        format!("FAILED: {}", d.error.as_deref().unwrap_or("unknown error")),
                    ),
                    None => (DIM, "not attempted".to_owned()),
                }
            }
        };
        writeln!(
            out,
            "{style}{:>12}{style:#} {} {DIM}({}){DIM:#}: {what}",
            item.app, item.stack_name, item.environment
        )?;
    }
    if !yes && plan.iter().any(|i| i.status.is_some() && i.refused.is_none()) {
        writeln!(out, "dry run: nothing was deleted; run again with --yes to delete")?;
    }
    Ok(())
}
