//! `[environments]` of `jiti.toml`: branch (ephemeral) environments and the protected ones.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{BranchName, EnvName, ParameterValue, Params, Profile, Region, Ttl};

/// `[environments]`
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentsConfig {
    /// Settings of every per-branch (ephemeral) environment.
    #[serde(default)]
    pub ephemeral: EphemeralConfig,
    /// Long-lived, protected environments by name, each fed by one or more branches.
    /// Default: `production`, fed by `main` and `master`. Setting this table replaces the default.
    pub protected: Option<IndexMap<EnvName, ProtectedConfig>>,
}

/// `[environments.ephemeral]`
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EphemeralConfig {
    /// Time to live of a branch environment after its last deploy, e.g. `12h`, `7d`.
    pub ttl: Option<Ttl>,
    /// Keep `Retain`/`Snapshot` deletion policies as written. By default they become `Delete` in
    /// ephemeral environments, so that a branch environment leaves nothing behind.
    #[serde(default)]
    pub keep_retained: bool,
    /// AWS region of branch environments. Default: `[app] region`.
    pub region: Option<Region>,
    /// AWS profile used to deploy branch environments.
    pub profile: Option<Profile>,
    /// Overrides of `[params]` in branch environments (merged key by key, tables deeply).
    #[serde(default)]
    #[schemars(with = "IndexMap<String, serde_json::Value>")]
    pub params: Params,
    /// Overrides of `[parameters]` in these environments (key by key).
    #[serde(default)]
    pub parameters: IndexMap<String, ParameterValue>,
}

/// `[environments.protected.<name>]`
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtectedConfig {
    /// Git branches deployed to this environment.
    pub branches: Vec<BranchName>,
    /// AWS region of this environment (production often lives elsewhere). Default: `[app] region`.
    pub region: Option<Region>,
    /// AWS profile used to deploy this environment (production often lives in another account).
    pub profile: Option<Profile>,
    /// Overrides of `[params]` in this environment (merged key by key, tables deeply).
    #[serde(default)]
    #[schemars(with = "IndexMap<String, serde_json::Value>")]
    pub params: Params,
    /// Overrides of `[parameters]` in these environments (key by key).
    #[serde(default)]
    pub parameters: IndexMap<String, ParameterValue>,
    /// Turn on CloudFormation's termination protection of this environment's stacks. Default:
    /// true; `false` is a `check` error unless `[policy.off] termination-protection` says why.
    pub termination_protection: Option<bool>,
}
