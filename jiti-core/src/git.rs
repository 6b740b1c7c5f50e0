//! The git facts every environment is stamped with: branch, commit, dirty flag, repository root.
//!
//! A detached HEAD (how CI checks out) has no branch, so it comes from the caller: `--branch`, then
//! the CI variables the binary passes in ([`CI_BRANCH_VARS`]); this crate never reads the process
//! environment itself.

use std::path::{Path, PathBuf};

use git2::{Repository, StatusOptions};

/// CI variables that name the branch being built, in the order they are consulted.
/// `GITHUB_HEAD_REF` is set (to the source branch) only on pull requests, so it goes first.
pub const CI_BRANCH_VARS: &[&str] = &[
    "GITHUB_HEAD_REF",
    "GITHUB_REF_NAME",
    "CI_COMMIT_REF_NAME",
    "BRANCH_NAME",
    "CIRCLE_BRANCH",
    "BUILDKITE_BRANCH",
    "BITBUCKET_BRANCH",
];

/// Where the branch came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum BranchSource {
    /// HEAD points at the branch.
    Head,
    /// `--branch` on the command line.
    Flag,
    /// A CI variable (named).
    Ci(String),
}

/// The repository state an environment is rendered from.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct GitContext {
    /// The working tree's root (of the worktree, in a `git worktree`).
    pub root: PathBuf,
    pub branch: String,
    pub branch_source: BranchSource,
    /// Full commit id of HEAD.
    pub commit: String,
    /// First 7 characters of `commit`.
    pub short_commit: String,
    /// Tracked files changed, or untracked (not ignored) files stand in an app's package or infra
    /// folder; cargo-jiti's own output never counts (see [`DirtyScope`]).
    pub dirty: bool,
}

/// How to find the branch when HEAD alone does not say.
#[derive(Debug, Clone, Default)]
pub struct BranchHints {
    /// `--branch`: wins over everything.
    pub flag: Option<String>,
    /// The values of [`CI_BRANCH_VARS`] that are set, as `(name, value)`.
    pub ci_vars: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("`{}` is not inside a git repository; cargo-jiti stamps every environment with a commit: run `git init` and commit the app", path.display())]
    NotARepository {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("the repository at `{}` has no commit yet; commit the app and its infra first", root.display())]
    NoCommit { root: PathBuf },
    #[error("HEAD is detached at {short_commit} and no branch was given: pass `--branch NAME`, or set one of {}", CI_BRANCH_VARS.join(", "))]
    DetachedHead { short_commit: String },
    #[error("the repository at `{}` is bare; run cargo-jiti in a working tree", root.display())]
    Bare { root: PathBuf },
    #[error("commit `{rev}` is not in the repository at `{}`: fetch it (`git fetch --all`) and try again", root.display())]
    MissingCommit { rev: String, root: PathBuf },
    #[error("commit {commit} has no `{}` folder: the app had no infra there", dir.display())]
    MissingDir { commit: String, dir: PathBuf },
    #[error("failed to read the git repository at `{}`", root.display())]
    Read {
        root: PathBuf,
        #[source]
        source: git2::Error,
    },
}

/// What makes a checkout dirty, as a user means it: a change to a tracked file, or an untracked
/// file where it could change what is built or deployed (an app's package or infra folder). A
/// notes file at the repository's root is not a change to any app, and cargo-jiti's own output
/// (`target/jiti`, in a repository that does not ignore `target/`) must never make the second
/// deploy of a protected environment refuse.
#[derive(Debug, Clone, Default)]
pub struct DirtyScope {
    /// Folders where an untracked file makes the checkout dirty (absolute).
    pub include: Vec<PathBuf>,
    /// Folders that never count, tracked or not (absolute): the cargo target folder.
    pub exclude: Vec<PathBuf>,
}

impl DirtyScope {
    /// Whether a status entry (a path relative to `root`; untracked folders end with `/`) counts.
    fn counts(&self, root: &Path, path: &str, untracked: bool) -> bool {
        let path = root.join(path.trim_end_matches('/'));
        if self.exclude.iter().any(|x| path.starts_with(x)) {
            return false;
        }
        if !untracked {
            return true;
        }
        // An untracked folder is reported whole (not recursed into): it counts when it lies in an
        // app's folder, or holds one (a new app not added yet).
        self.include.iter().any(|dir| {
            path.starts_with(dir)
                || (dir.starts_with(&path) && !self.exclude.iter().any(|x| dir.starts_with(x)))
        })
    }
}

