//! Every taggable type of the tagging table gets the jiti tags in a shape cfn-lint accepts.
//!
//! One resource of each type, with no properties but what tagging writes: cfn-lint then reports
//! missing required properties (irrelevant here) and any error in the tag property (the point).

use std::path::PathBuf;

use jiti_core::tagging::{self, Taggability};
use jiti_tests::{cfn_lint, lint_errors};
use serde_json::{Value, json};

fn jiti_tags() -> Vec<(String, String)> {
    [
        ("team", "payments"),
        (tagging::KEY_APP, "orders-api"),
        (tagging::KEY_ENV, "feature-login-page-0fab87ea"),
        (tagging::KEY_BRANCH, &tagging::sanitize_value("feature/Login_Page#2")),
        (tagging::KEY_VERSION, "1.4.2-rc.1+build.5"),
        (tagging::KEY_COMMIT, "a3e5a7ede4df540f3ce83a2d72750f5c33a9bb3d"),
        (tagging::KEY_MANAGED_BY, tagging::MANAGED_BY),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec()
}

fn logical_id(ty: &str, i: usize) -> String {
    format!("{}{i}", ty.replace("::", ""))
}

/// Writes `types` as templates of at most `chunk` resources each, tags injected; returns the files
/// and, per logical id, the type's tag property name.
fn write_templates(
    dir: &std::path::Path,
    name: &str,
    types: &[(&str, &str)],
    chunk: usize,
    transform: Option<&str>,
) -> (Vec<PathBuf>, Vec<(String, String)>) {
    let mut files = Vec::new();
    let mut props = Vec::new();
    for (n, group) in types.chunks(chunk).enumerate() {
        let mut resources = serde_json::Map::new();
        for (i, (ty, path)) in group.iter().enumerate() {
            let id = logical_id(ty, n * chunk + i);
            // A tag list under TagSpecifications needs an entry to write into (as the author would).
            let properties = match path.split_once("/*/") {
                Some((list, _)) => {
                    json!({list: [{"ResourceType": if ty.ends_with("Fleet") { "capacity-reservation-fleet" } else { "capacity-reservation" }}]})
                }
                None => json!({}),
            };
            resources.insert(id.clone(), json!({"Type": ty, "Properties": properties}));
            props.push((id, path.split('/').next().unwrap_or(path).to_owned()));
        }
        let mut template =
            json!({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources});
        if let Some(t) = transform {
            template["Transform"] = json!(t);
        }
        let report = tagging::inject(&mut template, &jiti_tags()).expect("no reserved tags");
        assert_eq!(report.tagged, group.len(), "{:?}", report.not_injectable);
        assert!(report.not_injectable.is_empty() && report.untaggable.is_empty());
        let file = dir.join(format!("{name}-{n}.json"));
        std::fs::write(&file, serde_json::to_string_pretty(&template).expect("json"))
            .expect("write template");
        files.push(file);
    }
    (files, props)
}

/// cfn-lint errors located in a resource's tag property.
fn tag_errors<'a>(findings: &'a [Value], props: &[(String, String)]) -> Vec<&'a Value> {
    lint_errors(findings)
        .into_iter()
        .filter(|f| {
            let path = &f["Location"]["Path"];
            let id = path[1].as_str().unwrap_or_default();
            path[0] == "Resources"
                && path[2] == "Properties"
                && props.iter().any(|(i, p)| i == id && path[3].as_str() == Some(p.as_str()))
        })
        .collect()
}

#[test]
fn every_taggable_type_accepts_the_injected_tags() {
    let taggable: Vec<(&str, &str)> = tagging::table()
        .filter_map(|(ty, rule)| match rule {
            Taggability::Taggable(rule) => Some((ty, rule.path)),
            _ => None,
        })
        .collect();
    let (sam, cfn): (Vec<_>, Vec<_>) =
        taggable.iter().partition(|(ty, _)| ty.starts_with("AWS::Serverless::"));
    assert!(cfn.len() > 1200 && sam.len() >= 10, "table too small: {} + {}", cfn.len(), sam.len());

    let dir = tempfile::tempdir().expect("temp dir");
    // Under CloudFormation's 500-resource limit per template, so no limit rule muddies the output.
    let (mut files, mut props) = write_templates(dir.path(), "registry", &cfn, 400, None);
    // SAM resources are linted after the SAM transform, which needs their required properties:
    // one file per type, so a type the transform rejects does not hide the others.
    for (i, one) in sam.iter().enumerate() {
        let (f, p) = write_templates(
            dir.path(),
            &format!("sam{i}"),
            std::slice::from_ref(one),
            1,
            Some("AWS::Serverless-2016-10-31"),
        );
        files.extend(f);
        props.extend(p);
    }
    let findings = cfn_lint(&files, &[]);
    let errors = tag_errors(&findings, &props);
    assert!(
        errors.is_empty(),
        "cfn-lint rejects injected tags of {} resources:\n{:#?}",
        errors.len(),
        errors.iter().take(20).collect::<Vec<_>>()
    );
    // The lint ran for real: resources without their required properties were reported.
    assert!(
        lint_errors(&findings).len() > 100,
        "cfn-lint reported almost nothing; did it lint the files?"
    );
}

#[test]
fn the_check_catches_a_wrong_shape() {
    // Control for the test above: the same filter does see a map given where a list is required.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("wrong.json");
    let template = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Tags": {"jiti:app": "x"}}}, "P": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "v", "Tags": [{"Key": "a", "Value": "b"}]}}}});
    std::fs::write(&file, template.to_string()).expect("write");
    let findings = cfn_lint(&[file], &[]);
    let errors = tag_errors(&findings, &[("Q".into(), "Tags".into()), ("P".into(), "Tags".into())]);
    assert_eq!(errors.len(), 2, "{findings:#?}");
}
