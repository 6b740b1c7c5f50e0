//! The default deploy path (change sets) end to end on LocalStack core, where moto falls short:
//! a change-set stack's outputs and exports read by its dependent, `Replacement` in a change set,
//! per-resource events as progress, a resource that fails and the stack it leaves in
//! `ROLLBACK_COMPLETE`, a change set left for review, an interrupt while a change set executes.
//! The workspace is `tests/fixtures/relay`: SQS, SNS, S3, SSM, Logs and IAM only (LocalStack's
//! DynamoDB and Lambda need downloads this machine cannot make).

use std::time::Duration;

use jiti_tests::{
    Proxy, Repo, Run, assert_report_valid, cfn_lint, jiti_against, lint_errors, localstack,
    start_until,
};
use serde_json::Value;

fn relay_on(branch: &str) -> Repo {
    let repo = Repo::from_test_fixture("relay");
    repo.with_unique_stack_prefix('l');
    repo.git(&["checkout", "-q", "-b", branch]);
    repo
}

fn app<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["app"] == name)
        .unwrap_or_else(|| panic!("{name} in {report:#}"))
}

fn stack_status(stack: &str) -> String {
    let v = localstack().boto3(&format!(
        "print(json.dumps(c('cloudformation').describe_stacks(StackName={stack:?})['Stacks'][0]['StackStatus']))"
    ));
    v.as_str().expect("a status").to_owned()
}

fn set_param(repo: &Repo, app: &str, from: &str, to: &str) {
    let path = format!("{app}/infra/jiti.toml");
    let config = repo.read(&path);
    assert!(config.contains(from), "{path} has `{from}`");
    repo.write(&path, &config.replacen(from, to, 1));
}

