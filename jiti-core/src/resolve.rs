//! The one merge point: cargo metadata, each `jiti.toml`, git and the caller's options become a
//! [`Project`], the single value every command reads (nothing downstream looks at flags or files).

use std::path::PathBuf;
use std::sync::Arc;
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
    /// The region of the AWS config chain (`AWS_REGION`, the profile's), used when `jiti.toml`
    /// sets none.
    pub region_chain: RegionChain,
    /// An app without a region is not an error (offline commands: `render`, `check`); its
    /// template must then not use `aws.region`.
    pub region_optional: bool,
    /// The process environment, for `[parameters]` given as `{ env = "NAME" }`.
    pub process_env: ProcessEnv,
}

/// Reads one variable of the process environment: the binary supplies it, since `jiti-core`
/// never reads the environment itself.
#[derive(Clone, Default)]
pub struct ProcessEnv(Option<Arc<EnvLookup>>);

/// Reads one process environment variable.
pub type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

impl ProcessEnv {
    pub fn new(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(lookup)))
    }

    pub fn var(&self, name: &str) -> Option<String> {
        self.0.as_ref().and_then(|f| f(name))
    }
}

impl std::fmt::Debug for ProcessEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProcessEnv(..)")
    }
}

pub use crate::parameters::StackParameter;

/// `[parameters]` with the environment's overrides (key by key), read: literal values as written,
/// `{ env = "NAME" }` from the process environment.
pub fn stack_parameters(
    base: &indexmap::IndexMap<String, crate::config::ParameterValue>,
    overrides: &indexmap::IndexMap<String, crate::config::ParameterValue>,
    env: &ProcessEnv,
) -> Vec<StackParameter> {
    let mut merged = base.clone();
    for (k, v) in overrides {
        merged.insert(k.clone(), v.clone());
    }
    merged
        .into_iter()
        .map(|(name, value)| match value {
            crate::config::ParameterValue::Literal(v) => {
                StackParameter { name, value: Some(v), env: None }
            }
            crate::config::ParameterValue::Env(var) => {
                StackParameter { name, value: env.var(&var), env: Some(var) }
            }
        })
        .collect()
}

/// A region found by the AWS config chain, and which link of it gave it (for `render --json`, `envs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRegion {
    pub region: String,
    pub from: String,
}

/// Looks up the AWS config chain's region of a profile (`None`: the default profile). The binary
/// supplies it (see `cloud::chain_region`), since only it may read the process environment.
pub type RegionLookup = dyn Fn(Option<&str>) -> Option<ChainRegion> + Send + Sync;

/// The AWS config chain as [`Options`] carries it; the default knows no region.
#[derive(Clone, Default)]
pub struct RegionChain(Option<Arc<RegionLookup>>);

impl RegionChain {
    pub fn new(
        lookup: impl Fn(Option<&str>) -> Option<ChainRegion> + Send + Sync + 'static,
    ) -> Self {
        Self(Some(Arc::new(lookup)))
    }

    fn lookup(&self, profile: Option<&str>) -> Option<ChainRegion> {
        self.0.as_ref().and_then(|f| f(profile))
    }
}

impl std::fmt::Debug for RegionChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "RegionChain(..)" } else { "RegionChain(none)" })
    }
}

/// The policy settings an app's `check` applies.
#[derive(Debug, Clone, Default)]
pub struct AppPolicy {
    /// `[policy.off]`: built-in rules turned off, with the reason.
    pub off: Vec<(crate::config::BuiltinRule, String)>,
    /// `[policy] strict`, else the workspace's.
    pub strict: bool,
    /// `[policy.levels]`, over the workspace's.
    pub levels: Vec<(crate::config::BuiltinRule, crate::config::Level)>,
}

/// An app's `[parameters]` and the overrides of each environment, as written.
#[derive(Debug, Clone, Default)]
pub struct ParameterConfig {
    pub base: indexmap::IndexMap<String, crate::config::ParameterValue>,
    /// `(environment, overrides)`: `ephemeral` first, then each protected environment.
    pub environments: Vec<(String, indexmap::IndexMap<String, crate::config::ParameterValue>)>,
}

