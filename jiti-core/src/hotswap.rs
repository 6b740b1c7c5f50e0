//! Hotswap: a code-only change of a branch environment put straight into its Lambda functions,
//! with no CloudFormation update, so that the inner loop is bounded by cargo's build. Shaped like
//! `gc` and `deploy`: look (the deployed template: this checkout's copy of the last deploy when
//! its hash is the stack's, else GetTemplate) → [`plan`] (pure: is the change code only, and which
//! functions) → [`execute`] (upload, UpdateFunctionCode, wait, check `CodeSha256`); the deploy
//! then records a release with method `hotswap`.
//!
//! The stack's template lags the code afterwards (drift on purpose, as with CDK's and SAM's
//! hotswaps). The next normal deploy's template names the same keys, so CloudFormation changes
//! nothing under the functions; when the code goes back to what the template names, the local copy
//! says the functions were swapped and the deploy puts the template's code back.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::artifacts::functions::function_artifacts;
use crate::artifacts::{ArtifactRef, package};
use crate::cloud::{ArtifactStore, CloudError, FunctionApi, Stack, UpdateStatus};
use crate::layout;
use crate::resolve::{Project, ResolvedApp};
use crate::stacks::{KEY_EXPIRES_AT, KEY_TEMPLATE_HASH, Wanted, parameters_match};
use crate::template::{Template, escape_pointer};

/// What `--hotswap` does with a change that is not code only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotswapMode {
    /// `--hotswap`: deploy it normally.
    Fallback,
    /// `--hotswap-only`: refuse it.
    Only,
}

/// One function to get new code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    pub logical_id: String,
    pub artifact: ArtifactRef,
}

/// What a hotswap of one stack would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Only these functions' code differs.
    Swap(Vec<Swap>),
    /// The template, its parameters and the stack's tags are deployed as they are.
    Unchanged,
    /// Not a code-only change (why): it needs CloudFormation.
    Deploy(String),
}

/// Whether `wanted` differs from the deployed `stack` (its template: `deployed`) only in the code
/// of `AWS::Lambda::Function`s built from `refs`; everything else (another property, a resource,
/// an output, a parameter, a stack tag but the template hash and the expiry) needs a deploy.
pub fn plan(stack: &Stack, deployed: &Value, wanted: &Wanted, refs: &[ArtifactRef]) -> Plan {
    if let Err(why) = crate::tagging::owned_by(&stack.tags, wanted.app) {
        return Plan::Deploy(format!("stack `{}` exists but {why}", stack.name));
    }
    if !stack.status.settled() {
        return Plan::Deploy(format!("stack `{}` is {}", stack.name, stack.status));
    }
    if !parameters_match(stack, wanted.parameters, wanted.template) {
        return Plan::Deploy("the stack's parameters change".into());
    }
    let ignored = |k: &str| k == KEY_TEMPLATE_HASH || k == KEY_EXPIRES_AT;
    for (key, value) in wanted.tags.iter().filter(|(k, _)| !ignored(k)) {
        if stack.tags.get(key) != Some(value) {
            let had = stack.tags.get(key).map_or("none", String::as_str);
            return Plan::Deploy(format!("stack tag `{key}` changes ({had} → {value})"));
        }
    }
    if let Some(key) =
        stack.tags.keys().find(|k| !ignored(k) && !wanted.tags.iter().any(|(w, _)| w == *k))
    {
        return Plan::Deploy(format!("stack tag `{key}` is removed"));
    }
    let mut old = deployed.clone();
    let mut new = wanted.template.value.clone();
    let mut swaps = Vec::new();
    if let Some(resources) = new.get_mut("Resources").and_then(Value::as_object_mut) {
        for (id, resource) in resources.iter_mut() {
            if resource["Type"] != "AWS::Lambda::Function" {
                continue;
            }
            let Some(key) = resource.pointer("/Properties/Code/S3Key").and_then(Value::as_str)
            else {
                continue;
            };
            let Some(artifact) = refs.iter().find(|a| a.key == key) else { continue };
            let pointer = format!("/Resources/{}", escape_pointer(id));
            let Some(before) = old.pointer_mut(&pointer) else { continue };
            if before["Type"] != resource["Type"] {
                continue;
            }
            let code = &mut resource["Properties"]["Code"];
            if before["Properties"]["Code"] != *code {
                swaps.push(Swap { logical_id: id.clone(), artifact: artifact.clone() });
            }
            // Compared apart: the rest of the two templates must be equal.
            before["Properties"]["Code"] = Value::Null;
            *code = Value::Null;
        }
    }
    if old != new {
        return Plan::Deploy(difference(&old, &new));
    }
    match swaps.is_empty() {
        true => Plan::Unchanged,
        false => Plan::Swap(swaps),
    }
}

