//! `infra/jiti.toml`: an app's infrastructure settings, how they are read and validated, and their JSON Schema.
//!
//! Every value that can be wrong is a validating newtype (`#[serde(try_from = "String")]`), so the
//! toml deserializer attaches the file position to the error for us; unknown keys are rejected with
//! the nearest known key as a hint.

use std::fmt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::tagging;

mod artifacts;
pub use artifacts::{Arch, ArtifactConfig, ArtifactKind};
mod environments;
pub use environments::{EnvironmentsConfig, EphemeralConfig, ProtectedConfig};
mod logs;
pub use logs::{LogsConfig, RETENTION_DAYS, RetentionDays};

/// The file name cargo-jiti looks for in an app's infra folder.
pub const FILE_NAME: &str = "jiti.toml";
/// The infra folder's name, next to `Cargo.toml`, unless `[package.metadata.jiti] infra` moves it.
pub const DEFAULT_INFRA_DIR: &str = "infra";
/// The template file rendered when `[app] template` is not set.
pub const DEFAULT_TEMPLATE: &str = "stack.yaml";
/// Environment names and app names are parts of stack names; these bound their lengths so that
/// `<prefix><app>-<env>` always fits CloudFormation's 128 characters.
pub const MAX_APP_NAME: usize = 64;
pub const MAX_STACK_PREFIX: usize = 15;

/// Tera variables (`params.*` in templates). Order is kept as written.
pub type Params = serde_json::Map<String, serde_json::Value>;

/// The whole of one `infra/jiti.toml`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "jiti.toml",
    description = "cargo-jiti settings of one app: its CloudFormation template, environments, parameters and tags. Lives in `infra/jiti.toml` beside the app's Cargo.toml."
)]
pub struct JitiConfig {
    /// The app and its template.
    #[serde(default)]
    pub app: AppConfig,
    /// Which branches are long-lived protected environments, and settings per environment.
    #[serde(default)]
    pub environments: EnvironmentsConfig,
    /// Template variables, available as `params.<name>`. Environments may override them.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, serde_json::Value>")]
    pub params: Params,
    /// Values of the template's CloudFormation `Parameters`, passed on create, update and change
    /// sets. Environments may override them. A value is a string, number, boolean or list (joined
    /// with commas, for `List<…>` and `CommaDelimitedList`), or `{ env = "NAME" }`: taken from the
    /// process environment when cargo-jiti runs (CI secrets), and always masked.
    #[serde(default)]
    pub parameters: IndexMap<String, ParameterValue>,
    /// Extra tags put on every taggable resource (and the stack), beside the `jiti:*` tags.
    #[serde(default)]
    pub tags: IndexMap<TagKey, TagValue>,
    /// Commands run around deploys.
    #[serde(default)]
    pub hooks: HooksConfig,
    /// Policy rules `check` (and so `deploy`) enforces on the rendered template.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Code built from this package and shipped with its stack, as `artifacts.<name>.{bucket,
    /// key, sha256, size}` in the template.
    #[serde(default)]
    pub artifacts: IndexMap<ArtifactName, ArtifactConfig>,
    /// The log groups of the app's Lambda functions, owned by its stacks.
    #[serde(default)]
    pub logs: LogsConfig,
}

/// `[policy]`
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Built-in rules turned off for this app, each with the reason `check` shows, e.g.
    /// `encryption = "public data; no key to manage"`.
    #[serde(default)]
    pub off: IndexMap<BuiltinRule, Reason>,
    /// Every protective setting written down, even where AWS applies it by default (bucket
    /// encryption and public access blocks, KMS keys on tables and topics). Default: false, or
    /// `[workspace.metadata.jiti.policy] strict` of the workspace's Cargo.toml.
    pub strict: Option<bool>,
    /// A built-in rule's level instead of its default, e.g. `encryption = "warning"` (both fail
    /// `check`; only errors stop a deploy). Default: each rule's own (see the README).
    #[serde(default)]
    pub levels: IndexMap<BuiltinRule, Level>,
}

