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
    };
    let knowledge = BranchKnowledge {
        branches: Branches {
            local: ["feature/live".to_owned()].into(),
            remote: Default::default(),
            has_remote_refs: true,
        },
        incomplete: None,
        last_fetch: None,
    };
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
