//! Lambda and the stack's resources: which functions a stack made and the `CodeSha256` each runs
//! (the check after a deploy), and new code put straight into a function (hotswap).

use super::{Aws, CloudError, FunctionApi, FunctionState, UpdateStatus};

impl FunctionApi for Aws {
    async fn stack_functions(&self, stack: &str) -> Result<Vec<(String, String)>, CloudError> {
        let mut pages = self.cfn.list_stack_resources().stack_name(stack).into_paginator().send();
        let mut functions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("CloudFormation.ListStackResources", e))?;
            for r in page.stack_resource_summaries() {
                if r.resource_type() == Some("AWS::Lambda::Function")
                    && let (Some(logical), Some(physical)) =
                        (r.logical_resource_id(), r.physical_resource_id())
                {
                    functions.push((logical.to_owned(), physical.to_owned()));
                }
            }
        }
        Ok(functions)
    }

    async fn code_sha256(&self, function: &str) -> Result<Option<String>, CloudError> {
        match self.clients().lambda.get_function().function_name(function).send().await {
            Ok(out) => Ok(out.configuration().and_then(|c| c.code_sha256()).map(str::to_owned)),
            Err(e) => {
                let e = self.error("Lambda.GetFunction", e);
                match e.code.as_deref() {
                    Some("ResourceNotFoundException") => Ok(None),
                    _ => Err(e),
                }
            }
        }
    }

    async fn update_function_code(
        &self,
        function: &str,
        bucket: &str,
        key: &str,
    ) -> Result<FunctionState, CloudError> {
        let out = self
            .clients()
            .lambda
            .update_function_code()
            .function_name(function)
            .s3_bucket(bucket)
            .s3_key(key)
            .send()
            .await
            .map_err(|e| self.error("Lambda.UpdateFunctionCode", e))?;
        Ok(state(out.code_sha256(), out.last_update_status(), out.last_update_status_reason()))
    }

    async fn function_state(&self, function: &str) -> Result<FunctionState, CloudError> {
        let out = self
            .clients()
            .lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(|e| self.error("Lambda.GetFunctionConfiguration", e))?;
        Ok(state(out.code_sha256(), out.last_update_status(), out.last_update_status_reason()))
    }
}

/// What UpdateFunctionCode and GetFunctionConfiguration both answer of a function's code.
fn state(
    code_sha256: Option<&str>,
    status: Option<&aws_sdk_lambda::types::LastUpdateStatus>,
    reason: Option<&str>,
) -> FunctionState {
    FunctionState {
        code_sha256: code_sha256.unwrap_or_default().to_owned(),
        update: UpdateStatus::parse(status.map(|s| s.as_str()), reason),
    }
}
