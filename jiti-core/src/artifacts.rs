//! App artifacts: the code an app ships with its stack (`[artifacts.<name>]` in `jiti.toml`).
//! A Lambda binary is built for Amazon Linux 2023 ([`build`], checked by [`elf`]), zipped with
//! the same bytes for the same code ([`package`]), seen by the template as
//! `artifacts.<name>.{bucket,key,sha256,size}` and matched to the functions that run it
//! ([`functions`]). No AWS here: uploading and the `CodeSha256` check are [`crate::ship`]'s, and
//! running the build (a child process whose output the user sees) is the caller's.

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use crate::config::Arch;
use crate::config::{ArtifactConfig, ArtifactKind};

pub mod build;
pub mod elf;
pub mod functions;
pub mod package;

pub use build::{
    BinaryError, BuildPlan, BuildRequest, RUNTIME_GLIBC, Tool, Tools, check_binary, plan,
};
pub use package::Package;

/// What an artifact's template variables hold before it is built (`render`, `check`): plain
/// scalars, valid anywhere a YAML value may stand, like the placeholders of dependency outputs.
pub const PLACEHOLDER: &str = "known-after-build";

/// The profile a Lambda binary is built with unless `profile` says otherwise.
pub const DEFAULT_PROFILE: &str = "release";

/// One artifact of an app, as configured and resolved against its package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactSpec {
    pub name: String,
    pub app: String,
    pub package: String,
    pub kind: ArtifactKind,
    /// `bin` as configured.
    pub bin: Option<String>,
    /// The package's binary targets.
    pub binaries: Vec<String>,
    pub arch: Arch,
    pub features: Vec<String>,
    pub profile: String,
    /// `kind = "zip"`: the folder, absolute.
    pub folder: Option<PathBuf>,
    pub config_path: PathBuf,
}

/// An artifact that cannot be built as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("artifact `{name}` of app `{app}` builds binary `{bin}`, and package `{package}` has no such binary (it has: {}); fix `bin` under `[artifacts.{name}]` in `{}`", list(.binaries), config.display())]
    NoSuchBinary {
        app: String,
        name: String,
        package: String,
        bin: String,
        binaries: Vec<String>,
        config: PathBuf,
    },
    #[error("artifact `{name}` of app `{app}`: package `{package}` has {} binaries ({}); say which one with `bin` under `[artifacts.{name}]` in `{}`", binaries.len(), list(.binaries), config.display())]
    WhichBinary {
        app: String,
        name: String,
        package: String,
        binaries: Vec<String>,
        config: PathBuf,
    },
}

fn list(names: &[String]) -> String {
    match names.is_empty() {
        true => "none".to_owned(),
        false => names.join(", "),
    }
}

impl ArtifactSpec {
    /// The configured artifacts of an app whose package has `binaries`.
    pub fn from_config(
        app: &str,
        package: &str,
        package_dir: &std::path::Path,
        binaries: &[String],
        config_path: &std::path::Path,
        artifacts: &indexmap::IndexMap<crate::config::ArtifactName, ArtifactConfig>,
    ) -> Vec<ArtifactSpec> {
        artifacts
            .iter()
            .map(|(name, c)| ArtifactSpec {
                name: name.to_string(),
                app: app.to_owned(),
                package: package.to_owned(),
                kind: c.kind,
                bin: c.bin.clone(),
                binaries: binaries.to_vec(),
                arch: c.arch.unwrap_or(Arch::X86_64),
                features: c.features.clone(),
                profile: c.profile.clone().unwrap_or_else(|| DEFAULT_PROFILE.to_owned()),
                folder: c.path.as_ref().map(|p| package_dir.join(p)),
                config_path: config_path.to_owned(),
            })
            .collect()
    }

    /// What cargo builds for a `lambda` artifact: `bin`, else the package's only binary.
    pub fn build_request(&self) -> Result<BuildRequest, Box<SpecError>> {
        let bin = match (&self.bin, self.binaries.as_slice()) {
            (Some(bin), all) if all.contains(bin) => bin.clone(),
            (Some(bin), _) => {
                return Err(Box::new(SpecError::NoSuchBinary {
                    app: self.app.clone(),
                    name: self.name.clone(),
                    package: self.package.clone(),
                    bin: bin.clone(),
                    binaries: self.binaries.clone(),
                    config: self.config_path.clone(),
                }));
            }
            (None, [only]) => only.clone(),
            (None, all) => {
                return Err(Box::new(SpecError::WhichBinary {
                    app: self.app.clone(),
                    name: self.name.clone(),
                    package: self.package.clone(),
                    binaries: all.to_vec(),
                    config: self.config_path.clone(),
                }));
            }
        };
        Ok(BuildRequest {
            package: self.package.clone(),
            bin,
            arch: self.arch,
            profile: self.profile.clone(),
            features: self.features.clone(),
        })
    }
}

