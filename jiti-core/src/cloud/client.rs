//! Clients for one target from the standard AWS config chain (profiles, environment,
//! `AWS_ENDPOINT_URL`), with retries (exponential backoff and jitter on throttling and transient
//! errors) and timeouts, counting every call they make.
//!
//! Why standard retries, not the SDK's adaptive mode: adaptive mode's client-side rate limiter
//! learns the rate from the caller's own traffic, and cargo-jiti's traffic is sparse (a listing,
//! a few calls per app, polls). Measured through a proxy throttling every third request, two
//! throttles made one deploy take 42 s in adaptive mode and 1.1 s in standard mode.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_cloudformation::config::ConfigBag;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use super::{CloudError, Target};

/// The region AWS's own tools (the SDKs, the AWS CLI) use for `profile` (`None`: `AWS_PROFILE`,
/// else `default`), and which link of their chain gave it: `AWS_REGION`/`AWS_DEFAULT_REGION`, then
/// the profile's `region` in the config files (`AWS_CONFIG_FILE`, `~/.aws/config`), then, when
/// `instance_metadata` is set, EC2 instance metadata. The links are the SDK's own providers, taken
/// one by one (rather than its `DefaultRegionChain`) only to say which one answered.
pub async fn chain_region(
    profile: Option<&str>,
    instance_metadata: bool,
) -> Option<crate::resolve::ChainRegion> {
    use aws_config::meta::region::ProvideRegion;
    let found = |region: aws_config::Region, from: String| crate::resolve::ChainRegion {
        region: region.to_string(),
        from,
    };
    if let Some(region) =
        aws_config::environment::region::EnvironmentVariableRegionProvider::new().region().await
    {
        return Some(found(region, "AWS_REGION or AWS_DEFAULT_REGION".to_owned()));
    }
    let mut file = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(profile) = profile {
        file = file.profile_name(profile);
    }
    if let Some(region) = file.build().region().await {
        let name = profile.map_or_else(
            || "the default profile (AWS_PROFILE or `default`)".to_owned(),
            |p| format!("profile `{p}`"),
        );
        return Some(found(region, format!("{name} of the AWS config file")));
    }
    if instance_metadata
        && let Some(region) =
            aws_config::imds::region::ImdsRegionProvider::builder().build().region().await
    {
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
        ConnectOptions {
            endpoint_url: None,
            max_attempts: 5,
            operation_timeout: Duration::from_secs(120),
        }
    }
}

/// API calls made, by operation (`CloudFormation.DescribeStacks`): calls, and attempts (calls plus retries).
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<BTreeMap<String, CallCount>>>);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
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
        let name = cfg
            .load::<Metadata>()
            .map_or_else(|| "unknown".to_owned(), |m| format!("{}.{}", m.service(), m.name()));
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
    fn read_after_execution(
        &self,
        _: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.bump(cfg, false);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.bump(cfg, true);
        Ok(())
    }
}

/// The real thing: aws-sdk clients for one target.
#[derive(Debug, Clone)]
pub struct Aws {
    pub(super) cfn: aws_sdk_cloudformation::Client,
    pub(super) s3: aws_sdk_s3::Client,
    pub(super) sts: aws_sdk_sts::Client,
    pub(super) region: String,
    pub(super) endpoint: Option<String>,
    pub(super) artifacts: Arc<tokio::sync::OnceCell<String>>,
    pub(super) identity: Arc<tokio::sync::OnceCell<(String, String)>>,
    /// What the clients below are made from, when first needed.
    shared: aws_config::SdkConfig,
    counter: CallCounter,
    resource_clients: Arc<std::sync::OnceLock<ResourceClients>>,
}

/// Clients only `gc` and the check of a deploy's functions need: made on first use, so that a
/// deploy without functions does not pay for them.
#[derive(Debug, Clone)]
pub(super) struct ResourceClients {
    pub(super) tagging: aws_sdk_resourcegroupstagging::Client,
    pub(super) dynamodb: aws_sdk_dynamodb::Client,
    pub(super) sqs: aws_sdk_sqs::Client,
    pub(super) sns: aws_sdk_sns::Client,
    pub(super) logs: aws_sdk_cloudwatchlogs::Client,
    pub(super) ssm: aws_sdk_ssm::Client,
    pub(super) lambda: aws_sdk_lambda::Client,
}

impl Aws {
    /// Clients for `target` from the AWS config chain, counting their calls in `counter`.
    pub async fn connect(target: &Target, options: &ConnectOptions, counter: &CallCounter) -> Aws {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(target.region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(options.max_attempts))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(options.operation_timeout)
                    .connect_timeout(Duration::from_secs(5))
                    .build(),
            );
        if let Some(profile) = &target.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        let cfn = aws_sdk_cloudformation::Client::from_conf(
            aws_sdk_cloudformation::config::Builder::from(&shared)
                .interceptor(counter.clone())
                .build(),
        );
        // A custom endpoint (an emulator on 127.0.0.1) has no bucket subdomains: address buckets by path.
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&shared)
                .interceptor(counter.clone())
                .force_path_style(options.endpoint_url.is_some())
                .build(),
        );
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&shared).interceptor(counter.clone()).build(),
        );
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

    pub(super) fn clients(&self) -> &ResourceClients {
        self.resource_clients.get_or_init(|| {
            let (shared, counter) = (&self.shared, &self.counter);
            ResourceClients {
                tagging: aws_sdk_resourcegroupstagging::Client::from_conf(
                    aws_sdk_resourcegroupstagging::config::Builder::from(shared)
                        .interceptor(counter.clone())
                        .build(),
                ),
                dynamodb: aws_sdk_dynamodb::Client::from_conf(
                    aws_sdk_dynamodb::config::Builder::from(shared)
                        .interceptor(counter.clone())
                        .build(),
                ),
                sqs: aws_sdk_sqs::Client::from_conf(
                    aws_sdk_sqs::config::Builder::from(shared).interceptor(counter.clone()).build(),
                ),
                sns: aws_sdk_sns::Client::from_conf(
                    aws_sdk_sns::config::Builder::from(shared).interceptor(counter.clone()).build(),
                ),
                logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                    aws_sdk_cloudwatchlogs::config::Builder::from(shared)
                        .interceptor(counter.clone())
                        .build(),
                ),
                ssm: aws_sdk_ssm::Client::from_conf(
                    aws_sdk_ssm::config::Builder::from(shared).interceptor(counter.clone()).build(),
                ),
                lambda: aws_sdk_lambda::Client::from_conf(
                    aws_sdk_lambda::config::Builder::from(shared)
                        .interceptor(counter.clone())
                        .build(),
                ),
            }
        })
    }

    pub(super) fn error<E>(
        &self,
        operation: &'static str,
        e: SdkError<E, HttpResponse>,
    ) -> CloudError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        super::error::classify(operation, e, self.endpoint.as_deref())
    }

    /// (account, ARN) of the caller, asked once.
    pub(super) async fn identity(&self) -> Result<&(String, String), CloudError> {
        self.identity
            .get_or_try_init(|| async {
                let id = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| self.error("STS.GetCallerIdentity", e))?;
                Ok((
                    id.account().unwrap_or("unknown").to_owned(),
                    id.arn().unwrap_or_default().to_owned(),
                ))
            })
            .await
    }
}
