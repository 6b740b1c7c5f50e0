//! Infra versioned with the app on moto: the release ledger, history, coordinated rollback from
//! git, verify-then-rollback, and what rollback refuses.

use jiti_tests::{Repo, moto, shop_on};
use serde_json::Value;

fn bump_billing(repo: &Repo, version: &str, visibility: u32, message: &str) {
    let manifest = repo.read("billing/Cargo.toml");
    let old =
        manifest.lines().find(|l| l.starts_with("version = ")).expect("a version line").to_owned();
    repo.write("billing/Cargo.toml", &manifest.replace(&old, &format!("version = \"{version}\"")));
    let config = repo.read("billing/infra/jiti.toml");
    let line = config
        .lines()
        .find(|l| l.starts_with("visibility_timeout = "))
        .expect("visibility")
        .to_owned();
    repo.write(
        "billing/infra/jiti.toml",
        &config.replace(&line, &format!("visibility_timeout = {visibility}")),
    );
    repo.commit(message);
}

fn stack_tags(stack: &str) -> Value {
    moto().boto3(&format!("s = c('cloudformation').describe_stacks(StackName={stack:?})['Stacks'][0]\nprint(json.dumps({{t['Key']: t['Value'] for t in s['Tags']}}))"))
}

fn deployed_template(stack: &str) -> Value {
    let body = moto().boto3(&format!(
        "print(json.dumps(c('cloudformation').get_template(StackName={stack:?})['TemplateBody']))"
    ));
    match body {
        Value::String(text) => serde_json::from_str(&text).expect("template JSON"),
        other => other,
    }
}

fn history(repo: &Repo) -> Vec<Value> {
    let report = moto().jiti(repo.path(), &["history", "-p", "billing", "--json"]).expect(0).json();
    report["apps"][0]["releases"].as_array().cloned().unwrap_or_default()
}

#[test]
fn rollback_brings_back_app_and_infra_of_an_earlier_commit() {
    let repo = shop_on("feature/rollback");
    let moto = moto();
    let commit_a = repo.git(&["rev-parse", "HEAD"]);
    let first = moto
        .jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"])
        .expect(0)
        .json();
    let stack = first["apps"][0]["stack_name"].as_str().expect("stack").to_owned();
    let release_1 =
        first["apps"][0]["release"]["id"].as_str().expect("release recorded").to_owned();
    let template_a: Value =
        serde_json::from_str(&repo.jiti(&["render", "-p", "billing", "--stdout"]).expect(0).stdout)
            .expect("json");

    bump_billing(&repo, "0.4.0", 99, "billing 0.4.0: longer visibility");
    let commit_b = repo.git(&["rev-parse", "HEAD"]);
    let second = moto
        .jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"])
        .expect(0)
        .json();
    let release_2 =
        second["apps"][0]["release"]["id"].as_str().expect("release recorded").to_owned();
    assert_eq!(stack_tags(&stack)["jiti:version"], "0.4.0");

    let status_before = repo.git(&["status", "--porcelain"]);
    let run = moto
        .jiti(
            repo.path(),
            &["rollback", "-p", "billing", "--steps", "1", "--method", "direct", "--json"],
        )
        .expect(0)
        .json();
    assert_eq!(run["to"]["id"], release_1.as_str());
    assert_eq!(run["result"]["result"], "updated");

    // The deployed template is the one commit A renders; the tags name A's version and commit.
    assert_eq!(deployed_template(&stack), template_a);
    let tags = stack_tags(&stack);
    assert_eq!(tags["jiti:version"], "0.3.1");
    assert_eq!(tags["jiti:commit"], commit_a.as_str());
    // The working tree, index and HEAD are as they were.
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), commit_b);
    assert_eq!(repo.git(&["status", "--porcelain"]), status_before);
    assert!(repo.read("billing/Cargo.toml").contains("version = \"0.4.0\""));

    // Three releases, the newest a rollback of the second.
    let releases = history(&repo);
    assert_eq!(releases.len(), 3, "{releases:#?}");
    assert_eq!(releases[0]["rollback_of"], release_2.as_str());
    assert_eq!(releases[0]["version"], "0.3.1");
    assert_eq!(releases[0]["commit"], commit_a.as_str());
    assert_eq!(releases[1]["id"], release_2.as_str());
    assert_eq!(releases[2]["id"], release_1.as_str());
    assert!(
        releases
            .iter()
            .all(|r| r["deployed_by"]["aws"].as_str().is_some_and(|a| a.starts_with("arn:aws:"))),
        "{releases:#?}"
    );
    let table = moto.jiti(repo.path(), &["history", "-p", "billing"]).expect(0);
    assert!(table.stdout.contains(&format!("(rollback of {release_2})")), "{}", table.stdout);

    // Rolling back to what is deployed already changes nothing.
    let again = moto
        .jiti(
            repo.path(),
            &["rollback", "-p", "billing", "--to", "0.3.1", "--method", "direct", "--json"],
        )
        .expect(0)
        .json();
    assert_eq!(again["result"]["result"], "up-to-date");
    assert_eq!(history(&repo).len(), 3);
}

