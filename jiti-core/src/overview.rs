//! `cargo jiti report`: what cargo-jiti knows about the workspace's environments, in one value:
//! each environment (its stack's tags, its branch's state, its region), its releases from the
//! ledger, what `gc` would collect now and why, and totals. Assembled here from what the binary
//! looked up (the listing `envs` reads, the ledger, gc's dry-run plan, the artifacts buckets'
//! listing); pure, so a test builds one from plain data. The binary renders it as JSON or HTML.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use crate::cloud::{CloudError, ReleaseStore};
use crate::gc::Plan;
use crate::gc::artifacts::ArtifactPlan;
use crate::inventory::EnvStack;
use crate::ledger::Release;

/// One environment of one app, with its releases (newest first).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct EnvOverview {
    #[serde(flatten)]
    pub stack: EnvStack,
    pub region: String,
    /// Who deployed its newest release (git's identity, else the AWS caller), when recorded.
    pub deployed_by: Option<String>,
    /// The newest releases, as many as were read.
    pub releases: Vec<Release>,
}

/// What the page sums up.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Totals {
    pub apps: usize,
    pub environments: usize,
    pub stacks: usize,
    pub protected: usize,
    /// Environments whose branch is neither local nor on the remote.
    pub branch_gone: usize,
    pub regions: Vec<String>,
    /// Stacks `gc` would delete now.
    pub collectable: usize,
    /// Build objects in the artifacts buckets, and their bytes.
    pub artifacts: usize,
    pub artifact_bytes: u64,
}

/// The whole report.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Overview {
    /// RFC 3339, UTC.
    pub generated_at: String,
    pub environments: Vec<EnvOverview>,
    pub gc: Plan,
    pub totals: Totals,
}

/// Puts the pieces together: `environments` as `inventory::environments` lists them, each with
/// its stack's region (`regions`, by stack name) and its releases (`releases`, by app and
/// environment); `builds` are the artifacts buckets' plans.
pub fn assemble(
    now: SystemTime,
    environments: Vec<EnvStack>,
    regions: &BTreeMap<String, String>,
    mut releases: BTreeMap<(String, String), Vec<Release>>,
    gc: Plan,
    builds: &[ArtifactPlan],
) -> Overview {
    let environments: Vec<EnvOverview> = environments
        .into_iter()
        .map(|stack| {
            let releases = releases
                .remove(&(stack.app.clone(), stack.environment.clone()))
                .unwrap_or_default();
            let deployed_by = releases
                .first()
                .and_then(|r| r.deployed_by.git.clone().or_else(|| r.deployed_by.aws.clone()));
            EnvOverview {
                region: regions.get(&stack.stack_name).cloned().unwrap_or_default(),
                deployed_by,
                releases,
                stack,
            }
        })
        .collect();
    let distinct = |f: fn(&EnvOverview) -> String| {
        environments.iter().map(f).collect::<BTreeSet<String>>().len()
    };
    let totals = Totals {
        apps: distinct(|e| e.stack.app.clone()),
        environments: distinct(|e| e.stack.environment.clone()),
        stacks: environments.len(),
        protected: environments.iter().filter(|e| e.stack.protected).count(),
        branch_gone: environments
            .iter()
            .filter(|e| e.stack.branch_presence == crate::inventory::BranchPresence::Gone)
            .count(),
        regions: environments
            .iter()
            .map(|e| e.region.clone())
            .filter(|r| !r.is_empty())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        collectable: gc.collect.len(),
        artifacts: builds.iter().map(|b| b.kept + b.collect.len()).sum(),
        artifact_bytes: builds.iter().map(|b| b.kept_bytes + b.collect_bytes).sum(),
    };
    Overview {
        generated_at: humantime::format_rfc3339_seconds(now).to_string(),
        environments,
        gc,
        totals,
    }
}

/// The newest `limit` releases of each `(store, app, environment)`, `jobs` environments at a time:
/// each is a listing and a read per release, the bulk of a report's calls when environments are
/// many, and the time goes to waiting on them.
pub async fn releases<S: ReleaseStore>(
    wanted: Vec<(&S, String, String)>,
    limit: usize,
    jobs: usize,
) -> Result<BTreeMap<(String, String), Vec<Release>>, CloudError> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    stream::iter(wanted)
        .map(|(store, app, environment)| async move {
            let read = crate::ledger::history(store, &app, &environment, limit).await?;
            Ok::<_, CloudError>(((app, environment), read))
        })
        .buffer_unordered(jobs.max(1))
        .try_collect()
        .await
}
