//! The one merge point: cargo metadata, each `jiti.toml`, git and the caller's options become a
//! [`Project`], the single value every command reads (nothing downstream looks at flags or files).

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Params, ProtectedConfig};
use crate::discovery::{self, AppSource, DiscoveryError, Selection};
use crate::environment::{self, Environment};
use crate::git::{self, BranchHints, GitContext, GitError};
use crate::tagging;

/// What the caller (the CLI) adds to what files say.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub selection: Selection,
    pub branch: BranchHints,
    /// The region of the AWS config chain (`AWS_REGION`, profile), used when `jiti.toml` sets none.
    pub default_region: Option<String>,
}

/// The workspace, its git state, and every app resolved for the branch.
#[derive(Debug, Clone)]
pub struct Project {
    pub workspace_root: PathBuf,
    pub target_dir: PathBuf,
    pub git: GitContext,
    /// Every app of the workspace, resolved for the branch.
    pub apps: Vec<ResolvedApp>,
    /// Indices into `apps` the command works on.
    pub selected: Vec<usize>,
}

/// One app in the environment of the branch: all a render or a deploy needs.
#[derive(Debug, Clone)]
pub struct ResolvedApp {
    pub name: String,
    pub package: String,
    pub version: String,
    pub package_dir: PathBuf,
    pub infra_dir: PathBuf,
    pub config_path: PathBuf,
    /// Template file, relative to `infra_dir`, `/`-separated.
    pub template: String,
    pub environment: Environment,
    pub stack_name: String,
    pub stack_prefix: String,
    /// Names of the app's protected environments.
    pub protected_envs: Vec<String>,
    pub region: String,
    pub profile: Option<String>,
    /// `[params]` with the environment's overrides merged in.
    pub params: Params,
    /// `[tags]` of `jiti.toml`.
    pub user_tags: Vec<(String, String)>,
    pub depends_on: Vec<String>,
    /// Keep `Retain`/`Snapshot` policies in an ephemeral environment.
    pub keep_retained: bool,
    pub ttl: Option<Duration>,
    /// `[hooks] verify` and its time limit.
    pub verify: Option<(String, Duration)>,
    /// Infra files to render instead of the working tree's (a rollback reads them from git).
    pub sources: Option<std::sync::Arc<Vec<(String, String)>>>,
    /// `[policy.off]`: built-in rules turned off, with the reason.
    pub policy_off: Vec<(crate::config::BuiltinRule, String)>,
    /// Protected environments whose stacks go without termination protection.
    pub unprotected_envs: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("no AWS region for app `{app}` in environment `{env}`: set `region` under `[app]` in `{}`, or set AWS_REGION", config.display())]
    NoRegion { app: String, env: String, config: PathBuf },
    #[error("the infra of app `{app}` at commit {commit} is not valid")]
    PastConfig {
        app: String,
        commit: String,
        #[source]
        source: Box<crate::config::ConfigError>,
    },
    #[error("no app `{app}` in this workspace")]
    UnknownApp { app: String },
    #[error("apps `{first}` and `{second}` would both deploy stack `{stack}`; rename one (`[app] name`)")]
    StackClash { first: String, second: String, stack: String },
}

impl ResolvedApp {
    /// This app's stack in environment `env` (another branch's, say).
    pub fn stack_name_in(&self, env: &str) -> String {
        environment::stack_name(&self.stack_prefix, &self.name, env)
    }

    /// This app's stack in `env`, or in the branch's environment when `None` (an `--env` flag).
    pub fn stack_name_for(&self, env: Option<&str>) -> String {
        env.map_or_else(|| self.stack_name.clone(), |e| self.stack_name_in(e))
    }
}

