//! Branch → environment → stack name: the naming rules every other part relies on.
//!
//! The rules, each property-tested below:
//! - a protected branch maps to its configured environment name (`main` → `production`);
//! - any other branch maps to a readable slug of itself (`feature/Login_Page` → `feature-login-page-…`);
//! - the slug is used bare only when it *is* the branch (nothing was lost); otherwise, and whenever
//!   the bare slug could be mistaken for another name, a short hash of the branch is appended, so two
//!   branches never share an environment;
//! - `<prefix><app>-<env>` is always a valid CloudFormation stack name of at most 128 characters.

use sha2::{Digest, Sha256};

/// Longest environment name. With [`crate::config::MAX_STACK_PREFIX`] and
/// [`crate::config::MAX_APP_NAME`] this keeps stack names within CloudFormation's 128 characters.
pub const MAX_ENV_NAME: usize = 48;
/// CloudFormation's limit on stack names.
pub const MAX_STACK_NAME: usize = 128;
const HASH_LEN: usize = 8;
/// Longest slug that still leaves room for `-<hash>`.
const MAX_SLUG: usize = MAX_ENV_NAME - HASH_LEN - 1;

/// The environment a branch deploys to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Environment {
    /// Environment name: a protected environment's configured name, or the branch's slug.
    pub name: String,
    /// The git branch it was derived from.
    pub branch: String,
    /// Long-lived and protected (production): never garbage-collected, destroyed only on request.
    pub protected: bool,
}

impl Environment {
    /// Resolves `branch` against the protected environments (`(name, branches)` pairs).
    pub fn for_branch<'a>(
        branch: &str,
        protected: impl IntoIterator<Item = (&'a str, &'a [String])> + Clone,
    ) -> Environment {
        if let Some((name, _)) =
            protected.clone().into_iter().find(|(_, branches)| branches.iter().any(|b| b == branch))
        {
            return Environment {
                name: name.to_owned(),
                branch: branch.to_owned(),
                protected: true,
            };
        }
        let reserved: Vec<&str> = protected.into_iter().map(|(name, _)| name).collect();
        Environment {
            name: ephemeral_name(branch, &reserved),
            branch: branch.to_owned(),
            protected: false,
        }
    }

    pub fn ephemeral(&self) -> bool {
        !self.protected
    }
}

/// The environment name of a non-protected branch. `reserved` are the protected environments'
/// names, which a branch must never take over (a branch called `production` is not production).
pub fn ephemeral_name(branch: &str, reserved: &[&str]) -> String {
    let slug = slug(branch);
    let lossless = slug == branch
        && branch.len() <= MAX_ENV_NAME
        && !looks_hashed(branch)
        && !reserved.contains(&branch);
    if lossless {
        return slug;
    }
    let mut short = slug;
    short.truncate(MAX_SLUG);
    let short = short.trim_end_matches('-');
    let hash = short_hash(branch);
    if short.is_empty() { format!("b-{hash}") } else { format!("{short}-{hash}") }
}

/// The stack of `app` in environment `env`: `<prefix><app>-<env>`. App names may hold `_`, which
/// stack names may not; it becomes `-`.
pub fn stack_name(prefix: &str, app: &str, env: &str) -> String {
    let app = app.replace('_', "-");
    format!("{prefix}{app}-{env}")
}