#[test]
fn a_failing_verify_rolls_the_environment_back() {
    let repo = shop_on("feature/verify");
    let moto = moto();
    let config = repo.read("billing/infra/jiti.toml").replace("[tags]", "[hooks]\nverify = \"test -n \\\"$JITI_OUTPUT_QUEUEURL\\\" && test \\\"$JITI_APP\\\" = billing\"\n\n[tags]");
    repo.write("billing/infra/jiti.toml", &config);
    repo.commit("verify billing");
    let commit_a = repo.git(&["rev-parse", "HEAD"]);
    let first = moto
        .jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"])
        .expect(0)
        .json();
    assert_eq!(first["apps"][0]["verify"]["success"], true, "{first:#}");
    let stack = first["apps"][0]["stack_name"].as_str().expect("stack").to_owned();

    let broken = repo
        .read("billing/infra/jiti.toml")
        .replace("verify = \"test -n", "verify = \"echo health check failed >&2; exit 1; test -n");
    repo.write("billing/infra/jiti.toml", &broken);
    bump_billing(&repo, "0.5.0", 30, "billing 0.5.0 with a failing health check");
    let run = moto
        .jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"])
        .expect(1);
    let report = run.json();
    assert_eq!(report["apps"][0]["result"], "verify-failed");
    assert!(
        report["apps"][0]["verify"]["output"]
            .as_str()
            .is_some_and(|o| o.contains("health check failed")),
        "{report:#}"
    );
    assert_eq!(report["rollbacks"][0]["result"], "updated");
    assert!(run.stderr.contains("verify failed: rolling back to release"), "{}", run.stderr);

    let tags = stack_tags(&stack);
    assert_eq!(tags["jiti:commit"], commit_a.as_str());
    assert_eq!(tags["jiti:version"], "0.3.1");
    let releases = history(&repo);
    assert_eq!(releases.len(), 3, "{releases:#?}");
    assert_eq!(releases[1]["status"], "verify-failed");
    assert_eq!(releases[0]["rollback_of"], releases[1]["id"]);

    // --no-rollback leaves the failed release in place.
    bump_billing(&repo, "0.5.1", 31, "billing 0.5.1");
    let run = moto
        .jiti(
            repo.path(),
            &["deploy", "-p", "billing", "--method", "direct", "--no-rollback", "--json"],
        )
        .expect(1)
        .json();
    assert_eq!(run["rollbacks"], serde_json::json!([]));
    assert_eq!(stack_tags(&stack)["jiti:version"], "0.5.1");
}

