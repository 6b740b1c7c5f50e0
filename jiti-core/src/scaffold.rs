//! `init`: a commented starting point (`infra/jiti.toml` and `infra/stack.yaml`) for a crate that
//! has no infra yet. Writes only new files: an existing one is never overwritten.

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
            Starter::QueueWorker => "visibility_timeout = 60\nmax_receive_count = 5",
            Starter::HttpFunction => "memory = 256\nlog_retention_days = 14",
            Starter::StaticBucket => "keep_old_versions_days = 30",
        }
    }
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

/// Writes `infra/jiti.toml` and `infra/stack.yaml` into `package_dir`; returns their paths.
/// Nothing is written when either exists.
pub fn init(package_dir: &Path, starter: Starter) -> Result<Vec<PathBuf>, ScaffoldError> {
    let infra = package_dir.join(config::DEFAULT_INFRA_DIR);
    let config_text = include_str!("../starters/jiti.toml").replace("{params}", starter.params());
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
        let written = init(dir.path(), Starter::QueueWorker).unwrap();
        assert_eq!(
            written,
            [dir.path().join("infra/jiti.toml"), dir.path().join("infra/stack.yaml")]
        );
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
    }
}
