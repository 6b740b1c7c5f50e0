//! `cargo jiti deploy`: the branch's environment, one stack per app, dependencies first.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::bail;
use jiti_core::cloud::CallCounter;
use jiti_core::deploy::{self, AppResult, DeployOptions, Method, Outcome};
use serde_json::json;

use crate::cli::{DeployArgs, DeployMethod};
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
    let method = match args.method {
        DeployMethod::ChangeSet => Method::ChangeSet,
        DeployMethod::Direct => Method::Direct,
    };
    let options = DeployOptions { method, execute: !args.no_execute, timeout: args.timeout, jobs: args.jobs, ttl: args.ttl, now: SystemTime::now(), ..DeployOptions::default() };
    let counter = CallCounter::default();
    let progress = Progress::new();
    let results = super::runtime()?.block_on(async {
        let apis = super::connect(plan.iter().map(|&i| &project.apps[i]), &args.cloud, &counter).await;
        deploy::deploy(&project, &apis, &options, &progress).await
    })?;
    progress.finish();
    let failed = results.iter().filter(|r| !r.outcome.succeeded()).count();
    if args.cloud.json {
        output::print_json(&json!({
            "branch": project.git.branch,
            "commit": project.git.commit,
            "dirty": project.git.dirty,
            "apps": results,
            "api_calls": super::calls_json(&counter),
        }))?;
    } else {
        print_summary(&results, &project.workspace_root)?;
    }
    Ok(if failed > 0 { ExitCode::from(output::EXIT_ERROR) } else { ExitCode::SUCCESS })
}

fn print_summary(results: &[AppResult], root: &std::path::Path) -> anyhow::Result<()> {
    let mut out = anstream::stdout().lock();
    for r in results {
        let (style, word, detail) = match &r.outcome {
            Outcome::UpToDate => (GOOD, "up to date", String::new()),
            Outcome::Created { changes } => (GOOD, "created", format!("{} resources", changes.len())),
            Outcome::Updated { changes } => (GOOD, "updated", format!("{} changes", changes.len())),
            Outcome::NoChanges => (GOOD, "no changes", String::new()),
            Outcome::Reviewed { change_set, changes } => (NOTE, "reviewed", format!("{} changes in change set {change_set} (not executed)", changes.len())),
            Outcome::Failed { error, .. } => (ERROR, "FAILED", error.clone()),
            Outcome::Skipped { reason } => (ERROR, "skipped", reason.clone()),
        };
        writeln!(out, "{style}{:>12}{style:#} {} {DIM}→ {} ({}, {:.1}s){DIM:#} {detail}", word, r.app, r.stack_name, r.environment, r.seconds)?;
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
