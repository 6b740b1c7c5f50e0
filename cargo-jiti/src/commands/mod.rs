//! One module per subcommand, each a thin `exec(args, shell) -> Result<Exit>` over `jiti-core`:
//! it builds the command's typed report (`jiti_core::report`) and prints it as JSON or as text.

mod build;
mod check;
mod ci;
mod deploy;
mod destroy;
mod diff;
mod drift;
mod envs;
mod gc;
mod history;
mod iam_policy;
mod init;
mod outputs;
mod render;
mod report;
mod rollback;
mod run;
mod schema;
mod watch;

use anyhow::Context as _;
use jiti_core::discovery::Selection;
use jiti_core::git::{self, BranchHints};
use jiti_core::resolve::{ChainRegion, Options, Project, RegionChain};

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use jiti_core::cloud::{Aws, CallCounter, ConnectOptions, Target};
use jiti_core::resolve::ResolvedApp;

use crate::cli::{Command, ConnectArgs, JitiArgs, ProjectArgs};
use crate::shell::{Exit, Shell};

pub use deploy::outcome_word;

pub fn exec(args: JitiArgs, shell: &Shell) -> anyhow::Result<Exit> {
    match args.command {
        Command::Render(a) => render::exec(a, shell),
        Command::Build(a) => build::exec(a, shell),
        Command::Check(a) => check::exec(a, shell),
        Command::Deploy(a) => deploy::exec(a, shell),
        Command::Diff(a) => diff::exec(a, shell),
        Command::Drift(a) => drift::exec(a, shell),
        Command::Envs(a) => envs::exec(a, shell),
        Command::Outputs(a) => outputs::exec(a, shell),
        Command::Destroy(a) => destroy::exec(a, shell),
        Command::Gc(a) => gc::exec(a, shell),
        Command::History(a) => history::exec(a, shell),
        Command::Rollback(a) => rollback::exec(a, shell),
        Command::Run(a) => run::exec(a, shell),
        Command::Watch(a) => watch::exec(a, shell),
        Command::Report(a) => report::exec(a, shell),
        Command::Ci(a) => ci::exec(a, shell),
        Command::Init(a) => init::exec(a, shell),
        Command::IamPolicy(a) => iam_policy::exec(a, shell),
        Command::Schema(a) => schema::exec(a, shell),
    }
}

/// What the process contributes to a project: flags, working directory and environment variables.
/// This is the only place the binary reads the environment for `jiti-core`. `offline` commands
/// (`render`, `check`) need no region unless a template uses `aws.region`, and never ask EC2
/// instance metadata for one (off EC2 that costs seconds of timeouts per command).
pub fn options(args: &ProjectArgs, offline: bool) -> anyhow::Result<Options> {
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Ok(Options {
        selection: Selection {
            manifest_path: args.manifest_path.clone(),
            packages: args.packages.clone(),
            workspace: args.workspace,
            cwd,
        },
        branch: BranchHints { flag: args.branch.clone(), ci_vars: git::ci_vars(var) },
        region_chain: region_chain(!offline),
        process_env: jiti_core::resolve::ProcessEnv::new(|name| std::env::var(name).ok()),
        region_optional: offline,
    })
}

/// The AWS config chain's region per profile, as the AWS CLI finds it, looked up once per profile.
fn region_chain(instance_metadata: bool) -> RegionChain {
    let seen: Mutex<HashMap<Option<String>, Option<ChainRegion>>> = Mutex::default();
    RegionChain::new(move |profile| {
        let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.entry(profile.map(str::to_owned))
            .or_insert_with(|| {
                // Called while a project loads, before any command runtime exists.
                let runtime =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                runtime.block_on(jiti_core::cloud::chain_region(profile, instance_metadata))
            })
            .clone()
    })
}

/// Who deploys, for the release record: git's author identity (its variables, then its config).
pub fn deployer(project: &Project) -> Option<String> {
    git::user(&project.git.root, |name| project.process_env.var(name).filter(|v| !v.is_empty()))
}

/// Every app of the workspace, for the branch given (else the checkout's): what `gc`, `report`
/// and `ci` look at, wherever they run.
pub fn workspace(manifest_path: Option<std::path::PathBuf>, branch: Option<String>) -> ProjectArgs {
    ProjectArgs { packages: Vec::new(), workspace: true, manifest_path, branch }
}

/// What gc judges branches by: this clone's knowledge, and `remote`'s branches listed live.
pub fn branch_knowledge(
    project: &Project,
    remote: Option<&str>,
) -> anyhow::Result<(git::BranchKnowledge, Option<std::collections::HashSet<String>>)> {
    let knowledge = git::branch_knowledge(&project.git.root, &project.git.branch)?;
    let remote_branches = match remote {
        Some(remote) => Some(git::remote_branches(&project.git.root, remote)?),
        None => None,
    };
    Ok((knowledge, remote_branches))
}

/// Loads the project for a command that talks to AWS: every app needs a region. Its secrets are
/// hidden from everything printed from now on.
pub fn load_project(args: &ProjectArgs, shell: &Shell) -> anyhow::Result<Project> {
    load(args, false, shell)
}

/// Loads the project for an offline command (`render`): an app may lack a region.
pub fn load_offline_project(args: &ProjectArgs, shell: &Shell) -> anyhow::Result<Project> {
    load(args, true, shell)
}

