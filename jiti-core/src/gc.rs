//! Garbage collection: environments (stacks) of this workspace's apps whose branch is gone or
//! whose time to live has passed, and resources tagged for this workspace that outlived their
//! stack. Never a protected environment or its resources, never anything cargo-jiti did not make
//! for an app of this workspace, never a busy stack; and never on knowledge of branches that
//! cannot tell a deleted branch from one this clone has not fetched.
//!
//! A resource is judged against a stack listing made *after* the resources were listed: a stack
//! exists before CloudFormation creates its first resource, so a deploy racing the pass can never
//! make its fresh resources look orphaned.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use crate::cloud::{
    CloudError, Deletable, ReleaseStore, ResourceApi, Stack, StackApi, TaggedResource, Target,
};
use crate::git::BranchKnowledge;
use crate::resolve::Project;
use crate::stacks::{self, KEY_EXPIRES_AT};
use crate::tagging::{self, KEY_APP, KEY_ENV};

/// Why an environment is collected.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Reason {
    /// Its branch exists neither locally nor on the remote.
    BranchGone { branch: String },
    /// Its `jiti:expires-at` has passed.
    Expired { expired_at: String },
    /// Not deployed for longer than `--max-age`.
    TooOld { last_deploy: String },
}

/// The reason in a few words, as the dry run and the pull request comment say it.
impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::BranchGone { branch } => write!(f, "branch `{branch}` is gone"),
            Reason::Expired { expired_at } => write!(f, "expired at {expired_at}"),
            Reason::TooOld { last_deploy } => write!(f, "last deployed {last_deploy}"),
        }
    }
}

/// An environment stack the plan removes.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Collect {
    pub app: String,
    pub environment: String,
    pub branch: String,
    pub stack_name: String,
    pub status: crate::cloud::StackStatus,
    #[serde(flatten)]
    pub reason: Reason,
    #[serde(skip)]
    pub target: Target,
    /// How many dependency waves the app's deploy spans: deeper apps are deleted first.
    #[serde(skip)]
    depth: usize,
    /// The stack's last create or update, and its tags, when planned: a stack whose either
    /// changed since was redeployed (see [`Judge`]).
    #[serde(skip)]
    last_change: Option<SystemTime>,
    #[serde(skip)]
    tags: BTreeMap<String, String>,
}

/// A stack of the workspace's apps the plan leaves, and why (only those worth saying).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Kept {
    pub app: String,
    pub stack_name: String,
    pub why: String,
}

/// Why a resource is an orphan: the stack that owned it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "orphan", rename_all = "kebab-case")]
pub enum Owner {
    /// Its environment's stack no longer exists.
    StackGone { stack_name: String },
    /// Its stack is collected in this pass: it goes if the stack leaves it behind (and only if
    /// the stack's deletion succeeded).
    StackCollected { stack_name: String },
    /// A stack of that name exists, but CloudFormation's own tag says the resource was made by an
    /// earlier stack of the name, which is gone.
    EarlierStack { stack_name: String, stack_id: String },
    /// A log group Lambda made (untagged) for a function of this stack, an environment the
    /// release ledger records for the app, which is gone (see `gc::lambda_logs`).
    LambdaLogs { stack_name: String },
}

impl Owner {
    pub fn stack_name(&self) -> &str {
        match self {
            Owner::StackGone { stack_name }
            | Owner::StackCollected { stack_name }
            | Owner::EarlierStack { stack_name, .. }
            | Owner::LambdaLogs { stack_name } => stack_name,
        }
    }
}

/// A resource the plan removes, or lists for you to remove (`delete: None`: a type cargo-jiti
/// does not delete).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Orphan {
    pub app: String,
    pub environment: String,
    pub arn: String,
    pub delete: Option<Deletable>,
    #[serde(flatten)]
    pub owner: Owner,
    #[serde(skip)]
    pub target: Target,
    #[serde(skip)]
    tags: BTreeMap<String, String>,
}

/// A resource of a workspace app's environment that looks orphaned but is kept, and why.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct KeptResource {
    pub app: String,
    pub arn: String,
    pub why: String,
}

#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct Plan {
    pub collect: Vec<Collect>,
    pub kept: Vec<Kept>,
    /// Resources that outlived (or will outlive) their stack.
    pub resources: Vec<Orphan>,
    pub kept_resources: Vec<KeptResource>,
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
    #[error(
        "cannot tell deleted branches from branches this clone does not have ({why}): pass `--remote origin` to list the remote's branches live"
    )]
    IncompleteKnowledge { why: String },
    #[error(
        "refusing: the plan removes {count} of the {of} environments of app `{app}`; if that is right, pass --max-delete {count}"
    )]
    TooMany { app: String, count: usize, of: usize },
    #[error("no app `{app}` in this workspace")]
    UnknownApp { app: String },
}

