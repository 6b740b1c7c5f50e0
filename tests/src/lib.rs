//! Test support for cargo-jiti's end-to-end tests, by what each part stands for: the real binary
//! ([`binary`]), throw-away git repositories ([`repo`]), the external oracles (cfn-lint, the reports'
//! JSON Schema: [`oracle`]), the AWS emulator ([`emulator`]), a misbehaving network in front of
//! it ([`proxy`]), and the Lambda Runtime API a built `bootstrap` answers ([`lambda`]).
//!
//! Nothing here fakes cargo-jiti's behaviour: tests run the binary as a user would.

use std::path::{Path, PathBuf};

pub mod binary;
pub mod emulator;
pub mod lambda;
pub mod oracle;
pub mod proxy;
pub mod repo;

pub use binary::{Run, cargo_jiti, jiti_against, jiti_command, jiti_command_through};
pub use emulator::{Moto, moto};
pub use oracle::{assert_report_valid, cfn_lint, lint_errors, venv, venv_tool};
pub use proxy::{Proxy, start_until};
pub use repo::{Repo, shop_on};

/// The repository's root (the cargo-jiti workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}
