//! The release ledger: every deploy that changes an environment, and every rollback, as one record
//! (app, environment, version, commit, template hash, parameters, outputs, who, when).
//!
//! Where it lives, and why (see ARCHITECTURE.md): one JSON object per release in the account's
//! artifacts bucket, `releases/<app>/<env>/<id>.json`, where `id` starts with the time in
//! milliseconds. The ledger is then in the target account and region, seen alike by the whole team
//! and CI, outlives any stack, and needs no new service. Records are only ever created, never
//! rewritten, so concurrent deploys cannot lose each other's records (no read-modify-write), and
//! keys sort by time.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::cloud::{CloudError, ReleaseStore};

/// How a release ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseStatus {
    Deployed,
    /// Deployed, then its `verify` hook failed.
    VerifyFailed,
    /// The stack change was started and its outcome never recorded: the process was interrupted
    /// or lost the API. Recorded before the change starts, so no change goes unrecorded.
    Started,
    /// The stack change was started and failed (CloudFormation rolled it back).
    Failed,
    /// Started, but CloudFormation found nothing to change.
    NoChanges,
}

impl ReleaseStatus {
    /// Whether the stack may hold this release's infra: what `rollback --steps` counts.
    pub fn changed_the_stack(self) -> bool {
        matches!(
            self,
            ReleaseStatus::Deployed | ReleaseStatus::VerifyFailed | ReleaseStatus::Started
        )
    }
}

/// How a release reached the stack.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    schemars::JsonSchema,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseMethod {
    /// Through CloudFormation: the stack holds this release's template.
    #[default]
    Deploy,
    /// Code put straight into the functions (`deploy --hotswap`, `watch`): the stack's template
    /// still names the code of the deploy before.
    Hotswap,
}

/// Who deployed: the git user and the AWS identity, where known.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema, serde::Deserialize,
)]
pub struct Deployer {
    pub git: Option<String>,
    pub aws: Option<String>,
}

/// One release of one app in one environment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema, serde::Deserialize)]
pub struct Release {
    pub id: String,
    pub app: String,
    pub environment: String,
    pub stack_name: String,
    pub version: String,
    pub commit: String,
    pub branch: String,
    pub dirty: bool,
    pub template_hash: String,
    /// Tera parameters the template was rendered with (environment overrides applied).
    pub params: serde_json::Map<String, serde_json::Value>,
    /// CloudFormation stack parameters given by `[parameters]`, secrets masked.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
    /// RFC 3339, UTC.
    pub time: String,
    pub deployed_by: Deployer,
    pub status: ReleaseStatus,
    /// The release this one rolled back (replaced by an earlier one's infra).
    pub rollback_of: Option<String>,
    /// Deployed despite errors of `check` (`--skip-checks`, and every rollback).
    #[serde(default)]
    pub skip_checks: bool,
    /// Why it failed, for a failed release.
    #[serde(default)]
    pub error: Option<String>,
    /// The code shipped with the stack: each artifact's key, hash and size (a rollback deploys
    /// these exact objects again).
    #[serde(default)]
    pub artifacts: Vec<crate::artifacts::ArtifactRef>,
    #[serde(default)]
    pub method: ReleaseMethod,
}

/// How many releases `hotswaps_recorded` reads (one GetObject each).
pub const HOTSWAPS_READ: usize = 10;

/// Hotswaps of `app` in `environment` since its last deploy through CloudFormation, read from the
/// newest [`HOTSWAPS_READ`] records: what `diff` and `drift` say.
pub async fn hotswaps_recorded<S: ReleaseStore>(
    store: &S,
    app: &str,
    environment: &str,
) -> Result<usize, CloudError> {
    Ok(hotswaps_since_deploy(&history(store, app, environment, HOTSWAPS_READ).await?))
}

