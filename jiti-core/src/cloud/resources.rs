//! Resources outside any stack: found by tag (Resource Groups Tagging API) and deleted through their
//! own service's API. `gc` uses it for what outlived its stack (retained buckets, tables, logs).
//!
//! Only the types below are ever deleted, each by the name its ARN gives; any other ARN is not
//! guessed at (see [`Deletable::from_arn`]).

use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_s3::types as s3;

use super::{Aws, CloudError};

/// A resource as the Tagging API reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct TaggedResource {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

/// A resource cargo-jiti knows how to delete, named as its service's delete call wants it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Deletable {
    /// Emptied first: every object version and delete marker.
    S3Bucket {
        name: String,
    },
    DynamoDbTable {
        name: String,
    },
    SqsQueue {
        account: String,
        name: String,
    },
    SnsTopic {
        arn: String,
    },
    LogGroup {
        name: String,
    },
    /// The ARN's `parameter/x` names either `x` or `/x` (SSM leaves the leading slash out of
    /// ARNs); when both are possible the deleter asks each one's tags which is meant.
    SsmParameter {
        names: Vec<String>,
    },
}

impl Deletable {
    /// What deletes the resource of `arn`, or `None` for a type (or sub-resource) cargo-jiti
    /// does not delete.
    pub fn from_arn(arn: &str) -> Option<Deletable> {
        let mut parts = arn.splitn(6, ':');
        let (
            Some("arn"),
            Some(_partition),
            Some(service),
            Some(_region),
            Some(account),
            Some(resource),
        ) = (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let plain = |s: &str| !s.is_empty() && !s.contains([':', '/']);
        match service {
            "s3" if plain(resource) => Some(Deletable::S3Bucket { name: resource.to_owned() }),
            "dynamodb" => resource
                .strip_prefix("table/")
                .filter(|n| plain(n))
                .map(|n| Deletable::DynamoDbTable { name: n.to_owned() }),
            "sqs" if plain(resource) => {
                Some(Deletable::SqsQueue { account: account.to_owned(), name: resource.to_owned() })
            }
            "sns" if plain(resource) => Some(Deletable::SnsTopic { arn: arn.to_owned() }),
            "logs" => {
                let name = resource.strip_prefix("log-group:")?;
                let name = name.strip_suffix(":*").unwrap_or(name);
                (!name.is_empty() && !name.contains(':'))
                    .then(|| Deletable::LogGroup { name: name.to_owned() })
            }
            "ssm" => {
                let rest = resource.strip_prefix("parameter/").filter(|r| !r.is_empty())?;
                // A hierarchical name starts with `/` and only it may hold more; a plain one may
                // or may not have had a leading slash.
                let names = match rest.contains('/') {
                    true => vec![format!("/{rest}")],
                    false => vec![rest.to_owned(), format!("/{rest}")],
                };
                Some(Deletable::SsmParameter { names })
            }
            _ => None,
        }
    }

    /// A short name of the type, for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Deletable::S3Bucket { .. } => "S3 bucket",
            Deletable::DynamoDbTable { .. } => "DynamoDB table",
            Deletable::SqsQueue { .. } => "SQS queue",
            Deletable::SnsTopic { .. } => "SNS topic",
            Deletable::LogGroup { .. } => "log group",
            Deletable::SsmParameter { .. } => "SSM parameter",
        }
    }
}

/// How a deletion ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Removal {
    Deleted,
    /// Nothing to delete any more (its stack took it, or someone else did).
    AlreadyGone,
}

