//! `cargo jiti gc`: remove the environments nobody owns any more, and the resources that outlived
//! their stack. A dry run unless --yes; the same plan is then executed.

use std::io::Write;
use std::time::SystemTime;

use jiti_core::cloud::{ArtifactStore, CallCounter, Removal};
use jiti_core::gc::artifacts::{self, ArtifactOptions};
use jiti_core::gc::{self, GcOptions, Owner};
use jiti_core::report::GcReport;

use crate::cli::GcArgs;
use crate::progress::Progress;
use crate::shell::{DIM, ERROR, Exit, GOOD, NOTE, Shell, WARNING};

pub fn exec(args: GcArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let grace = args.artifacts_grace;
    let (report, exit) = run(args, shell)?;
    if shell.json() {
        shell.print_report(report)?;
    } else {
        print(shell, &report, grace)?;
    }
    Ok(exit)
}

/// Collects (or plans to, without --yes), and returns the report, not printed.
pub fn run(args: GcArgs, shell: &Shell) -> anyhow::Result<(GcReport, Exit)> {
    let project = super::load_project(&super::workspace(args.manifest_path.clone(), None), shell)?;
    let (knowledge, remote_branches) = super::branch_knowledge(&project, args.remote.as_deref())?;
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
    let artifact_options = ArtifactOptions {
        keep_releases: args.keep_releases,
        grace: args.artifacts_grace,
        now: SystemTime::now(),
    };
    let (plan, done, old_builds, builds_deleted) = super::block_on(&progress, async {
        let apis = super::connect_everywhere(&project.apps, &args.cloud.connect, &counter).await;
        let (plan, done) = match args.artifacts_only {
            true => (gc::Plan::default(), gc::Done::default()),
            false => {
                // The error names the call and the endpoint: one line says it all.
                let seen = gc::look(&project, &apis).await?;
                let plan = gc::plan(&project, &seen, &knowledge, &options)?;
                let judge =
                    gc::Judge { project: &project, knowledge: &knowledge, options: &options };
                let done = if yes {
                    gc::execute(&plan, &apis, args.jobs, &judge, &wait, &progress).await
                } else {
                    gc::Done::default()
                };
                (plan, done)
            }
        };
        // Old builds, after the environments (whose stacks, once gone, protect no build), one
        // bucket per account and region.
        let mut old_builds = Vec::new();
        let mut deleted = (0, 0);
        let mut buckets = std::collections::BTreeSet::new();
        for api in apis.values() {
            let bucket = api.bucket_name().await?;
            if !buckets.insert(bucket) {
                continue;
            }
            let builds = artifacts::look(api, &artifact_options).await?;
            if yes {
                let (n, bytes) = artifacts::collect(api, &builds, &artifact_options).await?;
                deleted = (deleted.0 + n, deleted.1 + bytes);
            }
            if !builds.collect.is_empty() || builds.kept > 0 {
                old_builds.push(builds);
            }
        }
        Ok::<_, anyhow::Error>((plan, done, old_builds, deleted))
    })?;
    progress.finish();
    let report = GcReport {
        dry_run: !yes,
        plan,
        deleted: done.stacks,
        removed: done.resources,
        artifacts: old_builds,
        artifacts_deleted: builds_deleted.0,
        artifacts_bytes_deleted: builds_deleted.1,
        api_calls: (&counter).into(),
    };
    let exit = if report.failures() > 0 { Exit::Error } else { Exit::Success };
    Ok((report, exit))
}

