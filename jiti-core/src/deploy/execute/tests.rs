//! What moto cannot show, through the fake API of [`crate::testing`].

use std::time::Duration;

use super::*;

use crate::tagging;
use crate::testing::{Fake, Log, event, project};
use crate::wait::WaitOptions;

fn options(timeout_ms: u64) -> DeployOptions {
    DeployOptions {
        wait: WaitOptions {
            timeout: Duration::from_millis(timeout_ms),
            poll: Duration::from_millis(1),
        },
        ..DeployOptions::default()
    }
}

fn run_one(fake: &Fake, current: Option<Stack>, timeout_ms: u64) -> (Outcome, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path());
    let log = Log::default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let result = runtime.block_on(deploy_one(
        &project,
        &project.apps[0],
        fake,
        current,
        &DepOutputs::new(),
        &options(timeout_ms),
        &log,
    ));
    (result.outcome, log.0.into_inner().unwrap())
}

#[test]
fn no_updates_after_a_lost_answer_is_an_update_and_otherwise_no_change() {
    let direct = DeployOptions { method: Method::Direct, ..options(5_000) };
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    for (applied, expected) in [(true, "updated"), (false, "no-changes")] {
        let fake = Fake {
            update_answers_no_updates: Some(applied),
            ..Fake::new(&[Some("UPDATE_COMPLETE")], Vec::new())
        };
        let current = fake.stack("UPDATE_COMPLETE");
        let log = Log::default();
        let result = runtime.block_on(deploy_one(
            &project,
            &project.apps[0],
            &fake,
            Some(current),
            &DepOutputs::new(),
            &direct,
            &log,
        ));
        let word = serde_json::to_value(&result.outcome).unwrap()["result"].clone();
        assert_eq!(word, expected, "applied first: {applied}; {:?}", log.0.lock().unwrap());
    }
}

