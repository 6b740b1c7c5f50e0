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
use crate::ledger::{EnvHistory, Release};

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
/// its stack's region (`regions`, by stack name), its releases and hotswaps (`releases`, by app
/// and environment); `builds` are the artifacts buckets' plans.
pub fn assemble(
    now: SystemTime,
    environments: Vec<EnvStack>,
    regions: &BTreeMap<String, String>,
    mut releases: BTreeMap<(String, String), EnvHistory>,
    gc: Plan,
    builds: &[ArtifactPlan],
) -> Overview {
    let environments: Vec<EnvOverview> = environments
        .into_iter()
        .map(|mut stack| {
            let history = releases
                .remove(&(stack.app.clone(), stack.environment.clone()))
                .unwrap_or_default();
            stack.hotswaps = history.hotswaps;
            let releases = history.releases;
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

/// The newest `limit` releases of each environment, and its hotswaps since the last deploy:
/// `wanted` holds each ledger (one per artifacts bucket) with the environments read from it. The
/// bulk of a report's calls when environments are many: the ledger is listed per app, not per
/// environment (see `ledger::histories`), and records are read `jobs` at a time.
pub async fn releases<S: ReleaseStore>(
    wanted: Vec<(&S, Vec<(String, String)>)>,
    limit: usize,
    jobs: usize,
) -> Result<BTreeMap<(String, String), EnvHistory>, CloudError> {
    let mut out = BTreeMap::new();
    for (store, environments) in wanted {
        out.extend(crate::ledger::histories(store, &environments, limit, jobs).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::BranchPresence;
    use crate::ledger::{Deployer, ReleaseMethod, ReleaseStatus};
    use crate::testing::release;

    fn stack(app: &str, environment: &str, protected: bool, presence: BranchPresence) -> EnvStack {
        EnvStack {
            app: app.into(),
            environment: environment.into(),
            branch: environment.into(),
            protected,
            stack_name: format!("{app}-{environment}"),
            status: "UPDATE_COMPLETE".into(),
            version: "1.0.0".into(),
            commit: "c".into(),
            updated: None,
            expires_at: None,
            branch_presence: presence,
            hotswaps: 0,
        }
    }

    #[test]
    fn each_environment_gets_its_releases_hotswaps_region_and_deployer() {
        let hot = Release {
            method: ReleaseMethod::Hotswap,
            deployed_by: Deployer { git: None, aws: Some("arn:aws:iam::1:role/ci".into()) },
            ..release("2", "1.0.1", "d", ReleaseStatus::Deployed)
        };
        let deployed = Release {
            deployed_by: Deployer { git: Some("Ann <ann@example.com>".into()), aws: None },
            ..release("1", "1.0.0", "c", ReleaseStatus::Deployed)
        };
        let releases = BTreeMap::from([(
            ("orders".to_owned(), "production".to_owned()),
            EnvHistory { releases: vec![hot, deployed], hotswaps: 1 },
        )]);
        let regions = BTreeMap::from([
            ("orders-production".to_owned(), "eu-west-1".to_owned()),
            ("billing-feature-x".to_owned(), "us-east-1".to_owned()),
        ]);
        let environments = vec![
            stack("orders", "production", true, BranchPresence::LocalAndRemote),
            stack("billing", "feature-x", false, BranchPresence::Gone),
        ];
        let o = assemble(
            SystemTime::UNIX_EPOCH,
            environments,
            &regions,
            releases,
            Plan::default(),
            &[],
        );

        let production = &o.environments[0];
        assert_eq!(production.releases.len(), 2);
        assert_eq!(production.stack.hotswaps, 1);
        assert_eq!(production.region, "eu-west-1");
        // The newest release's deployer: the AWS identity where git's is unknown.
        assert_eq!(production.deployed_by.as_deref(), Some("arn:aws:iam::1:role/ci"));
        let feature = &o.environments[1];
        assert!(feature.releases.is_empty() && feature.deployed_by.is_none());
        assert_eq!(
            o.totals,
            Totals {
                apps: 2,
                environments: 2,
                stacks: 2,
                protected: 1,
                branch_gone: 1,
                regions: vec!["eu-west-1".into(), "us-east-1".into()],
                ..Totals::default()
            }
        );
        assert_eq!(o.generated_at, "1970-01-01T00:00:00Z");
    }
}