#[test]
fn rollback_refuses_what_it_cannot_do_and_changes_nothing() {
    let repo = shop_on("feature/rollback-refusals");
    let moto = moto();
    let nothing = moto.jiti(repo.path(), &["rollback", "-p", "billing", "--steps", "1"]).expect(2);
    assert!(nothing.stderr.contains("has no release in environment"), "{}", nothing.stderr);
    let first = moto
        .jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"])
        .expect(0)
        .json();
    let stack = first["apps"][0]["stack_name"].as_str().expect("stack").to_owned();
    let env = first["apps"][0]["environment"].as_str().expect("env").to_owned();

    let unknown =
        moto.jiti(repo.path(), &["rollback", "-p", "billing", "--to", "deadbeef"]).expect(2);
    assert!(
        unknown.stderr.contains("no release of app `billing` in environment")
            && unknown.stderr.contains("`deadbeef`"),
        "{}",
        unknown.stderr
    );

    // A release whose commit is no longer in the repository: say to fetch it.
    bump_billing(&repo, "0.6.0", 45, "to be forgotten");
    let gone = repo.git(&["rev-parse", "HEAD"]);
    moto.jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct"]).expect(0);
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    repo.git(&["reflog", "expire", "--expire=now", "--all"]);
    repo.git(&["gc", "-q", "--prune=now"]);
    let tags_before = stack_tags(&stack);
    let missing =
        moto.jiti(repo.path(), &["rollback", "-p", "billing", "--to", &gone[..10]]).expect(2);
    assert!(
        missing.stderr.contains(&format!("commit `{}` is not in the repository", gone))
            && missing.stderr.contains("fetch it"),
        "{}",
        missing.stderr
    );

    // A release whose infra no longer parses (a key this version of cargo-jiti does not know).
    let config =
        repo.read("billing/infra/jiti.toml").replace("[app]\n", "[app]\nlegacy_flag = true\n");
    repo.write("billing/infra/jiti.toml", &config);
    repo.commit("an infra cargo-jiti no longer reads");
    let bad = repo.git(&["rev-parse", "HEAD"]);
    repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
    let record = serde_json::json!({
        "id": "1999999999999-badbadbadbad-00000000", "app": "billing", "environment": env, "stack_name": stack, "version": "0.0.9",
        "commit": bad, "branch": "feature/rollback-refusals", "dirty": false, "template_hash": "x", "params": {}, "outputs": {},
        "time": "2033-05-18T03:33:19Z", "deployed_by": {"git": null, "aws": null}, "status": "deployed", "rollback_of": null
    });
    moto.boto3(&format!(
        "s3 = c('s3')\nb = [x['Name'] for x in s3.list_buckets()['Buckets'] if x['Name'].startswith('cargo-jiti-artifacts-')][0]\ns3.put_object(Bucket=b, Key='releases/billing/{env}/1999999999999-badbadbadbad-00000000.json', Body={:?})\nprint('null')",
        record.to_string()
    ));
    let invalid = moto.jiti(repo.path(), &["rollback", "-p", "billing", "--to", "0.0.9"]).expect(2);
    assert!(
        invalid.stderr.contains("the infra of app `billing` at commit")
            && invalid.stderr.contains("is not valid")
            && invalid.stderr.contains("unknown field `legacy_flag`"),
        "{}",
        invalid.stderr
    );
    assert_eq!(stack_tags(&stack), tags_before, "a refused rollback changed the stack");
}

#[test]
fn concurrent_deploys_of_two_environments_are_both_recorded() {
    let moto = moto();
    let repos: Vec<Repo> =
        ["feature/concurrent-a", "feature/concurrent-b"].iter().map(|b| shop_on(b)).collect();
    std::thread::scope(|s| {
        for repo in &repos {
            s.spawn(|| {
                moto.jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct"]).expect(0)
            });
        }
    });
    for repo in &repos {
        let releases = history(repo);
        assert_eq!(releases.len(), 1, "{releases:#?}");
        assert_eq!(releases[0]["status"], "deployed");
    }
}

#[test]
fn uncommitted_changes_never_reach_production_unasked() {
    let repo = Repo::from_fixture("shop");
    repo.with_unique_stack_prefix('d');
    repo.write(
        "billing/infra/stack.yaml",
        &repo
            .read("billing/infra/stack.yaml")
            .replace("VisibilityTimeout", "DelaySeconds: 1\n      VisibilityTimeout"),
    );
    let moto = moto();
    let refused = moto.jiti(repo.path(), &["deploy", "-p", "billing", "--yes"]).expect(2);
    assert!(
        refused.stderr.contains(
            "refusing to deploy uncommitted changes to the protected environment of billing"
        ),
        "{}",
        refused.stderr
    );
    let report = moto
        .jiti(
            repo.path(),
            &["deploy", "-p", "billing", "--yes", "--allow-dirty", "--method", "direct", "--json"],
        )
        .expect(0)
        .json();
    assert_eq!(report["apps"][0]["release"]["dirty"], true);
    // Ephemeral environments take uncommitted changes, recorded as dirty.
    repo.git(&["checkout", "-q", "-b", "feature/dirty"]);
    let report = moto
        .jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"])
        .expect(0)
        .json();
    assert_eq!(report["apps"][0]["release"]["dirty"], true);
}