/// Reads the repository that contains `dir`; `scope` says which changes make it dirty.
pub fn context(
    dir: &Path,
    hints: &BranchHints,
    scope: &DirtyScope,
) -> Result<GitContext, GitError> {
    let repo = Repository::discover(dir)
        .map_err(|source| GitError::NotARepository { path: dir.to_owned(), source })?;
    let root = repo
        .workdir()
        .map(Path::to_owned)
        .ok_or_else(|| GitError::Bare { root: repo.path().to_owned() })?;
    let read = |source| GitError::Read { root: root.clone(), source };
    let head = match repo.head() {
        Ok(h) => h,
        Err(e) if e.code() == git2::ErrorCode::UnbornBranch => {
            return Err(GitError::NoCommit { root });
        }
        Err(e) => return Err(read(e)),
    };
    let commit = head.peel_to_commit().map_err(read)?.id().to_string();
    let short_commit = short(&commit, 7).to_owned();
    let head_branch = head.is_branch().then(|| head.shorthand().map(str::to_owned)).flatten();
    let (branch, branch_source) = if let Some(flag) = hints.flag.clone().filter(|b| !b.is_empty()) {
        (flag, BranchSource::Flag)
    } else if let Some(b) = head_branch {
        (b, BranchSource::Head)
    } else if let Some((var, value)) = hints.ci_vars.iter().find(|(_, v)| !v.is_empty()) {
        (value.clone(), BranchSource::Ci(var.clone()))
    } else {
        return Err(GitError::DetachedHead { short_commit });
    };
    let dirty = is_dirty(&repo, &root, scope).map_err(read)?;
    Ok(GitContext { root, branch, branch_source, commit, short_commit, dirty })
}

