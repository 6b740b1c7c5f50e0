//! gc never deletes what is alive: not from a CI checkout that fetched one ref, not on facts that
//! changed between its listing and its DeleteStack, and it never fails on what is already gone.
//! Each test has an emulator of its own (gc looks at every stack of the account).

use std::time::Duration;

use jiti_tests::{Moto, Proxy, Repo, Run, jiti_against, start_until};
use serde_json::Value;

/// Stacks tagged as environments of `billing` on branches, as deploys tag them.
fn seed(moto: &Moto, envs: &[(&str, &str)]) {
    let mut code = String::from(
        "cf = c('cloudformation')\nbody = json.dumps({'Resources': {'Q': {'Type': 'AWS::SQS::Queue'}}})\n",
    );
    for (env, branch) in envs {
        code.push_str(&format!(
            "cf.create_stack(StackName='billing-{env}', TemplateBody=body, Tags=[{{'Key': k, 'Value': v}} for k, v in {{'jiti:app': 'billing', 'jiti:env': '{env}', 'jiti:branch': '{branch}', 'jiti:managed-by': 'cargo-jiti'}}.items()])\n"
        ));
    }
    code.push_str("print('null')");
    moto.boto3(&code);
}

fn stacks(moto: &Moto) -> Vec<String> {
    let v = moto.boto3("print(json.dumps(sorted(s['StackName'] for s in c('cloudformation').describe_stacks()['Stacks'])))");
    serde_json::from_value(v).expect("names")
}

