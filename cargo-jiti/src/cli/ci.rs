//! The flags of `cargo jiti ci` and `cargo jiti ci init`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CloudArgs, MethodArg, TtlArg, WaitArgs};

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CiArgs {
    #[command(subcommand)]
    pub command: Option<CiCommand>,
    #[command(flatten)]
    pub run: CiRunArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum CiCommand {
    /// Write the CI file (.github/workflows/jiti.yml, or .gitlab-ci.yml) that runs `cargo jiti ci`; never over a file changed since
    Init(CiInitArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CiInitArgs {
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// A GitHub Actions workflow (the default)
    #[arg(long, conflicts_with = "gitlab")]
    pub github: bool,
    /// A GitLab CI file
    #[arg(long)]
    pub gitlab: bool,
    /// Print the file instead of writing it
    #[arg(long)]
    pub stdout: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CiProvider {
    Github,
    Gitlab,
}

#[derive(Debug, Clone, Args)]
pub struct CiRunArgs {
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    #[command(flatten)]
    pub cloud: CloudArgs,
    /// Say what the event calls for and show it (destroy's and gc's dry runs, a deploy's diff) without changing anything
    #[arg(long)]
    pub dry_run: bool,
    /// The CI [default: GITHUB_ACTIONS or GITLAB_CI tells]
    #[arg(long, value_enum)]
    pub provider: Option<CiProvider>,
    /// GitHub's event name [default: GITHUB_EVENT_NAME]
    #[arg(long, value_name = "NAME")]
    pub event_name: Option<String>,
    /// GitHub's event payload [default: GITHUB_EVENT_PATH]
    #[arg(long, value_name = "PATH")]
    pub event_path: Option<PathBuf>,
    /// Write the pull request comment's body (Markdown, with a hidden marker) here
    #[arg(long, value_name = "PATH")]
    pub comment_file: Option<PathBuf>,
    #[command(flatten)]
    pub method: MethodArg,
    #[command(flatten)]
    pub wait: WaitArgs,
    #[command(flatten)]
    pub ttl: TtlArg,
}
