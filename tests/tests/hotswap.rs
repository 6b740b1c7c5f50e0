//! The inner loop on the emulator: `deploy --hotswap` puts a code-only change straight into the
//! function (a new `CodeSha256`, no CloudFormation update), falls back to a deploy for anything
//! else, is refused on a protected environment; `watch` rebuilds and hotswaps on a save and stops
//! on SIGINT once its cycle is done.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use jiti_tests::{Repo, jiti_against, moto, shop_on};
use serde_json::Value;

/// The stack's last update time and template-hash tag: what a CloudFormation update changes.
fn stack_state(stack: &str) -> Value {
    moto().boto3(&format!(
        "s = c('cloudformation').describe_stacks(StackName={stack:?})['Stacks'][0]\nprint(json.dumps([str(s.get('LastUpdatedTime')), [t['Value'] for t in s['Tags'] if t['Key'] == 'jiti:template-hash']]))"
    ))
}

fn orders(report: &Value) -> &Value {
    report["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["app"] == "orders-api")
        .expect("orders-api in the report")
}

/// This test changes the app's code: it builds in its own target directory (see ship.rs).
const PRIVATE: [(&str, &str); 1] = [("CARGO_JITI_BUILD_TARGET_DIR", "")];

fn jiti(repo: &Repo, args: &[&str]) -> jiti_tests::Run {
    moto().jiti_env(repo.path(), args, &PRIVATE)
}

fn edit_code(repo: &Repo, from: &str, to: &str) {
    let main = repo.read("orders-api/src/main.rs");
    assert!(main.contains(from), "the handler has `{from}`");
    repo.write("orders-api/src/main.rs", &main.replacen(from, to, 1));
}

#[test]
fn a_code_only_change_is_hotswapped_anything_else_is_deployed() {
    let repo = shop_on("feature/hot");
    repo.with_unique_stack_prefix('h');
    let first = jiti(&repo, &["deploy", "--method", "direct", "--json"]).expect(0).json();
    let app = orders(&first);
    let stack = app["stack_name"].as_str().expect("stack_name").to_owned();
    let function = app["outputs"]["FunctionName"].as_str().expect("FunctionName").to_owned();
    let deployed = moto().code_sha256(&function);
    let before = stack_state(&stack);

    // A one-line code change: into the function, with no CloudFormation update.
    edit_code(&repo, "\"statusCode\": 200", "\"statusCode\": 202");
    let hot = jiti(&repo, &["deploy", "--hotswap", "-p", "orders-api", "--json"]).expect(0).json();
    let app = orders(&hot);
    assert_eq!(app["result"], "hotswapped", "{app}");
    let swapped = &app["functions"][0];
    assert_eq!(swapped["function"], function.as_str());
    let new_sha = moto().code_sha256(&function);
    assert_ne!(new_sha, deployed, "the function runs the new build");
    assert_eq!(hot["artifacts"][0]["sha256"], new_sha.as_str());
    assert_eq!(stack_state(&stack), before, "the stack was not updated");
    let calls = &hot["api_calls"]["by_operation"];
    let cloudformation: Vec<&String> = calls
        .as_object()
        .expect("by_operation")
        .keys()
        .filter(|k| k.starts_with("CloudFormation."))
        .collect();
    assert_eq!(cloudformation, ["CloudFormation.DescribeStacks"], "{calls}");
    assert_eq!(calls["Lambda.UpdateFunctionCode"]["calls"], 1, "{calls}");
    assert_eq!(app["release"]["method"], "hotswap");

    // The history says how each release got there.
    let history =
        moto().jiti(repo.path(), &["history", "-p", "orders-api", "--json"]).expect(0).json();
    let releases = history["apps"][0]["releases"].as_array().expect("releases");
    assert_eq!(releases[0]["method"], "hotswap", "{history}");
    assert_eq!(releases[1]["method"], "deploy", "{history}");
    let table = moto().jiti(repo.path(), &["history", "-p", "orders-api"]).expect(0).stdout;
    let newest = table.lines().nth(1).unwrap_or_default();
    assert!(newest.contains(" hotswapped "), "the table says how: {table}");

    // `diff` says the stack's template lags its code; `drift` says the emulator cannot tell.
    let diff = jiti(&repo, &["diff", "-p", "orders-api"]).expect(0);
    assert!(
        diff.stdout.contains("orders-api: code hotswapped once since the last deploy"),
        "{}",
        diff.stdout
    );
    let envs = moto().jiti(repo.path(), &["envs", "-p", "orders-api"]).expect(0);
    assert!(envs.stdout.contains("code hotswapped 1× since the last deploy"), "{}", envs.stdout);
    let drift = moto().jiti(repo.path(), &["drift", "-p", "orders-api"]);
    assert_eq!(drift.code, Some(2), "{}\n{}", drift.stdout, drift.stderr);
    assert!(drift.stderr.contains("does not implement drift detection"), "{}", drift.stderr);

    // Code and infra together: the fallback deploys through CloudFormation.
    edit_code(&repo, "\"statusCode\": 202", "\"statusCode\": 203");
    let config = repo.read("orders-api/infra/jiti.toml");
    repo.write("orders-api/infra/jiti.toml", &config.replace("memory = 256", "memory = 512"));
    let only = jiti(&repo, &["deploy", "--hotswap-only", "-p", "orders-api"]);
    assert_eq!(only.code, Some(2), "{}\n{}", only.stdout, only.stderr);
    // The deploy summary (stdout) says why, per app.
    assert!(
        only.stdout.contains("not a code-only change (resource `OrdersFunction` changes)"),
        "{}",
        only.stdout
    );
    assert_eq!(stack_state(&stack), before, "--hotswap-only changed nothing");
    assert_eq!(moto().code_sha256(&function), new_sha, "--hotswap-only changed nothing");
    let fell_back =
        jiti(&repo, &["deploy", "--hotswap", "--method", "direct", "-p", "orders-api", "--json"]);
    let fell_back = fell_back.expect(0);
    assert!(fell_back.stderr.contains("deploying through CloudFormation"), "{}", fell_back.stderr);
    let app = orders(&fell_back.json()).clone();
    assert_eq!(app["result"], "updated", "{app}");
    assert_ne!(stack_state(&stack), before, "the stack was updated");
    let latest = moto().code_sha256(&function);
    assert_ne!(latest, new_sha, "and the function runs the newest build");

    // A protected environment is never hotswapped.
    let refused = jiti(&repo, &["deploy", "--hotswap", "--branch", "main", "-p", "orders-api"]);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--hotswap is refused on the protected environment `production`"),
        "{}",
        refused.stderr
    );
}