/// How many of `releases` (newest first) are hotswaps since the last release that went through
/// CloudFormation: what `envs` and `diff` say of an environment whose template lags its code.
pub fn hotswaps_since_deploy(releases: &[Release]) -> usize {
    releases
        .iter()
        .filter(|r| r.status.changed_the_stack())
        .take_while(|r| r.method == ReleaseMethod::Hotswap)
        .count()
}

impl Release {
    /// A fresh id: time in milliseconds (so keys sort by time), commit and a per-process nonce
    /// (two deploys in the same millisecond still get two records).
    pub fn new_id(now: SystemTime, commit: &str) -> String {
        let millis = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let nonce = (u128::from(std::process::id()) << 32
            | now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos()))
            % 0xffff_ffff;
        format!("{millis:013}-{}-{nonce:08x}", commit.get(..12).unwrap_or(commit))
    }
}

/// Where an app's releases in an environment are kept.
pub fn prefix(app: &str, environment: &str) -> String {
    crate::layout::releases(app, environment)
}

/// Appends a release: `<id>.json`. A deploy records its release as [`ReleaseStatus::Started`]
/// before the stack change starts, and its outcome with [`record_outcome`].
pub async fn record<S: ReleaseStore>(store: &S, release: &Release) -> Result<(), CloudError> {
    let key = format!("{}{}.json", prefix(&release.app, &release.environment), release.id);
    let body = serde_json::to_string_pretty(release).unwrap_or_default();
    store.put_object(&key, &body).await
}

/// Records how a started release ended: `<id>.done.json` beside its `<id>.json` (records are
/// only ever created, so concurrent deploys never lose each other's); [`history`] shows the outcome.
/// A hotswap, recorded once it is done, is `<id>.hotswap.json`: its key alone says what it was
/// (see [`hotswaps_listed`]).
pub async fn record_outcome<S: ReleaseStore>(
    store: &S,
    release: &Release,
) -> Result<(), CloudError> {
    let suffix = match release.method {
        ReleaseMethod::Hotswap => HOTSWAP_SUFFIX,
        ReleaseMethod::Deploy => ".done.json",
    };
    let key = format!("{}{}{suffix}", prefix(&release.app, &release.environment), release.id);
    let body = serde_json::to_string_pretty(release).unwrap_or_default();
    store.put_object(&key, &body).await
}

const HOTSWAP_SUFFIX: &str = ".hotswap.json";

/// The release id a ledger key holds (`<id>.json`, `<id>.done.json` or `<id>.hotswap.json`).
fn id_of(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.strip_suffix(".done.json")
        .or_else(|| name.strip_suffix(HOTSWAP_SUFFIX))
        .or_else(|| name.strip_suffix(".json"))
        .unwrap_or(name)
}

/// Hotswaps since the newest release that was not one, from the ledger's keys alone (one
/// listing, no record read): what `envs` shows. It counts from the last deploy attempt, whatever
/// its outcome; `diff` and `drift` read the records ([`hotswaps_recorded`]).
pub async fn hotswaps_listed<S: ReleaseStore>(
    store: &S,
    app: &str,
    environment: &str,
) -> Result<usize, CloudError> {
    let keys = store.list_keys(&prefix(app, environment)).await?;
    Ok(hotswaps_in_keys(&keys))
}

fn hotswaps_in_keys(keys: &[String]) -> usize {
    let mut by_id: BTreeMap<&str, bool> = BTreeMap::new();
    for key in keys {
        let hot = key.ends_with(HOTSWAP_SUFFIX);
        by_id.entry(id_of(key)).and_modify(|h| *h &= hot).or_insert(hot);
    }
    by_id.values().rev().take_while(|hot| **hot).count()
}

/// The releases of `app` in `environment`, newest first; at most `limit`. A release shows its
/// outcome where one was recorded, else as it was recorded when it started.
pub async fn history<S: ReleaseStore>(
    store: &S,
    app: &str,
    environment: &str,
    limit: usize,
) -> Result<Vec<Release>, CloudError> {
    let keys = store.list_keys(&prefix(app, environment)).await?;
    let mut out = Vec::new();
    for key in newest(&keys, limit) {
        out.push(read(store, key).await?);
    }
    Ok(out)
}

