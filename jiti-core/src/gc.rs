//! Garbage collection: environments (stacks) of this workspace's apps whose branch is gone or
//! whose time to live has passed, and resources tagged for this workspace that outlived their
//! stack. Never a protected environment or its resources, never anything cargo-jiti did not make
//! for an app of this workspace, never a busy stack; and never on knowledge of branches that
//! cannot tell a deleted branch from one this clone has not fetched.
//!
//! A resource is judged against a stack listing made *after* the resources were listed: a stack
//! exists before CloudFormation creates its first resource, so a deploy racing the pass can never
//! make its fresh resources look orphaned.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;

use crate::cloud::{CloudError, Deletable, Removal, ResourceApi, Stack, StackApi, TaggedResource, Target};
use crate::deploy::{self, DeployOptions, KEY_EXPIRES_AT, Observer};
use crate::destroy::{Deleted, delete_stack};
use crate::git::BranchKnowledge;
use crate::resolve::Project;
use crate::tagging::{self, KEY_APP, KEY_ENV};

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
    /// The stack's last create or update, and its tags, when planned: a stack whose either
    /// changed since was redeployed (see [`Judge`]).
    #[serde(skip)]
    last_change: Option<SystemTime>,
    #[serde(skip)]
    tags: BTreeMap<String, String>,
}

/// A stack of the workspace's apps the plan leaves, and why (only those worth saying).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Kept {
    pub app: String,
    pub stack_name: String,
    pub why: String,
}

/// Why a resource is an orphan: the stack that owned it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
}

impl Owner {
    pub fn stack_name(&self) -> &str {
        match self {
            Owner::StackGone { stack_name } | Owner::StackCollected { stack_name } | Owner::EarlierStack { stack_name, .. } => stack_name,
        }
    }
}

/// A resource the plan removes, or lists for you to remove (`delete: None`: a type cargo-jiti
/// does not delete).
#[derive(Debug, Clone, serde::Serialize)]
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
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeptResource {
    pub app: String,
    pub arn: String,
    pub why: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
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
    #[error("cannot tell deleted branches from branches this clone does not have ({why}): pass `--remote origin` to list the remote's branches live")]
    IncompleteKnowledge { why: String },
    #[error("refusing: the plan removes {count} of the {of} environments of app `{app}`; if that is right, pass --max-delete {count}")]
    TooMany { app: String, count: usize, of: usize },
    #[error("no app `{app}` in this workspace")]
    UnknownApp { app: String },
}

/// What one pass sees of the account: per target, the resources tagged for the workspace's apps
/// (listed first) and then the stacks.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub resources: BTreeMap<Target, Vec<TaggedResource>>,
    pub stacks: deploy::Stacks,
}

