//! Coordinated rollback: an app back to an earlier release, its infra read from that release's
//! commit in git and deployed through the normal deploy path, recorded as a rollback.

use std::collections::BTreeMap;

use crate::cloud::{ArtifactStore, CloudError, FunctionApi, ReleaseStore, StackApi, Target};
use std::path::PathBuf;
use std::sync::Arc;

use crate::deploy::{self, AppResult, DeployError, DeployOptions};
use crate::discovery::AppSource;
use crate::git::{self, GitContext};
use crate::ledger::{Release, ReleaseStatus};
use crate::observe::Observer;
use crate::resolve::{ChainRegion, Project, RegionChain, RegionSource, ResolveError, resolve_app};

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
    #[error(
        "no release of app `{app}` in environment `{env}` has version or commit `{reference}`; `cargo jiti history -p {app}` lists them"
    )]
    NotFound { app: String, env: String, reference: String },
    #[error("app `{app}` has {count} release(s) in environment `{env}`: cannot go {steps} back")]
    TooFar { app: String, env: String, steps: usize, count: usize },
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error("failed to read the release ledger")]
    Ledger(#[source] CloudError),
    #[error(
        "artifact `{artifact}` of release {release} (app `{app}`) was collected (`{key}` is gone from the artifacts bucket); redeploy that commit to rebuild it: `git checkout {commit} && cargo jiti deploy -p {app}`"
    )]
    ArtifactGone { app: String, artifact: String, release: String, key: String, commit: String },
    #[error(
        "release {release} of app `{app}` recorded no artifact `{artifact}` (it was deployed before the app shipped that code); redeploy that commit to build it: `git checkout {commit} && cargo jiti deploy -p {app}`"
    )]
    ArtifactNotRecorded { app: String, artifact: String, release: String, commit: String },
    #[error("failed to check the artifacts of release {release}")]
    Artifacts {
        release: String,
        #[source]
        source: CloudError,
    },
}

/// The release `to` names in `history` (newest first). Releases whose verify failed are skipped
/// when looking for a version or commit: going back means going back to something that worked.
pub fn pick<'a>(
    history: &'a [Release],
    app: &str,
    env: &str,
    to: &To,
) -> Result<&'a Release, RollbackError> {
    if history.is_empty() {
        return Err(RollbackError::NoReleases { app: app.to_owned(), env: env.to_owned() });
    }
    match to {
        // Releases that changed the stack count (an interrupted one too); failed and empty ones do not.
        To::Steps(steps) => {
            let counted: Vec<&Release> =
                history.iter().filter(|h| h.status.changed_the_stack()).collect();
            counted.get(*steps).copied().ok_or(RollbackError::TooFar {
                app: app.to_owned(),
                env: env.to_owned(),
                steps: *steps,
                count: counted.len(),
            })
        }
        To::Reference(r) => {
            let usable = || history.iter().filter(|h| h.status == ReleaseStatus::Deployed);
            let is_commit = r.len() >= 4 && r.chars().all(|c| c.is_ascii_hexdigit());
            usable()
                .find(|h| &h.version == r)
                .or_else(|| {
                    usable().find(|h| is_commit && h.commit.starts_with(&r.to_ascii_lowercase()))
                })
                .ok_or_else(|| RollbackError::NotFound {
                    app: app.to_owned(),
                    env: env.to_owned(),
                    reference: r.clone(),
                })
        }
    }
}

/// Deploys `release`'s infra of app `name` (alone, not its dependencies), as a rollback of
/// `rollback_of`. Rolling back to what is deployed already is a no-op (up to date).
pub async fn rollback<A: StackApi + ReleaseStore + ArtifactStore + FunctionApi>(
    project: &Project,
    name: &str,
    release: &Release,
    rollback_of: Option<String>,
    apis: &BTreeMap<Target, A>,
    options: &DeployOptions,
    observer: &dyn Observer,
) -> Result<AppResult, RollbackError> {
    let mut past = project_at(project, name, release)?;
    restore_artifacts(&mut past, release, apis).await?;
    // A rollback brings back what was deployed (and checked) before, even where today's rules
    // would refuse it: in an emergency, going back must not be blocked (the release says so).
    let options = DeployOptions {
        with_dependencies: false,
        rollback_of,
        skip_checks: true,
        ..options.clone()
    };
    let mut results = deploy::deploy(&past, apis, &options, observer).await?;
    Ok(results.remove(0))
}

/// The past release's packages, exactly: no rebuild, and each checked to be still in the bucket
/// before anything changes.
async fn restore_artifacts<A: ArtifactStore>(
    past: &mut Project,
    release: &Release,
    apis: &BTreeMap<Target, A>,
) -> Result<(), RollbackError> {
    let Some(&index) = past.selected.first() else { return Ok(()) };
    let app = &mut past.apps[index];
    let not_recorded = |artifact: &str| RollbackError::ArtifactNotRecorded {
        app: app.name.clone(),
        artifact: artifact.to_owned(),
        release: release.id.clone(),
        commit: git::short(&release.commit, 12).to_owned(),
    };
    if let Some(spec) =
        app.artifacts.iter().find(|s| !release.artifacts.iter().any(|a| a.name == s.name))
    {
        return Err(not_recorded(&spec.name));
    }
    if release.artifacts.is_empty() {
        return Ok(());
    }
    let Some(api) = apis.get(&crate::stacks::target(app)) else { return Ok(()) };
    let gone = crate::ship::missing(api, &release.artifacts)
        .await
        .map_err(|source| RollbackError::Artifacts { release: release.id.clone(), source })?;
    if let Some(gone) = gone.first() {
        return Err(RollbackError::ArtifactGone {
            app: app.name.clone(),
            artifact: gone.name.clone(),
            release: release.id.clone(),
            key: gone.key.clone(),
            commit: git::short(&release.commit, 12).to_owned(),
        });
    }
    app.built = release.artifacts.iter().map(|a| (a.name.clone(), a.clone())).collect();
    Ok(())
}

