//! `cargo jiti ci`: in a CI job, read the event, decide (`jiti_core::ci::decide`), say what and
//! why, and run the deploy, destroy or gc it calls for, as those commands run; then the Markdown
//! summary for `$GITHUB_STEP_SUMMARY` and the pull request's comment. `ci init` writes the CI file.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use jiti_core::ci::{self, CiError, Decision, Event, Judged, Provider, workflow};
use jiti_core::report::CiReport;

use crate::cli::{
    CiArgs, CiCommand, CiInitArgs, CiProvider, CiRunArgs, DeployArgs, DestroyArgs, DiffArgs,
    DiffFormat, EnvArg, GcArgs, HotswapArgs, YesArg,
};
use crate::shell::{DIM, Exit, GOOD, NOTE, Shell, WARNING};

pub fn exec(args: CiArgs, shell: &Shell) -> anyhow::Result<Exit> {
    match args.command {
        Some(CiCommand::Init(init_args)) => init(init_args, shell),
        None => run(args.run, shell),
    }
}

/// A CI variable, unset when empty (as CIs leave variables that do not apply).
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The event, from the flags or the CI's variables.
fn event(args: &CiRunArgs) -> anyhow::Result<(Provider, Event)> {
    let provider = match args.provider {
        Some(CiProvider::Github) => Provider::Github,
        Some(CiProvider::Gitlab) => Provider::Gitlab,
        None => Provider::detect(var).ok_or(CiError::UnknownCi)?,
    };
    let event = match provider {
        Provider::Github => {
            let missing = |var| CiError::MissingVar { provider: "GitHub Actions", var };
            let name = args
                .event_name
                .clone()
                .or_else(|| var("GITHUB_EVENT_NAME"))
                .ok_or_else(|| missing("GITHUB_EVENT_NAME"))?;
            let path = args
                .event_path
                .clone()
                .or_else(|| var("GITHUB_EVENT_PATH").map(PathBuf::from))
                .ok_or_else(|| missing("GITHUB_EVENT_PATH"))?;
            ci::github(&name, &path, var)?
        }
        Provider::Gitlab => ci::gitlab(var)?,
    };
    Ok((provider, event))
}

fn run(args: CiRunArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let (provider, event) = event(&args)?;
    let project_args =
        |branch: Option<String>| super::workspace(args.manifest_path.clone(), branch);
    let event_branch = match &event {
        Event::PullRequest { head, .. } => Some(head.clone()),
        Event::BranchDeleted { branch } | Event::Push { branch } | Event::Manual { branch } => {
            Some(branch.clone())
        }
        Event::Schedule | Event::Other { .. } => None,
    };
    // Which branches feed a protected environment, as the checkout's config says (any app).
    let project = super::load_offline_project(&project_args(event_branch), shell)?;
    let decision = ci::decide(&event, |branch| {
        project.apps.iter().any(|a| a.protected_branches.iter().any(|b| b == branch))
    });
    let judged = Judged { provider, event, decision };
    if !shell.json() {
        let mut out = shell.out();
        writeln!(out, "{NOTE}ci{NOTE:#}: {}", judged.decision.why())?;
        if let Some(command) = equivalent(&judged.decision, args.dry_run) {
            writeln!(out, "{DIM}    as: {command}{DIM:#}")?;
        }
    }
    let mut report = CiReport {
        judged,
        dry_run: args.dry_run,
        deploy: None,
        diff: None,
        destroy: None,
        gc: None,
        comment_file: None,
    };
    let acted = act(&args, &project, &mut report, shell);
    // A failure is news for the pull request too: the comment says what went wrong.
    let (exit, body) = match &acted {
        Ok(done) => done.clone(),
        Err(e) => (Exit::Error, format!("❌ {}\n", crate::markdown::cell(&format!("{e:#}")))),
    };
    let summary = shell.masked(&summary(&report, exit, &body));
    if let Some(path) = var("GITHUB_STEP_SUMMARY") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("failed to open the step summary `{path}`"))?;
        writeln!(file, "{summary}")
            .with_context(|| format!("failed to write the step summary `{path}`"))?;
    }
    if let Some(path) = &args.comment_file {
        jiti_core::layout::write_atomic(path, format!("{}\n{summary}", ci::COMMENT_MARKER))
            .with_context(|| format!("failed to write the comment `{}`", path.display()))?;
        report.comment_file = Some(path.clone());
    }
    acted?;
    if shell.json() {
        shell.print_report(report)?;
    }
    Ok(exit)
}

