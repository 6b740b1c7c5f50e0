//! Developer environments and governance, end to end on moto: `run` deploys the branch's
//! environment and hands its outputs to a command; `init` scaffolds infra that checks, lints and
//! deploys; `--ttl`; `iam-policy` names only the app's stacks and tags; policy rules in `check` and
//! `deploy`, built-in and Guard.

use jiti_tests::{Repo, cfn_lint, lint_errors, moto, shop_on};
use serde_json::Value;

#[test]
fn run_deploys_once_then_hands_the_outputs_to_the_command_and_returns_its_code() {
    let repo = shop_on("feature/run-env");
    let moto = moto();
    let first = moto
        .jiti(
            repo.path(),
            &["run", "-p", "orders-api", "--method", "direct", "--", "sh", "-c", "env"],
        )
        .expect(0);
    // orders-api depends on billing: both are deployed, and both apps' outputs are there.
    assert!(
        first.stderr.contains("jiti: environment `feature-run-env-")
            && first.stderr.contains("`: billing created, orders-api created"),
        "{}",
        first.stderr
    );
    let vars: Vec<&str> = first.stdout.lines().filter(|l| l.starts_with("JITI_")).collect();
    assert!(
        vars.iter().any(|v| v.starts_with("JITI_ENV=feature-run-env-"))
            && vars.contains(&"JITI_BRANCH=feature/run-env"),
        "{vars:#?}"
    );
    for prefix in [
        "JITI_BILLING_QUEUEURL=http",
        "JITI_BILLING_TOPICARN=arn:aws:sns:",
        "JITI_ORDERS_API_TABLENAME=",
        "JITI_ORDERS_API_FUNCTIONARN=arn:aws:lambda:",
    ] {
        assert!(vars.iter().any(|v| v.starts_with(prefix)), "no {prefix}… in {vars:#?}");
    }

    let second = moto
        .jiti(
            repo.path(),
            &["run", "-p", "orders-api", "--", "sh", "-c", "echo $JITI_BILLING_QUEUEURL; exit 7"],
        )
        .expect(7);
    assert!(
        second.stderr.contains("billing up to date, orders-api up to date (1 API calls)"),
        "a second run deploys nothing: {}",
        second.stderr
    );
    assert!(second.stdout.starts_with("http"), "{}", second.stdout);

    // --no-deploy uses what is deployed; an environment that is not there is an error.
    moto.jiti(repo.path(), &["run", "--no-deploy", "-p", "billing", "--", "true"]).expect(0);
    let missing = moto
        .jiti(
            repo.path(),
            &[
                "run",
                "--no-deploy",
                "-p",
                "billing",
                "--branch",
                "feature/never-deployed",
                "--",
                "true",
            ],
        )
        .expect(2);
    assert!(
        missing.stderr.contains("has no stack") && missing.stderr.contains("deploy it first"),
        "{}",
        missing.stderr
    );
}

