//! The CI files `cargo jiti ci init` writes (a GitHub Actions workflow, a `.gitlab-ci.yml`), and
//! the rule that keeps a team's edits: a file is rewritten only while it is exactly what `init`
//! wrote (its checksum line says so), never once someone changed it.

use std::path::Path;

use sha2::{Digest, Sha256};

/// Where each provider reads its file, relative to the repository's root.
pub const GITHUB_PATH: &str = ".github/workflows/jiti.yml";
pub const GITLAB_PATH: &str = ".gitlab-ci.yml";

/// The line that records what `init` wrote: the SHA-256 of everything after it.
const CHECKSUM: &str = "# cargo-jiti checksum: sha256:";

/// What the generated files depend on in the workspace.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The cargo-jiti the CI installs (this one's version).
    pub version: String,
    /// Branches that feed a protected environment of any app: pushes to them deploy.
    pub protected_branches: Vec<String>,
    /// Some app ships a Lambda package: the CI installs zig and cargo-zigbuild to build it.
    pub lambda: bool,
    /// The region the credentials are for when the repository sets none (apps with a `region` in
    /// `jiti.toml` deploy there whatever this says).
    pub region: String,
}

/// The GitHub Actions workflow.
pub fn github(spec: &Spec) -> String {
    let tools = match spec.lambda {
        true => "pip install cargo-zigbuild==0.24.1 ziglang==0.15.2\n          ",
        false => "",
    };
    stamp(
        "# Environments follow pull requests: written by `cargo jiti ci init --github`.\n\
         # Yours to edit: `ci init` rewrites this file only while it is exactly as written.\n",
        &fill(include_str!("github.yml"), spec, &spec.protected_branches.join(", "), tools),
    )
}

/// The GitLab CI file.
pub fn gitlab(spec: &Spec) -> String {
    let branches = spec
        .protected_branches
        .iter()
        .map(|b| format!("$CI_COMMIT_BRANCH == \"{b}\""))
        .collect::<Vec<_>>()
        .join(" || ");
    let tools = match spec.lambda {
        true => {
            "    - apt-get update -qq && apt-get install -y -qq python3-pip >/dev/null\n    - pip3 install --break-system-packages cargo-zigbuild==0.24.1 ziglang==0.15.2\n"
        }
        false => "",
    };
    stamp(
        "# Environments follow merge requests: written by `cargo jiti ci init --gitlab`.\n\
         # Yours to edit: `ci init` rewrites this file only while it is exactly as written.\n",
        &fill(include_str!("gitlab.yml"), spec, &branches, tools),
    )
}

/// The template with its `@NAME@` holes filled.
fn fill(template: &str, spec: &Spec, branches: &str, tools: &str) -> String {
    template
        .replace("@BRANCHES@", branches)
        .replace("@TOOLS@", tools)
        .replace("@VERSION@", &spec.version)
        .replace("@REGION@", &spec.region)
}

fn stamp(header: &str, body: &str) -> String {
    format!("{header}{CHECKSUM}{}\n{body}", hex(body))
}

fn hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// What [`write`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Created,
    /// It was as an earlier `init` wrote it: now it is as this one writes it.
    Updated,
    UpToDate,
    /// Someone changed it (or wrote it by hand): left alone.
    Kept,
}

/// Writes `text` to `path` unless a file someone changed is there.
pub fn write(path: &Path, text: &str) -> std::io::Result<Written> {
    let old = match std::fs::read_to_string(path) {
        Ok(old) => old,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::layout::write_atomic(path, text)?;
            return Ok(Written::Created);
        }
        Err(e) => return Err(e),
    };
    if old == text {
        return Ok(Written::UpToDate);
    }
    if !as_written(&old) {
        return Ok(Written::Kept);
    }
    crate::layout::write_atomic(path, text)?;
    Ok(Written::Updated)
}

/// Whether `text` is exactly what an `init` wrote: its checksum line matches what follows it.
fn as_written(text: &str) -> bool {
    let Some(start) = text.find(CHECKSUM) else { return false };
    let rest = &text[start + CHECKSUM.len()..];
    let Some((sum, body)) = rest.split_once('\n') else { return false };
    sum == hex(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            version: "1.2.3".into(),
            protected_branches: vec!["main".into(), "release".into()],
            lambda: true,
            region: "eu-west-1".into(),
        }
    }

    #[test]
    fn a_file_is_rewritten_only_while_it_is_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(GITHUB_PATH);
        let first = github(&spec());
        assert_eq!(write(&path, &first).unwrap(), Written::Created);
        assert_eq!(write(&path, &first).unwrap(), Written::UpToDate);
        // A newer cargo-jiti writes another file: an untouched one follows it.
        let newer = github(&Spec { version: "1.3.0".into(), ..spec() });
        assert_eq!(write(&path, &newer).unwrap(), Written::Updated);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), newer);
        // An edit (one character) keeps the file as the team has it.
        let edited = newer.replace("timeout-minutes: 90", "timeout-minutes: 60");
        assert_ne!(edited, newer);
        std::fs::write(&path, &edited).unwrap();
        assert_eq!(write(&path, &first).unwrap(), Written::Kept);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
        // A file written by hand (no checksum line) is never touched.
        std::fs::write(&path, "name: ours\n").unwrap();
        assert_eq!(write(&path, &first).unwrap(), Written::Kept);
    }

    #[test]
    fn the_files_name_the_protected_branches_version_and_tools() {
        let gh = github(&spec());
        assert!(gh.contains("branches: [main, release]"), "{gh}");
        assert!(gh.contains("# - a push to main, release: deploy"), "{gh}");
        assert!(gh.contains("cargo-jiti --version 1.2.3"), "{gh}");
        assert!(gh.contains("cargo-zigbuild"), "{gh}");
        let gl = gitlab(&Spec { lambda: false, ..spec() });
        assert!(
            gl.contains(r#"$CI_COMMIT_BRANCH == "main" || $CI_COMMIT_BRANCH == "release""#),
            "{gl}"
        );
        assert!(!gl.contains("cargo-zigbuild"), "{gl}");
        for text in [&gh, &gl] {
            assert!(
                !text.contains("@BRANCHES@")
                    && !text.contains("@VERSION@")
                    && !text.contains("@TOOLS@")
                    && !text.contains("@REGION@"),
                "{text}"
            );
            assert!(as_written(text));
        }
    }
}