/// `[workspace.metadata.jiti.policy]` in the workspace's Cargo.toml: policy defaults of every app,
/// which an app's own `[policy]` overrides.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspacePolicy {
    pub strict: Option<bool>,
    #[serde(default)]
    pub levels: IndexMap<BuiltinRule, Level>,
}

/// How a broken policy rule counts: errors stop `deploy`; warnings are shown and fail `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

/// The built-in policy rules of `check`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Deserialize,
    JsonSchema,
    serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum BuiltinRule {
    /// Every taggable resource carries all `jiti:*` tags.
    Tags,
    /// Every S3 bucket has a public access block with all four settings on.
    BucketPublicAccess,
    /// Buckets, tables, queues and topics are encrypted at rest.
    Encryption,
    /// No resource policy allows the `*` principal.
    PublicPrincipal,
    /// Protected environments keep termination protection.
    TerminationProtection,
}

impl BuiltinRule {
    pub const ALL: [BuiltinRule; 5] = [
        BuiltinRule::Tags,
        BuiltinRule::BucketPublicAccess,
        BuiltinRule::Encryption,
        BuiltinRule::PublicPrincipal,
        BuiltinRule::TerminationProtection,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BuiltinRule::Tags => "tags",
            BuiltinRule::BucketPublicAccess => "bucket-public-access",
            BuiltinRule::Encryption => "encryption",
            BuiltinRule::PublicPrincipal => "public-principal",
            BuiltinRule::TerminationProtection => "termination-protection",
        }
    }
}

/// `[app]`
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// App name, used in stack names and the `jiti:app` tag. Default: the package name.
    pub name: Option<AppName>,
    /// Template to render, relative to the infra folder. Default: `stack.yaml`.
    pub template: Option<RelativePath>,
    /// Default AWS region of the app's stacks. Default: the AWS config chain (`AWS_REGION`).
    pub region: Option<Region>,
    /// Prepended to every stack name of the app, e.g. `team-`. Default: none.
    pub stack_prefix: Option<StackPrefix>,
    /// Apps of the same workspace whose stacks must exist before this one's (their outputs are read).
    #[serde(default)]
    pub depends_on: Vec<AppName>,
}

/// A value of `[parameters]`: what CloudFormation receives (a string), or where to read it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(try_from = "serde_json::Value")]
#[schemars(with = "ParameterValueSchema")]
pub enum ParameterValue {
    /// The value as CloudFormation takes it.
    Literal(String),
    /// The value of this process environment variable.
    Env(String),
}

/// The shapes `[parameters]` accepts, for the JSON Schema only.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ParameterValueSchema {
    String(String),
    Number(f64),
    Bool(bool),
    /// Joined with commas.
    List(Vec<String>),
    /// From the process environment: `{ env = "DB_PASSWORD" }`.
    Env {
        env: String,
    },
}

impl TryFrom<serde_json::Value> for ParameterValue {
    type Error = String;
    fn try_from(value: serde_json::Value) -> Result<Self, String> {
        use serde_json::Value;
        let scalar = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        match &value {
            Value::Array(items) => {
                let items: Option<Vec<String>> = items.iter().map(scalar).collect();
                items.map(|i| ParameterValue::Literal(i.join(","))).ok_or_else(|| "a list parameter holds strings or numbers".to_owned())
            }
            Value::Object(map) => match (map.get("env"), map.len()) {
                (Some(Value::String(name)), 1) if !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                    Ok(ParameterValue::Env(name.clone()))
                }
                (Some(_), 1) => Err("`env` names a process environment variable: ASCII letters, digits and `_`, e.g. { env = \"DB_PASSWORD\" }".to_owned()),
                _ => Err("a parameter is a string, number, boolean or list, or { env = \"NAME\" } to read it from the process environment".to_owned()),
            },
            other => scalar(other).map(ParameterValue::Literal).ok_or_else(|| "a parameter is a string, number, boolean or list".to_owned()),
        }
    }
}

