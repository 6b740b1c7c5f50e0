//! `cargo jiti render` and `check` end to end: the real binary on a copy of `examples/shop` in a
//! fresh git repository, cfn-lint as the oracle of the output.

use jiti_tests::{Repo, cfn_lint, lint_errors};
use serde_json::Value;

/// The jiti tags of a rendered resource, whatever its tag shape.
fn tags_of(resource: &Value) -> Vec<(String, String)> {
    match &resource["Properties"]["Tags"] {
        Value::Array(list) => list
            .iter()
            .map(|t| {
                (
                    t["Key"].as_str().unwrap_or_default().to_owned(),
                    t["Value"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
        _ => Vec::new(),
    }
}

fn template(repo: &Repo, env: &str, app: &str) -> Value {
    serde_json::from_str(&repo.read(&format!("target/jiti/{env}/{app}.template.json")))
        .expect("template is JSON")
}

/// Renders the shop on `branch` and checks everything the issue asks of the output.
fn render_shop(repo: &Repo, branch: &str) -> String {
    let run = repo.jiti(&["render", "--json"]).expect(0);
    let summary = run.json();
    assert_eq!(summary["branch"], branch);
    let apps = summary["apps"].as_array().expect("apps");
    assert_eq!(
        apps.iter().map(|a| a["app"].as_str().unwrap_or_default()).collect::<Vec<_>>(),
        ["billing", "orders-api"]
    );
    let env = apps[0]["environment"].as_str().expect("environment").to_owned();
    let commit = repo.git(&["rev-parse", "HEAD"]);

    let files: Vec<_> = ["billing", "orders-api"]
        .iter()
        .map(|a| repo.path().join(format!("target/jiti/{env}/{a}.template.json")))
        .collect();
    let findings = cfn_lint(&files, &[]);
    assert!(lint_errors(&findings).is_empty(), "cfn-lint errors on branch {branch}: {findings:#?}");

    for (app, version) in [("billing", "0.3.1"), ("orders-api", "1.4.2")] {
        let t = template(repo, &env, app);
        let resources = t["Resources"].as_object().expect("resources");
        assert!(resources.len() >= 4);
        for (id, resource) in resources {
            let tags = tags_of(resource);
            let get = |k: &str| tags.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
            assert_eq!(get("jiti:app"), Some(app), "{app}/{id}");
            assert_eq!(get("jiti:env"), Some(env.as_str()), "{app}/{id}");
            assert_eq!(get("jiti:branch"), Some(branch), "{app}/{id}");
            assert_eq!(get("jiti:version"), Some(version), "{app}/{id}");
            assert_eq!(get("jiti:commit"), Some(commit.as_str()), "{app}/{id}");
            assert_eq!(get("jiti:managed-by"), Some("cargo-jiti"), "{app}/{id}");
            assert!(
                get("team").is_some() && get("cost-center") == Some("shop"),
                "{app}/{id}: [tags] missing"
            );
        }
    }
    // --stdout prints exactly what render writes.
    let printed = repo.jiti(&["render", "-p", "billing", "--stdout"]).expect(0).stdout;
    assert_eq!(printed, repo.read(&format!("target/jiti/{env}/billing.template.json")));
    repo.jiti(&["check"]).expect(0);
    env
}

#[test]
fn main_renders_production_as_written() {
    let repo = Repo::from_fixture("shop");
    let env = render_shop(&repo, "main");
    assert_eq!(env, "production");
    let billing = template(&repo, &env, "billing");
    assert_eq!(billing["Resources"]["InvoiceArchive"]["DeletionPolicy"], "Retain");
    assert_eq!(billing["Resources"]["BillingLogs"]["Properties"]["RetentionInDays"], 365);
    let orders = template(&repo, &env, "orders-api");
    assert_eq!(orders["Resources"]["OrdersFunction"]["Properties"]["MemorySize"], 1024);
    // orders-api reads billing's exported queue from billing's stack in the same environment.
    let import = &orders["Resources"]["OrdersFunction"]["Properties"]["Environment"]["Variables"]["BILLING_QUEUE_URL"];
    assert_eq!(import["Fn::ImportValue"], "billing-production-QueueUrl");
}

#[test]
fn a_feature_branch_gets_its_own_environment_that_leaves_nothing_behind() {
    let repo = Repo::from_fixture("shop");
    repo.git(&["checkout", "-q", "-b", "feature/Login_Page"]);
    let env = render_shop(&repo, "feature/Login_Page");
    assert!(
        env.starts_with("feature-login-page-") && env.len() == "feature-login-page-".len() + 8,
        "{env}"
    );
    let billing = template(&repo, &env, "billing");
    assert_eq!(billing["Resources"]["InvoiceArchive"]["DeletionPolicy"], "Delete");
    assert_eq!(billing["Resources"]["InvoiceArchive"]["UpdateReplacePolicy"], "Delete");
    let orders = template(&repo, &env, "orders-api");
    assert_eq!(orders["Resources"]["OrdersFunction"]["Properties"]["MemorySize"], 256);
    assert_eq!(
        orders["Resources"]["OrdersFunction"]["Properties"]["Environment"]["Variables"]["BILLING_QUEUE_URL"]
            ["Fn::ImportValue"],
        format!("billing-{env}-QueueUrl")
    );
    // check says what it rewrote.
    let check = repo.jiti(&["check", "--json"]).expect(0).json();
    let rewritten: Vec<_> = check["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "retention-dropped")
        .collect();
    assert_eq!(rewritten.len(), 2, "{check:#}");
    // Opting out keeps the author's policy.
    let config = repo
        .read("billing/infra/jiti.toml")
        .replace("ttl = \"3d\"", "ttl = \"3d\"\nkeep_retained = true");
    repo.write("billing/infra/jiti.toml", &config);
    repo.jiti(&["render", "-p", "billing"]).expect(0);
    assert_eq!(
        template(&repo, &env, "billing")["Resources"]["InvoiceArchive"]["DeletionPolicy"],
        "Retain"
    );
}

#[test]
fn package_selection_follows_cargo() {
    let repo = Repo::from_fixture("shop");
    // From inside a package: that package only.
    let run = repo.jiti_in("orders-api/src", &["render", "--json"]).expect(0);
    assert_eq!(run.json()["apps"].as_array().map(Vec::len), Some(1));
    assert_eq!(run.json()["apps"][0]["app"], "orders-api");
    // --workspace from inside a package: every app.
    let run = repo.jiti_in("orders-api", &["render", "--workspace", "--json"]).expect(0);
    assert_eq!(run.json()["apps"].as_array().map(Vec::len), Some(2));
    // --manifest-path from elsewhere.
    let run = jiti_tests::jiti_command(std::env::temp_dir().as_path())
        .args(["render", "--json", "--manifest-path"])
        .arg(repo.path().join("Cargo.toml"))
        .output()
        .expect("run");
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    // Unknown packages name the apps there are.
    let run = repo.jiti(&["render", "-p", "shipping"]).expect(2);
    assert!(
        run.stderr.contains(
            "package `shipping` is not in the workspace; its apps are: billing, orders-api"
        ),
        "{}",
        run.stderr
    );
    let run = repo.jiti(&["render", "--stdout"]).expect(2);
    assert!(run.stderr.contains("pick one with -p"), "{}", run.stderr);
}

#[test]
fn a_package_without_infra_is_not_an_app() {
    let repo = Repo::from_fixture("shop");
    repo.write(
        "Cargo.toml",
        "[workspace]\nresolver = \"3\"\nmembers = [\"billing\", \"orders-api\", \"tools\"]\n",
    );
    repo.write(
        "tools/Cargo.toml",
        "[package]\nname = \"tools\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
    );
    repo.write("tools/src/main.rs", "fn main() {}\n");
    let run = repo.jiti(&["render", "-p", "tools"]).expect(2);
    assert!(
        run.stderr.contains("package `tools` has no infra: create `")
            && run.stderr.contains("tools/infra/jiti.toml"),
        "{}",
        run.stderr
    );
    // [package.metadata.jiti] infra moves the folder.
    repo.write("tools/Cargo.toml", "[package]\nname = \"tools\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[package.metadata.jiti]\ninfra = \"deploy\"\n");
    repo.write("tools/deploy/jiti.toml", "[app]\nregion = \"eu-west-1\"\n");
    repo.write("tools/deploy/stack.yaml", "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n");
    let run = repo.jiti(&["render", "-p", "tools", "--json"]).expect(0);
    assert_eq!(run.json()["apps"][0]["stack_name"], "tools-production");
}

#[test]
fn git_worktrees_and_detached_heads() {
    let repo = Repo::from_fixture("shop");
    let worktree = tempfile::tempdir().expect("temp dir");
    let wt = worktree.path().join("wt");
    repo.git(&["worktree", "add", "-q", "-b", "feature/wt", wt.to_str().expect("utf-8 path")]);
    let run = jiti_tests::jiti_command(&wt).args(["render", "--json"]).output().expect("run");
    let json: Value = serde_json::from_slice(&run.stdout).expect("json");
    assert_eq!(json["branch"], "feature/wt");
    let env = json["apps"][0]["environment"].as_str().expect("environment");
    assert!(env.starts_with("feature-wt-") && env.len() == "feature-wt-".len() + 8, "{env}");

    repo.git(&["checkout", "-q", "--detach"]);
    let run = repo.jiti(&["render"]).expect(2);
    assert!(
        run.stderr.contains("HEAD is detached at")
            && run.stderr.contains("pass `--branch NAME`")
            && run.stderr.contains("GITHUB_HEAD_REF"),
        "{}",
        run.stderr
    );
    // CI variables name the branch; the pull request's source branch wins.
    let ci = |vars: &[(&str, &str)]| {
        let mut cmd = jiti_tests::jiti_command(repo.path());
        cmd.args(["render", "--json"]);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).expect("json")["branch"]
            .as_str()
            .expect("branch")
            .to_owned()
    };
    assert_eq!(ci(&[("GITHUB_REF_NAME", "main")]), "main");
    assert_eq!(
        ci(&[("GITHUB_REF_NAME", "42/merge"), ("GITHUB_HEAD_REF", "feature/pr")]),
        "feature/pr"
    );
    assert_eq!(ci(&[("CI_COMMIT_REF_NAME", "gitlab-branch")]), "gitlab-branch");
    assert_eq!(ci(&[("BRANCH_NAME", "jenkins-branch")]), "jenkins-branch");
    // --branch wins over everything.
    let run = repo.jiti(&["render", "--json", "--branch", "release/2"]).expect(0);
    assert_eq!(run.json()["branch"], "release/2");
}

#[test]
fn outside_a_repository_or_before_the_first_commit() {
    let repo = Repo::empty();
    let shop = Repo::from_fixture("shop");
    for entry in ["Cargo.toml", "billing", "orders-api"] {
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(shop.path().join(entry))
            .arg(repo.path())
            .status()
            .expect("cp");
        assert!(status.success());
    }
    let run = repo.jiti(&["render"]).expect(2);
    assert!(run.stderr.contains("has no commit yet"), "{}", run.stderr);
    std::fs::remove_dir_all(repo.path().join(".git")).expect("remove .git");
    let run = repo.jiti(&["check"]).expect(2);
    assert!(run.stderr.contains("is not inside a git repository"), "{}", run.stderr);
}

#[test]
fn help_reads_as_a_cargo_subcommand() {
    let run = jiti_tests::jiti_command(std::env::temp_dir().as_path())
        .arg("--help")
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&run.stdout);
    assert!(help.contains("Usage: cargo jiti <COMMAND>"), "{help}");
    assert!(help.contains("Exit codes:"), "{help}");
    for command in ["render", "check", "schema"] {
        assert!(help.contains(command), "{help}");
    }
}

#[test]
fn offline_the_functions_code_is_a_placeholder_and_check_judges_the_artifact() {
    let repo = Repo::from_fixture("shop");
    // `render` builds nothing: the key and bucket are plain placeholders, valid where they stand.
    let t: Value = serde_json::from_str(
        &repo.jiti(&["render", "-p", "orders-api", "--stdout"]).expect(0).stdout,
    )
    .expect("json");
    let code = &t["Resources"]["OrdersFunction"]["Properties"]["Code"];
    assert_eq!(code["S3Bucket"], "known-after-build");
    assert_eq!(code["S3Key"], "artifacts/orders-api/api/known-after-build.zip");
    let file = repo.path().join("orders-api.json");
    std::fs::write(&file, t.to_string()).expect("write");
    assert!(lint_errors(&cfn_lint(&[file], &[])).is_empty());
    assert!(
        !repo.path().join("target/jiti/artifacts").exists(),
        "render must not build or package anything"
    );

    // An artifact for another CPU than the function's, and a binary the package lacks.
    let config = repo.read("orders-api/infra/jiti.toml");
    repo.write(
        "orders-api/infra/jiti.toml",
        &config.replace("arch = \"x86_64\"", "arch = \"arm64\""),
    );
    let run = repo.jiti(&["check", "-p", "orders-api"]).expect(1);
    assert!(run.stdout.contains("error[artifact]"), "{}", run.stdout);
    assert!(
        run.stdout.contains("built for `arm64`, but its `Architectures` is [x86_64]"),
        "{}",
        run.stdout
    );
    repo.write(
        "orders-api/infra/jiti.toml",
        &config.replace("arch = \"x86_64\"", "arch = \"x86_64\"\nbin = \"orders\""),
    );
    let run = repo.jiti(&["check", "-p", "orders-api"]).expect(1);
    assert!(
        run.stdout.contains("package `orders-api` has no such binary (it has: orders-api)"),
        "{}",
        run.stdout
    );
    // A template reading an artifact jiti.toml does not declare: the render says which.
    let stack = repo.read("orders-api/infra/stack.yaml");
    repo.write("orders-api/infra/jiti.toml", &config);
    repo.write(
        "orders-api/infra/stack.yaml",
        &stack.replace("artifacts.api.key", "artifacts.worker.key"),
    );
    let run = repo.jiti(&["check", "-p", "orders-api"]).expect(1);
    assert!(run.stdout.contains("artifacts.worker.key"), "{}", run.stdout);
}
