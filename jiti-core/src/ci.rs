//! CI events and what cargo-jiti does about each: a pull request deploys its branch's environment
//! and its closing destroys it, a push to a protected branch deploys that environment, a schedule
//! collects what nobody owns.
//!
//! Look → pure decision → act, as `gc`: [`github`] and [`gitlab`] turn what the CI hands a job
//! (its variables, and GitHub's event payload, passed in by the binary: this crate reads no process
//! environment) into one [`Event`]; [`decide`] is a pure function of the event and of which
//! branches feed protected environments, tested as a table; the binary runs the deploy, destroy
//! or gc the [`Decision`] names. [`workflow`] writes the CI files that call it.

pub mod workflow;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The hidden line that opens the pull-request comment, so the workflow finds and updates its
/// one comment instead of adding one per run.
pub const COMMENT_MARKER: &str = "<!-- cargo-jiti:ci -->";

/// The remote a CI checkout judges branches by: its own knowledge is partial (a shallow or
/// single-ref clone), the remote's is not.
pub const REMOTE: &str = "origin";

/// Which CI ran the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    Github,
    Gitlab,
}

impl Provider {
    /// The provider whose marker variable is `true` (`GITHUB_ACTIONS`, `GITLAB_CI`).
    pub fn detect(var: impl Fn(&str) -> Option<String>) -> Option<Provider> {
        if var("GITHUB_ACTIONS").as_deref() == Some("true") {
            Some(Provider::Github)
        } else if var("GITLAB_CI").as_deref() == Some("true") {
            Some(Provider::Gitlab)
        } else {
            None
        }
    }
}

/// What happened, in the terms cargo-jiti acts on, whichever CI told it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Event {
    /// A pull (GitLab: merge) request changed state.
    PullRequest {
        number: u64,
        action: PrAction,
        /// The branch it merges from: whose environment it is.
        head: String,
        base: String,
        /// Its head lives in another repository (a fork): its code must not run with this
        /// repository's AWS role.
        from_fork: bool,
    },
    /// A branch was deleted (GitHub `delete`, a push that deletes, GitLab's stop job).
    BranchDeleted { branch: String },
    /// Commits were pushed to a branch.
    Push { branch: String },
    /// The nightly (or any scheduled) run.
    Schedule,
    /// Someone started the workflow by hand on a branch.
    Manual { branch: String },
    /// Anything else (tags, comments, labels): nothing to do, and this says what it was.
    Other { name: String },
}

/// What happened to a pull request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PrAction {
    Opened,
    /// New commits on its branch (GitLab: any merge-request pipeline).
    Synchronize,
    Reopened,
    Closed,
    Merged,
    /// Labelled, edited, assigned…: named as the CI names it.
    Other(String),
}

impl std::fmt::Display for PrAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PrAction::Opened => "opened",
            PrAction::Synchronize => "updated",
            PrAction::Reopened => "reopened",
            PrAction::Closed => "closed",
            PrAction::Merged => "merged",
            PrAction::Other(action) => action,
        })
    }
}

/// `owner/name` of a GitHub remote URL (`https://github.com/owner/name.git`,
/// `git@github.com:owner/name.git`), for the role's trust policy; `None` for any other host.
pub fn github_repository(url: &str) -> Option<String> {
    let path = url
        .strip_prefix("git@github.com:")
        .or_else(|| url.split_once("github.com/").map(|(_, path)| path))?;
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    let (owner, name) = path.split_once('/')?;
    (!owner.is_empty() && !name.is_empty() && !name.contains('/')).then(|| path.to_owned())
}

/// What `cargo jiti ci` does about an event, and why, in one sentence people read in the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Decision {
    /// Deploy `branch`'s environment; `protected` ones with the confirmation the workflow gives.
    Deploy {
        branch: String,
        protected: bool,
        why: String,
    },
    /// Destroy `branch`'s environment (never a protected one: [`decide`] never says so for one).
    Destroy {
        branch: String,
        why: String,
    },
    /// `gc --yes`, judging branches by `remote`'s.
    Gc {
        remote: String,
        why: String,
    },
    Nothing {
        why: String,
    },
}

impl Decision {
    pub fn why(&self) -> &str {
        match self {
            Decision::Deploy { why, .. }
            | Decision::Destroy { why, .. }
            | Decision::Gc { why, .. }
            | Decision::Nothing { why } => why,
        }
    }
}

/// The event as read, the decision made, and where they came from: the head of `ci`'s report.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Judged {
    pub provider: Provider,
    pub event: Event,
    pub decision: Decision,
}