/// Runs what the decision calls for, printing it as its command would; returns the exit code and
/// the Markdown of its report.
fn act(
    args: &CiRunArgs,
    project: &jiti_core::resolve::Project,
    report: &mut CiReport,
    shell: &Shell,
) -> anyhow::Result<(Exit, String)> {
    let project_args =
        |branch: Option<String>| super::workspace(args.manifest_path.clone(), branch);
    let text = !shell.json();
    Ok(match report.judged.decision.clone() {
        Decision::Deploy { branch, .. } if args.dry_run => {
            let diff = super::diff::run(
                DiffArgs {
                    project: project_args(Some(branch)),
                    cloud: args.cloud.clone(),
                    exit_code: false,
                    format: DiffFormat::Text,
                },
                shell,
            )?;
            if text {
                super::diff::print(shell, &diff)?;
            }
            let body = crate::markdown::diff(&diff);
            report.diff = Some(diff);
            (Exit::Success, body)
        }
        Decision::Deploy { branch, protected, .. } => {
            let deploy_args = DeployArgs {
                project: project_args(Some(branch)),
                cloud: args.cloud.clone(),
                // The workflow runs this only for the events it was written for: a push to a
                // protected branch is its confirmation.
                yes: YesArg { yes: protected },
                no_execute: false,
                method: args.method.clone(),
                wait: args.wait.clone(),
                jobs: 4,
                ttl: args.ttl.clone(),
                no_rollback: false,
                allow_dirty: false,
                skip_checks: false,
                hotswap: HotswapArgs { hotswap: false, hotswap_only: false },
            };
            let (deploy, root, exit) = super::deploy::run(deploy_args, shell)?;
            if text {
                super::deploy::print(shell, &deploy, &root)?;
            }
            // The same checks the deploy ran, warnings included, for the reviewer.
            let findings = jiti_core::check::check(project).findings;
            let body = crate::markdown::deploy(&deploy, &findings);
            report.deploy = Some(deploy);
            (exit, body)
        }
        Decision::Destroy { branch, .. } => {
            let (destroy, exit) = super::destroy::run(
                DestroyArgs {
                    project: project_args(Some(branch)),
                    cloud: args.cloud.clone(),
                    yes: YesArg { yes: !args.dry_run },
                    env: EnvArg { env: None },
                    allow_protected: false,
                    wait: args.wait.clone(),
                },
                shell,
            )?;
            if text {
                super::destroy::print(shell, &destroy)?;
            }
            let body = crate::markdown::destroy(&destroy);
            report.destroy = Some(destroy);
            (exit, body)
        }
        Decision::Gc { remote, .. } => {
            let grace = std::time::Duration::from_secs(24 * 3600);
            let (gc, exit) = super::gc::run(
                GcArgs {
                    cloud: args.cloud.clone(),
                    manifest_path: args.manifest_path.clone(),
                    yes: YesArg { yes: !args.dry_run },
                    app: None,
                    remote: Some(remote),
                    max_age: None,
                    max_delete: None,
                    jobs: 4,
                    wait: args.wait.clone(),
                    artifacts_only: false,
                    keep_releases: 10,
                    artifacts_grace: grace,
                },
                shell,
            )?;
            if text {
                super::gc::print(shell, &gc, grace)?;
            }
            let body = crate::markdown::gc(&gc);
            report.gc = Some(gc);
            (exit, body)
        }
        Decision::Nothing { .. } => (Exit::Success, String::new()),
    })
}

/// The command a person would run for the same effect.
fn equivalent(decision: &Decision, dry_run: bool) -> Option<String> {
    let yes = if dry_run { "" } else { " --yes" };
    match decision {
        Decision::Deploy { branch, .. } if dry_run => {
            Some(format!("cargo jiti diff --workspace --branch '{branch}'"))
        }
        Decision::Deploy { branch, protected, .. } => Some(format!(
            "cargo jiti deploy --workspace --branch '{branch}'{}",
            if *protected { " --yes" } else { "" }
        )),
        Decision::Destroy { branch, .. } => {
            Some(format!("cargo jiti destroy --workspace --branch '{branch}'{yes}"))
        }
        Decision::Gc { remote, .. } => Some(format!("cargo jiti gc --remote {remote}{yes}")),
        Decision::Nothing { .. } => None,
    }
}

/// The Markdown people read: a heading saying what happened, why, and the command's summary.
fn summary(report: &CiReport, exit: Exit, body: &str) -> String {
    let failed = exit != Exit::Success;
    let env =
        report.deploy.as_ref().and_then(|d| d.apps.first().map(|a| a.environment.clone())).or_else(
            || report.destroy.as_ref().and_then(|d| d.plan.first()).map(|i| i.environment.clone()),
        );
    let env = env.map(|e| format!("`{e}` ")).unwrap_or_default();
    let title = match (&report.judged.decision, report.dry_run, failed) {
        (Decision::Deploy { .. }, true, _) => format!("🔎 {env}would change"),
        (Decision::Deploy { .. }, false, false) => format!("🚀 {env}deployed"),
        (Decision::Deploy { .. }, false, true) => format!("❌ {env}deploy failed"),
        (Decision::Destroy { .. }, true, _) => format!("🔎 {env}would be destroyed"),
        (Decision::Destroy { .. }, false, false) => format!("🧹 {env}destroyed"),
        (Decision::Destroy { .. }, false, true) => format!("❌ {env}destroy failed"),
        (Decision::Gc { .. }, true, _) => "🔎 garbage collection (dry run)".to_owned(),
        (Decision::Gc { .. }, false, false) => "🧹 garbage collected".to_owned(),
        (Decision::Gc { .. }, false, true) => "❌ garbage collection failed".to_owned(),
        (Decision::Nothing { .. }, _, _) => "nothing to do".to_owned(),
    };
    format!("### cargo jiti · {title}\n\n_{}_\n\n{body}", report.judged.decision.why())
}

