//! The artifacts bucket (`cargo-jiti-artifacts-<account>-<region>`, see [`crate::layout`]): made
//! on first use, private, encrypted and tagged; it holds the release ledger ([`ReleaseStore`]),
//! templates too large to send inline, and the apps' built code ([`ArtifactStore`]).

use aws_sdk_s3::primitives::ByteStream;

use super::{ArtifactStore, Aws, CloudError, MULTIPART_THRESHOLD, ReleaseStore, StoredObject};
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
            .body(ByteStream::from(body.as_bytes().to_vec()))
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

impl ArtifactStore for Aws {
    async fn bucket(&self) -> Result<String, CloudError> {
        self.artifacts_bucket().await
    }

    async fn bucket_name(&self) -> Result<String, CloudError> {
        self.artifacts_bucket_name().await
    }

    async fn object_size(&self, key: &str) -> Result<Option<u64>, CloudError> {
        let bucket = self.artifacts_bucket_name().await?;
        match self.s3.head_object().bucket(&bucket).key(key).send().await {
            Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
            // A HEAD answer has no body: a missing key (or bucket) is a bare 404.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(self.error("S3.HeadObject", e)),
        }
    }

    async fn put_package(&self, key: &str, bytes: Vec<u8>) -> Result<(), CloudError> {
        let bucket = self.artifacts_bucket().await?;
        if bytes.len() <= MULTIPART_THRESHOLD {
            self.s3
                .put_object()
                .bucket(&bucket)
                .key(key)
                .content_type("application/zip")
                .body(ByteStream::from(bytes))
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
                .send()
                .await
                .map_err(|e| self.error("S3.PutObject", e))?;
            return Ok(());
        }
        self.put_in_parts(&bucket, key, bytes).await
    }

    async fn put_new_package(&self, key: &str, bytes: Vec<u8>) -> Result<bool, CloudError> {
        if bytes.len() > MULTIPART_THRESHOLD {
            // A multipart upload has no one-call condition: look first.
            if self.object_size(key).await?.is_some() {
                return Ok(false);
            }
            self.put_package(key, bytes).await?;
            return Ok(true);
        }
        let bucket = self.artifacts_bucket().await?;
        let sent = self
            .s3
            .put_object()
            .bucket(&bucket)
            .key(key)
            .if_none_match("*")
            .content_type("application/zip")
            .body(ByteStream::from(bytes))
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            // 412: the key holds an object (the same bytes: keys are hashes); 409: another
            // upload of it is under way.
            Err(e)
                if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.error("S3.PutObject", e)),
        }
    }

    async fn list_objects(&self, prefix: &str) -> Result<Vec<StoredObject>, CloudError> {
        let bucket = self.artifacts_bucket_name().await?;
        let mut pages =
            self.s3.list_objects_v2().bucket(&bucket).prefix(prefix).into_paginator().send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    let e = self.error("S3.ListObjectsV2", e);
                    if e.code.as_deref() == Some("NoSuchBucket") {
                        return Ok(Vec::new());
                    }
                    return Err(e);
                }
            };
            objects.extend(page.contents().iter().filter_map(|o| {
                Some(StoredObject {
                    key: o.key()?.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    modified: o
                        .last_modified()
                        .and_then(|t| std::time::SystemTime::try_from(*t).ok()),
                })
            }));
        }
        Ok(objects)
    }

    async fn delete_objects(&self, keys: &[String]) -> Result<(), CloudError> {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        let bucket = self.artifacts_bucket_name().await?;
        let build =
            |e: aws_sdk_s3::error::BuildError| CloudError::other("S3.DeleteObjects", e.to_string());
        for batch in keys.chunks(1000) {
            let objects = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(build)?;
            let out = self
                .s3
                .delete_objects()
                .bucket(&bucket)
                .delete(
                    Delete::builder()
                        .set_objects(Some(objects))
                        .quiet(true)
                        .build()
                        .map_err(build)?,
                )
                .send()
                .await
                .map_err(|e| self.error("S3.DeleteObjects", e))?;
            if let Some(failed) = out.errors().first() {
                return Err(CloudError::other(
                    "S3.DeleteObjects",
                    format!(
                        "could not delete `{}` ({} of {} failed): {}",
                        failed.key().unwrap_or_default(),
                        out.errors().len(),
                        batch.len(),
                        failed.message().unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn publish(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        expires: std::time::Duration,
    ) -> Result<String, CloudError> {
        let bucket = self.artifacts_bucket().await?;
        self.s3
            .put_object()
            .bucket(&bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(|e| self.error("S3.PutObject", e))?;
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(expires)
            .map_err(|e| CloudError::other("S3.GetObject (presign)", e.to_string()))?;
        // Signed here, no call made: the URL carries the caller's signature until it expires.
        let request = self
            .s3
            .get_object()
            .bucket(&bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| self.error("S3.GetObject (presign)", e))?;
        Ok(request.uri().to_owned())
    }
}

impl Aws {
    /// A multipart upload, aborted when a part fails so that no invisible parts are left to pay for.
    async fn put_in_parts(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
    ) -> Result<(), CloudError> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let upload = self
            .s3
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .content_type("application/zip")
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(|e| self.error("S3.CreateMultipartUpload", e))?;
        let id = upload.upload_id().unwrap_or_default().to_owned();
        let mut parts = Vec::new();
        for (i, chunk) in bytes.chunks(MULTIPART_THRESHOLD).enumerate() {
            let number = i as i32 + 1;
            let sent = self
                .s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&id)
                .part_number(number)
                .body(ByteStream::from(chunk.to_vec()))
                .send()
                .await;
            match sent {
                Ok(out) => parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag().map(str::to_owned))
                        .build(),
                ),
                Err(e) => {
                    let _ = self
                        .s3
                        .abort_multipart_upload()
                        .bucket(bucket)
                        .key(key)
                        .upload_id(&id)
                        .send()
                        .await;
                    return Err(self.error("S3.UploadPart", e));
                }
            }
        }
        self.s3
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| self.error("S3.CompleteMultipartUpload", e))?;
        Ok(())
    }
}
