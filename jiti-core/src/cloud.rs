//! The AWS side: CloudFormation (and S3, STS) through aws-sdk, behind [`StackApi`], and the
//! resources `gc` deletes by tag ([`resources`]). The only module (with its submodule) that
//! touches aws-sdk types; everything it returns is this module's own data.
//!
//! Clients use the standard AWS config chain (profiles, environment, `AWS_ENDPOINT_URL`), retries
//! with exponential backoff and jitter on throttling and transient errors, and timeouts, and count
//! every call they make.
//!
//! Why standard retries, not the SDK's adaptive mode: adaptive mode's client-side rate limiter
//! learns the rate from the caller's own traffic, and cargo-jiti's traffic is sparse (a listing,
//! a few calls per app, polls). Measured through a proxy throttling every third request, two
//! throttles made one deploy take 42 s in adaptive mode and 1.1 s in standard mode.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::types as cfn;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_sdk_cloudformation::config::ConfigBag;

mod resources;
pub use resources::{Deletable, Removal, ResourceApi, TaggedResource};

/// The artifacts bucket (release ledger, large templates) of an account and region is this,
/// then `<account>-<region>`.
pub const ARTIFACTS_BUCKET_PREFIX: &str = "cargo-jiti-artifacts-";

/// What CloudFormation shows in place of a `NoEcho` parameter's value (DescribeStacks): a value that
/// cannot be compared with anything.
pub const NOECHO_SHOWN: &str = "****";

/// Where an app's stacks live.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub region: String,
    pub profile: Option<String>,
}

/// The region AWS's own tools (the SDKs, the AWS CLI) use for `profile` (`None`: `AWS_PROFILE`,
/// else `default`), and which link of their chain gave it: `AWS_REGION`/`AWS_DEFAULT_REGION`, then
/// the profile's `region` in the config files (`AWS_CONFIG_FILE`, `~/.aws/config`), then, when
/// `instance_metadata` is set, EC2 instance metadata. The links are the SDK's own providers, taken
/// one by one (rather than its `DefaultRegionChain`) only to say which one answered.
pub async fn chain_region(profile: Option<&str>, instance_metadata: bool) -> Option<crate::resolve::ChainRegion> {
    use aws_config::meta::region::ProvideRegion;
    let found = |region: aws_config::Region, from: String| crate::resolve::ChainRegion { region: region.to_string(), from };
    if let Some(region) = aws_config::environment::region::EnvironmentVariableRegionProvider::new().region().await {
        return Some(found(region, "AWS_REGION or AWS_DEFAULT_REGION".to_owned()));
    }
    let mut file = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(profile) = profile {
        file = file.profile_name(profile);
    }
    if let Some(region) = file.build().region().await {
        let name = profile.map_or_else(|| "the default profile (AWS_PROFILE or `default`)".to_owned(), |p| format!("profile `{p}`"));
        return Some(found(region, format!("{name} of the AWS config file")));
    }
    if instance_metadata && let Some(region) = aws_config::imds::region::ImdsRegionProvider::builder().build().region().await {
        return Some(found(region, "EC2 instance metadata".to_owned()));
    }
    None
}

/// How to reach AWS, beyond what the AWS config chain says.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `--endpoint-url` (or `AWS_ENDPOINT_URL`, passed in by the caller): a local emulator, say.
    pub endpoint_url: Option<String>,
    /// Attempts per call, retries with backoff on throttling and transient errors included.
    /// Five attempts span about 15 s of backoff: enough for throttling, short for a dead endpoint.
    pub max_attempts: u32,
    /// Limit on one call, retries included.
    pub operation_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions { endpoint_url: None, max_attempts: 5, operation_timeout: Duration::from_secs(120) }
    }
}

/// API calls made, by operation (`CloudFormation.DescribeStacks`): calls, and attempts (calls plus retries).
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<BTreeMap<String, CallCount>>>);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallCount {
    pub calls: u64,
    pub attempts: u64,
}

impl CallCounter {
    pub fn snapshot(&self) -> BTreeMap<String, CallCount> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn total(&self) -> u64 {
        self.snapshot().values().map(|c| c.calls).sum()
    }

