//! Lambda and the stack's resources, for the check after a deploy: which functions a stack made
//! and the `CodeSha256` each runs.

use super::{Aws, CloudError, FunctionApi};

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
}
