//! The code a deploy ships: the template pointed at the packages built now, what the bucket
//! lacks uploaded once the stack is about to change, the functions' `CodeSha256` checked after;
//! and `--hotswap`, the code put straight into the functions when nothing else changes.

use std::collections::BTreeMap;
use std::time::Instant;

use super::{DeployOptions, Outcome};
use crate::cloud::{ArtifactStore, FunctionApi, Stack, StackApi};
use crate::hotswap::{DeployedCopy, HotswapMode, Plan, all_swaps};
use crate::layout;
use crate::observe::Observer;
use crate::render::Rendered;
use crate::resolve::{Project, ResolvedApp};
use crate::ship::CodeError;
use crate::stacks::{Goal, KEY_TEMPLATE_HASH};
use crate::template::Template;
use crate::wait::{Failure, fail};

/// The app with its template pointed at the packages built now (`None`: nothing built now). The
/// bucket is the stack's account's, read from the stack's id, so that a deploy with nothing to
/// change costs no call more; only a first deploy asks STS who the caller is.
pub(super) async fn address_packages<A: ArtifactStore>(
    app: &ResolvedApp,
    api: &A,
    current: Option<&Stack>,
) -> Result<Option<ResolvedApp>, Failure> {
    if app.packages.is_empty() {
        return Ok(None);
    }
    let account = current.and_then(|s| s.id.split(':').nth(4)).filter(|a| !a.is_empty());
    let bucket = match account {
        Some(account) => layout::artifacts_bucket(account, &app.region),
        None => api.bucket_name().await?,
    };
    let mut addressed = app.clone();
    addressed.built = crate::ship::refs(&bucket, &app.name, &app.packages)
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect();
    Ok(Some(addressed))
}

/// Before the stack changes: the packages the bucket lacks are uploaded (never over a key).
pub(super) async fn upload_packages<A: ArtifactStore>(
    app: &ResolvedApp,
    api: &A,
    observer: &dyn Observer,
    uploaded: &mut (Vec<String>, f64),
) -> Result<(), Failure> {
    if app.packages.is_empty() {
        return Ok(());
    }
    let start = Instant::now();
    let published = crate::ship::publish(api, &app.name, &app.packages).await?;
    for r in &published.refs {
        let how = match published.uploaded.contains(&r.name) {
            true => "uploaded",
            false => "already in the bucket",
        };
        observer.note(
            &app.name,
            &format!("artifact `{}` ({} bytes, sha256 {}): {how}", r.name, r.size, r.short_hash()),
        );
    }
    *uploaded = (published.uploaded, start.elapsed().as_secs_f64());
    Ok(())
}

