//! `cargo jiti envs`: every environment of the workspace's apps, from one paginated listing.

use std::io::Write;
use std::time::SystemTime;

use jiti_core::cloud::CallCounter;
use jiti_core::inventory::{self, BranchPresence};
use jiti_core::report::{EnvsReport, ListedRegion};

use crate::cli::EnvsArgs;
use crate::shell::{DIM, ERROR, Exit, GOOD, Shell, WARNING};

pub fn exec(args: EnvsArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let mut args = args;
    args.project.workspace |= args.project.packages.is_empty();
    let project = super::load_project(&args.project, shell)?;
    let branches = jiti_core::git::branches(&project.git.root)?;
    let counter = CallCounter::default();
    let (stacks, hotswaps) = super::runtime()?.block_on(async {
        let apis =
            super::connect_everywhere(project.selected_apps(), &args.cloud.connect, &counter).await;
        let stacks = jiti_core::stacks::listing(&apis).await?;
        // The checkout's own environment of each app that ships code: whether its functions run
        // newer code than its template (one ledger listing per app, not per environment listed).
        let mut hotswaps = std::collections::BTreeMap::new();
        for app in project.selected_apps().filter(|a| !a.artifacts.is_empty()) {
            let target = jiti_core::stacks::target(app);
            let deployed = stacks.get(&target).is_some_and(|s| s.contains_key(&app.stack_name));
            if let (true, Some(api)) = (deployed, apis.get(&target)) {
                let env = &app.environment.name;
                let count = jiti_core::ledger::hotswaps_listed(api, &app.name, env).await?;
                hotswaps.insert((app.name.clone(), env.clone()), count);
            }
        }
        Ok::<_, anyhow::Error>((stacks, hotswaps))
    })?;
    let all: Vec<_> = stacks.into_values().flat_map(|m| m.into_values()).collect();
    let selected: Vec<&str> = project.selected_apps().map(|a| a.name.as_str()).collect();
    let mut rows: Vec<_> = inventory::environments(&project, &all, &branches)
        .into_iter()
        .filter(|r| selected.contains(&r.app.as_str()))
        .collect();
    for r in &mut rows {
        r.hotswaps = hotswaps.get(&(r.app.clone(), r.environment.clone())).copied().unwrap_or(0);
    }
    // Which regions were listed, and where each came from: a region found in the wrong place (an
    // old AWS_REGION, another profile) is the first thing to rule out when an environment is missing.
    let mut regions: Vec<ListedRegion> = Vec::new();
    for app in project.selected_apps() {
        for target in jiti_core::stacks::targets(app) {
            let from = if target.region == app.region {
                app.region_source.to_string()
            } else {
                "where another environment of the app is configured".to_owned()
            };
            match regions.iter_mut().find(|r| r.region == target.region && r.from == from) {
                Some(r) => r.apps.push(app.name.clone()),
                None => regions.push(ListedRegion {
                    region: target.region.clone(),
                    from,
                    apps: vec![app.name.clone()],
                }),
            }
        }
    }
    let report = EnvsReport { environments: rows, regions, api_calls: (&counter).into() };
    if shell.json() {
        shell.print_report(report)?;
        return Ok(Exit::Success);
    }
    let mut err = shell.err();
    for r in &report.regions {
        writeln!(err, "{DIM}region {} ({}): {}{DIM:#}", r.region, r.from, r.apps.join(", "))?;
    }
    drop(err);
    let rows = &report.environments;
    let mut out = shell.out();
    if rows.is_empty() {
        writeln!(out, "no environment of {} is deployed", selected.join(", "))?;
        return Ok(Exit::Success);
    }
    writeln!(
        out,
        "{DIM}{:<14} {:<32} {:<28} {:<20} {:<9} {:<8} {:<12} {:<11} BRANCH IS{DIM:#}",
        "APP", "ENVIRONMENT", "BRANCH", "STATUS", "VERSION", "COMMIT", "UPDATED", "EXPIRES"
    )?;
    let now = SystemTime::now();
    for r in rows {
        let env = if r.protected {
            format!("{} (protected)", r.environment)
        } else {
            r.environment.clone()
        };
        let status = r.status.as_str();
        let status_style = if status.ends_with("_COMPLETE") && !status.contains("ROLLBACK") {
            GOOD
        } else if status.ends_with("IN_PROGRESS") {
            WARNING
        } else {
            ERROR
        };
        let expires = match r.expires_at {
            Some(t) => match t.duration_since(now) {
                Ok(left) => format!("in {}", short(left)),
                Err(_) => "expired".to_owned(),
            },
            None => "-".to_owned(),
        };
        let updated = r
            .updated
            .and_then(|t| now.duration_since(t).ok())
            .map_or("-".to_owned(), |d| format!("{} ago", short(d)));
        let presence = match r.branch_presence {
            BranchPresence::Local => "local",
            BranchPresence::Remote => "remote",
            BranchPresence::LocalAndRemote => "local, remote",
            BranchPresence::Gone => "gone",
        };
        let commit = jiti_core::git::short(&r.commit, 7);
        writeln!(
            out,
            "{:<14} {:<32} {:<28} {status_style}{:<20}{status_style:#} {:<9} {:<8} {:<12} {:<11} {}",
            r.app, env, r.branch, r.status, r.version, commit, updated, expires, presence
        )?;
    }
    for r in rows.iter().filter(|r| r.hotswaps > 0) {
        writeln!(
            out,
            "{WARNING}{}{WARNING:#} {}: code hotswapped {}× since the last deploy (the stack's template names older code; the next deploy brings it up)",
            r.app, r.environment, r.hotswaps
        )?;
    }
    Ok(Exit::Success)
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