#[test]
fn a_failed_create_reports_every_failed_event_with_its_reason() {
    let events = vec![
        event(1, "queue-feature-x", "CREATE_IN_PROGRESS", Some("User Initiated")),
        event(
            2,
            "Queue",
            "CREATE_FAILED",
            Some("Resource handler returned message: \"Invalid value for DelaySeconds\""),
        ),
        event(
            3,
            "queue-feature-x",
            "ROLLBACK_IN_PROGRESS",
            Some("The following resource(s) failed to create: [Queue]."),
        ),
        event(4, "queue-feature-x", "ROLLBACK_COMPLETE", None),
    ];
    let fake = Fake::new(&[Some("CREATE_IN_PROGRESS"), Some("ROLLBACK_COMPLETE")], events);
    let (outcome, log) = run_one(&fake, None, 5_000);
    let Outcome::Failed { error, failed_events } = outcome else {
        panic!("expected a failure, got {outcome:?}")
    };
    assert!(error.contains("ended in ROLLBACK_COMPLETE"), "{error}");
    assert_eq!(failed_events.len(), 1);
    assert_eq!(failed_events[0].logical_id, "Queue");
    assert!(
        failed_events[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("Invalid value for DelaySeconds")
    );
    // Events are shown oldest first, each once.
    let shown: Vec<_> = log.iter().filter(|l| l.starts_with("event")).cloned().collect();
    assert_eq!(
        shown,
        [
            "event CREATE_IN_PROGRESS queue-feature-x",
            "event CREATE_FAILED Queue",
            "event ROLLBACK_IN_PROGRESS queue-feature-x",
            "event ROLLBACK_COMPLETE queue-feature-x"
        ]
    );
}

#[test]
fn a_stack_left_in_rollback_complete_is_deleted_and_created_again() {
    // DescribeStacks: gone after the delete, then CREATE_COMPLETE after the new change set runs.
    let fake = Fake::new(&[None, Some("CREATE_COMPLETE")], Vec::new());
    let existing = fake.stack("ROLLBACK_COMPLETE");
    let (outcome, log) = run_one(&fake, Some(existing), 5_000);
    assert!(matches!(outcome, Outcome::Created { .. }), "{outcome:?}");
    assert!(
        log.iter()
            .any(|l| l.contains("ROLLBACK_COMPLETE after a failed first create: deleting it")),
        "{log:?}"
    );
    let calls = fake.calls();
    let delete = calls.iter().position(|c| *c == "DeleteStack").expect("the stack was deleted");
    let create = calls.iter().position(|c| *c == "CreateChangeSet").expect("then created");
    assert!(delete < create, "{calls:?}");
}

#[test]
fn a_busy_stack_is_waited_for_before_anything_starts() {
    let fake = Fake::new(
        &[Some("UPDATE_IN_PROGRESS"), Some("UPDATE_IN_PROGRESS"), Some("UPDATE_COMPLETE")],
        Vec::new(),
    );
    let existing = fake.stack("UPDATE_IN_PROGRESS");
    let (outcome, log) = run_one(&fake, Some(existing), 5_000);
    assert!(matches!(outcome, Outcome::Updated { .. }), "{outcome:?}");
    assert!(log.iter().any(|l| l.contains("is busy (UPDATE_IN_PROGRESS): waiting")), "{log:?}");
    let calls = fake.calls();
    assert!(
        calls
            .iter()
            .take_while(|c| **c != "CreateChangeSet")
            .filter(|c| **c == "DescribeStacks")
            .count()
            >= 2,
        "{calls:?}"
    );
}

#[test]
fn a_stack_that_never_settles_ends_in_a_timeout_that_says_what_to_do() {
    let fake = Fake::new(&[Some("CREATE_IN_PROGRESS")], Vec::new());
    let (outcome, _) = run_one(&fake, None, 50);
    let Outcome::Failed { error, .. } = outcome else {
        panic!("expected a timeout, got {outcome:?}")
    };
    assert!(
        error.contains("timed out after")
            && error.contains("CREATE_IN_PROGRESS")
            && error.contains("goes on in CloudFormation"),
        "{error}"
    );
}

#[test]
fn a_stack_of_another_app_is_refused() {
    let mut fake = Fake::new(&[Some("CREATE_COMPLETE")], Vec::new());
    fake.tags.insert(tagging::KEY_APP.into(), "billing".into());
    let existing = fake.stack("CREATE_COMPLETE");
    let (outcome, _) = run_one(&fake, Some(existing), 5_000);
    assert!(
        matches!(&outcome, Outcome::Failed { error, .. } if error.contains("belongs to app `billing`")),
        "{outcome:?}"
    );
    assert!(!fake.calls().contains(&"CreateChangeSet"));
    // Another tool's stack with a copied `jiti:app` tag is not cargo-jiti's either.
    let mut fake = Fake::new(&[Some("CREATE_COMPLETE")], Vec::new());
    fake.tags.remove(tagging::KEY_MANAGED_BY);
    let existing = fake.stack("CREATE_COMPLETE");
    let (outcome, _) = run_one(&fake, Some(existing), 5_000);
    assert!(
        matches!(&outcome, Outcome::Failed { error, .. } if error.contains("its tags: no `jiti:managed-by`, `jiti:app=queue`")),
        "{outcome:?}"
    );
    assert!(
        !fake
            .calls()
            .iter()
            .any(|c| c.contains("ChangeSet") || c.contains("Stack") && *c != "DescribeStacks"),
        "{:?}",
        fake.calls()
    );
}

#[test]
fn a_busy_stack_whose_other_update_rolls_back_is_deployed_not_failed() {
    // Another process's update holds the stack and rolls back: the stack is usable again
    // (UPDATE_ROLLBACK_COMPLETE), and this deploy goes on with its own update.
    let fake = Fake::new(&[Some("UPDATE_ROLLBACK_COMPLETE"), Some("UPDATE_COMPLETE")], Vec::new());
    let existing = fake.stack("UPDATE_IN_PROGRESS");
    let (outcome, log) = run_one(&fake, Some(existing), 5_000);
    assert!(matches!(outcome, Outcome::Updated { .. }), "{outcome:?} {log:?}");
    assert!(fake.calls().contains(&"ExecuteChangeSet"), "{:?}", fake.calls());
}

#[test]
fn failures_of_earlier_operations_are_not_this_deploys() {
    // The stack's history holds an old failure (e1); this update fails on e3.
    let events = vec![
        event(1, "Queue", "UPDATE_FAILED", Some("an old failure, fixed since")),
        event(2, "queue-feature-x", "UPDATE_ROLLBACK_COMPLETE", None),
        event(3, "Queue", "UPDATE_FAILED", Some("this deploy's failure")),
        event(4, "queue-feature-x", "UPDATE_ROLLBACK_COMPLETE", None),
    ];
    let fake = Fake { past_events: 2, ..Fake::new(&[Some("UPDATE_ROLLBACK_COMPLETE")], events) };
    let mut existing = fake.stack("UPDATE_ROLLBACK_COMPLETE");
    existing.tags.insert(crate::stacks::KEY_TEMPLATE_HASH.into(), "an older template".into());
    let (outcome, _) = run_one(&fake, Some(existing), 5_000);
    let Outcome::Failed { failed_events, .. } = outcome else {
        panic!("expected a failure, got {outcome:?}")
    };
    let reasons: Vec<_> = failed_events.iter().filter_map(|e| e.reason.as_deref()).collect();
    assert_eq!(reasons, ["this deploy's failure"]);
}
