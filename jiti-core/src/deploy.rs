//! Deploying apps to their environment's stacks: one paginated listing decides what is up to date;
//! the rest goes through change sets, executed and waited for with the stack's events, dependencies
//! first, independent apps in parallel.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;

use crate::cloud::{Change, ChangeSetKind, ChangeSetOutcome, ChangeSetRequest, CloudError, Stack, StackApi, StackEvent, Target, TemplateSource};
use crate::render::{self, DepOutputs, Rendered};
use crate::resolve::{Project, ResolvedApp};
use crate::tagging;
use crate::template::MAX_INLINE_TEMPLATE_BYTES;

/// Stack tag holding the SHA-256 of the deployed template: equal hash and tags mean up to date.
pub const KEY_TEMPLATE_HASH: &str = "jiti:template-hash";
/// Stack tag of ephemeral environments: RFC 3339 time after which `gc` may collect them.
pub const KEY_EXPIRES_AT: &str = "jiti:expires-at";

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
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions { method: Method::ChangeSet, execute: true, timeout: Duration::from_secs(3600), jobs: 4, ttl: None, now: SystemTime::now(), poll: Duration::from_millis(500) }
    }
}

/// What the caller shows while deploys run.
pub trait Observer: Send + Sync {
    /// A step or a decision worth saying (`creating change set`, `up to date`).
    fn note(&self, app: &str, message: &str);
    /// A computed change set, before it is executed.
    fn change_set(&self, app: &str, stack: &str, changes: &[Change]);
    /// A new stack event, oldest first.
    fn event(&self, app: &str, stack: &str, event: &StackEvent);
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
    /// Not attempted: a dependency failed.
    Skipped { reason: String },
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        !matches!(self, Outcome::Failed { .. } | Outcome::Skipped { .. })
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
    pub outputs: BTreeMap<String, String>,
    /// `target/jiti/<env>/<app>.outputs.json`, once written.
    pub outputs_file: Option<PathBuf>,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("dependency cycle among {}: fix `depends_on` (`cargo jiti check` names the cycle)", apps.join(", "))]
    Cycle { apps: Vec<String> },
    #[error("failed to list the stacks in {region}")]
    List {
        region: String,
        #[source]
        source: CloudError,
    },
    #[error("no AWS client for region {region}")]
    NoClient { region: String },
}

/// A failed step of one app's deploy.
pub(crate) struct Failure {
    pub(crate) error: String,
    pub(crate) events: Vec<StackEvent>,
}

impl From<CloudError> for Failure {
    fn from(e: CloudError) -> Self {
        Failure { error: e.to_string(), events: Vec::new() }
    }
}

fn fail(error: impl Into<String>) -> Failure {
    Failure { error: error.into(), events: Vec::new() }
}

/// Where `app` deploys.
pub fn target(app: &ResolvedApp) -> Target {
    Target { region: app.region.clone(), profile: app.profile.clone() }
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
    if let Some(ttl) = ttl.or(app.ttl).filter(|_| app.environment.ephemeral()) {
        tags.push((KEY_EXPIRES_AT.to_owned(), humantime::format_rfc3339_seconds(now + ttl).to_string()));
    }
    tags
}

/// A deployed stack is up to date when it is settled and its tags (the template hash among them)
/// are the ones a deploy would set. `jiti:expires-at` is left out: it moves with the clock.
pub fn up_to_date(stack: &Stack, tags: &[(String, String)]) -> bool {
    let wanted: BTreeMap<&str, &str> = tags.iter().filter(|(k, _)| k != KEY_EXPIRES_AT).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let current: BTreeMap<&str, &str> = stack.tags.iter().filter(|(k, _)| *k != KEY_EXPIRES_AT).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    SETTLED.contains(&stack.status.as_str()) && wanted == current
}

/// Every stack of every target, by name: one paginated DescribeStacks per target.
pub async fn listing<A: StackApi>(apis: &BTreeMap<Target, A>) -> Result<HashMap<Target, HashMap<String, Stack>>, DeployError> {
    let mut existing = HashMap::new();
    for (target, api) in apis {
        let stacks = api.list_stacks().await.map_err(|source| DeployError::List { region: target.region.clone(), source })?;
        existing.insert(target.clone(), stacks.into_iter().map(|s| (s.name.clone(), s)).collect());
    }
    Ok(existing)
}

