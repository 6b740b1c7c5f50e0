//! The code a deploy ships: the template pointed at the packages built now, what the bucket
//! lacks uploaded once the stack is about to change, and the functions' `CodeSha256` checked after.

use std::time::Instant;

use crate::cloud::{ArtifactStore, FunctionApi, Stack};
use crate::layout;
use crate::observe::Observer;
use crate::resolve::ResolvedApp;
use crate::wait::{Failure, fail};

/// The app with its template pointed at the packages built now (`None`: nothing built now). The
/// bucket is the stack's account's, read from the stack's id, so that a deploy with nothing to
/// change costs no call more; only a first deploy asks STS who the caller is.
pub(super) async fn address_packages<A: ArtifactStore>(
    app: &ResolvedApp,
    api: &A,
    current: Option<&Stack>,
) -> Result<Option<ResolvedApp>, Failure> {
    if app.packages.is_empty() {
        return Ok(None);
    }
    let account = current.and_then(|s| s.id.split(':').nth(4)).filter(|a| !a.is_empty());
    let bucket = match account {
        Some(account) => layout::artifacts_bucket(account, &app.region),
        None => api.bucket_name().await?,
    };
    let mut addressed = app.clone();
    addressed.built = crate::ship::refs(&bucket, &app.name, &app.packages)
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect();
    Ok(Some(addressed))
}

/// Before the stack changes: the packages the bucket lacks are uploaded (never over a key).
pub(super) async fn upload_packages<A: ArtifactStore>(
    app: &ResolvedApp,
    api: &A,
    observer: &dyn Observer,
    uploaded: &mut (Vec<String>, f64),
) -> Result<(), Failure> {
    if app.packages.is_empty() {
        return Ok(());
    }
    let start = Instant::now();
    let published = crate::ship::publish(api, &app.name, &app.packages).await?;
    for r in &published.refs {
        let how = match published.uploaded.contains(&r.name) {
            true => "uploaded",
            false => "already in the bucket",
        };
        observer.note(
            &app.name,
            &format!("artifact `{}` ({} bytes, sha256 {}): {how}", r.name, r.size, r.short_hash()),
        );
    }
    *uploaded = (published.uploaded, start.elapsed().as_secs_f64());
    Ok(())
}

/// After a change: each function built from an artifact runs exactly its bytes (`CodeSha256`).
pub(super) async fn check_code<A: FunctionApi>(
    app: &ResolvedApp,
    api: &A,
    template: Option<&crate::template::Template>,
    observer: &dyn Observer,
) -> Result<(), Failure> {
    let (Some(template), false) = (template, app.built.is_empty()) else { return Ok(()) };
    let refs: Vec<_> = app.built.values().cloned().collect();
    let checks = crate::ship::check_code(api, &app.stack_name, template, &refs)
        .await
        .map_err(|e| fail(e.to_string()))?;
    for c in checks {
        observer.note(
            &app.name,
            &format!(
                "function {} runs artifact `{}` (CodeSha256 {})",
                c.function, c.artifact, c.code_sha256
            ),
        );
    }
    Ok(())
}
