//! Executing one app's deploy: render and check, decide ([`super::plan::decide`]) and act on the
//! decision until the stack is as wanted (waiting out other operations, replacing a failed first
//! create), then the change itself (a change set, or CreateStack/UpdateStack), followed to its end;
//! the release recorded before it starts and once it ends, the outputs written.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use super::code::{address_packages, hotswap, settle_code, upload_packages};
use super::plan::{Action, decide};
use super::{AppResult, DeployOptions, Method, Outcome, result};
use crate::cloud::{
    ArtifactStore, Change, ChangeSetKind, ChangeSetOutcome, ChangeSetRequest, FunctionApi,
    ReleaseStore, Stack, StackApi, TemplateSource,
};
use crate::hooks::{self, HookRun};
use crate::layout;
use crate::ledger::{self, Deployer, Release, ReleaseMethod, ReleaseStatus};
use crate::observe::{Observer, SENT_CREATE, SENT_EXECUTE, SENT_UPDATE};
use crate::render::{self, DepOutputs, Rendered};
use crate::resolve::{Project, ResolvedApp};
use crate::secrets;
use crate::stacks::Goal;
use crate::template::MAX_INLINE_TEMPLATE_BYTES;
use crate::wait::{Failure, fail, wait};

/// How often a deploy that lost a race for its stack waits and decides again before it gives up.
const BUSY_RETRIES: usize = 3;

