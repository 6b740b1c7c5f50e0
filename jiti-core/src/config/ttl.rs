//! A time to live (`ttl = "2d"`, `--ttl 2d`): a duration, bounded so that expiry times stay
//! writable.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

/// The longest time to live: expiry times must stay far inside what clocks and RFC 3339 can
/// write (`99999999d` once passed `check` and then overflowed in deploy).
pub const MAX_TTL: Duration = Duration::from_secs(366 * 86_400);

/// A time to live such as `12h`, `7d` or `2w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(try_from = "String")]
#[schemars(with = "String", description = "A duration such as `12h`, `7d` or `2w`")]
pub struct Ttl(#[schemars(with = "String")] pub Duration);

impl TryFrom<String> for Ttl {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl std::str::FromStr for Ttl {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        match humantime::parse_duration(value) {
            Ok(d) if d > MAX_TTL => Err(format!(
                "time to live `{value}` is longer than a year: a branch environment that lives longer should be a protected environment"
            )),
            Ok(d) if !d.is_zero() => Ok(Ttl(d)),
            Ok(_) => Err(format!("time to live `{value}` must be longer than zero")),
            Err(e) => Err(format!("`{value}` is not a duration such as `12h` or `7d`: {e}")),
        }
    }
}
