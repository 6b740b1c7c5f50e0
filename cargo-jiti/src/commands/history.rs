//! `cargo jiti history`: the releases of each selected app's environment, newest first.

use std::io::Write;
use std::process::ExitCode;

use jiti_core::cloud::CallCounter;
use jiti_core::ledger::{self, ReleaseStatus};
use serde_json::json;

use crate::cli::HistoryArgs;
use crate::output::{self, DIM, ERROR, GOOD, NOTE, WARNING};

pub fn exec(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let project = super::load_project(&args.project)?;
    let counter = CallCounter::default();
    let histories = super::runtime()?.block_on(async {
        let apis = super::connect(project.selected_apps(), &args.cloud.connect, &counter).await;
        let mut out = Vec::new();
        for app in project.selected_apps() {
            let env = args.env.clone().unwrap_or_else(|| app.environment.name.clone());
            let api = &apis[&jiti_core::deploy::target(app)];
            out.push((app.name.clone(), env.clone(), ledger::history(api, &app.name, &env, args.limit).await?));
        }
        Ok::<_, anyhow::Error>(out)
    })?;
    if args.cloud.json {
        let apps: Vec<_> = histories.iter().map(|(app, env, releases)| json!({"app": app, "environment": env, "releases": releases})).collect();
        output::print_json(&json!({"apps": apps, "api_calls": super::calls_json(&counter)}))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = output::stdout();
    for (app, env, releases) in &histories {
        writeln!(out, "{NOTE}{app}{NOTE:#} in {env}: {} release(s)", releases.len())?;
        for r in releases {
            let (style, status) = match r.status {
                ReleaseStatus::Deployed => (GOOD, "deployed"),
                ReleaseStatus::VerifyFailed => (ERROR, "verify failed"),
                ReleaseStatus::Started => (WARNING, "started: outcome not recorded"),
                ReleaseStatus::Failed => (ERROR, "failed"),
                ReleaseStatus::NoChanges => (DIM, "no changes"),
            };
            let rollback = r.rollback_of.as_deref().map(|id| format!(" (rollback of {id})")).unwrap_or_default();
            let who = r.deployed_by.git.as_deref().or(r.deployed_by.aws.as_deref()).unwrap_or("?");
            let dirty = if r.dirty { "+dirty" } else { "" };
            writeln!(out, "  {DIM}{}{DIM:#}  {:<10} {}{dirty:<6} {style}{status:<29}{style:#} {who}{rollback}  {DIM}{}{DIM:#}", r.time, r.version, &r.commit[..r.commit.len().min(7)], r.id)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
