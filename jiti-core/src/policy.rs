//! Policy rules `check` runs on each rendered template: the built-in rules (an app turns one off in
//! `[policy.off]`, with a reason) and the team's own CloudFormation Guard rules in
//! `infra/policy/*.guard`, evaluated with AWS's Guard engine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::{BuiltinRule, Level};
use crate::template::Template;

/// One rule broken: by which resource, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The built-in rule's name, or the Guard rule's.
    pub rule: String,
    /// How bad, before an app's `[policy.levels]`: `Warning` where AWS's own default already
    /// protects the resource or cannot (see [`builtin`]).
    pub level: Level,
    pub resource: Option<String>,
    pub message: String,
    /// The `.guard` file of a team rule.
    pub file: Option<PathBuf>,
}

fn violation(rule: BuiltinRule, resource: &str, message: String) -> Violation {
    Violation {
        rule: rule.name().to_owned(),
        level: Level::Error,
        resource: Some(resource.to_owned()),
        message,
        file: None,
    }
}

fn warning(rule: BuiltinRule, resource: &str, message: String) -> Violation {
    Violation { level: Level::Warning, ..violation(rule, resource, message) }
}

/// `false`, or the string `"false"`: a setting explicitly turned off.
fn is_false(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(false)))
        || v.and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("false"))
}

/// Condition keys that narrow a `*` principal to the caller's own account, organization, source
/// resource or network (IAM condition keys are case-insensitive).
const NARROWING_KEYS: &[&str] = &[
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:sourceowner",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceip",
    "aws:userid",
];

/// A statement's `Condition` names one of [`NARROWING_KEYS`] under any operator.
fn narrowed(statement: &serde_json::Map<String, Value>) -> bool {
    let Some(Value::Object(operators)) = statement.get("Condition") else { return false };
    operators
        .values()
        .filter_map(Value::as_object)
        .flat_map(|keys| keys.keys())
        .any(|k| NARROWING_KEYS.contains(&k.to_ascii_lowercase().as_str()))
}

