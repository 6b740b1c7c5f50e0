//! A stack's status as a type: what each CloudFormation status means for cargo-jiti (busy, settled,
//! failed), decided here once instead of by comparing strings where they are used.

use std::fmt;

/// `StackStatus` of DescribeStacks. Statuses this crate does not know (AWS may add some) are kept
/// as written, and count as settled unless they end in `_IN_PROGRESS`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum StackStatus {
    CreateInProgress,
    CreateFailed,
    CreateComplete,
    RollbackInProgress,
    RollbackFailed,
    /// A first create failed and was rolled back: the stack can only be deleted.
    RollbackComplete,
    DeleteInProgress,
    DeleteFailed,
    DeleteComplete,
    UpdateInProgress,
    UpdateCompleteCleanupInProgress,
    UpdateComplete,
    UpdateFailed,
    UpdateRollbackInProgress,
    UpdateRollbackFailed,
    UpdateRollbackCompleteCleanupInProgress,
    /// An update failed and the stack is back to what it was: usable.
    UpdateRollbackComplete,
    /// A change set of type CREATE was made and not executed: the stack holds no resources.
    ReviewInProgress,
    ImportInProgress,
    ImportComplete,
    ImportRollbackInProgress,
    ImportRollbackFailed,
    ImportRollbackComplete,
    /// A status this crate does not know, as the API wrote it (empty when none was given).
    #[default]
    Unknown,
    Other(String),
}

const NAMES: &[(StackStatus, &str)] = &[
    (StackStatus::CreateInProgress, "CREATE_IN_PROGRESS"),
    (StackStatus::CreateFailed, "CREATE_FAILED"),
    (StackStatus::CreateComplete, "CREATE_COMPLETE"),
    (StackStatus::RollbackInProgress, "ROLLBACK_IN_PROGRESS"),
    (StackStatus::RollbackFailed, "ROLLBACK_FAILED"),
    (StackStatus::RollbackComplete, "ROLLBACK_COMPLETE"),
    (StackStatus::DeleteInProgress, "DELETE_IN_PROGRESS"),
    (StackStatus::DeleteFailed, "DELETE_FAILED"),
    (StackStatus::DeleteComplete, "DELETE_COMPLETE"),
    (StackStatus::UpdateInProgress, "UPDATE_IN_PROGRESS"),
    (StackStatus::UpdateCompleteCleanupInProgress, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
    (StackStatus::UpdateComplete, "UPDATE_COMPLETE"),
    (StackStatus::UpdateFailed, "UPDATE_FAILED"),
    (StackStatus::UpdateRollbackInProgress, "UPDATE_ROLLBACK_IN_PROGRESS"),
    (StackStatus::UpdateRollbackFailed, "UPDATE_ROLLBACK_FAILED"),
    (
        StackStatus::UpdateRollbackCompleteCleanupInProgress,
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
    ),
    (StackStatus::UpdateRollbackComplete, "UPDATE_ROLLBACK_COMPLETE"),
    (StackStatus::ReviewInProgress, "REVIEW_IN_PROGRESS"),
    (StackStatus::ImportInProgress, "IMPORT_IN_PROGRESS"),
    (StackStatus::ImportComplete, "IMPORT_COMPLETE"),
    (StackStatus::ImportRollbackInProgress, "IMPORT_ROLLBACK_IN_PROGRESS"),
    (StackStatus::ImportRollbackFailed, "IMPORT_ROLLBACK_FAILED"),
    (StackStatus::ImportRollbackComplete, "IMPORT_ROLLBACK_COMPLETE"),
];

impl StackStatus {
    pub fn as_str(&self) -> &str {
        match self {
            StackStatus::Unknown => "",
            StackStatus::Other(s) => s,
            known => NAMES.iter().find(|(s, _)| s == known).map_or("", |(_, n)| n),
        }
    }

    /// An operation is under way (`*_IN_PROGRESS`): nothing else may start on the stack until it
    /// ends. Not `REVIEW_IN_PROGRESS`: that stack waits for nobody (a create change set was made
    /// and not executed) and never ends by itself; it may be created or deleted at once.
    pub fn in_progress(&self) -> bool {
        *self != StackStatus::ReviewInProgress && self.as_str().ends_with("_IN_PROGRESS")
    }

    /// The stack holds what its last operation asked for (or, after an update's rollback, what it
    /// held before): a deploy may call it up to date.
    pub fn settled(&self) -> bool {
        matches!(
            self,
            StackStatus::CreateComplete
                | StackStatus::UpdateComplete
                | StackStatus::UpdateRollbackComplete
                | StackStatus::ImportComplete
        )
    }

    /// A create or update this process started ended as asked.
    pub fn succeeded(&self) -> bool {
        matches!(self, StackStatus::CreateComplete | StackStatus::UpdateComplete)
    }

    /// The last operation failed or was rolled back (`*_FAILED`, `*ROLLBACK*`).
    pub fn failed_or_rolled_back(&self) -> bool {
        let s = self.as_str();
        !self.in_progress() && (s.ends_with("_FAILED") || s.contains("ROLLBACK"))
    }
}

impl From<&str> for StackStatus {
    fn from(s: &str) -> Self {
        match NAMES.iter().find(|(_, n)| *n == s) {
            Some((status, _)) => status.clone(),
            None if s.is_empty() => StackStatus::Unknown,
            None => StackStatus::Other(s.to_owned()),
        }
    }
}

impl From<String> for StackStatus {
    fn from(s: String) -> Self {
        StackStatus::from(s.as_str())
    }
}

impl fmt::Display for StackStatus {
    // `pad`: tables align it with `{:<20}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<&str> for StackStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for StackStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl schemars::JsonSchema for StackStatus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StackStatus".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "description": "CloudFormation's StackStatus, e.g. CREATE_COMPLETE"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_and_is_judged_once() {
        for (status, name) in NAMES {
            assert_eq!(StackStatus::from(*name), *status);
            assert_eq!(status.as_str(), *name);
            assert_eq!(
                status.in_progress(),
                name.ends_with("_IN_PROGRESS") && *name != "REVIEW_IN_PROGRESS",
                "{name}"
            );
            assert!(!(status.in_progress() && status.settled()), "{name}");
            assert!(!(status.succeeded() && status.failed_or_rolled_back()), "{name}");
        }
        // (status, settled, succeeded, failed or rolled back)
        let table = [
            ("CREATE_COMPLETE", true, true, false),
            ("UPDATE_COMPLETE", true, true, false),
            ("UPDATE_ROLLBACK_COMPLETE", true, false, true),
            ("ROLLBACK_COMPLETE", false, false, true),
            ("UPDATE_ROLLBACK_IN_PROGRESS", false, false, false),
            ("DELETE_FAILED", false, false, true),
            ("IMPORT_COMPLETE", true, false, false),
            ("REVIEW_IN_PROGRESS", false, false, false),
        ];
        for (name, settled, succeeded, failed) in table {
            let s = StackStatus::from(name);
            assert_eq!(
                (s.settled(), s.succeeded(), s.failed_or_rolled_back()),
                (settled, succeeded, failed),
                "{name}"
            );
        }
        let new = StackStatus::from("SOMETHING_NEW_IN_PROGRESS");
        assert_eq!(new, StackStatus::Other("SOMETHING_NEW_IN_PROGRESS".into()));
        assert!(new.in_progress());
        assert_eq!(serde_json::to_value(&new).unwrap(), "SOMETHING_NEW_IN_PROGRESS");
    }
}