/// Finding resources by tag and deleting them. The SDK implements it ([`Aws`]).
pub trait ResourceApi: Send + Sync {
    /// Every resource whose tag `key` has one of `values` (all pages).
    fn tagged_resources(
        &self,
        key: &str,
        values: &[String],
    ) -> impl Future<Output = Result<Vec<TaggedResource>, CloudError>> + Send;
    /// Deletes one resource. `tags` are the tags it was found with: where the ARN is ambiguous
    /// (SSM), only the candidate carrying them is deleted.
    fn delete_resource(
        &self,
        what: &Deletable,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Removal, CloudError>> + Send;
    /// The log groups whose name starts with `prefix`, as (name, ARN) (all pages).
    fn log_groups(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, CloudError>> + Send;
    /// The region a bucket lives in (`None`: gone, or not told).
    fn bucket_region(
        &self,
        bucket: &str,
    ) -> impl Future<Output = Result<Option<String>, CloudError>> + Send;
}

/// The Tagging API takes at most 20 values per tag filter.
const VALUES_PER_FILTER: usize = 20;

/// Pages end at 100 resources or at this many tags, whichever comes first (the default, 100 tags,
/// is fewer than ten of our resources a page).
const TAGS_PER_PAGE: i32 = 500;

/// S3's DeleteObjects takes at most 1,000 keys.
const KEYS_PER_DELETE: usize = 1000;

impl ResourceApi for Aws {
    async fn tagged_resources(
        &self,
        key: &str,
        values: &[String],
    ) -> Result<Vec<TaggedResource>, CloudError> {
        use aws_sdk_resourcegroupstagging::types::TagFilter;
        // One paginated query per filter of 20 values, the queries side by side: pages of one
        // query follow each other, but a workspace of 50 apps need not wait three times as long.
        let queries = values.chunks(VALUES_PER_FILTER).map(|chunk| async move {
            let filter = TagFilter::builder().key(key).set_values(Some(chunk.to_vec())).build();
            let mut pages = self
                .clients()
                .tagging
                .get_resources()
                .tag_filters(filter)
                .resources_per_page(100)
                .tags_per_page(TAGS_PER_PAGE)
                .into_paginator()
                .send();
            let mut out = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.error("Tagging.GetResources", e))?;
                out.extend(page.resource_tag_mapping_list().iter().map(|m| {
                    TaggedResource {
                        arn: m.resource_arn().unwrap_or_default().to_owned(),
                        tags: m
                            .tags()
                            .iter()
                            .map(|t| (t.key().to_owned(), t.value().to_owned()))
                            .collect(),
                    }
                }));
            }
            Ok::<_, CloudError>(out)
        });
        Ok(futures_util::future::try_join_all(queries).await?.into_iter().flatten().collect())
    }