/// What one pass sees of the account: per target, the resources tagged for the workspace's apps
/// and Lambda's log groups (listed first), then the stacks, then (only when a log group needs it)
/// the environments the release ledger records.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub resources: BTreeMap<Target, Vec<TaggedResource>>,
    /// `/aws/lambda/…` log groups, (name, ARN).
    pub lambda_logs: BTreeMap<Target, Vec<(String, String)>>,
    pub stacks: stacks::Stacks,
    /// (app, environment) of every release recorded.
    pub ledger: BTreeMap<Target, BTreeSet<(String, String)>>,
    /// What the look could not see, for the plan's notes.
    pub notes: Vec<String>,
}

/// Lists what a pass judges: for each target, its apps' tagged resources (one paginated query per
/// 20 apps) and Lambda's log groups (one page per 50), then its stacks (one paginated listing),
/// then the ledger's keys where a log group no stack explains may be an environment's.
pub async fn look<A: StackApi + ResourceApi + ReleaseStore>(
    project: &Project,
    apis: &BTreeMap<Target, A>,
) -> Result<Seen, CloudError> {
    let mut seen = Seen::default();
    let apps_of = |t: &Target| -> Vec<&crate::resolve::ResolvedApp> {
        project.apps.iter().filter(|a| stacks::targets(a).contains(t)).collect()
    };
    for (t, api) in apis {
        let apps: Vec<String> = apps_of(t).iter().map(|a| a.name.clone()).collect();
        if apps.is_empty() {
            continue;
        }
        seen.resources.insert(t.clone(), api.tagged_resources(KEY_APP, &apps).await?);
        // A role made before gc looked at Lambda's groups may not list them: the rest of the
        // pass stands without them.
        match api.log_groups(lambda_logs::PREFIX).await {
            Ok(groups) => {
                seen.lambda_logs.insert(t.clone(), groups);
            }
            Err(e) if e.is_access_denied() => seen.notes.push(format!(
                "Lambda's log groups in {} not looked at: {e} (allow logs:DescribeLogGroups; `cargo jiti iam-policy` prints the policy)",
                t.region
            )),
            Err(e) => return Err(e),
        }
    }
    for (t, api) in apis {
        seen.stacks.insert(
            t.clone(),
            api.list_stacks().await?.into_iter().map(|s| (s.name.clone(), s)).collect(),
        );
    }
    for (t, api) in apis {
        let live: BTreeSet<&str> =
            seen.stacks.get(t).map(|s| s.keys().map(String::as_str).collect()).unwrap_or_default();
        let logs = seen.lambda_logs.get(t).map(Vec::as_slice).unwrap_or_default();
        if !lambda_logs::unexplained(logs, &live, &apps_of(t)).is_empty() {
            let keys = api.list_keys(crate::layout::RELEASES).await?;
            seen.ledger
                .insert(t.clone(), crate::ledger::by_environment(keys).into_keys().collect());
        }
    }
    // A bucket's ARN names no region, and a Tagging API may list buckets of every region: a bucket
    // whose stack is not in this region's listing is judged here only if it lives here, never
    // against another region's stacks. (One GetBucketLocation per such bucket, none for the rest.)
    for (t, api) in apis {
        let stacks = seen.stacks.get(t);
        let Some(resources) = seen.resources.get_mut(t) else { continue };
        let mut kept = Vec::with_capacity(resources.len());
        for r in resources.drain(..) {
            let bucket = r
                .arn
                .split_once(":s3:::")
                .map(|(_, b)| b.to_owned())
                .filter(|b| !b.is_empty() && !b.contains('/'));
            let owner_here = owner_stack_name(project, &r)
                .is_some_and(|name| stacks.is_some_and(|s| s.contains_key(&name)));
            match bucket {
                Some(bucket) if !owner_here => match api.bucket_region(&bucket).await? {
                    Some(region) if region != t.region => {}
                    _ => kept.push(r),
                },
                _ => kept.push(r),
            }
        }
        *resources = kept;
    }
    Ok(seen)
}

/// The stack a tagged resource belongs to: CloudFormation's own tag names it exactly (whatever the
/// prefix was then), else the app's stack of the resource's environment.
fn owner_stack_name(project: &Project, r: &TaggedResource) -> Option<String> {
    if let Some(name) = r.tags.get(CFN_STACK_NAME) {
        return Some(name.clone());
    }
    let app = project.app(r.tags.get(KEY_APP)?)?;
    Some(app.stack_name_in(r.tags.get(KEY_ENV)?))
}

