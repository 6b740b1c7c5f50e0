//! `cargo jiti ci` end to end on the emulator: GitHub's event payloads (`tests/fixtures/events`)
//! drive a pull request's environment through its life in a CI-like checkout (detached HEAD, an
//! `origin` remote), stack by stack, with the comment body of each step pinned; GitLab's variables
//! do the same for a merge request; `ci init`'s files pass actionlint and GitLab's schema, and an
//! edited file is never overwritten.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use jiti_tests::{
    Moto, Repo, Run, assert_report_valid, moto, repo_root, shop_on, snapshot, venv_tool,
};
use serde_json::Value;

fn payload(name: &str) -> String {
    repo_root().join("tests/fixtures/events/github").join(name).display().to_string()
}

/// What `ci` left for people: the comment body and the step summary.
struct Said {
    run: Run,
    report: Value,
    comment: String,
    summary: String,
}

/// `cargo jiti ci --json` as the generated workflow runs it, for a GitHub event. Stacks are made
/// with `--method direct`: moto gives a stack made by a change set no outputs, which the
/// dependent app reads.
fn ci(moto: &Moto, repo: &Repo, event: &str, file: &str, code: i32) -> Said {
    ci_with(moto, repo, event, file, code, "direct")
}

fn ci_with(moto: &Moto, repo: &Repo, event: &str, file: &str, code: i32, method: &str) -> Said {
    let comment = repo.path().join("target/jiti/ci/comment.md");
    let _ = std::fs::remove_file(&comment);
    let summary = repo.path().join("target/step-summary.md");
    let _ = std::fs::remove_file(&summary);
    std::fs::create_dir_all(summary.parent().expect("parent")).expect("target/");
    let (payload, summary_path) = (payload(file), summary.display().to_string());
    let run = moto
        .jiti_env(
            repo.path(),
            &["ci", "--method", method, "--comment-file", "target/jiti/ci/comment.md", "--json"],
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_EVENT_NAME", event),
                ("GITHUB_EVENT_PATH", &payload),
                ("GITHUB_STEP_SUMMARY", &summary_path),
            ],
        )
        .expect(code);
    let report = run.json();
    assert_report_valid(&report);
    Said {
        report,
        comment: std::fs::read_to_string(&comment).unwrap_or_default(),
        summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        run,
    }
}

/// Stacks of the account by name, with their status (deleted ones left out).
fn stacks(moto: &Moto) -> BTreeMap<String, String> {
    let v = moto.boto3(
        "print(json.dumps({s['StackName']: s['StackStatus'] for s in c('cloudformation').describe_stacks()['Stacks'] if s['StackStatus'] != 'DELETE_COMPLETE'}))",
    );
    serde_json::from_value(v).expect("stacks by name")
}

fn tag(moto: &Moto, stack: &str, key: &str) -> String {
    let v = moto.boto3(&format!(
        "s = c('cloudformation').describe_stacks(StackName={stack:?})['Stacks'][0]\nprint(json.dumps([t['Value'] for t in s['Tags'] if t['Key'] == {key:?}][0]))"
    ));
    v.as_str().expect("a tag value").to_owned()
}

/// The comment as pinned: API call counts filtered (they depend on how long a stack took to
/// settle, polls included).
fn pinned(text: &str) -> String {
    let calls = regex::Regex::new(r"\d+ AWS API calls").expect("regex");
    calls.replace_all(text, "[n] AWS API calls").into_owned()
}

/// A bare repository as the repo's `origin`, with `branches` pushed.
fn with_origin(repo: &Repo, branches: &[&str]) -> tempfile::TempDir {
    let origin = tempfile::Builder::new().prefix("jiti-origin-").tempdir().expect("temp dir");
    let status = Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(origin.path())
        .status()
        .expect("git init --bare");
    assert!(status.success());
    repo.git(&["remote", "add", "origin", &origin.path().display().to_string()]);
    for b in branches {
        repo.git(&["push", "-q", "origin", b]);
    }
    origin
}

fn names(stacks: &BTreeMap<String, String>, env: &str) -> Vec<String> {
    stacks.keys().filter(|s| s.ends_with(env)).cloned().collect()
}