    async fn log_groups(&self, prefix: &str) -> Result<Vec<(String, String)>, CloudError> {
        let mut pages = self
            .clients()
            .logs
            .describe_log_groups()
            .log_group_name_prefix(prefix)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("Logs.DescribeLogGroups", e))?;
            out.extend(
                page.log_groups()
                    .iter()
                    .filter_map(|g| Some((g.log_group_name()?.to_owned(), g.arn()?.to_owned()))),
            );
        }
        Ok(out)
    }

    async fn bucket_region(&self, bucket: &str) -> Result<Option<String>, CloudError> {
        // GetBucketLocation answers from any region; no constraint means us-east-1, `EU` eu-west-1.
        match self.s3.get_bucket_location().bucket(bucket).send().await {
            Ok(out) => Ok(Some(match out.location_constraint().map(|c| c.as_str()) {
                None | Some("") => "us-east-1".to_owned(),
                Some("EU") => "eu-west-1".to_owned(),
                Some(region) => region.to_owned(),
            })),
            Err(e) => {
                let e = self.error("S3.GetBucketLocation", e);
                if e.code.as_deref() == Some("NoSuchBucket") { Ok(None) } else { Err(e) }
            }
        }
    }

    async fn delete_resource(
        &self,
        what: &Deletable,
        tags: &BTreeMap<String, String>,
    ) -> Result<Removal, CloudError> {
        let c = self.clients();
        // Each service says "not found" its own way; all of them mean the same here.
        let gone =
            |e: &CloudError, codes: &[&str]| e.code.as_deref().is_some_and(|c| codes.contains(&c));
        let result = match what {
            // A bucket deleted with its stack answers NoSuchBucket already while being emptied.
            Deletable::S3Bucket { name } => match self.empty_bucket(name).await {
                Ok(()) => self
                    .s3
                    .delete_bucket()
                    .bucket(name)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| self.error("S3.DeleteBucket", e)),
                Err(e) => Err(e),
            },
            Deletable::DynamoDbTable { name } => c
                .dynamodb
                .delete_table()
                .table_name(name)
                .send()
                .await
                .map(drop)
                .map_err(|e| self.error("DynamoDB.DeleteTable", e)),
            Deletable::SqsQueue { account, name } => {
                let url = c
                    .sqs
                    .get_queue_url()
                    .queue_name(name)
                    .queue_owner_aws_account_id(account)
                    .send()
                    .await
                    .map_err(|e| self.error("SQS.GetQueueUrl", e));
                match url {
                    Ok(url) => c
                        .sqs
                        .delete_queue()
                        .queue_url(url.queue_url().unwrap_or_default())
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| self.error("SQS.DeleteQueue", e)),
                    Err(e) => Err(e),
                }
            }
            Deletable::SnsTopic { arn } => {
                // DeleteTopic succeeds for a topic that does not exist: ask first, to report truly.
                match c
                    .sns
                    .get_topic_attributes()
                    .topic_arn(arn)
                    .send()
                    .await
                    .map_err(|e| self.error("SNS.GetTopicAttributes", e))
                {
                    Ok(_) => c
                        .sns
                        .delete_topic()
                        .topic_arn(arn)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| self.error("SNS.DeleteTopic", e)),
                    Err(e) => Err(e),
                }
            }
            Deletable::LogGroup { name } => c
                .logs
                .delete_log_group()
                .log_group_name(name)
                .send()
                .await
                .map(drop)
                .map_err(|e| self.error("Logs.DeleteLogGroup", e)),
            Deletable::SsmParameter { names } => {
                match self.ssm_parameter_carrying(names, tags).await? {
                    Some(name) => c
                        .ssm
                        .delete_parameter()
                        .name(name)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| self.error("SSM.DeleteParameter", e)),
                    None => return Ok(Removal::AlreadyGone),
                }
            }
        };
        match result {
            Ok(()) => Ok(Removal::Deleted),
            Err(e)
                if gone(
                    &e,
                    &[
                        "NoSuchBucket",
                        "ResourceNotFoundException",
                        "AWS.SimpleQueueService.NonExistentQueue",
                        "QueueDoesNotExist",
                        "NotFound",
                        "ParameterNotFound",
                    ],
                ) =>
            {
                Ok(Removal::AlreadyGone)
            }
            Err(e) => Err(e),
        }
    }
}