#[test]
fn an_interrupt_sent_to_cargo_jiti_reaches_the_command() {
    let repo = shop_on("feature/run-signal");
    let moto = moto();
    moto.jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct"]).expect(0);
    let mut cmd = jiti_tests::jiti_against(repo.path(), &moto.endpoint);
    cmd.args([
        "run",
        "--no-deploy",
        "-p",
        "billing",
        "--",
        "sh",
        "-c",
        "trap 'echo got-int; exit 42' INT; echo ready; while true; do sleep 0.1; done",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("start cargo-jiti run");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).expect("read");
    assert_eq!(line.trim(), "ready");
    // Only cargo-jiti gets the signal (as from `kill -INT`): it must pass it on.
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read");
    let status = child.wait().expect("wait");
    assert!(rest.contains("got-int"), "the command did not get the interrupt: {rest}");
    assert_eq!(status.code(), Some(42), "the command's exit code is cargo-jiti's");
}

/// A workspace of three plain crates, one per starter, without infra.
fn plain_workspace() -> Repo {
    let repo = Repo::empty();
    repo.write(
        "Cargo.toml",
        "[workspace]\nresolver = \"3\"\nmembers = [\"worker\", \"api\", \"assets\"]\n",
    );
    for name in ["worker", "api", "assets"] {
        repo.write(&format!("{name}/Cargo.toml"), &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n"));
        repo.write(&format!("{name}/src/main.rs"), "fn main() {}\n");
    }
    repo.write(".gitignore", "/target\n");
    repo.commit("three crates");
    repo.git(&["checkout", "-q", "-b", "feature/init"]);
    repo
}

#[test]
fn init_scaffolds_infra_that_checks_lints_and_deploys() {
    let repo = plain_workspace();
    for (crate_name, starter) in
        [("worker", "queue-worker"), ("api", "http-function"), ("assets", "static-bucket")]
    {
        let out = repo.jiti(&["init", "-p", crate_name, "--template", starter]).expect(0);
        assert!(
            out.stdout.contains(&format!("created {crate_name}/infra/jiti.toml"))
                && out.stdout.contains(&format!("created {crate_name}/infra/stack.yaml")),
            "{}",
            out.stdout
        );
    }
    // From inside a crate, the crate is the one; an existing file is never overwritten.
    let before = repo.read("worker/infra/stack.yaml");
    let again = repo.jiti_in("worker", &["init"]).expect(2);
    assert!(again.stderr.contains("exists already: init never overwrites"), "{}", again.stderr);
    assert_eq!(repo.read("worker/infra/stack.yaml"), before);

    repo.commit("infra");
    let check = repo.jiti(&["check", "--workspace", "--json"]).expect(0).json();
    let errors: Vec<&Value> = check["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error" || f["severity"] == "warning")
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    repo.jiti(&["render", "--workspace"]).expect(0);
    let env_dir = std::fs::read_dir(repo.path().join("target/jiti"))
        .expect("target/jiti")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("the environment's folder");
    let templates: Vec<std::path::PathBuf> = ["worker", "api", "assets"]
        .iter()
        .map(|a| env_dir.join(format!("{a}.template.json")))
        .collect();
    let findings = cfn_lint(&templates, &[]);
    assert!(lint_errors(&findings).is_empty(), "{findings:#?}");

    let deployed = moto()
        .jiti(repo.path(), &["deploy", "--workspace", "--method", "direct", "--json"])
        .expect(0)
        .json();
    let results: Vec<(&str, &str)> = deployed["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| (a["app"].as_str().unwrap_or_default(), a["result"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(
        results,
        [("worker", "created"), ("api", "created"), ("assets", "created")],
        "{deployed:#}"
    );
    assert!(
        deployed["apps"][0]["outputs"]["QueueUrl"].as_str().is_some_and(|u| u.starts_with("http")),
        "{deployed:#}"
    );
}

#[test]
fn ttl_sets_the_expiry_and_envs_shows_the_time_left() {
    let repo = shop_on("feature/ttl");
    let moto = moto();
    moto.jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--ttl", "2d"])
        .expect(0);
    let envs = moto.jiti(repo.path(), &["envs", "--json"]).expect(0).json();
    let row = envs["environments"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["environment"].as_str().is_some_and(|e| e.starts_with("feature-ttl-")))
        .cloned()
        .expect("the environment");
    let expires =
        humantime::parse_rfc3339(row["expires_at"].as_str().expect("expires_at")).expect("a time");
    let left = expires.duration_since(std::time::SystemTime::now()).expect("in the future");
    assert!(
        left > std::time::Duration::from_secs(2 * 86400 - 300)
            && left <= std::time::Duration::from_secs(2 * 86400),
        "{left:?}"
    );
    let table = moto.jiti(repo.path(), &["envs"]).expect(0).stdout;
    assert!(
        table.lines().any(|l| l.contains("feature-ttl-") && l.contains("in 1d 23h")),
        "{table}"
    );
}

#[test]
fn iam_policy_names_only_the_apps_stacks_and_tags_and_lints_as_a_managed_policy() {
    let repo = Repo::from_fixture("shop");
    let out = repo.jiti(&["iam-policy", "-p", "orders-api", "--account", "123456789012"]).expect(0);
    let policy: Value = serde_json::from_str(&out.stdout).expect("a JSON policy");
    assert_eq!(policy["Version"], "2012-10-17");
    let statements = policy["Statement"].as_array().expect("statements");
    let stacks = statements.iter().find(|s| s["Sid"] == "Stacks").expect("a stacks statement");
    assert_eq!(
        stacks["Resource"][0],
        "arn:aws:cloudformation:us-east-1:123456789012:stack/orders-api-*/*"
    );
    for s in statements {
        for resource in
            s["Resource"].as_array().cloned().unwrap_or_else(|| vec![s["Resource"].clone()])
        {
            let r = resource.as_str().unwrap_or_default();
            assert!(
                r == "*"
                    || r.contains("orders-api")
                    || r.contains(":changeSet/jiti-")
                    || r.ends_with("cargo-jiti-artifacts-123456789012-us-east-1"),
                "{} names another app's resources: {r}",
                s["Sid"]
            );
        }
        if let Some(condition) = s.get("Condition").and_then(|c| c.get("StringEquals")) {
            for (key, value) in condition.as_object().expect("conditions") {
                assert!(key.ends_with("Tag/jiti:app") && value == "orders-api", "{key} = {value}");
            }
        }
        // Anything on every resource is scoped by the app's tag, or only reads.
        if s["Resource"] == "*" && s.get("Condition").is_none() {
            assert_eq!(
                s["Action"],
                serde_json::json!([
                    "cloudformation:DescribeStacks",
                    "tag:GetResources",
                    "logs:DescribeLogGroups"
                ])
            );
        }
    }
    for service in ["dynamodb", "lambda", "logs"] {
        assert!(
            statements.iter().any(|s| s["Sid"]
                .as_str()
                .is_some_and(|sid| sid.to_lowercase() == format!("{service}bytag"))),
            "no tag-scoped statement for {service}"
        );
    }
    assert!(out.stderr.contains("iam: cannot be scoped by tag"), "{}", out.stderr);
    // --env narrows the stacks to one environment's.
    let narrow: Value = serde_json::from_str(
        &repo.jiti(&["iam-policy", "-p", "orders-api", "--env", "production"]).expect(0).stdout,
    )
    .expect("JSON");
    assert_eq!(
        narrow["Statement"][0]["Resource"][0],
        "arn:aws:cloudformation:us-east-1:*:stack/orders-api-production/*"
    );

    // The oracle: cfn-lint accepts it as the document of an AWS::IAM::ManagedPolicy.
    let template = serde_json::json!({"Resources": {"DeployOrdersApi": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": policy}}}});
    let file = repo.path().join("target/policy-template.json");
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    std::fs::write(&file, template.to_string()).expect("write");
    let findings = cfn_lint(&[file], &[]);
    assert!(lint_errors(&findings).is_empty(), "{findings:#?}");
}

#[test]
fn check_runs_policy_rules_and_deploy_refuses_their_errors_unless_skipped() {
    let repo = shop_on("feature/rules");
    // A queue with encryption turned off breaks the built-in `encryption` rule; a topic without a
    // KMS key is a warning (AWS does not encrypt topics by default); a team rule limits queues.
    repo.write(
        "billing/infra/stack.yaml",
        &repo
            .read("billing/infra/stack.yaml")
            .replace("      KmsMasterKeyId: alias/aws/sns\n", "")
            .replacen(
                "      SqsManagedSseEnabled: true\n",
                "      SqsManagedSseEnabled: false\n",
                1,
            ),
    );
    repo.write(
        "billing/infra/policy/queues.guard",
        "let queues = Resources.*[ Type == 'AWS::SQS::Queue' ]\nrule queues_time_out_fast when %queues !empty {\n  %queues.Properties.VisibilityTimeout <= 30\n  <<\n  Visibility timeouts over 30 s hide failures: lower it\n  >>\n}\n",
    );
    let check = repo.jiti(&["check", "-p", "billing", "--json"]).expect(1).json();
    let found: Vec<(String, String, String)> = check["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                f["code"].as_str().unwrap_or_default().to_owned(),
                f["resource"].as_str().unwrap_or_default().to_owned(),
                f["file"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(found.iter().any(|(c, r, _)| c == "encryption" && r == "InvoiceQueue"), "{found:#?}");
    assert!(!found.iter().any(|(_, r, _)| r == "BillingEvents"), "{found:#?}");
    let warning = check["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["resource"] == "BillingEvents")
        .expect("the topic's finding");
    assert_eq!(
        (warning["code"].as_str(), warning["severity"].as_str()),
        (Some("encryption"), Some("warning")),
        "{warning:#}"
    );
    assert!(
        found.iter().any(|(c, r, f)| c == "guard"
            && r == "InvoiceQueue"
            && f.ends_with("billing/infra/policy/queues.guard")),
        "{found:#?}"
    );
    let human = repo.jiti(&["check", "-p", "billing"]).expect(1);
    assert!(
        human.stdout.contains(
            "rule `queues_time_out_fast`: Visibility timeouts over 30 s hide failures: lower it"
        ),
        "{}",
        human.stdout
    );

    let refused = moto()
        .jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"])
        .expect(2)
        .json();
    let error = refused["apps"][0]["error"].as_str().unwrap_or_default();
    for part in [
        "`cargo jiti check` finds 3 error(s)",
        "encryption (InvoiceQueue)",
        "guard (InvoiceQueue): rule `queues_time_out_fast`",
        "--skip-checks",
    ] {
        assert!(error.contains(part), "no `{part}` in: {error}");
    }
    assert_eq!(refused["api_calls"]["total"], 1, "nothing but the listing happens");

    // Levels: strict makes the topic an error, workspace-wide; an app's own level wins over it.
    let manifest = repo.read("Cargo.toml");
    repo.write(
        "Cargo.toml",
        &(manifest.clone() + "\n[workspace.metadata.jiti.policy]\nstrict = true\n"),
    );
    let strict = repo.jiti(&["check", "-p", "billing", "--json"]).expect(1).json();
    let topic = strict["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["resource"] == "BillingEvents")
        .expect("the topic's finding");
    assert_eq!(topic["severity"], "error", "{topic:#}");
    let original = repo.read("billing/infra/jiti.toml");
    let levelled = original.clone() + "\n[policy.levels]\nencryption = \"warning\"\n";
    repo.write("billing/infra/jiti.toml", &levelled);
    let check = repo.jiti(&["check", "-p", "billing", "--json"]).expect(1).json();
    let levels: Vec<&str> = check["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "encryption")
        .map(|f| f["severity"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(levels, ["warning", "warning"], "{check:#}");
    repo.write("Cargo.toml", &manifest);
    repo.write("billing/infra/jiti.toml", &original);

    // An app turns a rule off with a reason: information, not an error.
    let config = repo.read("billing/infra/jiti.toml")
        + "\n[policy.off]\nencryption = \"billing events are public announcements\"\n";
    repo.write("billing/infra/jiti.toml", &config);
    let check = repo.jiti(&["check", "-p", "billing", "--json"]).expect(1).json();
    let info = check["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["code"] == "encryption")
        .expect("the encryption finding");
    assert_eq!(info["severity"], "info");
    assert!(
        info["message"].as_str().is_some_and(|m| m.contains(
            "rule `encryption` is off for this app: billing events are public announcements"
        )),
        "{info:#}"
    );
    let empty = repo
        .read("billing/infra/jiti.toml")
        .replace("billing events are public announcements", " ");
    repo.write("billing/infra/jiti.toml", &empty);
    let bad = repo.jiti(&["check", "-p", "billing"]).expect(1);
    assert!(
        bad.stdout.contains(
            "billing/infra/jiti.toml:26:14: say why the rule is off: the reason must not be empty"
        ),
        "{}",
        bad.stdout
    );
    repo.write("billing/infra/jiti.toml", &config);

    // A protected environment without termination protection breaks its rule.
    repo.write(
        "billing/infra/jiti.toml",
        &config.replace(
            "branches = [\"main\", \"master\"]\n",
            "branches = [\"main\", \"master\"]\ntermination_protection = false\n",
        ),
    );
    let check = repo.jiti(&["check", "-p", "billing", "--json"]).expect(1).json();
    let rule = check["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["code"] == "termination-protection")
        .expect("the termination-protection finding");
    assert_eq!(
        (
            rule["severity"].as_str(),
            rule["file"].as_str().is_some_and(|f| f.ends_with("billing/infra/jiti.toml"))
        ),
        (Some("error"), true),
        "{rule:#}"
    );
    repo.write("billing/infra/jiti.toml", &config);

    let skipped = moto()
        .jiti(
            repo.path(),
            &["deploy", "-p", "billing", "--method", "direct", "--skip-checks", "--json"],
        )
        .expect(0)
        .json();
    assert_eq!(skipped["apps"][0]["result"], "created");
    assert_eq!(skipped["apps"][0]["release"]["skip_checks"], true, "the release records it");
}