/// A built artifact where it is kept: what the template sees and the release records.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct ArtifactRef {
    pub name: String,
    pub bucket: String,
    pub key: String,
    /// SHA-256 of the zip, hex. Lambda's `CodeSha256` is the same digest in base64.
    pub sha256: String,
    pub size: u64,
}

impl ArtifactRef {
    /// The stand-in a template sees before the artifact is built.
    pub fn placeholder(app: &str, name: &str) -> ArtifactRef {
        ArtifactRef {
            name: name.to_owned(),
            bucket: PLACEHOLDER.to_owned(),
            key: crate::layout::artifact_key(app, name, PLACEHOLDER),
            sha256: PLACEHOLDER.to_owned(),
            size: 0,
        }
    }

    /// The first `n` characters of the hash, for `history` and progress lines.
    pub fn short_hash(&self) -> &str {
        self.sha256.get(..12).unwrap_or(&self.sha256)
    }
}

/// The template variables `artifacts.<name>.*` of an app: the built ones, placeholders for the rest.
pub fn template_variables(
    app: &str,
    specs: &[ArtifactSpec],
    built: &BTreeMap<String, ArtifactRef>,
) -> serde_json::Value {
    let vars: serde_json::Map<String, serde_json::Value> = specs
        .iter()
        .map(|s| {
            let r = built.get(&s.name).cloned().unwrap_or_else(|| ArtifactRef::placeholder(app, &s.name));
            (s.name.clone(), serde_json::json!({"bucket": r.bucket, "key": r.key, "sha256": r.sha256, "size": r.size}))
        })
        .collect();
    serde_json::Value::Object(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(bin: Option<&str>, binaries: &[&str]) -> ArtifactSpec {
        ArtifactSpec {
            name: "api".into(),
            app: "orders".into(),
            package: "orders-api".into(),
            kind: ArtifactKind::Lambda,
            bin: bin.map(str::to_owned),
            binaries: binaries.iter().map(|b| (*b).to_owned()).collect(),
            arch: Arch::X86_64,
            features: Vec::new(),
            profile: DEFAULT_PROFILE.into(),
            folder: None,
            config_path: PathBuf::from("orders-api/infra/jiti.toml"),
        }
    }

    #[test]
    fn the_binary_is_the_named_one_or_the_only_one() {
        assert_eq!(spec(None, &["orders-api"]).build_request().unwrap().bin, "orders-api");
        assert_eq!(spec(Some("b"), &["a", "b"]).build_request().unwrap().bin, "b");
        let e = spec(None, &["a", "b"]).build_request().unwrap_err().to_string();
        assert!(e.contains("has 2 binaries (a, b)") && e.contains("`bin`"), "{e}");
        let e = spec(Some("c"), &["a"]).build_request().unwrap_err().to_string();
        assert!(e.contains("no such binary (it has: a)") && e.contains("jiti.toml"), "{e}");
        let e = spec(None, &[]).build_request().unwrap_err().to_string();
        assert!(e.contains("has 0 binaries (none)"), "{e}");
    }

    #[test]
    fn unbuilt_artifacts_are_plain_scalar_placeholders() {
        let vars = template_variables("orders", &[spec(None, &["x"])], &BTreeMap::new());
        assert_eq!(vars["api"]["key"], "artifacts/orders/api/known-after-build.zip");
        assert_eq!(vars["api"]["bucket"], PLACEHOLDER);
        let built = ArtifactRef {
            name: "api".into(),
            bucket: "b".into(),
            key: "k".into(),
            sha256: "ab".into(),
            size: 3,
        };
        let vars = template_variables(
            "orders",
            &[spec(None, &["x"])],
            &BTreeMap::from([("api".to_owned(), built)]),
        );
        assert_eq!(
            vars["api"],
            serde_json::json!({"bucket": "b", "key": "k", "sha256": "ab", "size": 3})
        );
    }
}
