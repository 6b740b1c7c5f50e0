//! Garbage collection of environments on moto: exactly the environments whose branch is gone or
//! whose time to live passed go; protected, foreign, unmanaged and live ones stay, checked stack by
//! stack. Each test has an emulator of its own: gc looks at every stack of the account.

use jiti_tests::{Moto, Repo};
use serde_json::Value;

/// Creates a stack tagged as environment `env` of `app` on `branch` (as a deploy would tag it).
fn seed(moto: &Moto, stacks: &[(&str, &str, &str, &str)]) {
    let mut code = String::from(
        "cf = c('cloudformation')\nbody = json.dumps({'Resources': {'Q': {'Type': 'AWS::SQS::Queue'}}})\n",
    );
    for (name, app, env, extra) in stacks {
        let tags = match app.is_empty() {
            // A stack of another tool: no jiti tag at all.
            true => "[]".to_owned(),
            false => format!(
                "[{{'Key': 'jiti:app', 'Value': {app:?}}}, {{'Key': 'jiti:env', 'Value': {env:?}}}, {{'Key': 'jiti:version', 'Value': '0.1.0'}}, {{'Key': 'jiti:commit', 'Value': 'c' * 40}}{extra}]"
            ),
        };
        code.push_str(&format!(
            "cf.create_stack(StackName={name:?}, TemplateBody=body, Tags={tags})\n"
        ));
    }
    code.push_str("print('null')");
    moto.boto3(&code);
}

fn branch(b: &str) -> String {
    format!(
        ", {{'Key': 'jiti:branch', 'Value': {b:?}}}, {{'Key': 'jiti:managed-by', 'Value': 'cargo-jiti'}}"
    )
}

fn stacks(moto: &Moto) -> Vec<String> {
    let v = moto.boto3("print(json.dumps(sorted(s['StackName'] for s in c('cloudformation').describe_stacks()['Stacks'])))");
    v.as_array().expect("names").iter().map(|s| s.as_str().unwrap_or_default().to_owned()).collect()
}