    fn bump(&self, cfg: &ConfigBag, attempt: bool) {
        let name = cfg.load::<Metadata>().map_or_else(|| "unknown".to_owned(), |m| format!("{}.{}", m.service(), m.name()));
        if let Ok(mut map) = self.0.lock() {
            let count = map.entry(name).or_default();
            if attempt {
                count.attempts += 1;
            } else {
                count.calls += 1;
            }
        }
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "jiti-call-counter"
    }

    // The operation's name reaches the config bag after `before_execution`; `after_execution`
    // runs once per call too, whatever its outcome.
    fn read_after_execution(&self, _: &FinalizerInterceptorContextRef<'_>, _: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        self.bump(cfg, false);
        Ok(())
    }

    fn read_before_attempt(&self, _: &BeforeTransmitInterceptorContextRef<'_>, _: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        self.bump(cfg, true);
        Ok(())
    }
}

/// A stack as DescribeStacks reports it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Stack {
    pub name: String,
    pub id: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
    #[serde(serialize_with = "serialize_time")]
    pub created: Option<SystemTime>,
    #[serde(serialize_with = "serialize_time")]
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
        self.status.ends_with("_IN_PROGRESS")
    }
}

/// One DescribeStackEvents entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StackEvent {
    pub id: String,
    #[serde(serialize_with = "serialize_time")]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// `Add`, `Modify`, `Remove`, `Import`, `Dynamic`.
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False` or `Conditional` for modifications, where the API says.
    pub replacement: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The service answered with an error (`code` says which).
    Service,
    /// No connection: refused, DNS, TLS.
    Connect,
    /// No usable AWS credentials.
    Credentials,
    Timeout,
    Other,
}

/// A failed AWS call: which operation, and what the service (or the network) said.
#[derive(Debug, Clone, thiserror::Error)]
pub struct CloudError {
    pub operation: &'static str,
    pub kind: ErrorKind,
    /// HTTP status of the service's answer, when there was one.
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
    pub endpoint: Option<String>,
}

impl fmt::Display for CloudError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.operation)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        match (self.kind, &self.endpoint) {
            (ErrorKind::Connect, Some(e)) => write!(f, ": cannot connect to {e}: {}", self.message),
            (ErrorKind::Connect, None) => write!(f, ": cannot connect to AWS: {}", self.message),
            (ErrorKind::Timeout, Some(e)) => write!(f, ": {e} did not answer in time: {}", self.message),
            (ErrorKind::Credentials, _) => write!(
                f,
                ": no usable AWS credentials ({}); set AWS_PROFILE (and run `aws sso login` for SSO profiles) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                self.message
            ),
            _ => write!(f, ": {}", self.message),
        }
    }
}

impl CloudError {
    /// The service says the stack does not exist.
    pub fn is_missing_stack(&self) -> bool {
        self.code.as_deref() == Some("ValidationError") && self.message.contains("does not exist")
    }

    /// Another operation holds the stack: CloudFormation's "… is in UPDATE_IN_PROGRESS state and
    /// can not be updated", or a create that lost the race to another ("… already exists").
    pub fn is_busy(&self) -> bool {
        self.code.as_deref() == Some("ValidationError") && (self.message.contains("_IN_PROGRESS state") || self.message.contains("already exists and cannot be created again"))
    }

    /// "No updates are to be performed": a change that changes nothing.
    pub fn is_no_updates(&self) -> bool {
        self.message.contains("No updates are to be performed") || self.message.contains("didn't contain changes")
    }

    /// Whether CloudFormation may have started the operation despite the error: a server error or
    /// a timeout leaves it unknown, and the SDK's retry of a create that did start answers
    /// `AlreadyExistsException`.
    pub fn may_have_started(&self) -> bool {
        self.kind == ErrorKind::Timeout || self.status.is_some_and(|s| s >= 500) || self.code.as_deref() == Some("AlreadyExistsException")
    }

    pub fn other(operation: &'static str, message: impl Into<String>) -> CloudError {
        CloudError { operation, kind: ErrorKind::Other, status: None, code: None, message: message.into(), endpoint: None }
    }
}

/// The CloudFormation operations cargo-jiti uses. The SDK implements it ([`Aws`]); unit tests give
/// responses shaped as the API reference documents, for what the emulator cannot show.
pub trait StackApi: Send + Sync {
    /// One page of the account's stacks (DescribeStacks without a name), and the next page's token.
    fn stacks_page(&self, token: Option<String>) -> impl Future<Output = Result<(Vec<Stack>, Option<String>), CloudError>> + Send;
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
    fn describe_stack(&self, name: &str) -> impl Future<Output = Result<Option<Stack>, CloudError>> + Send;
    /// Creates a change set; returns its id.
    fn create_change_set(&self, request: &ChangeSetRequest) -> impl Future<Output = Result<String, CloudError>> + Send;
    /// The change set's status: `None` while CloudFormation is still computing it.
    fn change_set(&self, stack: &str, id: &str) -> impl Future<Output = Result<Option<ChangeSetOutcome>, CloudError>> + Send;
    fn execute_change_set(&self, stack: &str, id: &str) -> impl Future<Output = Result<(), CloudError>> + Send;
    /// CreateStack, for the direct method (no change set).
    fn create_stack(&self, request: &ChangeSetRequest) -> impl Future<Output = Result<(), CloudError>> + Send;
    /// UpdateStack, for the direct method. "No updates are to be performed" is an error here.
    fn update_stack(&self, request: &ChangeSetRequest) -> impl Future<Output = Result<(), CloudError>> + Send;
    fn delete_change_set(&self, stack: &str, id: &str) -> impl Future<Output = Result<(), CloudError>> + Send;
    /// The newest events of a stack (first page), newest first.
    fn stack_events(&self, stack: &str) -> impl Future<Output = Result<Vec<StackEvent>, CloudError>> + Send;
    /// The deployed template, as submitted.
    fn get_template(&self, stack: &str) -> impl Future<Output = Result<String, CloudError>> + Send;
    fn delete_stack(&self, stack: &str) -> impl Future<Output = Result<(), CloudError>> + Send;
    fn set_termination_protection(&self, stack: &str, enabled: bool) -> impl Future<Output = Result<(), CloudError>> + Send;
    /// Puts a template too large to send inline into the artifacts bucket; returns its URL.
    fn upload_template(&self, key: &str, body: &str) -> impl Future<Output = Result<String, CloudError>> + Send;
}

/// Where the release ledger lives: objects under a prefix, written once, never changed.
pub trait ReleaseStore: Send + Sync {
    /// Writes one object (creating the artifacts bucket on first use).
    fn put_object(&self, key: &str, body: &str) -> impl Future<Output = Result<(), CloudError>> + Send;
    /// Keys under `prefix`, sorted; none when the bucket does not exist yet.
    fn list_keys(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, CloudError>> + Send;
    fn get_object(&self, key: &str) -> impl Future<Output = Result<String, CloudError>> + Send;
    /// The AWS identity making the calls (an ARN), for "who deployed".
    fn caller(&self) -> impl Future<Output = Result<String, CloudError>> + Send;
}

/// The real thing: aws-sdk clients for one target.
#[derive(Debug, Clone)]
pub struct Aws {
    cfn: aws_sdk_cloudformation::Client,
    s3: aws_sdk_s3::Client,
    sts: aws_sdk_sts::Client,
    region: String,
    endpoint: Option<String>,
    artifacts: Arc<tokio::sync::OnceCell<String>>,
    identity: Arc<tokio::sync::OnceCell<(String, String)>>,
    /// What the clients below are made from, when first needed.
    shared: aws_config::SdkConfig,
    counter: CallCounter,
    resource_clients: Arc<std::sync::OnceLock<ResourceClients>>,
}

/// Clients only `gc` needs: made on first use, so that a deploy does not pay for them.
#[derive(Debug, Clone)]
struct ResourceClients {
    tagging: aws_sdk_resourcegroupstagging::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    ssm: aws_sdk_ssm::Client,
}

impl Aws {
    /// Clients for `target` from the AWS config chain, counting their calls in `counter`.
    pub async fn connect(target: &Target, options: &ConnectOptions, counter: &CallCounter) -> Aws {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(target.region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(options.max_attempts))
            .timeout_config(TimeoutConfig::builder().operation_timeout(options.operation_timeout).connect_timeout(Duration::from_secs(5)).build());
        if let Some(profile) = &target.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        let cfn = aws_sdk_cloudformation::Client::from_conf(aws_sdk_cloudformation::config::Builder::from(&shared).interceptor(counter.clone()).build());
        // A custom endpoint (an emulator on 127.0.0.1) has no bucket subdomains: address buckets by path.
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&shared).interceptor(counter.clone()).force_path_style(options.endpoint_url.is_some()).build(),
        );
        let sts = aws_sdk_sts::Client::from_conf(aws_sdk_sts::config::Builder::from(&shared).interceptor(counter.clone()).build());
        Aws {
            cfn,
            s3,
            sts,
            region: target.region.clone(),
            endpoint: options.endpoint_url.clone(),
            artifacts: Default::default(),
            identity: Default::default(),
            shared,
            counter: counter.clone(),
            resource_clients: Default::default(),
        }
    }

    fn clients(&self) -> &ResourceClients {
        self.resource_clients.get_or_init(|| {
            let (shared, counter) = (&self.shared, &self.counter);
            ResourceClients {
                tagging: aws_sdk_resourcegroupstagging::Client::from_conf(aws_sdk_resourcegroupstagging::config::Builder::from(shared).interceptor(counter.clone()).build()),
                dynamodb: aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::config::Builder::from(shared).interceptor(counter.clone()).build()),
                sqs: aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(shared).interceptor(counter.clone()).build()),
                sns: aws_sdk_sns::Client::from_conf(aws_sdk_sns::config::Builder::from(shared).interceptor(counter.clone()).build()),
                logs: aws_sdk_cloudwatchlogs::Client::from_conf(aws_sdk_cloudwatchlogs::config::Builder::from(shared).interceptor(counter.clone()).build()),
                ssm: aws_sdk_ssm::Client::from_conf(aws_sdk_ssm::config::Builder::from(shared).interceptor(counter.clone()).build()),
            }
        })
    }

    fn error<E>(&self, operation: &'static str, e: SdkError<E, HttpResponse>) -> CloudError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let kind = match &e {
            SdkError::ServiceError(_) => ErrorKind::Service,
            SdkError::TimeoutError(_) => ErrorKind::Timeout,
            SdkError::DispatchFailure(d) if d.is_timeout() => ErrorKind::Timeout,
            SdkError::DispatchFailure(_) => ErrorKind::Connect,
            _ => ErrorKind::Other,
        };
        let code = e.code().map(str::to_owned);
        let chain = cause_chain(&e);
        let kind = if kind == ErrorKind::Connect && chain.contains("loading credentials") { ErrorKind::Credentials } else { kind };
        let status = e.raw_response().map(|r| r.status().as_u16());
        let message = match (kind, e.message(), status) {
            (ErrorKind::Service, Some(m), _) => m.to_owned(),
            // An error answer without a body the SDK can read (a proxy's or a load balancer's 500,
            // say): the HTTP status is what there is to say, not the parser's complaint.
            (_, _, Some(code)) if code >= 400 => format!("the service answered HTTP {code}{} with no readable error ({chain})", http_reason(code)),
            _ => chain,
        };
        CloudError { operation, kind, status, code, message, endpoint: self.endpoint.clone() }
    }

    /// (account, ARN) of the caller, asked once.
    async fn identity(&self) -> Result<&(String, String), CloudError> {
        self.identity
            .get_or_try_init(|| async {
                let id = self.sts.get_caller_identity().send().await.map_err(|e| self.error("STS.GetCallerIdentity", e))?;
                Ok((id.account().unwrap_or("unknown").to_owned(), id.arn().unwrap_or_default().to_owned()))
            })
            .await
    }

    /// `cargo-jiti-artifacts-<account>-<region>`.
    async fn artifacts_bucket_name(&self) -> Result<String, CloudError> {
        Ok(format!("{ARTIFACTS_BUCKET_PREFIX}{}-{}", self.identity().await?.0, self.region))
    }

    /// The artifacts bucket, created on first use: tagged, encrypted, private.
    async fn artifacts_bucket(&self) -> Result<String, CloudError> {
        self.artifacts
            .get_or_try_init(|| async {
                let bucket = self.artifacts_bucket_name().await?;
                if self.s3.head_bucket().bucket(&bucket).send().await.is_ok() {
                    return Ok(bucket);
                }
                self.create_artifacts_bucket(&bucket).await?;
                Ok(bucket)
            })
            .await
            .cloned()
    }

    async fn create_artifacts_bucket(&self, bucket: &str) -> Result<(), CloudError> {
        use aws_sdk_s3::types as s3;
        let build = |e: aws_sdk_s3::error::BuildError| CloudError::other("S3.CreateBucket", e.to_string());
        let mut create = self.s3.create_bucket().bucket(bucket);
        if self.region != "us-east-1" {
            create = create.create_bucket_configuration(
                s3::CreateBucketConfiguration::builder().location_constraint(s3::BucketLocationConstraint::from(self.region.as_str())).build(),
            );
        }
        create.send().await.map_err(|e| self.error("S3.CreateBucket", e))?;
        self.s3
            .put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                s3::PublicAccessBlockConfiguration::builder().block_public_acls(true).block_public_policy(true).ignore_public_acls(true).restrict_public_buckets(true).build(),
            )
            .send()
            .await
            .map_err(|e| self.error("S3.PutPublicAccessBlock", e))?;
        let rule = s3::ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(s3::ServerSideEncryptionByDefault::builder().sse_algorithm(s3::ServerSideEncryption::Aes256).build().map_err(build)?)
            .build();
        self.s3
            .put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(s3::ServerSideEncryptionConfiguration::builder().rules(rule).build().map_err(build)?)
            .send()
            .await
            .map_err(|e| self.error("S3.PutBucketEncryption", e))?;
        let tag = s3::Tag::builder().key(crate::tagging::KEY_MANAGED_BY).value(crate::tagging::MANAGED_BY).build().map_err(build)?;
        self.s3
            .put_bucket_tagging()
            .bucket(bucket)
            .tagging(s3::Tagging::builder().tag_set(tag).build().map_err(build)?)
            .send()
            .await
            .map_err(|e| self.error("S3.PutBucketTagging", e))?;
        Ok(())
    }
}

/// The error's own message and its causes', joined, without the SDK's debug dump.
fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

impl ReleaseStore for Aws {
    async fn put_object(&self, key: &str, body: &str) -> Result<(), CloudError> {
        let bucket = self.artifacts_bucket().await?;
        self.s3
            .put_object()
            .bucket(&bucket)
            .key(key)
            .content_type("application/json")
            .body(aws_sdk_s3::primitives::ByteStream::from(body.as_bytes().to_vec()))
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(|e| self.error("S3.PutObject", e))?;
        Ok(())
    }

    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, CloudError> {
        let bucket = self.artifacts_bucket_name().await?;
        let mut pages = self.s3.list_objects_v2().bucket(&bucket).prefix(prefix).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned))),
                Err(e) => {
                    let e = self.error("S3.ListObjectsV2", e);
                    // No bucket yet: nothing was ever recorded.
                    if e.code.as_deref() == Some("NoSuchBucket") {
                        return Ok(Vec::new());
                    }
                    return Err(e);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn get_object(&self, key: &str) -> Result<String, CloudError> {
        let bucket = self.artifacts_bucket_name().await?;
        let out = self.s3.get_object().bucket(&bucket).key(key).send().await.map_err(|e| self.error("S3.GetObject", e))?;
        let bytes = out.body.collect().await.map_err(|e| CloudError::other("S3.GetObject", e.to_string()))?.into_bytes();
        String::from_utf8(bytes.to_vec()).map_err(|e| CloudError::other("S3.GetObject", e.to_string()))
    }

    async fn caller(&self) -> Result<String, CloudError> {
        Ok(self.identity().await?.1.clone())
    }
}

fn cfn_tags(tags: &[(String, String)]) -> Vec<cfn::Tag> {
    tags.iter().map(|(k, v)| cfn::Tag::builder().key(k).value(v).build()).collect()
}

/// ` Internal Server Error` for 500, and so on for the statuses an API answers with.
fn http_reason(code: u16) -> &'static str {
    match code {
        400 => " Bad Request",
        403 => " Forbidden",
        404 => " Not Found",
        429 => " Too Many Requests",
        500 => " Internal Server Error",
        502 => " Bad Gateway",
        503 => " Service Unavailable",
        504 => " Gateway Timeout",
        _ => "",
    }
}

fn cfn_parameters(parameters: &[(String, String)]) -> Vec<cfn::Parameter> {
    parameters.iter().map(|(k, v)| cfn::Parameter::builder().parameter_key(k).parameter_value(v).build()).collect()
}

/// Templates may create IAM resources with or without names, and use macros (SAM).
fn capabilities() -> Vec<cfn::Capability> {
    vec![cfn::Capability::CapabilityIam, cfn::Capability::CapabilityNamedIam, cfn::Capability::CapabilityAutoExpand]
}

fn time(t: Option<&aws_sdk_cloudformation::primitives::DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

fn stack_of(s: &cfn::Stack) -> Stack {
    Stack {
        name: s.stack_name().unwrap_or_default().to_owned(),
        id: s.stack_id().unwrap_or_default().to_owned(),
        status: s.stack_status().map(|x| x.as_str().to_owned()).unwrap_or_default(),
        status_reason: s.stack_status_reason().map(str::to_owned),
        tags: s.tags().iter().map(|t| (t.key().unwrap_or_default().to_owned(), t.value().unwrap_or_default().to_owned())).collect(),
        outputs: s.outputs().iter().filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value().unwrap_or_default().to_owned()))).collect(),
        parameters: s.parameters().iter().filter_map(|p| Some((p.parameter_key()?.to_owned(), p.parameter_value().unwrap_or_default().to_owned()))).collect(),
        created: time(s.creation_time()),
        updated: time(s.last_updated_time()),
        termination_protection: s.enable_termination_protection().unwrap_or(false),
    }
}

impl StackApi for Aws {
    async fn stacks_page(&self, token: Option<String>) -> Result<(Vec<Stack>, Option<String>), CloudError> {
        let page = self.cfn.describe_stacks().set_next_token(token).send().await.map_err(|e| self.error("CloudFormation.DescribeStacks", e))?;
        Ok((page.stacks().iter().map(stack_of).collect(), page.next_token().filter(|t| !t.is_empty()).map(str::to_owned)))
    }

    async fn describe_stack(&self, name: &str) -> Result<Option<Stack>, CloudError> {
        match self.cfn.describe_stacks().stack_name(name).send().await {
            Ok(out) => Ok(out.stacks().first().map(stack_of)),
            Err(e) => {
                let e = self.error("CloudFormation.DescribeStacks", e);
                if e.is_missing_stack() { Ok(None) } else { Err(e) }
            }
        }
    }

    async fn create_change_set(&self, r: &ChangeSetRequest) -> Result<String, CloudError> {
        let mut call = self
            .cfn
            .create_change_set()
            .stack_name(&r.stack_name)
            .change_set_name(&r.change_set_name)
            .description(&r.description)
            // moto makes a second stack of the same name when the type is left out: always say it.
            .change_set_type(match r.kind {
                ChangeSetKind::Create => cfn::ChangeSetType::Create,
                ChangeSetKind::Update => cfn::ChangeSetType::Update,
            })
            .set_tags(Some(cfn_tags(&r.tags)))
            .set_parameters(Some(cfn_parameters(&r.parameters)))
            .set_capabilities(Some(capabilities()));
        call = match &r.template {
            TemplateSource::Body(body) => call.template_body(body),
            TemplateSource::Url(url) => call.template_url(url),
        };
        let out = call.send().await.map_err(|e| self.error("CloudFormation.CreateChangeSet", e))?;
        Ok(out.id().unwrap_or(&r.change_set_name).to_owned())
    }

    async fn change_set(&self, stack: &str, id: &str) -> Result<Option<ChangeSetOutcome>, CloudError> {
        let mut changes = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .cfn
                .describe_change_set()
                .stack_name(stack)
                .change_set_name(id)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| self.error("CloudFormation.DescribeChangeSet", e))?;
            let status = out.status().map(|s| s.as_str()).unwrap_or_default();
            match status {
                "CREATE_COMPLETE" => {}
                "FAILED" => {
                    let reason = out.status_reason().unwrap_or("change set failed").to_owned();
                    let no_changes = reason.contains("didn't contain changes") || reason.contains("No updates are to be performed");
                    return Ok(Some(if no_changes { ChangeSetOutcome::NoChanges } else { ChangeSetOutcome::Failed(reason) }));
                }
                _ => return Ok(None),
            }
            for change in out.changes() {
                if let Some(rc) = change.resource_change() {
                    changes.push(Change {
                        action: rc.action().map(|a| a.as_str().to_owned()).unwrap_or_default(),
                        logical_id: rc.logical_resource_id().unwrap_or_default().to_owned(),
                        resource_type: rc.resource_type().unwrap_or_default().to_owned(),
                        replacement: rc.replacement().map(|r| r.as_str().to_owned()),
                    });
                }
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(Some(if changes.is_empty() { ChangeSetOutcome::NoChanges } else { ChangeSetOutcome::Ready(changes) }));
            }
        }
    }

    async fn execute_change_set(&self, stack: &str, id: &str) -> Result<(), CloudError> {
        self.cfn.execute_change_set().stack_name(stack).change_set_name(id).send().await.map_err(|e| self.error("CloudFormation.ExecuteChangeSet", e))?;
        Ok(())
    }

    async fn create_stack(&self, r: &ChangeSetRequest) -> Result<(), CloudError> {
        let mut call = self.cfn.create_stack().stack_name(&r.stack_name).set_tags(Some(cfn_tags(&r.tags))).set_parameters(Some(cfn_parameters(&r.parameters))).set_capabilities(Some(capabilities()));
        call = match &r.template {
            TemplateSource::Body(body) => call.template_body(body),
            TemplateSource::Url(url) => call.template_url(url),
        };
        call.send().await.map_err(|e| self.error("CloudFormation.CreateStack", e))?;
        Ok(())
    }

    async fn update_stack(&self, r: &ChangeSetRequest) -> Result<(), CloudError> {
        let mut call = self.cfn.update_stack().stack_name(&r.stack_name).set_tags(Some(cfn_tags(&r.tags))).set_parameters(Some(cfn_parameters(&r.parameters))).set_capabilities(Some(capabilities()));
        call = match &r.template {
            TemplateSource::Body(body) => call.template_body(body),
            TemplateSource::Url(url) => call.template_url(url),
        };
        call.send().await.map_err(|e| self.error("CloudFormation.UpdateStack", e))?;
        Ok(())
    }

    async fn delete_change_set(&self, stack: &str, id: &str) -> Result<(), CloudError> {
        self.cfn.delete_change_set().stack_name(stack).change_set_name(id).send().await.map_err(|e| self.error("CloudFormation.DeleteChangeSet", e))?;
        Ok(())
    }

    async fn stack_events(&self, stack: &str) -> Result<Vec<StackEvent>, CloudError> {
        let out = self.cfn.describe_stack_events().stack_name(stack).send().await.map_err(|e| self.error("CloudFormation.DescribeStackEvents", e))?;
        Ok(out
            .stack_events()
            .iter()
            .map(|e| StackEvent {
                id: e.event_id().unwrap_or_default().to_owned(),
                timestamp: time(e.timestamp()),
                logical_id: e.logical_resource_id().unwrap_or_default().to_owned(),
                resource_type: e.resource_type().unwrap_or_default().to_owned(),
                status: e.resource_status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                reason: e.resource_status_reason().map(str::to_owned),
            })
            .collect())
    }

    async fn get_template(&self, stack: &str) -> Result<String, CloudError> {
        let out = self
            .cfn
            .get_template()
            .stack_name(stack)
            .template_stage(cfn::TemplateStage::Original)
            .send()
            .await
            .map_err(|e| self.error("CloudFormation.GetTemplate", e))?;
        Ok(out.template_body().unwrap_or_default().to_owned())
    }

    async fn delete_stack(&self, stack: &str) -> Result<(), CloudError> {
        self.cfn.delete_stack().stack_name(stack).send().await.map_err(|e| self.error("CloudFormation.DeleteStack", e))?;
        Ok(())
    }

    async fn set_termination_protection(&self, stack: &str, enabled: bool) -> Result<(), CloudError> {
        // Callers treat a failure as a warning, so retrying long (moto answers 500) is not worth it.
        let few_retries = aws_sdk_cloudformation::config::Builder::default().retry_config(RetryConfig::standard().with_max_attempts(2));
        self.cfn
            .update_termination_protection()
            .stack_name(stack)
            .enable_termination_protection(enabled)
            .customize()
            .config_override(few_retries)
            .send()
            .await
            .map_err(|e| self.error("CloudFormation.UpdateTerminationProtection", e))?;
        Ok(())
    }

    async fn upload_template(&self, key: &str, body: &str) -> Result<String, CloudError> {
        let bucket = self.artifacts_bucket().await?;
        self.s3
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from(body.as_bytes().to_vec()))
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(|e| self.error("S3.PutObject", e))?;
        Ok(format!("https://{bucket}.s3.amazonaws.com/{key}"))
    }
}

/// Times as RFC 3339 (UTC, seconds) in JSON reports.
pub fn serialize_time<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&humantime::format_rfc3339_seconds(*t).to_string()),
        None => s.serialize_none(),
    }
}