/// What a deploy does after its apps ran: each app whose `[hooks] verify` failed goes back to its
/// release before (the newest deployed one other than the failed release), recorded as a rollback
/// of the failed one. An app with nothing to go back to is noted and left as it is.
pub async fn after_failed_verify<A: StackApi + ReleaseStore + ArtifactStore + FunctionApi>(
    project: &Project,
    results: &[AppResult],
    apis: &BTreeMap<Target, A>,
    options: &DeployOptions,
    observer: &dyn Observer,
) -> Result<Vec<AppResult>, RollbackError> {
    let mut rollbacks = Vec::new();
    for r in results.iter().filter(|r| matches!(r.outcome, deploy::Outcome::VerifyFailed { .. })) {
        let (Some(failed), Some(app)) = (&r.release, project.app(&r.app)) else { continue };
        let Some(api) = apis.get(&crate::stacks::target(app)) else { continue };
        let history = crate::ledger::history(api, &r.app, &r.environment, 50)
            .await
            .map_err(RollbackError::Ledger)?;
        match history.iter().find(|h| h.id != failed.id && h.status == ReleaseStatus::Deployed) {
            Some(previous) => {
                observer.note(
                    &r.app,
                    &format!(
                        "verify failed: rolling back to release {} (version {})",
                        previous.id, previous.version
                    ),
                );
                rollbacks.push(
                    rollback(
                        project,
                        &r.app,
                        previous,
                        Some(failed.id.clone()),
                        apis,
                        options,
                        observer,
                    )
                    .await?,
                );
            }
            None => observer
                .note(&r.app, "verify failed, and there is no earlier release to roll back to"),
        }
    }
    Ok(rollbacks)
}

/// `project` as it was at `release` for app `name`: that commit's `infra/` (jiti.toml,
/// templates, partials) read from git, that release's version, commit and branch in the
/// context and tags, and only that app selected.
pub fn project_at(
    project: &Project,
    name: &str,
    release: &Release,
) -> Result<Project, ResolveError> {
    let index = project
        .apps
        .iter()
        .position(|a| a.name == name)
        .ok_or_else(|| ResolveError::UnknownApp { app: name.to_owned() })?;
    let app = &project.apps[index];
    let infra = app.infra_dir.strip_prefix(&project.git.root).unwrap_or(&app.infra_dir);
    let (commit, mut files) = git::files_at(&project.git.root, &release.commit, infra)?;
    let config_at = files.iter().position(|(n, _)| n == crate::config::FILE_NAME);
    let text = config_at.map(|i| files.remove(i).1).unwrap_or_default();
    let shown = PathBuf::from(format!(
        "{}:{}",
        git::short(&commit, 12),
        infra.join(crate::config::FILE_NAME).display()
    ));
    let config = crate::config::parse(&text, &shown).map_err(|e| ResolveError::PastConfig {
        app: name.to_owned(),
        commit: commit.clone(),
        source: Box::new(e),
    })?;
    let source = AppSource {
        name: app.name.clone(),
        package: app.package.clone(),
        version: release.version.clone(),
        package_dir: app.package_dir.clone(),
        infra_dir: app.infra_dir.clone(),
        config_path: app.config_path.clone(),
        config,
        // Only to resolve `[artifacts]`: a rollback deploys the release's recorded packages.
        binaries: app.artifacts.first().map(|a| a.binaries.clone()).unwrap_or_default(),
        code_dirs: app.code_dirs.clone(),
    };
    let git = GitContext {
        short_commit: git::short(&commit, 7).to_owned(),
        commit,
        branch: release.branch.clone(),
        dirty: false,
        ..project.git.clone()
    };
    // A past config without a region of its own deploys where the app's stacks are now.
    let now = ChainRegion { region: app.region.clone(), from: app.region_source.to_string() };
    let workspace = crate::config::WorkspacePolicy {
        strict: Some(app.policy.strict),
        levels: app.policy.levels.iter().copied().collect(),
    };
    let mut resolved = resolve_app(
        &source,
        &git,
        &workspace,
        &RegionChain::new(move |_| Some(now.clone())),
        false,
        &project.process_env,
    )?;
    // That release's parameter values, but for secrets (recorded masked): today's.
    for p in &mut resolved.parameters {
        if let Some(v) =
            release.parameters.get(&p.name).filter(|v| v.as_str() != crate::secrets::MASK)
        {
            p.value = Some(v.clone());
        }
    }
    if matches!(resolved.region_source, RegionSource::Chain(_)) {
        resolved.region_source = app.region_source.clone();
    }
    resolved.sources = Some(Arc::new(files));
    let mut apps = project.apps.clone();
    apps[index] = resolved;
    Ok(Project { git, apps, selected: vec![index], ..project.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::release;

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
        assert!(
            matches!(pick(To::Reference("1.5.0".into())), Err(RollbackError::NotFound { .. })),
            "a release whose verify failed is no target"
        );
        assert!(matches!(pick(To::Steps(3)), Err(RollbackError::TooFar { count: 3, .. })));
        assert!(matches!(
            super::pick(&[], "orders", "production", &To::Steps(1)),
            Err(RollbackError::NoReleases { .. })
        ));
    }
}
