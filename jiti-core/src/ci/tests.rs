use serde_json::json;

use super::*;

fn no_vars(_: &str) -> Option<String> {
    None
}

/// A pull_request payload as GitHub sends it, trimmed to what is read.
fn pr(action: &str, merged: bool, head_repo: Value) -> Value {
    json!({
        "action": action,
        "number": 7,
        "pull_request": {
            "number": 7,
            "merged": merged,
            "head": { "ref": "feature/login", "sha": "0123456789abcdef0123456789abcdef01234567", "repo": head_repo },
            "base": { "ref": "main", "repo": { "full_name": "acme/shop" } }
        },
        "repository": { "full_name": "acme/shop" }
    })
}

fn pull_request(action: PrAction, from_fork: bool) -> Event {
    Event::PullRequest {
        number: 7,
        action,
        head: "feature/login".into(),
        base: "main".into(),
        from_fork,
    }
}

#[test]
fn github_payloads_become_events() {
    let own = json!({ "full_name": "acme/shop" });
    let fork = json!({ "full_name": "someone/shop" });
    let cases: Vec<(&str, Value, Event)> = vec![
        ("pull_request", pr("opened", false, own.clone()), pull_request(PrAction::Opened, false)),
        (
            "pull_request",
            pr("synchronize", false, own.clone()),
            pull_request(PrAction::Synchronize, false),
        ),
        (
            "pull_request",
            pr("reopened", false, own.clone()),
            pull_request(PrAction::Reopened, false),
        ),
        ("pull_request", pr("closed", false, own.clone()), pull_request(PrAction::Closed, false)),
        ("pull_request", pr("closed", true, own.clone()), pull_request(PrAction::Merged, false)),
        (
            "pull_request",
            pr("labeled", false, own.clone()),
            pull_request(PrAction::Other("labeled".into()), false),
        ),
        ("pull_request", pr("opened", false, fork), pull_request(PrAction::Opened, true)),
        // A fork deleted since: GitHub sends `"repo": null`.
        ("pull_request", pr("closed", false, Value::Null), pull_request(PrAction::Closed, true)),
        (
            "delete",
            json!({ "ref": "feature/login", "ref_type": "branch" }),
            Event::BranchDeleted { branch: "feature/login".into() },
        ),
        (
            "delete",
            json!({ "ref": "v1.0.0", "ref_type": "tag" }),
            Event::Other { name: "delete of a tag".into() },
        ),
        (
            "push",
            json!({ "ref": "refs/heads/main", "deleted": false }),
            Event::Push { branch: "main".into() },
        ),
        (
            "push",
            json!({ "ref": "refs/heads/feature/x", "deleted": true }),
            Event::BranchDeleted { branch: "feature/x".into() },
        ),
        (
            "push",
            json!({ "ref": "refs/tags/v1.0.0" }),
            Event::Other { name: "push of refs/tags/v1.0.0".into() },
        ),
        ("schedule", json!({ "schedule": "17 3 * * *" }), Event::Schedule),
        (
            "workflow_dispatch",
            json!({ "ref": "refs/heads/main" }),
            Event::Manual { branch: "main".into() },
        ),
        (
            "pull_request_target",
            pr("opened", false, own),
            Event::Other { name: "pull_request_target".into() },
        ),
    ];
    for (name, payload, want) in cases {
        assert_eq!(github_event(name, &payload, no_vars), Ok(want), "{name}: {payload}");
    }
}

#[test]
fn a_payload_without_what_is_read_says_which_field_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("event.json");
    std::fs::write(&path, r#"{"action": "opened", "pull_request": {"number": 3, "head": {}}}"#)
        .unwrap();
    let err = github("pull_request", &path, no_vars).unwrap_err().to_string();
    assert!(err.contains("event.json") && err.contains("/base/repo/full_name"), "{err}");
    std::fs::write(&path, "{not json").unwrap();
    let err = github("pull_request", &path, no_vars).unwrap_err().to_string();
    assert!(err.contains("is not JSON"), "{err}");
    let err = github("push", &dir.path().join("absent.json"), no_vars).unwrap_err();
    assert!(matches!(err, CiError::ReadPayload { .. }), "{err}");
}

