//! Reports as Markdown, for the places people read in a pull request: `$GITHUB_STEP_SUMMARY`, the
//! one comment `ci` keeps up to date, and `diff --format markdown`. GitHub-flavoured: tables,
//! `<details>` for what is long. Secrets are masked by the caller (`Shell::masked`), as everywhere.

use std::fmt::Write as _;

use jiti_core::check::{Finding, Severity};
use jiti_core::cloud::Change;
use jiti_core::deploy::{AppResult, Outcome};
use jiti_core::report::{DeployReport, DestroyReport, DiffReport, GcReport};

/// A table cell: one line, no column breaks.
pub fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Text in a fenced block, whatever backticks it holds.
fn fenced(lang: &str, text: &str) -> String {
    let mut fence = "```".to_owned();
    while text.contains(&fence) {
        fence.push('`');
    }
    format!("{fence}{lang}\n{}\n{fence}\n", text.trim_end())
}

/// "2 added, 1 modified (1 replacement), 1 removed".
pub fn change_summary(changes: &[Change]) -> String {
    let count = |action: &str| changes.iter().filter(|c| c.action == action).count();
    let replaced = changes
        .iter()
        .filter(|c| matches!(c.replacement.as_deref(), Some("True" | "Conditional")))
        .count();
    let mut parts = Vec::new();
    for (action, word) in [("Add", "added"), ("Modify", "modified"), ("Remove", "removed")] {
        let n = count(action);
        if n > 0 {
            parts.push(match (action, replaced) {
                ("Modify", r) if r > 0 => {
                    format!("{n} {word} ({r} replacement{})", if r == 1 { "" } else { "s" })
                }
                _ => format!("{n} {word}"),
            });
        }
    }
    let other = changes.len() - count("Add") - count("Modify") - count("Remove");
    if other > 0 {
        parts.push(format!("{other} other"));
    }
    match parts.is_empty() {
        true => "none".to_owned(),
        false => parts.join(", "),
    }
}

fn result_cell(outcome: &Outcome) -> (&'static str, String) {
    let word = crate::commands::outcome_word(outcome);
    match outcome {
        Outcome::Created { changes } | Outcome::Updated { changes } => {
            ("✅", format!("{word} | {}", change_summary(changes)))
        }
        Outcome::Reviewed { changes, .. } => {
            ("📝", format!("{word} | {}", change_summary(changes)))
        }
        Outcome::Hotswapped { functions } => {
            ("✅", format!("{word} | code of {}", functions.len()))
        }
        Outcome::UpToDate | Outcome::NoChanges => ("✅", format!("{word} | none")),
        Outcome::Failed { .. } | Outcome::VerifyFailed { .. } | Outcome::Skipped { .. } => {
            ("❌", format!("{word} | –"))
        }
    }
}

/// A deploy: per app the outcome, what changed, outputs (URLs first), verify, policy findings.
pub fn deploy(report: &DeployReport, findings: &[Finding]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "| App | Result | Changes | Stack | Time |\n|:--|:--|:--|:--|--:|");
    for r in report.apps.iter().chain(&report.rollbacks) {
        let (icon, result) = result_cell(&r.outcome);
        let _ = writeln!(
            md,
            "| {} | {icon} {result} | `{}` ({}) | {:.1}s |",
            cell(&r.app),
            r.stack_name,
            r.region,
            r.seconds
        );
    }
    for r in report.apps.iter().chain(&report.rollbacks) {
        app_details(&mut md, r);
    }
    let problems: Vec<&Finding> =
        findings.iter().filter(|f| f.severity != Severity::Info).collect();
    if !problems.is_empty() {
        let _ = writeln!(md, "\n**Policy findings**\n");
        for f in problems {
            let level = if f.severity == Severity::Error { "error" } else { "warning" };
            let app = f.app.as_deref().map(|a| format!("{a}: ")).unwrap_or_default();
            let _ = writeln!(md, "- {level} `{}`: {app}{}", f.code, cell(&f.message));
        }
    }
    let artifacts: Vec<String> = report
        .artifacts
        .iter()
        .filter(|a| a.key.is_some())
        .map(|a| {
            format!(
                "`{}/{}` {} ({})",
                a.app,
                a.name,
                &a.sha256[..a.sha256.len().min(12)],
                if a.uploaded { "uploaded" } else { "in bucket" }
            )
        })
        .collect();
    if !artifacts.is_empty() {
        let _ = writeln!(md, "\nCode: {}", artifacts.join(", "));
    }
    let _ = writeln!(
        md,
        "\n<sub>commit `{}` of `{}`{} · {} AWS API calls</sub>",
        jiti_core::git::short(&report.checkout.commit, 7),
        report.checkout.branch,
        if report.checkout.dirty { " (uncommitted changes)" } else { "" },
        report.api_calls.total
    );
    md
}

