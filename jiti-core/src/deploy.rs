//! Deploying apps to their environment's stacks: one paginated listing decides what is up to date;
//! the rest goes through change sets, executed and waited for with the stack's events, dependencies
//! first, independent apps in parallel.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use serde_json::Value;

use crate::cloud::{Change, ChangeSetKind, ChangeSetOutcome, ChangeSetRequest, CloudError, ReleaseStore, Stack, StackApi, StackEvent, Target, TemplateSource};
use crate::hooks::{self, HookRun};
use crate::ledger::{self, Deployer, Release, ReleaseStatus};
use crate::render::{self, DepOutputs, Rendered};
use crate::resolve::{Project, ResolvedApp};
use crate::tagging;
use crate::secrets;
use crate::template::MAX_INLINE_TEMPLATE_BYTES;

/// Stack tag holding the SHA-256 of the deployed template: equal hash and tags mean up to date.
pub const KEY_TEMPLATE_HASH: &str = "jiti:template-hash";
/// Stack tag of ephemeral environments: RFC 3339 time after which `gc` may collect them.
pub const KEY_EXPIRES_AT: &str = "jiti:expires-at";
/// The status [`Observer::status`] reports for a stack whose operation was requested and not yet
/// answered: CloudFormation may or may not have started it.
pub const SENT_DELETE: &str = "DeleteStack sent";
pub const SENT_CREATE: &str = "CreateStack sent";
pub const SENT_UPDATE: &str = "UpdateStack sent";
pub const SENT_EXECUTE: &str = "ExecuteChangeSet sent";

/// Statuses after which a stack holds what its last operation asked for.
const SETTLED: &[&str] = &["CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"];

/// How a stack is created or updated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A change set, shown, then executed: CloudFormation says what it will do first.
    #[default]
    ChangeSet,
    /// CreateStack/UpdateStack directly, the summary computed from the templates (as
    /// `cdk deploy --method=direct`). Faster, and what works where change sets fall short
    /// (moto 5.2 computes no outputs for stacks made by change sets).
    Direct,
}

#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub method: Method,
    /// `false` for `--no-execute`: stop once the change set is computed and shown.
    pub execute: bool,
    /// Limit on waiting for one stack operation.
    pub timeout: Duration,
    /// Apps deployed at once.
    pub jobs: usize,
    /// `--ttl`, over `[environments.ephemeral] ttl`.
    pub ttl: Option<Duration>,
    pub now: SystemTime,
    /// First wait between polls of a stack operation (it doubles up to 5 s).
    pub poll: Duration,
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
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            method: Method::ChangeSet,
            execute: true,
            timeout: Duration::from_secs(3600),
            jobs: 4,
            ttl: None,
            now: SystemTime::now(),
            poll: Duration::from_millis(500),
            with_dependencies: true,
            verify: true,
            rollback_of: None,
            deployer: None,
            skip_checks: false,
        }
    }
}

/// What the caller shows while deploys run.
pub trait Observer: Send + Sync {
    /// A step or a decision worth saying (`creating change set`, `up to date`).
    fn note(&self, app: &str, message: &str);
    /// The changes a deploy makes, before it makes them: a computed change set, or (`Method::Direct`)
    /// the difference of the deployed and the new template.
    fn change_set(&self, app: &str, stack: &str, changes: &[Change], method: Method);
    /// A new stack event, oldest first.
    fn event(&self, app: &str, stack: &str, event: &StackEvent);
    /// The status of a stack being waited for, at each poll (`DELETE_COMPLETE` once it is gone), or
    /// of a resource `gc` removed (`deleted`, `already gone`), by ARN: what an interrupted command
    /// can say about what it did and what it leaves running.
    fn status(&self, _app: &str, _stack_or_arn: &str, _status: &str) {}
}

/// How one app's deploy ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// Deployed template and tags equal the new ones: nothing was called.
    UpToDate,
    Created { changes: Vec<Change> },
    Updated { changes: Vec<Change> },
    /// CloudFormation found nothing to change (the change set was deleted).
    NoChanges,
    /// `--no-execute`: the change set is left for review.
    Reviewed { change_set: String, changes: Vec<Change> },
    Failed { error: String, failed_events: Vec<StackEvent> },
    /// Deployed, then `[hooks] verify` failed (the release is recorded as such).
    VerifyFailed { error: String },
    /// Not attempted: a dependency failed.
    Skipped { reason: String },
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        !matches!(self, Outcome::Failed { .. } | Outcome::Skipped { .. } | Outcome::VerifyFailed { .. })
    }
}

#[derive(Debug, Clone, serde::Serialize)]
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
    pub seconds: f64,
    /// Values to show as `****` wherever this result is printed.
    #[serde(skip)]
    pub secrets: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("dependency cycle among {}: fix `depends_on` (`cargo jiti check` names the cycle)", apps.join(", "))]
    Cycle { apps: Vec<String> },
    // The cause in the same line: an unreachable endpoint is one line, as it is one fact.
    #[error("failed to list the stacks in {region}: {error}")]
    List {
        region: String,
        error: CloudError,
    },
    #[error("no AWS client for region {region}")]
    NoClient { region: String },
}

/// A failed step of one app's deploy.
pub(crate) struct Failure {
    pub(crate) error: String,
    pub(crate) events: Vec<StackEvent>,
    /// Another operation held the stack (a concurrent deploy): wait, then decide again.
    pub(crate) busy: bool,
}

impl From<CloudError> for Failure {
    fn from(e: CloudError) -> Self {
        Failure { busy: e.is_busy(), error: e.to_string(), events: Vec::new() }
    }
}

fn fail(error: impl Into<String>) -> Failure {
    Failure { error: error.into(), events: Vec::new(), busy: false }
}

/// How often a deploy that lost a race for its stack waits and decides again before it gives up.
const BUSY_RETRIES: usize = 3;

/// Where `app` deploys.
pub fn target(app: &ResolvedApp) -> Target {
    Target { region: app.region.clone(), profile: app.profile.clone() }
}