/// `[hooks]`
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    /// Shell command run after each deploy, in the app's folder, with the stack's outputs as
    /// `JITI_OUTPUT_<KEY>` and `JITI_APP`, `JITI_ENV`, `JITI_STACK`. When it fails, the app is
    /// rolled back to its previous release (unless `--no-rollback`).
    pub verify: Option<String>,
    /// Limit on `verify`, e.g. `90s`, `5m`. Default: 5 minutes.
    pub verify_timeout: Option<Ttl>,
}

impl JitiConfig {
    /// The protected environments in force: the configured ones, or `production` ← `main`, `master`.
    pub fn protected_environments(&self) -> IndexMap<EnvName, ProtectedConfig> {
        match &self.environments.protected {
            Some(p) => p.clone(),
            None => IndexMap::from([(
                EnvName("production".into()),
                ProtectedConfig {
                    branches: vec![BranchName("main".into()), BranchName("master".into())],
                    ..ProtectedConfig::default()
                },
            )]),
        }
    }
}

/// Reading or validating a `jiti.toml` failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}{}", path.display(), help.as_deref().map(|h| format!("\n  help: {h}")).unwrap_or_default())]
    Invalid { path: PathBuf, line: usize, column: usize, message: String, help: Option<String> },
}

/// Reads and validates the `jiti.toml` at `path`.
pub fn load(path: &Path) -> Result<JitiConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    parse(&text, path)
}

/// Parses and validates `text`; `path` is only used in errors.
pub fn parse(text: &str, path: &Path) -> Result<JitiConfig, ConfigError> {
    let config: JitiConfig = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_column(text, s.start)).unwrap_or((1, 1));
        let message = e.message().trim_end().to_owned();
        ConfigError::Invalid {
            path: path.to_owned(),
            line,
            column,
            help: unknown_key_help(&message),
            message,
        }
    })?;
    validate(&config, text, path)?;
    Ok(config)
}