/// The keys of the newest `limit` releases among one environment's ledger keys, newest first:
/// per release, its outcome's key where one was recorded, else its start's.
fn newest(keys: &[String], limit: usize) -> Vec<&String> {
    let mut latest: BTreeMap<&str, &String> = BTreeMap::new();
    for key in keys {
        let slot = latest.entry(id_of(key)).or_insert(key);
        if key.ends_with(".done.json") {
            *slot = key;
        }
    }
    latest.into_values().rev().take(limit).collect()
}

async fn read<S: ReleaseStore>(store: &S, key: &str) -> Result<Release, CloudError> {
    let body = store.get_object(key).await?;
    serde_json::from_str(&body).map_err(|e| {
        CloudError::other("S3.GetObject", format!("release record `{key}` is not valid: {e}"))
    })
}

/// From how many environments of one app on, [`histories`] lists the app's whole ledger (one
/// call per 1,000 keys, whatever the number of environments) rather than each environment's (one
/// call each). Below it, a long ledger of environments gone long ago would cost more to list
/// than the few environments asked for.
const LIST_APP_FROM: usize = 4;

/// One environment's newest releases and its hotswaps since the last deploy, as
/// [`histories`] reads them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvHistory {
    /// Newest first, at most the limit asked for.
    pub releases: Vec<Release>,
    /// As [`hotswaps_listed`] counts them, from all the environment's keys.
    pub hotswaps: usize,
}

/// The newest `limit` releases of each `(app, environment)` of `wanted`, read `jobs` at a time,
/// with the ledger listed per app where an app has many environments ([`LIST_APP_FROM`]): what a
/// report of thousands of environments reads without a listing per environment.
pub async fn histories<S: ReleaseStore>(
    store: &S,
    wanted: &[(String, String)],
    limit: usize,
    jobs: usize,
) -> Result<BTreeMap<(String, String), EnvHistory>, CloudError> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let mut per_app: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (app, environment) in wanted {
        per_app.entry(app).or_default().push(environment);
    }
    let prefixes: Vec<String> = per_app
        .iter()
        .flat_map(|(app, envs)| match envs.len() >= LIST_APP_FROM {
            true => vec![crate::layout::releases_of_app(app)],
            false => envs.iter().map(|env| prefix(app, env)).collect(),
        })
        .collect();
    let listings: Vec<Vec<String>> = stream::iter(prefixes)
        .map(|p| async move { store.list_keys(&p).await })
        .buffer_unordered(jobs.max(1))
        .try_collect()
        .await?;
    let mut keys: BTreeMap<(String, String), Vec<String>> =
        wanted.iter().map(|w| (w.clone(), Vec::new())).collect();
    for (w, env_keys) in by_environment(listings.into_iter().flatten()) {
        if let Some(slot) = keys.get_mut(&w) {
            *slot = env_keys;
        }
    }
    read_newest(store, keys, limit, jobs).await
}

/// Ledger keys (of any listing under `releases/`) grouped by `(app, environment)`.
pub fn by_environment(
    keys: impl IntoIterator<Item = String>,
) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for key in keys {
        if let Some(w) = env_of(&key) {
            out.entry(w).or_default().push(key);
        }
    }
    out
}

/// Reads the newest `limit` releases of each environment from its listed keys, `jobs` at a time.
pub async fn read_newest<S: ReleaseStore>(
    store: &S,
    keys: BTreeMap<(String, String), Vec<String>>,
    limit: usize,
    jobs: usize,
) -> Result<BTreeMap<(String, String), EnvHistory>, CloudError> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let reads: Vec<(&(String, String), &String)> = keys
        .iter()
        .flat_map(|(w, ks)| newest(ks, limit).into_iter().map(move |k| (w, k)))
        .collect();
    // `buffered` answers in the order asked: each environment's newest first.
    let read: Vec<(&(String, String), Release)> = stream::iter(reads)
        .map(|(w, key)| async move { Ok::<_, CloudError>((w, read(store, key).await?)) })
        .buffered(jobs.max(1))
        .try_collect()
        .await?;
    let mut out: BTreeMap<(String, String), EnvHistory> = keys
        .iter()
        .map(|(w, ks)| {
            (w.clone(), EnvHistory { releases: Vec::new(), hotswaps: hotswaps_in_keys(ks) })
        })
        .collect();
    for (w, release) in read {
        if let Some(h) = out.get_mut(w) {
            h.releases.push(release);
        }
    }
    Ok(out)
}