fn init(args: CiInitArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let project =
        super::load_offline_project(&super::workspace(args.manifest_path.clone(), None), shell)?;
    let mut branches: Vec<String> = Vec::new();
    for b in project.apps.iter().flat_map(|a| &a.protected_branches) {
        if !branches.contains(b) {
            branches.push(b.clone());
        }
    }
    let spec = workflow::Spec {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        protected_branches: branches,
        lambda: project
            .apps
            .iter()
            .any(|a| a.artifacts.iter().any(|x| x.kind == jiti_core::config::ArtifactKind::Lambda)),
        region: project
            .apps
            .iter()
            .map(|a| a.region.clone())
            .find(|r| !r.is_empty())
            .unwrap_or_else(|| "us-east-1".to_owned()),
    };
    let (text, relative) = match args.gitlab {
        true => (workflow::gitlab(&spec), workflow::GITLAB_PATH),
        false => (workflow::github(&spec), workflow::GITHUB_PATH),
    };
    if args.stdout {
        write!(shell.out(), "{text}")?;
        return Ok(Exit::Success);
    }
    let path = project.git.root.join(relative);
    let written = workflow::write(&path, &text)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    let mut out = shell.out();
    let flag = if args.gitlab { "--gitlab" } else { "--github" };
    match written {
        workflow::Written::Created => writeln!(out, "{GOOD}created{GOOD:#} {relative}")?,
        workflow::Written::Updated => writeln!(
            out,
            "{GOOD}updated{GOOD:#} {relative} (it was as an earlier `ci init` wrote it)"
        )?,
        workflow::Written::UpToDate => writeln!(out, "{GOOD}up to date{GOOD:#} {relative}")?,
        workflow::Written::Kept => writeln!(
            out,
            "{WARNING}kept{WARNING:#} {relative}: it was changed since `ci init` wrote it, so it is left as it is; compare with `cargo jiti ci init {flag} --stdout`, or delete it to have it written again"
        )?,
    }
    drop(out);
    setup_notes(&project, args.gitlab, shell)?;
    Ok(if written == workflow::Written::Kept { Exit::Findings } else { Exit::Success })
}

/// What the CI's AWS role needs: who may assume it, and per app the policy `iam-policy` prints.
fn setup_notes(
    project: &jiti_core::resolve::Project,
    gitlab: bool,
    shell: &Shell,
) -> anyhow::Result<()> {
    let mut err = shell.err();
    let origin = jiti_core::git::remote_url(&project.git.root, ci::REMOTE);
    let who = match (gitlab, origin.as_deref().and_then(ci::github_repository)) {
        (true, _) => "GitLab's OIDC provider (audience sts.amazonaws.com) for this project".to_owned(),
        (false, Some(repo)) => format!(
            "GitHub's OIDC provider token.actions.githubusercontent.com (audience sts.amazonaws.com, subject `repo:{repo}:*`)"
        ),
        (false, None) => "GitHub's OIDC provider token.actions.githubusercontent.com (audience sts.amazonaws.com, subject `repo:OWNER/REPO:*`)".to_owned(),
    };
    writeln!(
        err,
        "{NOTE}next{NOTE:#}: create an IAM role that {who} may assume; set its ARN as the CI variable JITI_AWS_ROLE_ARN; attach the policy below (one per app, as `cargo jiti iam-policy -p APP` prints it)"
    )?;
    drop(err);
    let mut policies = serde_json::Map::new();
    for app in &project.apps {
        if app.region.is_empty() {
            shell.note(&format!(
                "app `{}` has no region here: `cargo jiti iam-policy -p {}` with AWS_REGION set prints its policy",
                app.name, app.name
            ));
            continue;
        }
        match jiti_core::render::render_app(project, app) {
            Ok(rendered) => {
                let policy = jiti_core::iam::policy(app, &rendered.template, None, None);
                policies.insert(app.name.clone(), policy.document);
            }
            Err(e) => shell.note(&format!(
                "app `{}`'s template does not render ({e}): fix it, then `cargo jiti iam-policy -p {}` prints its policy",
                app.name, app.name
            )),
        }
    }
    if !policies.is_empty() {
        shell.print_json(&serde_json::Value::Object(policies))?;
    }
    Ok(())
}
