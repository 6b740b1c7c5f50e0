//! What people read, pinned: the human output of `envs`, the `destroy` and `gc` dry runs, `diff`
//! and `--help`, and the shape of the JSON reports, as insta snapshots (`tests/tests/snapshots/`).
//! What changes from run to run (commits, times, durations, temporary paths, the emulator's ids)
//! is filtered or redacted, so a snapshot changes only when the output does.
//! Review a change with `cargo insta review` (or `INSTA_UPDATE=always scripts/test --test snapshots`).

use jiti_tests::{Moto, jiti_command, repo_root, shop_on, snapshot};

#[test]
fn help() {
    for args in [&["--help"][..], &["deploy", "--help"], &["gc", "--help"]] {
        let out = jiti_command(&repo_root()).args(args).output().expect("run cargo-jiti");
        assert_eq!(out.status.code(), Some(0));
        let name = format!(
            "help_{}",
            args.iter().filter(|a| !a.starts_with('-')).copied().collect::<Vec<_>>().join("_")
        );
        insta::assert_snapshot!(name.trim_end_matches('_'), String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn envs_destroy_gc_and_diff_as_people_read_them() {
    let moto = Moto::start();
    let repo = shop_on("feature/snap");
    moto.jiti(repo.path(), &["deploy", "--method", "direct"]).expect(0);
    // A second environment whose branch is then deleted: gc's dry run plans it.
    repo.git(&["checkout", "-q", "-b", "feature/snap-gone"]);
    moto.jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct"]).expect(0);
    repo.git(&["checkout", "-q", "feature/snap"]);
    repo.git(&["branch", "-q", "-D", "feature/snap-gone"]);

    let envs = moto.jiti(repo.path(), &["envs"]).expect(0);
    snapshot!(&repo, "envs", envs.stdout);
    let destroy = moto.jiti(repo.path(), &["destroy"]).expect(0);
    snapshot!(&repo, "destroy_dry_run", destroy.stdout);
    let gc = moto.jiti(repo.path(), &["gc"]).expect(0);
    snapshot!(&repo, "gc_dry_run", gc.stdout);

    let config = repo.read("billing/infra/jiti.toml");
    repo.write(
        "billing/infra/jiti.toml",
        &config.replace("visibility_timeout = 60", "visibility_timeout = 90"),
    );
    let diff = moto.jiti(repo.path(), &["diff", "-p", "billing"]).expect(0);
    assert!(diff.stdout.contains("would change"), "the edit is a change: {}", diff.stdout);
    snapshot!(&repo, "diff", diff.stdout);
}

#[test]
fn json_reports_keep_their_shape() {
    let moto = Moto::start();
    let repo = shop_on("feature/snap-json");
    let deploy = moto
        .jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"])
        .expect(0)
        .json();
    // Output names are the template's; their values are the emulator's.
    let values_redacted = || {
        insta::dynamic_redaction(|value, _| match value {
            insta::internals::Content::Map(entries) => insta::internals::Content::Map(
                entries
                    .into_iter()
                    .map(|(k, _)| (k, insta::internals::Content::from("[value]")))
                    .collect(),
            ),
            other => other,
        })
    };
    insta::assert_json_snapshot!("deploy_report", deploy, {
        ".commit" => "[commit]",
        ".apps[].seconds" => "[seconds]",
        ".apps[].outputs" => values_redacted(),
        ".apps[].outputs_file" => "[path]",
        ".apps[].release.id" => "[id]",
        ".apps[].release.commit" => "[commit]",
        ".apps[].release.time" => "[time]",
        ".apps[].release.outputs" => values_redacted(),
        ".apps[].release.deployed_by" => "[who]",
        ".apps[].release.template_hash" => "[hash]",
        ".api_calls.by_operation" => "[calls]",
    });
    let envs = moto.jiti(repo.path(), &["envs", "--json"]).expect(0).json();
    insta::assert_json_snapshot!("envs_report", envs, {
        ".environments[].commit" => "[commit]",
        ".environments[].updated" => "[time]",
        ".environments[].expires_at" => "[time]",
    });
    let failed =
        moto.jiti(repo.path(), &["outputs", "-p", "orders-api", "--json"]).expect(2).json();
    insta::assert_json_snapshot!("error_report", failed);
}
