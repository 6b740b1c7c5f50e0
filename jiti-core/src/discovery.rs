//! Which packages of the Cargo workspace are apps (they have `infra/jiti.toml`), read with
//! `cargo metadata`, and which of them a command works on (`-p`, `--workspace`, as cargo does).

use std::path::{Path, PathBuf};

use crate::config::{self, ConfigError, JitiConfig, WorkspacePolicy};

/// Which packages the user asked for, as cargo's own flags say it.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `--manifest-path`; otherwise the `Cargo.toml` found from `cwd` upwards.
    pub manifest_path: Option<PathBuf>,
    /// `-p/--package` (package or app names).
    pub packages: Vec<String>,
    /// `--workspace`: every app, wherever the command runs.
    pub workspace: bool,
    /// The directory the command runs in.
    pub cwd: PathBuf,
}

/// One app: a workspace package with infra beside its code.
#[derive(Debug, Clone)]
pub struct AppSource {
    /// App name: `[app] name`, else the package name.
    pub name: String,
    pub package: String,
    /// The crate version; the app's version.
    pub version: String,
    /// The package's folder.
    pub package_dir: PathBuf,
    /// The infra folder (`infra/`, or `[package.metadata.jiti] infra`).
    pub infra_dir: PathBuf,
    pub config_path: PathBuf,
    pub config: JitiConfig,
    /// The package's binary targets (what `[artifacts]` of kind `lambda` build).
    pub binaries: Vec<String>,
    /// The folders its code comes from: the package's, and those of the local path dependencies
    /// it builds with, transitively (what `watch` watches).
    pub code_dirs: Vec<PathBuf>,
}

/// The workspace's apps and which of them are selected.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub workspace_root: PathBuf,
    pub target_dir: PathBuf,
    /// Every app of the workspace (dependencies may lie outside the selection).
    pub apps: Vec<AppSource>,
    /// Indices into `apps`, in workspace order.
    pub selected: Vec<usize>,
    /// `[workspace.metadata.jiti.policy]`: policy defaults of every app.
    pub policy: WorkspacePolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("`cargo metadata` failed for `{}`", manifest.display())]
    Metadata {
        manifest: PathBuf,
        #[source]
        source: cargo_metadata::Error,
    },
    #[error("could not find `Cargo.toml` in `{}` or any parent directory", cwd.display())]
    NoManifest { cwd: PathBuf },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("`{}` sets `[package.metadata.jiti] infra = \"{infra}\"`, but `{}` does not exist", manifest.display(), config.display())]
    MissingInfra { manifest: PathBuf, infra: String, config: PathBuf },
    #[error("`[package.metadata.jiti] infra` in `{}` must be a relative path string", manifest.display())]
    BadInfraSetting { manifest: PathBuf },
    #[error("package `{package}` is not in the workspace; its apps are: {}", apps.join(", "))]
    UnknownPackage { package: String, apps: Vec<String> },
    #[error("package `{package}` has no infra: create `{}` (see the README's config reference)", expected.display())]
    NotAnApp { package: String, expected: PathBuf },
    #[error("the workspace at `{}` has no app: no package has an `infra/jiti.toml` beside its Cargo.toml", root.display())]
    NoApps { root: PathBuf },
    #[error("`[workspace.metadata.jiti.policy]` in `{}` is not valid: {message}", manifest.display())]
    WorkspacePolicy { manifest: PathBuf, message: String },
    #[error("two packages are both app `{name}`: `{}` and `{}`; set a distinct `[app] name`", first.display(), second.display())]
    DuplicateApp { name: String, first: PathBuf, second: PathBuf },
}

