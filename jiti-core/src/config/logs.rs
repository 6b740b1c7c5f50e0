//! `[logs]` of `jiti.toml`: the log groups `render` adds for Lambda functions that have none of
//! their own (see `crate::render::logs`).

use schemars::JsonSchema;
use serde::Deserialize;

/// `[logs]`: each Lambda function's logs in a log group of its own stack: tagged, kept for a
/// bounded time, deleted with the stack.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Add the log group of each function that names none (`LoggingConfig.LogGroup`) and has no
    /// `/aws/lambda/…` group in the template. Default: true.
    pub own: Option<bool>,
    /// Days the added log groups keep events in protected environments. Default: 30.
    pub retention_days: Option<RetentionDays>,
    /// Days they keep events in branch (ephemeral) environments. Default: 7.
    pub ephemeral_retention_days: Option<RetentionDays>,
}

impl LogsConfig {
    /// Days a function's added log group keeps events in a branch (`ephemeral`) or protected
    /// environment, or `None` with `own = false`: shorter in branch environments, whose logs
    /// matter for days, not months.
    pub fn own_logs(&self, ephemeral: bool) -> Option<u16> {
        let days = match ephemeral {
            true => self.ephemeral_retention_days.map_or(7, |d| d.0),
            false => self.retention_days.map_or(30, |d| d.0),
        };
        self.own.unwrap_or(true).then_some(days)
    }
}

/// The retention CloudWatch Logs accepts (`RetentionInDays`).
pub const RETENTION_DAYS: &[u16] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// A number of days CloudWatch Logs accepts as a retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(try_from = "u16")]
#[schemars(
    with = "u16",
    description = "One of CloudWatch Logs' retentions in days: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"
)]
pub struct RetentionDays(pub u16);

impl TryFrom<u16> for RetentionDays {
    type Error = String;
    fn try_from(days: u16) -> Result<Self, String> {
        match RETENTION_DAYS.contains(&days) {
            true => Ok(RetentionDays(days)),
            false => {
                let near = RETENTION_DAYS.iter().min_by_key(|d| d.abs_diff(days)).unwrap_or(&7);
                Err(format!(
                    "CloudWatch Logs keeps events for one of {RETENTION_DAYS:?} days, not {days}: try {near}"
                ))
            }
        }
    }
}
