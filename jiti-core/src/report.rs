//! The JSON contract: what every command prints with `--json`, as types. Each report is wrapped in
//! a [`Report`] with the command's name and a [`SCHEMA_VERSION`]; the JSON Schema of all of them
//! ([`json_schema`]) is committed as `infra-schema/reports.schema.json`, and every report the tests
//! read is validated against it. Adding a field is compatible; renaming or removing one, or changing
//! its meaning, bumps the version.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Serialize;

use crate::check::Finding;
use crate::cloud::{CallCount, CallCounter, StackStatus};
use crate::deploy::AppResult;
use crate::destroy::{Deleted, Item};
use crate::diff::AppDiff;
use crate::gc::{Plan, Removed};
use crate::inventory::EnvStack;
use crate::ledger::Release;
use crate::render::RetentionChange;
use crate::resolve::RegionSource;
use crate::tagging::Skipped;

/// The version of the reports' shape. Readers check it before they read anything else.
pub const SCHEMA_VERSION: u32 = 1;

/// One command's report, as printed: `{"schema_version": 1, "command": "deploy", ...}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Report {
    pub schema_version: u32,
    #[serde(flatten)]
    pub body: Body,
}

impl Report {
    pub fn new(body: impl Into<Body>) -> Report {
        Report { schema_version: SCHEMA_VERSION, body: body.into() }
    }
}

/// The report of each command, tagged by the command's name.
// One value per process, made once to be printed: boxing the large variants buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Body {
    Build(BuildReport),
    Render(RenderReport),
    Check(CheckReport),
    Deploy(DeployReport),
    Diff(DiffReport),
    Drift(DriftReport),
    Envs(EnvsReport),
    Outputs(OutputsReport),
    Destroy(DestroyReport),
    Gc(GcReport),
    History(HistoryReport),
    Rollback(RollbackReport),
    Ci(CiReport),
    Report(OverviewReport),
}

macro_rules! bodies {
    ($($variant:ident($report:ident)),* $(,)?) => {
        $(impl From<$report> for Body {
            fn from(r: $report) -> Body {
                Body::$variant(r)
            }
        })*
    };
}

bodies!(
    Build(BuildReport),
    Render(RenderReport),
    Check(CheckReport),
    Deploy(DeployReport),
    Diff(DiffReport),
    Drift(DriftReport),
    Envs(EnvsReport),
    Outputs(OutputsReport),
    Destroy(DestroyReport),
    Gc(GcReport),
    History(HistoryReport),
    Rollback(RollbackReport),
    Ci(CiReport),
    Report(OverviewReport),
);

/// AWS API calls a command made, by operation (`CloudFormation.DescribeStacks`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ApiCalls {
    pub total: u64,
    pub by_operation: BTreeMap<String, CallCount>,
}

impl From<&CallCounter> for ApiCalls {
    fn from(c: &CallCounter) -> ApiCalls {
        ApiCalls { total: c.total(), by_operation: c.snapshot() }
    }
}

/// The git commit a command worked from.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Checkout {
    pub branch: String,
    pub commit: String,
    pub dirty: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RenderReport {
    #[serde(flatten)]
    pub checkout: Checkout,
    pub apps: Vec<RenderedApp>,
}

