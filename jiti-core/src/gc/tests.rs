//! How resources are judged, including what the emulator cannot show (CloudFormation's own
//! stack tags on resources).

use super::*;
use crate::git::Branches;

fn resource(arn: &str, env: &str, extra: &[(&str, &str)]) -> TaggedResource {
    let mut tags: BTreeMap<String, String> =
        [(KEY_APP, "queue"), (KEY_ENV, env), (tagging::KEY_MANAGED_BY, tagging::MANAGED_BY)]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
    tags.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    TaggedResource { arn: arn.to_owned(), tags }
}

fn stack(name: &str, branch: &str) -> Stack {
    let tags = [
        (KEY_APP, "queue"),
        (tagging::KEY_BRANCH, branch),
        (KEY_ENV, name.trim_start_matches("queue-")),
        (tagging::KEY_MANAGED_BY, tagging::MANAGED_BY),
    ];
    Stack {
        name: name.into(),
        id: format!("arn:aws:cloudformation:us-east-1:1:stack/{name}/new"),
        status: "CREATE_COMPLETE".into(),
        tags: tags.map(|(k, v)| (k.to_owned(), v.to_owned())).into(),
        ..Stack::default()
    }
}

/// What a clone with one branch, `feature/live`, and remote-tracking refs knows.
fn live_branch_only() -> BranchKnowledge {
    BranchKnowledge {
        branches: Branches {
            local: ["feature/live".to_owned()].into(),
            remote: Default::default(),
            has_remote_refs: true,
        },
        incomplete: None,
        last_fetch: None,
    }
}

#[test]
fn resources_are_orphans_only_without_their_stack_and_never_of_a_protected_environment() {
    let dir = tempfile::tempdir().unwrap();
    let project = crate::testing::project(dir.path());
    let t = stacks::target(&project.apps[0]);
    let seen = Seen {
        resources: [(
            t.clone(),
            vec![
                resource("arn:aws:s3:::gone-bucket", "gone", &[]),
                resource("arn:aws:lambda:us-east-1:1:function:gone-f", "gone", &[]),
                resource("arn:aws:sqs:us-east-1:1:live-queue", "live", &[]),
                resource(
                    "arn:aws:sqs:us-east-1:1:same-stack",
                    "live",
                    &[(CFN_STACK_ID, "arn:aws:cloudformation:us-east-1:1:stack/queue-live/new")],
                ),
                resource(
                    "arn:aws:sqs:us-east-1:1:earlier-stack",
                    "live",
                    &[(CFN_STACK_ID, "arn:aws:cloudformation:us-east-1:1:stack/queue-live/old")],
                ),
                resource("arn:aws:dynamodb:us-east-1:1:table/prod", "production", &[]),
                resource(
                    "arn:aws:dynamodb:us-east-1:1:table/prod-by-stack",
                    "x",
                    &[(CFN_STACK_NAME, "queue-production")],
                ),
                resource("arn:aws:sns:us-east-1:1:dead-branch", "dead", &[]),
                resource("arn:aws:cloudformation:us-east-1:1:stack/queue-gone/1", "gone", &[]),
                TaggedResource {
                    arn: "arn:aws:sns:us-east-1:1:unmanaged".into(),
                    tags: [
                        (KEY_APP.to_owned(), "queue".to_owned()),
                        (KEY_ENV.to_owned(), "gone".to_owned()),
                    ]
                    .into(),
                },
            ],
        )]
        .into(),
        stacks: [(
            t,
            [stack("queue-live", "feature/live"), stack("queue-dead", "feature/dead")]
                .into_iter()
                .map(|s| (s.name.clone(), s))
                .collect(),
        )]
        .into(),
        ..Seen::default()
    };
    let knowledge = live_branch_only();
    let plan = plan(&project, &seen, &knowledge, &GcOptions::default()).unwrap();
    let got: Vec<(&str, &Owner, bool)> =
        plan.resources.iter().map(|o| (o.arn.as_str(), &o.owner, o.delete.is_some())).collect();
    let gone = Owner::StackGone { stack_name: "queue-gone".into() };
    assert_eq!(
        got,
        vec![
            (
                "arn:aws:sns:us-east-1:1:dead-branch",
                &Owner::StackCollected { stack_name: "queue-dead".into() },
                true
            ),
            ("arn:aws:lambda:us-east-1:1:function:gone-f", &gone, false),
            ("arn:aws:s3:::gone-bucket", &gone, true),
            (
                "arn:aws:sqs:us-east-1:1:earlier-stack",
                &Owner::EarlierStack {
                    stack_name: "queue-live".into(),
                    stack_id: "arn:aws:cloudformation:us-east-1:1:stack/queue-live/old".into()
                },
                true
            ),
        ]
    );
    let kept: Vec<&str> = plan.kept_resources.iter().map(|k| k.arn.as_str()).collect();
    assert_eq!(
        kept,
        [
            "arn:aws:dynamodb:us-east-1:1:table/prod",
            "arn:aws:dynamodb:us-east-1:1:table/prod-by-stack"
        ]
    );
}

