//! What a caller is told while cargo-jiti works on stacks (deploy, destroy, gc): the [`Observer`]
//! the binary implements, and the status words for an operation sent and not yet answered.

use crate::cloud::{Change, Method, StackEvent};

/// The status [`Observer::status`] reports for a stack whose operation was requested and not yet
/// answered: CloudFormation may or may not have started it.
pub const SENT_DELETE: &str = "DeleteStack sent";
pub const SENT_CREATE: &str = "CreateStack sent";
pub const SENT_UPDATE: &str = "UpdateStack sent";
pub const SENT_EXECUTE: &str = "ExecuteChangeSet sent";

/// What the caller shows while deploys run.
pub trait Observer: Send + Sync {
    /// A step or a decision worth saying (`creating change set`, `up to date`).
    fn note(&self, app: &str, message: &str);
    /// The changes a deploy makes, before it makes them: a computed change set, or (`Method::Direct`)
    /// the difference of the deployed and the new template.
    fn change_set(&self, app: &str, stack: &str, changes: &[Change], method: Method);
    /// A new stack event, oldest first.
    fn event(&self, app: &str, stack: &str, event: &StackEvent);
    /// The status of a stack being waited for, at each poll (`DELETE_COMPLETE` once it is gone), or
    /// of a resource `gc` removed (`deleted`, `already gone`), by ARN: what an interrupted command
    /// can say about what it did and what it leaves running.
    fn status(&self, _app: &str, _stack_or_arn: &str, _status: &str) {}
}
