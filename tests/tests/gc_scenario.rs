//! gc on an account a reviewer can read as a table: two apps whose environments live in three
//! regions, seeded with every case gc must judge (live local and remote-only branches, a CI
//! checkout, deleted branches, an expiry passed, a redeploy during the pass, a renamed protected
//! environment, another tool's stack, another app's, look-alike names, orphaned and live
//! resources). Each row says what must happen; the test prints the verdict observed after
//! `gc --yes` beside it, and asserts no wrong deletion.

use std::time::Duration;

use jiti_tests::{Moto, Proxy, Repo, Run, jiti_against, start_until};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    Deleted,
    Kept,
}
use Verdict::{Deleted, Kept};

/// (stack name, region, app tag, env tag, branch tag, extra tags as Python dict items, expected, why)
type StackRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Verdict,
    &'static str,
);
const STACKS: &[StackRow] = &[
    (
        "billing-feature-live",
        "us-west-2",
        "billing",
        "feature-live",
        "feature/live",
        "",
        Kept,
        "branch exists locally and on the remote",
    ),
    (
        "billing-remote-only",
        "us-west-2",
        "billing",
        "remote-only",
        "feature/remote-only",
        "",
        Kept,
        "branch exists on the remote only",
    ),
    ("billing-gone", "us-west-2", "billing", "gone", "feature/gone", "", Deleted, "branch deleted"),
    (
        "orders-api-gone",
        "eu-west-1",
        "orders-api",
        "gone",
        "feature/gone",
        "",
        Deleted,
        "branch deleted (another region)",
    ),
    (
        "billing-expired",
        "us-west-2",
        "billing",
        "expired",
        "feature/live",
        "'jiti:expires-at': '2020-01-01T00:00:00Z'",
        Deleted,
        "time to live passed",
    ),
    (
        "orders-api-redeployed",
        "eu-west-1",
        "orders-api",
        "redeployed",
        "feature/live",
        "'jiti:expires-at': '2020-01-01T00:00:00Z'",
        Kept,
        "redeployed while gc ran (expiry refreshed)",
    ),
    (
        "billing-production",
        "us-east-1",
        "billing",
        "production",
        "main",
        "'jiti:protected': 'true', 'jiti:expires-at': '2020-01-01T00:00:00Z'",
        Kept,
        "protected, though jiti.toml renamed it",
    ),
    (
        "billing-feature-foreign",
        "us-west-2",
        "billing",
        "feature-foreign",
        "feature/gone",
        "'jiti:managed-by': None",
        Kept,
        "another tool's stack with a copied jiti:app",
    ),
    (
        "shipping-gone",
        "us-west-2",
        "shipping",
        "gone",
        "feature/gone",
        "",
        Kept,
        "an app of another workspace",
    ),
    (
        "billingx-gone",
        "us-west-2",
        "billingx",
        "gone",
        "feature/gone",
        "",
        Kept,
        "a look-alike app name",
    ),
    (
        "billing-gone-lookalike",
        "eu-west-1",
        "",
        "",
        "",
        "",
        Kept,
        "a look-alike stack name, no tags",
    ),
];

/// (kind, name, region, env tag, extra tags, expected, why): SQS queues and S3 buckets.
type ResourceRow =
    (&'static str, &'static str, &'static str, &'static str, &'static str, Verdict, &'static str);
const RESOURCES: &[ResourceRow] = &[
    (
        "queue",
        "orphan-queue",
        "us-west-2",
        "gone-2",
        "",
        Deleted,
        "its environment's stack never existed (or is gone)",
    ),
    (
        "bucket",
        "orphan-bucket-west",
        "us-west-2",
        "gone-3",
        "",
        Deleted,
        "its stack is gone; judged in its own region",
    ),
    (
        "bucket",
        "live-bucket-west",
        "us-west-2",
        "feature-live",
        "",
        Kept,
        "its stack is alive (in us-west-2, not in the region gc started from)",
    ),
    (
        "queue",
        "protected-queue",
        "us-east-1",
        "production-2019",
        "'jiti:protected': 'true'",
        Kept,
        "of a protected environment, stack gone",
    ),
];

