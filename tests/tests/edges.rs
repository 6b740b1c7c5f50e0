//! Edges users hit in their first days: values out of range, the CI's identity, an error answer
//! without a body, output names that collide, and what a direct deploy says it will do.

use std::io::{Read, Write};
use std::net::TcpListener;

use jiti_tests::{Run, jiti_against, moto, shop_on};

#[test]
fn counts_and_times_out_of_range_are_refused_before_anything_runs() {
    let repo = shop_on("feature/ranges");
    let moto = moto();
    let jobs = moto.jiti(repo.path(), &["deploy", "--jobs", "0"]).expect(2);
    assert!(
        jobs.stderr.contains("invalid value '0' for '--jobs <N>': must be at least 1"),
        "{}",
        jobs.stderr
    );
    let gc_jobs = moto.jiti(repo.path(), &["gc", "--jobs", "0"]).expect(2);
    assert!(gc_jobs.stderr.contains("must be at least 1"), "{}", gc_jobs.stderr);
    let ttl = moto.jiti(repo.path(), &["deploy", "--ttl", "99999999d"]).expect(2);
    assert!(ttl.stderr.contains("longer than a year"), "{}", ttl.stderr);
    let path = "billing/infra/jiti.toml";
    repo.write(path, &repo.read(path).replace("ttl = \"3d\"", "ttl = \"99999999d\""));
    let check = repo.jiti(&["check", "-p", "billing"]).expect(1);
    assert!(
        check.stdout.contains(
            "billing/infra/jiti.toml:8:7: time to live `99999999d` is longer than a year"
        ),
        "{}",
        check.stdout
    );
}

#[test]
fn the_deployer_is_gits_author_as_ci_sets_it() {
    let repo = shop_on("feature/deployer");
    let report = moto()
        .jiti_env(
            repo.path(),
            &["deploy", "-p", "billing", "--method", "direct", "--json"],
            &[("GIT_AUTHOR_NAME", "CI Bot"), ("GIT_AUTHOR_EMAIL", "ci@example.invalid")],
        )
        .expect(0)
        .json();
    assert_eq!(report["apps"][0]["release"]["deployed_by"]["git"], "CI Bot <ci@example.invalid>");
}

#[test]
fn an_error_answer_without_a_body_says_its_http_status() {
    // A load balancer's 500: no body the SDK can read.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 65536];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let repo = shop_on("feature/http-500");
    let out = Run::new(
        jiti_against(repo.path(), &format!("http://127.0.0.1:{port}"))
            .args(["envs", "-p", "billing"])
            .output()
            .expect("run"),
    )
    .expect(2);
    assert!(
        out.stderr
            .contains("the service answered HTTP 500 Internal Server Error with no readable error"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("no root element") || out.stderr.contains("HTTP 500"),
        "{}",
        out.stderr
    );
}

#[test]
fn outputs_whose_variables_collide_are_refused_by_run() {
    let repo = shop_on("feature/collide");
    let template = "billing/infra/stack.yaml";
    repo.write(
        template,
        &(repo.read(template)
            + "  Url:\n    Value: https://a.example\n  URL:\n    Value: https://b.example\n"),
    );
    repo.commit("two outputs, one variable");
    let moto = moto();
    moto.jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct"]).expect(0);
    let run =
        moto.jiti(repo.path(), &["run", "-p", "billing", "--no-deploy", "--", "true"]).expect(2);
    assert!(run.stderr.contains("would both be the variable JITI_BILLING_URL"), "{}", run.stderr);
    assert!(run.stderr.contains("`URL`") && run.stderr.contains("`Url`"), "{}", run.stderr);
}

#[test]
fn a_direct_deploy_compares_templates_and_skips_resources_whose_condition_is_false() {
    let repo = shop_on("feature/conditions");
    let template = "billing/infra/stack.yaml";
    repo.write(
        template,
        &repo.read(template).replace(
            "Resources:\n",
            "Parameters:\n  Stage:\n    Type: String\n    Default: dev\nConditions:\n  IsProd: !Equals [!Ref Stage, prod]\nResources:\n  ProdOnly:\n    Type: AWS::SQS::Queue\n    Condition: IsProd\n    Properties:\n      SqsManagedSseEnabled: true\n",
        ),
    );
    repo.commit("a queue only production has");
    let out =
        moto().jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct"]).expect(0);
    let text = out.stdout + &out.stderr;
    assert!(
        text.contains("changes (deployed vs new template) to billing-feature-conditions"),
        "{text}"
    );
    assert!(!text.contains("change set for"), "{text}");
    assert!(!text.contains("ProdOnly"), "a resource whose condition is false is not added: {text}");
}

#[test]
fn a_failed_command_asked_for_json_prints_json() {
    let repo = shop_on("feature/json-errors");
    // AWS unreachable: the error names the operation.
    let out = Run::new(
        jiti_against(repo.path(), "http://127.0.0.1:9")
            .args(["envs", "--json", "--api-timeout", "5s"])
            .output()
            .expect("run"),
    )
    .expect(2);
    let report: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout));
    assert_eq!(report["error"]["kind"], "aws", "{report:#}");
    assert_eq!(report["error"]["operation"], "CloudFormation.DescribeStacks", "{report:#}");
    assert!(
        report["error"]["message"].as_str().is_some_and(|m| m.contains("http://127.0.0.1:9")),
        "{report:#}"
    );
    // A template that does not render: the app is named.
    let template = "billing/infra/stack.yaml";
    repo.write(
        template,
        &repo.read(template).replace("{{ params.visibility_timeout }}", "{{ params.nope }}"),
    );
    let out = repo.jiti(&["render", "-p", "billing", "--json"]).expect(2);
    let report: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout));
    assert_eq!(
        (report["error"]["kind"].as_str(), report["error"]["app"].as_str()),
        (Some("render"), Some("billing")),
        "{report:#}"
    );
    // Without --json, stdout stays empty: the error is on stderr.
    let human = repo.jiti(&["render", "-p", "billing"]).expect(2);
    assert_eq!(human.stdout, "");
}