/// Where an app's region came from, most specific first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "detail")]
pub enum RegionSource {
    /// `region` of the environment's table in `jiti.toml` (named here).
    Environment(String),
    /// `[app] region` in `jiti.toml`.
    App,
    /// The AWS config chain, and which link of it.
    Chain(String),
    /// None of them: allowed only where [`Options::region_optional`].
    Unknown,
}

impl std::fmt::Display for RegionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegionSource::Environment(table) => write!(f, "`region` of [{table}] in jiti.toml"),
            RegionSource::App => f.write_str("`region` of [app] in jiti.toml"),
            RegionSource::Chain(from) => f.write_str(from),
            RegionSource::Unknown => f.write_str("nowhere: no region is configured"),
        }
    }
}

/// The workspace, its git state, and every app resolved for the branch.
#[derive(Debug, Clone)]
pub struct Project {
    pub workspace_root: PathBuf,
    /// For rollbacks, which re-read `[parameters]` from a past config.
    pub process_env: ProcessEnv,
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
    /// The branches that feed them (`ci` deploys on a push to one, and never destroys one).
    pub protected_branches: Vec<String>,
    /// Empty only when [`RegionSource::Unknown`].
    pub region: String,
    pub region_source: RegionSource,
    pub profile: Option<String>,
    /// Every (region, profile) an environment of this app is configured for: the branch's first,
    /// then branch environments' and each protected environment's. `envs` and `gc` look in each,
    /// so that environments configured in another region are seen and collected from anywhere.
    pub places: Vec<(String, Option<String>)>,
    /// `[params]` with the environment's overrides merged in.
    pub params: Params,
    /// `[parameters]` with the environment's overrides: the stack's CloudFormation parameters.
    pub parameters: Vec<StackParameter>,
    /// `[parameters]` as written, and each environment's overrides (for `check`, which judges
    /// every environment's values, not only the branch's).
    pub parameter_config: ParameterConfig,
    /// `[tags]` of `jiti.toml`.
    pub user_tags: Vec<(String, String)>,
    pub depends_on: Vec<String>,
    /// Keep `Retain`/`Snapshot` policies in an ephemeral environment.
    pub keep_retained: bool,
    /// The log groups `render` adds for Lambda functions without one: `None` when `[logs] own =
    /// false`, else their retention in days in this environment.
    pub own_logs: Option<u16>,
    pub ttl: Option<Duration>,
    /// `[hooks] verify` and its time limit.
    pub verify: Option<(String, Duration)>,
    /// Infra files to render instead of the working tree's (a rollback reads them from git).
    pub sources: Option<Arc<Vec<(String, String)>>>,
    /// `[policy]` in force: the app's, over the workspace's.
    pub policy: AppPolicy,
    /// Protected environments whose stacks go without termination protection.
    pub unprotected_envs: Vec<String>,
    /// `[artifacts]`: the code shipped with the stack.
    pub artifacts: Vec<crate::artifacts::ArtifactSpec>,
    /// The artifacts as built and uploaded (or as a past release recorded them), by name: what
    /// the template sees. Empty until a build: `render` and `check` show placeholders.
    pub built: std::collections::BTreeMap<String, crate::artifacts::ArtifactRef>,
    /// The artifacts as built now, not yet addressed: a deploy points the template at them (in
    /// the bucket of the stack's account) and uploads what the bucket lacks before the stack
    /// changes.
    pub packages: Arc<Vec<crate::artifacts::Package>>,
    /// Where its code comes from (see [`crate::discovery::AppSource::code_dirs`]).
    pub code_dirs: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("no AWS region for app `{app}` in environment `{env}`: set `region` under `[app]` in `{}`, a `region` in the AWS config file's profile{}, or AWS_REGION", config.display(), profile.as_deref().map(|p| format!(" (`{p}`)")).unwrap_or_default())]
    NoRegion { app: String, env: String, config: PathBuf, profile: Option<String> },
    #[error("the infra of app `{app}` at commit {commit} is not valid")]
    PastConfig {
        app: String,
        commit: String,
        #[source]
        source: Box<crate::config::ConfigError>,
    },
    #[error("no app `{app}` in this workspace")]
    UnknownApp { app: String },
    #[error(
        "apps `{first}` and `{second}` would both deploy stack `{stack}`; rename one (`[app] name`)"
    )]
    StackClash { first: String, second: String, stack: String },
    #[error("{purpose} one app, and {} are selected ({}): pick one with -p", names.len(), names.join(", "))]
    NotOneApp { purpose: &'static str, names: Vec<String> },
}