impl Aws {
    /// Deletes every object version and delete marker of `bucket`, a page at a time.
    async fn empty_bucket(&self, bucket: &str) -> Result<(), CloudError> {
        let s3c = &self.s3;
        let build =
            |e: aws_sdk_s3::error::BuildError| CloudError::other("S3.DeleteObjects", e.to_string());
        let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let page = s3c
                .list_object_versions()
                .bucket(bucket)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| self.error("S3.ListObjectVersions", e))?;
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id()));
            let ids: Vec<s3::ObjectIdentifier> = versions
                .chain(markers)
                .filter_map(|(key, version)| {
                    s3::ObjectIdentifier::builder()
                        .key(key?)
                        .set_version_id(version.map(str::to_owned))
                        .build()
                        .ok()
                })
                .collect();
            for chunk in ids.chunks(KEYS_PER_DELETE) {
                let delete = s3::Delete::builder()
                    .set_objects(Some(chunk.to_vec()))
                    .quiet(true)
                    .build()
                    .map_err(build)?;
                let out = s3c
                    .delete_objects()
                    .bucket(bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| self.error("S3.DeleteObjects", e))?;
                if let Some(err) = out.errors().first() {
                    let what = format!(
                        "{} of {} objects not deleted, first `{}`: {}",
                        out.errors().len(),
                        chunk.len(),
                        err.key().unwrap_or_default(),
                        err.message().unwrap_or_default()
                    );
                    return Err(CloudError {
                        code: err.code().map(str::to_owned),
                        ..CloudError::other("S3.DeleteObjects", what)
                    });
                }
            }
            if page.is_truncated() != Some(true) {
                return Ok(());
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
    }

    /// Which of `names` is the parameter carrying `tags`' jiti tags; `None` when none exists.
    async fn ssm_parameter_carrying(
        &self,
        names: &[String],
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<String>, CloudError> {
        if let [name] = names {
            return Ok(Some(name.clone()));
        }
        let ssm = &self.clients().ssm;
        for name in names {
            let listed = ssm
                .list_tags_for_resource()
                .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
                .resource_id(name)
                .send()
                .await;
            let listed = match listed.map_err(|e| self.error("SSM.ListTagsForResource", e)) {
                Ok(out) => out
                    .tag_list()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect::<BTreeMap<_, _>>(),
                Err(e)
                    if matches!(
                        e.code.as_deref(),
                        Some("InvalidResourceId" | "ParameterNotFound")
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            if crate::tagging::JITI_KEYS.iter().all(|k| listed.get(*k) == tags.get(*k)) {
                return Ok(Some(name.clone()));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_what_their_service_deletes() {
        let d = Deletable::from_arn;
        assert_eq!(
            d("arn:aws:s3:::shop-bucket"),
            Some(Deletable::S3Bucket { name: "shop-bucket".into() })
        );
        assert_eq!(d("arn:aws:s3:::shop-bucket/key"), None, "an object is not a bucket");
        assert_eq!(
            d("arn:aws:dynamodb:eu-west-1:1:table/orders"),
            Some(Deletable::DynamoDbTable { name: "orders".into() })
        );
        assert_eq!(d("arn:aws:dynamodb:eu-west-1:1:table/orders/stream/2020"), None);
        assert_eq!(
            d("arn:aws-cn:sqs:cn-north-1:1:jobs.fifo"),
            Some(Deletable::SqsQueue { account: "1".into(), name: "jobs.fifo".into() })
        );
        assert_eq!(
            d("arn:aws:sns:eu-west-1:1:events"),
            Some(Deletable::SnsTopic { arn: "arn:aws:sns:eu-west-1:1:events".into() })
        );
        assert_eq!(d("arn:aws:sns:eu-west-1:1:events:6d3c"), None, "a subscription is not a topic");
        assert_eq!(
            d("arn:aws:logs:eu-west-1:1:log-group:/aws/lambda/f:*"),
            Some(Deletable::LogGroup { name: "/aws/lambda/f".into() })
        );
        assert_eq!(
            d("arn:aws:logs:eu-west-1:1:log-group:/shop/billing"),
            Some(Deletable::LogGroup { name: "/shop/billing".into() })
        );
        assert_eq!(
            d("arn:aws:ssm:eu-west-1:1:parameter/shop/url"),
            Some(Deletable::SsmParameter { names: vec!["/shop/url".into()] })
        );
        assert_eq!(
            d("arn:aws:ssm:eu-west-1:1:parameter/url"),
            Some(Deletable::SsmParameter { names: vec!["url".into(), "/url".into()] })
        );
        for other in [
            "arn:aws:lambda:eu-west-1:1:function:f",
            "arn:aws:iam::1:role/r",
            "arn:aws:ssm:eu-west-1:1:document/d",
            "not-an-arn",
            "arn:aws:s3:::",
        ] {
            assert_eq!(d(other), None, "{other}");
        }
    }
}
