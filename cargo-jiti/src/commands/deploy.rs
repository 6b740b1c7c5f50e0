//! `cargo jiti deploy`: the branch's environment, one stack per app, dependencies first.

use std::io::Write;
use std::time::SystemTime;

use anyhow::bail;
use jiti_core::cloud::CallCounter;
use jiti_core::deploy::{self, AppResult, DeployOptions, Outcome};
use jiti_core::report::DeployReport;
use jiti_core::rollback;

use crate::cli::DeployArgs;
use crate::progress::Progress;
use crate::shell::{DIM, ERROR, Exit, GOOD, NOTE, Shell};

pub fn exec(args: DeployArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let (report, root, exit) = run(args, shell)?;
    if shell.json() {
        shell.print_report(report)?;
    } else {
        print(shell, &report, &root)?;
    }
    Ok(exit)
}

/// Deploys, and returns the report (not printed: `ci` prints it its own way too), the
/// workspace's root, and the exit code the report means.
pub fn run(
    args: DeployArgs,
    shell: &Shell,
) -> anyhow::Result<(DeployReport, std::path::PathBuf, Exit)> {
    let project = super::load_project(&args.project, shell)?;
    let plan = jiti_core::graph::deploy_order(&project)?;
    let protected: Vec<&str> = plan
        .iter()
        .map(|&i| &project.apps[i])
        .filter(|a| a.environment.protected)
        .map(|a| a.name.as_str())
        .collect();
    let hotswap = args.hotswap.mode();
    if hotswap.is_some() && !protected.is_empty() {
        let env = &project.apps[plan[0]].environment.name;
        bail!(
            "--hotswap is refused on the protected environment `{env}` ({}): its stacks change only through CloudFormation, so that the template always says what runs; deploy without --hotswap",
            protected.join(", ")
        );
    }
    if !protected.is_empty() && !args.yes.yes && !args.no_execute {
        let env = &project.apps[plan[0]].environment.name;
        let question =
            format!("Deploy {} to the protected environment `{env}`?", protected.join(", "));
        if !super::confirm(&question)? {
            bail!(
                "refusing to deploy to the protected environment `{env}` without confirmation: pass --yes (or --no-execute to review the change sets)"
            );
        }
    }
    if project.git.dirty && !protected.is_empty() && !args.allow_dirty && !args.no_execute {
        bail!(
            "refusing to deploy uncommitted changes to the protected environment of {}: commit them first, or pass --allow-dirty",
            protected.join(", ")
        );
    }
    let options = DeployOptions {
        method: args.method.method(),
        execute: !args.no_execute,
        wait: args.wait.options(),
        jobs: args.jobs,
        ttl: args.ttl.ttl,
        now: SystemTime::now(),
        deployer: super::deployer(&project),
        skip_checks: args.skip_checks,
        hotswap,
        ..DeployOptions::default()
    };
    // Built before any AWS call: a failed build changes nothing.
    let built = super::build::build(&project, &plan, shell)?;
    let shipping = super::build::attach(&project, &built);
    let counter = CallCounter::default();
    let progress = Progress::new(shell);
    let (results, rollbacks) = super::block_on(&progress, async {
        let apis =
            super::connect(plan.iter().map(|&i| &project.apps[i]), &args.cloud.connect, &counter)
                .await;
        let results = deploy::deploy(&shipping, &apis, &options, &progress).await?;
        // A release whose verify failed goes back to the release before it, unless told not to.
        let rollbacks = match args.no_rollback {
            true => Vec::new(),
            false => {
                rollback::after_failed_verify(&project, &results, &apis, &options, &progress)
                    .await?
            }
        };
        Ok::<_, anyhow::Error>((results, rollbacks))
    })?;
    progress.finish();
    shell.hide(results.iter().chain(&rollbacks).flat_map(|r| r.secrets.clone()));
    let failed = results
        .iter()
        .filter(|r| !r.outcome.succeeded() && !matches!(r.outcome, Outcome::VerifyFailed { .. }))
        .count();
    let verify_failed =
        results.iter().filter(|r| matches!(r.outcome, Outcome::VerifyFailed { .. })).count();
    let report = DeployReport {
        checkout: super::checkout(&project),
        artifacts: super::build::shipped(built, &results),
        apps: results,
        rollbacks,
        api_calls: (&counter).into(),
    };
    let exit = match (failed, verify_failed) {
        (0, 0) => Exit::Success,
        (0, _) => Exit::Findings,
        _ => Exit::Error,
    };
    Ok((report, project.workspace_root, exit))
}