/// After a deploy: each function built from an artifact runs exactly its bytes (`CodeSha256`),
/// checked after a change; and where the functions were hotswapped (this checkout's copy says so,
/// or the check finds other code), the template's code is put back, since CloudFormation changes
/// no function whose `Code` it did not see change. Then this checkout's copy of the deploy is
/// written for the next hotswap.
#[allow(clippy::too_many_arguments)]
pub(super) async fn settle_code<A: FunctionApi + ArtifactStore>(
    project: &Project,
    app: &ResolvedApp,
    api: &A,
    stack_id: Option<&str>,
    template: Option<&Template>,
    outcome: &Outcome,
    options: &DeployOptions,
    observer: &dyn Observer,
) -> Result<(), Failure> {
    let (Some(template), false) = (template, app.built.is_empty()) else { return Ok(()) };
    let refs: Vec<_> = app.built.values().cloned().collect();
    let copy = crate::hotswap::read_copy(project, app).filter(|c| c.stack_name == app.stack_name);
    let was_swapped = copy.as_ref().is_some_and(|c| c.hotswapped);
    let changed = matches!(outcome, Outcome::Created { .. } | Outcome::Updated { .. });
    let mut functions = BTreeMap::new();
    let mut put_back = was_swapped && !changed;
    if changed {
        match crate::ship::check_code(api, &app.stack_name, template, &refs).await {
            Ok(checks) => {
                for c in checks {
                    note_runs(observer, &app.name, &c.function, &c.artifact, &c.code_sha256);
                    functions.insert(c.logical_id, c.function);
                }
            }
            Err(CodeError::Mismatch { function, .. }) => {
                observer.note(&app.name, &format!("function {function} runs other code than the template names (hotswapped since?)"));
                put_back = true;
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    if put_back {
        observer.note(&app.name, "putting the template's code back into the hotswapped functions");
        let swaps = all_swaps(template, &refs);
        let names: BTreeMap<String, String> =
            api.stack_functions(&app.stack_name).await?.into_iter().collect();
        let done = crate::hotswap::execute(api, app, &swaps, &names, options.wait.timeout)
            .await
            .map_err(|e| fail(e.to_string()))?;
        for s in done.swapped {
            note_runs(observer, &app.name, &s.function, &s.artifact, &s.code_sha256);
            functions.insert(s.logical_id, s.function);
        }
    }
    if changed || put_back || copy.is_none() {
        let copy = DeployedCopy {
            stack_name: app.stack_name.clone(),
            stack_id: stack_id.map(str::to_owned),
            template_hash: template.hash(),
            template: template.value.clone(),
            functions,
            hotswapped: false,
        };
        if let Err(e) = crate::hotswap::write_copy(project, app, &copy) {
            observer.note(&app.name, &format!("warning: {e}"));
        }
    }
    Ok(())
}

/// How a deploy of one stack ended: its outcome and the stack's outputs.
type Done = Result<(Outcome, BTreeMap<String, String>), Failure>;

fn note_runs(observer: &dyn Observer, app: &str, function: &str, artifact: &str, sha: &str) {
    observer
        .note(app, &format!("function {function} runs artifact `{artifact}` (CodeSha256 {sha})"));
}

/// `--hotswap`: the change put straight into the functions when it is code only. `None` when it
/// goes through CloudFormation instead: it is not code only (and the mode falls back), or there
/// is nothing to swap.
#[allow(clippy::too_many_arguments)]
pub(super) async fn hotswap<A: StackApi + ArtifactStore + FunctionApi>(
    project: &Project,
    app: &ResolvedApp,
    api: &A,
    current: Option<&Stack>,
    rendered: &Rendered,
    options: &DeployOptions,
    observer: &dyn Observer,
    uploaded: &mut (Vec<String>, f64),
) -> Option<Done> {
    let mode = options.hotswap?;
    if app.environment.protected {
        return Some(Err(fail(format!(
            "hotswap is refused on the protected environment `{}`: its stacks change only through CloudFormation; deploy without --hotswap",
            app.environment.name
        ))));
    }
    let Some(stack) = current else {
        return fallback(mode, app, "its stack does not exist yet", observer);
    };
    let hash = rendered.template.hash();
    let goal = Goal::new(project, app, &hash, options.ttl, options.now);
    let wanted = goal.wanted(&app.name, &rendered.template);
    let copy = crate::hotswap::read_copy(project, app).filter(|c| c.template_of(stack));
    let swapped = copy.as_ref().is_some_and(|c| c.hotswapped);
    // Deployed as wanted (a dependency, most often): the normal path says so, with no call.
    if !swapped && super::plan::decide(Some(stack), &wanted) == super::plan::Action::UpToDate {
        return None;
    }
    let deployed = match &copy {
        Some(c) => c.template.clone(),
        None => {
            let text = match api.get_template(&stack.name).await {
                Ok(text) => text,
                Err(e) => return Some(Err(e.into())),
            };
            match Template::parse(&text) {
                Ok(t) => t.value,
                Err(e) => {
                    return Some(Err(fail(format!(
                        "the deployed template of {} could not be read: {e}",
                        stack.name
                    ))));
                }
            }
        }
    };
    let refs: Vec<_> = app.built.values().cloned().collect();
    let swaps = match crate::hotswap::plan(stack, &deployed, &wanted, &refs) {
        Plan::Swap(swaps) => swaps,
        Plan::Unchanged if swapped => {
            observer.note(
                &app.name,
                "the code is the template's again: putting it back into the hotswapped functions",
            );
            all_swaps(&rendered.template, &refs)
        }
        Plan::Unchanged => return None,
        Plan::Deploy(why) => return fallback(mode, app, &why, observer),
    };
    let functions = match copy.as_ref().and_then(|c| c.functions_of(stack)) {
        Some(known) => known.clone(),
        None => match api.stack_functions(&stack.name).await {
            Ok(list) => list.into_iter().collect(),
            Err(e) => return Some(Err(e.into())),
        },
    };
    let names: Vec<&str> = swaps.iter().map(|s| s.logical_id.as_str()).collect();
    observer.note(
        &app.name,
        &format!("hotswapping {}: code only, no CloudFormation update", names.join(", ")),
    );
    let done =
        match crate::hotswap::execute(api, app, &swaps, &functions, options.wait.timeout).await {
            Ok(done) => done,
            Err(e) => return Some(Err(fail(e.to_string()))),
        };
    *uploaded = (done.uploaded, done.upload_seconds);
    for s in &done.swapped {
        observer.note(
            &app.name,
            &format!(
                "function {} runs artifact `{}` (CodeSha256 {}), updated in {:.2}s",
                s.function, s.artifact, s.code_sha256, s.seconds
            ),
        );
    }
    // The stack's template is unchanged; its functions now run other code than it names.
    let copy = DeployedCopy {
        stack_name: stack.name.clone(),
        stack_id: Some(stack.id.clone()),
        template_hash: stack.tags.get(KEY_TEMPLATE_HASH).cloned().unwrap_or_default(),
        template: deployed,
        functions,
        hotswapped: true,
    };
    if let Err(e) = crate::hotswap::write_copy(project, app, &copy) {
        observer.note(&app.name, &format!("warning: {e}"));
    }
    Some(Ok((Outcome::Hotswapped { functions: done.swapped }, stack.outputs.clone())))
}

fn fallback(
    mode: HotswapMode,
    app: &ResolvedApp,
    why: &str,
    observer: &dyn Observer,
) -> Option<Done> {
    match mode {
        HotswapMode::Fallback => {
            observer.note(
                &app.name,
                &format!("not a code-only change ({why}): deploying through CloudFormation"),
            );
            None
        }
        HotswapMode::Only => Some(Err(fail(format!(
            "not a code-only change ({why}): --hotswap-only refuses it; deploy without --hotswap-only"
        )))),
    }
}