#[test]
fn a_dependent_reads_outputs_and_an_export_a_replacement_is_said_and_a_no_op_costs_one_call() {
    let ls = localstack();
    let repo = relay_on("feature/chain");
    let created = ls.jiti(repo.path(), &["deploy", "--json"]).expect(0);
    let report = created.json();
    assert_report_valid(&report);
    let (events, relay) = (app(&report, "events"), app(&report, "relay"));
    assert_eq!(events["result"], "created", "{report:#}");
    assert_eq!(relay["result"], "created", "{report:#}");
    // Progress from CloudFormation's own events, resource by resource.
    for line in
        ["CREATE_COMPLETE Topic AWS::SNS::Topic", "CREATE_COMPLETE Setting AWS::SSM::Parameter"]
    {
        assert!(created.stderr.contains(line), "no `{line}` in:\n{}", created.stderr);
    }
    // The change-set stack has outputs (moto's has none), and its dependent used them: the
    // subscription names the topic through `deps.events.outputs`, the parameter holds it through
    // CloudFormation's `ImportValue` of the export.
    let topic = events["outputs"]["TopicArn"].as_str().expect("TopicArn output").to_owned();
    let setting = relay["outputs"]["SettingName"].as_str().expect("SettingName output").to_owned();
    let held = ls.boto3(&format!(
        "print(json.dumps(c('ssm').get_parameter(Name={setting:?})['Parameter']['Value']))"
    ));
    assert_eq!(held, topic.as_str(), "ImportValue of the events stack's export");
    let subscribed = ls.boto3(&format!(
        "print(json.dumps([s['Protocol'] for s in c('sns').list_subscriptions_by_topic(TopicArn={topic:?})['Subscriptions']]))"
    ));
    assert_eq!(subscribed, serde_json::json!(["sqs"]), "the relay's queue is subscribed");
    // What was deployed passes the oracle.
    let env = events["environment"].as_str().expect("environment");
    let rendered: Vec<std::path::PathBuf> = ["events", "relay"]
        .iter()
        .map(|a| repo.path().join(format!("target/jiti/{env}/{a}.template.json")))
        .collect();
    let findings = cfn_lint(&rendered, &[]);
    assert!(lint_errors(&findings).is_empty(), "{findings:#?}");

    // A new parameter name replaces the parameter: the change set says so, and so does cargo-jiti.
    set_param(&repo, "relay", r#"setting_name = "endpoint""#, r#"setting_name = "endpoint-v2""#);
    let updated = ls.jiti(repo.path(), &["deploy", "-p", "relay", "--json"]).expect(0);
    let report = updated.json();
    let relay = app(&report, "relay");
    assert_eq!(relay["result"], "updated", "{report:#}");
    let setting_change = relay["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["logical_id"] == "Setting")
        .expect("Setting changes");
    assert_eq!(setting_change["replacement"], "True", "{report:#}");
    assert!(
        updated.stderr.contains("Setting AWS::SSM::Parameter (replacement)"),
        "{}",
        updated.stderr
    );
    let text = ls.jiti(repo.path(), &["deploy", "-p", "relay"]).expect(0);
    assert!(text.stdout.contains("up to date relay"), "{}", text.stdout);
    let renamed = relay["outputs"]["SettingName"].as_str().expect("SettingName").to_owned();
    assert!(renamed.ends_with("/endpoint-v2"), "{renamed}");
    let names = ls.boto3(&format!(
        "print(json.dumps(sorted(p['Name'] for p in c('ssm').describe_parameters()['Parameters'] if p['Name'].startswith({:?}))))",
        setting.trim_end_matches("endpoint")
    ));
    assert_eq!(names, serde_json::json!([renamed]), "the old parameter went with the replacement");

    // Nothing changed: one call, DescribeStacks, and no change set.
    let again = ls.jiti(repo.path(), &["deploy", "--json"]).expect(0).json();
    assert_eq!(again["api_calls"]["total"], 1, "{:#}", again["api_calls"]);
    for name in ["events", "relay"] {
        assert_eq!(app(&again, name)["result"], "up-to-date");
    }
}

#[test]
fn a_failed_create_says_why_and_the_next_deploy_deletes_and_creates_it_again() {
    let ls = localstack();
    let repo = relay_on("feature/broken");
    set_param(
        &repo,
        "events",
        r#"archive_bucket_name = """#,
        r#"archive_bucket_name = "Not_A_Valid_Bucket""#,
    );
    let failed = ls.jiti(repo.path(), &["deploy", "-p", "events"]).expect(2);
    let why = "CREATE_FAILED Archive AWS::S3::Bucket: Resource provider operation failed: An error occurred (InvalidBucketName)";
    assert!(failed.stdout.contains(why), "the reason, in the summary:\n{}", failed.stdout);
    let stack = failed
        .stdout
        .split_whitespace()
        .find(|w| w.contains("events-feature-broken-"))
        .expect("the stack's name")
        .to_owned();
    assert_eq!(stack_status(&stack), "ROLLBACK_COMPLETE");

    set_param(
        &repo,
        "events",
        r#"archive_bucket_name = "Not_A_Valid_Bucket""#,
        r#"archive_bucket_name = """#,
    );
    let fixed = ls.jiti(repo.path(), &["deploy", "-p", "events", "--json"]).expect(0);
    assert!(
        fixed.stderr.contains(&format!(
            "stack {stack} is in ROLLBACK_COMPLETE after a failed first create: deleting it, then creating it again"
        )),
        "{}",
        fixed.stderr
    );
    assert_eq!(app(&fixed.json(), "events")["result"], "created");
    assert_eq!(stack_status(&stack), "CREATE_COMPLETE");
    let history = ls.jiti(repo.path(), &["history", "-p", "events", "--json"]).expect(0).json();
    let statuses: Vec<&str> = history["apps"][0]["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .map(|r| r["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["deployed", "failed"], "newest first: {history:#}");
}

#[test]
fn no_execute_leaves_a_change_set_to_review() {
    let ls = localstack();
    let repo = relay_on("feature/review");
    let reviewed =
        ls.jiti(repo.path(), &["deploy", "-p", "events", "--no-execute", "--json"]).expect(0);
    let report = reviewed.json();
    let events = app(&report, "events");
    assert_eq!(events["result"], "reviewed", "{report:#}");
    let (stack, change_set) = (
        events["stack_name"].as_str().expect("stack").to_owned(),
        events["change_set"].as_str().expect("change set").to_owned(),
    );
    let described = ls.boto3(&format!(
        "d = c('cloudformation').describe_change_set(StackName={stack:?}, ChangeSetName={change_set:?})\nprint(json.dumps([d['Status'], d['ExecutionStatus'], sorted(ch['ResourceChange']['LogicalResourceId'] for ch in d['Changes'])]))"
    ));
    assert_eq!(
        described,
        serde_json::json!(["CREATE_COMPLETE", "AVAILABLE", ["Archive", "Logs", "Queue", "Topic"]]),
        "a change set ready to execute"
    );
    assert_eq!(stack_status(&stack), "REVIEW_IN_PROGRESS", "nothing created");
    // Deploying for real afterwards creates the stack.
    let done = ls.jiti(repo.path(), &["deploy", "-p", "events", "--json"]).expect(0).json();
    assert_eq!(app(&done, "events")["result"], "created", "{done:#}");
}

#[test]
fn an_interrupt_while_a_change_set_executes_is_recorded_and_the_next_deploy_finishes() {
    let ls = localstack();
    let repo = relay_on("feature/interrupted");
    // ExecuteChangeSet is held 4 s on its way to LocalStack: the interrupt comes meanwhile.
    let proxy = Proxy::slow(&ls.endpoint, "Action=ExecuteChangeSet", Duration::from_secs(4));
    let mut cmd = jiti_against(repo.path(), &proxy.endpoint);
    cmd.args(["deploy", "-p", "events"]);
    let (child, lines, _) = start_until(&mut cmd, "+ Add      Topic AWS::SNS::Topic");
    // The release is recorded right before ExecuteChangeSet is sent: once it is there, the held
    // request is on its way.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ls.jiti(repo.path(), &["history", "-p", "events", "--json"]).expect(0).json()["apps"][0]
        ["releases"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(std::time::Instant::now() < deadline, "no release recorded within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let stderr = lines.iter().collect::<Vec<_>>().join("\n");
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("ExecuteChangeSet sent, not answered yet"), "{stderr}");
    // The release was recorded before the change set was executed.
    let history = ls.jiti(repo.path(), &["history", "-p", "events", "--json"]).expect(0).json();
    let releases = history["apps"][0]["releases"].as_array().expect("releases");
    assert_eq!(releases.len(), 1, "{history:#}");
    assert_eq!(releases[0]["status"], "started", "{history:#}");
    // The next deploy finds what CloudFormation made of it and finishes the job.
    std::thread::sleep(Duration::from_secs(4));
    let next: Run = ls.jiti(repo.path(), &["deploy", "-p", "events", "--json"]).expect(0);
    let result = app(&next.json(), "events")["result"].clone();
    assert!(
        result == "created" || result == "up-to-date" || result == "updated",
        "{result}: {}",
        next.stderr
    );
}