/// Whether `name` is a valid CloudFormation stack name: `[A-Za-z][-A-Za-z0-9]*`, at most 128 characters.
pub fn is_valid_stack_name(name: &str) -> bool {
    name.len() <= MAX_STACK_NAME
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Lower-case ASCII letters and digits, every other run of characters one `-`, no dash at either end.
fn slug(branch: &str) -> String {
    let mut out = String::with_capacity(branch.len());
    for c in branch.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-').len();
    out.truncate(trimmed);
    out
}

/// A lossless name must not end like a hashed one, or `x-1a2b3c4d` (a real branch) could equal the
/// hashed name of another branch whose slug is `x`.
fn looks_hashed(name: &str) -> bool {
    name.len() > HASH_LEN
        && name.as_bytes()[name.len() - HASH_LEN - 1] == b'-'
        && name[name.len() - HASH_LEN..]
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn short_hash(branch: &str) -> String {
    let digest = Sha256::digest(branch.as_bytes());
    digest.iter().take(HASH_LEN / 2).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RESERVED: &[&str] = &["production", "staging"];

    fn name(branch: &str) -> String {
        ephemeral_name(branch, RESERVED)
    }

    #[test]
    fn examples() {
        let cases = [
            ("feature-x", "feature-x"),
            ("fix-42", "fix-42"),
            ("feature/Login_Page", "feature-login-page-"),
            ("feature/login-page", "feature-login-page-"),
            ("Feature-X", "feature-x-"),
            ("release/1.2.3", "release-1-2-3-"),
            ("production", "production-"),
            ("abc-deadbeef", "abc-deadbeef-"),
            ("日本語", "b-"),
            ("---", "b-"),
            ("42-answers", "42-answers"),
        ];
        for (branch, expected) in cases {
            let got = name(branch);
            if expected.ends_with('-') {
                assert!(
                    got.starts_with(expected) && got.len() == expected.len() + HASH_LEN,
                    "{branch} → {got}"
                );
            } else {
                assert_eq!(got, expected, "{branch}");
            }
        }
        assert_eq!(stack_name("", "orders_api", "feature-x"), "orders-api-feature-x");
        assert_eq!(stack_name("team-", "billing", "production"), "team-billing-production");
    }

    #[test]
    fn protected_branches_take_their_configured_name() {
        let prod = vec!["main".to_owned(), "master".to_owned()];
        let staging = vec!["develop".to_owned()];
        let protected = [("production", prod.as_slice()), ("staging", staging.as_slice())];
        let env = Environment::for_branch("master", protected);
        assert_eq!((env.name.as_str(), env.protected), ("production", true));
        let env = Environment::for_branch("develop", protected);
        assert_eq!((env.name.as_str(), env.protected), ("staging", true));
        let env = Environment::for_branch("staging", protected);
        assert!(!env.protected && env.name.starts_with("staging-"), "{env:?}");
    }

    fn branch_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9/_.-]{1,20}",
            "[A-Za-z0-9/_.-]{1,60}",
            "\\PC{1,250}",
            Just("production".to_owned()),
            "[a-z]{1,5}-[0-9a-f]{8}",
        ]
    }

    proptest! {
        #[test]
        fn every_branch_gives_a_valid_bounded_stack_name(branch in branch_strategy(), prefix in "([a-zA-Z][a-zA-Z0-9-]{0,14})?", app in "[a-zA-Z][a-zA-Z0-9_-]{0,63}") {
            let env = name(&branch);
            prop_assert!(env.len() <= MAX_ENV_NAME, "{env}");
            let stack = stack_name(&prefix, &app, &env);
            prop_assert!(is_valid_stack_name(&stack), "{stack}");
        }

        #[test]
        fn the_name_is_deterministic_and_readable(branch in branch_strategy()) {
            let env = name(&branch);
            prop_assert_eq!(&env, &name(&branch));
            let s = slug(&branch);
            let kept = &s[..s.len().min(MAX_SLUG)];
            prop_assert!(env.starts_with(kept.trim_end_matches('-')), "{branch} → {env}");
        }

        #[test]
        fn different_branches_never_share_a_name(a in branch_strategy(), b in branch_strategy()) {
            prop_assume!(a != b);
            prop_assert_ne!(name(&a), name(&b));
        }

        #[test]
        fn branches_that_differ_only_in_lost_characters_differ(base in "[a-z]{1,10}", sep in "[/_.A-Z]") {
            let plain = format!("{base}-x");
            let other = format!("{base}{sep}x");
            prop_assume!(plain != other);
            prop_assert_ne!(name(&plain), name(&other));
        }

        #[test]
        fn no_branch_takes_a_protected_name(branch in branch_strategy()) {
            prop_assert!(!RESERVED.contains(&name(&branch).as_str()));
        }
    }
}
