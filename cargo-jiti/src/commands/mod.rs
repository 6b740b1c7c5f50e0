//! One module per subcommand, each a thin `exec(args) -> Result<ExitCode>` over `jiti-core`.

mod check;
mod deploy;
mod destroy;
mod diff;
mod envs;
mod gc;
mod history;
mod iam_policy;
mod init;
mod outputs;
mod render;
mod rollback;
mod run;
mod schema;

use std::process::ExitCode;

use anyhow::Context as _;
use jiti_core::discovery::Selection;
use jiti_core::git::{self, BranchHints};
use jiti_core::resolve::{Options, Project};

use std::collections::BTreeMap;

use jiti_core::cloud::{Aws, CallCounter, ConnectOptions, Target};
use jiti_core::resolve::ResolvedApp;

use crate::cli::{CloudArgs, Command, JitiArgs, ProjectArgs};

pub fn exec(args: JitiArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Render(a) => render::exec(a),
        Command::Check(a) => check::exec(a),
        Command::Deploy(a) => deploy::exec(a),
        Command::Diff(a) => diff::exec(a),
        Command::Envs(a) => envs::exec(a),
        Command::Outputs(a) => outputs::exec(a),
        Command::Destroy(a) => destroy::exec(a),
        Command::Gc(a) => gc::exec(a),
        Command::History(a) => history::exec(a),
        Command::Rollback(a) => rollback::exec(a),
        Command::Run(a) => run::exec(a),
        Command::Init(a) => init::exec(a),
        Command::IamPolicy(a) => iam_policy::exec(a),
        Command::Schema => schema::exec(),
    }
}

/// What the process contributes to a project: flags, working directory and environment variables.
/// This is the only place the binary reads the environment for `jiti-core`.
pub fn options(args: &ProjectArgs) -> anyhow::Result<Options> {
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
        default_region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
    })
}

pub fn load_project(args: &ProjectArgs) -> anyhow::Result<Project> {
    Ok(Project::load(&options(args)?)?)
}

/// The async runtime of the commands that talk to AWS.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("failed to start the async runtime")
}

/// AWS clients for every target of `apps`, counting their calls in `counter`.
pub async fn connect<'a>(apps: impl IntoIterator<Item = &'a ResolvedApp>, args: &CloudArgs, counter: &CallCounter) -> BTreeMap<Target, Aws> {
    let options = ConnectOptions {
        endpoint_url: args.endpoint_url.clone().or_else(|| std::env::var("AWS_ENDPOINT_URL").ok().filter(|v| !v.is_empty())),
        ..ConnectOptions::default()
    };
    let mut apis = BTreeMap::new();
    for app in apps {
        let target = jiti_core::deploy::target(app);
        if let std::collections::btree_map::Entry::Vacant(slot) = apis.entry(target) {
            let api = Aws::connect(slot.key(), &options, counter).await;
            slot.insert(api);
        }
    }
    apis
}

/// `{"total": n, "by_operation": {...}}` for `--json` reports.
pub fn calls_json(counter: &CallCounter) -> serde_json::Value {
    serde_json::json!({"total": counter.total(), "by_operation": counter.snapshot()})
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