/// Everywhere `app` has environments (see `ResolvedApp::places`): where `envs` and `gc` look.
pub fn targets(app: &ResolvedApp) -> Vec<Target> {
    let mut out = vec![target(app)];
    for (region, profile) in &app.places {
        let t = Target { region: region.clone(), profile: profile.clone() };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out.retain(|t| !t.region.is_empty());
    out
}

/// The selected apps and their dependencies (transitively), in waves: every app after all it
/// depends on; the apps of one wave are independent of each other.
pub fn waves(project: &Project, selected: &[usize]) -> Result<Vec<Vec<usize>>, DeployError> {
    let mut wanted: Vec<usize> = Vec::new();
    let mut stack: Vec<usize> = selected.to_vec();
    while let Some(i) = stack.pop() {
        if wanted.contains(&i) {
            continue;
        }
        wanted.push(i);
        stack.extend(project.apps[i].depends_on.iter().filter_map(|d| project.apps.iter().position(|a| &a.name == d)));
    }
    wanted.sort_unstable();
    let mut done: HashSet<usize> = HashSet::new();
    let mut waves = Vec::new();
    while done.len() < wanted.len() {
        let wave: Vec<usize> = wanted
            .iter()
            .copied()
            .filter(|i| !done.contains(i))
            .filter(|&i| project.apps[i].depends_on.iter().all(|d| project.apps.iter().position(|a| &a.name == d).is_none_or(|j| done.contains(&j))))
            .collect();
        if wave.is_empty() {
            let apps = wanted.iter().filter(|i| !done.contains(i)).map(|&i| project.apps[i].name.clone()).collect();
            return Err(DeployError::Cycle { apps });
        }
        done.extend(&wave);
        waves.push(wave);
    }
    Ok(waves)
}

/// Tags of the stack: the resources' tags, the template hash and, for an ephemeral environment
/// with a time to live, when it expires.
pub fn stack_tags(project: &Project, app: &ResolvedApp, hash: &str, ttl: Option<Duration>, now: SystemTime) -> Vec<(String, String)> {
    let mut tags = project.tags(app);
    tags.push((KEY_TEMPLATE_HASH.to_owned(), hash.to_owned()));
    tags.push((tagging::KEY_BRANCH_ID.to_owned(), tagging::branch_id(&project.git.branch)));
    if let Some(ttl) = ttl.or(app.ttl).filter(|_| app.environment.ephemeral()) {
        tags.push((KEY_EXPIRES_AT.to_owned(), humantime::format_rfc3339_seconds(now + ttl).to_string()));
    }
    tags
}

/// How a deploy treats a stack's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// From `[environments.ephemeral] ttl`: refreshed once less than half of it is left, so that
    /// redeploying keeps an environment alive without making every deploy an update.
    Config(Duration),
    /// `--ttl`: the user asked for this expiry; refreshed unless already within a minute of it.
    Asked(Duration),
}

/// A deployed stack is up to date when it is settled, its tags (the template hash among them) are
/// the ones a deploy would set, and its expiry needs no refresh (see [`Expiry`]).
pub fn up_to_date(stack: &Stack, tags: &[(String, String)], expiry: Option<Expiry>) -> bool {
    let wanted: BTreeMap<&str, &str> = tags.iter().filter(|(k, _)| k != KEY_EXPIRES_AT).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let current: BTreeMap<&str, &str> = stack.tags.iter().filter(|(k, _)| *k != KEY_EXPIRES_AT).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let time = |v: Option<&str>| v.and_then(|t| humantime::parse_rfc3339(t).ok());
    let has = time(stack.tags.get(KEY_EXPIRES_AT).map(String::as_str));
    let new = time(tags.iter().find(|(k, _)| k == KEY_EXPIRES_AT).map(|(_, v)| v.as_str()));
    let expiry_fresh = match (has, new, expiry) {
        (None, None, _) => true,
        (Some(has), Some(new), Some(Expiry::Config(ttl))) => has + ttl / 2 >= new,
        (Some(has), Some(new), Some(Expiry::Asked(_))) => has.duration_since(new).or_else(|_| new.duration_since(has)).is_ok_and(|d| d <= Duration::from_secs(60)),
        _ => false,
    };
    SETTLED.contains(&stack.status.as_str()) && wanted == current && expiry_fresh
}

/// The stack parameters a deploy of `app` passes: `[parameters]` with a value (a missing one is a
/// `check` error, so a deploy never gets here without it).
pub fn given_parameters(app: &ResolvedApp) -> Vec<(String, String)> {
    app.parameters.iter().filter_map(|p| Some((p.name.clone(), p.value.clone()?))).collect()
}

/// The stack's parameters are the ones a deploy would pass: each given value, else the template's
/// `Default`. A value CloudFormation shows masked (`NoEcho`) cannot be compared: then only
/// CloudFormation can tell, and the deploy goes on (an unchanged change set is "no changes").
pub fn parameters_match(stack: &Stack, given: &[(String, String)], template: &crate::template::Template) -> bool {
    let declared: BTreeMap<&str, &Value> = template.section("Parameters").map(|(k, v)| (k.as_str(), v)).collect();
    let wanted = |name: &str| -> Option<String> {
        given.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| {
            declared.get(name).and_then(|p| p.get("Default")).and_then(|d| match d {
                Value::Array(items) => Some(items.iter().filter_map(crate::template::scalar_text).collect::<Vec<_>>().join(",")),
                other => crate::template::scalar_text(other),
            })
        })
    };
    let given_ok = given.iter().all(|(k, v)| stack.parameters.get(k) == Some(v));
    let stack_ok = stack.parameters.iter().all(|(k, v)| v != crate::cloud::NOECHO_SHOWN && wanted(k).as_deref() == Some(v.as_str()));
    given_ok && stack_ok
}

/// Which expiry rule applies to `app`'s stack ([`Expiry`]); `None` when it never expires.
pub fn expiry(app: &ResolvedApp, asked: Option<Duration>) -> Option<Expiry> {
    if !app.environment.ephemeral() {
        return None;
    }
    asked.map(Expiry::Asked).or(app.ttl.map(Expiry::Config))
}

/// Stacks of every target by name, keyed by target.
pub type Stacks = HashMap<Target, HashMap<String, Stack>>;

/// Every stack of every target, by name: one paginated DescribeStacks per target.
pub async fn listing<A: StackApi>(apis: &BTreeMap<Target, A>) -> Result<Stacks, DeployError> {
    let mut existing = HashMap::new();
    for (target, api) in apis {
        let stacks = api.list_stacks().await.map_err(|error| DeployError::List { region: target.region.clone(), error })?;
        existing.insert(target.clone(), stacks.into_iter().map(|s| (s.name.clone(), s)).collect());
    }
    Ok(existing)
}

/// Names looked up one by one, at most, once an account has more than one page of stacks.
pub const BY_NAME: usize = 20;

/// The stacks among `wanted` (target, stack name) that exist. The first DescribeStacks page answers
/// for a small account (a page holds 50 stacks on moto). In a larger one, up to [`BY_NAME`] names
/// still missing are asked for by name, 8 at a time, instead of paging through thousands of other
/// stacks (41 calls at 2,000 stacks); more missing names than that page through the account.
pub async fn stacks_named<'a, A: StackApi>(apis: &BTreeMap<Target, A>, wanted: impl IntoIterator<Item = (Target, &'a str)>) -> Result<Stacks, DeployError> {
    let mut names: HashMap<Target, HashSet<&str>> = HashMap::new();
    for (target, name) in wanted {
        names.entry(target).or_default().insert(name);
    }
    let mut found = Stacks::new();
    for (target, api) in apis {
        let Some(names) = names.get(target) else { continue };
        let list_error = |error| DeployError::List { region: target.region.clone(), error };
        let (first, mut token) = api.stacks_page(None).await.map_err(list_error)?;
        let mut stacks: HashMap<String, Stack> = first.into_iter().filter(|s| names.contains(s.name.as_str())).map(|s| (s.name.clone(), s)).collect();
        let missing: Vec<&str> = names.iter().copied().filter(|n| !stacks.contains_key(*n)).collect();
        if token.is_some() && missing.len() <= BY_NAME {
            let asked = futures_util::stream::iter(missing.into_iter().map(|name| api.describe_stack(name))).buffer_unordered(8).collect::<Vec<_>>().await;
            for stack in asked {
                if let Some(s) = stack.map_err(list_error)? {
                    stacks.insert(s.name.clone(), s);
                }
            }
        } else {
            while token.is_some() {
                let (page, next) = api.stacks_page(token).await.map_err(list_error)?;
                stacks.extend(page.into_iter().filter(|s| names.contains(s.name.as_str())).map(|s| (s.name.clone(), s)));
                token = next;
            }
        }
        found.insert(target.clone(), stacks);
    }
    Ok(found)
}