impl ResolvedApp {
    /// This app's stack in environment `env` (another branch's, say).
    pub fn stack_name_in(&self, env: &str) -> String {
        environment::stack_name(&self.stack_prefix, &self.name, env)
    }

    /// Secret values of its `[params]` and `[parameters]`, known before any render (a render adds
    /// its template's `NoEcho` defaults).
    pub fn secrets(&self) -> Vec<String> {
        let mut out = crate::secrets::from_params(&self.params);
        out.extend(crate::parameters::secret_values(&self.parameters, &[]));
        out
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
        let scope = git::DirtyScope {
            include: discovered
                .apps
                .iter()
                .flat_map(|a| [a.package_dir.clone(), a.infra_dir.clone()])
                .collect(),
            exclude: vec![discovered.target_dir.clone()],
        };
        let git = git::context(&discovered.workspace_root, &options.branch, &scope)?;
        let apps = discovered
            .apps
            .iter()
            .map(|source| {
                resolve_app(
                    source,
                    &git,
                    &discovered.policy,
                    &options.region_chain,
                    options.region_optional,
                    &options.process_env,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (i, a) in apps.iter().enumerate() {
            if let Some(b) = apps[..i].iter().find(|b| b.stack_name == a.stack_name) {
                return Err(ResolveError::StackClash {
                    first: b.name.clone(),
                    second: a.name.clone(),
                    stack: a.stack_name.clone(),
                });
            }
        }
        Ok(Project {
            process_env: options.process_env.clone(),
            workspace_root: discovered.workspace_root,
            target_dir: discovered.target_dir,
            git,
            apps,
            selected: discovered.selected,
        })
    }

    /// The one selected app, for commands that work on one (`outputs`, `rollback`): `purpose`
    /// says so in the error when the selection holds more or none ("rollback works on").
    pub fn one_app(&self, purpose: &'static str) -> Result<&ResolvedApp, ResolveError> {
        match self.selected[..] {
            [i] => Ok(&self.apps[i]),
            _ => Err(ResolveError::NotOneApp {
                purpose,
                names: self.selected_apps().map(|a| a.name.clone()).collect(),
            }),
        }
    }

    pub fn selected_apps(&self) -> impl Iterator<Item = &ResolvedApp> {
        self.selected.iter().map(|&i| &self.apps[i])
    }

    pub fn app(&self, name: &str) -> Option<&ResolvedApp> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// The apps that depend on `name`, directly or through others (their stacks import from its).
    pub fn dependents(&self, name: &str) -> Vec<&ResolvedApp> {
        let mut found: Vec<&ResolvedApp> = Vec::new();
        let mut todo = vec![name.to_owned()];
        while let Some(of) = todo.pop() {
            for app in self.apps.iter().filter(|a| a.depends_on.contains(&of)) {
                if app.name != name && !found.iter().any(|f| f.name == app.name) {
                    found.push(app);
                    todo.push(app.name.clone());
                }
            }
        }
        found
    }

    /// Secret values of every app's `[params]` and `[parameters]` (see [`crate::secrets`]), to
    /// mask in what is shown.
    pub fn secrets(&self) -> Vec<String> {
        self.apps.iter().flat_map(ResolvedApp::secrets).collect()
    }

    /// Tags for every resource and the stack of `app`: `[tags]`, then the jiti tags.
    pub fn tags(&self, app: &ResolvedApp) -> Vec<(String, String)> {
        let mut tags = app.user_tags.clone();
        tags.extend(
            [
                (tagging::KEY_APP, app.name.as_str()),
                (tagging::KEY_ENV, app.environment.name.as_str()),
                (tagging::KEY_BRANCH, self.git.branch.as_str()),
                (tagging::KEY_VERSION, app.version.as_str()),
                (tagging::KEY_COMMIT, self.git.commit.as_str()),
                (tagging::KEY_MANAGED_BY, tagging::MANAGED_BY),
            ]
            .map(|(k, v)| (k.to_owned(), tagging::sanitize_value(v))),
        );
        if app.environment.protected {
            tags.push((tagging::KEY_PROTECTED.to_owned(), "true".to_owned()));
        }
        tags
    }
}

pub(crate) fn resolve_app(
    source: &AppSource,
    git: &GitContext,
    workspace: &crate::config::WorkspacePolicy,
    chain: &RegionChain,
    region_optional: bool,
    env: &ProcessEnv,
) -> Result<ResolvedApp, ResolveError> {
    let config = &source.config;
    let protected = config.protected_environments();
    let branches: Vec<(String, Vec<String>)> = protected
        .iter()
        .map(|(name, env)| {
            (name.to_string(), env.branches.iter().map(ToString::to_string).collect())
        })
        .collect();
    let environment = Environment::for_branch(
        &git.branch,
        branches.iter().map(|(n, b)| (n.as_str(), b.as_slice())),
    );
    let ephemeral = &config.environments.ephemeral;
    let settings: Option<&ProtectedConfig> = environment
        .protected
        .then(|| protected.iter().find(|(n, _)| n.as_str() == environment.name).map(|(_, p)| p))
        .flatten();
    let (env_region, profile, overrides, parameter_overrides, table) = match settings {
        Some(p) => (
            p.region.as_ref(),
            p.profile.as_ref(),
            &p.params,
            &p.parameters,
            format!("environments.protected.{}", environment.name),
        ),
        None => (
            ephemeral.region.as_ref(),
            ephemeral.profile.as_ref(),
            &ephemeral.params,
            &ephemeral.parameters,
            "environments.ephemeral".to_owned(),
        ),
    };
    // One rule for every environment: its table's `region`, else `[app] region`, else the chain of
    // its profile.
    let region_of = |env_region: Option<&crate::config::Region>,
                     env_profile: Option<&crate::config::Profile>,
                     table: String|
     -> Option<(String, RegionSource)> {
        if let Some(r) = env_region {
            Some((r.to_string(), RegionSource::Environment(table)))
        } else if let Some(r) = &config.app.region {
            Some((r.to_string(), RegionSource::App))
        } else {
            chain
                .lookup(env_profile.map(|p| p.as_str()))
                .map(|found| (found.region, RegionSource::Chain(found.from)))
        }
    };
    let (region, region_source) = match region_of(env_region, profile, table) {
        Some(found) => found,
        None if region_optional => (String::new(), RegionSource::Unknown),
        None => {
            return Err(ResolveError::NoRegion {
                app: source.name.clone(),
                env: environment.name.clone(),
                config: source.config_path.clone(),
                profile: profile.map(ToString::to_string),
            });
        }
    };
    // Where the app's other environments live: each protected environment's and branch
    // environments' region (and profile), by the same rule.
    let mut places: Vec<(String, Option<String>)> = Vec::new();
    if !region.is_empty() {
        places.push((region.clone(), profile.map(ToString::to_string)));
    }
    let others = std::iter::once((ephemeral.region.as_ref(), ephemeral.profile.as_ref()))
        .chain(protected.values().map(|p| (p.region.as_ref(), p.profile.as_ref())));
    for (env_region, env_profile) in others {
        if let Some((r, _)) = region_of(env_region, env_profile, String::new()) {
            let place = (r, env_profile.map(ToString::to_string));
            if !places.contains(&place) {
                places.push(place);
            }
        }
    }
    let mut params = config.params.clone();
    merge_params(&mut params, overrides);
    let ephemeral_env = environment.ephemeral();
    let prefix = config.app.stack_prefix.as_ref().map(|p| p.as_str()).unwrap_or("");
    Ok(ResolvedApp {
        name: source.name.clone(),
        package: source.package.clone(),
        version: source.version.clone(),
        package_dir: source.package_dir.clone(),
        infra_dir: source.infra_dir.clone(),
        config_path: source.config_path.clone(),
        template: config
            .app
            .template
            .as_ref()
            .map_or(crate::config::DEFAULT_TEMPLATE.to_owned(), ToString::to_string),
        stack_name: environment::stack_name(prefix, &source.name, &environment.name),
        stack_prefix: prefix.to_owned(),
        protected_envs: protected.keys().map(ToString::to_string).collect(),
        protected_branches: branches.iter().flat_map(|(_, b)| b.iter().cloned()).collect(),
        environment,
        region,
        region_source,
        profile: profile.map(ToString::to_string),
        places,
        params,
        parameters: stack_parameters(&config.parameters, parameter_overrides, env),
        parameter_config: ParameterConfig {
            base: config.parameters.clone(),
            environments: std::iter::once(("ephemeral".to_owned(), ephemeral.parameters.clone()))
                .chain(protected.iter().map(|(name, p)| (name.to_string(), p.parameters.clone())))
                .collect(),
        },
        user_tags: config.tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        depends_on: config.app.depends_on.iter().map(ToString::to_string).collect(),
        keep_retained: ephemeral.keep_retained,
        own_logs: config.logs.own_logs(ephemeral_env),
        ttl: ephemeral.ttl.map(|t| t.0),
        verify: config
            .hooks
            .verify
            .clone()
            .map(|c| (c, config.hooks.verify_timeout.map_or(Duration::from_secs(300), |t| t.0))),
        sources: None,
        policy: AppPolicy {
            off: config.policy.off.iter().map(|(rule, why)| (*rule, why.to_string())).collect(),
            strict: config.policy.strict.or(workspace.strict).unwrap_or(false),
            levels: config
                .policy
                .levels
                .iter()
                .chain(
                    workspace.levels.iter().filter(|(r, _)| !config.policy.levels.contains_key(*r)),
                )
                .map(|(r, l)| (*r, *l))
                .collect(),
        },
        unprotected_envs: protected
            .iter()
            .filter(|(_, p)| p.termination_protection == Some(false))
            .map(|(name, _)| name.to_string())
            .collect(),
        artifacts: crate::artifacts::ArtifactSpec::from_config(
            &source.name,
            &source.package,
            &source.package_dir,
            &source.binaries,
            &source.config_path,
            &config.artifacts,
        ),
        built: Default::default(),
        packages: Default::default(),
        code_dirs: source.code_dirs.clone(),
    })
}

/// Overrides win key by key; tables merge deeply, so an environment can change one nested value.
pub fn merge_params(base: &mut Params, overrides: &Params) {
    for (key, value) in overrides {
        match (base.get_mut(key), value) {
            (Some(serde_json::Value::Object(b)), serde_json::Value::Object(o)) => {
                merge_params(b, o)
            }
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
        let mut base =
            json!({"memory": 128, "alarms": {"enabled": false, "email": "a@b"}, "keep": 1})
                .as_object()
                .cloned()
                .unwrap();
        let over =
            json!({"memory": 1024, "alarms": {"enabled": true}}).as_object().cloned().unwrap();
        merge_params(&mut base, &over);
        assert_eq!(
            serde_json::Value::Object(base),
            json!({"memory": 1024, "alarms": {"enabled": true, "email": "a@b"}, "keep": 1})
        );
    }
}
