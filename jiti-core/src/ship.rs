//! Shipping built code: packages put where the stack reads them (HeadObject first, upload only
//! what the bucket lacks, never over an existing key: the key is the content's hash), the
//! objects a rollback needs checked, and after a deploy each function's `CodeSha256` compared
//! with its artifact (an emulator or a stale object could otherwise serve other code unnoticed).

use crate::artifacts::functions::function_artifacts;
use crate::artifacts::{ArtifactRef, Package, package};
use crate::cloud::{ArtifactStore, CloudError, FunctionApi};
use crate::layout;
use crate::template::Template;

/// One artifact of a build, as `build` and `deploy` report it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct BuiltArtifact {
    pub app: String,
    pub name: String,
    pub kind: crate::config::ArtifactKind,
    /// `target/jiti/artifacts/<app>/<name>.zip`: the package as built.
    pub file: std::path::PathBuf,
    pub sha256: String,
    pub size: u64,
    /// Where it is kept (`None` for `build --no-upload`).
    pub key: Option<String>,
    /// Uploaded now (`false`: the bucket had it, or nothing was uploaded).
    pub uploaded: bool,
    /// Time cargo took (the build), and the zipping.
    pub build_seconds: f64,
    pub package_seconds: f64,
}

/// What [`publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The app's artifacts, in the order given.
    pub refs: Vec<ArtifactRef>,
    /// Names of the packages uploaded now (the others were there already).
    pub uploaded: Vec<String>,
    pub bytes_uploaded: u64,
}

/// Uploads the packages of `app` that `store` lacks; returns where each one is.
pub async fn publish<S: ArtifactStore>(
    store: &S,
    app: &str,
    packages: &[Package],
) -> Result<Published, CloudError> {
    let bucket = store.bucket().await?;
    let uploads = packages.iter().map(|p| {
        let key = layout::artifact_key(app, &p.name, &p.sha256);
        async move {
            let uploaded = match store.object_size(&key).await? {
                Some(_) => false,
                None => {
                    store.put_package(&key, p.bytes.clone()).await?;
                    true
                }
            };
            Ok::<_, CloudError>((uploaded, key))
        }
    });
    let done = futures_util::future::try_join_all(uploads).await?;
    let mut published = Published { refs: Vec::new(), uploaded: Vec::new(), bytes_uploaded: 0 };
    for (p, (uploaded, key)) in packages.iter().zip(done) {
        if uploaded {
            published.uploaded.push(p.name.clone());
            published.bytes_uploaded += p.size();
        }
        published.refs.push(ArtifactRef {
            name: p.name.clone(),
            bucket: bucket.clone(),
            key,
            sha256: p.sha256.clone(),
            size: p.size(),
        });
    }
    Ok(published)
}

/// Where [`publish`] would put the packages, uploading nothing (`diff`).
pub async fn address<S: ArtifactStore>(
    store: &S,
    app: &str,
    packages: &[Package],
) -> Result<Published, CloudError> {
    let bucket = store.bucket_name().await?;
    Ok(Published { refs: refs(&bucket, app, packages), uploaded: Vec::new(), bytes_uploaded: 0 })
}

/// Where the packages of `app` are kept in `bucket`: by content.
pub fn refs(bucket: &str, app: &str, packages: &[Package]) -> Vec<ArtifactRef> {
    packages
        .iter()
        .map(|p| ArtifactRef {
            name: p.name.clone(),
            bucket: bucket.to_owned(),
            key: layout::artifact_key(app, &p.name, &p.sha256),
            sha256: p.sha256.clone(),
            size: p.size(),
        })
        .collect()
}

/// The artifacts of `refs` no longer in the bucket (collected by `gc`), checked before a rollback
/// changes anything.
pub async fn missing<S: ArtifactStore>(
    store: &S,
    refs: &[ArtifactRef],
) -> Result<Vec<ArtifactRef>, CloudError> {
    let sizes =
        futures_util::future::try_join_all(refs.iter().map(|r| store.object_size(&r.key))).await?;
    Ok(refs.iter().zip(sizes).filter(|(_, size)| size.is_none()).map(|(r, _)| r.clone()).collect())
}

/// A deployed function and the code it runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct CodeCheck {
    pub logical_id: String,
    pub function: String,
    pub artifact: String,
    /// The function's `CodeSha256` (base64).
    pub code_sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error(transparent)]
    Cloud(#[from] CloudError),
    #[error(
        "function {function} ({logical_id}) runs code with CodeSha256 {found}, not artifact `{artifact}` ({want}): the object at its key holds other bytes; redeploy, and if it persists delete the object so that it is uploaded again"
    )]
    Mismatch { logical_id: String, function: String, artifact: String, want: String, found: String },
    #[error("function {logical_id} of stack {stack} was not found after the deploy")]
    Missing { logical_id: String, stack: String },
}