/// The report as people read it in a terminal.
pub fn print(shell: &Shell, report: &DeployReport, root: &std::path::Path) -> anyhow::Result<()> {
    let mut out = shell.out();
    for a in report.artifacts.iter().filter(|a| a.key.is_some()) {
        let how = if a.uploaded { "uploaded" } else { "in bucket" };
        writeln!(
            out,
            "{GOOD}{how:>12}{GOOD:#} {}/{} {DIM}({} bytes, sha256 {}, built in {:.1}s){DIM:#}",
            a.app,
            a.name,
            a.size,
            &a.sha256[..a.sha256.len().min(12)],
            a.build_seconds
        )?;
    }
    drop(out);
    print_summary(shell, &report.apps, root)?;
    print_summary(shell, &report.rollbacks, root)
}

/// How an app's deploy ended, in a word or two (the summary and `run`'s status line).
pub fn outcome_word(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::UpToDate => "up to date",
        Outcome::Created { .. } => "created",
        Outcome::Updated { .. } => "updated",
        Outcome::NoChanges => "no changes",
        Outcome::Hotswapped { .. } => "hotswapped",
        Outcome::Reviewed { .. } => "reviewed",
        Outcome::Failed { .. } => "FAILED",
        Outcome::VerifyFailed { .. } => "VERIFY FAILED",
        Outcome::Skipped { .. } => "skipped",
    }
}

pub fn print_summary(
    shell: &Shell,
    results: &[AppResult],
    root: &std::path::Path,
) -> anyhow::Result<()> {
    let mut out = shell.out();
    for r in results {
        let (style, detail) = match &r.outcome {
            Outcome::UpToDate | Outcome::NoChanges => (GOOD, String::new()),
            Outcome::Created { changes } => (GOOD, format!("{} resources", changes.len())),
            Outcome::Updated { changes } => (GOOD, crate::markdown::change_summary(changes)),
            Outcome::Hotswapped { functions } => {
                let names: Vec<&str> = functions.iter().map(|f| f.logical_id.as_str()).collect();
                (GOOD, format!("code of {} (no CloudFormation update)", names.join(", ")))
            }
            Outcome::Reviewed { change_set, changes } => (
                NOTE,
                format!("{} changes in change set {change_set} (not executed)", changes.len()),
            ),
            Outcome::Failed { error, .. } | Outcome::VerifyFailed { error } => {
                (ERROR, error.clone())
            }
            Outcome::Skipped { reason } => (ERROR, reason.clone()),
        };
        writeln!(
            out,
            "{style}{:>12}{style:#} {} {DIM}→ {} ({}, {:.1}s){DIM:#} {detail}",
            outcome_word(&r.outcome),
            r.app,
            r.stack_name,
            r.environment,
            r.seconds
        )?;
        if let Some(run) = r.verify.as_ref().filter(|v| !v.success) {
            for line in run.output.lines() {
                writeln!(out, "{:>12}   {DIM}|{DIM:#} {line}", "")?;
            }
        }
        if let Some(rollback_of) = r.release.as_ref().and_then(|rel| rel.rollback_of.as_deref()) {
            writeln!(out, "{:>12}   {DIM}rollback of release {rollback_of}{DIM:#}", "")?;
        }
        if let Outcome::Failed { failed_events, .. } = &r.outcome {
            for e in failed_events {
                writeln!(
                    out,
                    "{:>12}   {ERROR}{}{ERROR:#} {} {}: {}",
                    "",
                    e.status,
                    e.logical_id,
                    e.resource_type,
                    e.reason.as_deref().unwrap_or("(no reason given)")
                )?;
            }
        }
        for (key, value) in &r.outputs {
            writeln!(out, "{:>12}   {key} = {value}", "")?;
        }
        if let Some(path) = &r.outputs_file {
            writeln!(
                out,
                "{:>12}   {DIM}outputs: {}{DIM:#}",
                "",
                path.strip_prefix(root).unwrap_or(path).display()
            )?;
        }
    }
    Ok(())
}
