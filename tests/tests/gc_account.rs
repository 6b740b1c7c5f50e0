//! Garbage collection of a crowded account on moto: 61 environment stacks of three workspace apps,
//! a fourth app outside the workspace, stacks of other tools, a stack in progress, resources that
//! outlived their stacks and look-alikes that must survive. The dry run lists exactly what goes,
//! `--yes` removes exactly that (checked resource by resource) and a second pass finds nothing;
//! the same again through a proxy throttling every fifth request of every service.

use std::collections::BTreeSet;

use jiti_tests::{Moto, Proxy, Repo};
use serde_json::{Value, json};

const APPS: [&str; 3] = ["billing", "orders-api", "inventory"];

/// What the account holds before the pass, and what the pass must do with it.
struct Scenario {
    /// Seeding instructions for the boto3 snippet.
    spec: Value,
    /// (stack, reason) of the environments to collect.
    collect: BTreeSet<(String, String)>,
    /// (ARN suffix, ownership, deletable) of the resources to collect.
    orphans: BTreeSet<(String, String, bool)>,
    /// Every stack, collected or not.
    stacks: BTreeSet<String>,
    /// boto3 expressions that succeed only while a resource exists: (name, expression).
    orphan_probes: Vec<(String, String)>,
    survivor_probes: Vec<(String, String)>,
}

fn tags(app: &str, env: &str, branch: &str, extra: &[(&str, &str)]) -> Value {
    let mut t = json!({"jiti:app": app, "jiti:env": env, "jiti:branch": branch, "jiti:managed-by": "cargo-jiti", "jiti:version": "0.1.0", "jiti:commit": "c".repeat(40)});
    for (k, v) in extra {
        t[*k] = json!(v);
    }
    t
}

fn resource_tags(app: &str, env: &str) -> Value {
    json!({"jiti:app": app, "jiti:env": env, "jiti:managed-by": "cargo-jiti"})
}

