//! The environments of the workspace's apps, as the account's stacks and their tags tell them.

use std::time::SystemTime;

use crate::cloud::Stack;
use crate::git::Branches;
use crate::resolve::Project;
use crate::stacks::KEY_EXPIRES_AT;
use crate::tagging::{self, KEY_APP, KEY_COMMIT, KEY_ENV, KEY_VERSION};

/// Where an environment's branch still exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BranchPresence {
    Local,
    Remote,
    LocalAndRemote,
    /// Neither a local nor a remote-tracking branch of that name.
    Gone,
}

/// One environment stack of one app.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct EnvStack {
    pub app: String,
    pub environment: String,
    pub branch: String,
    pub protected: bool,
    pub stack_name: String,
    pub status: crate::cloud::StackStatus,
    pub version: String,
    pub commit: String,
    #[serde(serialize_with = "crate::cloud::serialize_time")]
    #[schemars(with = "Option<String>")]
    pub updated: Option<SystemTime>,
    #[serde(serialize_with = "crate::cloud::serialize_time")]
    #[schemars(with = "Option<String>")]
    pub expires_at: Option<SystemTime>,
    pub branch_presence: BranchPresence,
    /// Releases hotswapped since the last deploy attempt, from the ledger's keys: `envs` reads
    /// them for the checkout's own environment of each app that ships code, `report` for every
    /// environment; 0 where not read.
    pub hotswaps: usize,
}

/// The stacks made by cargo-jiti for apps of `project` (any branch), newest first per app.
pub fn environments(project: &Project, stacks: &[Stack], branches: &Branches) -> Vec<EnvStack> {
    let (local, remote) =
        (tagging::BranchSet::new(&branches.local), tagging::BranchSet::new(&branches.remote));
    let known = tagging::BranchSet::new(branches.local.union(&branches.remote));
    let mut rows: Vec<EnvStack> = stacks
        .iter()
        .filter(|s| {
            s.tags.get(tagging::KEY_MANAGED_BY).map(String::as_str) == Some(tagging::MANAGED_BY)
        })
        .filter_map(|s| {
            let app = project.app(s.tags.get(KEY_APP)?)?;
            let tag = |k: &str| s.tags.get(k).cloned().unwrap_or_default();
            // The exact name where a known branch is the stack's (`fix#123`, not its tag's `fix_123`).
            let (branch, environment) = (known.name_of(&s.tags), tag(KEY_ENV));
            let branch_presence = match (local.holds(&s.tags), remote.holds(&s.tags)) {
                (true, true) => BranchPresence::LocalAndRemote,
                (true, false) => BranchPresence::Local,
                (false, true) => BranchPresence::Remote,
                (false, false) => BranchPresence::Gone,
            };
            Some(EnvStack {
                app: app.name.clone(),
                protected: app.protected_envs.contains(&environment)
                    || tagging::marked_protected(&s.tags),
                environment,
                branch,
                stack_name: s.name.clone(),
                status: s.status.clone(),
                version: tag(KEY_VERSION),
                commit: tag(KEY_COMMIT),
                updated: s.last_change(),
                expires_at: s
                    .tags
                    .get(KEY_EXPIRES_AT)
                    .and_then(|t| humantime::parse_rfc3339(t).ok()),
                branch_presence,
                hotswaps: 0,
            })
        })
        .collect();
    rows.sort_by(|a, b| (&a.app, b.updated).cmp(&(&b.app, a.updated)));
    rows
}
