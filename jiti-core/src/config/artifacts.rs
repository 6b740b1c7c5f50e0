//! `[artifacts.<name>]` of `jiti.toml`: the code an app ships (see `crate::artifacts`).

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ArtifactName, RelativePath};

/// `[artifacts.<name>]`: one package of code, built and zipped by cargo-jiti, uploaded to the
/// artifacts bucket under a key made of its SHA-256.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArtifactConfig {
    /// `lambda`: a binary of this package, built for Amazon Linux 2023 and zipped as `bootstrap`
    /// (the `provided.al2023` runtime). `zip`: a folder of the package, zipped as it is.
    pub kind: ArtifactKind,
    /// `lambda`: the binary target. Default: the package's only binary.
    pub bin: Option<String>,
    /// `lambda`: the CPU, as the function's `Architectures` says it. Default: `x86_64`.
    pub arch: Option<Arch>,
    /// `lambda`: cargo features to build with.
    #[serde(default)]
    pub features: Vec<String>,
    /// `lambda`: the cargo profile. Default: `release`.
    pub profile: Option<String>,
    /// `zip`: the folder, relative to the package's folder.
    pub path: Option<String>,
}

/// What an artifact is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    Lambda,
    Zip,
}

/// A Lambda function's `Architectures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize, JsonSchema)]
pub enum Arch {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl Arch {
    /// The Rust target of Amazon Linux on this CPU.
    pub fn triple(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// How CloudFormation's `Architectures` names it.
    pub fn lambda_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// Rules across one artifact's keys: (the key to point at, the message, a hint).
pub(super) fn validate(
    name: &ArtifactName,
    artifact: &ArtifactConfig,
) -> Result<(), (&'static str, String, Option<String>)> {
    let lambda_only = [
        ("bin", artifact.bin.is_some()),
        ("arch", artifact.arch.is_some()),
        ("features", !artifact.features.is_empty()),
        ("profile", artifact.profile.is_some()),
    ];
    match (artifact.kind, &artifact.path) {
        (ArtifactKind::Zip, None) => Err((
            "kind",
            format!("artifact `{name}` of kind `zip` has no `path`"),
            Some("set `path` to the folder to zip, relative to the package".into()),
        )),
        (ArtifactKind::Zip, Some(path)) => {
            if let Some((key, _)) = lambda_only.iter().find(|(_, set)| *set) {
                return Err((
                    key,
                    format!("`{key}` is for `kind = \"lambda\"`; artifact `{name}` zips a folder"),
                    Some(format!("remove `{key}`")),
                ));
            }
            match RelativePath::try_from(path.clone()) {
                Ok(_) => Ok(()),
                Err(_) => Err((
                    "path",
                    format!(
                        "`path` of artifact `{name}` must be a folder inside the package, without `..`"
                    ),
                    None,
                )),
            }
        }
        (ArtifactKind::Lambda, Some(_)) => Err((
            "path",
            format!("artifact `{name}` of kind `lambda` is built from a binary, not a folder"),
            Some("remove `path`, or use `kind = \"zip\"`".into()),
        )),
        (ArtifactKind::Lambda, None) => Ok(()),
    }
}