fn scenario(suffix: &str) -> Scenario {
    let mut stacks = Vec::new();
    let mut collect = BTreeSet::new();
    let mut orphans = BTreeSet::new();
    let expired = [("jiti:expires-at", "2020-01-01T00:00:00Z")];
    let future = [("jiti:expires-at", "2999-01-01T00:00:00Z")];
    for (a, app) in APPS.iter().enumerate() {
        let (gone, exp, live) = [(7, 3, 8), (7, 3, 8), (6, 4, 9)][a];
        for i in 0..gone {
            let name = format!("{app}-gone-{i}");
            // The first one of each app leaves a retained bucket and log group behind; its
            // queue goes with the stack.
            let template = if i == 0 { "retaining" } else { "plain" };
            stacks.push(json!({"name": name, "tags": tags(app, &format!("gone-{i}"), &format!("feature/gone-{i}"), &[]), "template": template}));
            collect.insert((name.clone(), "branch-gone".to_owned()));
            if i == 0 {
                for (kind, deletable) in [("s3", true), ("logs", true), ("sqs", true)] {
                    orphans.insert((
                        format!("{kind}:{name}"),
                        format!("stack-collected:{name}"),
                        deletable,
                    ));
                }
            }
        }
        for i in 0..exp {
            let name = format!("{app}-exp-{i}");
            stacks.push(json!({"name": name, "tags": tags(app, &format!("exp-{i}"), &format!("feature/exp-{i}"), &expired), "template": "plain"}));
            collect.insert((name, "expired".to_owned()));
        }
        for i in 0..live {
            stacks.push(json!({"name": format!("{app}-live-{i}"), "tags": tags(app, &format!("live-{i}"), &format!("feature/live-{i}"), &future), "template": "plain"}));
        }
        stacks.push(json!({"name": format!("{app}-remote-only"), "tags": tags(app, "remote-only", "feature/remote-only", &[]), "template": "plain"}));
        if *app != "inventory" {
            // Protected: never collected, even with an expiry in the past.
            stacks.push(json!({"name": format!("{app}-production"), "tags": tags(app, "production", "main", &expired), "template": "plain"}));
        }
    }
    stacks.push(json!({"name": "billing-stuck", "tags": tags("billing", "stuck", "feature/gone-stuck", &[]), "template": "stuck"}));
    for i in 0..3 {
        stacks.push(json!({"name": format!("shipping-gone-{i}"), "tags": tags("shipping", &format!("gone-{i}"), &format!("feature/gone-{i}"), &[]), "template": "plain"}));
    }
    let mut legacy = tags("billing", "legacy", "feature/gone-legacy", &[]);
    legacy.as_object_mut().expect("tags").remove("jiti:managed-by");
    stacks.push(json!({"name": "billing-legacy", "tags": legacy, "template": "plain"}));
    stacks.push(json!({"name": "plain-one", "tags": {}, "template": "plain"}));
    stacks.push(json!({"name": "plain-two", "tags": {}, "template": "plain"}));

    let bucket = format!("shop-retained-{suffix}");
    let twin = format!("shop-shipping-{suffix}");
    let resources = json!([
        // Orphans: tagged for the workspace, their environment's stack long gone.
        {"kind": "bucket", "name": bucket, "tags": resource_tags("billing", "old-1"), "versions": 3},
        {"kind": "table", "name": "orders-old-1", "tags": resource_tags("orders-api", "old-1")},
        {"kind": "queue", "name": "inventory-old-1", "tags": resource_tags("inventory", "old-1")},
        {"kind": "topic", "name": "billing-old-2", "tags": resource_tags("billing", "old-2")},
        {"kind": "log-group", "name": "/shop/orders-api/old-2", "tags": resource_tags("orders-api", "old-2")},
        {"kind": "parameter", "name": "/shop/inventory/old-2/url", "tags": resource_tags("inventory", "old-2")},
        {"kind": "parameter", "name": "old-url", "tags": resource_tags("billing", "old-3")},
        {"kind": "kms-key", "tags": resource_tags("billing", "old-3")},
        // Look-alikes: another app's, not managed by cargo-jiti, alive, untagged, protected.
        {"kind": "bucket", "name": twin, "tags": resource_tags("shipping", "old-1"), "versions": 1},
        {"kind": "table", "name": "billing-old-1-unmanaged", "tags": {"jiti:app": "billing", "jiti:env": "old-1"}},
        {"kind": "table", "name": "billing-live-1-table", "tags": resource_tags("billing", "live-1")},
        {"kind": "queue", "name": "billing-live-0-queue", "tags": resource_tags("billing", "live-0")},
        {"kind": "topic", "name": "billing-old-2-untagged", "tags": {}},
        {"kind": "log-group", "name": "/shop/billing/production", "tags": resource_tags("billing", "production")},
        {"kind": "parameter", "name": "/shop/inventory/production/url", "tags": resource_tags("inventory", "production")},
    ]);
    for (arn, owner) in [
        (format!("s3:{bucket}"), "stack-gone:billing-old-1"),
        ("table/orders-old-1".to_owned(), "stack-gone:orders-api-old-1"),
        ("inventory-old-1".to_owned(), "stack-gone:inventory-old-1"),
        ("billing-old-2".to_owned(), "stack-gone:billing-old-2"),
        ("log-group:/shop/orders-api/old-2".to_owned(), "stack-gone:orders-api-old-2"),
        ("parameter/shop/inventory/old-2/url".to_owned(), "stack-gone:inventory-old-2"),
        ("parameter/old-url".to_owned(), "stack-gone:billing-old-3"),
    ] {
        orphans.insert((arn, owner.to_owned(), true));
    }
    orphans.insert(("kms:key".to_owned(), "stack-gone:billing-old-3".to_owned(), false));

    let probe = |e: &str| e.to_owned();
    let orphan_probes = vec![
        ("bucket".to_owned(), probe(&format!("c('s3').head_bucket(Bucket='{bucket}')"))),
        ("table".into(), probe("c('dynamodb').describe_table(TableName='orders-old-1')")),
        ("queue".into(), probe("c('sqs').get_queue_url(QueueName='inventory-old-1')")),
        (
            "topic".into(),
            probe(
                "c('sns').get_topic_attributes(TopicArn='arn:aws:sns:us-east-1:123456789012:billing-old-2')",
            ),
        ),
        (
            "log group".into(),
            probe(
                "assert c('logs').describe_log_groups(logGroupNamePrefix='/shop/orders-api/old-2')['logGroups']",
            ),
        ),
        ("parameter".into(), probe("c('ssm').get_parameter(Name='/shop/inventory/old-2/url')")),
        ("plain parameter".into(), probe("c('ssm').get_parameter(Name='old-url')")),
        (
            "retained bucket of a collected stack".into(),
            probe(
                "assert [b for b in c('s3').list_buckets()['Buckets'] if b['Name'].startswith('billing-gone-0-')]",
            ),
        ),
        (
            "retained log group of a collected stack".into(),
            probe(
                "assert c('logs').describe_log_groups(logGroupNamePrefix='inventory-gone-0-')['logGroups']",
            ),
        ),
    ];
    let survivor_probes = vec![
        (
            "another app's bucket".to_owned(),
            probe(&format!("c('s3').head_bucket(Bucket='{twin}')")),
        ),
        (
            "unmanaged table".into(),
            probe("c('dynamodb').describe_table(TableName='billing-old-1-unmanaged')"),
        ),
        (
            "live table".into(),
            probe("c('dynamodb').describe_table(TableName='billing-live-1-table')"),
        ),
        ("live queue".into(), probe("c('sqs').get_queue_url(QueueName='billing-live-0-queue')")),
        (
            "untagged topic".into(),
            probe(
                "c('sns').get_topic_attributes(TopicArn='arn:aws:sns:us-east-1:123456789012:billing-old-2-untagged')",
            ),
        ),
        (
            "protected log group".into(),
            probe(
                "assert c('logs').describe_log_groups(logGroupNamePrefix='/shop/billing/production')['logGroups']",
            ),
        ),
        (
            "protected parameter without its stack".into(),
            probe("c('ssm').get_parameter(Name='/shop/inventory/production/url')"),
        ),
        ("the KMS key left for you".into(), probe("assert c('kms').list_keys()['Keys']")),
    ];
    let names = stacks.iter().map(|s| s["name"].as_str().unwrap_or_default().to_owned()).collect();
    Scenario {
        spec: json!({"stacks": stacks, "resources": resources}),
        collect,
        orphans,
        stacks: names,
        orphan_probes,
        survivor_probes,
    }
}

