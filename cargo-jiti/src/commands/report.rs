//! `cargo jiti report`: every environment of the workspace's apps at a glance, with its releases
//! and what gc would collect now: JSON (`--json`) or one self-contained HTML page (`--html`).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::SystemTime;

use anyhow::Context as _;
use jiti_core::cloud::{ArtifactStore, CallCounter};
use jiti_core::gc::artifacts::{self, ArtifactOptions};
use jiti_core::gc::{self, GcOptions};
use jiti_core::report::OverviewReport;

use crate::cli::ReportArgs;
use crate::shell::{Exit, GOOD, Shell};

pub fn exec(args: ReportArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let project = super::load_project(&super::workspace(args.manifest_path.clone(), None), shell)?;
    let (knowledge, remote_branches) = super::branch_knowledge(&project, args.remote.as_deref())?;
    let branches = jiti_core::git::branches(&project.git.root)?;
    let now = SystemTime::now();
    let options = GcOptions { remote_branches, now: Some(now), ..GcOptions::default() };
    let counter = CallCounter::default();
    let (seen, environments, releases, builds) = super::runtime()?.block_on(async {
        let apis = super::connect_everywhere(&project.apps, &args.cloud.connect, &counter).await;
        // One look serves the environments and gc's plan: the same listing, judged twice.
        let seen = gc::look(&project, &apis).await?;
        let all: Vec<_> = seen.stacks.values().flat_map(|m| m.values().cloned()).collect();
        let environments = jiti_core::inventory::environments(&project, &all, &branches);
        // Each environment read from the ledger of its app's account and region.
        let mut per_target: BTreeMap<_, Vec<(String, String)>> = BTreeMap::new();
        for env in &environments {
            if let Some(app) = project.app(&env.app) {
                let target = jiti_core::stacks::target(app);
                per_target
                    .entry(target)
                    .or_default()
                    .push((env.app.clone(), env.environment.clone()));
            }
        }
        let wanted: Vec<_> = per_target
            .into_iter()
            .filter_map(|(target, envs)| Some((apis.get(&target)?, envs)))
            .collect();
        let releases = jiti_core::overview::releases(wanted, args.releases, args.jobs).await?;
        let mut builds = Vec::new();
        let mut buckets = std::collections::BTreeSet::new();
        let artifact_options = ArtifactOptions { now, ..ArtifactOptions::default() };
        for api in apis.values() {
            if buckets.insert(api.bucket_name().await?) {
                builds.push(artifacts::look(api, &artifact_options).await?);
            }
        }
        Ok::<_, anyhow::Error>((seen, environments, releases, builds))
    })?;
    let regions: BTreeMap<String, String> = seen
        .stacks
        .iter()
        .flat_map(|(t, m)| m.keys().map(move |name| (name.clone(), t.region.clone())))
        .collect();
    // A plan the guards refuse is still worth showing: as a note, with nothing to collect.
    let plan = gc::plan(&project, &seen, &knowledge, &options).unwrap_or_else(|e| gc::Plan {
        notes: vec![format!("gc would refuse to run: {e}")],
        ..gc::Plan::default()
    });
    let overview =
        jiti_core::overview::assemble(now, environments, &regions, releases, plan, &builds);
    let mut report = OverviewReport { overview, published: None, api_calls: (&counter).into() };
    // The page only where it goes somewhere: `--json` alone never renders it.
    let wanted = args.publish || args.output.is_some() || !shell.json();
    let page = match wanted {
        true => shell.masked(&crate::html::page(&report.overview)),
        false => String::new(),
    };
    if args.publish {
        report.published = Some(publish(&project, &args, &page, &counter)?);
        report.api_calls = (&counter).into();
    }
    if let Some(path) = &args.output {
        jiti_core::layout::write_atomic(path, &page)
            .with_context(|| format!("failed to write `{}`", path.display()))?;
        if !shell.json() {
            writeln!(
                shell.out(),
                "{GOOD}wrote{GOOD:#} {} ({} environments, {} bytes)",
                path.display(),
                report.overview.environments.len(),
                page.len()
            )?;
        }
    }
    if shell.json() {
        shell.print_report(report)?;
    } else if let Some(p) = &report.published {
        writeln!(
            shell.out(),
            "{GOOD}published{GOOD:#} s3://{}/{} (private); this URL reads it until {}:\n{}",
            p.bucket,
            p.key,
            p.expires_at,
            p.url
        )?;
    } else if args.output.is_none() {
        write!(shell.out(), "{page}")?;
    }
    Ok(Exit::Success)
}

/// Where a published page goes: one key, each run replacing the last (older URLs then read the
/// newer page, until they expire).
const PUBLISHED_KEY: &str = "reports/environments.html";

/// Uploads the page to the artifacts bucket of the workspace's first app (its region and
/// profile) and presigns a URL for it.
fn publish(
    project: &jiti_core::resolve::Project,
    args: &ReportArgs,
    page: &str,
    counter: &CallCounter,
) -> anyhow::Result<jiti_core::report::Published> {
    let app = project.apps.first().context("the workspace has no app to publish for")?;
    super::runtime()?.block_on(async {
        let apis = super::connect(std::iter::once(app), &args.cloud.connect, counter).await;
        let api = &apis[&jiti_core::stacks::target(app)];
        let bucket = api.bucket().await?;
        let url = api
            .publish(
                PUBLISHED_KEY,
                page.as_bytes().to_vec(),
                "text/html; charset=utf-8",
                args.expires,
            )
            .await?;
        let expires_at =
            humantime::format_rfc3339_seconds(SystemTime::now() + args.expires).to_string();
        Ok(jiti_core::report::Published { bucket, key: PUBLISHED_KEY.to_owned(), url, expires_at })
    })
}
