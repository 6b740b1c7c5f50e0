//! `cargo jiti history`: the releases of each selected app's environment, newest first.

use std::io::Write;

use jiti_core::cloud::CallCounter;
use jiti_core::ledger::{self, ReleaseMethod, ReleaseStatus};
use jiti_core::report::{AppHistory, HistoryReport};

use crate::cli::HistoryArgs;
use crate::shell::{DIM, ERROR, Exit, GOOD, NOTE, Shell, WARNING};

pub fn exec(args: HistoryArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let project = super::load_project(&args.project, shell)?;
    let counter = CallCounter::default();
    let histories = super::runtime()?.block_on(async {
        let apis = super::connect(project.selected_apps(), &args.cloud.connect, &counter).await;
        let mut out = Vec::new();
        for app in project.selected_apps() {
            let environment = args.env.env.clone().unwrap_or_else(|| app.environment.name.clone());
            let api = &apis[&jiti_core::stacks::target(app)];
            let releases = ledger::history(api, &app.name, &environment, args.limit).await?;
            out.push(AppHistory { app: app.name.clone(), environment, releases });
        }
        Ok::<_, anyhow::Error>(out)
    })?;
    if shell.json() {
        shell.print_report(HistoryReport { apps: histories, api_calls: (&counter).into() })?;
        return Ok(Exit::Success);
    }
    let mut out = shell.out();
    for AppHistory { app, environment: env, releases } in &histories {
        writeln!(out, "{NOTE}{app}{NOTE:#} in {env}: {} release(s)", releases.len())?;
        for r in releases {
            let (style, status) = match r.status {
                ReleaseStatus::Deployed if r.method == ReleaseMethod::Hotswap => {
                    (GOOD, "hotswapped")
                }
                ReleaseStatus::Deployed => (GOOD, "deployed"),
                ReleaseStatus::VerifyFailed => (ERROR, "verify failed"),
                ReleaseStatus::Started => (WARNING, "started: outcome not recorded"),
                ReleaseStatus::Failed => (ERROR, "failed"),
                ReleaseStatus::NoChanges => (DIM, "no changes"),
            };
            let rollback = r
                .rollback_of
                .as_deref()
                .map(|id| format!(" (rollback of {id})"))
                .unwrap_or_default();
            let who = r.deployed_by.git.as_deref().or(r.deployed_by.aws.as_deref()).unwrap_or("?");
            let dirty = if r.dirty { "+dirty" } else { "" };
            let code: String =
                r.artifacts.iter().map(|a| format!(" {}@{}", a.name, a.short_hash())).collect();
            writeln!(
                out,
                "  {DIM}{}{DIM:#}  {:<10} {}{dirty:<6} {style}{status:<29}{style:#} {who}{rollback}{code}  {DIM}{}{DIM:#}",
                r.time,
                r.version,
                jiti_core::git::short(&r.commit, 7),
                r.id
            )?;
        }
    }
    Ok(Exit::Success)
}
