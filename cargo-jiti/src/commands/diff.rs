//! `cargo jiti diff`: what a deploy would change, as a unified diff of the canonical templates
//! plus resource and tag changes. `--exit-code` exits 1 when anything differs.

use std::io::Write;
use std::process::ExitCode;

use jiti_core::cloud::CallCounter;
use serde_json::json;
use similar::{ChangeTag, TextDiff};

use crate::cli::DiffArgs;
use crate::output::{self, DIM, ERROR, GOOD, NOTE, WARNING};

pub fn exec(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let project = super::load_project(&args.project)?;
    let counter = CallCounter::default();
    let diffs = super::runtime()?.block_on(async {
        let apis = super::connect(&project.apps, &args.cloud.connect, &counter).await;
        jiti_core::diff::diff(&project, &apis, None).await
    })?;
    let differs = diffs.iter().any(|d| d.differs());
    if args.cloud.json {
        let apps: Vec<_> = diffs.iter().map(|d| json!({"diff": d, "differs": d.differs()})).collect();
        output::print_json(&json!({"apps": apps, "differs": differs, "api_calls": super::calls_json(&counter)}))?;
    } else {
        let mut out = output::stdout();
        for d in &diffs {
            if !d.exists {
                writeln!(out, "{NOTE}{}{NOTE:#}: stack {} does not exist; a deploy creates {} resources", d.app, d.stack_name, d.resources.len())?;
                continue;
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
                writeln!(out, "  tag {}: {} → {}", t.key, t.old.as_deref().unwrap_or("(none)"), t.new.as_deref().unwrap_or("(none)"))?;
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
    }
    Ok(if differs && args.exit_code { ExitCode::from(output::EXIT_FINDINGS) } else { ExitCode::SUCCESS })
}