/// The environments and resources to collect among what was `seen`.
pub fn plan(
    project: &Project,
    seen: &Seen,
    knowledge: &BranchKnowledge,
    options: &GcOptions,
) -> Result<Plan, GcError> {
    let mut plan = plan_stacks(
        project,
        seen.stacks.iter().flat_map(|(t, stacks)| stacks.values().map(move |s| (t, s))),
        knowledge,
        options,
    )?;
    keep_what_dependents_need(project, seen, &mut plan);
    plan_resources(project, seen, options, &mut plan);
    lambda_logs::plan(project, seen, options.app.as_deref(), &mut plan);
    plan.notes.extend(seen.notes.iter().cloned());
    Ok(plan)
}

/// An environment whose dependents' stacks of the same environment stay (`--app` left them out,
/// or they are kept) is kept too: they import from it, and CloudFormation would refuse to delete
/// it, or worse, leave them broken.
fn keep_what_dependents_need(project: &Project, seen: &Seen, plan: &mut Plan) {
    loop {
        let collected: HashSet<String> =
            plan.collect.iter().map(|c| c.stack_name.clone()).collect();
        // The dependents' stacks of `c`'s environment that exist where they live and stay.
        let staying = |c: &Collect| -> Vec<String> {
            project
                .dependents(&c.app)
                .iter()
                .map(|d| (d.stack_name_in(&c.environment), stacks::targets(d)))
                .filter(|(name, targets)| {
                    !collected.contains(name)
                        && targets
                            .iter()
                            .any(|t| seen.stacks.get(t).is_some_and(|s| s.contains_key(name)))
                })
                .map(|(name, _)| name)
                .collect()
        };
        let Some((i, dependents)) = plan
            .collect
            .iter()
            .enumerate()
            .map(|(i, c)| (i, staying(c)))
            .find(|(_, d)| !d.is_empty())
        else {
            return;
        };
        let c = plan.collect.remove(i);
        let why = format!(
            "{} depend{} on it and stay{}: collect them too (without --app), or destroy them first",
            dependents.join(", "),
            if dependents.len() == 1 { "s" } else { "" },
            if dependents.len() == 1 { "s" } else { "" }
        );
        plan.kept.push(Kept { app: c.app, stack_name: c.stack_name, why });
    }
}

/// CloudFormation's own tags on the resources it makes (on AWS; emulators may leave them out).
const CFN_STACK_NAME: &str = "aws:cloudformation:stack-name";
const CFN_STACK_ID: &str = "aws:cloudformation:stack-id";

fn plan_resources(project: &Project, seen: &Seen, options: &GcOptions, plan: &mut Plan) {
    let collected: HashSet<(&Target, &str)> =
        plan.collect.iter().map(|c| (&c.target, c.stack_name.as_str())).collect();
    let mut orphans = Vec::new();
    for (t, resources) in &seen.resources {
        let stacks = seen.stacks.get(t);
        for r in resources {
            let tag = |k: &str| r.tags.get(k).map(String::as_str);
            // The Tagging API lists the stacks themselves too: they are the environments above.
            if tag(tagging::KEY_MANAGED_BY) != Some(tagging::MANAGED_BY)
                || r.arn.split(':').nth(2) == Some("cloudformation")
            {
                continue;
            }
            let (Some(app), Some(environment)) =
                (tag(KEY_APP).and_then(|a| project.app(a)), tag(KEY_ENV))
            else {
                continue;
            };
            if !stacks::targets(app).contains(t)
                || options.app.as_ref().is_some_and(|only| only != &app.name)
            {
                continue;
            }
            let Some(stack_name) = owner_stack_name(project, r) else { continue };
            if app
                .protected_envs
                .iter()
                .any(|p| p == environment || app.stack_name_in(p) == stack_name)
                || tagging::marked_protected(&r.tags)
            {
                if stacks.is_none_or(|s| !s.contains_key(&stack_name)) {
                    let why = format!(
                        "`{environment}` is a protected environment: its resources are never collected, even without their stack `{stack_name}`"
                    );
                    plan.kept_resources.push(KeptResource {
                        app: app.name.clone(),
                        arn: r.arn.clone(),
                        why,
                    });
                }
                continue;
            }
            let owner = match stacks.and_then(|s| s.get(&stack_name)) {
                None => Owner::StackGone { stack_name },
                Some(_) if collected.contains(&(t, stack_name.as_str())) => {
                    Owner::StackCollected { stack_name }
                }
                Some(s) => match tag(CFN_STACK_ID) {
                    Some(id) if id != s.id => {
                        Owner::EarlierStack { stack_name, stack_id: id.to_owned() }
                    }
                    _ => continue,
                },
            };
            orphans.push(Orphan {
                app: app.name.clone(),
                environment: environment.to_owned(),
                arn: r.arn.clone(),
                delete: Deletable::from_arn(&r.arn),
                owner,
                target: t.clone(),
                tags: r.tags.clone(),
            });
        }
    }
    orphans.sort_by(|a, b| (a.owner.stack_name(), &a.arn).cmp(&(b.owner.stack_name(), &b.arn)));
    plan.resources = orphans;
}

