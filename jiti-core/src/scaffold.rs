//! `init`: a commented starting point (`infra/jiti.toml` and `infra/stack.yaml`) for a crate that
//! has no infra yet, and for a function starter a Rust Lambda handler (`src/main.rs`, only where it
//! is still `cargo new`'s hello world). Writes only new files, or that untouched default: nothing
//! of the user's is ever overwritten.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::config;

/// The starting points `init` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Starter {
    QueueWorker,
    HttpFunction,
    StaticBucket,
}

impl Starter {
    fn template(self) -> &'static str {
        match self {
            Starter::QueueWorker => include_str!("../starters/queue-worker.yaml"),
            Starter::HttpFunction => include_str!("../starters/http-function.yaml"),
            Starter::StaticBucket => include_str!("../starters/static-bucket.yaml"),
        }
    }

    /// The template's parameters, as `[params]` lines.
    fn params(self) -> &'static str {
        match self {
            Starter::QueueWorker => {
                "visibility_timeout = 60\nmax_receive_count = 5\nlog_retention_days = 14"
            }
            Starter::HttpFunction => "memory = 256\nlog_retention_days = 14",
            Starter::StaticBucket => "keep_old_versions_days = 30",
        }
    }
}

impl Starter {
    /// The Rust handler a function starter begins with.
    pub fn handler(self) -> Option<&'static str> {
        match self {
            Starter::QueueWorker => Some(include_str!("../starters/queue-worker.rs")),
            Starter::HttpFunction => Some(include_str!("../starters/http-function.rs")),
            Starter::StaticBucket => None,
        }
    }

    /// What the handler needs, as `cargo add` arguments, one crate per entry.
    pub fn dependencies(self) -> &'static [&'static [&'static str]] {
        match self.handler() {
            Some(_) => &[
                &["lambda_runtime@1.5", "--no-default-features"],
                &["serde_json@1"],
                &["tokio@1", "--features", "macros"],
            ],
            None => &[],
        }
    }

    fn artifacts(self) -> &'static str {
        match self.handler() {
            Some(_) => {
                "# The function's code: this crate's binary, built for Amazon Linux 2023 by `cargo jiti deploy`,\n# zipped and uploaded under a key made of its hash (`artifacts.function.key` in stack.yaml).\n[artifacts.function]\nkind = \"lambda\"\n# arch = \"arm64\"    # then `Architectures: [arm64]` in stack.yaml\n\n"
            }
            None => "",
        }
    }
}

/// What `init` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scaffolded {
    pub written: Vec<PathBuf>,
    /// `src/main.rs` became the starter's handler (it was `cargo new`'s default): its
    /// dependencies are to be added.
    pub handler_written: bool,
    /// A function starter whose crate has code of its own: the handler to start from, not written.
    pub handler_left: Option<&'static str>,
}

/// `cargo new`'s `main.rs`, or an empty `main`: code nobody would miss.
fn is_default_main(text: &str) -> bool {
    let code: String = text.split_whitespace().collect();
    code == "fnmain(){println!(\"Hello,world!\");}" || code == "fnmain(){}"
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("`cargo metadata` failed for `{}`", manifest.display())]
    Metadata {
        manifest: PathBuf,
        #[source]
        source: cargo_metadata::Error,
    },
    #[error("no package `{package}` in the workspace; its packages are: {}", packages.join(", "))]
    UnknownPackage { package: String, packages: Vec<String> },
    #[error("`{}` is not a package's folder: pass -p NAME (packages: {})", cwd.display(), packages.join(", "))]
    NoPackageHere { cwd: PathBuf, packages: Vec<String> },
    #[error("`{}` exists already: init never overwrites (delete it first to start again)", path.display())]
    Exists { path: PathBuf },
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The folder of `package` in the workspace of `manifest` (or, without a package, the package
/// whose folder holds `cwd`).
pub fn package_dir(
    manifest: Option<&Path>,
    cwd: &Path,
    package: Option<&str>,
) -> Result<(String, PathBuf), ScaffoldError> {
    let mut command = cargo_metadata::MetadataCommand::new();
    command.no_deps().current_dir(cwd);
    if let Some(m) = manifest {
        command.manifest_path(cwd.join(m));
    }
    let metadata = command.exec().map_err(|source| ScaffoldError::Metadata {
        manifest: manifest.map_or_else(|| cwd.join("Cargo.toml"), Path::to_owned),
        source,
    })?;
    let members = metadata.workspace_packages();
    let names = || members.iter().map(|p| p.name.to_string()).collect::<Vec<_>>();
    let dir = |p: &cargo_metadata::Package| {
        p.manifest_path.parent().map(|d| d.as_std_path().to_owned()).unwrap_or_default()
    };
    let cwd = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_owned());
    let found = match package {
        Some(name) => members.iter().find(|p| p.name.as_str() == name).ok_or_else(|| {
            ScaffoldError::UnknownPackage { package: name.to_owned(), packages: names() }
        })?,
        None => members
            .iter()
            .filter(|p| cwd.starts_with(dir(p)))
            .max_by_key(|p| dir(p).components().count())
            .ok_or_else(|| ScaffoldError::NoPackageHere { cwd: cwd.clone(), packages: names() })?,
    };
    Ok((found.name.to_string(), dir(found)))
}

