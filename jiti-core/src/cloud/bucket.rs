//! The artifacts bucket (`cargo-jiti-artifacts-<account>-<region>`, see [`crate::layout`]): made
//! on first use, private, encrypted and tagged; it holds the release ledger ([`ReleaseStore`]) and
//! templates too large to send inline.

use super::{Aws, CloudError, ReleaseStore};
use crate::layout;

impl Aws {
    /// The artifacts bucket's name for this target's account and region.
    async fn artifacts_bucket_name(&self) -> Result<String, CloudError> {
        Ok(layout::artifacts_bucket(&self.identity().await?.0, &self.region))
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

    /// Puts one JSON object into the artifacts bucket (made on first use), encrypted; returns the
    /// bucket's name.
    pub(super) async fn put_artifact(&self, key: &str, body: &str) -> Result<String, CloudError> {
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
        Ok(bucket)
    }

    async fn create_artifacts_bucket(&self, bucket: &str) -> Result<(), CloudError> {
        use aws_sdk_s3::types as s3;
        let build =
            |e: aws_sdk_s3::error::BuildError| CloudError::other("S3.CreateBucket", e.to_string());
        let mut create = self.s3.create_bucket().bucket(bucket);
        if self.region != "us-east-1" {
            create = create.create_bucket_configuration(
                s3::CreateBucketConfiguration::builder()
                    .location_constraint(s3::BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        create.send().await.map_err(|e| self.error("S3.CreateBucket", e))?;
        self.s3
            .put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                s3::PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .block_public_policy(true)
                    .ignore_public_acls(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.error("S3.PutPublicAccessBlock", e))?;
        let rule = s3::ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                s3::ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(s3::ServerSideEncryption::Aes256)
                    .build()
                    .map_err(build)?,
            )
            .build();
        self.s3
            .put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(
                s3::ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .map_err(build)?,
            )
            .send()
            .await
            .map_err(|e| self.error("S3.PutBucketEncryption", e))?;
        let tag = s3::Tag::builder()
            .key(crate::tagging::KEY_MANAGED_BY)
            .value(crate::tagging::MANAGED_BY)
            .build()
            .map_err(build)?;
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

impl ReleaseStore for Aws {
    async fn put_object(&self, key: &str, body: &str) -> Result<(), CloudError> {
        self.put_artifact(key, body).await.map(drop)
    }

    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, CloudError> {
        let bucket = self.artifacts_bucket_name().await?;
        let mut pages =
            self.s3.list_objects_v2().bucket(&bucket).prefix(prefix).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => {
                    keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)))
                }
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
        let out = self
            .s3
            .get_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.error("S3.GetObject", e))?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| CloudError::other("S3.GetObject", e.to_string()))?
            .into_bytes();
        String::from_utf8(bytes.to_vec())
            .map_err(|e| CloudError::other("S3.GetObject", e.to_string()))
    }

    async fn caller(&self) -> Result<String, CloudError> {
        Ok(self.identity().await?.1.clone())
    }
}
