//! CloudFormation calls: [`StackApi`] for [`Aws`], and the conversions between the SDK's types
//! and this crate's.

use std::time::SystemTime;

use aws_config::retry::RetryConfig;
use aws_sdk_cloudformation::types as cfn;

use super::{
    Aws, Change, ChangeSetKind, ChangeSetOutcome, ChangeSetRequest, CloudError, Stack, StackApi,
    StackEvent, TemplateSource,
};

/// (`TemplateBody`, `TemplateURL`), one of them set: the two ways every call taking a template
/// takes it.
fn template_parts(source: &TemplateSource) -> (Option<String>, Option<String>) {
    match source {
        TemplateSource::Body(body) => (Some(body.clone()), None),
        TemplateSource::Url(url) => (None, Some(url.clone())),
    }
}

fn cfn_tags(tags: &[(String, String)]) -> Vec<cfn::Tag> {
    tags.iter().map(|(k, v)| cfn::Tag::builder().key(k).value(v).build()).collect()
}

fn cfn_parameters(parameters: &[(String, String)]) -> Vec<cfn::Parameter> {
    parameters
        .iter()
        .map(|(k, v)| cfn::Parameter::builder().parameter_key(k).parameter_value(v).build())
        .collect()
}

/// Templates may create IAM resources with or without names, and use macros (SAM).
fn capabilities() -> Vec<cfn::Capability> {
    vec![
        cfn::Capability::CapabilityIam,
        cfn::Capability::CapabilityNamedIam,
        cfn::Capability::CapabilityAutoExpand,
    ]
}

fn time(t: Option<&aws_sdk_cloudformation::primitives::DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

fn stack_of(s: &cfn::Stack) -> Stack {
    Stack {
        name: s.stack_name().unwrap_or_default().to_owned(),
        id: s.stack_id().unwrap_or_default().to_owned(),
        status: s.stack_status().map(|x| x.as_str()).unwrap_or_default().into(),
        status_reason: s.stack_status_reason().map(str::to_owned),
        tags: s
            .tags()
            .iter()
            .map(|t| {
                (t.key().unwrap_or_default().to_owned(), t.value().unwrap_or_default().to_owned())
            })
            .collect(),
        outputs: s
            .outputs()
            .iter()
            .filter_map(|o| {
                Some((o.output_key()?.to_owned(), o.output_value().unwrap_or_default().to_owned()))
            })
            .collect(),
        parameters: s
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_owned(),
                    p.parameter_value().unwrap_or_default().to_owned(),
                ))
            })
            .collect(),
        created: time(s.creation_time()),
        updated: time(s.last_updated_time()),
        termination_protection: s.enable_termination_protection().unwrap_or(false),
    }
}

impl StackApi for Aws {
    async fn stacks_page(
        &self,
        token: Option<String>,
    ) -> Result<(Vec<Stack>, Option<String>), CloudError> {
        let page = self
            .cfn
            .describe_stacks()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| self.error("CloudFormation.DescribeStacks", e))?;
        Ok((
            page.stacks().iter().map(stack_of).collect(),
            page.next_token().filter(|t| !t.is_empty()).map(str::to_owned),
        ))
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
        let (body, url) = template_parts(&r.template);
        let call = self
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
            .set_capabilities(Some(capabilities()))
            .set_template_body(body)
            .set_template_url(url);
        let out = call.send().await.map_err(|e| self.error("CloudFormation.CreateChangeSet", e))?;
        Ok(out.id().unwrap_or(&r.change_set_name).to_owned())
    }

    async fn change_set(
        &self,
        stack: &str,
        id: &str,
    ) -> Result<Option<ChangeSetOutcome>, CloudError> {
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
                    let no_changes = reason.contains("didn't contain changes")
                        || reason.contains("No updates are to be performed");
                    return Ok(Some(if no_changes {
                        ChangeSetOutcome::NoChanges
                    } else {
                        ChangeSetOutcome::Failed(reason)
                    }));
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
                return Ok(Some(if changes.is_empty() {
                    ChangeSetOutcome::NoChanges
                } else {
                    ChangeSetOutcome::Ready(changes)
                }));
            }
        }
    }

    async fn execute_change_set(&self, stack: &str, id: &str) -> Result<(), CloudError> {
        self.cfn
            .execute_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .send()
            .await
            .map_err(|e| self.error("CloudFormation.ExecuteChangeSet", e))?;
        Ok(())
    }

    async fn create_stack(&self, r: &ChangeSetRequest) -> Result<(), CloudError> {
        let (body, url) = template_parts(&r.template);
        let call = self
            .cfn
            .create_stack()
            .stack_name(&r.stack_name)
            .set_template_body(body)
            .set_template_url(url);
        call.set_tags(Some(cfn_tags(&r.tags)))
            .set_parameters(Some(cfn_parameters(&r.parameters)))
            .set_capabilities(Some(capabilities()))
            .send()
            .await
            .map_err(|e| self.error("CloudFormation.CreateStack", e))?;
        Ok(())
    }

    async fn update_stack(&self, r: &ChangeSetRequest) -> Result<(), CloudError> {
        let (body, url) = template_parts(&r.template);
        let call = self
            .cfn
            .update_stack()
            .stack_name(&r.stack_name)
            .set_template_body(body)
            .set_template_url(url);
        call.set_tags(Some(cfn_tags(&r.tags)))
            .set_parameters(Some(cfn_parameters(&r.parameters)))
            .set_capabilities(Some(capabilities()))
            .send()
            .await
            .map_err(|e| self.error("CloudFormation.UpdateStack", e))?;
        Ok(())
    }

    async fn delete_change_set(&self, stack: &str, id: &str) -> Result<(), CloudError> {
        self.cfn
            .delete_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .send()
            .await
            .map_err(|e| self.error("CloudFormation.DeleteChangeSet", e))?;
        Ok(())
    }

    async fn stack_events(&self, stack: &str) -> Result<Vec<StackEvent>, CloudError> {
        let out = self
            .cfn
            .describe_stack_events()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| self.error("CloudFormation.DescribeStackEvents", e))?;
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
        self.cfn
            .delete_stack()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| self.error("CloudFormation.DeleteStack", e))?;
        Ok(())
    }

    async fn set_termination_protection(
        &self,
        stack: &str,
        enabled: bool,
    ) -> Result<(), CloudError> {
        // Callers treat a failure as a warning, so retrying long (moto answers 500) is not worth it.
        let few_retries = aws_sdk_cloudformation::config::Builder::default()
            .retry_config(RetryConfig::standard().with_max_attempts(2));
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
        let bucket = self.put_artifact(key, body).await?;
        Ok(crate::layout::template_url(&bucket, key))
    }
}