#[test]
fn watch_hotswaps_each_save_and_stops_on_sigint_after_its_cycle() {
    let repo = shop_on("feature/watch-me");
    repo.with_unique_stack_prefix('w');
    let first = jiti(&repo, &["deploy", "--method", "direct", "--json"]).expect(0).json();
    let function =
        orders(&first)["outputs"]["FunctionName"].as_str().expect("FunctionName").to_owned();
    let deployed = moto().code_sha256(&function);

    let mut cmd = jiti_against(repo.path(), &moto().endpoint);
    cmd.args(["watch", "-p", "orders-api"]).env("CARGO_JITI_BUILD_TARGET_DIR", "");
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start watch");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let stderr = child.stderr.take().expect("stderr");
    let log = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut seen = Vec::new();
    let mut wait_for = |what: &str| -> String {
        loop {
            match rx.recv_timeout(Duration::from_secs(300)) {
                Ok(line) => {
                    seen.push(line.clone());
                    if line.contains(what) {
                        return line;
                    }
                }
                Err(e) => panic!("no line with `{what}` ({e}); lines so far: {seen:#?}"),
            }
        }
    };
    // The first cycle: everything up to date.
    let start = wait_for("orders-api");
    assert!(start.contains("start: orders-api up to date"), "{start}");
    wait_for("cycle");

    edit_code(&repo, "\"statusCode\": 200", "\"statusCode\": 204");
    let swapped = wait_for("orders-api");
    assert!(swapped.contains("main.rs: orders-api hotswapped OrdersFunction (build"), "{swapped}");
    assert!(swapped.contains("upload") && swapped.contains("update"), "{swapped}");
    wait_for("cycle");
    let new_sha = moto().code_sha256(&function);
    assert_ne!(new_sha, deployed);

    // A build that fails keeps the last good code running, and says so.
    edit_code(&repo, "\"statusCode\": 204", "\"statusCode\": 204 +");
    let failed = wait_for("build failed");
    assert!(failed.contains("the last good code keeps running"), "{failed}");
    assert_eq!(moto().code_sha256(&function), new_sha);

    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let status = child.wait().expect("watch ends");
    let log = log.join().expect("stderr");
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(log.contains("stopped watching"), "{log}");
}
