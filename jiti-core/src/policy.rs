//! Policy rules `check` runs on each rendered template: the built-in rules (an app turns one off in
//! `[policy.off]`, with a reason) and the team's own CloudFormation Guard rules in
//! `infra/policy/*.guard`, evaluated with AWS's Guard engine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::BuiltinRule;
use crate::template::Template;

/// One rule broken: by which resource, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The built-in rule's name, or the Guard rule's.
    pub rule: String,
    pub resource: Option<String>,
    pub message: String,
    /// The `.guard` file of a team rule.
    pub file: Option<PathBuf>,
}

fn violation(rule: BuiltinRule, resource: &str, message: String) -> Violation {
    Violation { rule: rule.name().to_owned(), resource: Some(resource.to_owned()), message, file: None }
}

/// `true`, or the string `"true"` (CloudFormation takes both).
fn is_true(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true))) || v.and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

/// The built-in rules on a rendered template (`tags` and `termination-protection` are checked
/// elsewhere: on tags as rendered, and on the app's config).
pub fn builtin(template: &Template) -> Vec<Violation> {
    let mut out = Vec::new();
    for (id, resource) in template.resources() {
        let ty = resource.get("Type").and_then(Value::as_str).unwrap_or_default();
        let props = resource.get("Properties");
        let prop = |name: &str| props.and_then(|p| p.get(name));
        match ty {
            "AWS::S3::Bucket" => {
                let block = prop("PublicAccessBlockConfiguration");
                let off: Vec<&str> = ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"].into_iter().filter(|k| !is_true(block.and_then(|b| b.get(*k)))).collect();
                if !off.is_empty() {
                    out.push(violation(BuiltinRule::BucketPublicAccess, id, format!("bucket `{id}` needs PublicAccessBlockConfiguration with {} set to true", off.join(", "))));
                }
                if prop("BucketEncryption").is_none() {
                    out.push(violation(BuiltinRule::Encryption, id, format!("bucket `{id}` declares no BucketEncryption: add ServerSideEncryptionConfiguration (SSEAlgorithm AES256 or aws:kms)")));
                }
            }
            "AWS::DynamoDB::Table" | "AWS::DynamoDB::GlobalTable" if !is_true(prop("SSESpecification").and_then(|s| s.get("SSEEnabled"))) => {
                out.push(violation(BuiltinRule::Encryption, id, format!("table `{id}` is not encrypted with KMS: set SSESpecification: {{SSEEnabled: true}}")));
            }
            "AWS::SQS::Queue" if prop("KmsMasterKeyId").is_none() && prop("SqsManagedSseEnabled").is_some_and(|v| !is_true(Some(v))) => {
                out.push(violation(BuiltinRule::Encryption, id, format!("queue `{id}` turns encryption off: set SqsManagedSseEnabled: true or a KmsMasterKeyId")));
            }
            "AWS::SNS::Topic" if prop("KmsMasterKeyId").is_none() => {
                out.push(violation(BuiltinRule::Encryption, id, format!("topic `{id}` is not encrypted: set KmsMasterKeyId (e.g. alias/aws/sns)")));
            }
            "AWS::Lambda::Permission" | "AWS::Lambda::LayerVersionPermission" if prop("Principal").and_then(Value::as_str) == Some("*") => {
                out.push(violation(BuiltinRule::PublicPrincipal, id, format!("`{id}` grants to the `*` principal: name the account or service")));
            }
            _ => {}
        }
        if let Some(props) = props {
            let mut public = BTreeSet::new();
            public_statements(props, "", &mut public);
            for at in public {
                out.push(violation(BuiltinRule::PublicPrincipal, id, format!("`{id}` ({ty}) allows the `*` principal in {at}: name the accounts, services or roles")));
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
            if allows && map.get("Principal").is_some_and(is_everyone) {
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
    let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "guard")).collect();
    files.sort();
    Ok(files)
}

/// Evaluates the Guard rules of `file` on `template` (named `template_name` in messages).
pub fn guard(file: &Path, template: &Template, template_name: &str) -> Result<Vec<Violation>, GuardError> {
    let rules = std::fs::read_to_string(file).map_err(|source| GuardError::Read { path: file.to_owned(), source })?;
    let data = template.to_json();
    let file_name = file.display().to_string();
    let report = cfn_guard::run_checks(cfn_guard::ValidateInput { content: &data, file_name: template_name }, cfn_guard::ValidateInput { content: &rules, file_name: &file_name }, false)
        .map_err(|e| GuardError::Rules { path: file.to_owned(), message: e.to_string() })?;
    if report.trim().is_empty() {
        return Ok(Vec::new());
    }
    let report: Value = serde_json::from_str(&report).map_err(|e| GuardError::Rules { path: file.to_owned(), message: format!("unreadable report from the Guard engine: {e}") })?;
    let mut out = Vec::new();
    for failed in report.get("not_compliant").and_then(Value::as_array).into_iter().flatten() {
        let rule = failed.pointer("/Rule/name").and_then(Value::as_str).unwrap_or("(unnamed rule)");
        let mut hits: Vec<(Option<String>, String)> = Vec::new();
        collect_failures(failed, &mut hits);
        if hits.is_empty() {
            hits.push((None, "not compliant".to_owned()));
        }
        for (resource, message) in hits {
            let v = Violation { rule: rule.to_owned(), resource, message, file: Some(file.to_owned()) };
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
            if let Some(messages) = map.get("messages").filter(|_| map.contains_key("check") || map.contains_key("context")) {
                let text = ["custom_message", "error_message"].iter().find_map(|k| messages.get(*k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()));
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
            let id = map.get("path").and_then(Value::as_str).and_then(|p| p.strip_prefix("/Resources/")).and_then(|r| r.split('/').next());
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

    fn rules_broken(t: &Template) -> Vec<(String, String)> {
        builtin(t).into_iter().map(|v| (v.rule, v.resource.unwrap_or_default())).collect()
    }

    #[test]
    fn each_builtin_rule_flags_a_violating_template_and_passes_a_clean_one() {
        let bad = template(
            "  Open:\n    Type: AWS::S3::Bucket\n    Properties:\n      PublicAccessBlockConfiguration:\n        BlockPublicAcls: true\n\
             \x20 Table:\n    Type: AWS::DynamoDB::Table\n\
             \x20 Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      SqsManagedSseEnabled: false\n\
             \x20 Topic:\n    Type: AWS::SNS::Topic\n\
             \x20 Policy:\n    Type: AWS::SQS::QueuePolicy\n    Properties:\n      Queues: [x]\n      PolicyDocument:\n        Statement:\n          - Effect: Allow\n            Principal: {AWS: '*'}\n            Action: sqs:SendMessage\n            Resource: '*'\n\
             \x20 Invoke:\n    Type: AWS::Lambda::Permission\n    Properties:\n      Action: lambda:InvokeFunction\n      FunctionName: f\n      Principal: '*'\n",
        );
        let broken = rules_broken(&bad);
        for expected in [
            ("bucket-public-access", "Open"),
            ("encryption", "Open"),
            ("encryption", "Table"),
            ("encryption", "Queue"),
            ("encryption", "Topic"),
            ("public-principal", "Policy"),
            ("public-principal", "Invoke"),
        ] {
            assert!(broken.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{expected:?} not in {broken:?}");
        }
        assert_eq!(broken.len(), 7, "{broken:?}");
        let clean = template(
            "  Closed:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketEncryption: {ServerSideEncryptionConfiguration: [{ServerSideEncryptionByDefault: {SSEAlgorithm: AES256}}]}\n      PublicAccessBlockConfiguration: {BlockPublicAcls: true, BlockPublicPolicy: 'true', IgnorePublicAcls: true, RestrictPublicBuckets: true}\n\
             \x20 Table:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      SSESpecification: {SSEEnabled: true}\n\
             \x20 Queue:\n    Type: AWS::SQS::Queue\n\
             \x20 Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      KmsMasterKeyId: alias/aws/sns\n\
             \x20 Policy:\n    Type: AWS::SQS::QueuePolicy\n    Properties:\n      Queues: [x]\n      PolicyDocument:\n        Statement:\n          - Effect: Allow\n            Principal: {Service: sns.amazonaws.com}\n            Action: sqs:SendMessage\n            Resource: '*'\n          - Effect: Deny\n            Principal: '*'\n            Action: '*'\n            Resource: '*'\n",
        );
        assert_eq!(rules_broken(&clean), vec![]);
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
        let t = template("  Fast:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 30\n  Slow:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 90\n");
        let found = guard(&file, &t, "app.template.json").unwrap();
        assert_eq!(found, vec![Violation { rule: "short_visibility".into(), resource: Some("Slow".into()), message: "Queues must time out within a minute".into(), file: Some(file.clone()) }]);
        let ok = template("  Fast:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 30\n");
        assert_eq!(guard(&file, &ok, "app.template.json").unwrap(), vec![]);
        std::fs::write(&file, "rule broken {").unwrap();
        let e = guard(&file, &ok, "app.template.json").unwrap_err();
        assert!(e.to_string().contains("queues.guard` is not a valid Guard rules file"), "{e}");
        assert_eq!(guard_files(dir.path()).unwrap(), vec![file.clone()]);
        assert_eq!(guard_files(&dir.path().join("policy")).unwrap(), Vec::<PathBuf>::new(), "no policy folder, no rules");
    }
}