/// What differs between two templates, for people: the first few resources and sections.
fn difference(old: &Value, new: &Value) -> String {
    let mut found = Vec::new();
    let resources = |v: &Value| v.get("Resources").and_then(Value::as_object).cloned();
    let (was, is) = (resources(old).unwrap_or_default(), resources(new).unwrap_or_default());
    let (was, is) = (&was, &is);
    for (id, r) in is {
        match was.get(id) {
            None => found.push(format!("resource `{id}` is added")),
            Some(w) if w != r => found.push(format!("resource `{id}` changes")),
            Some(_) => {}
        }
    }
    found.extend(
        was.keys()
            .filter(|id| !is.contains_key(*id))
            .map(|id| format!("resource `{id}` is removed")),
    );
    let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    let mut sections: Vec<String> = keys(old);
    sections.extend(keys(new));
    sections.sort();
    sections.dedup();
    found.extend(
        sections
            .iter()
            .filter(|s| *s != "Resources" && old.get(s.as_str()) != new.get(s.as_str()))
            .map(|s| format!("`{s}` changes")),
    );
    let more = found.len().saturating_sub(3);
    found.truncate(3);
    let mut text = found.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// A function given new code.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Hotswapped {
    pub logical_id: String,
    pub function: String,
    pub artifact: String,
    /// The `CodeSha256` Lambda reports after the update (the artifact's).
    pub code_sha256: String,
    /// From UpdateFunctionCode to `LastUpdateStatus: Successful`.
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum HotswapError {
    #[error(transparent)]
    Cloud(#[from] CloudError),
    #[error("artifact `{0}` was not built")]
    NotBuilt(String),
    #[error(
        "function {logical_id} is not in stack {stack} any more (the stack changed under this checkout): deploy without --hotswap"
    )]
    Missing { logical_id: String, stack: String },
    #[error("Lambda did not update function {function} ({logical_id}): {reason}")]
    Failed { logical_id: String, function: String, reason: String },
    #[error("timed out after {seconds}s waiting for Lambda to update function {function}")]
    Timeout { function: String, seconds: u64 },
    #[error(
        "function {function} ({logical_id}) runs code with CodeSha256 {found} after the update, not artifact `{artifact}` ({want}): the object at its key holds other bytes"
    )]
    Mismatch { logical_id: String, function: String, artifact: String, want: String, found: String },
}

/// How often to ask Lambda whether an update is done: it takes about a second on AWS, and an
/// inner loop should not wait out a long poll interval for it.
const UPDATE_POLL: Duration = Duration::from_millis(250);

/// Puts each swap's code into its function: the packages the bucket lacks uploaded (one
/// conditional PutObject each), then UpdateFunctionCode per function, in parallel, each waited
/// for and its `CodeSha256` checked. `functions`: logical id → function name.
pub async fn execute<A: ArtifactStore + FunctionApi>(
    api: &A,
    app: &ResolvedApp,
    swaps: &[Swap],
    functions: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<Executed, HotswapError> {
    let start = Instant::now();
    let mut artifacts: Vec<&ArtifactRef> = swaps.iter().map(|s| &s.artifact).collect();
    artifacts.sort_by(|a, b| a.name.cmp(&b.name));
    artifacts.dedup_by(|a, b| a.name == b.name);
    let uploads = artifacts.iter().map(|a| async move {
        let package = app
            .packages
            .iter()
            .find(|p| p.name == a.name)
            .ok_or_else(|| HotswapError::NotBuilt(a.name.clone()))?;
        let put = api.put_new_package(&a.key, package.bytes.clone()).await?;
        Ok::<_, HotswapError>(put.then(|| a.name.clone()))
    });
    let uploaded: Vec<String> =
        futures_util::future::try_join_all(uploads).await?.into_iter().flatten().collect();
    let upload_seconds = start.elapsed().as_secs_f64();
    let updates = swaps.iter().map(|swap| async move {
        let function = functions.get(&swap.logical_id).ok_or_else(|| HotswapError::Missing {
            logical_id: swap.logical_id.clone(),
            stack: app.stack_name.clone(),
        })?;
        swap_one(api, swap, function, timeout).await
    });
    let swapped = futures_util::future::try_join_all(updates).await?;
    Ok(Executed { swapped, uploaded, upload_seconds })
}

/// What [`execute`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    pub swapped: Vec<Hotswapped>,
    /// Artifacts uploaded now (the others were in the bucket).
    pub uploaded: Vec<String>,
    pub upload_seconds: f64,
}