/// Checks that each function of `stack` built from an artifact runs that artifact's bytes.
pub async fn check_code<F: FunctionApi>(
    api: &F,
    stack: &str,
    template: &Template,
    refs: &[ArtifactRef],
) -> Result<Vec<CodeCheck>, CodeError> {
    let wanted = function_artifacts(template, refs);
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let physical = api.stack_functions(stack).await?;
    let mut checks = Vec::new();
    for f in wanted {
        let Some((_, function)) = physical.iter().find(|(l, _)| *l == f.logical_id) else {
            return Err(CodeError::Missing { logical_id: f.logical_id, stack: stack.to_owned() });
        };
        let artifact = refs.iter().find(|r| r.name == f.artifact).map(|r| r.sha256.as_str());
        let want = artifact.and_then(package::code_sha256).unwrap_or_default();
        let Some(found) = api.code_sha256(function).await? else {
            return Err(CodeError::Missing { logical_id: f.logical_id, stack: stack.to_owned() });
        };
        if found != want {
            return Err(CodeError::Mismatch {
                logical_id: f.logical_id,
                function: function.clone(),
                artifact: f.artifact,
                want,
                found,
            });
        }
        checks.push(CodeCheck {
            logical_id: f.logical_id,
            function: function.clone(),
            artifact: f.artifact,
            code_sha256: found,
        });
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::package;
    use crate::testing::Fake;

    fn template(key: &str, architectures: Option<&str>) -> Template {
        let arch = architectures.map(|a| format!(", Architectures: [{a}]")).unwrap_or_default();
        Template::parse(&format!(
            "Resources:\n  Api: {{Type: AWS::Lambda::Function, Properties: {{Code: {{S3Bucket: b, S3Key: {key}}}{arch}}}}}\n  Other: {{Type: AWS::Lambda::Function, Properties: {{Code: {{ZipFile: x}}}}}}\n"
        ))
        .unwrap()
    }

    fn artifact(sha256: &str) -> ArtifactRef {
        ArtifactRef {
            name: "api".into(),
            bucket: "b".into(),
            key: format!("artifacts/orders/api/{sha256}.zip"),
            sha256: sha256.into(),
            size: 1,
        }
    }

    #[tokio::test]
    async fn a_function_must_run_the_artifacts_exact_bytes() {
        let hex = package::sha256_hex(b"zip");
        let a = artifact(&hex);
        let t = template(&a.key, None);
        assert_eq!(
            function_artifacts(&t, std::slice::from_ref(&a)),
            [crate::artifacts::functions::FunctionArtifact {
                logical_id: "Api".into(),
                artifact: "api".into(),
                architectures: vec!["x86_64".into()]
            }],
            "only the function whose key is the artifact's, with Lambda's default CPU"
        );
        let mut fake = Fake {
            functions: vec![
                ("Api".into(), "orders-Api-1".into()),
                ("Other".into(), "orders-Other-2".into()),
            ],
            ..Fake::default()
        };
        fake.code.insert("orders-Api-1".into(), package::code_sha256(&hex).unwrap());
        let checks = check_code(&fake, "orders", &t, std::slice::from_ref(&a)).await.unwrap();
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].function, "orders-Api-1");
        assert_eq!(fake.calls(), ["ListStackResources", "GetFunction"]);
        // The object at the key held other bytes (an overwritten key, a stale emulator).
        fake.code.insert(
            "orders-Api-1".into(),
            package::code_sha256(&package::sha256_hex(b"old")).unwrap(),
        );
        let e = check_code(&fake, "orders", &t, std::slice::from_ref(&a)).await.unwrap_err();
        assert!(matches!(e, CodeError::Mismatch { .. }), "{e}");
        assert!(e.to_string().contains("orders-Api-1 (Api)"), "{e}");
        fake.code.clear();
        let e = check_code(&fake, "orders", &t, &[a]).await.unwrap_err();
        assert!(matches!(e, CodeError::Missing { .. }), "{e}");
        // No function built from an artifact: no call at all.
        let before = fake.calls().len();
        assert!(
            check_code(&fake, "orders", &template("k", None), &[artifact("ff")])
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(fake.calls().len(), before);
    }
}