#[test]
fn a_reader_that_goes_away_is_no_error_once_the_work_is_done() {
    let repo = shop_on("feature/closed-pipe");
    let moto = moto();
    moto.jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct"]).expect(0);
    for args in [&["envs", "--json"][..], &["envs"][..], &["history", "-p", "billing"][..]] {
        let mut child = jiti_against(repo.path(), &moto.endpoint)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start");
        // `| head -0`: the reader is gone before anything is written.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_deploy_that_finds_its_stack_taken_waits_and_decides_again() {
    let repo = shop_on("feature/race");
    let moto = moto();
    let first = moto
        .jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"])
        .expect(0)
        .json();
    let stack = first["apps"][0]["stack_name"].as_str().expect("stack").to_owned();
    let template = "billing/infra/stack.yaml";
    repo.write(
        template,
        &repo.read(template).replace(
            "      DisplayName: billing-{{ env.name }}\n",
            "      DisplayName: billing-{{ env.name }}-2\n",
        ),
    );
    // Another deploy holds the stack when this one executes its change set: CloudFormation's answer.
    let busy = format!(
        "Stack:arn:aws:cloudformation:us-east-1:123456789012:stack/{stack}/1 is in UPDATE_IN_PROGRESS state and can not be updated."
    );
    let proxy = jiti_tests::Proxy::fail_once(&moto.endpoint, "Action=ExecuteChangeSet", busy);
    let out = Run::new(
        jiti_against(repo.path(), &proxy.endpoint)
            .args(["deploy", "-p", "billing", "--json"])
            .output()
            .expect("run"),
    )
    .expect(0);
    assert!(
        out.stderr.contains(
            "is taken by another operation (another deploy?): waiting for it, then deciding again"
        ),
        "{}",
        out.stderr
    );
    let report = out.json();
    assert_eq!(report["apps"][0]["result"], "updated", "{report:#}");
    // Its first change set was deleted, not left executable; the second was executed.
    let sets = moto.boto3(&format!("print(json.dumps([s.get('ExecutionStatus') for s in c('cloudformation').list_change_sets(StackName='{stack}')['Summaries']]))"));
    assert!(
        !sets.as_array().expect("change sets").iter().any(|s| s == "AVAILABLE"),
        "an executable change set was left behind: {sets}"
    );
}
