//! `iam-policy`: the IAM policy a CI role needs to deploy, roll back and collect one app, and no
//! more: CloudFormation on the app's stacks (by name), the app's prefix of the artifacts bucket,
//! and each service of the app's template, scoped by the `jiti:app` tag where the service can be
//! scoped so, and by the names CloudFormation gives where it cannot.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::layout;
use crate::resolve::ResolvedApp;
use crate::tagging::KEY_APP;
use crate::template::Template;

/// How the actions of one service are confined to the app's resources.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// `aws:ResourceTag/jiti:app` on existing resources, `aws:RequestTag/jiti:app` on creation.
    Tag,
    /// The service cannot be scoped by tag: by the name CloudFormation generates
    /// (`<stack>-<logical id>-<random>`), as an ARN pattern.
    Name(Patterns),
}

/// ARN patterns of a service's resources, from the account and the stack-name pattern.
type Patterns = fn(&str, &str) -> Vec<String>;

/// Services whose resources cannot be scoped by `aws:ResourceTag` (or not for every action
/// CloudFormation calls), and the ARN patterns of the names CloudFormation gives them. Every
/// other service is scoped by tag: most AWS services authorize by resource and request tags.
const BY_NAME: &[(&str, Patterns)] = &[
    // S3 authorizes bucket operations by bucket name, not by bucket tags; bucket names are lower case.
    ("s3", |_, stacks| {
        vec![
            format!("arn:aws:s3:::{}", stacks.to_lowercase()),
            format!("arn:aws:s3:::{}/*", stacks.to_lowercase()),
        ]
    }),
    // IAM supports iam:ResourceTag, but roles are passed (iam:PassRole) by name: one rule for both.
    ("iam", |account, stacks| {
        vec![
            format!("arn:aws:iam::{account}:role/{stacks}"),
            format!("arn:aws:iam::{account}:policy/{stacks}"),
        ]
    }),
];

/// Actions that create (or tag) a resource: the ones `aws:RequestTag` governs.
const CREATE_ACTIONS: [&str; 4] = ["Create*", "Put*", "TagResource", "Tag*"];

#[derive(Debug, Clone)]
pub struct IamPolicy {
    /// The policy document (`Version`, `Statement`).
    pub document: Value,
    /// How services were scoped, for the reader.
    pub notes: Vec<String>,
}

