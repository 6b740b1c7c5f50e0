//! Which functions of a template run which artifact (their `Code.S3Key` is the artifact's key),
//! and what `check` says of them: a `lambda` artifact whose binary cannot be told, a function
//! whose `Architectures` is not its artifact's.

use std::collections::BTreeMap;

use super::{Arch, ArtifactRef, ArtifactSpec};
use crate::template::Template;

/// A function of the template whose code is an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionArtifact {
    pub logical_id: String,
    pub artifact: String,
    /// `Architectures` as written (Lambda's default, when absent: `x86_64`).
    pub architectures: Vec<String>,
}

/// The template's `AWS::Lambda::Function`s whose `Code.S3Key` is the key of one of `refs`.
pub fn function_artifacts(template: &Template, refs: &[ArtifactRef]) -> Vec<FunctionArtifact> {
    template
        .resources()
        .filter(|(_, r)| r["Type"] == "AWS::Lambda::Function")
        .filter_map(|(id, r)| {
            let key = r["Properties"]["Code"]["S3Key"].as_str()?;
            let artifact = refs.iter().find(|a| a.key == key)?;
            let architectures = match r["Properties"]["Architectures"].as_array() {
                Some(list) => list.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
                None => vec![Arch::X86_64.lambda_name().to_owned()],
            };
            Some(FunctionArtifact {
                logical_id: id.clone(),
                artifact: artifact.name.clone(),
                architectures,
            })
        })
        .collect()
}

/// What `check` says of an app's artifacts, as (resource, message): a `lambda` artifact whose
/// binary cannot be told, and functions built from an artifact for another CPU.
pub fn problems(
    app: &str,
    specs: &[ArtifactSpec],
    built: &BTreeMap<String, ArtifactRef>,
    template: &Template,
) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    let mut refs = Vec::new();
    for spec in specs {
        if spec.kind == crate::config::ArtifactKind::Lambda
            && let Err(e) = spec.build_request()
        {
            out.push((None, e.to_string()));
        }
        refs.push(
            built
                .get(&spec.name)
                .cloned()
                .unwrap_or_else(|| ArtifactRef::placeholder(app, &spec.name)),
        );
    }
    for f in function_artifacts(template, &refs) {
        let Some(spec) = specs.iter().find(|s| s.name == f.artifact) else { continue };
        if spec.kind == crate::config::ArtifactKind::Lambda
            && f.architectures != [spec.arch.lambda_name()]
        {
            out.push((
                Some(f.logical_id.clone()),
                format!(
                    "function `{}` runs artifact `{}`, built for `{}`, but its `Architectures` is [{}]: set `Architectures: [{}]` or `arch` under `[artifacts.{}]`",
                    f.logical_id,
                    spec.name,
                    spec.arch.lambda_name(),
                    f.architectures.join(", "),
                    spec.arch.lambda_name(),
                    spec.name
                ),
            ));
        }
    }
    out
}
