//! `cargo jiti envs`: every environment of the workspace's apps, from one paginated listing.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use jiti_core::cloud::CallCounter;
use jiti_core::inventory::{self, BranchPresence};
use serde_json::json;

use crate::cli::EnvsArgs;
use crate::output::{self, DIM, ERROR, GOOD, WARNING};

pub fn exec(args: EnvsArgs) -> anyhow::Result<ExitCode> {
    let mut args = args;
    args.project.workspace |= args.project.packages.is_empty();
    let project = super::load_project(&args.project)?;
    let branches = jiti_core::git::branches(&project.git.root)?;
    let counter = CallCounter::default();
    let stacks = super::runtime()?.block_on(async {
        let apis = super::connect_everywhere(project.selected_apps(), &args.cloud.connect, &counter).await;
        jiti_core::deploy::listing(&apis).await
    })?;
    let all: Vec<_> = stacks.into_values().flat_map(|m| m.into_values()).collect();
    let selected: Vec<&str> = project.selected_apps().map(|a| a.name.as_str()).collect();
    let rows: Vec<_> = inventory::environments(&project, &all, &branches).into_iter().filter(|r| selected.contains(&r.app.as_str())).collect();
    // Which regions were listed, and where each came from: a region found in the wrong place (an
    // old AWS_REGION, another profile) is the first thing to rule out when an environment is missing.
    let mut regions: Vec<(String, String, Vec<String>)> = Vec::new();
    for app in project.selected_apps() {
        for target in jiti_core::deploy::targets(app) {
            let from = if target.region == app.region { app.region_source.to_string() } else { "where another environment of the app is configured".to_owned() };
            match regions.iter_mut().find(|(r, f, _)| *r == target.region && *f == from) {
                Some((_, _, apps)) => apps.push(app.name.clone()),
                None => regions.push((target.region.clone(), from, vec![app.name.clone()])),
            }
        }
    }
    if args.cloud.json {
        let regions: Vec<_> = regions.iter().map(|(region, from, apps)| json!({"region": region, "from": from, "apps": apps})).collect();
        output::print_json(&json!({"environments": rows, "regions": regions, "api_calls": super::calls_json(&counter)}))?;
        return Ok(ExitCode::SUCCESS);
    }
    {
        let mut err = anstream::stderr().lock();
        for (region, from, apps) in &regions {
            writeln!(err, "{DIM}region {region} ({from}): {}{DIM:#}", apps.join(", "))?;
        }
    }
    let mut out = output::stdout();
    if rows.is_empty() {
        writeln!(out, "no environment of {} is deployed", selected.join(", "))?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "{DIM}{:<14} {:<32} {:<28} {:<20} {:<9} {:<8} {:<12} {:<11} BRANCH IS{DIM:#}", "APP", "ENVIRONMENT", "BRANCH", "STATUS", "VERSION", "COMMIT", "UPDATED", "EXPIRES")?;
    let now = SystemTime::now();
    for r in &rows {
        let env = if r.protected { format!("{} (protected)", r.environment) } else { r.environment.clone() };
        let status_style = if r.status.ends_with("_COMPLETE") && !r.status.contains("ROLLBACK") { GOOD } else if r.status.ends_with("IN_PROGRESS") { WARNING } else { ERROR };
        let expires = match r.expires_at {
            Some(t) => match t.duration_since(now) {
                Ok(left) => format!("in {}", short(left)),
                Err(_) => "expired".to_owned(),
            },
            None => "-".to_owned(),
        };
        let updated = r.updated.and_then(|t| now.duration_since(t).ok()).map_or("-".to_owned(), |d| format!("{} ago", short(d)));
        let presence = match r.branch_presence {
            BranchPresence::Local => "local",
            BranchPresence::Remote => "remote",
            BranchPresence::LocalAndRemote => "local, remote",
            BranchPresence::Gone => "gone",
        };
        let commit = r.commit.get(..7).unwrap_or(&r.commit);
        writeln!(out, "{:<14} {:<32} {:<28} {status_style}{:<20}{status_style:#} {:<9} {:<8} {:<12} {:<11} {}", r.app, env, r.branch, r.status, r.version, commit, updated, expires, presence)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `3d`, `5h`, `12m`, `40s`: the largest unit.
fn short(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}