/// Creates the scenario's stacks and resources on `moto`.
fn seed(moto: &Moto, spec: &Value) {
    let code = format!(
        r#"
from botocore.config import Config
spec = json.loads({spec:?})
cf = c('cloudformation')
once = boto3.client('cloudformation', endpoint_url={endpoint:?}, region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing', config=Config(retries={{'max_attempts': 1}}))
def tag_list(t): return [{{'Key': k, 'Value': v}} for k, v in t.items()]
def template(kind, t):
    own = tag_list({{k: v for k, v in t.items() if k in ('jiti:app', 'jiti:env', 'jiti:managed-by')}})
    if kind == 'plain':
        r = {{'Q': {{'Type': 'AWS::SQS::Queue'}}}}
    elif kind == 'retaining':
        r = {{'B': {{'Type': 'AWS::S3::Bucket', 'DeletionPolicy': 'Retain', 'Properties': {{'Tags': own}}}},
             'L': {{'Type': 'AWS::Logs::LogGroup', 'DeletionPolicy': 'Retain', 'Properties': {{'Tags': own}}}},
             'Q': {{'Type': 'AWS::SQS::Queue', 'Properties': {{'Tags': own}}}}}}
    else:
        # moto cannot create a tagged SSM parameter: the stack stays CREATE_IN_PROGRESS for ever.
        r = {{'P': {{'Type': 'AWS::SSM::Parameter', 'Properties': {{'Type': 'String', 'Value': 'x', 'Tags': {{'a': 'b'}}}}}}}}
    return json.dumps({{'Resources': r}})
for s in spec['stacks']:
    args = dict(StackName=s['name'], TemplateBody=template(s['template'], s['tags']), Tags=tag_list(s['tags']))
    if s['template'] == 'stuck':
        try: once.create_stack(**args)
        except Exception: pass
    else:
        cf.create_stack(**args)
for r in spec['resources']:
    t = r['tags']
    if r['kind'] == 'bucket':
        s3 = c('s3')
        s3.create_bucket(Bucket=r['name'])
        if t: s3.put_bucket_tagging(Bucket=r['name'], Tagging={{'TagSet': tag_list(t)}})
        s3.put_bucket_versioning(Bucket=r['name'], VersioningConfiguration={{'Status': 'Enabled'}})
        for v in range(r['versions']):
            s3.put_object(Bucket=r['name'], Key='invoices/1.json', Body=str(v).encode())
        s3.put_object(Bucket=r['name'], Key='invoices/2.json', Body=b'x')
        s3.delete_object(Bucket=r['name'], Key='invoices/2.json')
    elif r['kind'] == 'table':
        c('dynamodb').create_table(TableName=r['name'], KeySchema=[{{'AttributeName': 'k', 'KeyType': 'HASH'}}], AttributeDefinitions=[{{'AttributeName': 'k', 'AttributeType': 'S'}}], BillingMode='PAY_PER_REQUEST', **({{'Tags': tag_list(t)}} if t else {{}}))
    elif r['kind'] == 'queue':
        c('sqs').create_queue(QueueName=r['name'], tags=t)
    elif r['kind'] == 'topic':
        c('sns').create_topic(Name=r['name'], Tags=tag_list(t))
    elif r['kind'] == 'log-group':
        c('logs').create_log_group(logGroupName=r['name'], tags=t)
    elif r['kind'] == 'parameter':
        c('ssm').put_parameter(Name=r['name'], Value='https://example.com', Type='String', **({{'Tags': tag_list(t)}} if t else {{}}))
    elif r['kind'] == 'kms-key':
        c('kms').create_key(Tags=[{{'TagKey': k, 'TagValue': v}} for k, v in t.items()])
print('null')
"#,
        spec = spec.to_string(),
        endpoint = moto.endpoint,
    );
    moto.boto3(&code);
}

fn all_stacks(moto: &Moto) -> BTreeSet<String> {
    let v = moto.boto3("names = []\nfor page in c('cloudformation').get_paginator('describe_stacks').paginate():\n    names += [s['StackName'] for s in page['Stacks']]\nprint(json.dumps(names))");
    v.as_array().expect("names").iter().map(|s| s.as_str().unwrap_or_default().to_owned()).collect()
}

/// Whether each probe's resource exists.
fn exists(moto: &Moto, probes: &[(String, String)]) -> Vec<(String, bool)> {
    let mut code = String::from("out = []\n");
    for (name, expr) in probes {
        code.push_str(&format!("try:\n    {expr}\n    out.append([{name:?}, True])\nexcept Exception:\n    out.append([{name:?}, False])\n"));
    }
    code.push_str("print(json.dumps(out))");
    serde_json::from_value(moto.boto3(&code)).expect("probe results")
}

/// (ARN shortened to what identifies it, ownership, deletable) of a report's planned resources.
fn planned_resources(report: &Value) -> BTreeSet<(String, String, bool)> {
    report["plan"]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            let arn = r["arn"].as_str().unwrap_or_default();
            let stack = r["stack_name"].as_str().unwrap_or_default();
            // Stack-made resources have generated names: the stack's name identifies them.
            let id = match arn.split(':').nth(2).unwrap_or_default() {
                "s3" | "logs" | "sqs" if arn.contains(&format!("{stack}-")) => {
                    format!("{}:{stack}", arn.split(':').nth(2).unwrap_or_default())
                }
                "kms" => "kms:key".to_owned(),
                "s3" => format!("s3:{}", arn.trim_start_matches("arn:aws:s3:::")),
                _ => arn.rsplit_once(":123456789012:").map_or(arn, |(_, r)| r).to_owned(),
            };
            (
                id,
                format!("{}:{stack}", r["orphan"].as_str().unwrap_or_default()),
                !r["delete"].is_null(),
            )
        })
        .collect()
}

