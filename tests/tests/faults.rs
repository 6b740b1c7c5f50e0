//! The bad day, end to end: an endpoint that refuses, a name that does not resolve, an endpoint
//! that never answers, the emulator dying in the middle of a deploy, and an interrupt while a
//! stack operation runs. Each ends in a clear error and a state the next run can finish from.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

use jiti_tests::{Moto, Repo, jiti_against};

fn shop_on(branch: &str) -> Repo {
    let repo = Repo::from_fixture("shop");
    repo.git(&["checkout", "-q", "-b", branch]);
    repo
}

/// cargo-jiti against `endpoint`, with test credentials and backtraces asked for (they must not come).
fn jiti_at(dir: &std::path::Path, endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = jiti_against(dir, endpoint);
    cmd.args(args).env("RUST_BACKTRACE", "1");
    cmd
}

fn assert_one_line_error(stderr: &str, endpoint: &str, what: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, not a dump: {stderr}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains(endpoint) && lines[0].contains(what), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.to_lowercase().contains("backtrace"), "{stderr}");
}

#[test]
fn unreachable_endpoints_are_one_line_errors_naming_the_endpoint() {
    let repo = shop_on("feature/faults");
    // Refused: a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
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
    let out = jiti_at(repo.path(), &silent_at, &["gc", "--api-timeout", "2s"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_one_line_error(&String::from_utf8_lossy(&out.stderr), &silent_at, "did not answer in time");
    assert!(start.elapsed() < std::time::Duration::from_secs(30), "the API timeout was not honoured: {:?}", start.elapsed());
}

/// Starts `cmd` and returns once a line of its stderr contains `needle` (and the lines so far).
fn start_until(cmd: &mut Command, needle: &str) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start cargo-jiti");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = String::new();
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push_str(&(line + "\n")),
            Err(_) => panic!("no `{needle}` on stderr; so far:\n{seen}"),
        }
    }
    (child, rx)
}

/// A template moto cannot finish creating: its stack stays CREATE_IN_PROGRESS.
const STUCK: &str = "Resources:\n  Param:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Type: String\n      Value: x\n";

#[test]
fn the_emulator_dying_mid_deploy_is_a_clear_error_and_the_next_deploy_finishes() {
    let repo = shop_on("feature/outage");
    let original = repo.read("billing/infra/stack.yaml");
    repo.write("billing/infra/stack.yaml", STUCK);
    let moto = Moto::start();
    let mut cmd = jiti_at(repo.path(), &moto.endpoint, &["deploy", "-p", "billing", "--method", "direct", "--json", "--api-timeout", "20s"]);
    let (child, _) = start_until(&mut cmd, "CREATE_IN_PROGRESS");
    moto.kill();
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let error = report["apps"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("lost track of stack billing-feature-outage-") && error.contains("(last seen CREATE_IN_PROGRESS)"), "{error}");
    assert!(error.contains("cannot connect to") && error.contains("run the command again once AWS answers"), "{error}");

    // AWS is back (a fresh emulator on the same endpoint); the next deploy does the job.
    let back = Moto::start_on(moto.port());
    repo.write("billing/infra/stack.yaml", &original);
    let done = back.jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"]).expect(0).json();
    assert_eq!(done["apps"][0]["result"], "created", "{done:#}");
}

#[test]
fn an_interrupt_during_a_deploy_says_what_goes_on_in_cloudformation() {
    let repo = shop_on("feature/interrupt");
    repo.write("billing/infra/stack.yaml", STUCK);
    let moto = Moto::start();
    let mut cmd = jiti_at(repo.path(), &moto.endpoint, &["deploy", "-p", "billing", "--method", "direct"]);
    // The stack's own event: cargo-jiti is waiting for the operation.
    let (child, lines) = start_until(&mut cmd, "AWS::CloudFormation::Stack");
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let stderr: String = lines.iter().collect::<Vec<_>>().join("\n");
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted: nothing more is started"), "{stderr}");
    assert!(
        stderr.contains(": CREATE_IN_PROGRESS: the operation goes on in CloudFormation; follow it with `aws cloudformation describe-stack-events --stack-name billing-feature-interrupt-"),
        "{stderr}"
    );
    // What was written locally is whole: the rendered template parses.
    let jiti = repo.path().join("target/jiti");
    let env_dir = std::fs::read_dir(&jiti).expect("target/jiti").filter_map(Result::ok).map(|e| e.path()).find(|p| p.is_dir()).expect("an environment folder");
    let template: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(env_dir.join("billing.template.json")).expect("template")).expect("whole JSON");
    assert!(template["Resources"]["Param"].is_object());
}