/// Reads the workspace around `selection` and its apps.
pub fn discover(selection: &Selection) -> Result<Discovered, DiscoveryError> {
    let manifest = match &selection.manifest_path {
        Some(p) => selection.cwd.join(p),
        None => find_manifest(&selection.cwd)
            .ok_or_else(|| DiscoveryError::NoManifest { cwd: selection.cwd.clone() })?,
    };
    // cargo reports canonical paths; compare like with like.
    let manifest = std::fs::canonicalize(&manifest).unwrap_or(manifest);
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(&manifest)
        .current_dir(&selection.cwd)
        .no_deps()
        .exec()
        .map_err(|source| DiscoveryError::Metadata { manifest: manifest.clone(), source })?;

    let mut apps: Vec<AppSource> = Vec::new();
    // Packages without infra, to tell "not an app" apart from "not in the workspace".
    let mut plain_packages: Vec<(String, PathBuf)> = Vec::new();
    let mut by_package: Vec<Option<usize>> = Vec::new();
    let members = metadata.workspace_packages();
    for package in &members {
        let package_dir =
            package.manifest_path.parent().map(|p| p.as_std_path().to_owned()).unwrap_or_default();
        let infra_setting = package.metadata.get("jiti").and_then(|j| j.get("infra"));
        let infra = match infra_setting {
            None => config::DEFAULT_INFRA_DIR.to_owned(),
            Some(serde_json::Value::String(s)) if !Path::new(s).is_absolute() => s.clone(),
            Some(_) => {
                return Err(DiscoveryError::BadInfraSetting {
                    manifest: package.manifest_path.clone().into(),
                });
            }
        };
        let infra_dir = package_dir.join(&infra);
        let config_path = infra_dir.join(config::FILE_NAME);
        if !config_path.is_file() {
            if infra_setting.is_some() {
                return Err(DiscoveryError::MissingInfra {
                    manifest: package.manifest_path.clone().into(),
                    infra,
                    config: config_path,
                });
            }
            plain_packages.push((package.name.to_string(), config_path));
            by_package.push(None);
            continue;
        }
        let config = config::load(&config_path)?;
        let name =
            config.app.name.as_ref().map_or_else(|| package.name.to_string(), |n| n.to_string());
        if let Some(first) = apps.iter().find(|a| a.name == name) {
            return Err(DiscoveryError::DuplicateApp {
                name,
                first: first.config_path.clone(),
                second: config_path,
            });
        }
        by_package.push(Some(apps.len()));
        apps.push(AppSource {
            name,
            package: package.name.to_string(),
            version: package.version.to_string(),
            package_dir,
            infra_dir,
            config_path,
            config,
            binaries: package
                .targets
                .iter()
                .filter(|t| t.is_bin())
                .map(|t| t.name.clone())
                .collect(),
            code_dirs: code_dirs(&metadata, package),
        });
    }
    let workspace_root = metadata.workspace_root.clone().into_std_path_buf();
    let policy = match metadata.workspace_metadata.get("jiti").and_then(|j| j.get("policy")) {
        Some(p) => {
            serde_json::from_value(p.clone()).map_err(|e| DiscoveryError::WorkspacePolicy {
                manifest: workspace_root.join("Cargo.toml"),
                message: e.to_string(),
            })?
        }
        None => WorkspacePolicy::default(),
    };
    if apps.is_empty() {
        return Err(DiscoveryError::NoApps { root: workspace_root });
    }

    let app_names = || apps.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
    let selected: Vec<usize> = if !selection.packages.is_empty() {
        let mut picked = Vec::new();
        for wanted in &selection.packages {
            let index = apps.iter().position(|a| &a.package == wanted || &a.name == wanted);
            match index {
                Some(i) if !picked.contains(&i) => picked.push(i),
                Some(_) => {}
                None => {
                    return Err(match plain_packages.iter().find(|(p, _)| p == wanted) {
                        Some((package, expected)) => DiscoveryError::NotAnApp {
                            package: package.clone(),
                            expected: expected.clone(),
                        },
                        None => DiscoveryError::UnknownPackage {
                            package: wanted.clone(),
                            apps: app_names(),
                        },
                    });
                }
            }
        }
        picked.sort_unstable();
        picked
    } else if selection.workspace {
        (0..apps.len()).collect()
    } else if let Some(position) =
        members.iter().position(|p| p.manifest_path.as_std_path() == manifest)
    {
        // Run from inside a package: that package, as cargo does.
        match by_package[position] {
            Some(i) => vec![i],
            None => {
                let (package, expected) = plain_packages
                    .iter()
                    .find(|(p, _)| *p == members[position].name.as_str())
                    .cloned()
                    .unwrap_or_default();
                return Err(DiscoveryError::NotAnApp { package, expected });
            }
        }
    } else {
        // A virtual workspace root: its default members, as cargo does.
        let defaults: Vec<_> = if metadata.workspace_default_members.is_available() {
            metadata.workspace_default_packages().iter().map(|p| p.id.clone()).collect()
        } else {
            Vec::new() // cargo older than 1.71 does not report them: every member
        };
        members
            .iter()
            .zip(&by_package)
            .filter(|(p, _)| defaults.is_empty() || defaults.contains(&p.id))
            .filter_map(|(_, i)| *i)
            .collect()
    };
    Ok(Discovered {
        policy,
        workspace_root,
        target_dir: metadata.target_directory.into_std_path_buf(),
        apps,
        selected,
    })
}

fn find_manifest(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors().map(|d| d.join("Cargo.toml")).find(|p| p.is_file())
}

/// `package`'s folder and those of its path dependencies (normal and build ones), transitively:
/// where a change can change what the package builds.
fn code_dirs(
    metadata: &cargo_metadata::Metadata,
    package: &cargo_metadata::Package,
) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut queue = vec![package];
    while let Some(p) = queue.pop() {
        let Some(dir) = p.manifest_path.parent().map(|d| d.as_std_path().to_owned()) else {
            continue;
        };
        if dirs.contains(&dir) {
            continue;
        }
        dirs.push(dir);
        for dep in
            p.dependencies.iter().filter(|d| d.kind != cargo_metadata::DependencyKind::Development)
        {
            let Some(path) = &dep.path else { continue };
            if let Some(found) =
                metadata.packages.iter().find(|q| q.manifest_path.parent() == Some(path.as_path()))
            {
                queue.push(found);
            }
        }
    }
    dirs
}
