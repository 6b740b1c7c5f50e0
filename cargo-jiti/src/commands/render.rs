//! `cargo jiti render`: each selected app's template for the branch's environment, written to
//! `target/jiti/<env>/<app>.template.json` (or printed with `--stdout`).

use std::io::Write;

use jiti_core::render::{self, Rendered};
use jiti_core::report::{RenderReport, RenderedApp};
use jiti_core::resolve::ResolvedApp;

use crate::cli::RenderArgs;
use crate::shell::{DIM, Exit, GOOD, NOTE, Shell};

pub fn exec(args: RenderArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let project = super::load_offline_project(&args.project, shell)?;
    let apps: Vec<&ResolvedApp> = match args.stdout {
        true => vec![project.one_app("--stdout prints")?],
        false => project.selected_apps().collect(),
    };
    // All or nothing: a broken app leaves no half-updated target/jiti.
    let rendered = match render::render_all(&project, apps) {
        Ok(rendered) => rendered,
        Err(mut errors) => {
            let last = errors.pop().map(anyhow::Error::new);
            for e in errors {
                shell.print_error(&anyhow::Error::new(e));
            }
            return Err(last.unwrap_or_else(|| anyhow::anyhow!("render failed")));
        }
    };
    shell.hide(rendered.iter().flat_map(|r| r.secrets.clone()));
    if args.stdout {
        write!(shell.out(), "{}", rendered[0].masked_json())?;
        return Ok(Exit::Success);
    }
    let mut report = RenderReport { checkout: super::checkout(&project), apps: Vec::new() };
    for r in &rendered {
        let path = render::write(&project, r)?;
        let app = project.app(&r.app);
        report.apps.push(RenderedApp {
            app: r.app.clone(),
            environment: r.environment.name.clone(),
            protected: r.environment.protected,
            stack_name: r.stack_name.clone(),
            template: path,
            hash: r.template.hash(),
            resources: r.template.all_resources().len(),
            loop_resources: r.template.loop_resources(),
            tagged: r.tags.tagged,
            untaggable: r.tags.untaggable.clone(),
            not_injectable: r.tags.not_injectable.clone(),
            retention_dropped: r.retention.clone(),
            log_groups_added: r.logs.added.clone(),
            log_groups_left: r.logs.left.clone(),
            region: app.map(|a| a.region.clone()).filter(|r| !r.is_empty()),
            region_source: app
                .map_or(jiti_core::resolve::RegionSource::Unknown, |a| a.region_source.clone()),
            region_from: app.map(|a| a.region_source.to_string()).unwrap_or_default(),
        });
        if !shell.json() {
            print_human(shell, r, &report.apps[report.apps.len() - 1], &project.workspace_root);
        }
    }
    if shell.json() {
        shell.print_report(report)?;
    }
    Ok(Exit::Success)
}

fn print_human(shell: &Shell, r: &Rendered, summary: &RenderedApp, root: &std::path::Path) {
    let mut err = shell.err();
    let shown = summary.template.strip_prefix(root).unwrap_or(&summary.template);
    let _ = writeln!(
        err,
        "{GOOD}{:>12}{GOOD:#} {} {DIM}({} → stack {}){DIM:#} → {}",
        "Rendered",
        r.app,
        r.environment.name,
        r.stack_name,
        shown.display()
    );
    let loops = match summary.loop_resources {
        0 => String::new(),
        n => format!(" ({n} in Fn::ForEach loops)"),
    };
    let _ = writeln!(
        err,
        "{:>12} {} resources{loops}, {} tagged, {} untaggable",
        "",
        summary.resources,
        summary.tagged,
        summary.untaggable.len()
    );
    for s in summary.untaggable.iter().chain(&summary.not_injectable) {
        let _ = writeln!(
            err,
            "{:>12} {NOTE}note{NOTE:#}: `{}` ({}) not tagged: {}",
            "", s.resource, s.resource_type, s.reason
        );
    }
    for c in &summary.retention_dropped {
        let _ = writeln!(
            err,
            "{:>12} {NOTE}note{NOTE:#}: `{}` {} {} → Delete (ephemeral environment)",
            "", c.resource, c.attribute, c.from
        );
    }
    for a in &summary.log_groups_added {
        let _ = writeln!(
            err,
            "{:>12} {NOTE}note{NOTE:#}: `{}` logs to `{}`, added to the stack ({} days)",
            "", a.function, a.log_group, a.retention_days
        );
    }
    for l in &summary.log_groups_left {
        let _ = writeln!(err, "{:>12} {NOTE}note{NOTE:#}: `{}`: {}", "", l.function, l.why);
    }
}
