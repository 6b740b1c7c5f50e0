//! `cargo jiti deploy`: the branch's environment, one stack per app, dependencies first.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::bail;
use jiti_core::cloud::CallCounter;
use jiti_core::deploy::{self, AppResult, DeployOptions, Outcome};
use jiti_core::ledger::{self, ReleaseStatus};
use jiti_core::deploy::Observer as _;
use jiti_core::rollback;
use serde_json::json;

use crate::cli::DeployArgs;
use crate::output::{self, DIM, ERROR, GOOD, NOTE};
use crate::progress::Progress;

pub fn exec(args: DeployArgs) -> anyhow::Result<ExitCode> {
    let project = super::load_project(&args.project)?;
    let plan: Vec<usize> = deploy::waves(&project, &project.selected)?.into_iter().flatten().collect();
    let protected: Vec<&str> = plan.iter().map(|&i| &project.apps[i]).filter(|a| a.environment.protected).map(|a| a.name.as_str()).collect();
    if !protected.is_empty() && !args.yes && !args.no_execute {
        let env = &project.apps[plan[0]].environment.name;
        let question = format!("Deploy {} to the protected environment `{env}`?", protected.join(", "));
        if !super::confirm(&question)? {
            bail!("refusing to deploy to the protected environment `{env}` without confirmation: pass --yes (or --no-execute to review the change sets)");
        }
    }
    let method = args.method.into();
    if project.git.dirty && !protected.is_empty() && !args.allow_dirty && !args.no_execute {
        bail!("refusing to deploy uncommitted changes to the protected environment of {}: commit them first, or pass --allow-dirty", protected.join(", "));
    }
    let options = DeployOptions {
        method,
        execute: !args.no_execute,
        timeout: args.timeout,
        jobs: args.jobs,
        ttl: args.ttl,
        now: SystemTime::now(),
        deployer: super::deployer(&project),
        skip_checks: args.skip_checks,
        ..DeployOptions::default()
    };
    let counter = CallCounter::default();
    let progress = Progress::new();
    let (results, rollbacks) = super::block_on(&progress, async {
        let apis = super::connect(plan.iter().map(|&i| &project.apps[i]), &args.cloud.connect, &counter).await;
        let results = deploy::deploy(&project, &apis, &options, &progress).await?;
        // A release whose verify failed goes back to the release before it, unless told not to.
        let mut rollbacks = Vec::new();
        for r in results.iter().filter(|r| matches!(r.outcome, Outcome::VerifyFailed { .. }) && !args.no_rollback) {
            let (Some(failed), Some(app)) = (&r.release, project.app(&r.app)) else { continue };
            let api = &apis[&deploy::target(app)];
            let history = ledger::history(api, &r.app, &r.environment, 50).await?;
            match history.iter().find(|h| h.id != failed.id && h.status == ReleaseStatus::Deployed) {
                Some(previous) => {
                    progress.note(&r.app, &format!("verify failed: rolling back to release {} (version {})", previous.id, previous.version));
                    let back = rollback::rollback(&project, &r.app, previous, Some(failed.id.clone()), &apis, &options, &progress).await?;
                    rollbacks.push(back);
                }
                None => progress.note(&r.app, "verify failed, and there is no earlier release to roll back to"),
            }
        }
        Ok::<_, anyhow::Error>((results, rollbacks))
    })?;
    progress.finish();
    output::hide(results.iter().chain(&rollbacks).flat_map(|r| r.secrets.clone()));
    let failed = results.iter().filter(|r| !r.outcome.succeeded() && !matches!(r.outcome, Outcome::VerifyFailed { .. })).count();
    let verify_failed = results.iter().filter(|r| matches!(r.outcome, Outcome::VerifyFailed { .. })).count();
    if args.cloud.json {
        output::print_json(&json!({
            "branch": project.git.branch,
            "commit": project.git.commit,
            "dirty": project.git.dirty,
            "apps": results,
            "rollbacks": rollbacks,
            "api_calls": super::calls_json(&counter),
        }))?;
    } else {
        print_summary(&results, &project.workspace_root)?;
        print_summary(&rollbacks, &project.workspace_root)?;
    }
    Ok(match (failed, verify_failed) {
        (0, 0) => ExitCode::SUCCESS,
        (0, _) => ExitCode::from(output::EXIT_FINDINGS),
        _ => ExitCode::from(output::EXIT_ERROR),
    })
}

/// How an app's deploy ended, in a word or two (the summary and `run`'s status line).
pub fn outcome_word(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::UpToDate => "up to date",
        Outcome::Created { .. } => "created",
        Outcome::Updated { .. } => "updated",
        Outcome::NoChanges => "no changes",
        Outcome::Reviewed { .. } => "reviewed",
        Outcome::Failed { .. } => "FAILED",
        Outcome::VerifyFailed { .. } => "VERIFY FAILED",
        Outcome::Skipped { .. } => "skipped",
    }
}

pub fn print_summary(results: &[AppResult], root: &std::path::Path) -> anyhow::Result<()> {
    let mut out = output::stdout();
    for r in results {
        let (style, detail) = match &r.outcome {
            Outcome::UpToDate | Outcome::NoChanges => (GOOD, String::new()),
            Outcome::Created { changes } => (GOOD, format!("{} resources", changes.len())),
            Outcome::Updated { changes } => (GOOD, format!("{} changes", changes.len())),
            Outcome::Reviewed { change_set, changes } => (NOTE, format!("{} changes in change set {change_set} (not executed)", changes.len())),
            Outcome::Failed { error, .. } | Outcome::VerifyFailed { error } => (ERROR, error.clone()),
            Outcome::Skipped { reason } => (ERROR, reason.clone()),
        };
        writeln!(out, "{style}{:>12}{style:#} {} {DIM}→ {} ({}, {:.1}s){DIM:#} {detail}", outcome_word(&r.outcome), r.app, r.stack_name, r.environment, r.seconds)?;
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
                writeln!(out, "{:>12}   {ERROR}{}{ERROR:#} {} {}: {}", "", e.status, e.logical_id, e.resource_type, e.reason.as_deref().unwrap_or("(no reason given)"))?;
            }
        }
        for (key, value) in &r.outputs {
            writeln!(out, "{:>12}   {key} = {value}", "")?;
        }
        if let Some(path) = &r.outputs_file {
            writeln!(out, "{:>12}   {DIM}outputs: {}{DIM:#}", "", path.strip_prefix(root).unwrap_or(path).display())?;
        }
    }
    Ok(())
}