impl Project {
    /// Reads the workspace, its apps and git, and resolves every app for the branch.
    pub fn load(options: &Options) -> Result<Project, ResolveError> {
        let discovered = discovery::discover(&options.selection)?;
        let git = git::context(&discovered.workspace_root, &options.branch)?;
        let apps = discovered
            .apps
            .iter()
            .map(|source| resolve_app(source, &git, options.default_region.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, a) in apps.iter().enumerate() {
            if let Some(b) = apps[..i].iter().find(|b| b.stack_name == a.stack_name) {
                return Err(ResolveError::StackClash { first: b.name.clone(), second: a.name.clone(), stack: a.stack_name.clone() });
            }
        }
        Ok(Project {
            workspace_root: discovered.workspace_root,
            target_dir: discovered.target_dir,
            git,
            apps,
            selected: discovered.selected,
        })
    }

    /// This project as it was at `release` for app `name`: that commit's `infra/` (jiti.toml,
    /// templates, partials) read from git, that release's version, commit and branch in the
    /// context and tags, and only that app selected.
    pub fn at_release(&self, name: &str, release: &crate::ledger::Release) -> Result<Project, ResolveError> {
        let index = self.apps.iter().position(|a| a.name == name).ok_or_else(|| ResolveError::UnknownApp { app: name.to_owned() })?;
        let app = &self.apps[index];
        let infra = app.infra_dir.strip_prefix(&self.git.root).unwrap_or(&app.infra_dir);
        let (commit, mut files) = git::files_at(&self.git.root, &release.commit, infra)?;
        let config_at = files.iter().position(|(n, _)| n == crate::config::FILE_NAME);
        let text = config_at.map(|i| files.remove(i).1).unwrap_or_default();
        let shown = PathBuf::from(format!("{}:{}", &commit[..12], infra.join(crate::config::FILE_NAME).display()));
        let config = crate::config::parse(&text, &shown).map_err(|e| ResolveError::PastConfig { app: name.to_owned(), commit: commit.clone(), source: Box::new(e) })?;
        let source = AppSource {
            name: app.name.clone(),
            package: app.package.clone(),
            version: release.version.clone(),
            package_dir: app.package_dir.clone(),
            infra_dir: app.infra_dir.clone(),
            config_path: app.config_path.clone(),
            config,
        };
        let git = GitContext { short_commit: commit[..7].to_owned(), commit, branch: release.branch.clone(), dirty: false, ..self.git.clone() };
        let mut resolved = resolve_app(&source, &git, Some(&app.region))?;
        resolved.sources = Some(std::sync::Arc::new(files));
        let mut apps = self.apps.clone();
        apps[index] = resolved;
        Ok(Project { git, apps, selected: vec![index], ..self.clone() })
    }

    pub fn selected_apps(&self) -> impl Iterator<Item = &ResolvedApp> {
        self.selected.iter().map(|&i| &self.apps[i])
    }

    pub fn app(&self, name: &str) -> Option<&ResolvedApp> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// Secret values of every app's parameters (see [`crate::secrets`]), to mask in what is shown.
    pub fn secrets(&self) -> Vec<String> {
        self.apps.iter().flat_map(|a| crate::secrets::from_params(&a.params)).collect()
    }

    /// Tags for every resource and the stack of `app`: `[tags]`, then the jiti tags.
    pub fn tags(&self, app: &ResolvedApp) -> Vec<(String, String)> {
        let mut tags = app.user_tags.clone();
        tags.extend([
            (tagging::KEY_APP, app.name.as_str()),
            (tagging::KEY_ENV, app.environment.name.as_str()),
            (tagging::KEY_BRANCH, self.git.branch.as_str()),
            (tagging::KEY_VERSION, app.version.as_str()),
            (tagging::KEY_COMMIT, self.git.commit.as_str()),
            (tagging::KEY_MANAGED_BY, tagging::MANAGED_BY),
        ]
        .map(|(k, v)| (k.to_owned(), tagging::sanitize_value(v))));
        tags
    }
}

fn resolve_app(source: &AppSource, git: &GitContext, default_region: Option<&str>) -> Result<ResolvedApp, ResolveError> {
    let config = &source.config;
    let protected = config.protected_environments();
    let branches: Vec<(String, Vec<String>)> = protected
        .iter()
        .map(|(name, env)| (name.to_string(), env.branches.iter().map(ToString::to_string).collect()))
        .collect();
    let environment = Environment::for_branch(&git.branch, branches.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    let ephemeral = &config.environments.ephemeral;
    let settings: Option<&ProtectedConfig> = environment.protected.then(|| protected.iter().find(|(n, _)| n.as_str() == environment.name).map(|(_, p)| p)).flatten();
    let (env_region, profile, overrides) = match settings {
        Some(p) => (p.region.as_ref(), p.profile.as_ref(), &p.params),
        None => (ephemeral.region.as_ref(), ephemeral.profile.as_ref(), &ephemeral.params),
    };
    let region = env_region
        .or(config.app.region.as_ref())
        .map(ToString::to_string)
        .or_else(|| default_region.map(str::to_owned))
        .ok_or_else(|| ResolveError::NoRegion {
            app: source.name.clone(),
            env: environment.name.clone(),
            config: source.config_path.clone(),
        })?;
    let mut params = config.params.clone();
    merge_params(&mut params, overrides);
    let prefix = config.app.stack_prefix.as_ref().map(|p| p.as_str()).unwrap_or("");
    Ok(ResolvedApp {
        name: source.name.clone(),
        package: source.package.clone(),
        version: source.version.clone(),
        package_dir: source.package_dir.clone(),
        infra_dir: source.infra_dir.clone(),
        config_path: source.config_path.clone(),
        template: config.app.template.as_ref().map_or(crate::config::DEFAULT_TEMPLATE.to_owned(), ToString::to_string),
        stack_name: environment::stack_name(prefix, &source.name, &environment.name),
        stack_prefix: prefix.to_owned(),
        protected_envs: protected.keys().map(ToString::to_string).collect(),
        environment,
        region,
        profile: profile.map(ToString::to_string),
        params,
        user_tags: config.tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        depends_on: config.app.depends_on.iter().map(ToString::to_string).collect(),
        keep_retained: ephemeral.keep_retained,
        ttl: ephemeral.ttl.map(|t| t.0),
        verify: config.hooks.verify.clone().map(|c| (c, config.hooks.verify_timeout.map_or(Duration::from_secs(300), |t| t.0))),
        sources: None,
        policy_off: config.policy.off.iter().map(|(rule, why)| (*rule, why.to_string())).collect(),
        unprotected_envs: protected.iter().filter(|(_, p)| p.termination_protection == Some(false)).map(|(name, _)| name.to_string()).collect(),
    })
}

/// Overrides win key by key; tables merge deeply, so an environment can change one nested value.
pub fn merge_params(base: &mut Params, overrides: &Params) {
    for (key, value) in overrides {
        match (base.get_mut(key), value) {
            (Some(serde_json::Value::Object(b)), serde_json::Value::Object(o)) => merge_params(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params_merge_deeply() {
        let mut base = json!({"memory": 128, "alarms": {"enabled": false, "email": "a@b"}, "keep": 1}).as_object().cloned().unwrap();
        let over = json!({"memory": 1024, "alarms": {"enabled": true}}).as_object().cloned().unwrap();
        merge_params(&mut base, &over);
        assert_eq!(serde_json::Value::Object(base), json!({"memory": 1024, "alarms": {"enabled": true, "email": "a@b"}, "keep": 1}));
    }
}
