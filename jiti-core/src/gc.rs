//! Garbage collection of environments: stacks of this workspace's apps whose branch is gone or
//! whose time to live has passed. Never a protected environment, never a stack cargo-jiti did not
//! make for an app of this workspace, never a busy one; and never on knowledge of branches that
//! cannot tell a deleted branch from one this clone has not fetched.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;

use crate::cloud::{Stack, StackApi, Target};
use crate::deploy::{self, DeployOptions, KEY_EXPIRES_AT, Observer, target};
use crate::destroy::{Deleted, delete_stack};
use crate::git::BranchKnowledge;
use crate::resolve::Project;
use crate::tagging::{self, KEY_APP, KEY_BRANCH, KEY_ENV};

/// Why an environment is collected.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Reason {
    /// Its branch exists neither locally nor on the remote.
    BranchGone { branch: String },
    /// Its `jiti:expires-at` has passed.
    Expired { expired_at: String },
    /// Not deployed for longer than `--max-age`.
    TooOld { last_deploy: String },
}

/// An environment stack the plan removes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Collect {
    pub app: String,
    pub environment: String,
    pub branch: String,
    pub stack_name: String,
    pub status: String,
    #[serde(flatten)]
    pub reason: Reason,
    #[serde(skip)]
    pub target: Target,
    /// How many dependency waves the app's deploy spans: deeper apps are deleted first.
    #[serde(skip)]
    depth: usize,
}

/// A stack of the workspace's apps the plan leaves, and why (only those worth saying).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Kept {
    pub app: String,
    pub stack_name: String,
    pub why: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Plan {
    pub collect: Vec<Collect>,
    pub kept: Vec<Kept>,
    /// What the plan's knowledge rests on (e.g. "no remote-tracking branches").
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Only this app's environments.
    pub app: Option<String>,
    /// Branches of the remote as listed live (`--remote`): then only they (and local ones) count.
    pub remote_branches: Option<HashSet<String>>,
    pub max_age: Option<Duration>,
    /// Allows a plan to remove up to this many environments of an app past the guard.
    pub max_delete: Option<usize>,
    pub now: Option<SystemTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("cannot tell deleted branches from branches this clone does not have ({why}): pass `--remote origin` to list the remote's branches live")]
    IncompleteKnowledge { why: String },
    #[error("refusing: the plan removes {count} of the {of} environments of app `{app}`; if that is right, pass --max-delete {count}")]
    TooMany { app: String, count: usize, of: usize },
    #[error("no app `{app}` in this workspace")]
    UnknownApp { app: String },
}

