//! `cargo jiti diff`: what a deploy would change, as a unified diff of the canonical templates
//! plus resource and tag changes. `--exit-code` exits 1 when anything differs.

use std::io::Write;

use jiti_core::cloud::CallCounter;
use jiti_core::report::{DiffReport, DiffedApp};
use similar::{ChangeTag, TextDiff};

use crate::cli::{DiffArgs, DiffFormat};
use crate::shell::{DIM, ERROR, Exit, GOOD, NOTE, Shell, WARNING};

pub fn exec(args: DiffArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let exit_code = args.exit_code;
    let format = args.format;
    let report = run(args, shell)?;
    let differs = report.differs;
    if shell.json() {
        shell.print_report(report)?;
    } else if format == DiffFormat::Markdown {
        write!(shell.out(), "{}", crate::markdown::diff(&report))?;
    } else {
        print(shell, &report)?;
    }
    Ok(if differs && exit_code { Exit::Findings } else { Exit::Success })
}

/// Diffs the selected apps against their stacks, and returns the report, not printed.
pub fn run(args: DiffArgs, shell: &Shell) -> anyhow::Result<DiffReport> {
    let mut project = super::load_project(&args.project, shell)?;
    // Built first, so that a code change shows as the new artifact key it deploys; not uploaded.
    let selected = project.selected.clone();
    let mut built = super::build::build(&project, &selected, shell)?;
    let counter = CallCounter::default();
    let diffs = super::runtime()?.block_on(async {
        let apis = super::connect(&project.apps, &args.cloud.connect, &counter).await;
        super::build::upload(&mut project, &mut built, &apis, false).await?;
        Ok::<_, anyhow::Error>(jiti_core::diff::diff(&project, &apis, None).await?)
    })?;
    let differs = diffs.iter().any(|d| d.differs());
    let apps = diffs.into_iter().map(|d| DiffedApp { differs: d.differs(), diff: d }).collect();
    Ok(DiffReport { apps, differs, api_calls: (&counter).into() })
}

/// The report as people read it in a terminal: a unified diff per app.
pub fn print(shell: &Shell, report: &DiffReport) -> anyhow::Result<()> {
    let mut out = shell.out();
    for d in report.apps.iter().map(|a| &a.diff) {
        if !d.exists {
            writeln!(
                out,
                "{NOTE}{}{NOTE:#}: stack {} does not exist; a deploy creates {} resources",
                d.app,
                d.stack_name,
                d.resources.len()
            )?;
            continue;
        }
        if d.hotswaps > 0 {
            let count = match d.hotswaps {
                n if n >= jiti_core::ledger::HOTSWAPS_READ => format!("{n} or more times"),
                1 => "once".to_owned(),
                n => format!("{n} times"),
            };
            writeln!(
                out,
                "{NOTE}{}{NOTE:#}: code hotswapped {count} since the last deploy: its functions run newer code than the stack's template names (the next deploy brings the stack to it)",
                d.app
            )?;
        }
        if !d.differs() {
            writeln!(out, "{GOOD}{}{GOOD:#}: {} is up to date", d.app, d.stack_name)?;
            continue;
        }
        writeln!(out, "{WARNING}{}{WARNING:#}: {} would change", d.app, d.stack_name)?;
        for c in &d.resources {
            writeln!(out, "  {} {} {DIM}{}{DIM:#}", c.action, c.logical_id, c.resource_type)?;
        }
        for t in &d.tags {
            writeln!(
                out,
                "  tag {}: {} → {}",
                t.key,
                t.old.as_deref().unwrap_or("(none)"),
                t.new.as_deref().unwrap_or("(none)")
            )?;
        }
        let old = d.deployed.as_deref().unwrap_or_default();
        let text = TextDiff::from_lines(old, &d.proposed);
        writeln!(out, "{DIM}--- deployed/{0}\n+++ rendered/{0}{DIM:#}", d.stack_name)?;
        for hunk in text.unified_diff().context_radius(3).iter_hunks() {
            writeln!(out, "{DIM}{}{DIM:#}", hunk.header())?;
            for change in hunk.iter_changes() {
                let (sign, style) = match change.tag() {
                    ChangeTag::Delete => ("-", ERROR),
                    ChangeTag::Insert => ("+", GOOD),
                    ChangeTag::Equal => (" ", DIM),
                };
                write!(out, "{style}{sign}{}{style:#}", change.value())?;
                if change.missing_newline() {
                    writeln!(out)?;
                }
            }
        }
    }
    Ok(())
}
