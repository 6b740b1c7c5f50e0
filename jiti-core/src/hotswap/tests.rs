use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::artifacts::Package;
use crate::tagging::{KEY_APP, KEY_COMMIT, KEY_MANAGED_BY, MANAGED_BY};
use crate::testing::Fake;

fn artifact(sha: &str) -> ArtifactRef {
    ArtifactRef {
        name: "api".into(),
        bucket: "b".into(),
        key: format!("artifacts/orders/api/{sha}.zip"),
        sha256: sha.into(),
        size: 3,
    }
}

/// A template of a function built from `key`, a queue of `size` and, when given, an output.
fn template(key: &str, size: u32, output: bool) -> Template {
    let outputs = if output { "Outputs:\n  Arn: {Value: x}\n" } else { "" };
    Template::parse(&format!(
        "Resources:\n  Api:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: {{S3Bucket: b, S3Key: {key}}}\n      MemorySize: {size}\n  Q:\n    Type: AWS::SQS::Queue\n{outputs}"
    ))
    .unwrap()
}

fn stack(status: &str, tags: &[(String, String)]) -> Stack {
    Stack {
        name: "orders-feature-x".into(),
        id: "arn:aws:cloudformation:us-east-1:123456789012:stack/orders-feature-x/1".into(),
        status: status.into(),
        tags: tags.iter().cloned().collect(),
        ..Stack::default()
    }
}

fn tags(commit: &str, hash: &str) -> Vec<(String, String)> {
    vec![
        (KEY_APP.into(), "orders".into()),
        (KEY_MANAGED_BY.into(), MANAGED_BY.into()),
        (KEY_COMMIT.into(), commit.into()),
        (KEY_TEMPLATE_HASH.into(), hash.into()),
    ]
}

#[test]
fn only_a_change_of_function_code_is_hotswapped() {
    let (old, new) = (artifact("aa"), artifact("bb"));
    let deployed = template(&old.key, 128, false);
    let deployed_tags = tags("c1", "h-old");
    let wanted_tags = tags("c1", "h-new");
    let refs = [new.clone()];
    let swap = Plan::Swap(vec![Swap { logical_id: "Api".into(), artifact: new.clone() }]);
    // (what is deployed: status and tags; what is wanted: template and tags; the plan)
    type Case = (&'static str, Stack, Template, Vec<(String, String)>, Plan);
    let table: Vec<Case> = vec![
        (
            "code only",
            stack("UPDATE_COMPLETE", &deployed_tags),
            template(&new.key, 128, false),
            wanted_tags.clone(),
            swap.clone(),
        ),
        (
            "after a rolled-back update",
            stack("UPDATE_ROLLBACK_COMPLETE", &deployed_tags),
            template(&new.key, 128, false),
            wanted_tags.clone(),
            swap.clone(),
        ),
        (
            "nothing",
            stack("CREATE_COMPLETE", &deployed_tags),
            template(&old.key, 128, false),
            wanted_tags.clone(),
            Plan::Unchanged,
        ),
        (
            "code and memory",
            stack("UPDATE_COMPLETE", &deployed_tags),
            template(&new.key, 256, false),
            wanted_tags.clone(),
            Plan::Deploy("resource `Api` changes".into()),
        ),
        (
            "an output too",
            stack("UPDATE_COMPLETE", &deployed_tags),
            template(&new.key, 128, true),
            wanted_tags.clone(),
            Plan::Deploy("`Outputs` changes".into()),
        ),
        (
            "a new commit",
            stack("UPDATE_COMPLETE", &deployed_tags),
            template(&new.key, 128, false),
            tags("c2", "h-new"),
            Plan::Deploy("stack tag `jiti:commit` changes (c1 → c2)".into()),
        ),
        (
            "busy",
            stack("UPDATE_IN_PROGRESS", &deployed_tags),
            template(&new.key, 128, false),
            wanted_tags.clone(),
            Plan::Deploy("stack `orders-feature-x` is UPDATE_IN_PROGRESS".into()),
        ),
        (
            "failed create",
            stack("ROLLBACK_COMPLETE", &deployed_tags),
            template(&new.key, 128, false),
            wanted_tags.clone(),
            Plan::Deploy("stack `orders-feature-x` is ROLLBACK_COMPLETE".into()),
        ),
    ];
    for (case, stack, wanted_template, wanted_tags, expected) in table {
        let wanted = Wanted {
            app: "orders",
            tags: &wanted_tags,
            expiry: None,
            parameters: &[],
            template: &wanted_template,
        };
        assert_eq!(plan(&stack, &deployed.value, &wanted, &refs), expected, "{case}");
    }
    // Another app's stack is never touched, whatever differs.
    let billing: Vec<_> = deployed_tags
        .iter()
        .map(|(k, v)| (k.clone(), if k == KEY_APP { "billing".into() } else { v.clone() }))
        .collect();
    let wanted_template = template(&new.key, 128, false);
    let wanted = Wanted {
        app: "orders",
        tags: &wanted_tags,
        expiry: None,
        parameters: &[],
        template: &wanted_template,
    };
    assert!(matches!(
        plan(&stack("UPDATE_COMPLETE", &billing), &deployed.value, &wanted, &refs),
        Plan::Deploy(why) if why.contains("exists but")
    ));
}

#[test]
fn many_differences_are_summed_up() {
    let old = serde_json::json!({"Resources": {"A": {"Type": "T"}, "B": {"Type": "T"}, "C": {"Type": "T"}}});
    let new =
        serde_json::json!({"Resources": {"A": {"Type": "U"}, "D": {"Type": "T"}}, "Outputs": {}});
    assert_eq!(
        difference(&old, &new),
        "resource `A` changes, resource `D` is added, resource `B` is removed and 2 more"
    );
}

fn app_with(package: &[u8]) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    let mut project = crate::testing::project(dir.path());
    project.apps[0].packages = Arc::new(vec![Package::new("api", package.to_vec())]);
    (dir, project)
}

