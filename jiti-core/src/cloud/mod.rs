//! The AWS side: CloudFormation (and S3, STS) through aws-sdk, behind [`StackApi`] and
//! [`ReleaseStore`], and the resources `gc` deletes by tag ([`ResourceApi`]). The only module (with
//! its submodules) that touches aws-sdk types; everything it returns is this module's own data.
//!
//! By concern: [`client`] (the config chain, retries, call counting), [`error`] (what a failed call
//! means), `cfn` (CloudFormation calls), `bucket` (the artifacts bucket: ledger and large templates),
//! `resources` (tagged resources `gc` collects), [`status`] (stack statuses as a type), `lambda`
//! (the code a function runs, for the check after a deploy).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::SystemTime;

mod bucket;
mod cfn;
pub mod client;
mod drift;
pub mod error;
mod lambda;
mod resources;
pub mod status;

pub use client::{Aws, CallCount, CallCounter, ConnectOptions, chain_region};
pub use error::{CloudError, ErrorKind};
pub use resources::{Deletable, Removal, ResourceApi, TaggedResource};
pub use status::StackStatus;

/// What CloudFormation shows in place of a `NoEcho` parameter's value (DescribeStacks): a value that
/// cannot be compared with anything.
pub const NOECHO_SHOWN: &str = "****";

/// How a stack is created or updated: the CloudFormation calls a deploy makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A change set, shown, then executed: CloudFormation says what it will do first.
    #[default]
    ChangeSet,
    /// CreateStack/UpdateStack directly, the summary computed from the templates (as
    /// `cdk deploy --method=direct`). Faster, and what works where change sets fall short
    /// (moto 5.2 computes no outputs for stacks made by change sets).
    Direct,
}

/// Where an app's stacks live.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub region: String,
    pub profile: Option<String>,
}

/// A stack as DescribeStacks reports it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Stack {
    pub name: String,
    pub id: String,
    pub status: StackStatus,
    pub status_reason: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
    #[serde(serialize_with = "serialize_time")]
    #[schemars(with = "Option<String>")]
    pub created: Option<SystemTime>,
    #[serde(serialize_with = "serialize_time")]
    #[schemars(with = "Option<String>")]
    pub updated: Option<SystemTime>,
    pub termination_protection: bool,
}

impl Stack {
    /// The last create or update.
    pub fn last_change(&self) -> Option<SystemTime> {
        self.updated.or(self.created)
    }

    /// An operation is under way (`*_IN_PROGRESS`): nothing else may start on the stack.
    pub fn in_progress(&self) -> bool {
        self.status.in_progress()
    }
}

/// One DescribeStackEvents entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct StackEvent {
    pub id: String,
    #[serde(serialize_with = "serialize_time")]
    #[schemars(with = "Option<String>")]
    pub timestamp: Option<SystemTime>,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

impl StackEvent {
    pub fn failed(&self) -> bool {
        self.status.ends_with("_FAILED")
    }
}