/// Writes `infra/jiti.toml` and `infra/stack.yaml` into `package_dir` (nothing when either
/// exists), and a function starter's handler over a default `src/main.rs`.
pub fn init(package_dir: &Path, starter: Starter) -> Result<Scaffolded, ScaffoldError> {
    let written = write_infra(package_dir, starter)?;
    let main = package_dir.join("src/main.rs");
    let mut done = Scaffolded { written, handler_written: false, handler_left: None };
    let Some(handler) = starter.handler() else { return Ok(done) };
    match std::fs::read_to_string(&main) {
        Ok(text) if is_default_main(&text) => {
            std::fs::write(&main, handler)
                .map_err(|source| ScaffoldError::Write { path: main.clone(), source })?;
            done.written.push(main);
            done.handler_written = true;
        }
        _ => done.handler_left = Some(handler),
    }
    Ok(done)
}

fn write_infra(package_dir: &Path, starter: Starter) -> Result<Vec<PathBuf>, ScaffoldError> {
    let infra = package_dir.join(config::DEFAULT_INFRA_DIR);
    let config_text = include_str!("../starters/jiti.toml")
        .replace("{params}", starter.params())
        .replace("{artifacts}", starter.artifacts());
    let files = [
        (infra.join(config::FILE_NAME), config_text),
        (infra.join("stack.yaml"), starter.template().to_owned()),
    ];
    if let Some((path, _)) = files.iter().find(|(p, _)| p.exists()) {
        return Err(ScaffoldError::Exists { path: path.clone() });
    }
    std::fs::create_dir_all(&infra)
        .map_err(|source| ScaffoldError::Write { path: infra.clone(), source })?;
    let mut written = Vec::new();
    for (path, text) in &files {
        // `create_new`: a file made meanwhile by someone else is still not overwritten.
        let result = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(source) = result {
            for done in &written {
                let _ = std::fs::remove_file(done);
            }
            return Err(match source.kind() {
                std::io::ErrorKind::AlreadyExists => ScaffoldError::Exists { path: path.clone() },
                _ => ScaffoldError::Write { path: path.clone(), source },
            });
        }
        written.push(path.clone());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_both_files_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(
            dir.path().join("src/main.rs"),
            "fn main() {\n    println!(\"Hello, world!\");\n}\n",
        )
        .unwrap();
        let done = init(dir.path(), Starter::QueueWorker).unwrap();
        let written = done.written;
        assert_eq!(
            written,
            [
                dir.path().join("infra/jiti.toml"),
                dir.path().join("infra/stack.yaml"),
                dir.path().join("src/main.rs")
            ]
        );
        assert!(done.handler_written);
        assert!(std::fs::read_to_string(&written[2]).unwrap().contains("lambda_runtime::run"));
        assert!(std::fs::read_to_string(&written[0]).unwrap().contains("[artifacts.function]"));
        let config = std::fs::read_to_string(&written[0]).unwrap();
        assert!(config.contains("visibility_timeout = 60"), "{config}");
        config::parse(&config, &written[0]).unwrap();
        std::fs::write(&written[1], "mine").unwrap();
        std::fs::remove_file(&written[0]).unwrap();
        let e = init(dir.path(), Starter::StaticBucket).unwrap_err();
        assert!(
            matches!(&e, ScaffoldError::Exists { path } if path.ends_with("infra/stack.yaml")),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&written[1]).unwrap(), "mine");
        assert!(!written[0].exists(), "nothing is written when a file exists");
        // A crate with code of its own keeps it: the handler is offered, not written.
        let mine = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(mine.path().join("src")).unwrap();
        std::fs::write(mine.path().join("src/main.rs"), "fn main() { serve(); }").unwrap();
        let done = init(mine.path(), Starter::HttpFunction).unwrap();
        assert!(!done.handler_written && done.handler_left.is_some());
        assert_eq!(
            std::fs::read_to_string(mine.path().join("src/main.rs")).unwrap(),
            "fn main() { serve(); }"
        );
    }
}