async fn swap_one<A: FunctionApi>(
    api: &A,
    swap: &Swap,
    function: &str,
    timeout: Duration,
) -> Result<Hotswapped, HotswapError> {
    let start = Instant::now();
    let mut state =
        api.update_function_code(function, &swap.artifact.bucket, &swap.artifact.key).await?;
    while state.update == UpdateStatus::InProgress {
        if start.elapsed() >= timeout {
            return Err(HotswapError::Timeout {
                function: function.to_owned(),
                seconds: timeout.as_secs(),
            });
        }
        tokio::time::sleep(UPDATE_POLL).await;
        state = api.function_state(function).await?;
    }
    if let UpdateStatus::Failed(reason) = state.update {
        return Err(HotswapError::Failed {
            logical_id: swap.logical_id.clone(),
            function: function.to_owned(),
            reason,
        });
    }
    let want = package::code_sha256(&swap.artifact.sha256).unwrap_or_default();
    if state.code_sha256 != want {
        return Err(HotswapError::Mismatch {
            logical_id: swap.logical_id.clone(),
            function: function.to_owned(),
            artifact: swap.artifact.name.clone(),
            want,
            found: state.code_sha256,
        });
    }
    Ok(Hotswapped {
        logical_id: swap.logical_id.clone(),
        function: function.to_owned(),
        artifact: swap.artifact.name.clone(),
        code_sha256: state.code_sha256,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Every function of `template` built from one of `refs`, to be given the template's code (what
/// puts a hotswapped environment back).
pub fn all_swaps(template: &Template, refs: &[ArtifactRef]) -> Vec<Swap> {
    function_artifacts(template, refs)
        .into_iter()
        .filter_map(|f| {
            let artifact = refs.iter().find(|r| r.name == f.artifact)?.clone();
            Some(Swap { logical_id: f.logical_id, artifact })
        })
        .collect()
}

/// This checkout's copy of what its last deploy left in a stack, `target/jiti/<env>/<app>.deployed.json`:
/// the template (so that a hotswap needs no GetTemplate when the stack's hash is this one's) and
/// the functions' names (no ListStackResources while the stack is the same).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeployedCopy {
    pub stack_name: String,
    /// Unknown after a first create (the stack's id is read again by the next deploy).
    pub stack_id: Option<String>,
    pub template_hash: String,
    pub template: Value,
    /// Logical id → function name, of the functions built from artifacts.
    #[serde(default)]
    pub functions: BTreeMap<String, String>,
    /// Hotswapped since the template was deployed: the functions may run other code than it names.
    #[serde(default)]
    pub hotswapped: bool,
}

impl DeployedCopy {
    /// Whether this copy describes `stack` as it is: its template (by hash, from the stack's tag).
    pub fn template_of(&self, stack: &Stack) -> bool {
        self.stack_name == stack.name
            && stack.tags.get(KEY_TEMPLATE_HASH) == Some(&self.template_hash)
    }

    /// The functions' names, when they are this very stack's (same id).
    pub fn functions_of(&self, stack: &Stack) -> Option<&BTreeMap<String, String>> {
        let same = self.template_of(stack) && self.stack_id.as_deref() == Some(stack.id.as_str());
        (same && !self.functions.is_empty()).then_some(&self.functions)
    }
}

/// The copy for `app`'s environment, when there is a readable one.
pub fn read_copy(project: &Project, app: &ResolvedApp) -> Option<DeployedCopy> {
    let path = layout::deployed_file(&project.target_dir, &app.environment.name, &app.name);
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Writes the copy whole (atomically: a watch and a deploy may both write it).
pub fn write_copy(
    project: &Project,
    app: &ResolvedApp,
    copy: &DeployedCopy,
) -> Result<PathBuf, String> {
    let path = layout::deployed_file(&project.target_dir, &app.environment.name, &app.name);
    let text = serde_json::to_string(copy).unwrap_or_default() + "\n";
    layout::write_atomic(&path, text)
        .map_err(|e| format!("failed to write `{}`: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests;
