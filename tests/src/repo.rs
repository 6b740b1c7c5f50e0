//! Throw-away git repositories made from the examples, with a fixed identity and no host git
//! config, and the shop on a branch of a test's own.

use std::path::Path;
use std::process::Command;

use crate::binary::{Run, jiti_command};
use crate::repo_root;

/// A git repository in a temporary directory, made from a fixture, with a fixed identity and no
/// global or system git config, so tests see the same thing on every machine.
pub struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// Copies `examples/<name>` and commits it on branch `main`.
    pub fn from_fixture(name: &str) -> Repo {
        Repo::from_dir(&repo_root().join("examples").join(name))
    }

    /// Copies `tests/fixtures/<name>` (workspaces made for the tests) and commits it on `main`.
    pub fn from_test_fixture(name: &str) -> Repo {
        Repo::from_dir(&repo_root().join("tests/fixtures").join(name))
    }

    fn from_dir(source: &Path) -> Repo {
        assert!(source.is_dir(), "no fixture at {}", source.display());
        let repo = Repo::empty();
        copy_dir(source, repo.path());
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-qm", "initial"]);
        repo
    }

    /// An empty repository on branch `main`.
    pub fn empty() -> Repo {
        let dir = tempfile::Builder::new().prefix("jiti-test-").tempdir().expect("temp dir");
        let repo = Repo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the repository; panics when it fails.
    pub fn git(&self, args: &[&str]) -> String {
        let out = git_command(self.path()).args(args).output().expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("create dirs");
        std::fs::write(path, text).expect("write file");
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path().join(relative))
            .unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    /// Gives every app (each `<dir>/infra/jiti.toml`) a stack prefix unique to this test process
    /// and commits it, so a test's protected `production` stacks never meet another test run's.
    pub fn with_unique_stack_prefix(&self, letter: char) {
        let mut apps: Vec<String> = std::fs::read_dir(self.path())
            .expect("read the repository")
            .filter_map(Result::ok)
            .filter(|e| e.path().join("infra/jiti.toml").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        apps.sort();
        for app in apps {
            let path = format!("{app}/infra/jiti.toml");
            let config = self.read(&path).replace(
                "[app]\n",
                &format!("[app]\nstack_prefix = \"{letter}{}-\"\n", std::process::id() % 100_000),
            );
            self.write(&path, &config);
        }
        self.commit("unique stack prefix");
    }

    /// Commits everything with `message`.
    pub fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-qm", message]);
    }

    /// `cargo-jiti jiti <args>` in `dir` (relative to the repository), as cargo would run it.
    pub fn jiti_in(&self, dir: &str, args: &[&str]) -> Run {
        Run::new(jiti_command(&self.path().join(dir)).args(args).output().expect("run cargo-jiti"))
    }

    /// `cargo-jiti jiti <args>` at the repository's root.
    pub fn jiti(&self, args: &[&str]) -> Run {
        self.jiti_in(".", args)
    }
}

fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Jiti Test")
        .env("GIT_AUTHOR_EMAIL", "test@jiti.invalid")
        .env("GIT_COMMITTER_NAME", "Jiti Test")
        .env("GIT_COMMITTER_EMAIL", "test@jiti.invalid");
    cmd
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("fixture entry");
        let name = entry.file_name();
        // The example's lock file is committed: its copies build the same dependencies.
        if name == "target" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy fixture file");
        }
    }
}

/// The example shop, committed on `main`, checked out on a new `branch` of the test's own.
pub fn shop_on(branch: &str) -> Repo {
    let repo = Repo::from_fixture("shop");
    repo.git(&["checkout", "-q", "-b", branch]);
    repo
}
