//! The bad day, end to end: an endpoint that refuses, a name that does not resolve, an endpoint
//! that never answers, the emulator dying in the middle of a deploy, and an interrupt while a
//! stack operation runs. Each ends in a clear error and a state the next run can finish from.

use std::process::{Child, Command};

use jiti_tests::{Moto, Repo, jiti_against, shop_on, start_until};

/// cargo-jiti against `endpoint`, with test credentials and backtraces asked for (they must not come).
fn jiti_at(dir: &std::path::Path, endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = jiti_against(dir, endpoint);
    cmd.args(args).env("RUST_BACKTRACE", "1");
    cmd
}

fn assert_one_line_error(stderr: &str, endpoint: &str, what: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, not a dump: {stderr}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(endpoint) && lines[0].contains(what),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.to_lowercase().contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn unreachable_endpoints_are_one_line_errors_naming_the_endpoint() {
    let repo = shop_on("feature/faults");
    // Refused: a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let refused_at = format!("http://127.0.0.1:{closed}");
    let out = jiti_at(repo.path(), &refused_at, &["envs"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_one_line_error(&String::from_utf8_lossy(&out.stderr), &refused_at, "cannot connect to");

    // DNS: a name that cannot resolve (`.invalid` never does).
    let nowhere = "http://jiti-no-such-host.invalid:4566";
    let out = jiti_at(repo.path(), nowhere, &["deploy", "-p", "billing"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_one_line_error(&String::from_utf8_lossy(&out.stderr), nowhere, "cannot connect to");

    // Timeout: an endpoint that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_at = format!("http://{}", silent.local_addr().expect("addr"));
    let _hold = std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(20).collect();
        std::thread::sleep(std::time::Duration::from_secs(60));
        drop(held);
    });
    let start = std::time::Instant::now();
    let out =
        jiti_at(repo.path(), &silent_at, &["gc", "--api-timeout", "2s"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_one_line_error(
        &String::from_utf8_lossy(&out.stderr),
        &silent_at,
        "did not answer in time",
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "the API timeout was not honoured: {:?}",
        start.elapsed()
    );
}

/// Sends SIGINT to `child`, as Ctrl-C would; returns its exit code and the rest of its stderr.
fn interrupt(child: Child, lines: &std::sync::mpsc::Receiver<String>) -> (Option<i32>, String) {
    let status =
        Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    (out.status.code(), lines.iter().collect::<Vec<_>>().join("\n"))
}

/// A template moto cannot finish creating: its stack stays CREATE_IN_PROGRESS.
const STUCK: &str = "Resources:\n  Param:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Type: String\n      Value: x\n";

#[test]
fn the_emulator_dying_mid_deploy_is_a_clear_error_and_the_next_deploy_finishes() {
    let repo = shop_on("feature/outage");
    let original = repo.read("billing/infra/stack.yaml");
    repo.write("billing/infra/stack.yaml", STUCK);
    let moto = Moto::start();
    let mut cmd = jiti_at(
        repo.path(),
        &moto.endpoint,
        &["deploy", "-p", "billing", "--method", "direct", "--json", "--api-timeout", "20s"],
    );
    // The stack's own event: the wait loop has read the stack once (under load, an earlier line can
    // name CREATE_IN_PROGRESS too: a CreateStack that timed out and is followed).
    let (child, _, _) = start_until(&mut cmd, "AWS::CloudFormation::Stack");
    moto.kill();
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let error = report["apps"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("lost track of stack billing-feature-outage-")
            && error.contains("(last seen CREATE_IN_PROGRESS)"),
        "{error}"
    );
    assert!(
        error.contains("cannot connect to")
            && error.contains("run the command again once AWS answers"),
        "{error}"
    );

    // AWS is back (a fresh emulator on the same endpoint); the next deploy does the job.
    let back = Moto::start_on(moto.port());
    repo.write("billing/infra/stack.yaml", &original);
    let done = back
        .jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"])
        .expect(0)
        .json();
    assert_eq!(done["apps"][0]["result"], "created", "{done:#}");
}

#[test]
fn an_interrupt_during_a_deploy_says_what_goes_on_in_cloudformation() {
    let repo = shop_on("feature/interrupt");
    repo.write("billing/infra/stack.yaml", STUCK);
    let moto = Moto::start();
    let mut cmd =
        jiti_at(repo.path(), &moto.endpoint, &["deploy", "-p", "billing", "--method", "direct"]);
    // The stack's own event: cargo-jiti is waiting for the operation.
    let (child, lines, _) = start_until(&mut cmd, "AWS::CloudFormation::Stack");
    let (code, stderr) = interrupt(child, &lines);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("interrupted: nothing more is started"), "{stderr}");
    assert!(
        stderr.contains(": CREATE_IN_PROGRESS: the operation goes on in CloudFormation; follow it with `aws cloudformation describe-stack-events --stack-name billing-feature-interrupt-"),
        "{stderr}"
    );
    // The stack change it started is a release, though its outcome was never known here.
    let history = moto.jiti(repo.path(), &["history", "-p", "billing", "--json"]).expect(0).json();
    let releases = history["apps"][0]["releases"].as_array().expect("releases");
    assert_eq!(releases.len(), 1, "{history:#}");
    assert_eq!(releases[0]["status"], "started", "{history:#}");
    // What was written locally is whole: the rendered template parses.
    let jiti = repo.path().join("target/jiti");
    let env_dir = std::fs::read_dir(&jiti)
        .expect("target/jiti")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("an environment folder");
    let template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env_dir.join("billing.template.json")).expect("template"),
    )
    .expect("whole JSON");
    assert!(template["Resources"]["Param"].is_object());
}

#[test]
fn an_interrupted_gc_says_what_it_deleted_and_the_next_run_finishes() {
    let repo = Repo::from_fixture("shop");
    let moto = Moto::start();
    // Three environments of branches that are gone, and two resources whose stack is gone.
    moto.boto3(
        "cf = c('cloudformation')\nbody = json.dumps({'Resources': {'Q': {'Type': 'AWS::SQS::Queue'}}})\n\
         def tags(env, branch):\n    return {'jiti:app': 'billing', 'jiti:env': env, 'jiti:branch': branch, 'jiti:managed-by': 'cargo-jiti'}\n\
         for n in (1, 2, 3):\n    cf.create_stack(StackName=f'billing-gone-{n}', TemplateBody=body, Tags=[{'Key': k, 'Value': v} for k, v in tags(f'gone-{n}', f'feature/gone-{n}').items()])\n\
         for n in (1, 2):\n    c('sqs').create_queue(QueueName=f'orphan-{n}', tags=tags('gone-9', 'feature/gone-9'))\n\
         print('null')",
    );
    let remaining = || {
        moto.boto3("print(json.dumps(sorted([s['StackName'] for s in c('cloudformation').describe_stacks()['Stacks']] + [u.rsplit('/', 1)[1] for u in c('sqs').list_queues(QueueNamePrefix='orphan-').get('QueueUrls', [])])))")
    };

    // Each DeleteStack takes 3 seconds; the interrupt comes while the second one is on its way.
    let proxy = jiti_tests::Proxy::slow(
        &moto.endpoint,
        "Action=DeleteStack",
        std::time::Duration::from_secs(3),
    );
    let mut cmd = jiti_at(repo.path(), &proxy.endpoint, &["gc", "--yes", "--jobs", "1"]);
    let (child, lines, seen) = start_until(&mut cmd, "deleting stack billing-gone-");
    let first = seen.rsplit("deleting stack ").next().unwrap_or_default().trim().to_owned();
    let second = lines
        .iter()
        .find(|l| l.contains("deleting stack billing-gone-"))
        .expect("a second deletion");
    let (code, stderr) = interrupt(child, &lines);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("interrupted: nothing more is started"), "{stderr}");
    assert!(
        stderr.contains(&format!("  {first}: DELETE_COMPLETE")),
        "the first deletion is reported: {stderr}"
    );
    assert!(stderr.contains("run the same command again to finish"), "{stderr}");
    // The second DeleteStack was on its way: not "no stack operation had started".
    let second_stack = second.rsplit("deleting stack ").next().unwrap_or_default().trim();
    assert!(
        stderr.contains(&format!("  {second_stack}: DeleteStack sent, not answered yet")),
        "{stderr}"
    );

    // Nothing more was started: the second DeleteStack never arrived (its caller was gone when the
    // proxy let it through), the third stack and the orphans are untouched.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let mut left: Vec<String> =
        ["billing-gone-1", "billing-gone-2", "billing-gone-3", "orphan-1", "orphan-2"]
            .into_iter()
            .filter(|n| *n != first)
            .map(String::from)
            .collect();
    assert_eq!(remaining(), serde_json::json!(left), "after the interrupt ({second})");

    // The next run finishes the job and says so; then there is nothing left to collect.
    let report = moto.jiti(repo.path(), &["gc", "--yes", "--json"]).expect(0).json();
    let mut deleted: Vec<String> = report["deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .map(|d| d["stack_name"].as_str().unwrap_or_default().to_owned())
        .collect();
    deleted.extend(report["removed"].as_array().expect("removed").iter().map(|r| {
        r["arn"].as_str().unwrap_or_default().rsplit(':').next().unwrap_or_default().to_owned()
    }));
    deleted.sort();
    left.sort();
    assert_eq!(deleted, left, "{report:#}");
    assert_eq!(remaining(), serde_json::json!([]));
    let dry = moto.jiti(repo.path(), &["gc"]).expect(0);
    assert!(dry.stdout.contains("nothing to collect"), "{}", dry.stdout);
}
