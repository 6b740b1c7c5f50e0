//! CloudFormation drift detection for [`Aws`]: DetectStackDrift, its status, the resources' drifts.

use super::{Aws, CloudError, Detection, DriftApi, PropertyDifference, ResourceDrift};

impl DriftApi for Aws {
    async fn detect_drift(&self, stack: &str) -> Result<String, CloudError> {
        let out = self
            .cfn
            .detect_stack_drift()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| self.error("CloudFormation.DetectStackDrift", e))?;
        Ok(out.stack_drift_detection_id().unwrap_or_default().to_owned())
    }

    async fn drift_detection(&self, id: &str) -> Result<Option<Detection>, CloudError> {
        use aws_sdk_cloudformation::types::{StackDriftDetectionStatus, StackDriftStatus};
        let out = self
            .cfn
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(id)
            .send()
            .await
            .map_err(|e| self.error("CloudFormation.DescribeStackDriftDetectionStatus", e))?;
        Ok(match out.detection_status() {
            Some(StackDriftDetectionStatus::DetectionInProgress) | None => None,
            Some(StackDriftDetectionStatus::DetectionFailed) => Some(Detection::Failed(
                out.detection_status_reason().unwrap_or("no reason given").to_owned(),
            )),
            _ => Some(Detection::Complete {
                drifted: out.stack_drift_status() == Some(&StackDriftStatus::Drifted),
            }),
        })
    }

    async fn resource_drifts(&self, stack: &str) -> Result<Vec<ResourceDrift>, CloudError> {
        let mut pages =
            self.cfn.describe_stack_resource_drifts().stack_name(stack).into_paginator().send();
        let mut drifts = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| self.error("CloudFormation.DescribeStackResourceDrifts", e))?;
            for d in page.stack_resource_drifts() {
                drifts.push(ResourceDrift {
                    logical_id: d.logical_resource_id().unwrap_or_default().to_owned(),
                    physical_id: d.physical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: d.resource_type().unwrap_or_default().to_owned(),
                    status: d
                        .stack_resource_drift_status()
                        .map(|s| s.as_str())
                        .unwrap_or("UNKNOWN")
                        .to_owned(),
                    differences: d
                        .property_differences()
                        .iter()
                        .map(|p| PropertyDifference {
                            path: p.property_path().unwrap_or_default().to_owned(),
                            expected: p.expected_value().unwrap_or_default().to_owned(),
                            actual: p.actual_value().unwrap_or_default().to_owned(),
                            kind: p
                                .difference_type()
                                .map(|t| t.as_str())
                                .unwrap_or_default()
                                .to_owned(),
                        })
                        .collect(),
                });
            }
        }
        Ok(drifts)
    }
}
