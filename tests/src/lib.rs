//! Test support for cargo-jiti's end-to-end tests, by what each part stands for: the real binary
//! ([`binary`]), throw-away git repositories ([`repo`]), the external oracles (cfn-lint, the reports'
//! JSON Schema: [`oracle`]), the AWS emulators ([`emulator`]: moto; [`localstack`]), a misbehaving network in front of
//! it ([`proxy`]), and the Lambda Runtime API a built `bootstrap` answers ([`lambda`]).
//!
//! Nothing here fakes cargo-jiti's behaviour: tests run the binary as a user would.

use std::path::{Path, PathBuf};

pub mod binary;
pub mod emulator;
pub mod lambda;
pub mod localstack;
pub mod oracle;
pub mod proxy;
pub mod repo;

pub use binary::{Run, cargo_jiti, jiti_against, jiti_command, jiti_command_through};
pub use emulator::{Emulator, Moto, moto};
pub use localstack::{LocalStack, localstack};
pub use oracle::{assert_report_valid, cfn_lint, lint_errors, venv, venv_tool};
pub use proxy::{Proxy, start_until};
pub use repo::{Repo, shop_on};

/// The repository's root (the cargo-jiti workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// Filters for what varies between runs in human output (the repository's path, commits, times,
/// durations, ports, the emulator's generated names), for insta snapshots.
pub fn snapshot_filters(repo: &Path) -> Vec<(String, &'static str)> {
    let root = repo.to_string_lossy().into_owned();
    vec![
        (regex_escape(&root), "[repo]"),
        (r"\b[0-9a-f]{64}\b".into(), "[sha256]"),
        (r"\b[0-9a-f]{40}\b".into(), "[commit]"),
        // The suffix CloudFormation (and moto) give generated physical names.
        (r"-([A-Z0-9]{12}|[a-z0-9]{12})\b".into(), "-[random]"),
        (r"\b[0-9a-f]{7}\b".into(), "[short]"),
        (r"\d+(\.\d+)?s\b".into(), "[secs]"),
        (r"\b\d+[smhd]( \d+[smhd])? ago\b".into(), "[ago]"),
        (r"in \d+[dhms]( \d+[dhms])?".into(), "in [left]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z".into(), "[time]"),
        (r"127\.0\.0\.1:\d+".into(), "127.0.0.1:[port]"),
        // A Lambda package's size depends on the toolchain that built it.
        (r"\b\d+ bytes\b".into(), "[size] bytes"),
    ]
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// `snapshot!(repo, name, text)`: an insta snapshot of `text` with [`snapshot_filters`] applied
/// (the test crate needs insta).
#[macro_export]
macro_rules! snapshot {
    ($repo:expr, $name:expr, $text:expr) => {{
        let filters = $crate::snapshot_filters($repo.path());
        let filters: Vec<(&str, &str)> = filters.iter().map(|(a, b)| (a.as_str(), *b)).collect();
        insta::with_settings!({ filters => filters, prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!($name, $text);
        });
    }};
}
