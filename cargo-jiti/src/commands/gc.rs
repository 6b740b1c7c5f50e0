//! `cargo jiti gc`: remove the environments nobody owns any more, and the resources that outlived
//! their stack. A dry run unless --yes; the same plan is then executed.

use std::io::Write;
use std::time::SystemTime;

use jiti_core::cloud::{CallCounter, Removal};
use jiti_core::gc::{self, GcOptions, Owner, Reason};
use jiti_core::report::GcReport;

use crate::cli::{GcArgs, ProjectArgs};
use crate::progress::Progress;
use crate::shell::{DIM, ERROR, Exit, GOOD, NOTE, Shell, WARNING};

pub fn exec(args: GcArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let project_args = ProjectArgs {
        packages: Vec::new(),
        workspace: true,
        manifest_path: args.manifest_path.clone(),
        branch: None,
    };
    let project = super::load_project(&project_args, shell)?;
    let knowledge = jiti_core::git::branch_knowledge(&project.git.root, &project.git.branch)?;
    let remote_branches = match &args.remote {
        Some(remote) => Some(jiti_core::git::remote_branches(&project.git.root, remote)?),
        None => None,
    };
    let options = GcOptions {
        app: args.app.clone(),
        remote_branches,
        max_age: args.max_age,
        max_delete: args.max_delete,
        now: Some(SystemTime::now()),
    };
    let counter = CallCounter::default();
    let progress = Progress::new(shell);
    let (yes, wait) = (args.yes.yes, args.wait.options());
    let (plan, done) = super::block_on(&progress, async {
        let apis = super::connect_everywhere(&project.apps, &args.cloud.connect, &counter).await;
        // The error names the call and the endpoint: one line says it all.
        let seen = gc::look(&project, &apis).await?;
        let plan = gc::plan(&project, &seen, &knowledge, &options)?;
        let judge = gc::Judge { project: &project, knowledge: &knowledge, options: &options };
        let done = if yes {
            gc::execute(&plan, &apis, args.jobs, &judge, &wait, &progress).await
        } else {
            gc::Done::default()
        };
        Ok::<_, anyhow::Error>((plan, done))
    })?;
    progress.finish();
    let failed = done.failures();
    if shell.json() {
        shell.print_report(GcReport {
            dry_run: !yes,
            plan,
            deleted: done.stacks,
            removed: done.resources,
            api_calls: (&counter).into(),
        })?;
    } else {
        let mut out = shell.out();
        for note in &plan.notes {
            writeln!(out, "{NOTE}note{NOTE:#}: {note}")?;
        }
        for c in &plan.collect {
            let why = match &c.reason {
                Reason::BranchGone { branch } => format!("branch `{branch}` is gone"),
                Reason::Expired { expired_at } => format!("expired at {expired_at}"),
                Reason::TooOld { last_deploy } => format!("last deployed {last_deploy}"),
            };
            let (style, what, why) = match done.stacks.iter().find(|d| d.stack_name == c.stack_name)
            {
                None => (WARNING, "would delete", why),
                Some(d) if d.deleted => (GOOD, "deleted", why),
                Some(d) if d.kept.is_some() => (NOTE, "kept", d.kept.clone().unwrap_or_default()),
                Some(_) => (ERROR, "FAILED to delete", why),
            };
            writeln!(
                out,
                "{style}{what:>16}{style:#} {} {DIM}({}, {}){DIM:#}: {why}",
                c.stack_name, c.app, c.environment
            )?;
        }
        for o in &plan.resources {
            let why = match &o.owner {
                Owner::StackGone { stack_name } => format!("orphan of stack {stack_name} (gone)"),
                Owner::StackCollected { stack_name } => {
                    format!("of stack {stack_name}, collected now (deleted if the stack leaves it)")
                }
                Owner::EarlierStack { stack_name, stack_id } => {
                    format!("orphan of an earlier stack {stack_name} ({stack_id})")
                }
            };
            let removed = done.resources.iter().find(|r| r.arn == o.arn);
            let kept = removed.and_then(|r| r.kept.clone());
            let why = kept.clone().unwrap_or(why);
            let (style, what) = match (&o.delete, removed.map(|r| r.outcome)) {
                (Some(_), Some(None)) if kept.is_some() => (NOTE, "kept"),
                (None, _) => (NOTE, "left for you"),
                (Some(_), None) => (WARNING, "would delete"),
                (Some(_), Some(Some(Removal::Deleted))) => (GOOD, "deleted"),
                (Some(_), Some(Some(Removal::AlreadyGone))) => (GOOD, "already gone"),
                (Some(_), Some(None)) => (ERROR, "FAILED to delete"),
            };
            writeln!(
                out,
                "{style}{what:>16}{style:#} {} {DIM}({}, {}){DIM:#}: {why}",
                o.arn, o.app, o.environment
            )?;
        }
        for k in &plan.kept {
            writeln!(out, "{DIM}{:>16}{DIM:#} {} ({}): {}", "kept", k.stack_name, k.app, k.why)?;
        }
        for k in &plan.kept_resources {
            writeln!(out, "{DIM}{:>16}{DIM:#} {} ({}): {}", "kept", k.arn, k.app, k.why)?;
        }
        for d in done.stacks.iter().filter(|d| !d.deleted && d.kept.is_none()) {
            writeln!(
                out,
                "{ERROR}error{ERROR:#}: {}: {}",
                d.stack_name,
                d.error.as_deref().unwrap_or("unknown error")
            )?;
        }
        for r in done.resources.iter().filter(|r| r.outcome.is_none() && r.kept.is_none()) {
            writeln!(
                out,
                "{ERROR}error{ERROR:#}: {}: {}",
                r.arn,
                r.error.as_deref().unwrap_or("unknown error")
            )?;
        }
        let deletable = plan.resources.iter().filter(|o| o.delete.is_some()).count();
        let left = plan.resources.len() - deletable;
        match (plan.collect.is_empty() && plan.resources.is_empty(), yes) {
            (true, _) => writeln!(out, "nothing to collect")?,
            (false, false) => writeln!(
                out,
                "dry run: {} environment stack(s) and {deletable} resource(s) would be deleted{}; run again with --yes to delete them",
                plan.collect.len(),
                if left > 0 { format!(", {left} left for you") } else { String::new() }
            )?,
            (false, true) => {
                let kept = done.stacks.iter().filter(|d| d.kept.is_some()).count()
                    + done.resources.iter().filter(|r| r.kept.is_some()).count();
                let kept = if kept > 0 {
                    format!(", {kept} kept (changed since the plan)")
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "{} stack(s) and {} resource(s) deleted, {failed} failed{kept}",
                    done.stacks.iter().filter(|d| d.deleted).count(),
                    done.resources.iter().filter(|r| r.outcome.is_some()).count()
                )?
            }
        }
    }
    Ok(if failed > 0 { Exit::Error } else { Exit::Success })
}
