//! Executing a gc plan: stacks level by level, deepest dependents first, each judged again right
//! before its DeleteStack ([`Judge`]); then the orphaned resources, each after its stack was read
//! again. One failure does not stop the rest.

use std::collections::BTreeMap;

use futures_util::StreamExt;

use super::*;
use crate::cloud::{Removal, ResourceApi, Stack, StackApi, Target};
use crate::destroy::{Deleted, delete_stack};
use crate::observe::Observer;
use crate::wait::WaitOptions;

/// How removing one resource ended.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
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
            let when = now.last_change().map_or_else(
                || "?".to_owned(),
                |t| humantime::format_rfc3339_seconds(t).to_string(),
            );
            return Err(format!(
                "changed since the plan (redeployed? {}, last change {when}): judged again next time",
                now.status
            ));
        }
        let again = plan_stacks(
            self.project,
            std::iter::once((&planned.target, now)),
            self.knowledge,
            self.options,
        )
        .map_err(|e| format!("changed since the plan: {e}"))?;
        if again.collect.iter().any(|c| c.stack_name == now.name) {
            return Ok(());
        }
        Err(again.kept.first().map_or_else(
            || "changed since the plan: no longer collectable".to_owned(),
            |k| format!("changed since the plan: {}", k.why),
        ))
    }
}

/// What a pass removed.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct Done {
    pub stacks: Vec<Deleted>,
    pub resources: Vec<Removed>,
}

/// Deletions of `stacks` and `resources` that failed; what was kept because it changed since the
/// plan is no failure.
pub fn failures(stacks: &[Deleted], resources: &[Removed]) -> usize {
    stacks.iter().filter(|d| !d.deleted && d.kept.is_none()).count()
        + resources.iter().filter(|r| r.outcome.is_none() && r.kept.is_none()).count()
}

/// Deletes the plan's stacks, `jobs` at a time, dependents' before their dependencies', waiting
/// for each; then the orphaned resources it can delete, `jobs` at a time. One failure does not
/// stop the others; a resource whose stack failed to delete is left to that stack.
///
/// Each stack is read again right before its DeleteStack and judged again ([`Judge`]); each
/// resource's stack is read again right before the resource is deleted: a pass never deletes on
/// the facts of its listing alone (one DescribeStacks more per item).
pub async fn execute<A: StackApi + ResourceApi>(
    plan: &Plan,
    apis: &BTreeMap<Target, A>,
    jobs: usize,
    judge: &Judge<'_>,
    options: &WaitOptions,
    observer: &dyn Observer,
) -> Done {
    let mut done = Done::default();
    // The plan is sorted deepest first; each depth is one level of parallel deletions.
    for level in plan.collect.chunk_by(|a, b| a.depth == b.depth) {
        let deletions = level.iter().filter_map(|c| {
            let api = apis.get(&c.target)?;
            Some(async move {
                let kept = |why: String| Deleted {
                    app: c.app.clone(),
                    stack_name: c.stack_name.clone(),
                    deleted: false,
                    error: None,
                    kept: Some(why),
                    seconds: 0.0,
                };
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
                    Err(e) => {
                        Deleted { kept: None, error: Some(e.to_string()), ..kept(String::new()) }
                    }
                }
            })
        });
        done.stacks.extend(
            futures_util::stream::iter(deletions)
                .buffer_unordered(jobs.max(1))
                .collect::<Vec<_>>()
                .await,
        );
    }
    let stack_failed: HashSet<String> =
        done.stacks.iter().filter(|d| !d.deleted).map(|d| d.stack_name.clone()).collect();
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
    done.resources =
        futures_util::stream::iter(removals).buffer_unordered(jobs.max(1)).collect().await;
    done
}