/// `true`, or the string `"true"` (CloudFormation takes both).
fn is_true(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
        || v.and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

/// The built-in rules on a rendered template (`tags` and `termination-protection` are checked
/// elsewhere: on tags as rendered, and on the app's config).
///
/// By default a rule fires where a template *weakens* what AWS gives: S3 buckets have been
/// encrypted (SSE-S3) and blocked from public access by default since 2023, and DynamoDB tables
/// are always encrypted at rest, so leaving those settings out is not an error; turning a block
/// off, a public ACL, or SQS encryption off is. SNS topics are not encrypted by default: a warning.
/// `strict` (for teams that want every setting written down) makes leaving them out an error too.
pub fn builtin(template: &Template, strict: bool) -> Vec<Violation> {
    let mut out = Vec::new();
    for (id, resource) in template.all_resources() {
        let ty = resource.get("Type").and_then(Value::as_str).unwrap_or_default();
        let props = resource.get("Properties");
        let prop = |name: &str| props.and_then(|p| p.get(name));
        match ty {
            "AWS::S3::Bucket" => {
                const BLOCKS: [&str; 4] = [
                    "BlockPublicAcls",
                    "BlockPublicPolicy",
                    "IgnorePublicAcls",
                    "RestrictPublicBuckets",
                ];
                let block = prop("PublicAccessBlockConfiguration");
                let off: Vec<&str> = BLOCKS
                    .into_iter()
                    .filter(|k| is_false(block.and_then(|b| b.get(*k))))
                    .collect();
                let unset: Vec<&str> = BLOCKS
                    .into_iter()
                    .filter(|k| !is_true(block.and_then(|b| b.get(*k))))
                    .collect();
                if !off.is_empty() {
                    out.push(violation(BuiltinRule::BucketPublicAccess, id, format!("bucket `{id}` turns off {} of its public access block: set them to true (AWS blocks public access by default)", off.join(", "))));
                } else if strict && !unset.is_empty() {
                    out.push(violation(BuiltinRule::BucketPublicAccess, id, format!("bucket `{id}` needs PublicAccessBlockConfiguration with {} set to true (policy is strict)", unset.join(", "))));
                }
                if let Some(acl) = prop("AccessControl").and_then(Value::as_str).filter(|a| {
                    matches!(*a, "PublicRead" | "PublicReadWrite" | "AuthenticatedRead")
                }) {
                    out.push(violation(BuiltinRule::BucketPublicAccess, id, format!("bucket `{id}` grants AccessControl {acl}: serve public content through CloudFront, or say why in [policy.off]")));
                }
                if strict && prop("BucketEncryption").is_none() {
                    out.push(violation(BuiltinRule::Encryption, id, format!("bucket `{id}` declares no BucketEncryption (policy is strict): add ServerSideEncryptionConfiguration (SSEAlgorithm AES256 or aws:kms)")));
                }
            }
            "AWS::DynamoDB::Table" | "AWS::DynamoDB::GlobalTable"
                if strict
                    && !is_true(prop("SSESpecification").and_then(|s| s.get("SSEEnabled"))) =>
            {
                out.push(violation(BuiltinRule::Encryption, id, format!("table `{id}` is encrypted with an AWS-owned key only (policy is strict): set SSESpecification: {{SSEEnabled: true}} for a KMS key")));
            }
            "AWS::SQS::Queue"
                if prop("KmsMasterKeyId").is_none() && is_false(prop("SqsManagedSseEnabled")) =>
            {
                out.push(violation(BuiltinRule::Encryption, id, format!("queue `{id}` turns encryption off: set SqsManagedSseEnabled: true or a KmsMasterKeyId")));
            }
            "AWS::SNS::Topic" if prop("KmsMasterKeyId").is_none() => {
                let message = format!(
                    "topic `{id}` is not encrypted (AWS does not encrypt topics by default): set KmsMasterKeyId (e.g. alias/aws/sns)"
                );
                out.push(if strict {
                    violation(BuiltinRule::Encryption, id, message)
                } else {
                    warning(BuiltinRule::Encryption, id, message)
                });
            }
            "AWS::Lambda::Permission" | "AWS::Lambda::LayerVersionPermission"
                if prop("Principal").and_then(Value::as_str) == Some("*")
                    && ["SourceArn", "SourceAccount", "PrincipalOrgID", "OrganizationId"]
                        .iter()
                        .all(|k| prop(k).is_none()) =>
            {
                out.push(violation(BuiltinRule::PublicPrincipal, id, format!("`{id}` grants to the `*` principal: name the account or service, or narrow it with SourceArn, SourceAccount or PrincipalOrgID")));
            }
            _ => {}
        }
        // A VPC endpoint's policy limits what callers inside the VPC reach through the endpoint:
        // `*` there is AWS's default full-access endpoint policy, not a grant to the internet.
        if let Some(props) = props.filter(|_| ty != "AWS::EC2::VPCEndpoint") {
            let mut public = BTreeSet::new();
            public_statements(props, "", &mut public);
            for at in public {
                out.push(violation(BuiltinRule::PublicPrincipal, id, format!("`{id}` ({ty}) allows the `*` principal in {at}: name the accounts, services or roles, or narrow it with a condition on aws:SourceArn, aws:SourceAccount or aws:PrincipalOrgID")));
            }
        }
    }
    out
}

/// Where under `value` a policy statement allows `Principal: "*"` (or `{AWS: "*"}`).
fn public_statements(value: &Value, at: &str, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            let allows = map.get("Effect").and_then(Value::as_str) == Some("Allow");
            if allows && map.get("Principal").is_some_and(is_everyone) && !narrowed(map) {
                found.insert(at.trim_start_matches('/').to_owned());
            }
            for (k, v) in map {
                public_statements(v, &format!("{at}/{k}"), found);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                public_statements(v, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

fn is_everyone(principal: &Value) -> bool {
    match principal {
        Value::String(s) => s == "*",
        Value::Array(items) => items.iter().any(is_everyone),
        Value::Object(map) => map.get("AWS").is_some_and(is_everyone),
        _ => false,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not a valid Guard rules file: {message}", path.display())]
    Rules { path: PathBuf, message: String },
}

/// The `.guard` files of `infra_dir/policy`, sorted; none when the folder does not exist.
pub fn guard_files(infra_dir: &Path) -> Result<Vec<PathBuf>, GuardError> {
    let dir = infra_dir.join("policy");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(GuardError::Read { path: dir, source }),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "guard"))
        .collect();
    files.sort();
    Ok(files)
}

/// Evaluates the Guard rules of `file` on `template` (named `template_name` in messages).
pub fn guard(
    file: &Path,
    template: &Template,
    template_name: &str,
) -> Result<Vec<Violation>, GuardError> {
    let rules = std::fs::read_to_string(file)
        .map_err(|source| GuardError::Read { path: file.to_owned(), source })?;
    let data = template.to_json();
    let file_name = file.display().to_string();
    let report = cfn_guard::run_checks(
        cfn_guard::ValidateInput { content: &data, file_name: template_name },
        cfn_guard::ValidateInput { content: &rules, file_name: &file_name },
        false,
    )
    .map_err(|e| GuardError::Rules { path: file.to_owned(), message: e.to_string() })?;
    if report.trim().is_empty() {
        return Ok(Vec::new());
    }
    let report: Value = serde_json::from_str(&report).map_err(|e| GuardError::Rules {
        path: file.to_owned(),
        message: format!("unreadable report from the Guard engine: {e}"),
    })?;
    let mut out = Vec::new();
    for failed in report.get("not_compliant").and_then(Value::as_array).into_iter().flatten() {
        let rule = failed.pointer("/Rule/name").and_then(Value::as_str).unwrap_or("(unnamed rule)");
        let mut hits: Vec<(Option<String>, String)> = Vec::new();
        collect_failures(failed, &mut hits);
        if hits.is_empty() {
            hits.push((None, "not compliant".to_owned()));
        }
        for (resource, message) in hits {
            let v = Violation {
                rule: rule.to_owned(),
                level: Level::Error,
                resource,
                message,
                file: Some(file.to_owned()),
            };
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// (resource, message) of every failed clause under `value`: the resource from the failing value's
/// path (`/Resources/<id>/…`), the message the rule gives (else the engine's).
fn collect_failures(value: &Value, hits: &mut Vec<(Option<String>, String)>) {
    match value {
        Value::Object(map) => {
            if let Some(messages) = map
                .get("messages")
                .filter(|_| map.contains_key("check") || map.contains_key("context"))
            {
                let text = ["custom_message", "error_message"].iter().find_map(|k| {
                    messages
                        .get(*k)
                        .and_then(Value::as_str)
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                });
                let mut paths = Vec::new();
                resource_paths(map.get("check").unwrap_or(&Value::Null), &mut paths);
                let message = text.unwrap_or("not compliant").to_owned();
                if paths.is_empty() {
                    hits.push((None, message));
                } else {
                    hits.extend(paths.into_iter().map(|p| (Some(p), message.clone())));
                }
                return;
            }
            map.values().for_each(|v| collect_failures(v, hits));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_failures(v, hits)),
        _ => {}
    }
}

fn resource_paths(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let id = map
                .get("path")
                .and_then(Value::as_str)
                .and_then(|p| p.strip_prefix("/Resources/"))
                .and_then(|r| r.split('/').next());
            if let Some(id) = id.filter(|id| !out.iter().any(|o| o == id)) {
                out.push(id.to_owned());
            }
            map.values().for_each(|v| resource_paths(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| resource_paths(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(resources: &str) -> Template {
        Template::parse(&format!("Resources:\n{resources}")).unwrap()
    }

    fn rules_broken(t: &Template, strict: bool) -> Vec<(String, String, Level)> {
        builtin(t, strict)
            .into_iter()
            .map(|v| (v.rule, v.resource.unwrap_or_default(), v.level))
            .collect()
    }

    const UNDECLARED: &str = "  Plain:\n    Type: AWS::S3::Bucket\n\
         \x20 Table:\n    Type: AWS::DynamoDB::Table\n\
         \x20 Topic:\n    Type: AWS::SNS::Topic\n";

    #[test]
    fn settings_aws_applies_by_default_may_be_left_out_unless_strict() {
        use Level::{Error, Warning};
        let t = template(UNDECLARED);
        let row = |rule: &str, id: &str, level| (rule.to_owned(), id.to_owned(), level);
        assert_eq!(rules_broken(&t, false), vec![row("encryption", "Topic", Warning)]);
        assert_eq!(
            rules_broken(&t, true),
            vec![
                row("bucket-public-access", "Plain", Error),
                row("encryption", "Plain", Error),
                row("encryption", "Table", Error),
                row("encryption", "Topic", Error)
            ]
        );
    }

    #[test]
    fn weakening_a_default_is_an_error_and_narrowed_principals_are_not_public() {
        let bad = template(
            "  Open:\n    Type: AWS::S3::Bucket\n    Properties:\n      AccessControl: PublicRead\n      PublicAccessBlockConfiguration:\n        BlockPublicAcls: false\n        BlockPublicPolicy: 'false'\n\
             \x20 Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      SqsManagedSseEnabled: false\n\
             \x20 Policy:\n    Type: AWS::SQS::QueuePolicy\n    Properties:\n      Queues: [x]\n      PolicyDocument:\n        Statement:\n          - Effect: Allow\n            Principal: {AWS: '*'}\n            Action: sqs:SendMessage\n            Resource: '*'\n            Condition: {Bool: {aws:SecureTransport: true}}\n\
             \x20 Invoke:\n    Type: AWS::Lambda::Permission\n    Properties:\n      Action: lambda:InvokeFunction\n      FunctionName: f\n      Principal: '*'\n",
        );
        let broken: Vec<(String, String)> = rules_broken(&bad, false)
            .into_iter()
            .map(|(r, id, level)| {
                assert_eq!(level, Level::Error);
                (r, id)
            })
            .collect();
        let expected = [
            ("bucket-public-access", "Open"),
            ("bucket-public-access", "Open"),
            ("encryption", "Queue"),
            ("public-principal", "Policy"),
            ("public-principal", "Invoke"),
        ];
        assert_eq!(broken, expected.map(|(r, id)| (r.to_owned(), id.to_owned())), "{broken:?}");
        let clean = template(
            "  Closed:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketEncryption: {ServerSideEncryptionConfiguration: [{ServerSideEncryptionByDefault: {SSEAlgorithm: AES256}}]}\n      PublicAccessBlockConfiguration: {BlockPublicAcls: true, BlockPublicPolicy: 'true', IgnorePublicAcls: true, RestrictPublicBuckets: true}\n\
             \x20 Table:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      SSESpecification: {SSEEnabled: true}\n\
             \x20 Queue:\n    Type: AWS::SQS::Queue\n\
             \x20 Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      KmsMasterKeyId: alias/aws/sns\n\
             \x20 Policy:\n    Type: AWS::SQS::QueuePolicy\n    Properties:\n      Queues: [x]\n      PolicyDocument:\n        Statement:\n          - Effect: Allow\n            Principal: {Service: sns.amazonaws.com}\n            Action: sqs:SendMessage\n            Resource: '*'\n          - Effect: Allow\n            Principal: '*'\n            Action: sqs:SendMessage\n            Resource: '*'\n            Condition: {ArnEquals: {AWS:SourceArn: 'arn:aws:sns:us-east-1:1:t'}}\n          - Effect: Deny\n            Principal: '*'\n            Action: '*'\n            Resource: '*'\n\
             \x20 Invoke:\n    Type: AWS::Lambda::Permission\n    Properties:\n      Action: lambda:InvokeFunction\n      FunctionName: f\n      Principal: '*'\n      PrincipalOrgID: o-abc\n",
        );
        assert_eq!(rules_broken(&clean, true), vec![]);
    }

    #[test]
    fn loop_resources_are_judged_too() {
        let t = Template::parse("Transform: AWS::LanguageExtensions\nResources:\n  Fn::ForEach::Queues:\n    - Name\n    - [A, B]\n    - Queue${Name}:\n        Type: AWS::SQS::Queue\n        Properties:\n          SqsManagedSseEnabled: false\n").unwrap();
        assert_eq!(
            rules_broken(&t, false),
            vec![("encryption".to_owned(), "Queue${Name}".to_owned(), Level::Error)]
        );
    }

    #[test]
    fn guard_rules_name_the_rule_the_resource_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("policy")).unwrap();
        std::fs::write(dir.path().join("policy/README.md"), "not a rule").unwrap();
        let file = dir.path().join("policy/queues.guard");
        std::fs::write(
            &file,
            "let queues = Resources.*[ Type == 'AWS::SQS::Queue' ]\nrule short_visibility when %queues !empty {\n  %queues.Properties.VisibilityTimeout <= 60\n  <<\n  Queues must time out within a minute\n  >>\n}\n",
        )
        .unwrap();
        let t = template(
            "  Fast:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 30\n  Slow:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 90\n",
        );
        let found = guard(&file, &t, "app.template.json").unwrap();
        assert_eq!(
            found,
            vec![Violation {
                rule: "short_visibility".into(),
                level: Level::Error,
                resource: Some("Slow".into()),
                message: "Queues must time out within a minute".into(),
                file: Some(file.clone())
            }]
        );
        let ok = template(
            "  Fast:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 30\n",
        );
        assert_eq!(guard(&file, &ok, "app.template.json").unwrap(), vec![]);
        std::fs::write(&file, "rule broken {").unwrap();
        let e = guard(&file, &ok, "app.template.json").unwrap_err();
        assert!(e.to_string().contains("queues.guard` is not a valid Guard rules file"), "{e}");
        assert_eq!(guard_files(dir.path()).unwrap(), vec![file.clone()]);
        assert_eq!(
            guard_files(&dir.path().join("policy")).unwrap(),
            Vec::<PathBuf>::new(),
            "no policy folder, no rules"
        );
    }
}