/// The stacks `apps` need, as [`stacks_named`] finds them: their own, and their dependencies'
/// (whose outputs their templates read).
pub async fn app_stacks<'a, A: StackApi>(project: &'a Project, apis: &BTreeMap<Target, A>, apps: impl IntoIterator<Item = &'a ResolvedApp>) -> Result<Stacks, DeployError> {
    let needed = apps.into_iter().flat_map(|app| std::iter::once(app).chain(app.depends_on.iter().filter_map(|d| project.app(d))));
    stacks_named(apis, needed.map(|a| (target(a), a.stack_name.as_str()))).await
}

/// Deploys the selected apps of `project` (and their dependencies). `apis` holds a client per
/// target; the returned results follow the deploy order.
pub async fn deploy<A: StackApi + ReleaseStore>(project: &Project, apis: &BTreeMap<Target, A>, options: &DeployOptions, observer: &dyn Observer) -> Result<Vec<AppResult>, DeployError> {
    let waves = match options.with_dependencies {
        true => waves(project, &project.selected)?,
        false => vec![project.selected.clone()],
    };
    let existing = app_stacks(project, apis, waves.iter().flatten().map(|&i| &project.apps[i])).await?;
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
            let api = apis.get(&target(app)).ok_or_else(|| DeployError::NoClient { region: app.region.clone() })?;
            let current = existing.get(&target(app)).and_then(|s| s.get(&app.stack_name)).cloned();
            let blocked = app.depends_on.iter().find(|d| failed.contains(d)).cloned();
            let outputs = &outputs;
            jobs.push(async move {
                if let Some(dep) = blocked {
                    let reason = format!("dependency `{dep}` did not deploy");
                    return result(app, Outcome::Skipped { reason }, BTreeMap::new(), Instant::now());
                }
                deploy_one(project, app, api, current, outputs, options, observer).await
            });
        }
        // `buffered`: `jobs` at a time, results in workspace order whatever finishes first.
        let done: Vec<AppResult> = futures_util::stream::iter(jobs).buffered(options.jobs.max(1)).collect().await;
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

fn result(app: &ResolvedApp, outcome: Outcome, outputs: BTreeMap<String, String>, start: Instant) -> AppResult {
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
        seconds: start.elapsed().as_secs_f64(),
        secrets: Vec::new(),
    }
}

async fn deploy_one<A: StackApi + ReleaseStore>(
    project: &Project,
    app: &ResolvedApp,
    api: &A,
    current: Option<Stack>,
    outputs: &DepOutputs,
    options: &DeployOptions,
    observer: &dyn Observer,
) -> AppResult {
    let start = Instant::now();
    let rendered = render_for_deploy(project, app, outputs, options.skip_checks);
    let hash = rendered.as_ref().ok().map(|r| r.template.hash());
    let secrets = rendered.as_ref().map_or_else(|_| app.secrets(), |r| r.secrets.clone());
    let secret_outputs = rendered.as_ref().map(|r| r.secret_outputs.clone()).unwrap_or_default();
    // The release recorded as started, once a stack change was about to start (see `run`).
    let mut started: Option<Release> = None;
    let done = match rendered {
        Ok(rendered) => {
            // Two deploys of one environment: the one that finds the stack taken waits for the
            // other's operation to end, then decides again from what is there (often: up to date).
            let mut done = run(project, app, api, current, &rendered, options, observer, &mut started).await;
            for _ in 0..BUSY_RETRIES {
                if !matches!(&done, Err(f) if f.busy) {
                    break;
                }
                observer.note(&app.name, &format!("stack {} is taken by another operation (another deploy?): waiting for it, then deciding again", app.stack_name));
                let deadline = Instant::now() + options.timeout;
                done = match wait(api, &app.stack_name, &mut HashSet::new(), deadline, options, observer, &app.name).await {
                    // Settled (whether the other operation succeeded or rolled back): look again.
                    Ok(_) | Err(Failure { busy: false, .. }) => match api.describe_stack(&app.stack_name).await {
                        Ok(now) => run(project, app, api, now, &rendered, options, observer, &mut started).await,
                        Err(e) => Err(e.into()),
                    },
                    Err(f) => Err(f),
                };
            }
            done
        }
        Err(f) => Err(f),
    };
    let (outcome, outs) = match done {
        Ok(done) => done,
        // CloudFormation's messages may quote property values.
        Err(f) => (Outcome::Failed { error: secrets::mask(&f.error, &secrets), failed_events: f.events }, BTreeMap::new()),
    };
    // What the ledger, `target/jiti` and every report get; the result keeps the real values too
    // (for dependents, `verify` and `run`).
    let masked_outputs = secrets::mask_outputs(&outs, &secret_outputs, &secrets);
    let mut r = result(app, outcome, outs, start);
    r.outputs = masked_outputs.clone();
    if let (Outcome::Created { .. } | Outcome::Updated { .. }, Some(hash)) = (&r.outcome, hash) {
        let mut status = ReleaseStatus::Deployed;
        if let Some((command, timeout)) = app.verify.as_ref().filter(|_| options.verify) {
            observer.note(&app.name, &format!("verifying: {command}"));
            let run = hooks::verify(command, &app.package_dir, &app.name, &app.environment.name, &app.stack_name, &r.raw_outputs, *timeout).await;
            let run = run.unwrap_or_else(|e| HookRun { command: command.clone(), success: false, exit_code: None, timed_out: false, output: format!("could not run it: {e}") });
            observer.note(&app.name, &run.verdict());
            if !run.success {
                status = ReleaseStatus::VerifyFailed;
                r.outcome = Outcome::VerifyFailed { error: run.verdict() };
            }
            r.verify = Some(run);
        }
        let mut release = new_release(project, app, &hash, &masked_outputs, &secrets, status, options, api).await;
        if let Some(s) = &started {
            release.id = s.id.clone();
        }
        if let Err(e) = ledger::record_outcome(api, &release).await {
            observer.note(&app.name, &format!("warning: the release was deployed but not recorded in the ledger: {e}"));
        }
        r.release = Some(release);
    } else if let Some(mut release) = started {
        // Started, and then failed or changed nothing: the ledger says so.
        release.status = match &r.outcome {
            Outcome::NoChanges | Outcome::UpToDate => ReleaseStatus::NoChanges,
            _ => ReleaseStatus::Failed,
        };
        if let Outcome::Failed { error, .. } = &r.outcome {
            release.error = Some(error.clone());
        }
        if let Err(e) = ledger::record_outcome(api, &release).await {
            observer.note(&app.name, &format!("warning: the release's outcome was not recorded in the ledger: {e}"));
        }
        r.release = Some(release);
    }
    if r.outcome.succeeded() && !matches!(r.outcome, Outcome::Reviewed { .. }) {
        match write_outputs(project, app, &masked_outputs) {
            Ok(path) => r.outputs_file = Some(path),
            Err(e) => observer.note(&app.name, &format!("warning: {e}")),
        }
    }
    r.secrets = secrets;
    r
}