#[derive(Debug, thiserror::Error)]
pub enum CiError {
    #[error(
        "not running in a known CI (GITHUB_ACTIONS or GITLAB_CI is not `true`): run `cargo jiti ci` in GitHub Actions or GitLab CI, or pass --provider and, for GitHub, --event-name and --event-path to try an event by hand"
    )]
    UnknownCi,
    #[error(
        "{provider} did not set `{var}`, which `cargo jiti ci` needs to know the event; run it as a step of the workflow `cargo jiti ci init` writes"
    )]
    MissingVar { provider: &'static str, var: &'static str },
    #[error("failed to read the event payload `{}`", path.display())]
    ReadPayload {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the event payload `{}` is not JSON: {source}", path.display())]
    PayloadJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the `{event}` event payload `{}` has no `{field}`: is it GitHub's payload of that event?", path.display())]
    PayloadField { event: String, path: PathBuf, field: &'static str },
}

/// A GitHub Actions event: `name` is `GITHUB_EVENT_NAME`, `payload` the JSON file at
/// `GITHUB_EVENT_PATH` (read here, so errors name it), `var` reads the other variables.
pub fn github(
    name: &str,
    payload: &Path,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Event, CiError> {
    let text = std::fs::read_to_string(payload)
        .map_err(|source| CiError::ReadPayload { path: payload.to_owned(), source })?;
    let body: Value = serde_json::from_str(&text)
        .map_err(|source| CiError::PayloadJson { path: payload.to_owned(), source })?;
    github_event(name, &body, var).map_err(|field| CiError::PayloadField {
        event: name.to_owned(),
        path: payload.to_owned(),
        field,
    })
}

/// [`github`] on a parsed payload; the error is the missing field.
fn github_event(
    name: &str,
    body: &Value,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Event, &'static str> {
    let text = |v: &Value, pointer: &'static str| {
        v.pointer(pointer).and_then(Value::as_str).map(str::to_owned).ok_or(pointer)
    };
    match name {
        // `pull_request_target` runs the base's workflow with the base's secrets for code anyone
        // can propose: deploying from it is how repositories get taken over. Not acted on.
        "pull_request" => {
            let pr = body.get("pull_request").ok_or("/pull_request")?;
            let number = pr
                .get("number")
                .or_else(|| body.get("number"))
                .and_then(Value::as_u64)
                .ok_or("/pull_request/number")?;
            let action = match text(body, "/action")?.as_str() {
                "opened" => PrAction::Opened,
                "synchronize" => PrAction::Synchronize,
                "reopened" => PrAction::Reopened,
                "closed" if pr.get("merged").and_then(Value::as_bool) == Some(true) => {
                    PrAction::Merged
                }
                "closed" => PrAction::Closed,
                other => PrAction::Other(other.to_owned()),
            };
            // A deleted fork leaves `head.repo` null: still not this repository.
            let head_repo = pr.pointer("/head/repo/full_name").and_then(Value::as_str);
            let base_repo = text(pr, "/base/repo/full_name")?;
            Ok(Event::PullRequest {
                number,
                action,
                head: text(pr, "/head/ref")?,
                base: text(pr, "/base/ref")?,
                from_fork: head_repo != Some(base_repo.as_str()),
            })
        }
        "delete" => match text(body, "/ref_type")?.as_str() {
            "branch" => Ok(Event::BranchDeleted { branch: text(body, "/ref")? }),
            kind => Ok(Event::Other { name: format!("delete of a {kind}") }),
        },
        "push" => {
            let reference = text(body, "/ref")?;
            match reference.strip_prefix("refs/heads/") {
                Some(branch) if body.get("deleted").and_then(Value::as_bool) == Some(true) => {
                    Ok(Event::BranchDeleted { branch: branch.to_owned() })
                }
                Some(branch) => Ok(Event::Push { branch: branch.to_owned() }),
                None => Ok(Event::Other { name: format!("push of {reference}") }),
            }
        }
        "schedule" => Ok(Event::Schedule),
        "workflow_dispatch" => {
            let branch = var("GITHUB_REF_NAME")
                .or_else(|| {
                    text(body, "/ref").ok().map(|r| r.trim_start_matches("refs/heads/").to_owned())
                })
                .ok_or("/ref")?;
            Ok(Event::Manual { branch })
        }
        other => Ok(Event::Other { name: other.to_owned() }),
    }
}

/// A GitLab CI job's event, from its predefined variables. A merge-request pipeline's deploy job
/// and its environment's stop job (`environment: action: stop`, which GitLab runs when the merge
/// request is merged or closed, or the branch deleted) run the same command; `CI_ENVIRONMENT_ACTION`
/// tells them apart.
pub fn gitlab(var: impl Fn(&str) -> Option<String>) -> Result<Event, CiError> {
    let need = |name: &'static str| {
        var(name)
            .filter(|v| !v.is_empty())
            .ok_or(CiError::MissingVar { provider: "GitLab CI", var: name })
    };
    let source = need("CI_PIPELINE_SOURCE")?;
    let stopping = var("CI_ENVIRONMENT_ACTION").as_deref() == Some("stop");
    if source == "merge_request_event" {
        let head = need("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")?;
        let number = need("CI_MERGE_REQUEST_IID")?.parse().unwrap_or(0);
        // Set for every merge request; they differ when its branch lives in a fork.
        let from_fork =
            var("CI_MERGE_REQUEST_SOURCE_PROJECT_ID") != var("CI_MERGE_REQUEST_PROJECT_ID");
        return Ok(Event::PullRequest {
            number,
            action: if stopping { PrAction::Closed } else { PrAction::Synchronize },
            head,
            base: var("CI_MERGE_REQUEST_TARGET_BRANCH_NAME").unwrap_or_default(),
            from_fork,
        });
    }
    if stopping {
        return Ok(Event::BranchDeleted { branch: need("CI_COMMIT_REF_NAME")? });
    }
    let branch = var("CI_COMMIT_BRANCH").filter(|b| !b.is_empty());
    Ok(match (source.as_str(), branch) {
        ("schedule", _) => Event::Schedule,
        ("push", Some(branch)) => Event::Push { branch },
        ("web" | "api" | "trigger", Some(branch)) => Event::Manual { branch },
        (_, _) => Event::Other {
            name: match var("CI_COMMIT_TAG") {
                Some(tag) => format!("{source} of tag {tag}"),
                None => source,
            },
        },
    })
}

