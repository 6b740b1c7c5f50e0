//! Shipping the app's own code (`[artifacts]`): the example's Rust Lambda built for Amazon Linux
//! 2023, zipped the same way twice, uploaded once under its hash, checked against the function's
//! `CodeSha256`, brought back exactly by a rollback, collected by `gc` once nothing uses it; and
//! the built `bootstrap` answering a request through a Lambda Runtime API stand-in.

use jiti_tests::{Repo, lambda, moto, shop_on};
use serde_json::{Value, json};

fn the_artifact(report: &Value) -> &Value {
    let artifacts = report["artifacts"].as_array().expect("artifacts");
    assert_eq!(artifacts.len(), 1, "{report}");
    &artifacts[0]
}

fn object_exists(key: &str) -> bool {
    let listed = moto().boto3(&format!(
        "b = [x['Name'] for x in c('s3').list_buckets()['Buckets'] if x['Name'].startswith('cargo-jiti-artifacts-')][0]\nr = c('s3').list_objects_v2(Bucket=b, Prefix={key:?})\nprint(json.dumps(r.get('KeyCount', 0)))"
    ));
    listed.as_u64() == Some(1)
}

#[test]
fn a_deploy_ships_the_code_a_rollback_brings_it_back_and_gc_collects_what_nobody_uses() {
    let repo = shop_on("feature/ship-it");
    repo.with_unique_stack_prefix('s');
    let dir = repo.path();
    // This test changes the app's code: it builds in its own target directory. (Copies of one
    // workspace share cargo's artifact names, and cargo judges freshness by file times: in a
    // shared directory another test's build of the unchanged code could pass for this one's.)
    let private = [("CARGO_JITI_BUILD_TARGET_DIR", "")];
    let deploy = |repo: &Repo| {
        moto().jiti_env(repo.path(), &["deploy", "--method", "direct", "--json"], &private)
    };

    // First deploy: built, uploaded, and the function runs exactly those bytes.
    let first = deploy(&repo).expect(0).json();
    let built = the_artifact(&first).clone();
    let sha = built["sha256"].as_str().expect("sha256").to_owned();
    assert_eq!(built["uploaded"], true, "{built}");
    assert_eq!(built["key"], format!("artifacts/orders-api/api/{sha}.zip"));
    let orders = first["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["app"] == "orders-api")
        .expect("orders-api");
    let function = orders["outputs"]["FunctionName"].as_str().expect("FunctionName").to_owned();
    assert_eq!(moto().code_sha256(&function), sha);
    assert_eq!(
        orders["release"]["artifacts"][0]["sha256"],
        sha.as_str(),
        "the release records the artifact"
    );

    // Nothing changed: one call, nothing uploaded.
    let noop = deploy(&repo).expect(0).json();
    assert_eq!(noop["api_calls"]["total"], 1, "{}", noop["api_calls"]);
    assert_eq!(the_artifact(&noop)["uploaded"], false);

    // An infra-only change: the same package, not uploaded again. (Uncommitted, as in a
    // developer's loop: a new commit changes every resource's `jiti:commit` tag, and moto drops
    // a DynamoDB table from a stack whose update touches it.)
    let config = repo.read("orders-api/infra/jiti.toml");
    repo.write("orders-api/infra/jiti.toml", &config.replace("memory = 256", "memory = 512"));
    let infra = deploy(&repo).expect(0).json();
    assert_eq!(the_artifact(&infra)["sha256"], sha.as_str());
    assert_eq!(the_artifact(&infra)["uploaded"], false);
    let calls = &infra["api_calls"]["by_operation"];
    assert!(
        calls.get("S3.PutObject").is_none_or(|p| p["calls"] == 2),
        "only the two ledger records are put: {calls}"
    );

    // A one-line code change: a new key, a new hash, the function updated to it.
    let main = repo.read("orders-api/src/main.rs");
    repo.write(
        "orders-api/src/main.rs",
        &main.replace("\"statusCode\": 200", "\"statusCode\": 201"),
    );
    let code = deploy(&repo).expect(0).json();
    let new_sha = the_artifact(&code)["sha256"].as_str().expect("sha256").to_owned();
    assert_ne!(new_sha, sha);
    assert_eq!(the_artifact(&code)["uploaded"], true);
    assert_eq!(moto().code_sha256(&function), new_sha);
    let history = moto().jiti(dir, &["history", "-p", "orders-api"]).expect(0);
    assert!(history.stdout.contains(&format!("api@{}", &new_sha[..12])), "{}", history.stdout);

    // Rollback: the previous release's exact bytes, without building anything.
    let back = moto()
        .jiti_env(
            dir,
            &["rollback", "-p", "orders-api", "--steps", "1", "--method", "direct"],
            &private,
        )
        .expect(0);
    assert!(!back.stderr.contains("building"), "a rollback builds nothing: {}", back.stderr);
    assert_eq!(moto().code_sha256(&function), sha);

    // gc: the new build is no longer used by the newest release; kept in its grace period, then
    // collected; the deployed one is kept.
    let new_key = format!("artifacts/orders-api/api/{new_sha}.zip");
    let old_key = format!("artifacts/orders-api/api/{sha}.zip");
    let gc = |more: &[&str]| {
        let args = [&["gc", "--artifacts-only", "--keep-releases", "1", "--json"], more].concat();
        moto().jiti(dir, &args).expect(0).json()
    };
    let young = gc(&[]);
    assert_eq!(young["artifacts"][0]["collect"], json!([]), "inside the grace period: {young}");
    let dry = gc(&["--artifacts-grace", "0s"]);
    let planned: Vec<&str> = dry["artifacts"][0]["collect"]
        .as_array()
        .expect("collect")
        .iter()
        .filter_map(|o| o["key"].as_str())
        .collect();
    assert_eq!(planned, [new_key.as_str()], "{dry}");
    assert!(object_exists(&new_key), "a dry run deletes nothing");
    let done = gc(&["--artifacts-grace", "0s", "--yes"]);
    assert_eq!(done["artifacts_deleted"], 1, "{done}");
    assert!(!object_exists(&new_key));
    assert!(object_exists(&old_key), "the deployed build stays");

    // Rolling forward to the collected build is refused before anything changes.
    let before = moto().code_sha256(&function);
    let refused =
        moto().jiti(dir, &["rollback", "-p", "orders-api", "--steps", "1", "--method", "direct"]);
    assert_ne!(refused.code, Some(0), "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains("was collected") && refused.stderr.contains("redeploy that commit"),
        "{}",
        refused.stderr
    );
    assert_eq!(moto().code_sha256(&function), before);
}

#[test]
fn the_same_commit_builds_the_same_zip_and_its_bootstrap_answers_a_request() {
    let one = Repo::from_fixture("shop");
    let two = Repo::from_fixture("shop");
    let build = |repo: &Repo, target_dir: &str| {
        let mut cmd = jiti_tests::jiti_command(repo.path());
        cmd.args(["build", "--no-upload", "--json", "-p", "orders-api"]);
        // The second checkout builds in a target directory of its own: nothing is shared.
        if !target_dir.is_empty() {
            cmd.env("CARGO_JITI_BUILD_TARGET_DIR", target_dir);
        }
        jiti_tests::Run::new(cmd.output().expect("run")).expect(0).json()
    };
    let own = two.path().join("target");
    let (a, b) = (build(&one, ""), build(&two, &own.display().to_string()));
    assert_eq!(
        the_artifact(&a)["sha256"],
        the_artifact(&b)["sha256"],
        "two checkouts of one commit, two target directories"
    );
    let file = one.path().join("target/jiti/artifacts/orders-api/api.zip");
    assert_eq!(
        std::fs::read(&file).expect("zip"),
        std::fs::read(two.path().join("target/jiti/artifacts/orders-api/api.zip")).expect("zip")
    );

    // Unzip `bootstrap` as Lambda does, and give it one event.
    let bootstrap = one.path().join("bootstrap");
    std::fs::write(&bootstrap, zip_entry(&file, "bootstrap")).expect("write bootstrap");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let answer =
        lambda::invoke(&bootstrap, &json!({"order_id": "o-17"}), &[("TABLE_NAME", "orders-table")]);
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body: Value =
        serde_json::from_str(answer["body"].as_str().expect("body")).expect("json body");
    assert_eq!(body, json!({"order_id": "o-17", "table": "orders-table", "version": "1.4.2"}));
}

#[test]
fn a_build_that_fails_stops_the_deploy_before_any_aws_call() {
    let repo = shop_on("feature/broken-build");
    // A feature the package does not have: cargo refuses at once, whatever is built already.
    let config = repo.read("orders-api/infra/jiti.toml");
    repo.write(
        "orders-api/infra/jiti.toml",
        &config.replace("arch = \"x86_64\"", "arch = \"x86_64\"\nfeatures = [\"tracing-otel\"]"),
    );
    // A dead endpoint: any AWS call would fail with a connection error instead.
    let run = jiti_tests::Run::new(
        jiti_tests::jiti_against(repo.path(), "http://127.0.0.1:9")
            .args(["deploy", "--method", "direct"])
            .output()
            .expect("run"),
    );
    assert_ne!(run.code, Some(0));
    assert!(
        run.stderr.contains("building artifact `api` of app `orders-api` failed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was deployed"), "{}", run.stderr);
    assert!(!run.stderr.contains("127.0.0.1:9"), "no AWS call was made: {}", run.stderr);
}

/// The bytes of one entry of a zip, read by another implementation than the one that wrote it
/// (Python's `zipfile`).
fn zip_entry(zip: &std::path::Path, name: &str) -> Vec<u8> {
    let out = std::process::Command::new(jiti_tests::venv_tool("python"))
        .args(["-c", "import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))"])
        .arg(zip)
        .arg(name)
        .output()
        .expect("run python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}