#[allow(clippy::too_many_arguments)]
async fn new_release<S: ReleaseStore>(
    project: &Project,
    app: &ResolvedApp,
    hash: &str,
    outputs: &BTreeMap<String, String>,
    secrets: &[String],
    status: ReleaseStatus,
    options: &DeployOptions,
    store: &S,
) -> Release {
    let now = SystemTime::now();
    Release {
        id: Release::new_id(now, &project.git.commit),
        app: app.name.clone(),
        environment: app.environment.name.clone(),
        stack_name: app.stack_name.clone(),
        version: app.version.clone(),
        commit: project.git.commit.clone(),
        branch: project.git.branch.clone(),
        dirty: project.git.dirty,
        template_hash: hash.to_owned(),
        params: secrets::mask_params(&app.params),
        parameters: app
            .parameters
            .iter()
            .filter_map(|p| {
                let value = p.value.as_ref()?;
                let masked = if p.secret() || secrets.contains(value) { secrets::MASK.to_owned() } else { value.clone() };
                Some((p.name.clone(), masked))
            })
            .collect(),
        outputs: outputs.clone(),
        time: humantime::format_rfc3339_millis(now).to_string(),
        deployed_by: Deployer { git: options.deployer.clone(), aws: store.caller().await.ok() },
        status,
        rollback_of: options.rollback_of.clone(),
        skip_checks: options.skip_checks,
        error: None,
    }
}

/// `target/jiti/<env>/<app>.outputs.json`, written whole.
pub fn write_outputs(project: &Project, app: &ResolvedApp, outputs: &BTreeMap<String, String>) -> Result<PathBuf, String> {
    let path = project.target_dir.join("jiti").join(&app.environment.name).join(format!("{}.outputs.json", app.name));
    let text = serde_json::to_string_pretty(outputs).unwrap_or_default() + "\n";
    let tmp = path.with_extension("json.tmp");
    std::fs::create_dir_all(path.parent().unwrap_or(&project.target_dir))
        .and_then(|()| std::fs::write(&tmp, text))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("failed to write `{}`: {e}", path.display()))?;
    Ok(path)
}

/// The template a deploy sends, also written to `target/jiti/` (for `cfn-lint`, reviews, bug
/// reports). A template `check` finds errors in is refused, unless told to skip the checks.
fn render_for_deploy(project: &Project, app: &ResolvedApp, outputs: &DepOutputs, skip_checks: bool) -> Result<Rendered, Failure> {
    if let Some(dep) = app.depends_on.iter().find(|d| !outputs.contains_key(*d)) {
        return Err(fail(format!("dependency `{dep}` has no stack in environment `{}`", app.environment.name)));
    }
    let rendered = render::render_app_with(project, app, outputs).map_err(|e| fail(e.to_string()))?;
    let errors: Vec<String> = crate::check::template_findings(app, &rendered)
        .into_iter()
        .filter(|f| f.severity == crate::check::Severity::Error)
        .map(|f| format!("{}{}: {}", f.code, f.resource.map(|r| format!(" ({r})")).unwrap_or_default(), f.message))
        .collect();
    if !errors.is_empty() && !skip_checks {
        return Err(fail(format!("`cargo jiti check` finds {} error(s): {}; fix them, or deploy with --skip-checks (recorded in the release)", errors.len(), errors.join("; "))));
    }
    render::write(project, &rendered).map_err(|e| fail(e.to_string()))?;
    Ok(rendered)
}