fn app_details(md: &mut String, r: &AppResult) {
    let mut lines = String::new();
    match &r.outcome {
        Outcome::Failed { error, failed_events } => {
            let _ = writeln!(lines, "❌ {}", cell(error));
            for e in failed_events {
                let _ = writeln!(
                    lines,
                    "- `{}` {} ({}): {}",
                    e.logical_id,
                    e.status,
                    e.resource_type,
                    cell(e.reason.as_deref().unwrap_or("no reason given"))
                );
            }
        }
        Outcome::Skipped { reason } => {
            let _ = writeln!(lines, "⏭️ {}", cell(reason));
        }
        _ => {}
    }
    if let Some(v) = &r.verify {
        match v.success {
            true => {
                let _ = writeln!(lines, "verify: ✅ passed");
            }
            false => {
                let _ = writeln!(
                    lines,
                    "verify: ❌ failed\n<details><summary>output</summary>\n\n{}\n</details>",
                    fenced("", &v.output)
                );
            }
        }
    }
    if let Some(of) = r.release.as_ref().and_then(|rel| rel.rollback_of.as_deref()) {
        let _ = writeln!(lines, "rolled back: this is release {of} again");
    }
    if !r.outputs.is_empty() {
        // URLs first: the link a reviewer clicks.
        let mut outputs: Vec<(&String, &String)> = r.outputs.iter().collect();
        outputs.sort_by_key(|(k, v)| (!v.starts_with("https://") && !v.starts_with("http://"), *k));
        if !lines.is_empty() {
            lines.push('\n');
        }
        let _ = writeln!(lines, "| Output | Value |\n|:--|:--|");
        for (k, v) in outputs {
            let _ = writeln!(lines, "| `{k}` | {} |", cell(v));
        }
    }
    if !lines.is_empty() {
        let _ = write!(md, "\n**{}**\n\n{lines}", r.app);
    }
}

/// A destroy: each stack and what became of it.
pub fn destroy(report: &DestroyReport) -> String {
    let mut md = String::from("| App | Stack | Result |\n|:--|:--|:--|\n");
    for item in &report.plan {
        let done = report.deleted.iter().find(|d| d.stack_name == item.stack_name);
        let result = match (&item.status, &item.refused, done) {
            (None, _, _) => "absent (nothing to delete)".to_owned(),
            (Some(_), Some(why), _) => format!("kept: {why}"),
            (Some(status), None, None) if report.dry_run => format!("would delete ({status})"),
            (Some(_), None, Some(d)) if d.deleted => format!("🗑️ deleted in {:.1}s", d.seconds),
            (Some(_), None, Some(d)) => {
                format!("❌ failed: {}", d.error.as_deref().unwrap_or("unknown error"))
            }
            (Some(_), None, None) => "not attempted".to_owned(),
        };
        let _ = writeln!(
            md,
            "| {} | `{}` ({}) | {} |",
            cell(&item.app),
            item.stack_name,
            item.environment,
            cell(&result)
        );
    }
    let _ = writeln!(md, "\n<sub>{} AWS API calls</sub>", report.api_calls.total);
    md
}

/// A gc: what was (or would be) collected, and why.
pub fn gc(report: &GcReport) -> String {
    let mut md = String::new();
    if report.plan.collect.is_empty() && report.plan.resources.is_empty() {
        md.push_str("Nothing to collect.\n");
    } else {
        md.push_str("| Stack | App | Environment | Why | Result |\n|:--|:--|:--|:--|:--|\n");
        for c in &report.plan.collect {
            let why = c.reason.to_string();
            let result = match report.deleted.iter().find(|d| d.stack_name == c.stack_name) {
                None => "would delete".to_owned(),
                Some(d) if d.deleted => "🗑️ deleted".to_owned(),
                Some(d) if d.kept.is_some() => format!("kept: {}", d.kept.as_deref().unwrap_or("")),
                Some(d) => format!("❌ {}", d.error.as_deref().unwrap_or("failed")),
            };
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} | {} |",
                c.stack_name,
                cell(&c.app),
                cell(&c.environment),
                cell(&why),
                cell(&result)
            );
        }
        let _ = writeln!(md, "\n{} orphaned resource(s) planned.", report.plan.resources.len());
    }
    let _ = writeln!(
        md,
        "\n{} old build(s) deleted ({} bytes) · {} AWS API calls",
        report.artifacts_deleted, report.artifacts_bytes_deleted, report.api_calls.total
    );
    md
}

/// A diff: per app what a deploy would change, the template diff folded.
pub fn diff(report: &DiffReport) -> String {
    let mut md = String::new();
    for d in report.apps.iter().map(|a| &a.diff) {
        if !d.exists {
            let _ = writeln!(
                md,
                "**{}**: `{}` does not exist; a deploy creates {} resources\n",
                d.app,
                d.stack_name,
                d.resources.len()
            );
            continue;
        }
        if !d.differs() {
            let _ = writeln!(md, "**{}**: `{}` is up to date\n", d.app, d.stack_name);
            continue;
        }
        let _ = writeln!(
            md,
            "**{}**: `{}` would change: {}\n",
            d.app,
            d.stack_name,
            change_summary(&d.resources)
        );
        if !d.resources.is_empty() {
            let _ = writeln!(md, "| Action | Resource | Type | Replacement |\n|:--|:--|:--|:--|");
            for c in &d.resources {
                let _ = writeln!(
                    md,
                    "| {} | `{}` | `{}` | {} |",
                    c.action,
                    c.logical_id,
                    c.resource_type,
                    c.replacement.as_deref().unwrap_or("")
                );
            }
            md.push('\n');
        }
        for t in &d.tags {
            let _ = writeln!(
                md,
                "- tag `{}`: {} → {}",
                t.key,
                t.old.as_deref().map(cell).unwrap_or_else(|| "(none)".into()),
                t.new.as_deref().map(cell).unwrap_or_else(|| "(none)".into())
            );
        }
        let old = d.deployed.as_deref().unwrap_or_default();
        let unified = similar::TextDiff::from_lines(old, &d.proposed)
            .unified_diff()
            .context_radius(3)
            .header(&format!("deployed/{}", d.stack_name), &format!("rendered/{}", d.stack_name))
            .to_string();
        let _ = writeln!(
            md,
            "<details><summary>template diff</summary>\n\n{}\n</details>\n",
            fenced("diff", &unified)
        );
    }
    md
}
