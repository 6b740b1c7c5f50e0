//! The decision a deploy takes for one app's stack, from what is deployed and what is wanted. Pure,
//! so that every case is a row of a table test, with no API behind it.

use crate::cloud::{Stack, StackStatus};
pub use crate::stacks::Wanted;
use crate::stacks::{parameters_match, up_to_date};
use crate::tagging;

/// What to do next with the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The stack is not this app's (another app's, another tool's): touch nothing, say why.
    Refuse(String),
    /// Another operation is under way: wait for it to end, then decide again.
    Wait,
    /// A first create failed and left the stack in `ROLLBACK_COMPLETE`, where it can only be
    /// deleted: delete it, then decide again.
    DeleteFailedCreate,
    /// Deployed as wanted: nothing to call.
    UpToDate,
    /// No stack, or one that holds nothing (a create change set never executed:
    /// `REVIEW_IN_PROGRESS`).
    Create,
    Update,
}

/// The next step for a stack in state `current` (`None`: it does not exist).
pub fn decide(current: Option<&Stack>, wanted: &Wanted) -> Action {
    let Some(stack) = current else { return Action::Create };
    // A create change set never executed holds no resource, and may carry no tags yet (LocalStack
    // leaves them off until it runs): creating a change set on it harms nothing of anyone's. One
    // tagged as another app's is still refused below.
    if stack.status == StackStatus::ReviewInProgress && stack.tags.is_empty() {
        return Action::Create;
    }
    if let Err(why) = tagging::owned_by(&stack.tags, wanted.app) {
        return Action::Refuse(format!("stack `{}` exists but {why}", stack.name));
    }
    match &stack.status {
        s if s.in_progress() => Action::Wait,
        StackStatus::RollbackComplete => Action::DeleteFailedCreate,
        StackStatus::ReviewInProgress => Action::Create,
        _ if up_to_date(stack, wanted.tags, wanted.expiry)
            && parameters_match(stack, wanted.parameters, wanted.template) =>
        {
            Action::UpToDate
        }
        _ => Action::Update,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::tagging::{KEY_APP, KEY_MANAGED_BY, MANAGED_BY};
    use crate::template::Template;

    #[test]
    fn every_state_of_a_stack_has_one_next_step() {
        let template = Template::parse("Parameters:\n  Size:\n    Type: Number\n    Default: 3\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n").unwrap();
        let ours: Vec<(String, String)> = vec![
            (KEY_APP.into(), "queue".into()),
            (KEY_MANAGED_BY.into(), MANAGED_BY.into()),
            (crate::stacks::KEY_TEMPLATE_HASH.into(), "h1".into()),
        ];
        let given = vec![("Size".to_owned(), "3".to_owned())];
        let wanted = Wanted {
            app: "queue",
            tags: &ours,
            expiry: None,
            parameters: &given,
            template: &template,
        };
        let stack = |status: &str, tags: &[(String, String)], size: &str| Stack {
            name: "queue-feature-x".into(),
            status: status.into(),
            tags: tags.iter().cloned().collect(),
            parameters: BTreeMap::from([("Size".to_owned(), size.to_owned())]),
            ..Stack::default()
        };
        let other_hash: Vec<_> = ours
            .iter()
            .map(|(k, v)| (k.clone(), if v == "h1" { "h0".into() } else { v.clone() }))
            .collect();
        let billing: Vec<_> = ours
            .iter()
            .map(|(k, v)| (k.clone(), if k == KEY_APP { "billing".into() } else { v.clone() }))
            .collect();
        let foreign: Vec<_> = ours.iter().filter(|(k, _)| k != KEY_MANAGED_BY).cloned().collect();
        // (stack, expected step)
        let table: Vec<(Option<Stack>, Action)> = vec![
            (None, Action::Create),
            (Some(stack("CREATE_COMPLETE", &ours, "3")), Action::UpToDate),
            (Some(stack("UPDATE_ROLLBACK_COMPLETE", &ours, "3")), Action::UpToDate),
            (Some(stack("UPDATE_COMPLETE", &other_hash, "3")), Action::Update),
            (Some(stack("UPDATE_COMPLETE", &ours, "4")), Action::Update),
            (Some(stack("UPDATE_FAILED", &ours, "3")), Action::Update),
            (Some(stack("UPDATE_IN_PROGRESS", &ours, "3")), Action::Wait),
            (Some(stack("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", &ours, "3")), Action::Wait),
            (Some(stack("DELETE_IN_PROGRESS", &ours, "3")), Action::Wait),
            (Some(stack("ROLLBACK_COMPLETE", &ours, "3")), Action::DeleteFailedCreate),
            (Some(stack("REVIEW_IN_PROGRESS", &ours, "3")), Action::Create),
            // Untagged: holds nothing, so nothing of anyone's is touched.
            (Some(stack("REVIEW_IN_PROGRESS", &[], "3")), Action::Create),
        ];
        for (current, expected) in table {
            let status = current.as_ref().map(|s| s.status.to_string());
            assert_eq!(decide(current.as_ref(), &wanted), expected, "{status:?}");
        }
        // Not ours, whatever its status: refused before anything else.
        for tags in [&billing, &foreign] {
            for status in
                ["UPDATE_IN_PROGRESS", "ROLLBACK_COMPLETE", "CREATE_COMPLETE", "REVIEW_IN_PROGRESS"]
            {
                assert!(
                    matches!(decide(Some(&stack(status, tags, "3")), &wanted), Action::Refuse(why) if why.starts_with("stack `queue-feature-x` exists but")),
                    "{status}"
                );
            }
        }
    }
}