/// Deploys the selected apps of `project` (and their dependencies). `apis` holds a client per
/// target; the returned results follow the deploy order.
pub async fn deploy<A: StackApi>(project: &Project, apis: &BTreeMap<Target, A>, options: &DeployOptions, observer: &dyn Observer) -> Result<Vec<AppResult>, DeployError> {
    let waves = waves(project, &project.selected)?;
    let existing = listing(apis).await?;
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
        let done: Vec<AppResult> = futures_util::stream::iter(jobs).buffer_unordered(options.jobs.max(1)).collect().await;
        for r in done {
            if r.outcome.succeeded() {
                outputs.insert(r.app.clone(), r.outputs.clone());
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
        app: app.name.clone(),
        environment: app.environment.name.clone(),
        stack_name: app.stack_name.clone(),
        region: app.region.clone(),
        outcome,
        outputs,
        outputs_file: None,
        seconds: start.elapsed().as_secs_f64(),
    }
}

async fn deploy_one<A: StackApi>(
    project: &Project,
    app: &ResolvedApp,
    api: &A,
    current: Option<Stack>,
    outputs: &DepOutputs,
    options: &DeployOptions,
    observer: &dyn Observer,
) -> AppResult {
    let start = Instant::now();
    let (outcome, outs) = match run(project, app, api, current, outputs, options, observer).await {
        Ok(done) => done,
        Err(f) => (Outcome::Failed { error: f.error, failed_events: f.events }, BTreeMap::new()),
    };
    let mut r = result(app, outcome, outs, start);
    if r.outcome.succeeded() && !matches!(r.outcome, Outcome::Reviewed { .. }) {
        match write_outputs(project, app, &r.outputs) {
            Ok(path) => r.outputs_file = Some(path),
            Err(e) => observer.note(&app.name, &format!("warning: {e}")),
        }
    }
    r
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

async fn run<A: StackApi>(
    project: &Project,
    app: &ResolvedApp,
    api: &A,
    mut current: Option<Stack>,
    outputs: &DepOutputs,
    options: &DeployOptions,
    observer: &dyn Observer,
) -> Result<(Outcome, BTreeMap<String, String>), Failure> {
    let name = &app.name;
    let stack = &app.stack_name;
    if let Some(dep) = app.depends_on.iter().find(|d| !outputs.contains_key(*d)) {
        return Err(fail(format!("dependency `{dep}` has no stack in environment `{}`", app.environment.name)));
    }
    let rendered: Rendered = render::render_app_with(project, app, outputs).map_err(|e| fail(e.to_string()))?;
    // What is deployed is also on disk, for `cfn-lint`, reviews and bug reports.
    render::write(project, &rendered).map_err(|e| fail(e.to_string()))?;
    let hash = rendered.template.hash();
    let tags = stack_tags(project, app, &hash, options.ttl, options.now);
    let deadline = Instant::now() + options.timeout;

    if let Some(s) = &current {
        match s.tags.get(tagging::KEY_APP) {
            Some(owner) if owner != name => return Err(fail(format!("stack `{stack}` belongs to app `{owner}`, not `{name}`: rename one of the apps"))),
            None => return Err(fail(format!("stack `{stack}` exists but was not made by cargo-jiti (no `{}` tag); refusing to touch it", tagging::KEY_APP))),
            _ => {}
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
    if let Some(s) = current.as_ref().filter(|s| up_to_date(s, &tags)) {
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
        change_set_name: format!("jiti-{}-{unix}", &hash[..12]),
        kind: if creating { ChangeSetKind::Create } else { ChangeSetKind::Update },
        template,
        tags,
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
            let changes = crate::diff::resource_changes(deployed.as_ref(), &rendered.template.value);
            if changes.is_empty() && !creating {
                // Only tags may differ; UpdateStack says whether that is a change.
                observer.note(name, "template unchanged: updating stack tags");
            }
            (changes, None)
        }
    };
    observer.change_set(name, stack, &changes);
    if !options.execute {
        let change_set = change_set.unwrap_or_else(|| "(none: direct method)".into());
        return Ok((Outcome::Reviewed { change_set, changes }, previous_outputs));
    }
    // Events already there are the past: only what this operation adds is shown.
    let mut seen: HashSet<String> = match creating && change_set.is_none() {
        true => HashSet::new(),
        false => api.stack_events(stack).await?.into_iter().map(|e| e.id).collect(),
    };
    match (&change_set, creating) {
        (Some(id), _) => api.execute_change_set(stack, id).await?,
        (None, true) => api.create_stack(&request).await?,
        (None, false) => match api.update_stack(&request).await {
            Err(e) if e.is_no_updates() => {
                observer.note(name, "no changes");
                return Ok((Outcome::NoChanges, previous_outputs));
            }
            other => other?,
        },
    }
    let done = wait(api, stack, &mut seen, deadline, options, observer, name).await?.ok_or_else(|| fail(format!("stack {stack} disappeared while deploying")))?;
    if !matches!(done.status.as_str(), "CREATE_COMPLETE" | "UPDATE_COMPLETE") {
        let failed: Vec<StackEvent> = api.stack_events(stack).await.unwrap_or_default().into_iter().filter(|e| !seen.contains(&e.id) || e.failed()).filter(StackEvent::failed).collect();
        return Err(Failure {
            error: format!("stack {stack} ended in {}{}", done.status, done.status_reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()),
            events: failed,
        });
    }
    if app.environment.protected && !done.termination_protection {
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
    loop {
        let current = api.describe_stack(stack).await?;
        let events = match &current {
            Some(_) => api.stack_events(stack).await?,
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