fn planned_stacks(report: &Value) -> BTreeSet<(String, String)> {
    report["plan"]["collect"]
        .as_array()
        .expect("collect")
        .iter()
        .map(|c| {
            (
                c["stack_name"].as_str().unwrap_or_default().to_owned(),
                c["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The shop with a third app, branches for the live and expired environments, and an `origin`
/// holding `main` and a branch only it has.
fn workspace() -> (Repo, tempfile::TempDir) {
    let repo = Repo::from_fixture("shop");
    repo.write(
        "Cargo.toml",
        &repo.read("Cargo.toml").replace(
            r#"members = ["billing", "orders-api"]"#,
            r#"members = ["billing", "orders-api", "inventory"]"#,
        ),
    );
    repo.write("inventory/Cargo.toml", "[package]\nname = \"inventory\"\nversion = \"0.2.0\"\nedition = \"2024\"\npublish = false\n");
    repo.write(
        "inventory/src/main.rs",
        "//! Inventory: counts what is in stock.\n\nfn main() {}\n",
    );
    repo.write("inventory/infra/jiti.toml", "[app]\nregion = \"us-east-1\"\n");
    repo.write("inventory/infra/stack.yaml", "Resources:\n  Stock:\n    Type: AWS::SQS::Queue\n");
    repo.commit("inventory app");
    for i in 0..9 {
        repo.git(&["branch", &format!("feature/live-{i}")]);
    }
    for i in 0..4 {
        repo.git(&["branch", &format!("feature/exp-{i}")]);
    }
    let origin = tempfile::tempdir().expect("temp dir");
    let bare = origin.path().join("origin.git");
    repo.git(&["init", "-q", "--bare", "-b", "main", bare.to_str().expect("utf-8")]);
    repo.git(&["remote", "add", "origin", bare.to_str().expect("utf-8")]);
    repo.git(&["push", "-q", "origin", "main", "main:feature/remote-only"]);
    (repo, origin)
}

/// Runs the whole scenario against `endpoint` (moto itself, or a proxy in front of it).
fn collect_the_account(moto: &Moto, endpoint: &str, suffix: &str) {
    let (repo, _origin) = workspace();
    let s = scenario(suffix);
    seed(moto, &s.spec);
    // The clone learns of its remote's branches after those environments were deployed.
    repo.git(&["fetch", "-q", "origin"]);
    assert_eq!(all_stacks(moto), s.stacks, "the seeding made every stack");
    assert!(
        exists(moto, &s.orphan_probes).iter().all(|(_, e)| *e),
        "the seeding made every orphan"
    );
    let gc = |args: &[&str]| {
        let mut all = vec!["gc", "--endpoint-url", endpoint];
        all.extend_from_slice(args);
        moto.jiti(repo.path(), &all)
    };

    let dry = gc(&["--json"]).expect(0).json();
    assert_eq!(planned_stacks(&dry), s.collect, "{:#}", dry["plan"]["collect"]);
    assert_eq!(planned_resources(&dry), s.orphans, "{:#}", dry["plan"]["resources"]);
    let kept: Vec<&str> = dry["plan"]["kept"]
        .as_array()
        .expect("kept")
        .iter()
        .map(|k| k["stack_name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kept, ["billing-stuck"], "{:#}", dry["plan"]["kept"]);
    let kept_resources: Vec<&str> = dry["plan"]["kept_resources"]
        .as_array()
        .expect("kept")
        .iter()
        .map(|k| k["arn"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        kept_resources,
        ["arn:aws:ssm:us-east-1:123456789012:parameter/shop/inventory/production/url"]
    );
    // Cost of a dry run: one stack listing (67 stacks, moto's pages of 50), one tagging query
    // (about 85 resources, stacks included, in pages of up to 500 tags), one page of Lambda's
    // log groups (none here, so the ledger is not listed for them), and the region of each
    // bucket whose stack is not in the listing (one: the versioned orphan; the others' stacks are
    // listed, so they are judged here without asking); for old builds, the artifacts bucket's name
    // (STS) and one listing of `artifacts/` (there is no bucket: nothing more).
    let calls = &dry["api_calls"]["by_operation"];
    let operations = [
        "CloudFormation.DescribeStacks",
        "CloudWatch Logs.DescribeLogGroups",
        "Resource Groups Tagging API.GetResources",
        "S3.GetBucketLocation",
        "S3.ListObjectsV2",
        "STS.GetCallerIdentity",
    ];
    assert_eq!(
        calls.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()),
        Some(operations.map(String::from).to_vec()),
        "{calls:#}"
    );
    assert_eq!(
        operations.map(|o| calls[o]["calls"].as_u64()),
        [Some(2), Some(1), Some(1), Some(1), Some(1), Some(1)],
        "{calls:#}"
    );
    // Dependents go first: orders-api imports from billing.
    let order: Vec<&str> = dry["plan"]["collect"]
        .as_array()
        .expect("collect")
        .iter()
        .map(|c| c["app"].as_str().unwrap_or_default())
        .collect();
    let last_orders = order.iter().rposition(|a| *a == "orders-api");
    assert!(last_orders < order.iter().position(|a| *a == "billing"), "{order:?}");
    assert_eq!(all_stacks(moto), s.stacks, "a dry run deletes nothing");
    assert!(exists(moto, &s.orphan_probes).iter().all(|(_, e)| *e), "a dry run deletes nothing");

    let human = gc(&[]).expect(0).stdout;
    for line in [
        "would delete arn:aws:dynamodb:us-east-1:123456789012:table/orders-old-1 (orders-api, old-1): orphan of stack orders-api-old-1 (gone)",
        "left for you arn:aws:kms:us-east-1:123456789012:key/",
        "dry run: 30 environment stack(s) and 16 resource(s) would be deleted, 1 left for you; run again with --yes to delete them",
    ] {
        assert!(human.contains(line), "no `{line}` in:\n{human}");
    }

    let real = gc(&["--yes", "--json", "--jobs", "8"]).expect(0).json();
    assert_eq!(planned_stacks(&real), s.collect, "--yes executes the same plan");
    assert_eq!(planned_resources(&real), s.orphans, "--yes executes the same plan");
    assert!(
        real["deleted"].as_array().expect("deleted").iter().all(|d| d["deleted"] == true),
        "{:#}",
        real["deleted"]
    );
    let removed = real["removed"].as_array().expect("removed");
    assert_eq!(removed.len(), 16, "every deletable orphan, no more: {removed:#?}");
    for r in removed {
        let arn = r["arn"].as_str().unwrap_or_default();
        // The queue of a collected stack goes with its stack; everything else is gc's to delete.
        let expected = if arn.contains(":sqs:") && arn.contains("-gone-0-") {
            "already-gone"
        } else {
            "deleted"
        };
        assert_eq!(r["outcome"], expected, "{r:#}");
    }
    let after = all_stacks(moto);
    let gone: BTreeSet<String> = s.stacks.difference(&after).cloned().collect();
    assert_eq!(
        gone,
        s.collect.iter().map(|(name, _)| name.clone()).collect(),
        "exactly the planned stacks are deleted"
    );
    assert!(after.is_subset(&s.stacks));
    for (name, alive) in exists(moto, &s.orphan_probes) {
        assert!(!alive, "the orphaned {name} is still there");
    }
    for (name, alive) in exists(moto, &s.survivor_probes) {
        assert!(alive, "the {name} was deleted");
    }

    let again = gc(&["--json"]).expect(0).json();
    assert_eq!(planned_stacks(&again), BTreeSet::new(), "a second pass finds no stack");
    assert_eq!(
        planned_resources(&again),
        [("kms:key".to_owned(), "stack-gone:billing-old-3".to_owned(), false)].into(),
        "a second pass finds only what is left for you"
    );
}

#[test]
fn gc_of_a_crowded_account_removes_exactly_what_nobody_owns() {
    let moto = Moto::start();
    collect_the_account(&moto, &moto.endpoint.clone(), "direct");
}

#[test]
fn gc_through_throttling_comes_to_the_same_outcome() {
    let moto = Moto::start();
    let proxy = Proxy::throttling(&moto.endpoint, 5);
    collect_the_account(&moto, &proxy.endpoint, "throttled");
    assert!(proxy.throttled() > 20, "the proxy throttled only {} requests", proxy.throttled());
}