fn client(moto: &Moto, service: &str, region: &str) -> String {
    format!(
        "boto3.client('{service}', endpoint_url='http://127.0.0.1:{}', region_name='{region}', aws_access_key_id='testing', aws_secret_access_key='testing')",
        moto.port()
    )
}

fn tags(app: &str, env: &str, branch: &str, extra: &str) -> String {
    if app.is_empty() {
        return "{}".to_owned();
    }
    format!(
        "{{k: v for k, v in {{'jiti:app': '{app}', 'jiti:env': '{env}', 'jiti:branch': '{branch}', 'jiti:managed-by': 'cargo-jiti', {extra}}}.items() if v is not None}}"
    )
}

fn seed(moto: &Moto) {
    let mut code =
        String::from("body = json.dumps({'Resources': {'Q': {'Type': 'AWS::SQS::Queue'}}})\n");
    for (name, region, app, env, branch, extra, _, _) in STACKS {
        code.push_str(&format!(
            "{}.create_stack(StackName='{name}', TemplateBody=body, Tags=[{{'Key': k, 'Value': v}} for k, v in {}.items()])\n",
            client(moto, "cloudformation", region),
            tags(app, env, branch, extra)
        ));
    }
    for (kind, name, region, env, extra, _, _) in RESOURCES {
        let t = tags("billing", env, "feature/x", extra);
        code.push_str(&match *kind {
            "queue" => format!("{}.create_queue(QueueName='{name}', tags={t})\n", client(moto, "sqs", region)),
            _ => format!(
                "s3 = {}\ns3.create_bucket(Bucket='{name}'{})\ns3.put_bucket_tagging(Bucket='{name}', Tagging={{'TagSet': [{{'Key': k, 'Value': v}} for k, v in {t}.items()]}})\n",
                client(moto, "s3", region),
                if *region == "us-east-1" { String::new() } else { format!(", CreateBucketConfiguration={{'LocationConstraint': '{region}'}}") }
            ),
        });
    }
    code.push_str("print('null')");
    moto.boto3(&code);
}

/// What exists now: stack names per region, queue names per region, bucket names.
fn exists(moto: &Moto) -> serde_json::Value {
    let mut code = String::from("out = {'stacks': [], 'queues': [], 'buckets': []}\n");
    for region in ["us-east-1", "us-west-2", "eu-west-1"] {
        code.push_str(&format!(
            "out['stacks'] += [s['StackName'] for s in {}.describe_stacks()['Stacks']]\n",
            client(moto, "cloudformation", region)
        ));
        code.push_str(&format!("out['queues'] += [u.rsplit('/', 1)[1] for u in {}.list_queues().get('QueueUrls', [])]\n", client(moto, "sqs", region)));
    }
    code.push_str(&format!("out['buckets'] = [b['Name'] for b in {}.list_buckets()['Buckets']]\nprint(json.dumps(out))", client(moto, "s3", "us-east-1")));
    moto.boto3(&code)
}

