//! Following a stack operation to its end: polls with backoff, each new event shown once, the
//! API lost or the time up said in words that tell what to do. Used by deploy, destroy and gc.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::cloud::{CloudError, Stack, StackApi, StackEvent};
use crate::observe::Observer;

/// How long to follow one stack operation, and how often to look.
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    /// Limit on waiting for one stack operation.
    pub timeout: Duration,
    /// First wait between polls (it doubles up to 5 s).
    pub poll: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions { timeout: Duration::from_secs(3600), poll: Duration::from_millis(500) }
    }
}

/// A failed step of a stack operation.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: String,
    pub(crate) events: Vec<StackEvent>,
    /// Another operation held the stack (a concurrent deploy): wait, then decide again.
    pub(crate) busy: bool,
}

impl From<CloudError> for Failure {
    fn from(e: CloudError) -> Self {
        Failure { busy: e.is_busy(), error: e.to_string(), events: Vec::new() }
    }
}

pub(crate) fn fail(error: impl Into<String>) -> Failure {
    Failure { error: error.into(), events: Vec::new(), busy: false }
}

/// Where a stack's operation ended.
#[derive(Debug)]
pub(crate) struct Settled {
    /// `None` once the stack is gone (after a delete).
    pub(crate) stack: Option<Stack>,
    /// The failed events among the ones this wait saw first: failures of this operation, never of
    /// earlier ones.
    pub(crate) failed_events: Vec<StackEvent>,
}

impl Settled {
    /// The stack is gone: deleted (DescribeStacks no longer finds it, or reports DELETE_COMPLETE).
    pub(crate) fn gone(&self) -> bool {
        self.stack.as_ref().is_none_or(|s| s.status == crate::cloud::StackStatus::DeleteComplete)
    }

    /// "stack X ended in STATUS: reason", for an operation that did not end as asked.
    pub(crate) fn failure(self, stack: &str) -> Failure {
        let error = match &self.stack {
            Some(s) => format!(
                "stack {stack} ended in {}{}",
                s.status,
                s.status_reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
            ),
            None => format!("stack {stack} disappeared"),
        };
        Failure { error, events: self.failed_events, busy: false }
    }
}

/// Polls `stack` until no operation is in progress, showing its new events (those not in `seen`,
/// which it extends). Whether the end is a success is the caller's to judge: waiting out another
/// process's update that rolled back is no failure of the caller's.
pub(crate) async fn wait<A: StackApi>(
    api: &A,
    stack: &str,
    seen: &mut HashSet<String>,
    options: &WaitOptions,
    observer: &dyn Observer,
    app: &str,
) -> Result<Settled, Failure> {
    let deadline = Instant::now() + options.timeout;
    let mut interval = options.poll;
    let mut failed_events = Vec::new();
    let mut last = "not seen yet".to_owned();
    // Losing the API mid-operation loses sight of the stack, not the operation: say so.
    let lost = |e: CloudError, last: &str| {
        fail(format!(
            "lost track of stack {stack} (last seen {last}): {e}; the operation may go on in CloudFormation: run the command again once AWS answers (it waits for a busy stack), or follow it with `aws cloudformation describe-stack-events --stack-name {stack}`"
        ))
    };
    loop {
        let current = api.describe_stack(stack).await.map_err(|e| lost(e, &last))?;
        // Known as soon as it is read: losing the API before the events still names it.
        last =
            current.as_ref().map_or_else(|| "DELETE_COMPLETE".to_owned(), |s| s.status.to_string());
        observer.status(app, stack, &last);
        let events = match &current {
            Some(_) => api.stack_events(stack).await.map_err(|e| lost(e, &last))?,
            None => Vec::new(),
        };
        for event in events.into_iter().rev() {
            if seen.insert(event.id.clone()) {
                observer.event(app, stack, &event);
                if event.failed() {
                    failed_events.push(event);
                }
            }
        }
        match current {
            Some(s) if s.in_progress() => {
                if Instant::now() >= deadline {
                    return Err(fail(format!(
                        "timed out after {}s waiting for stack {stack} ({}); the operation goes on in CloudFormation: follow it with `aws cloudformation describe-stack-events --stack-name {stack}`, or run the command again to wait for it",
                        options.timeout.as_secs(),
                        s.status
                    )));
                }
            }
            stack => return Ok(Settled { stack, failed_events }),
        }
        tokio::time::sleep(interval.min(deadline.saturating_duration_since(Instant::now()))).await;
        interval = (interval * 2).min(Duration::from_secs(5));
    }
}
