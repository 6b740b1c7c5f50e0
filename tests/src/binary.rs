//! The real `cargo-jiti` binary, built once per test process, run as cargo runs it, with the
//! host's CI and AWS settings cleared; [`Run`] is a finished run, whose JSON reports are validated
//! against the committed schema as they are read.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::repo_root;

/// The `cargo-jiti` binary of this checkout, built once per test process with the test's profile.
///
/// Cargo builds a package's binaries only for that package's own integration tests, and these tests
/// live in their own package, so they ask cargo for it (a no-op when it is up to date).
pub fn cargo_jiti() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir =
            exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "-p", "cargo-jiti", "--bin", "cargo-jiti"])
            .current_dir(repo_root());
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building cargo-jiti failed");
        let bin = profile_dir.join(format!("cargo-jiti{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}

/// `cargo-jiti jiti` in `dir`, with CI branch variables and AWS settings cleared so the host's
/// environment cannot leak into a test.
pub fn jiti_command(dir: &Path) -> Command {
    jiti_command_through(&[], dir)
}

/// [`jiti_command`] started through `wrapper`, e.g. `["prlimit", "--as=2000000000", "--"]`.
pub fn jiti_command_through(wrapper: &[&str], dir: &Path) -> Command {
    let mut cmd = match wrapper {
        [program, args @ ..] => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(cargo_jiti());
            cmd
        }
        [] => Command::new(cargo_jiti()),
    };
    cmd.arg("jiti").current_dir(dir);
    // The CI's own event variables never reach a test: `ci` tests set their own.
    for var in jiti_core::git::CI_BRANCH_VARS.iter().chain(&[
        "GITHUB_ACTIONS",
        "GITHUB_EVENT_NAME",
        "GITHUB_EVENT_PATH",
        "GITHUB_STEP_SUMMARY",
        "GITLAB_CI",
        "CI_PIPELINE_SOURCE",
        "CI_ENVIRONMENT_ACTION",
        "CI_MERGE_REQUEST_IID",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
    ]) {
        cmd.env_remove(var);
    }
    // The machine's own AWS config never counts, and nothing asks EC2 instance metadata (a
    // link-local address no test may reach); a test that wants a config file sets its own.
    // The Lambda build tools (cargo-zigbuild, zig) come from the virtualenv; every copy of an
    // example builds into one target directory, so the suite builds a Lambda's dependencies once.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(crate::venv().join("bin")).chain(std::env::split_paths(&path)),
    )
    .expect("PATH");
    cmd.env("NO_COLOR", "1")
        .env("PATH", path)
        .env("CARGO_JITI_BUILD_TARGET_DIR", repo_root().join("target").join("examples"))
        .env_remove("CARGO_TARGET_DIR")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// `cargo-jiti jiti` in `dir` against the AWS endpoint `endpoint` (an emulator, a proxy, a dead
/// port), with test credentials and no AWS config of the machine's; arguments are the caller's.
pub fn jiti_against(dir: &Path, endpoint: &str) -> Command {
    let mut cmd = jiti_command(dir);
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdin(std::process::Stdio::null());
    cmd
}

/// A finished run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn new(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Stdout as JSON: a `--json` report (or error report), validated against the committed
    /// schema (`infra-schema/reports.schema.json`) before the test reads it.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        let value: serde_json::Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout));
        crate::oracle::assert_report_valid(&value);
        value
    }
}