#[test]
fn gc_in_three_regions_deletes_exactly_what_nobody_owns() {
    // The workspace: billing's branch environments in us-west-2, orders-api's in eu-west-1,
    // production in us-east-1, renamed `prod` since its stacks were made.
    let repo = Repo::from_fixture("shop");
    for (app, region) in [("billing", "us-west-2"), ("orders-api", "eu-west-1")] {
        let path = format!("{app}/infra/jiti.toml");
        let config = repo.read(&path).replace(
            "[environments.ephemeral]\n",
            &format!("[environments.ephemeral]\nregion = \"{region}\"\n"),
        );
        repo.write(
            &path,
            &config.replace("[environments.protected.production", "[environments.protected.prod"),
        );
    }
    repo.commit("regions, and production renamed");
    let origin = tempfile::tempdir().expect("temp dir");
    let bare = origin.path().join("origin.git");
    let bare = bare.to_str().expect("utf-8");
    repo.git(&["init", "-q", "--bare", "-b", "main", bare]);
    repo.git(&["remote", "add", "origin", bare]);
    repo.git(&["push", "-q", "origin", "main", "main:feature/live", "main:feature/remote-only"]);
    repo.git(&["branch", "feature/live"]);
    let moto = Moto::start();
    seed(&moto);
    let before = exists(&moto);

    // A CI checkout of one ref proves nothing: refused, nothing deleted.
    let ci = Repo::empty();
    ci.git(&["remote", "add", "origin", bare]);
    ci.git(&["fetch", "-q", "origin", "+refs/heads/main:refs/remotes/origin/main"]);
    ci.git(&["checkout", "-q", "--detach", "origin/main"]);
    moto.jiti_env(ci.path(), &["gc", "--yes"], &[("GITHUB_REF_NAME", "main")]).expect(2);
    assert_eq!(exists(&moto), before, "a refused gc deleted something");

    // The real pass, from the developer's clone; while its first DeleteStack is held, the
    // expired orders-api environment is deployed again (its expiry refreshed).
    let proxy = Proxy::slow(&moto.endpoint, "Action=DeleteStack", Duration::from_secs(2));
    let mut cmd = jiti_against(repo.path(), &proxy.endpoint);
    cmd.args(["gc", "--yes", "--remote", "origin", "--jobs", "1", "--json"]);
    let (gc, _, _) = start_until(&mut cmd, "deleting stack orders-api-gone");
    moto.boto3(&format!(
        "{}.update_stack(StackName='orders-api-redeployed', TemplateBody=json.dumps({{'Resources': {{'Q': {{'Type': 'AWS::SQS::Queue'}}, 'R': {{'Type': 'AWS::SQS::Queue'}}}}}}), Tags=[{{'Key': k, 'Value': v}} for k, v in {}.items()])\nprint('null')",
        client(&moto, "cloudformation", "eu-west-1"),
        tags("orders-api", "redeployed", "feature/live", "'jiti:expires-at': '2999-01-01T00:00:00Z'")
    ));
    let report = Run::new(gc.wait_with_output().expect("gc")).expect(0).json();
    let after = exists(&moto);

    let present =
        |list: &str, name: &str| after[list].as_array().expect("list").iter().any(|n| n == name);
    let mut rows = Vec::new();
    for (name, region, _, _, _, _, expected, why) in STACKS {
        let observed = if present("stacks", name) { Kept } else { Deleted };
        rows.push((format!("stack {name}"), *region, *expected, observed, *why));
    }
    for (kind, name, region, _, _, expected, why) in RESOURCES {
        let observed = if present(if *kind == "queue" { "queues" } else { "buckets" }, name) {
            Kept
        } else {
            Deleted
        };
        rows.push((format!("{kind} {name}"), *region, *expected, observed, *why));
    }
    eprintln!("{:<36} {:<10} {:<8} {:<8} why", "item", "region", "expected", "observed");
    for (item, region, expected, observed, why) in &rows {
        eprintln!(
            "{item:<36} {region:<10} {:<8} {:<8} {why}{}",
            format!("{expected:?}"),
            format!("{observed:?}"),
            if expected == observed { "" } else { "   <-- WRONG" }
        );
    }
    let wrong_deletions = rows.iter().filter(|r| r.2 == Kept && r.3 == Deleted).count();
    assert_eq!(wrong_deletions, 0, "wrong deletions: {report:#}");
    let wrong: Vec<_> = rows.iter().filter(|r| r.2 != r.3).collect();
    assert!(wrong.is_empty(), "{wrong:#?}\n{report:#}");
    assert_eq!(
        report["deleted"].as_array().map(|d| d.iter().filter(|x| x["kept"].is_string()).count()),
        Some(1),
        "the redeployed one is kept: {report:#}"
    );
}