fn load(args: &ProjectArgs, offline: bool, shell: &Shell) -> anyhow::Result<Project> {
    let project = Project::load(&options(args, offline)?)?;
    shell.hide(project.secrets());
    Ok(project)
}

/// Also hides the defaults of `NoEcho` template parameters, which only a render tells: for
/// commands that print what the stacks hold without rendering (`outputs`). Commands that render
/// hide what their renders find. Returns, per app, the outputs made from secret parameters, which
/// are shown as `****` whatever their value.
pub fn hide_noecho_defaults(project: &Project, shell: &Shell) -> BTreeMap<String, Vec<String>> {
    let mut secret_outputs = BTreeMap::new();
    for app in &project.apps {
        if let Ok(rendered) = jiti_core::render::render_app(project, app) {
            shell.hide(rendered.secrets);
            secret_outputs.insert(app.name.clone(), rendered.secret_outputs);
        }
    }
    secret_outputs
}

/// The async runtime of the commands that talk to AWS.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

/// Runs `work` on a fresh runtime until it ends, or until an interrupt (Ctrl-C, SIGTERM): then
/// nothing more is started, and before exiting 130 it says which stack operations finished and
/// which go on in CloudFormation (CloudFormation does not stop an operation because its caller
/// did), with how to follow them. Local files are written whole (`jiti_core::layout::write_atomic`),
/// so an interrupt leaves none half-written.
pub fn block_on<T>(
    progress: &crate::progress::Progress,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    use std::io::Write as _;
    use tokio::signal::unix::{SignalKind, signal};
    runtime()?
        .block_on(async {
            let mut interrupt =
                signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
            let mut terminate =
                signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
            tokio::select! {
                result = work => result,
                _ = interrupt.recv() => Err(interrupted(progress)),
                _ = terminate.recv() => Err(interrupted(progress)),
            }
        })
        .or_else(|e| match e.downcast_ref::<Interrupted>() {
            Some(_) => {
                let _ = std::io::stderr().flush();
                std::process::exit(Exit::Interrupted.code().into())
            }
            None => Err(e),
        })
}

/// The marker error of an interrupted command (see [`block_on`]).
#[derive(Debug)]
struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

fn interrupted(progress: &crate::progress::Progress) -> anyhow::Error {
    use std::io::Write as _;
    progress.finish();
    let mut err = progress.shell().err();
    let statuses = progress.statuses();
    let _ = writeln!(
        err,
        "{}interrupted{:#}: nothing more is started",
        crate::shell::WARNING,
        crate::shell::WARNING
    );
    for (stack, status) in &statuses {
        if status.ends_with(" sent") {
            let _ = writeln!(
                err,
                "  {stack}: {status}, not answered yet: CloudFormation may be working on it; follow it with `aws cloudformation describe-stacks --stack-name {stack}` (or run the command again: it waits for a busy stack)"
            );
        } else if status.ends_with("_IN_PROGRESS") {
            let _ = writeln!(
                err,
                "  {stack}: {status}: the operation goes on in CloudFormation; follow it with `aws cloudformation describe-stack-events --stack-name {stack}` (or run the command again: it waits for a busy stack)"
            );
        } else {
            let _ = writeln!(err, "  {stack}: {status}");
        }
    }
    if statuses.is_empty() {
        let _ = writeln!(err, "  no stack operation had started");
    } else {
        let _ = writeln!(
            err,
            "  run the same command again to finish: it starts from what is there now, and redoes nothing done"
        );
    }
    anyhow::Error::new(Interrupted)
}

/// AWS clients for every region (and profile) any environment of `apps` is configured for: what
/// `envs` and `gc` look at.
pub async fn connect_everywhere<'a>(
    apps: impl IntoIterator<Item = &'a ResolvedApp>,
    args: &ConnectArgs,
    counter: &CallCounter,
) -> BTreeMap<Target, Aws> {
    connect_to(apps.into_iter().flat_map(jiti_core::stacks::targets), args, counter).await
}

/// AWS clients for every target of `apps`, counting their calls in `counter`.
pub async fn connect<'a>(
    apps: impl IntoIterator<Item = &'a ResolvedApp>,
    args: &ConnectArgs,
    counter: &CallCounter,
) -> BTreeMap<Target, Aws> {
    connect_to(apps.into_iter().map(jiti_core::stacks::target), args, counter).await
}

/// One client set per distinct target, made in the order given.
async fn connect_to(
    targets: impl IntoIterator<Item = Target>,
    args: &ConnectArgs,
    counter: &CallCounter,
) -> BTreeMap<Target, Aws> {
    let options = ConnectOptions {
        endpoint_url: args
            .endpoint_url
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok().filter(|v| !v.is_empty())),
        operation_timeout: args.api_timeout,
        ..ConnectOptions::default()
    };
    let mut apis = BTreeMap::new();
    for target in targets {
        if let std::collections::btree_map::Entry::Vacant(slot) = apis.entry(target) {
            let api = Aws::connect(slot.key(), &options, counter).await;
            slot.insert(api);
        }
    }
    apis
}

/// The commit a command works from, for its report.
pub fn checkout(project: &Project) -> jiti_core::report::Checkout {
    jiti_core::report::Checkout {
        branch: project.git.branch.clone(),
        commit: project.git.commit.clone(),
        dirty: project.git.dirty,
    }
}

/// Asks on the terminal; `false` when stdin is not a terminal (so CI never hangs on a prompt).
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    let mut err = std::io::stderr().lock();
    write!(err, "{question} [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
