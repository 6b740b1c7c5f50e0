//! One module per subcommand, each a thin `exec(args) -> Result<ExitCode>` over `jiti-core`.

mod check;
mod render;
mod schema;

use std::process::ExitCode;

use anyhow::Context as _;
use jiti_core::discovery::Selection;
use jiti_core::git::{self, BranchHints};
use jiti_core::resolve::{Options, Project};

use crate::cli::{Command, JitiArgs, ProjectArgs};

pub fn exec(args: JitiArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Render(a) => render::exec(a),
        Command::Check(a) => check::exec(a),
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
