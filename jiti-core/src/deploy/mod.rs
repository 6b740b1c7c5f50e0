//! Deploying apps to their environment's stacks, shaped like `gc`: read (one listing of the stacks
//! the apps need), decide per app ([`plan::decide`], pure), execute ([`execute`]: change sets or
//! direct calls, followed to their end with their events). Dependencies deploy first; the apps of
//! one wave in parallel.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;

pub use crate::cloud::Method;
use crate::cloud::{
    ArtifactStore, Change, FunctionApi, ReleaseStore, StackApi, StackEvent, Target,
};
use crate::graph::{self, CycleError};
use crate::hooks::HookRun;
use crate::ledger::Release;
use crate::observe::Observer;
use crate::render::DepOutputs;
use crate::resolve::{Project, ResolvedApp};
use crate::stacks::{self, StacksError, target};
use crate::wait::WaitOptions;

mod code;
mod execute;
pub mod plan;

#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub method: Method,
    /// `false` for `--no-execute`: stop once the change set is computed and shown.
    pub execute: bool,
    /// How long to follow one stack operation, and how often to look.
    pub wait: WaitOptions,
    /// Apps deployed at once.
    pub jobs: usize,
    /// `--ttl`, over `[environments.ephemeral] ttl`.
    pub ttl: Option<Duration>,
    pub now: SystemTime,
    /// Deploy the selected apps' dependencies too (a rollback deploys one app alone).
    pub with_dependencies: bool,
    /// Run `[hooks] verify` after each deploy that changed something.
    pub verify: bool,
    /// This deploy rolls back that release (recorded in the ledger).
    pub rollback_of: Option<String>,
    /// `Name <email>` of the git user, for the ledger.
    pub deployer: Option<String>,
    /// `--skip-checks`: deploy even when `check` finds errors (recorded in the release).
    pub skip_checks: bool,
    /// `--hotswap` / `--hotswap-only`: code-only changes go straight to the functions.
    pub hotswap: Option<crate::hotswap::HotswapMode>,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            method: Method::ChangeSet,
            execute: true,
            wait: WaitOptions::default(),
            jobs: 4,
            ttl: None,
            now: SystemTime::now(),
            with_dependencies: true,
            verify: true,
            rollback_of: None,
            deployer: None,
            skip_checks: false,
            hotswap: None,
        }
    }
}

/// How one app's deploy ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// Deployed template and tags equal the new ones: nothing was called.
    UpToDate,
    Created {
        changes: Vec<Change>,
    },
    Updated {
        changes: Vec<Change>,
    },
    /// CloudFormation found nothing to change (the change set was deleted).
    NoChanges,
    /// `--hotswap`: only code changed, and it was put straight into these functions (no
    /// CloudFormation update; the release is recorded with method `hotswap`).
    Hotswapped {
        functions: Vec<crate::hotswap::Hotswapped>,
    },
    /// `--no-execute`: the change set is left for review.
    Reviewed {
        change_set: String,
        changes: Vec<Change>,
    },
    Failed {
        error: String,
        failed_events: Vec<StackEvent>,
    },
    /// Deployed, then `[hooks] verify` failed (the release is recorded as such).
    VerifyFailed {
        error: String,
    },
    /// Not attempted: a dependency failed.
    Skipped {
        reason: String,
    },
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        !matches!(
            self,
            Outcome::Failed { .. } | Outcome::Skipped { .. } | Outcome::VerifyFailed { .. }
        )
    }
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct AppResult {
    pub app: String,
    pub environment: String,
    pub stack_name: String,
    pub region: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The stack's outputs as shown: secrets masked (by value, and outputs made from a secret
    /// parameter whatever their value).
    pub outputs: BTreeMap<String, String>,
    /// The outputs as they are: for dependents, the `verify` hook and `run`'s command only.
    #[serde(skip)]
    pub raw_outputs: BTreeMap<String, String>,
    /// `target/jiti/<env>/<app>.outputs.json`, once written.
    pub outputs_file: Option<PathBuf>,
    /// The release recorded in the ledger, when the deploy changed something.
    pub release: Option<Release>,
    /// How `[hooks] verify` ran.
    pub verify: Option<HookRun>,
    /// The code the stack runs (`[artifacts]`), and which of it this deploy uploaded.
    pub artifacts: Vec<crate::artifacts::ArtifactRef>,
    pub uploaded: Vec<String>,
    /// Time spent uploading them (HeadObject and PutObject), within `seconds`.
    pub upload_seconds: f64,
    pub seconds: f64,
    /// Values to show as `****` wherever this result is printed.
    #[serde(skip)]
    pub secrets: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Cycle(#[from] CycleError),
    #[error(transparent)]
    Stacks(#[from] StacksError),
}

/// Deploys the selected apps of `project` (and their dependencies). `apis` holds a client per
/// target; the returned results follow the deploy order.
pub async fn deploy<A: StackApi + ReleaseStore + FunctionApi + ArtifactStore>(
    project: &Project,
    apis: &BTreeMap<Target, A>,
    options: &DeployOptions,
    observer: &dyn Observer,
) -> Result<Vec<AppResult>, DeployError> {
    let waves = match options.with_dependencies {
        true => graph::waves(project, &project.selected)?,
        false => vec![project.selected.clone()],
    };
    let existing =
        stacks::app_stacks(project, apis, waves.iter().flatten().map(|&i| &project.apps[i]))
            .await?;
    let mut outputs = DepOutputs::new();
    for app in &project.apps {
        if let Some(stack) = existing.get(&target(app)).and_then(|s| s.get(&app.stack_name)) {
            outputs.insert(app.name.clone(), stack.outputs.clone());
        }
    }
    let mut results = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    for wave in waves {
        let mut jobs = Vec::new();
        for &i in &wave {
            let app = &project.apps[i];
            let api = apis
                .get(&target(app))
                .ok_or_else(|| StacksError::NoClient { region: app.region.clone() })?;
            let current = existing.get(&target(app)).and_then(|s| s.get(&app.stack_name)).cloned();
            let blocked = app.depends_on.iter().find(|d| failed.contains(d)).cloned();
            let outputs = &outputs;
            jobs.push(async move {
                if let Some(dep) = blocked {
                    let reason = format!("dependency `{dep}` did not deploy");
                    return result(
                        app,
                        Outcome::Skipped { reason },
                        BTreeMap::new(),
                        Instant::now(),
                    );
                }
                execute::deploy_one(project, app, api, current, outputs, options, observer).await
            });
        }
        // `buffered`: `jobs` at a time, results in workspace order whatever finishes first.
        let done: Vec<AppResult> =
            futures_util::stream::iter(jobs).buffered(options.jobs.max(1)).collect().await;
        for r in done {
            if r.outcome.succeeded() {
                outputs.insert(r.app.clone(), r.raw_outputs.clone());
            } else {
                failed.push(r.app.clone());
            }
            results.push(r);
        }
    }
    Ok(results)
}

pub(crate) fn result(
    app: &ResolvedApp,
    outcome: Outcome,
    outputs: BTreeMap<String, String>,
    start: Instant,
) -> AppResult {
    AppResult {
        raw_outputs: outputs.clone(),
        app: app.name.clone(),
        environment: app.environment.name.clone(),
        stack_name: app.stack_name.clone(),
        region: app.region.clone(),
        outcome,
        outputs,
        outputs_file: None,
        release: None,
        verify: None,
        artifacts: app.built.values().cloned().collect(),
        uploaded: Vec::new(),
        upload_seconds: 0.0,
        seconds: start.elapsed().as_secs_f64(),
        secrets: Vec::new(),
    }
}
