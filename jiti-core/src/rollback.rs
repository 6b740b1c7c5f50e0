//! Coordinated rollback: an app back to an earlier release, its infra read from that release's
//! commit in git and deployed through the normal deploy path, recorded as a rollback.

use std::collections::BTreeMap;

use crate::cloud::{CloudError, ReleaseStore, StackApi, Target};
use crate::deploy::{self, AppResult, DeployError, DeployOptions, Observer};
use crate::ledger::{Release, ReleaseStatus};
use crate::resolve::{Project, ResolveError};

/// Which release to go back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum To {
    /// A crate version (`1.4.2`) or a commit id prefix (`3f9c2e1`).
    Reference(String),
    /// That many releases before the newest.
    Steps(usize),
}

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("app `{app}` has no release in environment `{env}`: nothing to roll back to")]
    NoReleases { app: String, env: String },
    #[error("no release of app `{app}` in environment `{env}` has version or commit `{reference}`; `cargo jiti history -p {app}` lists them")]
    NotFound { app: String, env: String, reference: String },
    #[error("app `{app}` has {count} release(s) in environment `{env}`: cannot go {steps} back")]
    TooFar { app: String, env: String, steps: usize, count: usize },
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error("failed to read the release ledger")]
    Ledger(#[source] CloudError),
}

/// The release `to` names in `history` (newest first). Releases whose verify failed are skipped
/// when looking for a version or commit: going back means going back to something that worked.
pub fn pick<'a>(history: &'a [Release], app: &str, env: &str, to: &To) -> Result<&'a Release, RollbackError> {
    if history.is_empty() {
        return Err(RollbackError::NoReleases { app: app.to_owned(), env: env.to_owned() });
    }
    match to {
        // Releases that changed the stack count (an interrupted one too); failed and empty ones do not.
        To::Steps(steps) => {
            let counted: Vec<&Release> = history.iter().filter(|h| h.status.changed_the_stack()).collect();
            counted.get(*steps).copied().ok_or(RollbackError::TooFar { app: app.to_owned(), env: env.to_owned(), steps: *steps, count: counted.len() })
        }
        To::Reference(r) => {
            let usable = || history.iter().filter(|h| h.status == ReleaseStatus::Deployed);
            let is_commit = r.len() >= 4 && r.chars().all(|c| c.is_ascii_hexdigit());
            usable()
                .find(|h| &h.version == r)
                .or_else(|| usable().find(|h| is_commit && h.commit.starts_with(&r.to_ascii_lowercase())))
                .ok_or_else(|| RollbackError::NotFound { app: app.to_owned(), env: env.to_owned(), reference: r.clone() })
        }
    }
}

/// Deploys `release`'s infra of app `name` (alone, not its dependencies), as a rollback of
/// `rollback_of`. Rolling back to what is deployed already is a no-op (up to date).
pub async fn rollback<A: StackApi + ReleaseStore>(
    project: &Project,
    name: &str,
    release: &Release,
    rollback_of: Option<String>,
    apis: &BTreeMap<Target, A>,
    options: &DeployOptions,
    observer: &dyn Observer,
) -> Result<AppResult, RollbackError> {
    let past = project.at_release(name, release)?;
    // A rollback brings back what was deployed (and checked) before, even where today's rules
    // would refuse it: in an emergency, going back must not be blocked (the release says so).
    let options = DeployOptions { with_dependencies: false, rollback_of, skip_checks: true, ..options.clone() };
    let mut results = deploy::deploy(&past, apis, &options, observer).await?;
    Ok(results.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(id: &str, version: &str, commit: &str, status: ReleaseStatus) -> Release {
        Release {
            id: id.into(),
            app: "orders".into(),
            environment: "production".into(),
            stack_name: "orders-production".into(),
            version: version.into(),
            commit: commit.into(),
            branch: "main".into(),
            dirty: false,
            template_hash: "h".into(),
            params: Default::default(),
            parameters: Default::default(),
            outputs: Default::default(),
            time: "2026-11-23T00:00:00Z".into(),
            deployed_by: Default::default(),
            status,
            rollback_of: None,
            skip_checks: false,
            error: None,
        }
    }

    #[test]
    fn targets_by_version_commit_and_steps() {
        let history = vec![
            release("3", "1.5.0", "cccc1111", ReleaseStatus::VerifyFailed),
            release("2", "1.4.2", "bbbb2222", ReleaseStatus::Deployed),
            release("1", "1.4.2", "aaaa3333", ReleaseStatus::Deployed),
        ];
        let pick = |to: To| pick(&history, "orders", "production", &to).map(|r| r.id.clone());
        assert_eq!(pick(To::Reference("1.4.2".into())).unwrap(), "2", "the newest of that version");
        assert_eq!(pick(To::Reference("aaaa".into())).unwrap(), "1");
        assert_eq!(pick(To::Reference("AAAA3".into())).unwrap(), "1");
        assert_eq!(pick(To::Steps(1)).unwrap(), "2");
        assert!(matches!(pick(To::Reference("1.5.0".into())), Err(RollbackError::NotFound { .. })), "a release whose verify failed is no target");
        assert!(matches!(pick(To::Steps(3)), Err(RollbackError::TooFar { count: 3, .. })));
        assert!(matches!(super::pick(&[], "orders", "production", &To::Steps(1)), Err(RollbackError::NoReleases { .. })));
    }
}