/// The report as people read it in a terminal; `grace` is how young a build is kept.
pub fn print(shell: &Shell, report: &GcReport, grace: std::time::Duration) -> anyhow::Result<()> {
    let failed = report.failures();
    let mut out = shell.out();
    for note in &report.plan.notes {
        writeln!(out, "{NOTE}note{NOTE:#}: {note}")?;
    }
    for c in &report.plan.collect {
        let why = c.reason.to_string();
        let (style, what, why) = match report.deleted.iter().find(|d| d.stack_name == c.stack_name)
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
    for o in &report.plan.resources {
        let why = match &o.owner {
            Owner::StackGone { stack_name } => format!("orphan of stack {stack_name} (gone)"),
            Owner::StackCollected { stack_name } => {
                format!("of stack {stack_name}, collected now (deleted if the stack leaves it)")
            }
            Owner::EarlierStack { stack_name, stack_id } => {
                format!("orphan of an earlier stack {stack_name} ({stack_id})")
            }
            Owner::LambdaLogs { stack_name } => {
                format!("made by Lambda (untagged) for a function of stack {stack_name} (gone)")
            }
        };
        let removed = report.removed.iter().find(|r| r.arn == o.arn);
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
    for k in &report.plan.kept {
        writeln!(out, "{DIM}{:>16}{DIM:#} {} ({}): {}", "kept", k.stack_name, k.app, k.why)?;
    }
    for k in &report.plan.kept_resources {
        writeln!(out, "{DIM}{:>16}{DIM:#} {} ({}): {}", "kept", k.arn, k.app, k.why)?;
    }
    for d in report.deleted.iter().filter(|d| !d.deleted && d.kept.is_none()) {
        writeln!(
            out,
            "{ERROR}error{ERROR:#}: {}: {}",
            d.stack_name,
            d.error.as_deref().unwrap_or("unknown error")
        )?;
    }
    for r in report.removed.iter().filter(|r| r.outcome.is_none() && r.kept.is_none()) {
        writeln!(
            out,
            "{ERROR}error{ERROR:#}: {}: {}",
            r.arn,
            r.error.as_deref().unwrap_or("unknown error")
        )?;
    }
    for b in &report.artifacts {
        let what = if !report.dry_run { "deleted" } else { "would delete" };
        for o in &b.collect {
            writeln!(
                out,
                "{WARNING}{what:>16}{WARNING:#} s3://{}/{} {DIM}({} bytes){DIM:#}: old build, no recent release of a live environment uses it",
                o.bucket, o.key, o.size
            )?;
        }
        writeln!(
            out,
            "{DIM}{:>16}{DIM:#} {} build(s), {} bytes: in use, or younger than {}",
            "kept",
            b.kept,
            b.kept_bytes,
            humantime::format_duration(grace)
        )?;
    }
    let build_count: usize = report.artifacts.iter().map(|b| b.collect.len()).sum();
    let build_bytes: u64 = report.artifacts.iter().map(|b| b.collect_bytes).sum();
    match !report.dry_run {
        false if build_count > 0 => writeln!(
            out,
            "dry run: {build_count} old build(s) ({build_bytes} bytes) would be deleted"
        )?,
        true if report.artifacts_deleted > 0 => writeln!(
            out,
            "{} old build(s) deleted, {} bytes freed",
            report.artifacts_deleted, report.artifacts_bytes_deleted
        )?,
        _ => {}
    }
    let deletable = report.plan.resources.iter().filter(|o| o.delete.is_some()).count();
    let left = report.plan.resources.len() - deletable;
    match (report.plan.collect.is_empty() && report.plan.resources.is_empty(), !report.dry_run) {
        (true, _) => writeln!(out, "nothing to collect")?,
        (false, false) => writeln!(
            out,
            "dry run: {} environment stack(s) and {deletable} resource(s) would be deleted{}; run again with --yes to delete them",
            report.plan.collect.len(),
            if left > 0 { format!(", {left} left for you") } else { String::new() }
        )?,
        (false, true) => {
            let kept = report.deleted.iter().filter(|d| d.kept.is_some()).count()
                + report.removed.iter().filter(|r| r.kept.is_some()).count();
            let kept = if kept > 0 {
                format!(", {kept} kept (changed since the plan)")
            } else {
                String::new()
            };
            writeln!(
                out,
                "{} stack(s) and {} resource(s) deleted, {failed} failed{kept}",
                report.deleted.iter().filter(|d| d.deleted).count(),
                report.removed.iter().filter(|r| r.outcome.is_some()).count()
            )?
        }
    }
    Ok(())
}