/// One change of a change set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Change {
    /// `Add`, `Modify`, `Remove`, `Import`, `Dynamic`.
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False` or `Conditional` for modifications, where the API says.
    pub replacement: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeSetKind {
    Create,
    Update,
}

/// The template of a change set: inline, or a URL in S3 (over 51,200 bytes).
#[derive(Debug, Clone)]
pub enum TemplateSource {
    Body(String),
    Url(String),
}

#[derive(Debug, Clone)]
pub struct ChangeSetRequest {
    pub stack_name: String,
    pub change_set_name: String,
    pub kind: ChangeSetKind,
    pub template: TemplateSource,
    pub tags: Vec<(String, String)>,
    /// CloudFormation stack parameters (`[parameters]`), by name.
    pub parameters: Vec<(String, String)>,
    pub description: String,
}

/// What a change set came to once CloudFormation computed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeSetOutcome {
    Ready(Vec<Change>),
    /// Nothing would change. AWS and moto answer an empty change set with `FAILED` and a reason
    /// saying it "didn't contain changes"; some paths say "No updates are to be performed".
    NoChanges,
    Failed(String),
}

/// The CloudFormation operations cargo-jiti uses. The SDK implements it ([`Aws`]); unit tests give
/// responses shaped as the API reference documents, for what the emulator cannot show.
pub trait StackApi: Send + Sync {
    /// One page of the account's stacks (DescribeStacks without a name), and the next page's token.
    fn stacks_page(
        &self,
        token: Option<String>,
    ) -> impl Future<Output = Result<(Vec<Stack>, Option<String>), CloudError>> + Send;
    /// Every stack of the account and region (DescribeStacks, all pages).
    fn list_stacks(&self) -> impl Future<Output = Result<Vec<Stack>, CloudError>> + Send {
        async {
            let (mut stacks, mut token) = self.stacks_page(None).await?;
            while token.is_some() {
                let (more, next) = self.stacks_page(token).await?;
                stacks.extend(more);
                token = next;
            }
            Ok(stacks)
        }
    }
    /// One stack, or `None` when it does not exist.
    fn describe_stack(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Stack>, CloudError>> + Send;
    /// Creates a change set; returns its id.
    fn create_change_set(
        &self,
        request: &ChangeSetRequest,
    ) -> impl Future<Output = Result<String, CloudError>> + Send;
    /// The change set's status: `None` while CloudFormation is still computing it.
    fn change_set(
        &self,
        stack: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<ChangeSetOutcome>, CloudError>> + Send;
    fn execute_change_set(
        &self,
        stack: &str,
        id: &str,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;
    /// CreateStack, for the direct method (no change set).
    fn create_stack(
        &self,
        request: &ChangeSetRequest,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;
    /// UpdateStack, for the direct method. "No updates are to be performed" is an error here.
    fn update_stack(
        &self,
        request: &ChangeSetRequest,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;
    fn delete_change_set(
        &self,
        stack: &str,
        id: &str,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;
    /// The newest events of a stack (first page), newest first.
    fn stack_events(
        &self,
        stack: &str,
    ) -> impl Future<Output = Result<Vec<StackEvent>, CloudError>> + Send;
    /// The deployed template, as submitted.
    fn get_template(&self, stack: &str) -> impl Future<Output = Result<String, CloudError>> + Send;
    fn delete_stack(&self, stack: &str) -> impl Future<Output = Result<(), CloudError>> + Send;
    fn set_termination_protection(
        &self,
        stack: &str,
        enabled: bool,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;
    /// Puts a template too large to send inline into the artifacts bucket; returns its URL.
    fn upload_template(
        &self,
        key: &str,
        body: &str,
    ) -> impl Future<Output = Result<String, CloudError>> + Send;
}

/// Where the release ledger lives: objects under a prefix, written once, never changed.
pub trait ReleaseStore: Send + Sync {
    /// Writes one object (creating the artifacts bucket on first use).
    fn put_object(
        &self,
        key: &str,
        body: &str,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;
    /// Keys under `prefix`, sorted; none when the bucket does not exist yet.
    fn list_keys(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, CloudError>> + Send;
    fn get_object(&self, key: &str) -> impl Future<Output = Result<String, CloudError>> + Send;
    /// The AWS identity making the calls (an ARN), for "who deployed".
    fn caller(&self) -> impl Future<Output = Result<String, CloudError>> + Send;
}

/// An object of the artifacts bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// Built code in the artifacts bucket: each package written once, under a key made of its hash.
pub trait ArtifactStore: Send + Sync {
    /// The bucket's name, the bucket made on first use.
    fn bucket(&self) -> impl Future<Output = Result<String, CloudError>> + Send;
    /// The bucket's name, whether it exists or not.
    fn bucket_name(&self) -> impl Future<Output = Result<String, CloudError>> + Send;
    /// The size of the object at `key` (HeadObject), `None` when there is none.
    fn object_size(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<u64>, CloudError>> + Send;
    /// Uploads a package (in parts, over [`MULTIPART_THRESHOLD`]).
    fn put_package(
        &self,
        key: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;
    /// Uploads a package unless `key` holds one already, in one call (a conditional PutObject,
    /// `If-None-Match: *`): `false` when the key was taken. What a hotswap uses, where the package
    /// is new almost always and HeadObject would be a call spent for nothing.
    fn put_new_package(
        &self,
        key: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<bool, CloudError>> + Send;
    /// Objects under `prefix`, every page (1,000 keys a call); none when there is no bucket.
    fn list_objects(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<StoredObject>, CloudError>> + Send;
    /// Deletes `keys`, 1,000 a call (DeleteObjects).
    fn delete_objects(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<(), CloudError>> + Send;
    /// Writes a document at `key` (private like the whole bucket, encrypted, as `content_type`)
    /// and returns a presigned GET URL for it, valid `expires` (SigV4: at most 7 days).
    fn publish(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        expires: std::time::Duration,
    ) -> impl Future<Output = Result<String, CloudError>> + Send;
}

/// CloudFormation's drift detection: started, waited for, read (what `cargo jiti drift` uses).
pub trait DriftApi: Send + Sync {
    /// Starts drift detection of `stack` (DetectStackDrift); the detection's id.
    fn detect_drift(&self, stack: &str) -> impl Future<Output = Result<String, CloudError>> + Send;
    /// The detection's state (DescribeStackDriftDetectionStatus): `None` while in progress.
    fn drift_detection(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Detection>, CloudError>> + Send;
    /// Each resource's drift as of the last detection (DescribeStackResourceDrifts, every page).
    fn resource_drifts(
        &self,
        stack: &str,
    ) -> impl Future<Output = Result<Vec<ResourceDrift>, CloudError>> + Send;
}

/// How a drift detection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    /// `DETECTION_COMPLETE`; `drifted`: `StackDriftStatus` is `DRIFTED`.
    Complete { drifted: bool },
    /// `DETECTION_FAILED`, with `DetectionStatusReason` (some resources could not be checked; the
    /// others' results stand).
    Failed(String),
}

/// One resource's drift, as `DescribeStackResourceDrifts` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ResourceDrift {
    pub logical_id: String,
    pub physical_id: String,
    pub resource_type: String,
    /// `IN_SYNC`, `MODIFIED`, `DELETED`, `NOT_CHECKED` or `UNKNOWN`.
    pub status: String,
    pub differences: Vec<PropertyDifference>,
}

/// A property whose live value is not the template's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct PropertyDifference {
    /// JSON pointer into the resource's properties, e.g. `/MemorySize`.
    pub path: String,
    pub expected: String,
    pub actual: String,
    /// `ADD`, `REMOVE` or `NOT_EQUAL`.
    pub kind: String,
}

/// Packages larger than this are uploaded in parts (of this size), as the AWS CLI does from 8 MB.
pub const MULTIPART_THRESHOLD: usize = 16 * 1024 * 1024;

/// What a deploy reads of the functions it made: which they are, and the code they run.
pub trait FunctionApi: Send + Sync {
    /// (logical id, physical id) of each `AWS::Lambda::Function` of `stack`.
    fn stack_functions(
        &self,
        stack: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, CloudError>> + Send;
    /// The function's `CodeSha256` (base64 of the SHA-256 of its package), `None` when there is
    /// no such function.
    fn code_sha256(
        &self,
        function: &str,
    ) -> impl Future<Output = Result<Option<String>, CloudError>> + Send;
    /// Points the function at the package in `bucket`/`key` (UpdateFunctionCode): what Lambda
    /// answered, the update usually still in progress.
    fn update_function_code(
        &self,
        function: &str,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<FunctionState, CloudError>> + Send;
    /// The function's code and the state of its last update (GetFunctionConfiguration).
    fn function_state(
        &self,
        function: &str,
    ) -> impl Future<Output = Result<FunctionState, CloudError>> + Send;
}

/// A function's code and how its last update went, as Lambda reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionState {
    /// Base64 of the SHA-256 of the package.
    pub code_sha256: String,
    pub update: UpdateStatus,
}

/// `LastUpdateStatus`: an update is `InProgress` for a second or so on AWS, then settles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateStatus {
    InProgress,
    Successful,
    /// With `LastUpdateStatusReason`.
    Failed(String),
}

impl UpdateStatus {
    /// From Lambda's words; an absent status (functions never updated, some emulators) is settled.
    pub fn parse(status: Option<&str>, reason: Option<&str>) -> UpdateStatus {
        match status {
            Some("InProgress") => UpdateStatus::InProgress,
            Some("Failed") => {
                UpdateStatus::Failed(reason.unwrap_or("Lambda gave no reason").to_owned())
            }
            _ => UpdateStatus::Successful,
        }
    }
}

/// Times as RFC 3339 (UTC, seconds) in JSON reports.
pub fn serialize_time<S: serde::Serializer>(
    t: &Option<SystemTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&humantime::format_rfc3339_seconds(*t).to_string()),
        None => s.serialize_none(),
    }
}
