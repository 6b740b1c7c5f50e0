//! `cargo jiti render`: each selected app's template for the branch's environment, written to
//! `target/jiti/<env>/<app>.template.json` (or printed with `--stdout`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use jiti_core::render::{self, Rendered};
use serde_json::json;

use crate::cli::RenderArgs;
use crate::output::{self, DIM, GOOD, NOTE};

pub fn exec(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let project = super::load_offline_project(&args.project)?;
    let apps: Vec<_> = project.selected_apps().collect();
    if args.stdout && apps.len() != 1 {
        let names: Vec<_> = apps.iter().map(|a| a.name.as_str()).collect();
        bail!("--stdout prints one template, and {} apps are selected ({}): pick one with -p", names.len(), names.join(", "));
    }
    // Render every app before writing any, so a broken app leaves no half-updated target/jiti.
    let mut rendered = Vec::new();
    let mut failures = Vec::new();
    for app in &apps {
        match render::render_app(&project, app) {
            Ok(r) => rendered.push(r),
            Err(e) => failures.push(anyhow::Error::new(e)),
        }
    }
    if let Some(last) = failures.pop() {
        for e in &failures {
            output::print_error(e);
        }
        return Err(last);
    }
    if args.stdout {
        output::hide(rendered.iter().flat_map(|r| r.secrets.clone()));
        std::io::stdout().lock().write_all(rendered[0].masked_json().as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut summaries = Vec::new();
    for r in &rendered {
        let path = render::write(&project, r)?;
        if args.json {
            let mut s = summary(r, &path);
            if let Some(app) = project.app(&r.app) {
                s["region"] = json!((!app.region.is_empty()).then_some(&app.region));
                s["region_source"] = json!(app.region_source);
                s["region_from"] = json!(app.region_source.to_string());
            }
            summaries.push(s);
        } else {
            print_human(r, &path, &project.workspace_root);
        }
    }
    if args.json {
        output::print_json(&json!({
            "branch": project.git.branch,
            "commit": project.git.commit,
            "dirty": project.git.dirty,
            "apps": summaries,
        }))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn summary(r: &Rendered, path: &std::path::Path) -> serde_json::Value {
    json!({
        "app": r.app,
        "environment": r.environment.name,
        "protected": r.environment.protected,
        "stack_name": r.stack_name,
        "template": path,
        "hash": r.template.hash(),
        "resources": r.template.all_resources().len(),
        "loop_resources": r.template.loop_resources(),
        "tagged": r.tags.tagged,
        "untaggable": r.tags.untaggable,
        "not_injectable": r.tags.not_injectable,
        "retention_dropped": r.retention,
    })
}

fn print_human(r: &Rendered, path: &std::path::Path, root: &std::path::Path) {
    let mut err = anstream::stderr().lock();
    let shown = path.strip_prefix(root).unwrap_or(path);
    let _ = writeln!(err, "{GOOD}{:>12}{GOOD:#} {} {DIM}({} → stack {}){DIM:#} → {}", "Rendered", r.app, r.environment.name, r.stack_name, shown.display());
    let resources = r.template.all_resources().len();
    let loops = match r.template.loop_resources() {
        0 => String::new(),
        n => format!(" ({n} in Fn::ForEach loops)"),
    };
    let _ = writeln!(err, "{:>12} {resources} resources{loops}, {} tagged, {} untaggable", "", r.tags.tagged, r.tags.untaggable.len());
    for s in r.tags.untaggable.iter().chain(&r.tags.not_injectable) {
        let _ = writeln!(err, "{:>12} {NOTE}note{NOTE:#}: `{}` ({}) not tagged: {}", "", s.resource, s.resource_type, s.reason);
    }
    for c in &r.retention {
        let _ = writeln!(err, "{:>12} {NOTE}note{NOTE:#}: `{}` {} {} → Delete (ephemeral environment)", "", c.resource, c.attribute, c.from);
    }
}