/// What to do about `event`. `protected` says whether a branch feeds a protected environment of
/// any app. Pure: every rule is a row of this module's table test.
pub fn decide(event: &Event, protected: impl Fn(&str) -> bool) -> Decision {
    let nothing = |why: String| Decision::Nothing { why };
    match event {
        Event::PullRequest { number, action, head, from_fork, .. } => match action {
            // A fork's branch may share its name with one of this repository's: its closing
            // must not take that branch's environment with it.
            _ if *from_fork => nothing(format!(
                "pull request #{number} comes from a fork: its code would run with this repository's AWS role, so it has no environment; push its branch to this repository to get one"
            )),
            PrAction::Opened | PrAction::Synchronize | PrAction::Reopened if protected(head) => {
                nothing(format!(
                    "pull request #{number} merges from `{head}`, which feeds a protected environment: only a push to `{head}` deploys it"
                ))
            }
            PrAction::Opened | PrAction::Synchronize | PrAction::Reopened => Decision::Deploy {
                branch: head.clone(),
                protected: false,
                why: format!(
                    "pull request #{number} {action}: deploy the environment of its branch `{head}`"
                ),
            },
            PrAction::Closed | PrAction::Merged if protected(head) => nothing(format!(
                "pull request #{number} {action}, but its branch `{head}` feeds a protected environment, which CI never destroys"
            )),
            PrAction::Closed | PrAction::Merged => Decision::Destroy {
                branch: head.clone(),
                why: format!(
                    "pull request #{number} {action}: its branch `{head}`'s environment goes now"
                ),
            },
            PrAction::Other(what) => nothing(format!(
                "pull request #{number} {what}: nothing to do (opened, updated and reopened deploy; closed destroys)"
            )),
        },
        Event::BranchDeleted { branch } if protected(branch) => nothing(format!(
            "branch `{branch}` was deleted, but it feeds a protected environment, which CI never destroys"
        )),
        Event::BranchDeleted { branch } => Decision::Destroy {
            branch: branch.clone(),
            why: format!("branch `{branch}` was deleted: its environment goes now"),
        },
        Event::Push { branch } if protected(branch) => Decision::Deploy {
            branch: branch.clone(),
            protected: true,
            why: format!("push to `{branch}`, which feeds a protected environment: deploy it"),
        },
        Event::Push { branch } => nothing(format!(
            "push to `{branch}`, which feeds no protected environment: its pull request deploys its environment"
        )),
        Event::Manual { branch } => Decision::Deploy {
            branch: branch.clone(),
            protected: protected(branch),
            why: format!("started by hand on `{branch}`: deploy its environment"),
        },
        Event::Schedule => Decision::Gc {
            remote: REMOTE.to_owned(),
            why: format!(
                "scheduled run: collect environments whose branch is gone from `{REMOTE}` or whose time ran out"
            ),
        },
        Event::Other { name } => nothing(format!(
            "`{name}`: nothing to do (pull requests, branch deletes, pushes to protected branches and schedules are)"
        )),
    }
}

#[cfg(test)]
mod tests;
