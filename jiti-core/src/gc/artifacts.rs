//! Collecting old builds: objects under `artifacts/` of the artifacts bucket that no recent
//! release (the last `keep_releases` per environment) of a live environment references, and that
//! are older than a grace period (so that a deploy in flight, which uploads before it records its
//! release, never loses its package). What is referenced is read again right before deleting.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use crate::cloud::{ArtifactStore, CloudError, ReleaseStore, StackApi, StackStatus, StoredObject};
use crate::layout;

/// How many releases per environment keep their artifacts, and for how long new objects are safe.
#[derive(Debug, Clone, Copy)]
pub struct ArtifactOptions {
    pub keep_releases: usize,
    pub grace: Duration,
    pub now: SystemTime,
}

impl Default for ArtifactOptions {
    fn default() -> Self {
        ArtifactOptions {
            keep_releases: 10,
            grace: Duration::from_secs(24 * 3600),
            now: SystemTime::now(),
        }
    }
}

/// An artifact object the plan deletes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct OldBuild {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    #[serde(serialize_with = "crate::cloud::serialize_time")]
    #[schemars(with = "Option<String>")]
    pub modified: Option<SystemTime>,
}

/// Old builds of one artifacts bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ArtifactPlan {
    pub collect: Vec<OldBuild>,
    pub collect_bytes: u64,
    /// Objects kept: referenced by a recent release of a live environment, or within the grace.
    pub kept: usize,
    pub kept_bytes: u64,
}

/// Which objects go: pure, from the bucket's listing and the keys recent releases reference.
pub fn plan(
    bucket: &str,
    objects: &[StoredObject],
    referenced: &BTreeSet<String>,
    options: &ArtifactOptions,
) -> ArtifactPlan {
    let mut plan = ArtifactPlan::default();
    for o in objects.iter().filter(|o| o.key.starts_with(layout::ARTIFACTS)) {
        // An object without a time is as new as can be: kept.
        let young = o.modified.is_none_or(|t| {
            options.now.duration_since(t).unwrap_or(Duration::ZERO) < options.grace
        });
        if young || referenced.contains(&o.key) {
            plan.kept += 1;
            plan.kept_bytes += o.size;
        } else {
            plan.collect_bytes += o.size;
            plan.collect.push(OldBuild {
                bucket: bucket.to_owned(),
                key: o.key.clone(),
                size: o.size,
                modified: o.modified,
            });
        }
    }
    plan
}

/// How many ledger records are read at once.
const READ_JOBS: usize = 16;

/// The keys the last `keep` releases of each environment whose stack lives reference. An
/// environment whose stack is gone protects nothing (its builds are collected after the grace).
pub async fn referenced<A: StackApi + ReleaseStore>(
    api: &A,
    keep: usize,
) -> Result<BTreeSet<String>, CloudError> {
    let live: BTreeSet<String> = api
        .list_stacks()
        .await?
        .into_iter()
        .filter(|s| s.status != StackStatus::DeleteComplete)
        .map(|s| s.name)
        .collect();
    // One listing of the whole ledger, then each environment's newest records.
    let listed = crate::ledger::by_environment(api.list_keys(layout::RELEASES).await?);
    let histories = crate::ledger::read_newest(api, listed, keep, READ_JOBS).await?;
    let mut keys = BTreeSet::new();
    for history in histories.values() {
        let releases = &history.releases;
        if releases.iter().any(|r| live.contains(&r.stack_name)) {
            keys.extend(releases.iter().flat_map(|r| r.artifacts.iter().map(|a| a.key.clone())));
        }
    }
    Ok(keys)
}

/// Looks at one artifacts bucket: its objects and what references them.
pub async fn look<A: StackApi + ReleaseStore + ArtifactStore>(
    api: &A,
    options: &ArtifactOptions,
) -> Result<ArtifactPlan, CloudError> {
    let objects = api.list_objects(layout::ARTIFACTS).await?;
    let bucket = api.bucket_name().await?;
    // Nothing past its grace period: every build stays, and the ledger need not be read.
    let referenced = match plan(&bucket, &objects, &BTreeSet::new(), options).collect.is_empty() {
        true => BTreeSet::new(),
        false => referenced(api, options.keep_releases).await?,
    };
    Ok(plan(&bucket, &objects, &referenced, options))
}

/// Deletes the plan's objects that are still unreferenced when read again now (a deploy or a
/// rollback may have referenced one since the plan); returns (objects, bytes) deleted.
pub async fn collect<A: StackApi + ReleaseStore + ArtifactStore>(
    api: &A,
    plan: &ArtifactPlan,
    options: &ArtifactOptions,
) -> Result<(usize, u64), CloudError> {
    if plan.collect.is_empty() {
        return Ok((0, 0));
    }
    let referenced = referenced(api, options.keep_releases).await?;
    let going: Vec<&OldBuild> =
        plan.collect.iter().filter(|o| !referenced.contains(&o.key)).collect();
    let keys: Vec<String> = going.iter().map(|o| o.key.clone()).collect();
    api.delete_objects(&keys).await?;
    Ok((going.len(), going.iter().map(|o| o.size).sum()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_and_young_builds_stay_the_rest_go() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10 * 86_400);
        let day = Duration::from_secs(86_400);
        let object = |key: &str, age: Option<Duration>| StoredObject {
            key: key.into(),
            size: 100,
            modified: age.map(|a| now - a),
        };
        let objects = [
            object("artifacts/orders/api/a.zip", Some(3 * day)), // referenced
            object("artifacts/orders/api/b.zip", Some(3 * day)), // old, unreferenced: goes
            object("artifacts/orders/api/c.zip", Some(day / 2)), // in the grace period
            object("artifacts/orders/api/d.zip", None),          // no time: kept
            object("releases/orders/x/1.json", Some(30 * day)),  // not an artifact
        ];
        let options = ArtifactOptions { keep_releases: 10, grace: day, now };
        let referenced = BTreeSet::from(["artifacts/orders/api/a.zip".to_owned()]);
        let plan = plan("bucket", &objects, &referenced, &options);
        let keys: Vec<&str> = plan.collect.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["artifacts/orders/api/b.zip"]);
        assert_eq!((plan.collect_bytes, plan.kept, plan.kept_bytes), (100, 3, 300));
    }
}