/// One app's rendered template and what rendering did to it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RenderedApp {
    pub app: String,
    pub environment: String,
    pub protected: bool,
    pub stack_name: String,
    /// Where it was written.
    pub template: PathBuf,
    /// SHA-256 of the template.
    pub hash: String,
    pub resources: usize,
    /// Resources made by `Fn::ForEach` loops.
    pub loop_resources: usize,
    pub tagged: usize,
    pub untaggable: Vec<Skipped>,
    pub not_injectable: Vec<Skipped>,
    pub retention_dropped: Vec<RetentionChange>,
    /// Log groups added for Lambda functions that had none (`[logs]`).
    pub log_groups_added: Vec<crate::render::logs::OwnedLogGroup>,
    /// Functions whose logging was left as written, and why.
    pub log_groups_left: Vec<crate::render::logs::LeftFunction>,
    /// `None` for an app without a region (render needs none).
    pub region: Option<String>,
    pub region_source: RegionSource,
    /// Where the region came from, in words.
    pub region_from: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckReport {
    /// `None` when the workspace could not be read (its config is a finding).
    #[serde(flatten)]
    pub checkout: Option<Checkout>,
    pub apps: Vec<CheckedApp>,
    pub findings: Vec<Finding>,
    pub summary: CheckSummary,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckedApp {
    pub app: String,
    pub environment: String,
    pub stack_name: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckSummary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BuildReport {
    #[serde(flatten)]
    pub checkout: Checkout,
    pub artifacts: Vec<crate::ship::BuiltArtifact>,
    pub api_calls: ApiCalls,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DeployReport {
    #[serde(flatten)]
    pub checkout: Checkout,
    /// The code built and shipped with the stacks (empty for apps without `[artifacts]`).
    pub artifacts: Vec<crate::ship::BuiltArtifact>,
    pub apps: Vec<AppResult>,
    /// Automatic rollbacks after a failed `verify`.
    pub rollbacks: Vec<AppResult>,
    pub api_calls: ApiCalls,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DiffReport {
    pub apps: Vec<DiffedApp>,
    pub differs: bool,
    pub api_calls: ApiCalls,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DiffedApp {
    pub diff: AppDiff,
    pub differs: bool,
}

/// `cargo jiti drift --json`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DriftReport {
    pub apps: Vec<crate::drift::AppDrift>,
    /// Resources drifted that nobody meant to (hotswapped code aside): `drift` exits 1 then.
    pub unexpected: usize,
    pub api_calls: ApiCalls,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct EnvsReport {
    pub environments: Vec<EnvStack>,
    /// Which regions were listed, and why each.
    pub regions: Vec<ListedRegion>,
    pub api_calls: ApiCalls,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListedRegion {
    pub region: String,
    pub from: String,
    pub apps: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OutputsReport {
    pub app: String,
    pub stack_name: String,
    pub status: StackStatus,
    /// Secrets masked.
    pub outputs: BTreeMap<String, String>,
    pub api_calls: ApiCalls,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DestroyReport {
    pub dry_run: bool,
    pub plan: Vec<Item>,
    pub deleted: Vec<Deleted>,
    pub api_calls: ApiCalls,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct GcReport {
    pub dry_run: bool,
    pub plan: Plan,
    pub deleted: Vec<Deleted>,
    pub removed: Vec<Removed>,
    /// Old builds, per artifacts bucket.
    pub artifacts: Vec<crate::gc::artifacts::ArtifactPlan>,
    /// Old builds deleted, and their bytes.
    pub artifacts_deleted: usize,
    pub artifacts_bytes_deleted: u64,
    pub api_calls: ApiCalls,
}

/// `cargo jiti report --json`: the data of the HTML page.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OverviewReport {
    #[serde(flatten)]
    pub overview: crate::overview::Overview,
    /// Where `--publish` put the page.
    pub published: Option<Published>,
    pub api_calls: ApiCalls,
}

/// A page uploaded to the artifacts bucket, and the presigned URL that reads it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Published {
    pub bucket: String,
    pub key: String,
    pub url: String,
    /// RFC 3339, UTC: when the URL stops working.
    pub expires_at: String,
}

/// `cargo jiti ci --json`: the event, the decision, and the report of what it ran.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CiReport {
    #[serde(flatten)]
    pub judged: crate::ci::Judged,
    /// `--dry-run`: destroy's and gc's dry runs, a deploy's diff; nothing changed.
    pub dry_run: bool,
    pub deploy: Option<DeployReport>,
    pub diff: Option<DiffReport>,
    pub destroy: Option<DestroyReport>,
    pub gc: Option<GcReport>,
    /// Where the pull request comment's body was written (`--comment-file`).
    pub comment_file: Option<PathBuf>,
}

impl GcReport {
    /// Deletions that failed (not those kept because they changed since the plan).
    pub fn failures(&self) -> usize {
        crate::gc::failures(&self.deleted, &self.removed)
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct HistoryReport {
    pub apps: Vec<AppHistory>,
    pub api_calls: ApiCalls,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AppHistory {
    pub app: String,
    pub environment: String,
    /// Newest first.
    pub releases: Vec<Release>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RollbackReport {
    /// The release rolled back to.
    pub to: Release,
    pub result: AppResult,
    pub api_calls: ApiCalls,
}

/// What a failed command prints with `--json`: `{"schema_version": 1, "error": {...}}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorReport {
    pub schema_version: u32,
    pub error: ErrorBody,
}

/// A failure, from the typed errors of this crate where its cause chain holds one.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct ErrorBody {
    /// `aws`, `config`, `render`, `workspace`, `git`, `gc-refused`, `deploy` or `error`.
    pub kind: String,
    pub message: String,
    /// The causes, outermost first.
    pub causes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The AWS operation that failed (`CloudFormation.DescribeStacks`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The AWS error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// Everything `--json` may print: a report or an error.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Printed {
    Report(Report),
    Error(ErrorReport),
}

/// The JSON Schema of everything `--json` prints (`infra-schema/reports.schema.json`).
pub fn json_schema() -> String {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<Printed>();
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}
