//! Log groups Lambda made for functions of environments that are gone. Lambda makes
//! `/aws/lambda/<function>` on a function's first run, outside CloudFormation: untagged (it never
//! can be otherwise), so the Tagging API cannot find it, and it outlives the stack. `render` now
//! gives functions a group of their stack (`render::logs`); these are the ones made before, or
//! for functions left as written.
//!
//! Ownership without tags: CloudFormation names a function `<stack>-<LogicalId>-<random>`, and
//! templates that name functions mostly start with the stack's name too. A group belongs to the
//! longest stack name its function's name starts with (`<stack>-`), among the stacks that exist
//! (then it is alive, whoever made the stack) and the environments the release ledger records
//! for this workspace's apps (then it is this workspace's, and collectable once that stack is
//! gone). A group no recorded environment explains is not ours and never looked at again.

use std::collections::{BTreeMap, BTreeSet};

use super::{KeptResource, Orphan, Owner, Plan, Seen};
use crate::cloud::Deletable;
use crate::resolve::{Project, ResolvedApp};

/// Where Lambda puts a function's logs.
pub const PREFIX: &str = "/aws/lambda/";

/// The longest of `names` that `function` starts with, followed by `-`.
fn owner<'a>(function: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    names
        .filter(|n| function.strip_prefix(n).is_some_and(|rest| rest.starts_with('-')))
        .max_by_key(|n| n.len())
}

/// The groups of `logs` whose function no existing stack explains but whose name starts like a
/// stack of one of `apps`: those worth reading the ledger for.
pub(super) fn unexplained<'a>(
    logs: &'a [(String, String)],
    stacks: &BTreeSet<&str>,
    apps: &[&ResolvedApp],
) -> Vec<&'a (String, String)> {
    let prefixes: Vec<String> = apps.iter().map(|a| a.stack_name_in("")).collect();
    logs.iter()
        .filter(|(name, _)| {
            let function = name.strip_prefix(PREFIX).unwrap_or(name);
            owner(function, stacks.iter().copied()).is_none()
                && prefixes.iter().any(|p| function.starts_with(p.as_str()))
        })
        .collect()
}

/// Plans the groups of `seen.lambda_logs` whose environment's stack is gone (or collected in
/// this pass), under gc's guards: only apps of this workspace (and `--app`), never a protected
/// environment's.
pub(super) fn plan(project: &Project, seen: &Seen, only: Option<&str>, plan: &mut Plan) {
    let collected: BTreeSet<(&crate::cloud::Target, &str)> =
        plan.collect.iter().map(|c| (&c.target, c.stack_name.as_str())).collect();
    let mut orphans = Vec::new();
    let mut kept = Vec::new();
    for (t, logs) in &seen.lambda_logs {
        let live: BTreeSet<&str> =
            seen.stacks.get(t).map(|s| s.keys().map(String::as_str).collect()).unwrap_or_default();
        // Each environment the ledger records, and each collected in this pass (its stack's tags
        // say whose it is, without the ledger), by its stack's name.
        let collecting = plan.collect.iter().filter(|c| &c.target == t);
        let recorded: BTreeMap<String, (&ResolvedApp, &str)> = seen
            .ledger
            .get(t)
            .into_iter()
            .flatten()
            .map(|(app, env)| (app.as_str(), env.as_str()))
            .chain(collecting.map(|c| (c.app.as_str(), c.environment.as_str())))
            .filter_map(|(app, env)| {
                let app = project.app(app).filter(|a| crate::stacks::targets(a).contains(t))?;
                Some((app.stack_name_in(env), (app, env)))
            })
            .collect();
        for (name, arn) in logs {
            let function = name.strip_prefix(PREFIX).unwrap_or(name);
            let live_owner = owner(function, live.iter().copied());
            let Some(stack_name) = owner(function, recorded.keys().map(String::as_str)) else {
                continue;
            };
            let (app, env) = recorded[stack_name];
            if only.is_some_and(|a| a != app.name) {
                continue;
            }
            // A longer live stack's name explains it better: that stack's, alive.
            if live_owner.is_some_and(|l| l.len() >= stack_name.len())
                && !collected.contains(&(t, live_owner.unwrap_or_default()))
            {
                continue;
            }
            if app.protected_envs.iter().any(|p| p == env) {
                if !live.contains(stack_name) {
                    kept.push(KeptResource {
                        app: app.name.clone(),
                        arn: arn.clone(),
                        why: format!("`{env}` is a protected environment: the log groups of its functions are never collected, even without their stack `{stack_name}`"),
                    });
                }
                continue;
            }
            let owner = match (live.contains(stack_name), collected.contains(&(t, stack_name))) {
                (false, _) => Owner::LambdaLogs { stack_name: stack_name.to_owned() },
                (true, true) => Owner::StackCollected { stack_name: stack_name.to_owned() },
                (true, false) => continue,
            };
            orphans.push(Orphan {
                app: app.name.clone(),
                environment: env.to_owned(),
                arn: arn.clone(),
                delete: Some(Deletable::LogGroup { name: name.clone() }),
                owner,
                target: t.clone(),
                tags: BTreeMap::new(),
            });
        }
    }
    plan.resources.extend(orphans);
    plan.resources
        .sort_by(|a, b| (a.owner.stack_name(), &a.arn).cmp(&(b.owner.stack_name(), &b.arn)));
    plan.kept_resources.extend(kept);
}