#[test]
fn a_pull_request_environment_lives_and_dies_with_its_pull_request() {
    // Its own emulator: the nightly gc of this test judges every stack of the account.
    let moto = Moto::start();
    // Billing alone: moto drops a DynamoDB table out of its stack on an update (EMULATOR.md), so
    // orders-api's second deploy fails there; the GitLab test below deploys both apps.
    let repo = Repo::from_fixture("shop");
    repo.write(
        "Cargo.toml",
        &repo.read("Cargo.toml").replace(r#"["billing", "orders-api"]"#, r#"["billing"]"#),
    );
    std::fs::remove_dir_all(repo.path().join("orders-api")).expect("remove orders-api");
    repo.commit("billing alone");
    repo.git(&["checkout", "-q", "-b", "feature/login"]);
    let origin = with_origin(&repo, &["main", "feature/login"]);
    // As actions/checkout leaves a pull request's head: detached.
    repo.git(&["checkout", "-q", "--detach", "feature/login"]);

    // Opened: the branch's environment is created, stamped with the branch.
    let opened = ci(&moto, &repo, "pull_request", "pull_request.opened.json", 0);
    assert_eq!(opened.report["decision"]["action"], "deploy", "{}", opened.report);
    assert_eq!(opened.report["event"]["kind"], "pull-request");
    let env = opened.report["deploy"]["apps"][0]["environment"].as_str().expect("env").to_owned();
    assert!(env.starts_with("feature-login"), "{env}");
    let after_open = stacks(&moto);
    let feature = names(&after_open, &env);
    assert_eq!(feature.len(), 1, "billing's: {after_open:?}");
    for stack in &feature {
        assert_eq!(after_open[stack], "CREATE_COMPLETE");
        assert_eq!(tag(&moto, stack, "jiti:branch"), "feature/login");
    }
    assert!(opened.comment.starts_with("<!-- cargo-jiti:ci -->\n"), "{}", opened.comment);
    assert!(opened.summary.contains("deployed"), "the step summary: {}", opened.summary);
    assert!(opened.run.stdout.is_empty() || opened.report.is_object());
    snapshot!(&repo, "ci_opened", pinned(&opened.comment));

    // Synchronize: a commit changes billing's queue; the plan as Markdown, then the update.
    repo.git(&["checkout", "-q", "feature/login"]);
    let config = repo.read("billing/infra/jiti.toml");
    repo.write(
        "billing/infra/jiti.toml",
        &config.replace("visibility_timeout = 60", "visibility_timeout = 90"),
    );
    repo.commit("billing: a longer visibility timeout");
    repo.git(&["push", "-q", "origin", "feature/login"]);
    repo.git(&["checkout", "-q", "--detach", "feature/login"]);
    let plan = moto
        .jiti(repo.path(), &["diff", "--format", "markdown", "--branch", "feature/login"])
        .expect(0);
    assert!(plan.stdout.contains("would change"), "{}", plan.stdout);
    snapshot!(&repo, "ci_diff_markdown", pinned(&plan.stdout));
    // Updated through a change set, the default method.
    let updated =
        ci_with(&moto, &repo, "pull_request", "pull_request.synchronize.json", 0, "change-set");
    let results: BTreeMap<&str, &str> = updated.report["deploy"]["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| (a["app"].as_str().expect("app"), a["result"].as_str().expect("result")))
        .collect();
    assert_eq!(results["billing"], "updated", "{results:?}");
    assert_eq!(stacks(&moto)[&format!("billing-{env}")], "UPDATE_COMPLETE");
    snapshot!(&repo, "ci_synchronize", pinned(&updated.comment));

    // A push to main deploys production, with the confirmation the workflow gives.
    repo.git(&["checkout", "-q", "main"]);
    let pushed = ci(&moto, &repo, "push", "push.main.json", 0);
    assert_eq!(pushed.report["decision"]["protected"], true, "{}", pushed.report);
    let production = names(&stacks(&moto), "-production");
    assert_eq!(production.len(), 1, "{production:?}");

    // Closed (merged): from the default branch's checkout, where `feature/login` is not even a
    // local branch any more, its environment goes; production stays.
    repo.git(&["branch", "-q", "-D", "feature/login"]);
    let closed = ci(&moto, &repo, "pull_request", "pull_request.closed.json", 0);
    assert_eq!(closed.report["decision"]["action"], "destroy", "{}", closed.report);
    let after_close = stacks(&moto);
    assert!(names(&after_close, &env).is_empty(), "the environment is gone: {after_close:?}");
    assert_eq!(names(&after_close, "-production"), production, "production untouched");
    snapshot!(&repo, "ci_closed", pinned(&closed.comment));

    // A fork's pull request gets nothing.
    let fork = ci(&moto, &repo, "pull_request", "pull_request.opened.fork.json", 0);
    assert_eq!(fork.report["decision"]["action"], "nothing", "{}", fork.report);
    assert_eq!(stacks(&moto), after_close, "nothing deployed for a fork");

    // A deleted branch's environment goes (GitHub's `delete` event runs on the default branch).
    repo.git(&["checkout", "-q", "-b", "feature/gone"]);
    moto.jiti(repo.path(), &["deploy", "--method", "direct"]).expect(0);
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["branch", "-q", "-D", "feature/gone"]);
    let gone_before = stacks(&moto);
    assert_eq!(gone_before.len(), 2, "production and feature/gone's: {gone_before:?}");
    let deleted = ci(&moto, &repo, "delete", "delete.json", 0);
    assert_eq!(deleted.report["decision"]["action"], "destroy", "{}", deleted.report);
    assert_eq!(stacks(&moto), after_close, "feature/gone's environment is gone");

    // Nightly: a branch deleted on origin after this clone last fetched. The clone still has
    // `origin/feature/stale` (as a CI cache or a long-lived runner would): only origin's live
    // listing (`--remote origin`, which `ci` passes) says it is gone.
    repo.git(&["checkout", "-q", "-b", "feature/stale"]);
    moto.jiti(repo.path(), &["deploy", "--method", "direct"]).expect(0);
    repo.git(&["push", "-q", "origin", "feature/stale"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["branch", "-q", "-D", "feature/stale"]);
    let status = Command::new("git")
        .arg("--git-dir")
        .arg(origin.path())
        .args(["branch", "-q", "-D", "feature/stale"])
        .status()
        .expect("git branch -D on origin");
    assert!(status.success());
    assert!(
        repo.git(&["branch", "-r"]).contains("origin/feature/stale"),
        "a stale remote-tracking ref"
    );
    assert_eq!(stacks(&moto).len(), 2);
    let nightly = ci(&moto, &repo, "schedule", "schedule.json", 0);
    assert_eq!(nightly.report["decision"]["action"], "gc", "{}", nightly.report);
    assert_eq!(nightly.report["gc"]["dry_run"], false);
    assert_eq!(stacks(&moto), after_close, "the stale environment collected, production kept");
}

#[test]
fn a_gitlab_merge_request_deploys_and_its_stop_job_destroys() {
    let repo = shop_on("feature/mr");
    repo.with_unique_stack_prefix('c');
    repo.git(&["checkout", "-q", "--detach", "feature/mr"]);
    let vars = [
        ("GITLAB_CI", "true"),
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_MERGE_REQUEST_IID", "12"),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/mr"),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
        ("CI_MERGE_REQUEST_PROJECT_ID", "5"),
        ("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "5"),
        ("CI_COMMIT_REF_NAME", "feature/mr"),
    ];
    let deploy = moto()
        .jiti_env(repo.path(), &["ci", "--method", "direct", "--json"], &vars)
        .expect(0)
        .json();
    assert_report_valid(&deploy);
    assert_eq!(deploy["decision"]["action"], "deploy", "{deploy}");
    let stacks: Vec<String> = deploy["deploy"]["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| a["stack_name"].as_str().expect("stack").to_owned())
        .collect();
    assert_eq!(stacks.len(), 2);
    for stack in &stacks {
        assert_eq!(tag(moto(), stack, "jiti:branch"), "feature/mr");
    }
    let stop: Vec<(&str, &str)> =
        vars.iter().copied().chain([("CI_ENVIRONMENT_ACTION", "stop")]).collect();
    let destroyed = moto().jiti_env(repo.path(), &["ci", "--json"], &stop).expect(0).json();
    assert_eq!(destroyed["decision"]["action"], "destroy", "{destroyed}");
    let deleted: Vec<&Value> =
        destroyed["destroy"]["deleted"].as_array().expect("deleted").iter().collect();
    assert_eq!(deleted.len(), 2, "{destroyed}");
    assert!(deleted.iter().all(|d| d["deleted"] == true), "{destroyed}");
}

#[test]
fn dry_run_and_unknown_ci_say_what_they_would_do_and_change_nothing() {
    let repo = shop_on("feature/dry");
    repo.with_unique_stack_prefix('d');
    let github = [("GITHUB_ACTIONS", "true"), ("GITHUB_EVENT_NAME", "pull_request")];
    let opened = payload("pull_request.opened.json");
    let mut vars = github.to_vec();
    vars.push(("GITHUB_EVENT_PATH", &opened));
    // The payload's branch is feature/login: its diff says the stacks would be created.
    let dry = moto().jiti_env(repo.path(), &["ci", "--dry-run"], &vars).expect(0);
    assert!(
        dry.stdout.contains("as: cargo jiti diff --workspace --branch 'feature/login'"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("does not exist; a deploy creates"), "{}", dry.stdout);
    let envs = moto().jiti(repo.path(), &["envs", "--json"]).expect(0).json();
    assert!(
        !envs["environments"]
            .as_array()
            .expect("envs")
            .iter()
            .any(|e| e["branch"] == "feature/login"),
        "a dry run deploys nothing: {envs}"
    );
    // A broken template fails the run, and the comment tells the pull request why.
    let template = repo.read("billing/infra/stack.yaml");
    repo.write(
        "billing/infra/stack.yaml",
        &template.replacen("Resources:", "Resources: {{ nope }}", 1),
    );
    let failed =
        moto().jiti_env(repo.path(), &["ci", "--comment-file", "comment.md"], &vars).expect(2);
    let comment = repo.read("comment.md");
    assert!(comment.starts_with("<!-- cargo-jiti:ci -->"), "{comment}");
    assert!(comment.contains("❌") && comment.contains("nope"), "{comment}\n{}", failed.stderr);
    repo.write("billing/infra/stack.yaml", &template);
    // Outside a CI: what to do instead.
    let outside = moto().jiti(repo.path(), &["ci"]).expect(2);
    assert!(outside.stderr.contains("GITHUB_ACTIONS or GITLAB_CI"), "{}", outside.stderr);
    // A payload that is not GitHub's: the file and the field.
    let bad = repo.path().join("bad-event.json");
    std::fs::write(&bad, r#"{"action": "opened"}"#).expect("write");
    let bad = bad.display().to_string();
    let broken = moto()
        .jiti_env(repo.path(), &["ci"], &[github[0], github[1], ("GITHUB_EVENT_PATH", &bad)])
        .expect(2);
    assert!(
        broken.stderr.contains("bad-event.json") && broken.stderr.contains("/pull_request"),
        "{}",
        broken.stderr
    );
}

fn run_tool(program: &Path, args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(program).args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("{} did not run ({e}): run `scripts/setup-python`", program.display())
    });
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn ci_init_writes_files_the_linters_accept_and_never_overwrites_an_edit() {
    let repo = Repo::from_fixture("shop");
    repo.git(&["remote", "add", "origin", "https://github.com/acme/shop.git"]);
    let init = jiti_tests::jiti_command(repo.path())
        .args(["ci", "init", "--github"])
        .env("AWS_REGION", "eu-west-1")
        .output()
        .expect("run");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&init.stdout), String::from_utf8_lossy(&init.stderr));
    assert_eq!(init.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("created .github/workflows/jiti.yml"), "{stdout}");
    assert!(stderr.contains("repo:acme/shop:*"), "the trust policy's subject: {stderr}");
    // Then the policy of each app, as `iam-policy` prints it.
    let policies: Value =
        serde_json::from_str(&stdout[stdout.find('{').expect("JSON")..]).expect("policies");
    for app in ["billing", "orders-api"] {
        assert!(policies[app]["Statement"].is_array(), "{app}: {policies}");
    }
    let workflow = repo.read(".github/workflows/jiti.yml");
    assert!(workflow.contains("branches: [main, master]"), "{workflow}");

    let (ok, said) = run_tool(
        &venv_tool("actionlint"),
        &["-no-color", ".github/workflows/jiti.yml"],
        repo.path(),
    );
    assert!(ok, "actionlint: {said}");
    let (ok, said) = run_tool(
        &venv_tool("check-jsonschema"),
        &["--builtin-schema", "vendor.github-workflows", ".github/workflows/jiti.yml"],
        repo.path(),
    );
    assert!(ok, "GitHub's workflow schema: {said}");

    let gitlab = jiti_tests::jiti_command(repo.path())
        .args(["ci", "init", "--gitlab"])
        .output()
        .expect("run");
    assert_eq!(gitlab.status.code(), Some(0), "{}", String::from_utf8_lossy(&gitlab.stderr));
    let (ok, said) = run_tool(
        &venv_tool("check-jsonschema"),
        &["--builtin-schema", "vendor.gitlab-ci", ".gitlab-ci.yml"],
        repo.path(),
    );
    assert!(ok, "GitLab's CI schema: {said}");

    // Again: up to date. Edited: kept, exit 1, the edit intact.
    let again = jiti_tests::jiti_command(repo.path()).args(["ci", "init"]).output().expect("run");
    assert!(String::from_utf8_lossy(&again.stdout).contains("up to date"));
    let edited = workflow.replace("timeout-minutes: 90", "timeout-minutes: 45");
    repo.write(".github/workflows/jiti.yml", &edited);
    let kept = jiti_tests::jiti_command(repo.path())
        .args(["ci", "init", "--github"])
        .output()
        .expect("run");
    assert_eq!(kept.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&kept.stdout).contains("kept .github/workflows/jiti.yml"));
    assert_eq!(repo.read(".github/workflows/jiti.yml"), edited);
}

#[test]
fn the_guide_shows_the_workflow_ci_init_writes() {
    const MARKER: &str = "<!-- ci init --github for examples/shop";
    let repo = Repo::from_fixture("shop");
    let out = jiti_tests::jiti_command(repo.path())
        .args(["ci", "init", "--github", "--stdout"])
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let workflow = String::from_utf8(out.stdout).expect("UTF-8");
    let path = repo_root().join("docs/guide/ci.md");
    let guide = std::fs::read_to_string(&path).expect("docs/guide/ci.md");
    let start = guide.find(MARKER).expect("the guide's marker");
    let open = start + guide[start..].find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let close = open + guide[open..].find("```\n").expect("the block's end");
    if guide[open..close] != workflow {
        if std::env::var_os("JITI_BLESS").is_some() {
            std::fs::write(&path, format!("{}{workflow}{}", &guide[..open], &guide[close..]))
                .expect("write the guide");
        } else {
            panic!(
                "docs/guide/ci.md shows another workflow than `ci init --github` writes: regenerate with\n    JITI_BLESS=1 cargo test -p jiti-tests --test ci guide"
            );
        }
    }
}

#[test]
fn githubs_own_payload_examples_become_the_events_and_decisions_expected() {
    use jiti_core::ci::{Event, PrAction, decide, github};
    let dir = repo_root().join("tests/fixtures/events/github/octokit");
    let pr = |action: PrAction| Event::PullRequest {
        number: 2,
        action,
        head: "changes".into(),
        base: "master".into(),
        from_fork: false,
    };
    // (file, event name, event, decision's action), with `master` protected as by default.
    let cases: Vec<(&str, &str, Event, &str)> = vec![
        ("pull_request.opened.payload.json", "pull_request", pr(PrAction::Opened), "deploy"),
        ("pull_request.opened.with-null-body.json", "pull_request", pr(PrAction::Opened), "deploy"),
        (
            "pull_request.synchronize.payload.json",
            "pull_request",
            pr(PrAction::Synchronize),
            "deploy",
        ),
        ("pull_request.reopened.payload.json", "pull_request", pr(PrAction::Reopened), "deploy"),
        ("pull_request.closed.payload.json", "pull_request", pr(PrAction::Closed), "destroy"),
        (
            "pull_request.closed.with-organization.payload.json",
            "pull_request",
            pr(PrAction::Closed),
            "destroy",
        ),
        (
            "pull_request.labeled.payload.json",
            "pull_request",
            pr(PrAction::Other("labeled".into())),
            "nothing",
        ),
        (
            "pull_request.ready_for_review.payload.json",
            "pull_request",
            pr(PrAction::Other("ready_for_review".into())),
            "nothing",
        ),
        (
            "delete.payload.json",
            "delete",
            Event::Other { name: "delete of a tag".into() },
            "nothing",
        ),
        (
            "delete.with-organization.payload.json",
            "delete",
            Event::Other { name: "delete of a tag".into() },
            "nothing",
        ),
        (
            "push.payload.json",
            "push",
            Event::Other { name: "push of refs/tags/simple-tag".into() },
            "nothing",
        ),
        (
            "push.with-organization.payload.json",
            "push",
            Event::Other { name: "push of refs/tags/simple-tag".into() },
            "nothing",
        ),
        (
            "push.with-new-branch.payload.json",
            "push",
            Event::Push { branch: "master".into() },
            "deploy",
        ),
        (
            "workflow_dispatch.payload.json",
            "workflow_dispatch",
            Event::Manual { branch: "master".into() },
            "deploy",
        ),
    ];
    for (file, name, want, action) in cases {
        let event =
            github(name, &dir.join(file), |_| None).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(event, want, "{file}");
        let decision = serde_json::to_value(decide(&event, |b| b == "master")).expect("JSON");
        assert_eq!(decision["action"], action, "{file}: {decision}");
    }
}
