//! `cargo jiti gc`: remove the environments nobody owns any more. A dry run unless --yes; the same
//! plan is then executed.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use jiti_core::cloud::CallCounter;
use jiti_core::deploy::DeployOptions;
use jiti_core::gc::{self, GcOptions, Reason};
use serde_json::json;

use crate::cli::{GcArgs, ProjectArgs};
use crate::output::{self, DIM, ERROR, GOOD, NOTE, WARNING};
use crate::progress::Progress;

pub fn exec(args: GcArgs) -> anyhow::Result<ExitCode> {
    let project_args = ProjectArgs { packages: Vec::new(), workspace: true, manifest_path: args.manifest_path.clone(), branch: None };
    let project = super::load_project(&project_args)?;
    let knowledge = jiti_core::git::branch_knowledge(&project.git.root)?;
    let remote_branches = match &args.remote {
        Some(remote) => Some(jiti_core::git::remote_branches(&project.git.root, remote)?),
        None => None,
    };
    let options = GcOptions { app: args.app.clone(), remote_branches, max_age: args.max_age, max_delete: args.max_delete, now: Some(SystemTime::now()) };
    let counter = CallCounter::default();
    let progress = Progress::new();
    let wait = DeployOptions { timeout: args.timeout, ..DeployOptions::default() };
    let (plan, deleted) = super::runtime()?.block_on(async {
        let apis = super::connect(&project.apps, &args.cloud, &counter).await;
        let stacks: Vec<_> = jiti_core::deploy::listing(&apis).await?.into_values().flat_map(|m| m.into_values()).collect();
        let plan = gc::plan(&project, &stacks, &knowledge, &options)?;
        let deleted = if args.yes { gc::execute(&plan, &apis, args.jobs, &wait, &progress).await } else { Vec::new() };
        Ok::<_, anyhow::Error>((plan, deleted))
    })?;
    progress.finish();
    let failed = deleted.iter().filter(|d| !d.deleted).count();
    if args.cloud.json {
        output::print_json(&json!({"dry_run": !args.yes, "plan": plan, "deleted": deleted, "api_calls": super::calls_json(&counter)}))?;
    } else {
        let mut out = anstream::stdout().lock();
        for note in &plan.notes {
            writeln!(out, "{NOTE}note{NOTE:#}: {note}")?;
        }
        for c in &plan.collect {
            let why = match &c.reason {
                Reason::BranchGone { branch } => format!("branch `{branch}` is gone"),
                Reason::Expired { expired_at } => format!("expired at {expired_at}"),
                Reason::TooOld { last_deploy } => format!("last deployed {last_deploy}"),
            };
            let (style, what) = match deleted.iter().find(|d| d.stack_name == c.stack_name) {
                None => (WARNING, "would delete"),
                Some(d) if d.deleted => (GOOD, "deleted"),
                Some(_) => (ERROR, "FAILED to delete"),
            };
            writeln!(out, "{style}{what:>16}{style:#} {} {DIM}({}, {}){DIM:#}: {why}", c.stack_name, c.app, c.environment)?;
        }
        for k in &plan.kept {
            writeln!(out, "{DIM}{:>16}{DIM:#} {} ({}): {}", "kept", k.stack_name, k.app, k.why)?;
        }
        for d in deleted.iter().filter(|d| !d.deleted) {
            writeln!(out, "{ERROR}error{ERROR:#}: {}: {}", d.stack_name, d.error.as_deref().unwrap_or("unknown error"))?;
        }
        match (plan.collect.is_empty(), args.yes) {
            (true, _) => writeln!(out, "nothing to collect")?,
            (false, false) => writeln!(out, "dry run: {} environment stack(s) would be deleted; run again with --yes to delete them", plan.collect.len())?,
            (false, true) => writeln!(out, "{} deleted, {failed} failed", deleted.len() - failed)?,
        }
    }
    Ok(if failed > 0 { ExitCode::from(output::EXIT_ERROR) } else { ExitCode::SUCCESS })
}
