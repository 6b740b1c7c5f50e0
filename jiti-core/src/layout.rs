//! Every path and key cargo-jiti writes, in one place: `target/jiti/<env>/…` on disk, the artifacts
//! bucket's name and the prefixes in it; and the one way a file is written (whole or not at all).

use std::io;
use std::path::{Path, PathBuf};

/// The artifacts bucket of an account and region is this, then `<account>-<region>`.
pub const ARTIFACTS_BUCKET_PREFIX: &str = "cargo-jiti-artifacts-";
/// The release ledger's prefix in the artifacts bucket: `releases/<app>/<env>/<id>.json`.
pub const RELEASES: &str = "releases/";
/// Templates too large to send inline: `templates/<app>/<env>/<hash>.json`.
pub const TEMPLATES: &str = "templates/";

/// Built code: `artifacts/<app>/<name>/<sha256>.zip`, by content, never overwritten.
pub const ARTIFACTS: &str = "artifacts/";

/// The key of an app's artifact: by content, so the same bytes are uploaded once and a key's
/// bytes never change (CloudFormation and Lambda would not notice new bytes at an old key).
pub fn artifact_key(app: &str, name: &str, sha256: &str) -> String {
    format!("{ARTIFACTS}{app}/{name}/{sha256}.zip")
}

/// `cargo-jiti-artifacts-<account>-<region>`: one per account and region, made on first use.
pub fn artifacts_bucket(account: &str, region: &str) -> String {
    format!("{ARTIFACTS_BUCKET_PREFIX}{account}-{region}")
}

/// Where an app's releases are kept, every environment's: `releases/<app>/`.
pub fn releases_of_app(app: &str) -> String {
    format!("{RELEASES}{app}/")
}

/// Where an app's releases in an environment are kept: `releases/<app>/<env>/`.
pub fn releases(app: &str, environment: &str) -> String {
    format!("{RELEASES}{app}/{environment}/")
}

/// The key of a large template: by content, so re-uploading the same template changes nothing.
pub fn template_key(app: &str, environment: &str, hash: &str) -> String {
    format!("{TEMPLATES}{app}/{environment}/{hash}.json")
}

/// The URL CloudFormation reads an uploaded template from.
pub fn template_url(bucket: &str, key: &str) -> String {
    format!("https://{bucket}.s3.amazonaws.com/{key}")
}

/// `target/jiti/<env>/`: what cargo-jiti writes for an environment (templates, outputs).
pub fn environment_dir(target_dir: &Path, environment: &str) -> PathBuf {
    target_dir.join("jiti").join(environment)
}

/// `target/jiti/<env>/<app>.template.json`: the rendered template, as deployed.
pub fn template_file(target_dir: &Path, environment: &str, app: &str) -> PathBuf {
    environment_dir(target_dir, environment).join(format!("{app}.template.json"))
}

/// `target/jiti/<env>/<app>.outputs.json`: the stack's outputs after a deploy (secrets masked).
pub fn outputs_file(target_dir: &Path, environment: &str, app: &str) -> PathBuf {
    environment_dir(target_dir, environment).join(format!("{app}.outputs.json"))
}

/// `target/jiti/<env>/<app>.deployed.json`: this checkout's copy of its last deploy (see
/// [`crate::hotswap::DeployedCopy`]).
pub fn deployed_file(target_dir: &Path, environment: &str, app: &str) -> PathBuf {
    environment_dir(target_dir, environment).join(format!("{app}.deployed.json"))
}

/// `target/jiti/artifacts/<app>/<name>.zip`: an artifact's package as last built.
pub fn package_file(target_dir: &Path, app: &str, name: &str) -> PathBuf {
    target_dir.join("jiti").join("artifacts").join(app).join(format!("{name}.zip"))
}

/// Writes `contents` to `path` whole or not at all: into a temporary file beside it, then renamed
/// over it (a rename within a folder is atomic), so an interrupted write never leaves half a file
/// for `cfn-lint`, a reviewer or the next command. Creates the folder.
pub fn write_atomic(path: &Path, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, contents).and_then(|()| std::fs::rename(&tmp, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_paths() {
        assert_eq!(
            artifacts_bucket("123456789012", "eu-west-1"),
            "cargo-jiti-artifacts-123456789012-eu-west-1"
        );
        assert_eq!(releases("orders-api", "feature-x"), "releases/orders-api/feature-x/");
        assert_eq!(artifact_key("orders-api", "api", "ab12"), "artifacts/orders-api/api/ab12.zip");
        assert_eq!(
            template_key("orders-api", "main", "ab12"),
            "templates/orders-api/main/ab12.json"
        );
        assert_eq!(
            outputs_file(Path::new("target"), "feature-x", "billing"),
            Path::new("target/jiti/feature-x/billing.outputs.json")
        );
        assert_eq!(
            template_file(Path::new("target"), "feature-x", "billing"),
            Path::new("target/jiti/feature-x/billing.template.json")
        );
    }

    #[test]
    fn an_atomic_write_replaces_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/out.json");
        write_atomic(&path, "first").unwrap();
        write_atomic(&path, "second").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.json"]);
        // A folder in the way: an error, and nothing left behind.
        std::fs::create_dir_all(dir.path().join("c/out.json")).unwrap();
        assert!(write_atomic(&dir.path().join("c/out.json"), "x").is_err());
        assert_eq!(std::fs::read_dir(dir.path().join("c")).unwrap().count(), 1);
    }
}