pub(super) async fn deploy_one<A: StackApi + ReleaseStore + FunctionApi + ArtifactStore>(
    project: &Project,
    app: &ResolvedApp,
    api: &A,
    current: Option<Stack>,
    outputs: &DepOutputs,
    options: &DeployOptions,
    observer: &dyn Observer,
) -> AppResult {
    let start = Instant::now();
    let (addressed, addressing) = match address_packages(app, api, current.as_ref()).await {
        Ok(addressed) => (addressed, None),
        Err(f) => (None, Some(f)),
    };
    let app = addressed.as_ref().unwrap_or(app);
    // Which packages this deploy uploaded, and how long that took.
    let mut uploaded = (Vec::new(), 0.0);
    let rendered = match addressing {
        Some(f) => Err(f),
        None => render_for_deploy(project, app, outputs, options.skip_checks),
    };
    let hash = rendered.as_ref().ok().map(|r| r.template.hash());
    let template = rendered.as_ref().ok().map(|r| r.template.clone());
    let secrets = rendered.as_ref().map_or_else(|_| app.secrets(), |r| r.secrets.clone());
    let secret_outputs = rendered.as_ref().map(|r| r.secret_outputs.clone()).unwrap_or_default();
    // The release recorded as started, once a stack change was about to start (see `run`).
    let mut started: Option<Release> = None;
    // The stack's id once known (a create learns it at its end): for this checkout's copy.
    let mut stack_id = current.as_ref().map(|s| s.id.clone());
    let hot = match &rendered {
        Ok(rendered) => {
            hotswap(project, app, api, current.as_ref(), rendered, options, observer, &mut uploaded)
                .await
        }
        Err(_) => None,
    };
    let done = match (rendered, hot) {
        (Err(f), _) => Err(f),
        (Ok(_), Some(hot)) => hot,
        (Ok(rendered), None) => {
            // Two deploys of one environment: the one that finds the stack taken waits for the
            // other's operation to end, then decides again from what is there (often: up to date).
            let mut done = run(
                project,
                app,
                api,
                current,
                &rendered,
                options,
                observer,
                &mut started,
                &mut uploaded,
                &mut stack_id,
            )
            .await;
            for _ in 0..BUSY_RETRIES {
                if !matches!(&done, Err(f) if f.busy) {
                    break;
                }
                observer.note(&app.name, &format!("stack {} is taken by another operation (another deploy?): waiting for it, then deciding again", app.stack_name));
                // Settled (whether the other operation succeeded or rolled back): decide again.
                done = match wait(
                    api,
                    &app.stack_name,
                    &mut HashSet::new(),
                    &options.wait,
                    observer,
                    &app.name,
                )
                .await
                {
                    Ok(settled) => {
                        run(
                            project,
                            app,
                            api,
                            settled.stack,
                            &rendered,
                            options,
                            observer,
                            &mut started,
                            &mut uploaded,
                            &mut stack_id,
                        )
                        .await
                    }
                    Err(f) => Err(f),
                };
            }
            done
        }
    };
    let done = match done {
        Ok((
            outcome @ (Outcome::Created { .. }
            | Outcome::Updated { .. }
            | Outcome::UpToDate
            | Outcome::NoChanges),
            outs,
        )) if options.execute => {
            let id = stack_id.as_deref();
            settle_code(project, app, api, id, template.as_ref(), &outcome, options, observer)
                .await
                .map(|()| (outcome, outs))
        }
        other => other,
    };
    let (outcome, outs) = match done {
        Ok(done) => done,
        // CloudFormation's messages may quote property values.
        Err(f) => (
            Outcome::Failed { error: secrets::mask(&f.error, &secrets), failed_events: f.events },
            BTreeMap::new(),
        ),
    };
    // What the ledger, `target/jiti` and every report get; the result keeps the real values too
    // (for dependents, `verify` and `run`).
    let masked_outputs = secrets::mask_outputs(&outs, &secret_outputs, &secrets);
    let mut r = result(app, outcome, outs, start);
    r.outputs = masked_outputs.clone();
    (r.uploaded, r.upload_seconds) = uploaded;
    if let (
        Outcome::Created { .. } | Outcome::Updated { .. } | Outcome::Hotswapped { .. },
        Some(hash),
    ) = (&r.outcome, hash)
    {
        let method = match r.outcome {
            Outcome::Hotswapped { .. } => ReleaseMethod::Hotswap,
            _ => ReleaseMethod::Deploy,
        };
        let mut status = ReleaseStatus::Deployed;
        if let Some((command, timeout)) = app.verify.as_ref().filter(|_| options.verify) {
            observer.note(&app.name, &format!("verifying: {command}"));
            let run = hooks::verify(
                command,
                &app.package_dir,
                &app.name,
                &app.environment.name,
                &app.stack_name,
                &r.raw_outputs,
                *timeout,
            )
            .await;
            let run = run.unwrap_or_else(|e| HookRun {
                command: command.clone(),
                success: false,
                exit_code: None,
                timed_out: false,
                output: format!("could not run it: {e}"),
            });
            observer.note(&app.name, &run.verdict());
            if !run.success {
                status = ReleaseStatus::VerifyFailed;
                r.outcome = Outcome::VerifyFailed { error: run.verdict() };
            }
            r.verify = Some(run);
        }
        let mut release =
            new_release(project, app, &hash, &masked_outputs, &secrets, status, options, api).await;
        if let Some(s) = &started {
            release.id = s.id.clone();
        }
        release.method = method;
        if let Err(e) = ledger::record_outcome(api, &release).await {
            observer.note(
                &app.name,
                &format!("warning: the release was deployed but not recorded in the ledger: {e}"),
            );
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
            observer.note(
                &app.name,
                &format!("warning: the release's outcome was not recorded in the ledger: {e}"),
            );
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
                let masked = if p.secret() || secrets.contains(value) {
                    secrets::MASK.to_owned()
                } else {
                    value.clone()
                };
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
        artifacts: app.built.values().cloned().collect(),
        method: ReleaseMethod::Deploy,
    }
}

/// `target/jiti/<env>/<app>.outputs.json`, written whole.
pub fn write_outputs(
    project: &Project,
    app: &ResolvedApp,
    outputs: &BTreeMap<String, String>,
) -> Result<PathBuf, String> {
    let path = layout::outputs_file(&project.target_dir, &app.environment.name, &app.name);
    let text = serde_json::to_string_pretty(outputs).unwrap_or_default() + "\n";
    layout::write_atomic(&path, text)
        .map_err(|e| format!("failed to write `{}`: {e}", path.display()))?;
    Ok(path)
}

/// The template a deploy sends, also written to `target/jiti/` (for `cfn-lint`, reviews, bug
/// reports). A template `check` finds errors in is refused, unless told to skip the checks.
fn render_for_deploy(
    project: &Project,
    app: &ResolvedApp,
    outputs: &DepOutputs,
    skip_checks: bool,
) -> Result<Rendered, Failure> {
    if let Some(dep) = app.depends_on.iter().find(|d| !outputs.contains_key(*d)) {
        return Err(fail(format!(
            "dependency `{dep}` has no stack in environment `{}`",
            app.environment.name
        )));
    }
    // A placeholder key must never reach CloudFormation (the caller builds, or a rollback
    // restores, every artifact first).
    if let Some(a) = app.artifacts.iter().find(|a| !app.built.contains_key(&a.name)) {
        return Err(fail(format!(
            "artifact `{}` of app `{}` is not built; `cargo jiti build -p {}` builds it",
            a.name, app.name, app.name
        )));
    }
    let rendered =
        render::render_app_with(project, app, outputs).map_err(|e| fail(e.to_string()))?;
    let errors: Vec<String> = crate::check::template_findings(app, &rendered)
        .into_iter()
        .filter(|f| f.severity == crate::check::Severity::Error)
        .map(|f| {
            format!(
                "{}{}: {}",
                f.code,
                f.resource.map(|r| format!(" ({r})")).unwrap_or_default(),
                f.message
            )
        })
        .collect();
    if !errors.is_empty() && !skip_checks {
        return Err(fail(format!(
            "`cargo jiti check` finds {} error(s): {}; fix them, or deploy with --skip-checks (recorded in the release)",
            errors.len(),
            errors.join("; ")
        )));
    }
    render::write(project, &rendered).map_err(|e| fail(e.to_string()))?;
    Ok(rendered)
}

/// One app's deploy of `rendered`: its outcome and its outputs.
#[allow(clippy::too_many_arguments)]
async fn run<A: StackApi + ReleaseStore + ArtifactStore>(
    project: &Project,
    app: &ResolvedApp,
    api: &A,
    mut current: Option<Stack>,
    rendered: &Rendered,
    options: &DeployOptions,
    observer: &dyn Observer,
    started: &mut Option<Release>,
    uploaded: &mut (Vec<String>, f64),
    stack_id: &mut Option<String>,
) -> Result<(Outcome, BTreeMap<String, String>), Failure> {
    let name = &app.name;
    let stack = &app.stack_name;
    let hash = rendered.template.hash();
    let goal = Goal::new(project, app, &hash, options.ttl, options.now);
    let wanted = goal.wanted(name, &rendered.template);

    // Act on each decision until the stack is ready to be created or updated (at most: wait for
    // another operation, then replace a failed first create).
    let creating = loop {
        match decide(current.as_ref(), &wanted) {
            Action::Refuse(why) => return Err(fail(why)),
            Action::UpToDate => {
                observer.note(name, "up to date");
                return Ok((Outcome::UpToDate, current.map(|s| s.outputs).unwrap_or_default()));
            }
            Action::Create => break true,
            Action::Update => break false,
            Action::Wait => {
                let status = current.as_ref().map(|s| s.status.to_string()).unwrap_or_default();
                observer.note(
                    name,
                    &format!(
                        "stack {stack} is busy ({status}): waiting for that operation to finish"
                    ),
                );
                current = wait(api, stack, &mut HashSet::new(), &options.wait, observer, name)
                    .await?
                    .stack;
            }
            Action::DeleteFailedCreate => {
                observer.note(name, &format!("stack {stack} is in ROLLBACK_COMPLETE after a failed first create: deleting it, then creating it again"));
                api.delete_stack(stack).await?;
                let settled =
                    wait(api, stack, &mut HashSet::new(), &options.wait, observer, name).await?;
                if !settled.gone() {
                    return Err(settled.failure(stack));
                }
                current = None;
            }
        }
    };
    upload_packages(app, api, observer, uploaded).await?;
    let body = rendered.template.to_json();
    let template = if body.len() > MAX_INLINE_TEMPLATE_BYTES {
        let key = layout::template_key(name, &app.environment.name, &hash);
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
        tags: goal.tags.clone(),
        parameters: goal.parameters.clone(),
        description: format!("cargo-jiti: {name} {} at {}", app.version, project.git.short_commit),
    };
    let previous_outputs = current.as_ref().map(|s| s.outputs.clone()).unwrap_or_default();
    let (changes, change_set) = match options.method {
        Method::ChangeSet => match change_set(api, &request, options, observer, name).await? {
            Some(ready) => ready,
            None => return Ok((Outcome::NoChanges, previous_outputs)),
        },
        Method::Direct => {
            let deployed = match creating {
                true => None,
                false => serde_json::from_str(&api.get_template(stack).await?).ok(),
            };
            // Resources whose `Condition` is false exist on neither side.
            let changes = crate::diff::deploy_changes(
                deployed.as_ref(),
                current.as_ref(),
                &rendered.template.value,
                app,
            );
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
        let release = new_release(
            project,
            app,
            &hash,
            &BTreeMap::new(),
            &rendered.secrets,
            ReleaseStatus::Started,
            options,
            api,
        )
        .await;
        if let Err(e) = ledger::record(api, &release).await {
            observer.note(
                name,
                &format!("warning: the release could not be recorded before starting: {e}"),
            );
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
            Some(s)
                if s.in_progress()
                    || s.last_change() != current.as_ref().and_then(Stack::last_change) =>
            {
                observer.note(name, &format!("UpdateStack answered \"no updates\", but the stack changed since it was read ({}): following it", s.status));
            }
            _ => {
                observer.note(name, "no changes");
                return Ok((Outcome::NoChanges, previous_outputs));
            }
        },
        // Whether the operation started is unknown: look, and follow it if it did.
        Err(e) if e.may_have_started() => match api.describe_stack(stack).await? {
            Some(s) if s.in_progress() => observer.note(
                name,
                &format!(
                    "{e}; but CloudFormation is working on the stack ({}): following it",
                    s.status
                ),
            ),
            _ => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    }
    // This process's own operation: only its success is one, and only its events are its failures.
    let settled = wait(api, stack, &mut seen, &options.wait, observer, name).await?;
    let done = match &settled.stack {
        Some(s) if s.status.succeeded() => s.clone(),
        Some(_) => return Err(settled.failure(stack)),
        None => return Err(fail(format!("stack {stack} disappeared while deploying"))),
    };
    if app.environment.protected
        && !done.termination_protection
        && !app.unprotected_envs.contains(&app.environment.name)
    {
        // Best effort: the stack is deployed either way (moto answers this call with a 500).
        if let Err(e) = api.set_termination_protection(stack, true).await {
            observer.note(name, &format!("warning: termination protection not enabled: {e}"));
        }
    }
    let outcome =
        if creating { Outcome::Created { changes } } else { Outcome::Updated { changes } };
    *stack_id = Some(done.id);
    Ok((outcome, done.outputs))
}

/// Creates the change set and waits until CloudFormation has computed it: its changes and id, or
/// `None` when it holds no change (then it is deleted).
async fn change_set<A: StackApi>(
    api: &A,
    request: &ChangeSetRequest,
    options: &DeployOptions,
    observer: &dyn Observer,
    name: &str,
) -> Result<Option<(Vec<Change>, Option<String>)>, Failure> {
    let stack = &request.stack_name;
    observer.note(
        name,
        if request.kind == ChangeSetKind::Create {
            "creating change set (new stack)"
        } else {
            "creating change set"
        },
    );
    let deadline = Instant::now() + options.wait.timeout;
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
        tokio::time::sleep(options.wait.poll).await;
    };
    match outcome {
        ChangeSetOutcome::NoChanges => {
            observer.note(name, "no changes");
            api.delete_change_set(stack, &id).await?;
            Ok(None)
        }
        ChangeSetOutcome::Failed(reason) => {
            Err(fail(format!("change set {id} of {stack} failed: {reason}")))
        }
        ChangeSetOutcome::Ready(changes) => Ok(Some((changes, Some(id)))),
    }
}

#[cfg(test)]
mod tests;