#[tokio::test]
async fn a_swap_uploads_updates_waits_and_checks_in_four_calls() {
    let (_dir, project) = app_with(b"new code");
    let app = &project.apps[0];
    let new = artifact(&app.packages[0].sha256);
    let fake = Fake::default();
    let functions = BTreeMap::from([("Api".to_owned(), "orders-Api-1".to_owned())]);
    let swaps = [Swap { logical_id: "Api".into(), artifact: new.clone() }];
    let done = execute(&fake, app, &swaps, &functions, Duration::from_secs(5)).await.unwrap();
    assert_eq!(done.uploaded, ["api"]);
    assert_eq!(done.swapped.len(), 1);
    assert_eq!(done.swapped[0].function, "orders-Api-1");
    assert_eq!(done.swapped[0].code_sha256, package::code_sha256(&new.sha256).unwrap());
    // Upload, update (answered InProgress, as AWS does), one look until it is Successful.
    assert_eq!(fake.calls(), ["PutObject", "UpdateFunctionCode", "GetFunctionConfiguration"]);

    // A function the stack no longer has, a failed update: errors that say so.
    let e =
        execute(&fake, app, &swaps, &BTreeMap::new(), Duration::from_secs(5)).await.unwrap_err();
    assert!(matches!(e, HotswapError::Missing { .. }), "{e}");
    let failing =
        Fake { update_fails: Some("Unzipped size must be smaller".into()), ..Fake::default() };
    let e = execute(&failing, app, &swaps, &functions, Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "Lambda did not update function orders-Api-1 (Api): Unzipped size must be smaller"
    );
    // The bytes at the key are not the artifact's: refused, not reported as done.
    let mut wrong = new.clone();
    wrong.sha256 = package::sha256_hex(b"other");
    let swaps = [Swap { logical_id: "Api".into(), artifact: wrong }];
    let e = execute(&fake, app, &swaps, &functions, Duration::from_secs(5)).await.unwrap_err();
    assert!(matches!(e, HotswapError::Mismatch { .. }), "{e}");
}

#[test]
fn the_local_copy_is_trusted_only_for_the_stack_it_describes() {
    let t = template("k", 128, false);
    let copy = DeployedCopy {
        stack_name: "orders-feature-x".into(),
        stack_id: Some(
            "arn:aws:cloudformation:us-east-1:123456789012:stack/orders-feature-x/1".into(),
        ),
        template_hash: "h1".into(),
        template: t.value.clone(),
        functions: BTreeMap::from([("Api".into(), "orders-Api-1".into())]),
        hotswapped: false,
    };
    let same = stack("UPDATE_COMPLETE", &tags("c", "h1"));
    assert!(copy.template_of(&same));
    assert!(copy.functions_of(&same).is_some());
    // Deployed since by someone else: another template.
    let changed = stack("UPDATE_COMPLETE", &tags("c", "h2"));
    assert!(!copy.template_of(&changed));
    assert!(copy.functions_of(&changed).is_none());
    // Destroyed and made again with the same template: the template holds, the names do not.
    let remade = Stack {
        id: "arn:aws:cloudformation:us-east-1:123456789012:stack/orders-feature-x/2".into(),
        ..same.clone()
    };
    assert!(copy.template_of(&remade));
    assert!(copy.functions_of(&remade).is_none());
}