/// One app's deploy of `rendered`: its outcome and its outputs.
#[allow(clippy::too_many_arguments)]
async fn run<A: StackApi + ReleaseStore>(
    project: &Project,
    app: &ResolvedApp,
    api: &A,
    mut current: Option<Stack>,
    rendered: &Rendered,
    options: &DeployOptions,
    observer: &dyn Observer,
    started: &mut Option<Release>,
) -> Result<(Outcome, BTreeMap<String, String>), Failure> {
    let name = &app.name;
    let stack = &app.stack_name;
    let hash = rendered.template.hash();
    let tags = stack_tags(project, app, &hash, options.ttl, options.now);
    let given = given_parameters(app);
    let deadline = Instant::now() + options.timeout;

    if let Some(s) = &current {
        if let Err(why) = tagging::owned_by(&s.tags, name) {
            return Err(fail(format!("stack `{stack}` exists but {why}")));
        }
        if s.in_progress() {
            observer.note(name, &format!("stack {stack} is busy ({}): waiting for that operation to finish", s.status));
            current = wait(api, stack, &mut HashSet::new(), deadline, options, observer, name).await?;
        }
    }
    if current.as_ref().is_some_and(|s| s.status == "ROLLBACK_COMPLETE") {
        observer.note(name, &format!("stack {stack} is in ROLLBACK_COMPLETE after a failed first create: deleting it, then creating it again"));
        api.delete_stack(stack).await?;
        if let Some(s) = wait(api, stack, &mut HashSet::new(), deadline, options, observer, name).await? {
            return Err(fail(format!("stack {stack} could not be deleted: {} {}", s.status, s.status_reason.unwrap_or_default())));
        }
        current = None;
    }
    if let Some(s) = current.as_ref().filter(|s| up_to_date(s, &tags, expiry(app, options.ttl)) && parameters_match(s, &given, &rendered.template)) {
        observer.note(name, "up to date");
        return Ok((Outcome::UpToDate, s.outputs.clone()));
    }
    let creating = current.as_ref().is_none_or(|s| s.status == "REVIEW_IN_PROGRESS");
    let body = rendered.template.to_json();
    let template = if body.len() > MAX_INLINE_TEMPLATE_BYTES {
        let key = format!("templates/{name}/{}/{hash}.json", app.environment.name);
        observer.note(name, &format!("template is {} bytes (over {MAX_INLINE_TEMPLATE_BYTES}): uploading it to the artifacts bucket", body.len()));
        TemplateSource::Url(api.upload_template(&key, &body).await?)
    } else {
        TemplateSource::Body(body)
    };
    let unix = options.now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let request = ChangeSetRequest {
        stack_name: stack.clone(),
        // Unique per process: two deploys of the same content in the same second must not share
        // (and so execute or delete) each other's change set.
        change_set_name: format!("jiti-{}-{unix}-{}", &hash[..12], std::process::id()),
        kind: if creating { ChangeSetKind::Create } else { ChangeSetKind::Update },
        template,
        tags,
        parameters: given,
        description: format!("cargo-jiti: {name} {} at {}", app.version, project.git.short_commit),
    };
    let previous_outputs = current.as_ref().map(|s| s.outputs.clone()).unwrap_or_default();
    let (changes, change_set) = match options.method {
        Method::ChangeSet => match change_set(api, &request, deadline, options, observer, name).await? {
            Some(ready) => ready,
            None => return Ok((Outcome::NoChanges, previous_outputs)),
        },
        Method::Direct => {
            let deployed = match creating {
                true => None,
                false => serde_json::from_str(&api.get_template(stack).await?).ok(),
            };
            // Resources whose `Condition` is false exist on neither side.
            let changes = crate::diff::deploy_changes(deployed.as_ref(), current.as_ref(), &rendered.template.value, app);
            if changes.is_empty() && !creating {
                // Only tags may differ; UpdateStack says whether that is a change.
                observer.note(name, "template unchanged: updating stack tags");
            }
            (changes, None)
        }
    };
    observer.change_set(name, stack, &changes, options.method);
    if !options.execute {
        let change_set = change_set.unwrap_or_else(|| "(none: direct method)".into());
        return Ok((Outcome::Reviewed { change_set, changes }, previous_outputs));
    }
    // Events already there are the past: only what this operation adds is shown.
    let mut seen: HashSet<String> = match creating && change_set.is_none() {
        true => HashSet::new(),
        false => api.stack_events(stack).await?.into_iter().map(|e| e.id).collect(),
    };
    // Recorded before the change starts: an interrupted or lost process still leaves its release
    // in the ledger (as started), so history and `rollback --steps` count it.
    if started.is_none() {
        let release = new_release(project, app, &hash, &BTreeMap::new(), &rendered.secrets, ReleaseStatus::Started, options, api).await;
        if let Err(e) = ledger::record(api, &release).await {
            observer.note(name, &format!("warning: the release could not be recorded before starting: {e}"));
        }
        *started = Some(release);
    }
    let started = match (&change_set, creating) {
        (Some(id), _) => {
            observer.status(name, stack, SENT_EXECUTE);
            api.execute_change_set(stack, id).await
        }
        (None, true) => {
            observer.status(name, stack, SENT_CREATE);
            api.create_stack(&request).await
        }
        (None, false) => {
            observer.status(name, stack, SENT_UPDATE);
            api.update_stack(&request).await
        }
    };
    match started {
        Ok(()) => {}
        // Lost the race to another operation: leave no executable change set of ours behind.
        Err(e) if e.is_busy() => {
            if let Some(id) = &change_set
                && let Err(d) = api.delete_change_set(stack, id).await
            {
                observer.note(name, &format!("warning: change set {id} not deleted: {d}"));
            }
            return Err(e.into());
        }
        // The SDK retries a call whose answer was lost (a 5xx, a timeout), and the retry of an
        // update CloudFormation had already taken answers "No updates" (seen on the emulator: a
        // 500 after half an update, then this). A stack that changed since it was read was
        // changed by this deploy: follow it rather than report that nothing changed.
        Err(e) if e.is_no_updates() => match api.describe_stack(stack).await? {
            Some(s) if s.in_progress() || s.last_change() != current.as_ref().and_then(Stack::last_change) => {
                observer.note(name, &format!("UpdateStack answered \"no updates\", but the stack changed since it was read ({}): following it", s.status));
            }
            _ => {
                observer.note(name, "no changes");
                return Ok((Outcome::NoChanges, previous_outputs));
            }
        },
        // Whether the operation started is unknown: look, and follow it if it did.
        Err(e) if e.may_have_started() => match api.describe_stack(stack).await? {
            Some(s) if s.in_progress() => observer.note(name, &format!("{e}; but CloudFormation is working on the stack ({}): following it", s.status)),
            _ => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    }
    let done = wait(api, stack, &mut seen, deadline, options, observer, name).await?.ok_or_else(|| fail(format!("stack {stack} disappeared while deploying")))?;
    if !matches!(done.status.as_str(), "CREATE_COMPLETE" | "UPDATE_COMPLETE") {
        let failed: Vec<StackEvent> = api.stack_events(stack).await.unwrap_or_default().into_iter().filter(|e| !seen.contains(&e.id) || e.failed()).filter(StackEvent::failed).collect();
        return Err(Failure {
            error: format!("stack {stack} ended in {}{}", done.status, done.status_reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()),
            events: failed,
            busy: false,
        });
    }
    if app.environment.protected && !done.termination_protection && !app.unprotected_envs.contains(&app.environment.name) {
        // Best effort: the stack is deployed either way (moto answers this call with a 500).
        if let Err(e) = api.set_termination_protection(stack, true).await {
            observer.note(name, &format!("warning: termination protection not enabled: {e}"));
        }
    }
    let outcome = if creating { Outcome::Created { changes } } else { Outcome::Updated { changes } };
    Ok((outcome, done.outputs))
}

/// Creates the change set and waits until CloudFormation has computed it: its changes and id, or
/// `None` when it holds no change (then it is deleted).
async fn change_set<A: StackApi>(
    api: &A,
    request: &ChangeSetRequest,
    deadline: Instant,
    options: &DeployOptions,
    observer: &dyn Observer,
    name: &str,
) -> Result<Option<(Vec<Change>, Option<String>)>, Failure> {
    let stack = &request.stack_name;
    observer.note(name, if request.kind == ChangeSetKind::Create { "creating change set (new stack)" } else { "creating change set" });
    let id = match api.create_change_set(request).await {
        Ok(id) => id,
        Err(e) if e.is_no_updates() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let outcome = loop {
        if let Some(outcome) = api.change_set(stack, &id).await? {
            break outcome;
        }
        if Instant::now() >= deadline {
            return Err(fail(format!("timed out waiting for change set {id} of {stack}")));
        }
        tokio::time::sleep(options.poll).await;
    };
    match outcome {
        ChangeSetOutcome::NoChanges => {
            observer.note(name, "no changes");
            api.delete_change_set(stack, &id).await?;
            Ok(None)
        }
        ChangeSetOutcome::Failed(reason) => Err(fail(format!("change set {id} of {stack} failed: {reason}"))),
        ChangeSetOutcome::Ready(changes) => Ok(Some((changes, Some(id)))),
    }
}

/// Polls `stack` until no operation is in progress, showing its new events. `None` once the stack
/// is gone (after a delete).
pub(crate) async fn wait<A: StackApi>(
    api: &A,
    stack: &str,
    seen: &mut HashSet<String>,
    deadline: Instant,
    options: &DeployOptions,
    observer: &dyn Observer,
    app: &str,
) -> Result<Option<Stack>, Failure> {
    let mut interval = options.poll;
    let mut failed = Vec::new();
    let mut last = "not seen yet".to_owned();
    // Losing the API mid-operation loses sight of the stack, not the operation: say so.
    let lost = |e: CloudError, last: &str| {
        fail(format!(
            "lost track of stack {stack} (last seen {last}): {e}; the operation may go on in CloudFormation: run the command again once AWS answers (it waits for a busy stack), or follow it with `aws cloudformation describe-stack-events --stack-name {stack}`"
        ))
    };
    loop {
        let current = api.describe_stack(stack).await.map_err(|e| lost(e, &last))?;
        // Known as soon as it is read: losing the API before the events still names it.
        last = current.as_ref().map_or_else(|| "DELETE_COMPLETE".to_owned(), |s| s.status.clone());
        observer.status(app, stack, &last);
        let events = match &current {
            Some(_) => api.stack_events(stack).await.map_err(|e| lost(e, &last))?,
            None => Vec::new(),
        };
        for event in events.into_iter().rev() {
            if seen.insert(event.id.clone()) {
                observer.event(app, stack, &event);
                if event.failed() {
                    failed.push(event);
                }
            }
        }
        match current {
            None => return Ok(None),
            Some(s) if !s.in_progress() => {
                if s.status.ends_with("FAILED") || s.status.contains("ROLLBACK") {
                    return Err(Failure {
                        error: format!("stack {stack} ended in {}{}", s.status, s.status_reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()),
                        events: failed,
                        busy: false,
                    });
                }
                return Ok(Some(s));
            }
            Some(s) => {
                if Instant::now() >= deadline {
                    return Err(fail(format!(
                        "timed out after {}s waiting for stack {stack} ({}); the operation goes on in CloudFormation: follow it with `aws cloudformation describe-stack-events --stack-name {stack}`, or run the command again to wait for it",
                        options.timeout.as_secs(),
                        s.status
                    )));
                }
            }
        }
        tokio::time::sleep(interval.min(deadline.saturating_duration_since(Instant::now()))).await;
        interval = (interval * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! What moto cannot show (per-resource events, CREATE_FAILED, ROLLBACK_COMPLETE, a stack that
    //! never settles), through a fake [`StackApi`] answering as the CloudFormation API reference
    //! documents.

    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;
    use crate::environment::Environment;
    use crate::git::{BranchSource, GitContext};
    use crate::resolve::ResolvedApp;

    #[derive(Default)]
    struct Fake {
        /// Statuses DescribeStacks reports, one per call; the last one repeats. `None`: no stack.
        statuses: Mutex<VecDeque<Option<&'static str>>>,
        tags: BTreeMap<String, String>,
        events: Vec<StackEvent>,
        calls: Mutex<Vec<&'static str>>,
        /// The account's stacks by name, page by page, for the listing tests.
        pages: Vec<Vec<&'static str>>,
        /// UpdateStack answers "No updates are to be performed", having applied the update first
        /// (`Some(true)`: an earlier attempt's answer was lost) or not (`Some(false)`).
        update_answers_no_updates: Option<bool>,
    }

    impl Fake {
        fn new(statuses: &[Option<&'static str>], events: Vec<StackEvent>) -> Fake {
            let tags = BTreeMap::from([(tagging::KEY_APP.to_owned(), "queue".to_owned()), (tagging::KEY_MANAGED_BY.to_owned(), tagging::MANAGED_BY.to_owned())]);
            Fake { statuses: Mutex::new(statuses.iter().copied().collect()), tags, events, calls: Mutex::default(), pages: Vec::new(), update_answers_no_updates: None }
        }
        fn call(&self, name: &'static str) {
            self.calls.lock().unwrap().push(name);
        }
        fn calls(&self) -> Vec<&'static str> {
            self.calls.lock().unwrap().clone()
        }
        fn stack(&self, status: &str) -> Stack {
            let applied = self.update_answers_no_updates == Some(true) && self.calls().contains(&"UpdateStack");
            let updated = applied.then(|| SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
            Stack { name: "queue-feature-x".into(), status: status.into(), tags: self.tags.clone(), updated, ..Stack::default() }
        }
    }

    impl StackApi for Fake {
        async fn stacks_page(&self, token: Option<String>) -> Result<(Vec<Stack>, Option<String>), CloudError> {
            self.call("ListStacks");
            let i: usize = token.map_or(0, |t| t.parse().unwrap());
            let page = self.pages.get(i).map(|p| p.iter().map(|n| Stack { name: (*n).into(), ..Stack::default() }).collect()).unwrap_or_default();
            Ok((page, (i + 1 < self.pages.len()).then(|| (i + 1).to_string())))
        }
        async fn describe_stack(&self, name: &str) -> Result<Option<Stack>, CloudError> {
            self.call("DescribeStacks");
            if !self.pages.is_empty() {
                return Ok(self.pages.iter().flatten().find(|n| **n == name).map(|n| Stack { name: (*n).into(), ..Stack::default() }));
            }
            let mut q = self.statuses.lock().unwrap();
            let status = if q.len() > 1 { q.pop_front().flatten() } else { q.front().copied().flatten() };
            Ok(status.map(|s| self.stack(s)))
        }
        async fn create_change_set(&self, _: &ChangeSetRequest) -> Result<String, CloudError> {
            self.call("CreateChangeSet");
            Ok("cs-1".into())
        }
        async fn change_set(&self, _: &str, _: &str) -> Result<Option<ChangeSetOutcome>, CloudError> {
            self.call("DescribeChangeSet");
            Ok(Some(ChangeSetOutcome::Ready(vec![Change { action: "Add".into(), logical_id: "Queue".into(), resource_type: "AWS::SQS::Queue".into(), replacement: None }])))
        }
        async fn execute_change_set(&self, _: &str, _: &str) -> Result<(), CloudError> {
            self.call("ExecuteChangeSet");
            Ok(())
        }
        async fn create_stack(&self, _: &ChangeSetRequest) -> Result<(), CloudError> {
            self.call("CreateStack");
            Ok(())
        }
        async fn update_stack(&self, _: &ChangeSetRequest) -> Result<(), CloudError> {
            self.call("UpdateStack");
            match self.update_answers_no_updates {
                Some(_) => Err(CloudError { code: Some("ValidationError".into()), status: Some(400), ..CloudError::other("CloudFormation.UpdateStack", "No updates are to be performed.") }),
                None => Ok(()),
            }
        }
        async fn delete_change_set(&self, _: &str, _: &str) -> Result<(), CloudError> {
            self.call("DeleteChangeSet");
            Ok(())
        }
        async fn stack_events(&self, _: &str) -> Result<Vec<StackEvent>, CloudError> {
            self.call("DescribeStackEvents");
            // Newest first, as the API returns them; all of them appear once the stack moved on.
            let started = self.calls().contains(&"ExecuteChangeSet");
            Ok(if started { self.events.iter().rev().cloned().collect() } else { Vec::new() })
        }
        async fn get_template(&self, _: &str) -> Result<String, CloudError> {
            self.call("GetTemplate");
            Ok("{}".into())
        }
        async fn delete_stack(&self, _: &str) -> Result<(), CloudError> {
            self.call("DeleteStack");
            Ok(())
        }
        async fn set_termination_protection(&self, _: &str, _: bool) -> Result<(), CloudError> {
            self.call("UpdateTerminationProtection");
            Ok(())
        }
        async fn upload_template(&self, _: &str, _: &str) -> Result<String, CloudError> {
            self.call("PutObject");
            Ok("https://bucket.s3.amazonaws.com/key".into())
        }
    }

    impl ReleaseStore for Fake {
        async fn put_object(&self, _: &str, _: &str) -> Result<(), CloudError> {
            self.call("PutObject");
            Ok(())
        }
        async fn list_keys(&self, _: &str) -> Result<Vec<String>, CloudError> {
            Ok(Vec::new())
        }
        async fn get_object(&self, key: &str) -> Result<String, CloudError> {
            Err(CloudError::other("GetObject", key))
        }
        async fn caller(&self) -> Result<String, CloudError> {
            Ok("arn:aws:iam::123456789012:user/test".into())
        }
    }

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl Observer for Log {
        fn note(&self, app: &str, message: &str) {
            self.0.lock().unwrap().push(format!("{app}: {message}"));
        }
        fn change_set(&self, _: &str, _: &str, changes: &[Change], _: Method) {
            self.0.lock().unwrap().push(format!("{} changes", changes.len()));
        }
        fn event(&self, _: &str, _: &str, e: &StackEvent) {
            self.0.lock().unwrap().push(format!("event {} {}", e.status, e.logical_id));
        }
    }

    fn event(n: u32, logical_id: &str, status: &str, reason: Option<&str>) -> StackEvent {
        StackEvent { id: format!("e{n}"), timestamp: None, logical_id: logical_id.into(), resource_type: "AWS::SQS::Queue".into(), status: status.into(), reason: reason.map(str::to_owned) }
    }

    /// A one-app project in a temporary folder (no cargo, no git needed).
    /// A one-app project (`queue`, protected `production`) in `dir`.
    pub(crate) fn project(dir: &std::path::Path) -> Project {
        let infra = dir.join("infra");
        std::fs::create_dir_all(&infra).unwrap();
        std::fs::write(infra.join("stack.yaml"), "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n").unwrap();
        let git = GitContext { root: dir.to_owned(), branch: "feature/x".into(), branch_source: BranchSource::Flag, commit: "a".repeat(40), short_commit: "aaaaaaa".into(), dirty: false };
        let app = ResolvedApp {
            name: "queue".into(),
            package: "queue".into(),
            version: "1.0.0".into(),
            package_dir: dir.to_owned(),
            infra_dir: infra,
            config_path: dir.join("infra/jiti.toml"),
            template: "stack.yaml".into(),
            environment: Environment { name: "feature-x".into(), branch: "feature/x".into(), protected: false },
            stack_name: "queue-feature-x".into(),
            stack_prefix: String::new(),
            protected_envs: vec!["production".into()],
            region: "us-east-1".into(),
            region_source: crate::resolve::RegionSource::App,
            profile: None,
            places: vec![("us-east-1".into(), None)],
            params: Default::default(),
            parameters: Vec::new(),
            parameter_config: Default::default(),
            user_tags: Vec::new(),
            depends_on: Vec::new(),
            keep_retained: false,
            ttl: None,
            verify: None,
            sources: None,
            policy: Default::default(),
            unprotected_envs: Vec::new(),
        };
        Project { process_env: Default::default(), workspace_root: dir.to_owned(), target_dir: dir.join("target"), git, apps: vec![app], selected: vec![0] }
    }

    fn options(timeout_ms: u64) -> DeployOptions {
        DeployOptions { timeout: Duration::from_millis(timeout_ms), poll: Duration::from_millis(1), ..DeployOptions::default() }
    }

    fn run_one(fake: &Fake, current: Option<Stack>, timeout_ms: u64) -> (Outcome, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let project = project(dir.path());
        let log = Log::default();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let result = runtime.block_on(deploy_one(&project, &project.apps[0], fake, current, &DepOutputs::new(), &options(timeout_ms), &log));
        (result.outcome, log.0.into_inner().unwrap())
    }

    #[test]
    fn no_updates_after_a_lost_answer_is_an_update_and_otherwise_no_change() {
        let direct = DeployOptions { method: Method::Direct, ..options(5_000) };
        let dir = tempfile::tempdir().unwrap();
        let project = project(dir.path());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        for (applied, expected) in [(true, "updated"), (false, "no-changes")] {
            let fake = Fake { update_answers_no_updates: Some(applied), ..Fake::new(&[Some("UPDATE_COMPLETE")], Vec::new()) };
            let current = fake.stack("UPDATE_COMPLETE");
            let log = Log::default();
            let result = runtime.block_on(deploy_one(&project, &project.apps[0], &fake, Some(current), &DepOutputs::new(), &direct, &log));
            let word = serde_json::to_value(&result.outcome).unwrap()["result"].clone();
            assert_eq!(word, expected, "applied first: {applied}; {:?}", log.0.lock().unwrap());
        }
    }

    #[test]
    fn a_failed_create_reports_every_failed_event_with_its_reason() {
        let events = vec![
            event(1, "queue-feature-x", "CREATE_IN_PROGRESS", Some("User Initiated")),
            event(2, "Queue", "CREATE_FAILED", Some("Resource handler returned message: \"Invalid value for DelaySeconds\"")),
            event(3, "queue-feature-x", "ROLLBACK_IN_PROGRESS", Some("The following resource(s) failed to create: [Queue].")),
            event(4, "queue-feature-x", "ROLLBACK_COMPLETE", None),
        ];
        let fake = Fake::new(&[Some("CREATE_IN_PROGRESS"), Some("ROLLBACK_COMPLETE")], events);
        let (outcome, log) = run_one(&fake, None, 5_000);
        let Outcome::Failed { error, failed_events } = outcome else { panic!("expected a failure, got {outcome:?}") };
        assert!(error.contains("ended in ROLLBACK_COMPLETE"), "{error}");
        assert_eq!(failed_events.len(), 1);
        assert_eq!(failed_events[0].logical_id, "Queue");
        assert!(failed_events[0].reason.as_deref().unwrap_or_default().contains("Invalid value for DelaySeconds"));
        // Events are shown oldest first, each once.
        let shown: Vec<_> = log.iter().filter(|l| l.starts_with("event")).cloned().collect();
        assert_eq!(shown, ["event CREATE_IN_PROGRESS queue-feature-x", "event CREATE_FAILED Queue", "event ROLLBACK_IN_PROGRESS queue-feature-x", "event ROLLBACK_COMPLETE queue-feature-x"]);
    }

    #[test]
    fn a_stack_left_in_rollback_complete_is_deleted_and_created_again() {
        // DescribeStacks: gone after the delete, then CREATE_COMPLETE after the new change set runs.
        let fake = Fake::new(&[None, Some("CREATE_COMPLETE")], Vec::new());
        let existing = fake.stack("ROLLBACK_COMPLETE");
        let (outcome, log) = run_one(&fake, Some(existing), 5_000);
        assert!(matches!(outcome, Outcome::Created { .. }), "{outcome:?}");
        assert!(log.iter().any(|l| l.contains("ROLLBACK_COMPLETE after a failed first create: deleting it")), "{log:?}");
        let calls = fake.calls();
        let delete = calls.iter().position(|c| *c == "DeleteStack").expect("the stack was deleted");
        let create = calls.iter().position(|c| *c == "CreateChangeSet").expect("then created");
        assert!(delete < create, "{calls:?}");
    }

    #[test]
    fn a_busy_stack_is_waited_for_before_anything_starts() {
        let fake = Fake::new(&[Some("UPDATE_IN_PROGRESS"), Some("UPDATE_IN_PROGRESS"), Some("UPDATE_COMPLETE")], Vec::new());
        let existing = fake.stack("UPDATE_IN_PROGRESS");
        let (outcome, log) = run_one(&fake, Some(existing), 5_000);
        assert!(matches!(outcome, Outcome::Updated { .. }), "{outcome:?}");
        assert!(log.iter().any(|l| l.contains("is busy (UPDATE_IN_PROGRESS): waiting")), "{log:?}");
        let calls = fake.calls();
        assert!(calls.iter().take_while(|c| **c != "CreateChangeSet").filter(|c| **c == "DescribeStacks").count() >= 2, "{calls:?}");
    }

    #[test]
    fn a_stack_that_never_settles_ends_in_a_timeout_that_says_what_to_do() {
        let fake = Fake::new(&[Some("CREATE_IN_PROGRESS")], Vec::new());
        let (outcome, _) = run_one(&fake, None, 50);
        let Outcome::Failed { error, .. } = outcome else { panic!("expected a timeout, got {outcome:?}") };
        assert!(error.contains("timed out after") && error.contains("CREATE_IN_PROGRESS") && error.contains("goes on in CloudFormation"), "{error}");
    }

    #[test]
    fn a_stack_of_another_app_is_refused() {
        let mut fake = Fake::new(&[Some("CREATE_COMPLETE")], Vec::new());
        fake.tags.insert(tagging::KEY_APP.into(), "billing".into());
        let existing = fake.stack("CREATE_COMPLETE");
        let (outcome, _) = run_one(&fake, Some(existing), 5_000);
        assert!(matches!(&outcome, Outcome::Failed { error, .. } if error.contains("belongs to app `billing`")), "{outcome:?}");
        assert!(!fake.calls().contains(&"CreateChangeSet"));
        // Another tool's stack with a copied `jiti:app` tag is not cargo-jiti's either.
        let mut fake = Fake::new(&[Some("CREATE_COMPLETE")], Vec::new());
        fake.tags.remove(tagging::KEY_MANAGED_BY);
        let existing = fake.stack("CREATE_COMPLETE");
        let (outcome, _) = run_one(&fake, Some(existing), 5_000);
        assert!(matches!(&outcome, Outcome::Failed { error, .. } if error.contains("its tags: no `jiti:managed-by`, `jiti:app=queue`")), "{outcome:?}");
        assert!(!fake.calls().iter().any(|c| c.contains("ChangeSet") || c.contains("Stack") && *c != "DescribeStacks"), "{:?}", fake.calls());
    }

    #[test]
    fn a_stack_is_up_to_date_only_with_the_parameters_a_deploy_would_pass() {
        let t = crate::template::Template::parse("Parameters:\n  Name:\n    Type: String\n  Size:\n    Type: Number\n    Default: 3\n  Pw:\n    Type: String\n    NoEcho: true\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n").unwrap();
        let stack = |pairs: &[(&str, &str)]| Stack { parameters: pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(), ..Stack::default() };
        let given = vec![("Name".to_owned(), "orders".to_owned())];
        // (stack's parameters, up to date)
        let table: [(&[(&str, &str)], bool); 5] = [
            (&[("Name", "orders"), ("Size", "3")], true),
            (&[("Name", "billing"), ("Size", "3")], false),
            (&[("Name", "orders"), ("Size", "4")], false),
            (&[("Size", "3")], false),
            (&[("Name", "orders"), ("Size", "3"), ("Pw", "****")], false),
        ];
        for (has, fresh) in table {
            assert_eq!(parameters_match(&stack(has), &given, &t), fresh, "{has:?}");
        }
    }

    #[test]
    fn stack_tags_and_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        let mut project = project(dir.path());
        project.apps[0].ttl = Some(Duration::from_secs(3600));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let tags = stack_tags(&project, &project.apps[0], "abc", None, now);
        assert!(tags.contains(&(KEY_EXPIRES_AT.to_owned(), "2027-01-15T09:00:00Z".to_owned())), "{tags:?}");
        assert!(tags.contains(&(KEY_TEMPLATE_HASH.to_owned(), "abc".to_owned())));
        let mut stack = Stack { status: "UPDATE_COMPLETE".into(), tags: tags.iter().cloned().collect(), ..Stack::default() };
        let config = expiry(&project.apps[0], None);
        assert_eq!(config, Some(Expiry::Config(Duration::from_secs(3600))));
        // More than half the time to live left: no deploy needed; less: the expiry is refreshed.
        stack.tags.insert(KEY_EXPIRES_AT.into(), "2027-01-15T08:31:00Z".into());
        assert!(up_to_date(&stack, &tags, config));
        stack.tags.insert(KEY_EXPIRES_AT.into(), "2027-01-15T08:29:00Z".into());
        assert!(!up_to_date(&stack, &tags, config));
        // `--ttl` asks for an expiry: a later one is not it either.
        let asked = expiry(&project.apps[0], Some(Duration::from_secs(3600)));
        stack.tags.insert(KEY_EXPIRES_AT.into(), "2027-01-16T00:00:00Z".into());
        assert!(up_to_date(&stack, &tags, config));
        assert!(!up_to_date(&stack, &tags, asked));
        stack.tags.insert(KEY_EXPIRES_AT.into(), "2027-01-15T09:00:30Z".into());
        assert!(up_to_date(&stack, &tags, asked));
        // An expiry the stack should no longer have is removed.
        let no_ttl = stack_tags(&project, &project.apps[0], "abc", None, now).into_iter().filter(|(k, _)| k != KEY_EXPIRES_AT).collect::<Vec<_>>();
        assert!(!up_to_date(&stack, &no_ttl, None));
        stack.tags.insert(KEY_TEMPLATE_HASH.into(), "old".into());
        assert!(!up_to_date(&stack, &tags, config));
        // Protected environments never expire.
        project.apps[0].environment.protected = true;
        assert!(!stack_tags(&project, &project.apps[0], "abc", Some(Duration::from_secs(60)), now).iter().any(|(k, _)| k == KEY_EXPIRES_AT));
    }

    #[test]
    fn stacks_are_found_in_the_first_page_then_by_name_then_by_listing() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let t = Target { region: "us-east-1".into(), profile: None };
        let account: Vec<Vec<&'static str>> = vec![vec!["a", "b"], vec!["c", "d"], vec!["e", "f"]];
        let find = |names: &[&str]| {
            let fake = Fake { pages: account.clone(), ..Fake::default() };
            let apis = BTreeMap::from([(t.clone(), fake)]);
            let found = runtime.block_on(stacks_named(&apis, names.iter().map(|n| (t.clone(), *n)))).unwrap();
            let mut got: Vec<String> = found[&t].keys().cloned().collect();
            got.sort();
            (got, apis[&t].calls())
        };
        // All in the first page: one call, however large the account.
        assert_eq!(find(&["a", "b"]), (vec!["a".into(), "b".into()], vec!["ListStacks"]));
        // Missing ones are asked for by name; an absent stack is simply not found.
        assert_eq!(find(&["a", "e", "zz"]), (vec!["a".into(), "e".into()], vec!["ListStacks", "DescribeStacks", "DescribeStacks"]));
        // More than BY_NAME missing: the rest of the listing is cheaper.
        let many: Vec<String> = (0..=BY_NAME).map(|i| format!("x{i}")).chain(["f".into()]).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(find(&many), (vec!["f".into()], vec!["ListStacks"; 3]));
    }
}