/// The policy for `app`, whose rendered template is `template`; `env` narrows it to that
/// environment's stack; `account` (else `*`) names the account in ARNs.
pub fn policy(
    app: &ResolvedApp,
    template: &Template,
    env: Option<&str>,
    account: Option<&str>,
) -> IamPolicy {
    let account = account.unwrap_or("*");
    let region = &app.region;
    // Every environment's stack is `<prefix><app>-<env>`: the pattern names only this app's.
    let stacks = match env {
        Some(env) => app.stack_name_in(env),
        None => format!("{}{}-*", app.stack_prefix, app.name),
    };
    let bucket = layout::artifacts_bucket(account, region);
    let mut statements = vec![
        json!({
            "Sid": "Stacks",
            "Effect": "Allow",
            "Action": [
                "cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
                "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents", "cloudformation:DescribeStackResources",
                "cloudformation:GetTemplate", "cloudformation:UpdateTerminationProtection",
                "cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet", "cloudformation:ExecuteChangeSet", "cloudformation:DeleteChangeSet"
            ],
            "Resource": [format!("arn:aws:cloudformation:{region}:{account}:stack/{stacks}/*"), format!("arn:aws:cloudformation:{region}:{account}:changeSet/jiti-*/*")]
        }),
        // Listing stacks (one DescribeStacks for all), finding resources by tag and Lambda's log
        // groups (gc) cannot be confined to resources: they answer with what the caller may see,
        // and change nothing.
        json!({"Sid": "ListStacksAndTaggedResources", "Effect": "Allow", "Action": ["cloudformation:DescribeStacks", "tag:GetResources", "logs:DescribeLogGroups"], "Resource": "*"}),
        json!({
            "Sid": "ReleaseLedger",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject"],
            "Resource": [format!("arn:aws:s3:::{bucket}/{}{}/*", layout::RELEASES, app.name), format!("arn:aws:s3:::{bucket}/{}{}/*", layout::TEMPLATES, app.name)]
        }),
        json!({
            "Sid": "ReleaseLedgerListing",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": format!("arn:aws:s3:::{bucket}"),
            "Condition": {"StringLike": {"s3:prefix": [format!("{}{}/*", layout::RELEASES, app.name)]}}
        }),
        // gc deletes the log groups Lambda made (untagged) for functions of this app's stacks.
        json!({
            "Sid": "LambdaLogGroupsLeftBehind",
            "Effect": "Allow",
            "Action": "logs:DeleteLogGroup",
            "Resource": format!("arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{stacks}-*")
        }),
        // The bucket is made on first use, private, encrypted and tagged.
        json!({
            "Sid": "ArtifactsBucket",
            "Effect": "Allow",
            "Action": ["s3:CreateBucket", "s3:PutBucketPublicAccessBlock", "s3:PutEncryptionConfiguration", "s3:PutBucketTagging"],
            "Resource": format!("arn:aws:s3:::{bucket}")
        }),
    ];
    let mut notes = Vec::new();
    let services: BTreeSet<String> = template
        .all_resources()
        .into_iter()
        .filter_map(|(_, r)| r.get("Type")?.as_str())
        .filter_map(service_of)
        .collect();
    for service in services {
        let sid: String = service.split(['-', '.']).map(capitalize).collect();
        match scope_of(&service) {
            Scope::Tag => {
                statements.push(json!({
                    "Sid": format!("{sid}ByTag"),
                    "Effect": "Allow",
                    "Action": format!("{service}:*"),
                    "Resource": "*",
                    "Condition": {"StringEquals": {format!("aws:ResourceTag/{KEY_APP}"): app.name}}
                }));
                statements.push(json!({
                    "Sid": format!("{sid}CreateTagged"),
                    "Effect": "Allow",
                    "Action": CREATE_ACTIONS.iter().map(|a| format!("{service}:{a}")).collect::<Vec<_>>(),
                    "Resource": "*",
                    "Condition": {"StringEquals": {format!("aws:RequestTag/{KEY_APP}"): app.name}}
                }));
                notes.push(format!("{service}: scoped by the `{KEY_APP}` tag (aws:ResourceTag, and aws:RequestTag on creation)"));
            }
            Scope::Name(patterns) => {
                statements.push(json!({"Sid": format!("{sid}ByName"), "Effect": "Allow", "Action": format!("{service}:*"), "Resource": patterns(account, &stacks)}));
                notes.push(format!("{service}: cannot be scoped by tag for every action; scoped by the names CloudFormation generates (`{stacks}`): a resource given another name in the template is not covered"));
            }
        }
    }
    IamPolicy { document: json!({"Version": "2012-10-17", "Statement": statements}), notes }
}

/// `AWS::SQS::Queue` → `sqs`; `AWS::Serverless::Function` → `lambda` (SAM); `None` for custom
/// resources and modules.
fn service_of(resource_type: &str) -> Option<String> {
    let mut parts = resource_type.split("::");
    let (vendor, service) = (parts.next()?, parts.next()?);
    if vendor != "AWS" {
        return None;
    }
    let sam = match resource_type {
        "AWS::Serverless::Function" | "AWS::Serverless::LayerVersion" => Some("lambda"),
        "AWS::Serverless::Api" | "AWS::Serverless::HttpApi" => Some("apigateway"),
        "AWS::Serverless::SimpleTable" => Some("dynamodb"),
        "AWS::Serverless::StateMachine" => Some("states"),
        _ => None,
    };
    Some(match (sam, service) {
        (Some(s), _) => s.to_owned(),
        (None, "Logs") => "logs".to_owned(),
        (None, "ApiGatewayV2") => "apigateway".to_owned(),
        (None, "StepFunctions") => "states".to_owned(),
        (None, "ElasticLoadBalancingV2") => "elasticloadbalancing".to_owned(),
        (None, "CertificateManager") => "acm".to_owned(),
        (None, "Events") => "events".to_owned(),
        (None, other) => other.to_lowercase(),
    })
}

fn scope_of(service: &str) -> Scope {
    BY_NAME
        .iter()
        .find(|(s, _)| *s == service)
        .map_or(Scope::Tag, |(_, patterns)| Scope::Name(*patterns))
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_come_from_resource_types() {
        assert_eq!(service_of("AWS::SQS::Queue").as_deref(), Some("sqs"));
        assert_eq!(service_of("AWS::Logs::LogGroup").as_deref(), Some("logs"));
        assert_eq!(service_of("AWS::Serverless::Function").as_deref(), Some("lambda"));
        assert_eq!(service_of("Custom::Thing"), None);
        assert!(matches!(scope_of("sqs"), Scope::Tag));
        assert!(matches!(scope_of("s3"), Scope::Name(_)));
    }
}