#[test]
fn lambdas_log_groups_are_collected_only_for_recorded_environments_whose_stack_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let project = crate::testing::project(dir.path());
    let t = stacks::target(&project.apps[0]);
    let group = |function: &str| {
        let name = format!("/aws/lambda/{function}");
        (name.clone(), format!("arn:aws:logs:us-east-1:1:log-group:{name}:*"))
    };
    let logs = vec![
        group("queue-gone-Api-AAA"),
        group("queue-live-Api-BBB"),
        group("queue-dead-Api-CCC"),
        group("queue-production-Api-DDD"),
        group("queue-unrecorded-Api-EEE"),
        group("billing-gone-Api-FFF"),
        // Another tool's live stack whose name starts like one of ours.
        group("queue-gone-extra-Api-GGG"),
        group("queue-gonezo-Api-HHH"),
    ];
    let mut other = stack("queue-gone-extra", "x");
    other.tags.clear();
    // `dead` is not recorded: its stack, collected in this pass, says whose it is.
    let recorded = ["gone", "live", "production"]
        .map(|e| ("queue".to_owned(), e.to_owned()))
        .into_iter()
        .chain([("billing".to_owned(), "gone".to_owned())])
        .collect();
    let seen = Seen {
        lambda_logs: [(t.clone(), logs.clone())].into(),
        stacks: [(
            t.clone(),
            [stack("queue-live", "feature/live"), stack("queue-dead", "feature/dead"), other]
                .into_iter()
                .map(|s| (s.name.clone(), s))
                .collect(),
        )]
        .into(),
        ledger: [(t.clone(), recorded)].into(),
        ..Seen::default()
    };
    // Only groups no stack explains and named like this workspace's stacks make the ledger read.
    let live: BTreeSet<&str> = ["queue-live", "queue-dead", "queue-gone-extra"].into();
    let apps: Vec<&crate::resolve::ResolvedApp> = project.apps.iter().collect();
    let unexplained: Vec<&str> = lambda_logs::unexplained(&logs, &live, &apps)
        .into_iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        unexplained,
        [
            "/aws/lambda/queue-gone-Api-AAA",
            "/aws/lambda/queue-production-Api-DDD",
            "/aws/lambda/queue-unrecorded-Api-EEE",
            "/aws/lambda/queue-gonezo-Api-HHH"
        ]
    );

    let knowledge = live_branch_only();
    let plan = plan(&project, &seen, &knowledge, &GcOptions::default()).unwrap();
    let got: Vec<(&str, &Owner)> =
        plan.resources.iter().map(|o| (o.arn.as_str(), &o.owner)).collect();
    assert_eq!(
        got,
        [
            (
                "arn:aws:logs:us-east-1:1:log-group:/aws/lambda/queue-dead-Api-CCC:*",
                &Owner::StackCollected { stack_name: "queue-dead".into() }
            ),
            (
                "arn:aws:logs:us-east-1:1:log-group:/aws/lambda/queue-gone-Api-AAA:*",
                &Owner::LambdaLogs { stack_name: "queue-gone".into() }
            ),
        ]
    );
    assert!(plan.resources.iter().all(|o| matches!(o.delete, Some(Deletable::LogGroup { .. }))));
    let kept: Vec<&str> = plan.kept_resources.iter().map(|k| k.arn.as_str()).collect();
    assert_eq!(kept, ["arn:aws:logs:us-east-1:1:log-group:/aws/lambda/queue-production-Api-DDD:*"]);
}