fn is_dirty(repo: &Repository, root: &Path, scope: &DirtyScope) -> Result<bool, git2::Error> {
    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(false)
        .include_ignored(false)
        .exclude_submodules(true);
    // Paths are compared as the file system names them: cargo metadata's may be canonical while
    // git's work dir is not (a symlinked /tmp, say).
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    let canonical = |dirs: &[PathBuf]| {
        dirs.iter().map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone())).collect()
    };
    let scope =
        DirtyScope { include: canonical(&scope.include), exclude: canonical(&scope.exclude) };
    for entry in repo.statuses(Some(&mut options))?.iter() {
        let Some(path) = entry.path() else { return Ok(true) };
        if scope.counts(&root, path, entry.status() == git2::Status::WT_NEW) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The URL of `remote` of the repository at `root`, if it has one.
pub fn remote_url(root: &Path, remote: &str) -> Option<String> {
    let repo = Repository::open(root).ok()?;
    let remote = repo.find_remote(remote).ok()?;
    remote.url().map(str::to_owned)
}

/// Orders `CI_BRANCH_VARS` values the way [`context`] consults them; `lookup` reads one variable.
pub fn ci_vars(lookup: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    CI_BRANCH_VARS
        .iter()
        .filter_map(|name| lookup(name).filter(|v| !v.is_empty()).map(|v| ((*name).to_owned(), v)))
        .collect()
}

/// The branches a repository knows: local ones, and remote-tracking ones (`origin/x` as `x`).
#[derive(Debug, Clone, Default)]
pub struct Branches {
    pub local: std::collections::HashSet<String>,
    pub remote: std::collections::HashSet<String>,
    /// Whether any remote-tracking branch exists at all (without them, only local branches tell).
    pub has_remote_refs: bool,
}

/// Local and remote-tracking branches of the repository at `root`.
pub fn branches(root: &Path) -> Result<Branches, GitError> {
    let repo = Repository::open(root)
        .map_err(|source| GitError::Read { root: root.to_owned(), source })?;
    let read = |source| GitError::Read { root: root.to_owned(), source };
    let mut out = Branches::default();
    for branch in repo.branches(None).map_err(read)? {
        let (branch, kind) = branch.map_err(read)?;
        let Some(name) = branch.name().map_err(read)?.map(str::to_owned) else { continue };
        match kind {
            git2::BranchType::Local => {
                out.local.insert(name);
            }
            git2::BranchType::Remote => {
                out.has_remote_refs = true;
                if let Some((_, short)) = name.split_once('/').filter(|(_, b)| *b != "HEAD") {
                    out.remote.insert(short.to_owned());
                }
            }
        }
    }
    Ok(out)
}

/// The first `len` characters of a commit id, or all of it when it is shorter (an id typed by a
/// user, a ledger record written by hand): never a panic.
pub fn short(commit: &str, len: usize) -> &str {
    commit.get(..len).unwrap_or(commit)
}

/// The files under `dir` (relative to the repository root) at commit `rev` (a full id or a prefix),
/// read from the object database: the working tree, index and HEAD stay as they are. Returns the
/// full commit id and the files, named by their `/`-separated path inside `dir`; binary files are
/// left out.
pub fn files_at(
    root: &Path,
    rev: &str,
    dir: &Path,
) -> Result<(String, Vec<(String, String)>), GitError> {
    let read = |source| GitError::Read { root: root.to_owned(), source };
    let repo = Repository::open(root).map_err(read)?;
    let commit = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| GitError::MissingCommit { rev: rev.to_owned(), root: root.to_owned() })?;
    let id = commit.id().to_string();
    let tree = commit.tree().map_err(read)?;
    let subtree = match dir.as_os_str().is_empty() {
        true => tree,
        false => tree
            .get_path(dir)
            .and_then(|e| e.to_object(&repo))
            .and_then(|o| o.peel_to_tree())
            .map_err(|_| GitError::MissingDir { commit: id.clone(), dir: dir.to_owned() })?,
    };
    let mut files = Vec::new();
    let mut failed = None;
    subtree
        .walk(git2::TreeWalkMode::PreOrder, |prefix, entry| {
            if entry.kind() != Some(git2::ObjectType::Blob) {
                return git2::TreeWalkResult::Ok;
            }
            match entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                Ok(blob) => {
                    if let Ok(text) = std::str::from_utf8(blob.content()) {
                        files.push((
                            format!("{prefix}{}", entry.name().unwrap_or_default()),
                            text.to_owned(),
                        ));
                    }
                    git2::TreeWalkResult::Ok
                }
                Err(e) => {
                    failed = Some(e);
                    git2::TreeWalkResult::Abort
                }
            }
        })
        .map_err(read)?;
    if let Some(e) = failed {
        return Err(read(e));
    }
    Ok((id, files))
}

/// `Name <email>` of who deploys, as git names the author of a commit made now: the variables
/// `GIT_AUTHOR_NAME`/`GIT_AUTHOR_EMAIL` (read through `var`, the caller's) over `user.name`/
/// `user.email` of the repository's config. CI jobs often set only the variables.
pub fn user(root: &Path, var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let config = Repository::open(root).ok().and_then(|r| r.config().ok());
    let setting =
        |key: &str| config.as_ref().and_then(|c| c.get_string(key).ok()).filter(|v| !v.is_empty());
    let name = var("GIT_AUTHOR_NAME").or_else(|| setting("user.name"));
    let email = var("GIT_AUTHOR_EMAIL").or_else(|| setting("user.email"));
    match (name, email) {
        (Some(name), Some(email)) => Some(format!("{name} <{email}>")),
        (Some(name), None) => Some(name),
        (None, Some(email)) => Some(format!("<{email}>")),
        (None, None) => None,
    }
}

/// What the repository can say about which branches exist, and how far to trust it.
#[derive(Debug, Clone, Default)]
pub struct BranchKnowledge {
    pub branches: Branches,
    /// Why the local view cannot prove a branch is gone (shallow or single-branch clone, narrowed
    /// fetch refspec); `None` when it can.
    pub incomplete: Option<String>,
    /// When remote-tracking refs were last updated (fetch or clone): a branch made after that is
    /// unknown here, not gone.
    pub last_fetch: Option<std::time::SystemTime>,
}

