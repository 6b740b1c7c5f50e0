//! Removing an environment: its stacks, dependents before what they depend on, never a protected
//! environment unless asked twice, never a stack cargo-jiti did not make.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use crate::cloud::StackStatus;
use crate::cloud::{StackApi, Target};
use crate::graph::{self, CycleError};
use crate::observe::{Observer, SENT_DELETE};
use crate::resolve::Project;
use crate::stacks::{self, Stacks, StacksError, target};
use crate::tagging;
use crate::wait::{WaitOptions, wait};

/// One stack `destroy` would delete, or why it will not.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Item {
    pub app: String,
    pub environment: String,
    pub stack_name: String,
    pub protected: bool,
    /// Current status; `None` when the stack does not exist.
    pub status: Option<StackStatus>,
    /// Why it is kept, when it is.
    pub refused: Option<String>,
}

/// The selected apps' stacks in environment `env` (the branch's when `None`), and their
/// dependents' (which must go first), those that exist.
pub async fn stacks<A: StackApi>(
    project: &Project,
    env: Option<&str>,
    apis: &BTreeMap<Target, A>,
) -> Result<Stacks, StacksError> {
    let mut names: Vec<(Target, String)> =
        project.selected_apps().map(|a| (target(a), a.stack_name_for(env))).collect();
    for app in project.selected_apps() {
        for dependent in project.dependents(&app.name) {
            let name = (target(dependent), dependent.stack_name_for(env));
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    stacks::stacks_named(apis, names.iter().map(|(t, n)| (t.clone(), n.as_str()))).await
}

/// The stacks of environment `env` (the branch's when `None`) of the selected apps, dependents first.
pub fn plan(
    project: &Project,
    env: Option<&str>,
    stacks: &Stacks,
    allow_protected: bool,
) -> Result<Vec<Item>, CycleError> {
    let selected: HashSet<usize> = project.selected.iter().copied().collect();
    let selected_names: Vec<&str> = project.selected_apps().map(|a| a.name.as_str()).collect();
    let order: Vec<usize> = graph::waves(project, &project.selected)?
        .into_iter()
        .rev()
        .flatten()
        .filter(|i| selected.contains(i))
        .collect();
    Ok(order
        .into_iter()
        .map(|i| {
            let app = &project.apps[i];
            let environment = env.map_or_else(|| app.environment.name.clone(), str::to_owned);
            let stack_name = app.stack_name_for(env);
            let stack = stacks.get(&target(app)).and_then(|s| s.get(&stack_name));
            // The config's word, or the stack's own marker (an environment renamed since).
            let protected = app.protected_envs.contains(&environment) || stack.is_some_and(|s| tagging::marked_protected(&s.tags));
            // A dependent's stack of the same environment imports from this one: it goes first.
            let blocking: Vec<String> = project
                .dependents(&app.name)
                .into_iter()
                .filter(|d| !selected_names.contains(&d.name.as_str()))
                .filter_map(|d| stacks.get(&target(d)).and_then(|s| s.get(&d.stack_name_for(env))).map(|s| format!("`{}` ({})", d.name, s.name)))
                .collect();
            let foreign = stack.and_then(|s| tagging::owned_by(&s.tags, &app.name).err());
            let refused = match stack {
                None => None,
                Some(_) if !blocking.is_empty() => Some(format!(
                    "{} depend{} on it in this environment: destroy {} first, or select {} too (-p), dependents go first",
                    blocking.join(", "),
                    if blocking.len() == 1 { "s" } else { "" },
                    if blocking.len() == 1 { "it" } else { "them" },
                    if blocking.len() == 1 { "it" } else { "them" },
                )),
                Some(_) if foreign.is_some() => foreign,
                Some(_) if protected && !allow_protected => Some(format!("`{environment}` is a protected environment: add --allow-protected to destroy it")),
                Some(s) if s.in_progress() => Some(format!("an operation is in progress ({})", s.status)),
                Some(_) => None,
            };
            Item { app: app.name.clone(), environment, stack_name, protected, status: stack.map(|s| s.status.clone()), refused }
        })
        .collect())
}

/// How deleting one stack ended.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Deleted {
    pub app: String,
    pub stack_name: String,
    pub deleted: bool,
    pub error: Option<String>,
    /// Why it was not deleted after all, when it was judged again and kept (gc).
    pub kept: Option<String>,
    pub seconds: f64,
}

/// Deletes the planned stacks that exist and are not refused, one after another (a dependent must
/// be gone before what it imports from can go), waiting for each with its events.
pub async fn execute<A: StackApi>(
    project: &Project,
    items: &[Item],
    apis: &BTreeMap<Target, A>,
    options: &WaitOptions,
    observer: &dyn Observer,
) -> Vec<Deleted> {
    let mut out = Vec::new();
    for item in items.iter().filter(|i| i.status.is_some() && i.refused.is_none()) {
        let Some(app) = project.app(&item.app) else { continue };
        let Some(api) = apis.get(&target(app)) else { continue };
        if item.protected {
            // moto answers UpdateTerminationProtection with a 500; a stack without protection deletes anyway.
            if let Err(e) = api.set_termination_protection(&item.stack_name, false).await {
                observer.note(
                    &item.app,
                    &format!("warning: could not lift termination protection: {e}"),
                );
            }
        }
        out.push(delete_stack(api, &item.app, &item.stack_name, options, observer).await);
    }
    out
}

/// Deletes one stack and waits until it is gone, showing its events (`destroy` and `gc`).
pub async fn delete_stack<A: StackApi>(
    api: &A,
    app: &str,
    stack: &str,
    options: &WaitOptions,
    observer: &dyn Observer,
) -> Deleted {
    let start = Instant::now();
    let result: Result<(), String> = async {
        // A stack already gone (deleted by someone else since the plan) is what was wanted.
        let mut seen: HashSet<String> = match api.stack_events(stack).await {
            Ok(events) => events.into_iter().map(|e| e.id).collect(),
            Err(e) if e.is_missing_stack() => {
                observer.status(app, stack, "DELETE_COMPLETE");
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        };
        // Said before the call: interrupted while it is on its way, the command must not claim
        // that no operation had started.
        observer.status(app, stack, SENT_DELETE);
        observer.note(app, &format!("deleting stack {stack}"));
        api.delete_stack(stack).await.map_err(|e| e.to_string())?;
        match wait(api, stack, &mut seen, options, observer, app).await {
            Ok(settled) if settled.gone() => Ok(()),
            Ok(settled) => Err(settled.failure(stack).error),
            Err(f) => Err(f.error),
        }
    }
    .await;
    Deleted {
        app: app.to_owned(),
        stack_name: stack.to_owned(),
        deleted: result.is_ok(),
        error: result.err(),
        kept: None,
        seconds: start.elapsed().as_secs_f64(),
    }
}