fn planned(report: &Value) -> Vec<(String, String)> {
    let mut v: Vec<_> = report["plan"]["collect"]
        .as_array()
        .expect("collect")
        .iter()
        .map(|c| {
            (
                c["stack_name"].as_str().unwrap_or_default().to_owned(),
                c["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The shop with an `origin` (a bare repository beside it) holding `main` and a remote-only branch.
fn shop_with_origin() -> (Repo, tempfile::TempDir) {
    let repo = Repo::from_fixture("shop");
    let origin = tempfile::tempdir().expect("temp dir");
    let bare = origin.path().join("origin.git");
    repo.git(&["init", "-q", "--bare", "-b", "main", bare.to_str().expect("utf-8")]);
    repo.git(&["remote", "add", "origin", bare.to_str().expect("utf-8")]);
    repo.git(&["push", "-q", "origin", "main", "main:feature/remote-only"]);
    repo.git(&["checkout", "-q", "-b", "feature/live"]);
    repo.git(&["checkout", "-q", "-b", "feature/live-expired"]);
    repo.git(&["checkout", "-q", "main"]);
    (repo, origin)
}

#[test]
fn gc_removes_exactly_the_environments_nobody_owns() {
    let (repo, _origin) = shop_with_origin();
    let moto = Moto::start();
    let expired = ", {'Key': 'jiti:expires-at', 'Value': '2020-01-01T00:00:00Z'}";
    let future = ", {'Key': 'jiti:expires-at', 'Value': '2999-01-01T00:00:00Z'}";
    seed(
        &moto,
        &[
            ("billing-production", "billing", "production", &branch("main")),
            ("billing-feature-live", "billing", "feature-live", &(branch("feature/live") + future)),
            ("billing-remote-only", "billing", "remote-only", &branch("feature/remote-only")),
            ("billing-gone-1", "billing", "gone-1", &branch("feature/gone-1")),
            ("orders-api-gone-1", "orders-api", "gone-1", &branch("feature/gone-1")),
            ("orders-api-gone-2", "orders-api", "gone-2", &branch("feature/gone-2")),
            (
                "billing-live-expired",
                "billing",
                "live-expired",
                &(branch("feature/live-expired") + expired),
            ),
            (
                "billing-unmanaged",
                "billing",
                "unmanaged",
                ", {'Key': 'jiti:branch', 'Value': 'feature/gone-9'}",
            ),
            ("shipping-gone", "shipping", "gone", &branch("feature/gone-1")),
            ("plain-stack", "", "", ""),
        ],
    );
    // The clone learns of its remote's branches after those environments were deployed.
    repo.git(&["fetch", "-q", "origin"]);
    let before = stacks(&moto);

    let dry = moto.jiti(repo.path(), &["gc", "--json"]).expect(0).json();
    let expected = vec![
        ("billing-gone-1".to_owned(), "branch-gone".to_owned()),
        ("billing-live-expired".into(), "expired".into()),
        ("orders-api-gone-1".into(), "branch-gone".into()),
        ("orders-api-gone-2".into(), "branch-gone".into()),
    ];
    assert_eq!(planned(&dry), expected, "{dry:#}");
    // One tagging query, one page of Lambda's log groups and one stack listing (no log group
    // here: the ledger is not listed for them); for old builds, the bucket's name (STS) and one
    // listing of `artifacts/` (every build is younger than a day: the ledger is not read).
    assert_eq!(dry["api_calls"]["total"], 5, "{}", dry["api_calls"]);
    assert_eq!(dry["api_calls"]["by_operation"]["CloudWatch Logs.DescribeLogGroups"]["calls"], 1);
    // orders-api depends on billing: its stacks go first.
    let order: Vec<&str> = dry["plan"]["collect"]
        .as_array()
        .expect("collect")
        .iter()
        .map(|c| c["app"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(order, ["orders-api", "orders-api", "billing", "billing"]);
    assert_eq!(stacks(&moto), before, "a dry run deletes nothing");

    let human = moto.jiti(repo.path(), &["gc"]).expect(0);
    assert!(
        human.stdout.contains("branch `feature/gone-2` is gone")
            && human.stdout.contains("run again with --yes"),
        "{}",
        human.stdout
    );

    let real = moto.jiti(repo.path(), &["gc", "--yes", "--json"]).expect(0).json();
    assert!(
        real["deleted"].as_array().expect("deleted").iter().all(|d| d["deleted"] == true),
        "{real:#}"
    );
    let after = stacks(&moto);
    let gone: Vec<&String> = before.iter().filter(|s| !after.contains(s)).collect();
    assert_eq!(
        gone,
        ["billing-gone-1", "billing-live-expired", "orders-api-gone-1", "orders-api-gone-2"]
    );
    for kept in [
        "billing-production",
        "billing-feature-live",
        "billing-remote-only",
        "billing-unmanaged",
        "shipping-gone",
        "plain-stack",
    ] {
        assert!(after.iter().any(|s| s == kept), "{kept} was deleted");
    }
    let again = moto.jiti(repo.path(), &["gc", "--json"]).expect(0).json();
    assert_eq!(planned(&again), vec![], "a second pass finds nothing");
}

#[test]
fn incomplete_knowledge_of_branches_is_never_taken_for_deleted_branches() {
    let (repo, origin) = shop_with_origin();
    let moto = Moto::start();
    seed(
        &moto,
        &[
            ("billing-remote-only", "billing", "remote-only", &branch("feature/remote-only")),
            ("billing-gone-1", "billing", "gone-1", &branch("feature/gone-1")),
        ],
    );
    // A CI checkout: shallow, one branch.
    let ci = tempfile::tempdir().expect("temp dir");
    let url = format!("file://{}", origin.path().join("origin.git").display());
    let status = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "1", "--single-branch", "--branch", "main", &url])
        .arg(ci.path().join("shop"))
        .status()
        .expect("git clone");
    assert!(status.success());
    let checkout = ci.path().join("shop");
    let refused = moto.jiti(&checkout, &["gc"]).expect(2);
    assert!(
        refused
            .stderr
            .contains("cannot tell deleted branches from branches this clone does not have")
            && refused.stderr.contains("--remote origin"),
        "{}",
        refused.stderr
    );
    // Listing the remote live judges correctly.
    let report = moto.jiti(&checkout, &["gc", "--remote", "origin", "--json"]).expect(0).json();
    assert_eq!(
        planned(&report),
        vec![("billing-gone-1".to_owned(), "branch-gone".to_owned())],
        "{report:#}"
    );

    // An environment deployed after this clone last fetched is not judged.
    drop(repo);
    seed(&moto, &[("billing-newer", "billing", "newer", &branch("feature/newer-than-fetch"))]);
    let full = tempfile::tempdir().expect("temp dir");
    let status = std::process::Command::new("git")
        .args(["clone", "-q", &url])
        .arg(full.path().join("shop"))
        .status()
        .expect("git clone");
    assert!(status.success());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    seed(&moto, &[("billing-newest", "billing", "newest", &branch("feature/after-the-fetch"))]);
    let report = moto.jiti(&full.path().join("shop"), &["gc", "--json"]).expect(0).json();
    let kept: Vec<&str> = report["plan"]["kept"]
        .as_array()
        .expect("kept")
        .iter()
        .map(|k| k["stack_name"].as_str().unwrap_or_default())
        .collect();
    assert!(kept.contains(&"billing-newest"), "{report:#}");
    assert!(planned(&report).iter().any(|(s, _)| s == "billing-newer"), "{report:#}");
}

#[test]
fn a_plan_that_removes_most_of_an_apps_environments_needs_max_delete() {
    let (repo, _origin) = shop_with_origin();
    let moto = Moto::start();
    let mut seeded: Vec<(String, String)> =
        (0..7).map(|i| (format!("billing-gone-{i}"), format!("gone-{i}"))).collect();
    seeded.push(("billing-feature-live".into(), "feature-live".into()));
    let branches: Vec<String> = (0..7)
        .map(|i| branch(&format!("feature/gone-{i}")))
        .chain([branch("feature/live")])
        .collect();
    let rows: Vec<(&str, &str, &str, &str)> = seeded
        .iter()
        .zip(&branches)
        .map(|((name, env), b)| (name.as_str(), "billing", env.as_str(), b.as_str()))
        .collect();
    seed(&moto, &rows);
    repo.git(&["fetch", "-q", "origin"]);
    let refused = moto.jiti(repo.path(), &["gc", "--yes"]).expect(2);
    assert!(refused.stderr.contains("the plan removes 7 of the 8 environments of app `billing`; if that is right, pass --max-delete 7"), "{}", refused.stderr);
    assert_eq!(stacks(&moto).len(), 8, "a refused plan deletes nothing");
    let report =
        moto.jiti(repo.path(), &["gc", "--yes", "--max-delete", "7", "--json"]).expect(0).json();
    assert_eq!(report["deleted"].as_array().map(Vec::len), Some(7));
    assert_eq!(stacks(&moto), ["billing-feature-live"]);
}
