//! The command line, as clap derive types: `cargo jiti <command>`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  success, or nothing to do
  1  `check` found errors or warnings
  2  error (bad config or template, git or cargo failure)";

/// cargo runs `cargo-jiti jiti …` for `cargo jiti …`: model that, so help reads as cargo's.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap::builder::styling::Styles::styled())]
pub enum Cargo {
    Jiti(JitiArgs),
}

/// Just-in-time infrastructure: CloudFormation templates beside your Rust apps, one environment per git branch
#[derive(Debug, Args)]
#[command(version, after_help = EXIT_CODES, propagate_version = true)]
pub struct JitiArgs {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render each app's template for the branch's environment into target/jiti/<env>/<app>.template.json
    Render(RenderArgs),
    /// Check config, templates, tags, limits and dependencies; exit 1 on errors or warnings
    Check(CheckArgs),
    /// Print the JSON Schema of infra/jiti.toml (for editors: see the README)
    Schema,
}

/// Which apps, and for which branch: cargo's package selection flags.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// Only this app (package or app name); repeatable
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub packages: Vec<String>,
    /// Every app of the workspace, wherever the command runs
    #[arg(long)]
    pub workspace: bool,
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Branch whose environment to use [default: the checked-out branch; on a detached HEAD, the CI's branch variable]
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Print the template to stdout instead of writing it (one app only)
    #[arg(long, conflicts_with = "json")]
    pub stdout: bool,
    /// Print a JSON summary for scripts
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Print findings as JSON for CI
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cargo::command().debug_assert();
    }
}