/// The `(app, environment)` a ledger key belongs to: `releases/<app>/<env>/<file>`.
fn env_of(key: &str) -> Option<(String, String)> {
    let mut parts = key.strip_prefix(crate::layout::RELEASES)?.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(app), Some(env), Some(_), None) => Some((app.to_owned(), env.to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_outcome_key_and_a_start_key_name_one_release() {
        assert_eq!(id_of("releases/a/e/1800000000123-abc-0001.json"), "1800000000123-abc-0001");
        assert_eq!(
            id_of("releases/a/e/1800000000123-abc-0001.done.json"),
            "1800000000123-abc-0001"
        );
    }

    #[test]
    fn hotswaps_are_counted_back_to_the_last_deploy() {
        use crate::testing::release;
        let hot = |id: &str| Release {
            method: ReleaseMethod::Hotswap,
            ..release(id, "1", "c", ReleaseStatus::Deployed)
        };
        let deployed = release("1", "1", "c", ReleaseStatus::Deployed);
        let failed = release("2", "1", "c", ReleaseStatus::Failed);
        // (releases newest first, hotswaps since the last deploy)
        let table: Vec<(Vec<Release>, usize)> = vec![
            (vec![], 0),
            (vec![deployed.clone()], 0),
            (vec![hot("4"), hot("3"), deployed.clone()], 2),
            // A failed deploy changed nothing: the hotswaps before it still run.
            (vec![hot("4"), failed.clone(), hot("3"), deployed.clone()], 2),
            (vec![deployed.clone(), hot("3")], 0),
            (vec![hot("3")], 1),
        ];
        for (releases, expected) in table {
            let ids: Vec<_> = releases.iter().map(|r| r.id.as_str()).collect();
            assert_eq!(hotswaps_since_deploy(&releases), expected, "{ids:?}");
        }
    }

    #[test]
    fn hotswaps_are_told_by_their_keys() {
        let keys = |names: &[&str]| -> Vec<String> {
            names.iter().map(|n| format!("releases/orders/feature-x/{n}")).collect()
        };
        // (keys, hotswaps since the newest release that was not one)
        let table = [
            (keys(&[]), 0),
            (keys(&["1.json", "1.done.json"]), 0),
            (keys(&["1.json", "1.done.json", "2.hotswap.json", "3.hotswap.json"]), 2),
            (keys(&["1.json", "2.hotswap.json", "3.json", "3.done.json", "4.hotswap.json"]), 1),
            (keys(&["1.hotswap.json", "2.json"]), 0),
        ];
        for (keys, expected) in table {
            assert_eq!(hotswaps_in_keys(&keys), expected, "{keys:?}");
        }
        assert_eq!(id_of("releases/a/e/17-abc-01.hotswap.json"), "17-abc-01");
    }

    /// A ledger in memory that logs the calls made to it.
    #[derive(Default)]
    struct Memory {
        objects: BTreeMap<String, String>,
        calls: std::sync::Mutex<Vec<String>>,
    }

    impl ReleaseStore for Memory {
        async fn put_object(&self, _: &str, _: &str) -> Result<(), CloudError> {
            unreachable!("the ledger is only read here")
        }
        async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, CloudError> {
            self.calls.lock().unwrap().push(format!("list {prefix}"));
            Ok(self.objects.keys().filter(|k| k.starts_with(prefix)).cloned().collect())
        }
        async fn get_object(&self, key: &str) -> Result<String, CloudError> {
            self.calls.lock().unwrap().push(format!("get {key}"));
            self.objects.get(key).cloned().ok_or_else(|| CloudError::other("S3.GetObject", key))
        }
        async fn caller(&self) -> Result<String, CloudError> {
            unreachable!()
        }
    }

    #[tokio::test]
    async fn histories_list_per_app_when_environments_are_many_and_read_only_the_newest() {
        use crate::testing::release;
        let mut store = Memory::default();
        let mut put = |app: &str, env: &str, id: &str, suffix: &str, method: ReleaseMethod| {
            let r = Release {
                app: app.into(),
                environment: env.into(),
                method,
                ..release(id, "1", "c", ReleaseStatus::Deployed)
            };
            let key = format!("releases/{app}/{env}/{id}{suffix}");
            store.objects.insert(key, serde_json::to_string(&r).unwrap());
        };
        // App `a`: 5 environments wanted, each with 3 deploys (start and outcome) then a
        // hotswap; one environment gone long ago, not wanted. App `ab` shares `a`'s first letter.
        // App `b`: one environment.
        for env in ["e1", "e2", "e3", "e4", "e5", "gone"] {
            for id in ["1", "2", "3"] {
                put("a", env, id, ".json", ReleaseMethod::Deploy);
                put("a", env, id, ".done.json", ReleaseMethod::Deploy);
            }
            put("a", env, "4", ".hotswap.json", ReleaseMethod::Hotswap);
        }
        put("ab", "e1", "1", ".json", ReleaseMethod::Deploy);
        put("b", "x", "1", ".json", ReleaseMethod::Deploy);
        let wanted: Vec<(String, String)> = ["e1", "e2", "e3", "e4", "e5"]
            .iter()
            .map(|e| ("a".to_owned(), (*e).to_owned()))
            .chain([("b".to_owned(), "x".to_owned()), ("b".to_owned(), "new".to_owned())])
            .collect();

        let read = histories(&store, &wanted, 2, 3).await.unwrap();

        let calls = store.calls.lock().unwrap().clone();
        let mut lists: Vec<&String> = calls.iter().filter(|c| c.starts_with("list")).collect();
        lists.sort();
        // `a` listed once for its 5 environments; `b`'s two, each on its own.
        assert_eq!(lists, ["list releases/a/", "list releases/b/new/", "list releases/b/x/"]);
        let gets: std::collections::BTreeSet<&str> =
            calls.iter().filter_map(|c| c.strip_prefix("get ")).collect();
        // The newest 2 of each: the hotswap and the outcome of the deploy before it.
        let mut expected: std::collections::BTreeSet<String> = ["e1", "e2", "e3", "e4", "e5"]
            .iter()
            .flat_map(|e| {
                [format!("releases/a/{e}/4.hotswap.json"), format!("releases/a/{e}/3.done.json")]
            })
            .collect();
        expected.insert("releases/b/x/1.json".into());
        assert_eq!(gets, expected.iter().map(String::as_str).collect());
        assert_eq!(read.len(), 7, "{:?}", read.keys());
        let e1 = &read[&("a".to_owned(), "e1".to_owned())];
        let ids: Vec<&str> = e1.releases.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["4", "3"], "newest first");
        assert_eq!(e1.hotswaps, 1);
        assert_eq!(read[&("b".to_owned(), "new".to_owned())], EnvHistory::default());
        assert_eq!(read[&("b".to_owned(), "x".to_owned())].releases.len(), 1);
    }

    #[test]
    fn ids_sort_by_time_and_differ() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_123);
        let a = Release::new_id(t, "0123456789abcdef");
        let b = Release::new_id(t + Duration::from_millis(1), "ffffffffffffffff");
        assert!(a.starts_with("1800000000123-0123456789ab-"), "{a}");
        assert!(a < b);
        assert_ne!(Release::new_id(t, "c"), Release::new_id(t + Duration::from_nanos(1), "c"));
    }
}