/// The environments to collect among `stacks`.
fn plan_stacks<'a>(
    project: &Project,
    stacks: impl Iterator<Item = (&'a Target, &'a Stack)>,
    knowledge: &BranchKnowledge,
    options: &GcOptions,
) -> Result<Plan, GcError> {
    if let Some(app) = options.app.as_ref().filter(|a| project.app(a).is_none()) {
        return Err(GcError::UnknownApp { app: app.clone() });
    }
    let now = options.now.unwrap_or_else(SystemTime::now);
    let mut plan = Plan::default();
    let local = &knowledge.branches.local;
    let mut alive: HashSet<String> = match &options.remote_branches {
        Some(remote) => {
            plan.notes.push(format!(
                "branches judged by the remote's live listing ({} branches) and local ones",
                remote.len()
            ));
            local.union(remote).cloned().collect()
        }
        None => {
            if let Some(why) = &knowledge.incomplete {
                return Err(GcError::IncompleteKnowledge { why: why.clone() });
            }
            if !knowledge.branches.has_remote_refs {
                plan.notes
                    .push("no remote-tracking branches: branches judged by local ones only".into());
            }
            local.union(&knowledge.branches.remote).cloned().collect()
        }
    };
    // The branch this command runs for is alive, whatever this clone knows of others (a CI job
    // checks out its own ref detached, with no branch of that name).
    alive.insert(project.git.branch.clone());
    let alive = tagging::BranchSet::new(&alive);
    // Dependents go first: an app's stacks may import from what it depends on.
    let depth: HashMap<&str, usize> = project
        .apps
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.as_str(), crate::graph::depth(project, i)))
        .collect();
    let mut per_app: HashMap<String, usize> = HashMap::new();
    for (found_in, stack) in stacks {
        if stack.tags.get(tagging::KEY_MANAGED_BY).map(String::as_str) != Some(tagging::MANAGED_BY)
        {
            continue;
        }
        let Some(app) = stack.tags.get(KEY_APP).and_then(|a| project.app(a)) else { continue };
        if options.app.as_ref().is_some_and(|only| only != &app.name) {
            continue;
        }
        *per_app.entry(app.name.clone()).or_default() += 1;
        let tag = |k: &str| stack.tags.get(k).cloned().unwrap_or_default();
        let (environment, branch) = (tag(KEY_ENV), alive.name_of(&stack.tags));
        let kept =
            |why: String| Kept { app: app.name.clone(), stack_name: stack.name.clone(), why };
        // Protected by its environment's name or its stack's (whatever its tags say).
        if app.protected_envs.contains(&environment)
            || app.protected_envs.iter().any(|p| app.stack_name_in(p) == stack.name)
        {
            continue;
        }
        // Protected by its marker, also after `jiti.toml` renamed or dropped the environment.
        if tagging::marked_protected(&stack.tags) {
            plan.kept.push(kept(format!("`{environment}` was deployed as a protected environment (its `{}` tag); delete it with `cargo jiti destroy --env {environment} --allow-protected`", tagging::KEY_PROTECTED)));
            continue;
        }
        let expired = stack
            .tags
            .get(KEY_EXPIRES_AT)
            .and_then(|t| humantime::parse_rfc3339(t).ok())
            .filter(|t| *t < now);
        let last = stack.last_change();
        let too_old = options
            .max_age
            .zip(last)
            .filter(|(age, at)| now.duration_since(*at).is_ok_and(|d| d > *age))
            .map(|(_, at)| at);
        let reason = if !alive.holds(&stack.tags) {
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
            target: found_in.clone(),
            depth: depth.get(app.name.as_str()).copied().unwrap_or(0),
            last_change: stack.last_change(),
            tags: stack.tags.clone(),
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
    plan.collect.sort_by(|a, b| {
        (std::cmp::Reverse(a.depth), &a.stack_name)
            .cmp(&(std::cmp::Reverse(b.depth), &b.stack_name))
    });
    Ok(plan)
}

pub mod artifacts;
mod execute;
mod lambda_logs;
pub use execute::{Done, Judge, Removed, execute, failures};

#[cfg(test)]
mod tests;