/// Lists what a pass judges: for each target, its apps' tagged resources (one paginated query per
/// 20 apps), then its stacks (one paginated listing).
pub async fn look<A: StackApi + ResourceApi>(project: &Project, apis: &BTreeMap<Target, A>) -> Result<Seen, CloudError> {
    let mut seen = Seen::default();
    for (t, api) in apis {
        let apps: Vec<String> = project.apps.iter().filter(|a| deploy::targets(a).contains(t)).map(|a| a.name.clone()).collect();
        seen.resources.insert(t.clone(), if apps.is_empty() { Vec::new() } else { api.tagged_resources(KEY_APP, &apps).await? });
    }
    for (t, api) in apis {
        seen.stacks.insert(t.clone(), api.list_stacks().await?.into_iter().map(|s| (s.name.clone(), s)).collect());
    }
    // A bucket's ARN names no region, and a Tagging API may list buckets of every region: a bucket
    // whose stack is not in this region's listing is judged here only if it lives here, never
    // against another region's stacks. (One GetBucketLocation per such bucket, none for the rest.)
    for (t, api) in apis {
        let stacks = seen.stacks.get(t);
        let Some(resources) = seen.resources.get_mut(t) else { continue };
        let mut kept = Vec::with_capacity(resources.len());
        for r in resources.drain(..) {
            let bucket = r.arn.split_once(":s3:::").map(|(_, b)| b.to_owned()).filter(|b| !b.is_empty() && !b.contains('/'));
            let owner_here = owner_stack_name(project, &r).is_some_and(|name| stacks.is_some_and(|s| s.contains_key(&name)));
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
pub fn plan(project: &Project, seen: &Seen, knowledge: &BranchKnowledge, options: &GcOptions) -> Result<Plan, GcError> {
    let mut plan = plan_stacks(project, seen.stacks.iter().flat_map(|(t, stacks)| stacks.values().map(move |s| (t, s))), knowledge, options)?;
    keep_what_dependents_need(project, seen, &mut plan);
    plan_resources(project, seen, options, &mut plan);
    Ok(plan)
}

/// An environment whose dependents' stacks of the same environment stay (`--app` left them out,
/// or they are kept) is kept too: they import from it, and CloudFormation would refuse to delete
/// it, or worse, leave them broken.
fn keep_what_dependents_need(project: &Project, seen: &Seen, plan: &mut Plan) {
    loop {
        let collected: HashSet<String> = plan.collect.iter().map(|c| c.stack_name.clone()).collect();
        // The dependents' stacks of `c`'s environment that exist where they live and stay.
        let staying = |c: &Collect| -> Vec<String> {
            project
                .dependents(&c.app)
                .iter()
                .map(|d| (d.stack_name_in(&c.environment), deploy::targets(d)))
                .filter(|(name, targets)| !collected.contains(name) && targets.iter().any(|t| seen.stacks.get(t).is_some_and(|s| s.contains_key(name))))
                .map(|(name, _)| name)
                .collect()
        };
        let Some((i, dependents)) = plan.collect.iter().enumerate().map(|(i, c)| (i, staying(c))).find(|(_, d)| !d.is_empty()) else { return };
        let c = plan.collect.remove(i);
        let why = format!("{} depend{} on it and stay{}: collect them too (without --app), or destroy them first", dependents.join(", "), if dependents.len() == 1 { "s" } else { "" }, if dependents.len() == 1 { "s" } else { "" });
        plan.kept.push(Kept { app: c.app, stack_name: c.stack_name, why });
    }
}

/// CloudFormation's own tags on the resources it makes (on AWS; emulators may leave them out).
const CFN_STACK_NAME: &str = "aws:cloudformation:stack-name";
const CFN_STACK_ID: &str = "aws:cloudformation:stack-id";

fn plan_resources(project: &Project, seen: &Seen, options: &GcOptions, plan: &mut Plan) {
    let collected: HashSet<(&Target, &str)> = plan.collect.iter().map(|c| (&c.target, c.stack_name.as_str())).collect();
    let mut orphans = Vec::new();
    for (t, resources) in &seen.resources {
        let stacks = seen.stacks.get(t);
        for r in resources {
            let tag = |k: &str| r.tags.get(k).map(String::as_str);
            // The Tagging API lists the stacks themselves too: they are the environments above.
            if tag(tagging::KEY_MANAGED_BY) != Some(tagging::MANAGED_BY) || r.arn.split(':').nth(2) == Some("cloudformation") {
                continue;
            }
            let (Some(app), Some(environment)) = (tag(KEY_APP).and_then(|a| project.app(a)), tag(KEY_ENV)) else { continue };
            if !deploy::targets(app).contains(t) || options.app.as_ref().is_some_and(|only| only != &app.name) {
                continue;
            }
            let Some(stack_name) = owner_stack_name(project, r) else { continue };
            if app.protected_envs.iter().any(|p| p == environment || app.stack_name_in(p) == stack_name) || tagging::marked_protected(&r.tags) {
                if stacks.is_none_or(|s| !s.contains_key(&stack_name)) {
                    let why = format!("`{environment}` is a protected environment: its resources are never collected, even without their stack `{stack_name}`");
                    plan.kept_resources.push(KeptResource { app: app.name.clone(), arn: r.arn.clone(), why });
                }
                continue;
            }
            let owner = match stacks.and_then(|s| s.get(&stack_name)) {
                None => Owner::StackGone { stack_name },
                Some(_) if collected.contains(&(t, stack_name.as_str())) => Owner::StackCollected { stack_name },
                Some(s) => match tag(CFN_STACK_ID) {
                    Some(id) if id != s.id => Owner::EarlierStack { stack_name, stack_id: id.to_owned() },
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
fn plan_stacks<'a>(project: &Project, stacks: impl Iterator<Item = (&'a Target, &'a Stack)>, knowledge: &BranchKnowledge, options: &GcOptions) -> Result<Plan, GcError> {
    if let Some(app) = options.app.as_ref().filter(|a| project.app(a).is_none()) {
        return Err(GcError::UnknownApp { app: app.clone() });
    }
    let now = options.now.unwrap_or_else(SystemTime::now);
    let mut plan = Plan::default();
    let local = &knowledge.branches.local;
    let mut alive: HashSet<String> = match &options.remote_branches {
        Some(remote) => {
            plan.notes.push(format!("branches judged by the remote's live listing ({} branches) and local ones", remote.len()));
            local.union(remote).cloned().collect()
        }
        None => {
            if let Some(why) = &knowledge.incomplete {
                return Err(GcError::IncompleteKnowledge { why: why.clone() });
            }
            if !knowledge.branches.has_remote_refs {
                plan.notes.push("no remote-tracking branches: branches judged by local ones only".into());
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
        .map(|(i, a)| (a.name.as_str(), deploy::waves(project, &[i]).map_or(0, |w| w.len())))
        .collect();
    let mut per_app: HashMap<String, usize> = HashMap::new();
    for (found_in, stack) in stacks {
        if stack.tags.get(tagging::KEY_MANAGED_BY).map(String::as_str) != Some(tagging::MANAGED_BY) {
            continue;
        }
        let Some(app) = stack.tags.get(KEY_APP).and_then(|a| project.app(a)) else { continue };
        if options.app.as_ref().is_some_and(|only| only != &app.name) {
            continue;
        }
        *per_app.entry(app.name.clone()).or_default() += 1;
        let tag = |k: &str| stack.tags.get(k).cloned().unwrap_or_default();
        let (environment, branch) = (tag(KEY_ENV), alive.name_of(&stack.tags));
        let kept = |why: String| Kept { app: app.name.clone(), stack_name: stack.name.clone(), why };
        // Protected by its environment's name or its stack's (whatever its tags say).
        if app.protected_envs.contains(&environment) || app.protected_envs.iter().any(|p| app.stack_name_in(p) == stack.name) {
            continue;
        }
        // Protected by its marker, also after `jiti.toml` renamed or dropped the environment.
        if tagging::marked_protected(&stack.tags) {
            plan.kept.push(kept(format!("`{environment}` was deployed as a protected environment (its `{}` tag); delete it with `cargo jiti destroy --env {environment} --allow-protected`", tagging::KEY_PROTECTED)));
            continue;
        }
        let expired = stack.tags.get(KEY_EXPIRES_AT).and_then(|t| humantime::parse_rfc3339(t).ok()).filter(|t| *t < now);
        let last = stack.last_change();
        let too_old = options.max_age.zip(last).filter(|(age, at)| now.duration_since(*at).is_ok_and(|d| d > *age)).map(|(_, at)| at);
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
    plan.collect.sort_by(|a, b| (std::cmp::Reverse(a.depth), &a.stack_name).cmp(&(std::cmp::Reverse(b.depth), &b.stack_name)));
    Ok(plan)
}

/// How removing one resource ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Removed {
    pub app: String,
    pub arn: String,
    /// `None` when it failed, or was kept (not tried).
    pub outcome: Option<Removal>,
    pub error: Option<String>,
    /// Why it was kept after all: its stack changed since the plan.
    pub kept: Option<String>,
}

/// What a pass judges with: the same facts as [`plan`], applied again to one stack read right
/// before it is deleted (see [`execute`]).
pub struct Judge<'a> {
    pub project: &'a Project,
    pub knowledge: &'a BranchKnowledge,
    pub options: &'a GcOptions,
}

impl Judge<'_> {
    /// `Ok` when `now` (the stack as read right before deleting it) is still what `planned`
    /// collects; else why it is kept. A stack created or updated since the plan was redeployed:
    /// its expiry refreshed, or its branch pushed again. Nothing is deleted on stale facts.
    pub fn still_collects(&self, now: &Stack, planned: &Collect) -> Result<(), String> {
        // A deploy stamps the stack (commit, version, expiry) and updates it: either shows.
        // (moto reports no LastUpdatedTime; AWS does.)
        if now.last_change() != planned.last_change || now.tags != planned.tags {
            let when = now.last_change().map_or_else(|| "?".to_owned(), |t| humantime::format_rfc3339_seconds(t).to_string());
            return Err(format!("changed since the plan (redeployed? {}, last change {when}): judged again next time", now.status));
        }
        let again = plan_stacks(self.project, std::iter::once((&planned.target, now)), self.knowledge, self.options).map_err(|e| format!("changed since the plan: {e}"))?;
        if again.collect.iter().any(|c| c.stack_name == now.name) {
            return Ok(());
        }
        Err(again.kept.first().map_or_else(|| "changed since the plan: no longer collectable".to_owned(), |k| format!("changed since the plan: {}", k.why)))
    }
}

/// What a pass removed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Done {
    pub stacks: Vec<Deleted>,
    pub resources: Vec<Removed>,
}

impl Done {
    /// Deletions that failed; what was kept because it changed since the plan is no failure.
    pub fn failures(&self) -> usize {
        self.stacks.iter().filter(|d| !d.deleted && d.kept.is_none()).count() + self.resources.iter().filter(|r| r.outcome.is_none() && r.kept.is_none()).count()
    }
}

/// Deletes the plan's stacks, `jobs` at a time, dependents' before their dependencies', waiting
/// for each; then the orphaned resources it can delete, `jobs` at a time. One failure does not
/// stop the others; a resource whose stack failed to delete is left to that stack.
///
/// Each stack is read again right before its DeleteStack and judged again ([`Judge`]); each
/// resource's stack is read again right before the resource is deleted: a pass never deletes on
/// the facts of its listing alone (one DescribeStacks more per item).
pub async fn execute<A: StackApi + ResourceApi>(plan: &Plan, apis: &BTreeMap<Target, A>, jobs: usize, judge: &Judge<'_>, options: &DeployOptions, observer: &dyn Observer) -> Done {
    let mut done = Done::default();
    // The plan is sorted deepest first; each depth is one level of parallel deletions.
    for level in plan.collect.chunk_by(|a, b| a.depth == b.depth) {
        let deletions = level.iter().filter_map(|c| {
            let api = apis.get(&c.target)?;
            Some(async move {
                let kept = |why: String| Deleted { app: c.app.clone(), stack_name: c.stack_name.clone(), deleted: false, error: None, kept: Some(why), seconds: 0.0 };
                match api.describe_stack(&c.stack_name).await {
                    Ok(Some(now)) => match judge.still_collects(&now, c) {
                        Ok(()) => delete_stack(api, &c.app, &c.stack_name, options, observer).await,
                        Err(why) => {
                            observer.note(&c.app, &format!("kept {}: {why}", c.stack_name));
                            kept(why)
                        }
                    },
                    // Gone since the plan: what was wanted.
                    Ok(None) => Deleted { kept: None, deleted: true, ..kept(String::new()) },
                    Err(e) => Deleted { kept: None, error: Some(e.to_string()), ..kept(String::new()) },
                }
            })
        });
        done.stacks.extend(futures_util::stream::iter(deletions).buffer_unordered(jobs.max(1)).collect::<Vec<_>>().await);
    }
    let stack_failed: HashSet<String> = done.stacks.iter().filter(|d| !d.deleted).map(|d| d.stack_name.clone()).collect();
    let stack_failed = &stack_failed;
    let removals = plan.resources.iter().filter_map(|o| {
        let (what, api) = (o.delete.as_ref()?, apis.get(&o.target)?);
        Some(async move {
            let removed = |outcome, error| Removed { app: o.app.clone(), arn: o.arn.clone(), outcome, error, kept: None };
            if matches!(&o.owner, Owner::StackCollected { stack_name } if stack_failed.contains(stack_name)) {
                return removed(None, Some(format!("left: its stack {} was not deleted", o.owner.stack_name())));
            }
            // Its stack, as it is now: a stack of that name made again since the plan owns it.
            let owner_now = match api.describe_stack(o.owner.stack_name()).await {
                Ok(stack) => stack,
                Err(e) => return removed(None, Some(e.to_string())),
            };
            let reclaimed = match (&o.owner, &owner_now) {
                (_, None) => None,
                (Owner::EarlierStack { stack_id, .. }, Some(s)) if &s.id != stack_id => None,
                (_, Some(s)) => Some(format!("changed since the plan: its stack {} exists ({})", s.name, s.status)),
            };
            if let Some(why) = reclaimed {
                observer.note(&o.app, &format!("kept {}: {why}", o.arn));
                return Removed { kept: Some(why), ..removed(None, None) };
            }
            observer.note(&o.app, &format!("deleting {} {}", what.kind(), o.arn));
            match api.delete_resource(what, &o.tags).await {
                Ok(outcome) => {
                    observer.status(&o.app, &o.arn, match outcome {
                        Removal::Deleted => "deleted",
                        Removal::AlreadyGone => "already gone",
                    });
                    removed(Some(outcome), None)
                }
                Err(e) => removed(None, Some(e.to_string())),
            }
        })
    });
    done.resources = futures_util::stream::iter(removals).buffer_unordered(jobs.max(1)).collect().await;
    done
}

#[cfg(test)]
mod tests {
    //! How resources are judged, including what the emulator cannot show (CloudFormation's own
    //! stack tags on resources).

    use super::*;
    use crate::git::Branches;

    fn resource(arn: &str, env: &str, extra: &[(&str, &str)]) -> TaggedResource {
        let mut tags: BTreeMap<String, String> = [(KEY_APP, "queue"), (KEY_ENV, env), (tagging::KEY_MANAGED_BY, tagging::MANAGED_BY)].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        tags.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        TaggedResource { arn: arn.to_owned(), tags }
    }

    fn stack(name: &str, branch: &str) -> Stack {
        let tags = [(KEY_APP, "queue"), (tagging::KEY_BRANCH, branch), (KEY_ENV, name.trim_start_matches("queue-")), (tagging::KEY_MANAGED_BY, tagging::MANAGED_BY)];
        Stack { name: name.into(), id: format!("arn:aws:cloudformation:us-east-1:1:stack/{name}/new"), status: "CREATE_COMPLETE".into(), tags: tags.map(|(k, v)| (k.to_owned(), v.to_owned())).into(), ..Stack::default() }
    }

    #[test]
    fn resources_are_orphans_only_without_their_stack_and_never_of_a_protected_environment() {
        let dir = tempfile::tempdir().unwrap();
        let project = deploy::tests::project(dir.path());
        let t = deploy::target(&project.apps[0]);
        let seen = Seen {
            resources: [(t.clone(), vec![
                resource("arn:aws:s3:::gone-bucket", "gone", &[]),
                resource("arn:aws:lambda:us-east-1:1:function:gone-f", "gone", &[]),
                resource("arn:aws:sqs:us-east-1:1:live-queue", "live", &[]),
                resource("arn:aws:sqs:us-east-1:1:same-stack", "live", &[(CFN_STACK_ID, "arn:aws:cloudformation:us-east-1:1:stack/queue-live/new")]),
                resource("arn:aws:sqs:us-east-1:1:earlier-stack", "live", &[(CFN_STACK_ID, "arn:aws:cloudformation:us-east-1:1:stack/queue-live/old")]),
                resource("arn:aws:dynamodb:us-east-1:1:table/prod", "production", &[]),
                resource("arn:aws:dynamodb:us-east-1:1:table/prod-by-stack", "x", &[(CFN_STACK_NAME, "queue-production")]),
                resource("arn:aws:sns:us-east-1:1:dead-branch", "dead", &[]),
                resource("arn:aws:cloudformation:us-east-1:1:stack/queue-gone/1", "gone", &[]),
                TaggedResource { arn: "arn:aws:sns:us-east-1:1:unmanaged".into(), tags: [(KEY_APP.to_owned(), "queue".to_owned()), (KEY_ENV.to_owned(), "gone".to_owned())].into() },
            ])]
            .into(),
            stacks: [(t, [stack("queue-live", "feature/live"), stack("queue-dead", "feature/dead")].into_iter().map(|s| (s.name.clone(), s)).collect())].into(),
        };
        let knowledge = BranchKnowledge { branches: Branches { local: ["feature/live".to_owned()].into(), remote: Default::default(), has_remote_refs: true }, incomplete: None, last_fetch: None };
        let plan = plan(&project, &seen, &knowledge, &GcOptions::default()).unwrap();
        let got: Vec<(&str, &Owner, bool)> = plan.resources.iter().map(|o| (o.arn.as_str(), &o.owner, o.delete.is_some())).collect();
        let gone = Owner::StackGone { stack_name: "queue-gone".into() };
        assert_eq!(got, vec![
            ("arn:aws:sns:us-east-1:1:dead-branch", &Owner::StackCollected { stack_name: "queue-dead".into() }, true),
            ("arn:aws:lambda:us-east-1:1:function:gone-f", &gone, false),
            ("arn:aws:s3:::gone-bucket", &gone, true),
            ("arn:aws:sqs:us-east-1:1:earlier-stack", &Owner::EarlierStack { stack_name: "queue-live".into(), stack_id: "arn:aws:cloudformation:us-east-1:1:stack/queue-live/old".into() }, true),
        ]);
        let kept: Vec<&str> = plan.kept_resources.iter().map(|k| k.arn.as_str()).collect();
        assert_eq!(kept, ["arn:aws:dynamodb:us-east-1:1:table/prod", "arn:aws:dynamodb:us-east-1:1:table/prod-by-stack"]);
    }
}