fn planned(report: &Value) -> Vec<String> {
    let mut v: Vec<String> = report["plan"]["collect"]
        .as_array()
        .expect("collect")
        .iter()
        .map(|c| c["stack_name"].as_str().unwrap_or_default().to_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_ci_checkout_of_one_ref_never_judges_other_branches_gone() {
    // origin holds main and two live branches.
    let repo = Repo::from_fixture("shop");
    let origin = tempfile::tempdir().expect("temp dir");
    let bare = origin.path().join("origin.git");
    let bare = bare.to_str().expect("utf-8");
    repo.git(&["init", "-q", "--bare", "-b", "main", bare]);
    repo.git(&["remote", "add", "origin", bare]);
    repo.git(&["push", "-q", "origin", "main", "main:feature/a", "main:feature/b"]);
    let moto = Moto::start();
    seed(
        &moto,
        &[("feature-a", "feature/a"), ("feature-b", "feature/b"), ("gone", "feature/gone")],
    );

    // A CI job: fetches its own ref only, checks it out detached, names its branch in a variable.
    let ci = Repo::empty();
    ci.git(&["remote", "add", "origin", bare]);
    ci.git(&["fetch", "-q", "origin", "+refs/heads/feature/a:refs/remotes/origin/feature/a"]);
    ci.git(&["checkout", "-q", "--detach", "origin/feature/a"]);
    let env = [("GITHUB_REF_NAME", "feature/a")];
    let refused = moto.jiti_env(ci.path(), &["gc", "--yes"], &env).expect(2);
    assert!(
        refused.stderr.contains("cannot tell deleted branches")
            && refused.stderr.contains("HEAD is detached"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--remote origin"),
        "the error says what to do: {}",
        refused.stderr
    );
    assert_eq!(stacks(&moto), ["billing-feature-a", "billing-feature-b", "billing-gone"]);

    // A clone with a remote but no remote-tracking branch at all proves nothing either.
    let bare_clone = Repo::empty();
    bare_clone.git(&["remote", "add", "origin", bare]);
    bare_clone.git(&["fetch", "-q", "origin", "main"]);
    bare_clone.git(&["update-ref", "-d", "refs/remotes/origin/main"]);
    bare_clone.git(&["checkout", "-q", "-b", "main", "FETCH_HEAD"]);
    let refused = moto.jiti(bare_clone.path(), &["gc"]).expect(2);
    assert!(refused.stderr.contains("no remote-tracking branch"), "{}", refused.stderr);

    // With the remote listed live, only the branch that is really gone goes.
    let dry =
        moto.jiti_env(ci.path(), &["gc", "--remote", "origin", "--json"], &env).expect(0).json();
    assert_eq!(planned(&dry), ["billing-gone"], "{dry:#}");
    moto.jiti_env(ci.path(), &["gc", "--remote", "origin", "--yes"], &env).expect(0);
    assert_eq!(stacks(&moto), ["billing-feature-a", "billing-feature-b"]);
}

#[test]
fn the_branch_a_command_runs_for_is_alive() {
    // No remote at all: local branches only, and the branch given to the command, which CI
    // checkouts do not have locally.
    let repo = Repo::from_fixture("shop");
    let moto = Moto::start();
    seed(&moto, &[("feature-ci", "feature/ci"), ("gone", "feature/gone")]);
    repo.git(&["checkout", "-q", "--detach"]);
    let dry = moto
        .jiti_env(repo.path(), &["gc", "--json"], &[("GITHUB_REF_NAME", "feature/ci")])
        .expect(0)
        .json();
    assert_eq!(planned(&dry), ["billing-gone"], "{dry:#}");
}

#[test]
fn a_stack_redeployed_while_gc_runs_is_judged_again_and_kept() {
    let repo = Repo::from_fixture("shop");
    repo.git(&["branch", "feature/live"]);
    let moto = Moto::start();
    seed(&moto, &[("gone-1", "feature/gone-1"), ("live", "feature/live")]);
    let retag = |expires: &str, commit: &str| {
        moto.boto3(&format!(
            "c('cloudformation').update_stack(StackName='billing-live', TemplateBody=json.dumps({{'Resources': {{'Q': {{'Type': 'AWS::SQS::Queue'}}, 'R{commit}': {{'Type': 'AWS::SQS::Queue'}}}}}}), Tags=[{{'Key': k, 'Value': v}} for k, v in {{'jiti:app': 'billing', 'jiti:env': 'live', 'jiti:branch': 'feature/live', 'jiti:managed-by': 'cargo-jiti', 'jiti:expires-at': '{expires}', 'jiti:commit': '{commit}'}}.items()])\nprint('null')"
        ))
    };
    // The live branch's environment has expired: gc plans it.
    retag("2020-01-01T00:00:00Z", "a1");
    // Each DeleteStack is held 3 s: while the first is held, the expired environment is deployed
    // again (a new commit, its expiry refreshed), as a developer's `cargo jiti deploy` would.
    let proxy = Proxy::slow(&moto.endpoint, "Action=DeleteStack", Duration::from_secs(3));
    let mut cmd = jiti_against(repo.path(), &proxy.endpoint);
    cmd.args(["gc", "--yes", "--jobs", "1", "--json"]);
    let (gc, _, _) = start_until(&mut cmd, "deleting stack billing-gone-1");
    retag("2999-01-01T00:00:00Z", "b2");
    let report = Run::new(gc.wait_with_output().expect("gc")).expect(0).json();
    assert_eq!(
        planned(&report),
        ["billing-gone-1", "billing-live"],
        "both were planned: {report:#}"
    );
    let deleted: Vec<(String, bool, Value)> = report["deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .map(|d| {
            (
                d["stack_name"].as_str().unwrap_or_default().to_owned(),
                d["deleted"].as_bool().unwrap_or(false),
                d["kept"].clone(),
            )
        })
        .collect();
    assert_eq!(deleted.len(), 2, "{report:#}");
    assert!(deleted.contains(&("billing-gone-1".to_owned(), true, Value::Null)), "{deleted:?}");
    let kept = deleted.iter().find(|d| d.0 == "billing-live").expect("live");
    assert!(
        !kept.1 && kept.2.as_str().is_some_and(|w| w.starts_with("changed since the plan")),
        "{deleted:?}"
    );
    assert_eq!(stacks(&moto), ["billing-live"]);
}

#[test]
fn resources_already_gone_with_their_stack_are_no_failure() {
    let repo = Repo::from_fixture("shop");
    repo.git(&["checkout", "-q", "-b", "feature/short-lived"]);
    let moto = Moto::start();
    // The branch environment's bucket goes with its stack (Retain is rewritten to Delete).
    moto.jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct"]).expect(0);
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["branch", "-q", "-D", "feature/short-lived"]);
    let report = moto.jiti(repo.path(), &["gc", "--yes", "--json"]).expect(0).json();
    let removed = report["removed"].as_array().expect("removed");
    assert!(
        removed.iter().any(|r| r["arn"].as_str().is_some_and(|a| a.starts_with("arn:aws:s3:::"))),
        "the bucket was planned: {report:#}"
    );
    for r in removed {
        assert!(r["outcome"] == "already-gone" || r["outcome"] == "deleted", "{r:#}");
        assert_eq!(r["error"], Value::Null, "{r:#}");
    }
    assert_eq!(report["deleted"][0]["deleted"], true, "{report:#}");
}

#[test]
fn a_protected_environment_stays_protected_after_it_is_renamed() {
    let repo = Repo::from_fixture("shop");
    let moto = Moto::start();
    moto.jiti(repo.path(), &["deploy", "-p", "billing", "--yes", "--method", "direct"]).expect(0);
    let tags = moto.boto3("print(json.dumps({t['Key']: t['Value'] for t in c('cloudformation').describe_stacks(StackName='billing-production')['Stacks'][0]['Tags']}))");
    assert_eq!(tags["jiti:protected"], "true", "{tags:#}");
    // The team renames `production` to `prod`: the old stack is no environment of jiti.toml now.
    let path = "billing/infra/jiti.toml";
    repo.write(
        path,
        &repo
            .read(path)
            .replace("[environments.protected.production]", "[environments.protected.prod]")
            .replace(
                "[environments.protected.production.params]",
                "[environments.protected.prod.params]",
            ),
    );
    repo.commit("production is called prod now");
    std::thread::sleep(Duration::from_secs(2));
    let report =
        moto.jiti(repo.path(), &["gc", "--yes", "--max-age", "1s", "--json"]).expect(0).json();
    assert_eq!(planned(&report), Vec::<String>::new(), "{report:#}");
    let kept = report["plan"]["kept"].as_array().expect("kept");
    assert!(
        kept.iter().any(|k| k["stack_name"] == "billing-production"
            && k["why"].as_str().is_some_and(|w| w.contains("jiti:protected"))),
        "{report:#}"
    );
    let destroy = moto
        .jiti(repo.path(), &["destroy", "-p", "billing", "--env", "production", "--yes"])
        .expect(2);
    assert!(destroy.stdout.contains("protected environment"), "{}", destroy.stdout);
    assert_eq!(stacks(&moto), ["billing-production"]);
}

#[test]
fn branches_whose_names_tags_cannot_hold_are_told_apart() {
    let repo = Repo::from_fixture("shop");
    repo.git(&["checkout", "-q", "-b", "fix#123"]);
    let moto = Moto::start();
    moto.jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct"]).expect(0);
    let envs = moto.jiti(repo.path(), &["envs", "--json"]).expect(0).json();
    assert_eq!(
        envs["environments"][0]["branch"], "fix#123",
        "the real name, not the tag's `fix_123`: {envs:#}"
    );
    // `fix#123` is deleted; a branch `fix_123` (the same tag value) is made.
    repo.git(&["checkout", "-q", "-b", "fix_123"]);
    repo.git(&["branch", "-q", "-D", "fix#123"]);
    let dry = moto.jiti(repo.path(), &["gc", "--json"]).expect(0).json();
    assert_eq!(dry["plan"]["collect"].as_array().map(Vec::len), Some(1), "{dry:#}");
    assert_eq!(dry["plan"]["collect"][0]["reason"], "branch-gone", "{dry:#}");
    let envs = moto.jiti(repo.path(), &["envs", "--json"]).expect(0).json();
    assert_eq!(envs["environments"][0]["branch_presence"], "gone", "{envs:#}");
}

#[test]
fn an_environment_its_dependents_still_use_is_neither_collected_nor_destroyed_alone() {
    let repo = Repo::from_fixture("shop");
    repo.git(&["checkout", "-q", "-b", "feature/deps"]);
    let moto = Moto::start();
    // orders-api imports billing's exports.
    moto.jiti(repo.path(), &["deploy", "--method", "direct"]).expect(0);
    let refused = moto.jiti(repo.path(), &["destroy", "-p", "billing", "--yes"]).expect(2);
    assert!(
        refused.stdout.contains("`orders-api` (orders-api-feature-deps")
            && refused.stdout.contains("depends on it"),
        "{}",
        refused.stdout
    );
    assert_eq!(stacks(&moto).len(), 2);

    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["branch", "-q", "-D", "feature/deps"]);
    let only =
        moto.jiti(repo.path(), &["gc", "--app", "billing", "--yes", "--json"]).expect(0).json();
    assert_eq!(planned(&only), Vec::<String>::new(), "{only:#}");
    let kept = only["plan"]["kept"].as_array().expect("kept");
    assert!(
        kept.iter().any(|k| k["app"] == "billing"
            && k["why"].as_str().is_some_and(
                |w| w.contains("orders-api-feature-deps") && w.contains("depends on it")
            )),
        "{only:#}"
    );
    assert_eq!(stacks(&moto).len(), 2);

    // Without --app both go, the dependent first.
    let all = moto.jiti(repo.path(), &["gc", "--yes", "--json"]).expect(0).json();
    let order: Vec<&str> = all["deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .map(|d| d["app"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(order, ["orders-api", "billing"], "{all:#}");
    assert_eq!(stacks(&moto), Vec::<String>::new());
}

#[test]
fn environments_of_every_configured_region_are_seen_and_a_bucket_is_judged_in_its_own() {
    let repo = Repo::from_fixture("shop");
    let path = "billing/infra/jiti.toml";
    repo.write(
        path,
        &repo.read(path).replace(
            "[environments.ephemeral]\n",
            "[environments.ephemeral]\nregion = \"us-west-2\"\n",
        ),
    );
    repo.commit("branch environments of billing live in us-west-2");
    let moto = Moto::start();
    let mut live_bucket = String::new();
    for branch in ["feature/west", "feature/west-gone"] {
        repo.git(&["checkout", "-q", "-b", branch, "main"]);
        let report = moto
            .jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"])
            .expect(0)
            .json();
        assert_eq!(report["apps"][0]["region"], "us-west-2");
        if branch == "feature/west" {
            live_bucket =
                report["apps"][0]["outputs"]["ArchiveBucket"].as_str().expect("bucket").to_owned();
        }
    }
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["branch", "-q", "-D", "feature/west-gone"]);

    // From main (production is in us-east-1), both are seen, in their region.
    let envs = moto.jiti(repo.path(), &["envs", "-p", "billing", "--json"]).expect(0).json();
    let regions: Vec<&str> = envs["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .map(|r| r["region"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(regions, ["us-east-1", "us-west-2"], "{envs:#}");
    assert_eq!(envs["environments"].as_array().map(Vec::len), Some(2), "{envs:#}");

    let report = moto.jiti(repo.path(), &["gc", "--yes", "--json"]).expect(0).json();
    let planned: Vec<&str> = report["plan"]["collect"]
        .as_array()
        .expect("collect")
        .iter()
        .map(|c| c["environment"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(planned.len(), 1, "{report:#}");
    assert!(planned[0].starts_with("feature-west-gone"), "{report:#}");
    // The live environment's bucket (listed by the Tagging API of every region on the emulator)
    // is judged against us-west-2's stacks, where its stack lives: kept.
    let removed: Vec<&str> = report["removed"]
        .as_array()
        .expect("removed")
        .iter()
        .filter_map(|r| r["arn"].as_str())
        .collect();
    assert!(!removed.iter().any(|a| a.ends_with(&live_bucket)), "{report:#}");
    let exists = moto.boto3(&format!("print(json.dumps('{live_bucket}' in [b['Name'] for b in c('s3').list_buckets()['Buckets']]))"));
    assert_eq!(exists, true, "the live environment's bucket was deleted");
}