/// Local and remote-tracking branches, and whether their absence means anything: a CI checkout
/// (shallow, one branch fetched) knows almost no branches, so every environment would look orphaned.
///
/// `running_for` is the branch the command runs for (HEAD's, `--branch` or the CI variable's). A
/// clone with a remote but no remote-tracking branch at all, or a detached checkout (how CI jobs
/// check out, often after fetching their own ref only), cannot prove any branch gone.
pub fn branch_knowledge(root: &Path, running_for: &str) -> Result<BranchKnowledge, GitError> {
    let read = |source| GitError::Read { root: root.to_owned(), source };
    let repo = Repository::open(root).map_err(read)?;
    let branches = branches(root)?;
    let mut reasons = Vec::new();
    if repo.is_shallow() {
        reasons.push("the repository is a shallow clone".to_owned());
    }
    let remotes: Vec<String> =
        repo.remotes().map_err(read)?.iter().flatten().map(str::to_owned).collect();
    if !remotes.is_empty() && !branches.has_remote_refs {
        reasons.push(format!("remote `{}` is configured but this clone has no remote-tracking branch (a checkout of one ref?)", remotes.join("`, `")));
    } else if !remotes.is_empty() && repo.head_detached().unwrap_or(false) {
        // How CI jobs check out: the refs they fetched may be their own branch's and nothing else,
        // and nothing here tells a complete fetch from a partial one.
        reasons.push(format!("HEAD is detached (a CI checkout, building `{running_for}`?): the refs this clone fetched may be only some of the remote's branches"));
    }
    for name in repo.remotes().map_err(read)?.iter().flatten() {
        let remote = repo.find_remote(name).map_err(read)?;
        let specs: Vec<String> =
            remote.fetch_refspecs().map_err(read)?.iter().flatten().map(str::to_owned).collect();
        if !specs.is_empty() && !specs.iter().any(|spec| spec.contains("refs/heads/*")) {
            reasons.push(format!("remote `{name}` fetches only {}", specs.join(", ")));
        }
    }
    let common = repo.commondir();
    // Only what fetches write: `packed-refs` also changes when a local branch is deleted, which
    // would make the last fetch look newer than it was (the unsafe direction).
    let remote_dirs = std::fs::read_dir(common.join("refs/remotes"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path());
    let last_fetch = [common.join("FETCH_HEAD"), common.join("refs/remotes")]
        .into_iter()
        .chain(remote_dirs)
        .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .max();
    Ok(BranchKnowledge {
        branches,
        incomplete: (!reasons.is_empty()).then(|| reasons.join("; ")),
        last_fetch,
    })
}

/// The branches of remote `name` as it lists them now (`git ls-remote`), via git2.
pub fn remote_branches(
    root: &Path,
    name: &str,
) -> Result<std::collections::HashSet<String>, GitError> {
    let read = |source| GitError::Read { root: root.to_owned(), source };
    let repo = Repository::open(root).map_err(read)?;
    let mut remote = repo.find_remote(name).map_err(read)?;
    let connection = remote.connect_auth(git2::Direction::Fetch, None, None).map_err(read)?;
    let heads = connection.list().map_err(read)?;
    Ok(heads
        .iter()
        .filter_map(|h| h.name().strip_prefix("refs/heads/").map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod dirty_tests {
    use super::*;

    #[test]
    fn only_changes_that_can_reach_an_app_count() {
        let root = Path::new("/repo");
        let scope = DirtyScope {
            include: vec![
                root.join("billing"),
                root.join("billing/infra"),
                root.join("apps/orders"),
            ],
            exclude: vec![root.join("target")],
        };
        // (status path, untracked, counts)
        let table = [
            ("README.md", false, true),
            ("notes.txt", true, false),
            ("target/", true, false),
            ("target/jiti/production/billing.template.json", false, false),
            ("billing/src/new.rs", true, true),
            ("billing/infra/", true, true),
            ("apps/", true, true),
            ("docs/", true, false),
            ("billingx/", true, false),
        ];
        for (path, untracked, counts) in table {
            assert_eq!(scope.counts(root, path, untracked), counts, "{path}");
        }
        // An app at the repository's root: its target folder still never counts.
        let scope = DirtyScope {
            include: vec![root.to_owned(), root.join("infra")],
            exclude: vec![root.join("target")],
        };
        assert!(!scope.counts(root, "target/", true));
        assert!(scope.counts(root, "notes.txt", true));
    }
}