/// The environments to collect among `stacks`.
pub fn plan(project: &Project, stacks: &[Stack], knowledge: &BranchKnowledge, options: &GcOptions) -> Result<Plan, GcError> {
    if let Some(app) = options.app.as_ref().filter(|a| project.app(a).is_none()) {
        return Err(GcError::UnknownApp { app: app.clone() });
    }
    let now = options.now.unwrap_or_else(SystemTime::now);
    let mut plan = Plan::default();
    let local = tagging::sanitize_all(&knowledge.branches.local);
    let alive: HashSet<String> = match &options.remote_branches {
        Some(remote) => {
            plan.notes.push(format!("branches judged by the remote's live listing ({} branches) and local ones", remote.len()));
            local.union(&tagging::sanitize_all(remote)).cloned().collect()
        }
        None => {
            if let Some(why) = &knowledge.incomplete {
                return Err(GcError::IncompleteKnowledge { why: why.clone() });
            }
            if !knowledge.branches.has_remote_refs {
                plan.notes.push("no remote-tracking branches: branches judged by local ones only".into());
            }
            local.union(&tagging::sanitize_all(&knowledge.branches.remote)).cloned().collect()
        }
    };
    // Dependents go first: an app's stacks may import from what it depends on.
    let depth: HashMap<&str, usize> = project
        .apps
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.as_str(), deploy::waves(project, &[i]).map_or(0, |w| w.len())))
        .collect();
    let mut per_app: HashMap<String, usize> = HashMap::new();
    for stack in stacks {
        if stack.tags.get(tagging::KEY_MANAGED_BY).map(String::as_str) != Some(tagging::MANAGED_BY) {
            continue;
        }
        let Some(app) = stack.tags.get(KEY_APP).and_then(|a| project.app(a)) else { continue };
        if options.app.as_ref().is_some_and(|only| only != &app.name) {
            continue;
        }
        *per_app.entry(app.name.clone()).or_default() += 1;
        let tag = |k: &str| stack.tags.get(k).cloned().unwrap_or_default();
        let (environment, branch) = (tag(KEY_ENV), tag(KEY_BRANCH));
        let kept = |why: String| Kept { app: app.name.clone(), stack_name: stack.name.clone(), why };
        // Protected by its tag, or by its name (whatever its tags say).
        if app.protected_envs.contains(&environment) || app.protected_envs.iter().any(|p| app.stack_name_in(p) == stack.name) {
            continue;
        }
        let expired = stack.tags.get(KEY_EXPIRES_AT).and_then(|t| humantime::parse_rfc3339(t).ok()).filter(|t| *t < now);
        let last = stack.last_change();
        let too_old = options.max_age.zip(last).filter(|(age, at)| now.duration_since(*at).is_ok_and(|d| d > *age)).map(|(_, at)| at);
        let reason = if !alive.contains(&branch) {
            // A branch newer than this clone's last fetch is unknown here, not gone.
            match (options.remote_branches.is_none(), knowledge.last_fetch, last) {
                (true, Some(fetched), Some(deployed)) if deployed > fetched => {
                    plan.kept.push(kept(format!("branch `{branch}` is not known here, but the environment was deployed after this clone last fetched: fetch, or pass --remote")));
                    continue;
                }
                _ => Reason::BranchGone { branch: branch.clone() },
            }
        } else if let Some(at) = expired {
            Reason::Expired { expired_at: humantime::format_rfc3339_seconds(at).to_string() }
        } else if let Some(at) = too_old {
            Reason::TooOld { last_deploy: humantime::format_rfc3339_seconds(at).to_string() }
        } else {
            continue;
        };
        if stack.in_progress() {
            plan.kept.push(kept(format!("an operation is in progress ({})", stack.status)));
            continue;
        }
        plan.collect.push(Collect {
            app: app.name.clone(),
            environment,
            branch,
            stack_name: stack.name.clone(),
            status: stack.status.clone(),
            reason,
            target: target(app),
            depth: depth.get(app.name.as_str()).copied().unwrap_or(0),
        });
    }
    // The guard: a plan that removes most of an app's environments is more likely a mistake (a
    // half-fetched clone, a wrong remote) than a clean-up.
    for (app, of) in &per_app {
        let count = plan.collect.iter().filter(|c| &c.app == app).count();
        if count > 5 && count * 2 > *of && options.max_delete.is_none_or(|max| count > max) {
            return Err(GcError::TooMany { app: app.clone(), count, of: *of });
        }
    }
    plan.collect.sort_by(|a, b| (std::cmp::Reverse(a.depth), &a.stack_name).cmp(&(std::cmp::Reverse(b.depth), &b.stack_name)));
    Ok(plan)
}

/// Deletes the plan's stacks, `jobs` at a time, dependents' before their dependencies', waiting
/// for each. One failure does not stop the others.
pub async fn execute<A: StackApi>(plan: &Plan, apis: &BTreeMap<Target, A>, jobs: usize, options: &DeployOptions, observer: &dyn Observer) -> Vec<Deleted> {
    let mut out = Vec::new();
    // The plan is sorted deepest first; each depth is one level of parallel deletions.
    for level in plan.collect.chunk_by(|a, b| a.depth == b.depth) {
        let deletions = level.iter().filter_map(|c| apis.get(&c.target).map(|api| delete_stack(api, &c.app, &c.stack_name, options, observer)));
        out.extend(futures_util::stream::iter(deletions).buffer_unordered(jobs.max(1)).collect::<Vec<_>>().await);
    }
    out
}