/// Rules that span several values, which serde cannot check field by field.
fn validate(config: &JitiConfig, text: &str, path: &Path) -> Result<(), ConfigError> {
    // serde has no positions for these: point at `needle`, searched after the table `section`.
    let invalid = |section: &str, needle: &str, message: String, help: Option<String>| {
        let from = text.find(section).unwrap_or(0);
        let (line, column) =
            text[from..].find(needle).map(|at| line_column(text, from + at)).unwrap_or((1, 1));
        ConfigError::Invalid { path: path.to_owned(), line, column, message, help }
    };
    for (name, artifact) in &config.artifacts {
        artifacts::validate(name, artifact).map_err(|(key, message, help)| {
            invalid(&format!("[artifacts.{name}]"), key, message, help)
        })?;
    }
    let mut owner: IndexMap<&str, &str> = IndexMap::new();
    for (env, settings) in config.environments.protected.iter().flatten() {
        if settings.branches.is_empty() {
            return Err(invalid(
                &format!("[environments.protected.{env}]"),
                "branches",
                format!("protected environment `{env}` has no branches"),
                Some("add `branches = [\"main\"]` or remove the environment".into()),
            ));
        }
        for branch in &settings.branches {
            if let Some(first) = owner.insert(branch.as_str(), env.as_str()) {
                return Err(invalid(
                    &format!("[environments.protected.{env}]"),
                    &format!("\"{branch}\""),
                    format!(
                        "branch `{branch}` feeds two protected environments, `{first}` and `{env}`"
                    ),
                    Some(
                        "a branch deploys to one environment: keep it in one `branches` list"
                            .into(),
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// serde words unknown-key errors as "unknown field `x`, expected one of `a`, `b`" (or
/// "expected `a`"); that wording is serde's stable `Error::unknown_field`, and the only place
/// the list of known keys reaches us.
fn unknown_key_help(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let nearest = known
        .iter()
        .map(|k| (strsim::jaro_winkler(unknown, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    Some(match (nearest, known.is_empty()) {
        (Some((_, k)), _) => format!("did you mean `{k}`?"),
        (None, true) => "this table takes no keys".to_owned(),
        (None, false) => format!("known keys here: {}", known.join(", ")),
    })
}

macro_rules! validated_string {
    ($(#[$meta:meta])* $name:ident, $check:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, JsonSchema)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(&value).map(|()| Self(value))
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(value: &str) -> Result<Self, String> {
                Self::try_from(value.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

validated_string!(
    /// An artifact's name: a template variable (`artifacts.<name>`), so letters, digits and `_`,
    /// starting with a letter, at most 64 characters.
    ArtifactName,
    |s| {
        let ok = s.len() <= 64
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match ok {
            true => Ok(()),
            false => Err(format!("artifact name `{s}` must start with a letter and hold only ASCII letters, digits and `_` (it is a template variable), at most 64 characters")),
        }
    }
);

validated_string!(
    /// Why a rule is off: a non-empty sentence.
    Reason,
    |s| if s.trim().is_empty() { Err("say why the rule is off: the reason must not be empty".to_owned()) } else { Ok(()) }
);

validated_string!(
    /// An app name: ASCII letters, digits, `-` and `_`, starting with a letter, at most 64 characters.
    AppName,
    |s| {
        if s.is_empty() || s.len() > MAX_APP_NAME {
            return Err(format!("app name `{s}` must be 1 to {MAX_APP_NAME} characters"));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphabetic()) || !s.chars().all(is_name_char) {
            return Err(format!(
                "app name `{s}` must start with a letter and hold only ASCII letters, digits, `-` and `_`"
            ));
        }
        Ok(())
    }
);

validated_string!(
    /// A protected environment's name: lower-case letters, digits and single dashes, starting with a letter.
    EnvName,
    |s| {
        let ok = s.len() <= crate::environment::MAX_ENV_NAME
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.ends_with('-')
            && !s.contains("--");
        if ok {
            Ok(())
        } else {
            Err(format!(
                "environment name `{s}` must start with a lower-case letter, hold only lower-case letters, digits and single dashes, and be at most {} characters",
                crate::environment::MAX_ENV_NAME
            ))
        }
    }
);

validated_string!(
    /// A git branch name, as git writes it (`feature/login`).
    BranchName,
    |s| {
        if s.is_empty() || s.starts_with("refs/") {
            return Err(format!("branch `{s}` must be a short branch name such as `main`"));
        }
        Ok(())
    }
);

validated_string!(
    /// An AWS region code such as `eu-west-1`.
    Region,
    |s| {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && s.ends_with(|c: char| c.is_ascii_digit());
        if ok { Ok(()) } else { Err(format!("`{s}` is not an AWS region code such as `eu-west-1`")) }
    }
);

validated_string!(
    /// An AWS config profile name.
    Profile,
    |s| if s.trim().is_empty() { Err("profile name is empty".into()) } else { Ok(()) }
);

validated_string!(
    /// A stack-name prefix: ASCII letters, digits and dashes, starting with a letter, at most 15 characters.
    StackPrefix,
    |s| {
        let ok = s.len() <= MAX_STACK_PREFIX
            && (s.is_empty()
                || (s.starts_with(|c: char| c.is_ascii_alphabetic())
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')));
        if ok {
            Ok(())
        } else {
            Err(format!(
                "stack prefix `{s}` must start with a letter, hold only ASCII letters, digits and `-`, and be at most {MAX_STACK_PREFIX} characters"
            ))
        }
    }
);

validated_string!(
    /// A path inside the infra folder, with `/` separators.
    RelativePath,
    |s| {
        let p = Path::new(s);
        if s.is_empty() || p.is_absolute() || p.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            return Err(format!("`{s}` must be a relative path inside the infra folder, without `..`"));
        }
        Ok(())
    }
);

validated_string!(
    /// A tag key of `[tags]`; `jiti:` keys belong to cargo-jiti and `aws:` keys to AWS.
    TagKey,
    |s| tagging::validate_user_key(s)
);

validated_string!(
    /// A tag value of `[tags]`.
    TagValue,
    |s| tagging::validate_value(s)
);

mod ttl;
pub use ttl::{MAX_TTL, Ttl};

/// The JSON Schema of `jiti.toml`, as committed in `infra-schema/jiti.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(JitiConfig);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests;
