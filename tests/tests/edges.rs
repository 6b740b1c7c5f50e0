//! Edges users hit in their first days: values out of range, the CI's identity, an error answer
//! without a body, output names that collide, and what a direct deploy says it will do.

use std::io::{Read, Write};
use std::net::TcpListener;

use jiti_tests::{Repo, Run, jiti_against, moto};

fn shop_on(branch: &str) -> Repo {
    let repo = Repo::from_fixture("shop");
    repo.git(&["checkout", "-q", "-b", branch]);
    repo
}

#[test]
fn counts_and_times_out_of_range_are_refused_before_anything_runs() {
    let repo = shop_on("feature/ranges");
    let moto = moto();
    let jobs = moto.jiti(repo.path(), &["deploy", "--jobs", "0"]).expect(2);
    assert!(jobs.stderr.contains("invalid value '0' for '--jobs <N>': must be at least 1"), "{}", jobs.stderr);
    let gc_jobs = moto.jiti(repo.path(), &["gc", "--jobs", "0"]).expect(2);
    assert!(gc_jobs.stderr.contains("must be at least 1"), "{}", gc_jobs.stderr);
    let ttl = moto.jiti(repo.path(), &["deploy", "--ttl", "99999999d"]).expect(2);
    assert!(ttl.stderr.contains("longer than a year"), "{}", ttl.stderr);
    let path = "billing/infra/jiti.toml";
    repo.write(path, &repo.read(path).replace("ttl = \"3d\"", "ttl = \"99999999d\""));
    let check = repo.jiti(&["check", "-p", "billing"]).expect(1);
    assert!(check.stdout.contains("billing/infra/jiti.toml:8:7: time to live `99999999d` is longer than a year"), "{}", check.stdout);
}

#[test]
fn the_deployer_is_gits_author_as_ci_sets_it() {
    let repo = shop_on("feature/deployer");
    let report = moto()
        .jiti_env(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"], &[("GIT_AUTHOR_NAME", "CI Bot"), ("GIT_AUTHOR_EMAIL", "ci@example.invalid")])
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
    let out = Run::new(jiti_against(repo.path(), &format!("http://127.0.0.1:{port}")).args(["envs", "-p", "billing"]).output().expect("run")).expect(2);
    assert!(out.stderr.contains("the service answered HTTP 500 Internal Server Error with no readable error"), "{}", out.stderr);
    assert!(!out.stderr.contains("no root element") || out.stderr.contains("HTTP 500"), "{}", out.stderr);
}

#[test]
fn outputs_whose_variables_collide_are_refused_by_run() {
    let repo = shop_on("feature/collide");
    let template = "billing/infra/stack.yaml";
    repo.write(template, &(repo.read(template) + "  Url:\n    Value: https://a.example\n  URL:\n    Value: https://b.example\n"));
    repo.commit("two outputs, one variable");
    let moto = moto();
    moto.jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct"]).expect(0);
    let run = moto.jiti(repo.path(), &["run", "-p", "billing", "--no-deploy", "--", "true"]).expect(2);
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
    let out = moto().jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct"]).expect(0);
    let text = out.stdout + &out.stderr;
    assert!(text.contains("changes (deployed vs new template) to billing-feature-conditions"), "{text}");
    assert!(!text.contains("change set for"), "{text}");
    assert!(!text.contains("ProdOnly"), "a resource whose condition is false is not added: {text}");
}