#[test]
fn gitlab_variables_become_events() {
    let mr = [
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_MERGE_REQUEST_IID", "7"),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/login"),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
        ("CI_MERGE_REQUEST_PROJECT_ID", "11"),
        ("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "11"),
        ("CI_COMMIT_REF_NAME", "feature/login"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let vars: Vec<(&str, &str)> = mr.iter().chain(extra).copied().collect();
        move |name: &str| vars.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    };
    let cases: Vec<(Vec<(&'static str, &'static str)>, Event)> = vec![
        (vec![], pull_request(PrAction::Synchronize, false)),
        (vec![("CI_ENVIRONMENT_ACTION", "stop")], pull_request(PrAction::Closed, false)),
        (
            vec![("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "99")],
            pull_request(PrAction::Synchronize, true),
        ),
        (
            vec![("CI_PIPELINE_SOURCE", "push"), ("CI_COMMIT_BRANCH", "main")],
            Event::Push { branch: "main".into() },
        ),
        (
            vec![("CI_PIPELINE_SOURCE", "push"), ("CI_COMMIT_TAG", "v1")],
            Event::Other { name: "push of tag v1".into() },
        ),
        (
            vec![
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "feature/x"),
                ("CI_COMMIT_REF_NAME", "feature/x"),
                ("CI_ENVIRONMENT_ACTION", "stop"),
            ],
            Event::BranchDeleted { branch: "feature/x".into() },
        ),
        (vec![("CI_PIPELINE_SOURCE", "schedule"), ("CI_COMMIT_BRANCH", "main")], Event::Schedule),
        (
            vec![("CI_PIPELINE_SOURCE", "web"), ("CI_COMMIT_BRANCH", "main")],
            Event::Manual { branch: "main".into() },
        ),
    ];
    for (extra, want) in cases {
        assert_eq!(gitlab(with(&extra)).unwrap(), want, "{extra:?}");
    }
    let err = gitlab(no_vars).unwrap_err().to_string();
    assert!(err.contains("CI_PIPELINE_SOURCE"), "{err}");
}

#[test]
fn each_event_has_one_decision() {
    let protected = |b: &str| b == "main";
    let deploy = |branch: &str, protected| Decision::Deploy {
        branch: branch.into(),
        protected,
        why: String::new(),
    };
    let destroy = |branch: &str| Decision::Destroy { branch: branch.into(), why: String::new() };
    let nothing = Decision::Nothing { why: String::new() };
    let pr_from_main = |action| Event::PullRequest {
        number: 1,
        action,
        head: "main".into(),
        base: "release".into(),
        from_fork: false,
    };
    let cases: Vec<(Event, Decision)> = vec![
        (pull_request(PrAction::Opened, false), deploy("feature/login", false)),
        (pull_request(PrAction::Synchronize, false), deploy("feature/login", false)),
        (pull_request(PrAction::Reopened, false), deploy("feature/login", false)),
        (pull_request(PrAction::Closed, false), destroy("feature/login")),
        (pull_request(PrAction::Merged, false), destroy("feature/login")),
        (pull_request(PrAction::Other("labeled".into()), false), nothing.clone()),
        // A fork's code never runs with the role, and its closing never takes the environment
        // of this repository's branch of the same name.
        (pull_request(PrAction::Opened, true), nothing.clone()),
        (pull_request(PrAction::Closed, true), nothing.clone()),
        // A protected branch is never deployed by a pull request nor destroyed by its closing.
        (pr_from_main(PrAction::Opened), nothing.clone()),
        (pr_from_main(PrAction::Merged), nothing.clone()),
        (Event::BranchDeleted { branch: "feature/login".into() }, destroy("feature/login")),
        (Event::BranchDeleted { branch: "main".into() }, nothing.clone()),
        (Event::Push { branch: "main".into() }, deploy("main", true)),
        (Event::Push { branch: "feature/login".into() }, nothing.clone()),
        (Event::Manual { branch: "main".into() }, deploy("main", true)),
        (Event::Manual { branch: "feature/login".into() }, deploy("feature/login", false)),
        (Event::Schedule, Decision::Gc { remote: "origin".into(), why: String::new() }),
        (Event::Other { name: "issue_comment".into() }, nothing),
    ];
    for (event, want) in cases {
        let got = decide(&event, protected);
        assert!(!got.why().is_empty(), "{event:?}: no reason given");
        let blank = match got {
            Decision::Deploy { branch, protected, .. } => {
                Decision::Deploy { branch, protected, why: String::new() }
            }
            Decision::Destroy { branch, .. } => Decision::Destroy { branch, why: String::new() },
            Decision::Gc { remote, .. } => Decision::Gc { remote, why: String::new() },
            Decision::Nothing { .. } => Decision::Nothing { why: String::new() },
        };
        assert_eq!(blank, want, "{event:?}");
    }
}

#[test]
fn the_ci_is_told_by_its_marker_variable() {
    let github = |n: &str| (n == "GITHUB_ACTIONS").then(|| "true".to_owned());
    let gitlab = |n: &str| (n == "GITLAB_CI").then(|| "true".to_owned());
    assert_eq!(Provider::detect(github), Some(Provider::Github));
    assert_eq!(Provider::detect(gitlab), Some(Provider::Gitlab));
    assert_eq!(Provider::detect(no_vars), None);
}

#[test]
fn github_remotes_name_their_repository() {
    let cases = [
        ("https://github.com/acme/shop.git", Some("acme/shop")),
        ("https://github.com/acme/shop", Some("acme/shop")),
        ("git@github.com:acme/shop.git", Some("acme/shop")),
        ("ssh://git@github.com/acme/shop.git", Some("acme/shop")),
        ("https://gitlab.com/acme/shop.git", None),
        ("https://github.com/acme", None),
        ("/srv/git/shop.git", None),
    ];
    for (url, want) in cases {
        assert_eq!(github_repository(url).as_deref(), want, "{url}");
    }
}
