//! The command line, as clap derive types: `cargo jiti <command>`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod ci;
pub use ci::{CiArgs, CiCommand, CiInitArgs, CiProvider, CiRunArgs};

/// cargo runs `cargo-jiti jiti …` for `cargo jiti …`: model that, so help reads as cargo's.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap::builder::styling::Styles::styled())]
pub enum Cargo {
    Jiti(JitiArgs),
}

/// Just-in-time infrastructure: CloudFormation templates beside your Rust apps, one environment per git branch
#[derive(Debug, Clone, Args)]
#[command(version, after_help = crate::shell::Exit::help(), propagate_version = true)]
pub struct JitiArgs {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Render each app's template for the branch's environment into target/jiti/<env>/<app>.template.json
    Render(RenderArgs),
    /// Build each app's [artifacts] (Lambda packages from its binaries) and upload what the bucket lacks
    Build(BuildArgs),
    /// Check config, templates, tags, limits and dependencies; exit 1 on errors or warnings
    Check(CheckArgs),
    /// Deploy the branch's environment: one stack per app, dependencies first
    Deploy(DeployArgs),
    /// Show what a deploy would change: template, parameters and tags; --exit-code exits 1 on differences
    Diff(DiffArgs),
    /// Detect drift of the branch's stacks (CloudFormation drift detection); exit 1 on drift nobody meant
    Drift(DriftArgs),
    /// List every environment of the workspace's apps
    Envs(EnvsArgs),
    /// Show an environment's stack outputs
    Outputs(OutputsArgs),
    /// Delete the branch's (or --env's) environment: a dry run unless --yes
    Destroy(DestroyArgs),
    /// Remove environments whose branch is gone or whose time to live passed: a dry run unless --yes
    Gc(GcArgs),
    /// The releases of an app's environment, newest first
    History(HistoryArgs),
    /// Deploy an earlier release of an app again: its infra from git, its version and commit
    Rollback(RollbackArgs),
    /// Rebuild on every save: code-only changes hotswapped into the functions, infra changes deployed; Ctrl-C stops
    Watch(WatchArgs),
    /// Run a command with the branch's environment: deployed first if out of date, its outputs as JITI_<APP>_<OUTPUT>
    Run(RunArgs),
    /// Every environment at a glance: one self-contained HTML page (or --json) of environments, releases and what gc would collect
    Report(ReportArgs),
    /// In CI: read the event and act (pull request → deploy or destroy its environment, push to a protected branch → deploy, schedule → gc); `ci init` writes the workflow
    Ci(CiArgs),
    /// Scaffold infra/ (jiti.toml and a template) beside a crate's code
    Init(InitArgs),
    /// Print the IAM policy a CI role needs to deploy, roll back and collect an app, and no more
    IamPolicy(IamPolicyArgs),
    /// Print the JSON Schema of infra/jiti.toml (for editors), or of the --json reports
    Schema(SchemaArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SchemaArgs {
    /// The schema of every --json report and error, instead of jiti.toml's
    #[arg(long)]
    pub reports: bool,
}

impl Command {
    /// Whether the command was asked for JSON: then its errors are JSON too (see `main`).
    pub fn json(&self) -> bool {
        match self {
            Command::Render(a) => a.json.json,
            Command::Build(a) => a.cloud.json.json,
            Command::Check(a) => a.json.json,
            Command::Deploy(a) => a.cloud.json.json,
            Command::Diff(a) => a.cloud.json.json,
            Command::Drift(a) => a.cloud.json.json,
            Command::Envs(a) => a.cloud.json.json,
            Command::Outputs(a) => a.cloud.json.json || a.format == OutputFormat::Json,
            Command::Destroy(a) => a.cloud.json.json,
            Command::Gc(a) => a.cloud.json.json,
            Command::History(a) => a.cloud.json.json,
            Command::Rollback(a) => a.cloud.json.json,
            Command::Ci(a) => a.command.is_none() && a.run.cloud.json.json,
            Command::Report(a) => a.cloud.json.json,
            Command::Run(_)
            | Command::Watch(_)
            | Command::Init(_)
            | Command::IamPolicy(_)
            | Command::Schema(_) => false,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    #[command(flatten)]
    pub cloud: CloudArgs,
    /// The HTML page (the default; --json prints the report's data instead)
    #[arg(long, conflicts_with = "json")]
    pub html: bool,
    /// Write the page here [default: stdout]
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Judge branches by this remote's branches, listed live (as `gc --remote`)
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Releases shown per environment, newest first
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub releases: usize,
    /// Ledger listings and records read at once
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = at_least_one)]
    pub jobs: usize,
    /// Also upload the page to the artifacts bucket (private, encrypted) and print a presigned URL
    #[arg(long)]
    pub publish: bool,
    /// How long the presigned URL works (at most 7d)
    #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = presign_duration, requires = "publish")]
    pub expires: std::time::Duration,
}

/// A presigned URL's lifetime: SigV4 signs for at most 7 days.
fn presign_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime_duration(s)?;
    match d.as_secs() {
        0 => Err("must be more than 0s".to_owned()),
        n if n > 7 * 24 * 3600 => {
            Err(format!("`{s}` is longer than 7d, the longest a presigned URL can work"))
        }
        _ => Ok(d),
    }
}

#[derive(Debug, Clone, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub ttl: TtlArg,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Clone, Args)]
#[command(trailing_var_arg = true)]
pub struct RunArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Use the environment as deployed: never deploy
    #[arg(long)]
    pub no_deploy: bool,
    #[command(flatten)]
    pub method: MethodArg,
    #[command(flatten)]
    pub ttl: TtlArg,
    #[command(flatten)]
    pub wait: WaitArgs,
    /// The command and its arguments (after `--`)
    #[arg(required = true, value_name = "COMMAND", allow_hyphen_values = true)]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Starter {
    /// An SQS queue with a dead-letter queue, for a worker
    QueueWorker,
    /// A Lambda function behind an API Gateway REST API, with its log group
    HttpFunction,
    /// A private, encrypted, versioned S3 bucket
    StaticBucket,
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// The crate to give infra/ (package name) [default: the crate in the current directory]
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub package: Option<String>,
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Which starting point to write
    #[arg(long, value_enum, default_value = "queue-worker")]
    pub template: Starter,
}

#[derive(Debug, Clone, Args)]
pub struct IamPolicyArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Only this environment's stacks [default: every environment of the app]
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// The AWS account id to name in ARNs [default: any account, `*`]
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
}

/// How to reach AWS: the standard AWS config chain, plus these.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// AWS endpoint, e.g. a local emulator [default: AWS_ENDPOINT_URL, else AWS]
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Limit on one AWS API call, retries included
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = humantime_duration)]
    pub api_timeout: std::time::Duration,
}

/// The flags of commands that talk to AWS and report on it.
#[derive(Debug, Clone, Args)]
pub struct CloudArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub json: JsonArg,
}

/// `--json`, the same for every command that reports.
#[derive(Debug, Clone, Args)]
pub struct JsonArg {
    /// Print the report as JSON, for CI (schema: `cargo jiti schema --reports`); errors too
    #[arg(long)]
    pub json: bool,
}

/// How long to follow one stack operation.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Give up waiting for a stack operation after this long (it goes on in CloudFormation)
    #[arg(long, value_name = "DURATION", default_value = "60m", value_parser = humantime_duration)]
    pub timeout: std::time::Duration,
}

impl WaitArgs {
    pub fn options(&self) -> jiti_core::wait::WaitOptions {
        jiti_core::wait::WaitOptions {
            timeout: self.timeout,
            ..jiti_core::wait::WaitOptions::default()
        }
    }
}

/// `--env`: another environment than the branch's.
#[derive(Debug, Clone, Args)]
pub struct EnvArg {
    /// Environment name [default: the branch's]
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
}

/// `--yes`: go ahead without asking.
#[derive(Debug, Clone, Args)]
pub struct YesArg {
    /// Go ahead: delete for real (destroy and gc are dry runs without it), or deploy to a protected environment without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// `--method`: how stacks are created and updated.
#[derive(Debug, Clone, Args)]
pub struct MethodArg {
    /// change-set: CloudFormation computes the changes first; direct: CreateStack/UpdateStack,
    /// changes computed from the templates (faster; as `cdk deploy --method=direct`)
    #[arg(long, value_enum, default_value = "change-set")]
    pub method: DeployMethod,
}

impl MethodArg {
    pub fn method(&self) -> jiti_core::deploy::Method {
        match self.method {
            DeployMethod::ChangeSet => jiti_core::deploy::Method::ChangeSet,
            DeployMethod::Direct => jiti_core::deploy::Method::Direct,
        }
    }
}

/// `--ttl`: how long an ephemeral environment lives.
#[derive(Debug, Clone, Args)]
pub struct TtlArg {
    /// Time to live of an ephemeral environment, e.g. 2d [default: environments.ephemeral.ttl]
    #[arg(long, value_name = "DURATION", value_parser = ttl_duration)]
    pub ttl: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
    /// Build and package only: no AWS call, nothing uploaded
    #[arg(long)]
    pub no_upload: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
    #[command(flatten)]
    pub yes: YesArg,
    /// Stop after showing each change set (left in CloudFormation for review)
    #[arg(long)]
    pub no_execute: bool,
    #[command(flatten)]
    pub method: MethodArg,
    #[command(flatten)]
    pub wait: WaitArgs,
    /// Apps deployed at once
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = at_least_one)]
    pub jobs: usize,
    #[command(flatten)]
    pub ttl: TtlArg,
    /// When [hooks] verify fails, leave the failed release in place (no automatic rollback)
    #[arg(long)]
    pub no_rollback: bool,
    /// Deploy uncommitted changes to a protected environment
    #[arg(long)]
    pub allow_dirty: bool,
    /// Deploy even when `check` finds errors (recorded in the release)
    #[arg(long)]
    pub skip_checks: bool,
    #[command(flatten)]
    pub hotswap: HotswapArgs,
}

/// Code-only changes straight into the functions (branch environments only).
#[derive(Debug, Clone, Args)]
pub struct HotswapArgs {
    /// Put code-only changes straight into the Lambda functions (no CloudFormation update); anything else deploys normally. Branch environments only
    #[arg(long, conflicts_with = "no_execute")]
    pub hotswap: bool,
    /// As --hotswap, but refuse a change that is not code only
    #[arg(long, conflicts_with_all = ["hotswap", "no_execute"])]
    pub hotswap_only: bool,
}

impl HotswapArgs {
    pub fn mode(&self) -> Option<jiti_core::hotswap::HotswapMode> {
        use jiti_core::hotswap::HotswapMode;
        match (self.hotswap, self.hotswap_only) {
            (_, true) => Some(HotswapMode::Only),
            (true, false) => Some(HotswapMode::Fallback),
            (false, false) => None,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub cloud: CloudArgs,
    /// Path to Cargo.toml
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    #[command(flatten)]
    pub yes: YesArg,
    /// Only this app's environments and resources
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// Judge branches by this remote's branches, listed live (for shallow or single-branch clones)
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Also collect environments not deployed for this long, e.g. 14d
    #[arg(long, value_name = "DURATION", value_parser = humantime_duration)]
    pub max_age: Option<std::time::Duration>,
    /// Allow removing up to N environments of an app, past the guard (more than half, and more than 5)
    #[arg(long, value_name = "N")]
    pub max_delete: Option<usize>,
    /// Stacks deleted at once (then resources, as many at once)
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = at_least_one)]
    pub jobs: usize,
    #[command(flatten)]
    pub wait: WaitArgs,
    /// Only old builds (artifact objects), no environments
    #[arg(long)]
    pub artifacts_only: bool,
    /// Builds referenced by this many newest releases of each live environment are kept
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = at_least_one)]
    pub keep_releases: usize,
    /// Builds younger than this are kept (a deploy in flight uploads before it records)
    #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = humantime_duration)]
    pub artifacts_grace: std::time::Duration,
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
    #[command(flatten)]
    pub env: EnvArg,
    /// At most this many releases per app
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
    #[command(flatten)]
    pub env: EnvArg,
    /// The release to go back to: a crate version or a commit id prefix
    #[arg(
        long,
        value_name = "VERSION|COMMIT",
        required_unless_present = "steps",
        conflicts_with = "steps"
    )]
    pub to: Option<String>,
    /// Go back this many releases from the newest
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub steps: Option<u16>,
    #[command(flatten)]
    pub yes: YesArg,
    #[command(flatten)]
    pub method: MethodArg,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeployMethod {
    ChangeSet,
    Direct,
}

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
    /// Exit 1 when anything differs
    #[arg(long)]
    pub exit_code: bool,
    /// text: a unified diff per app; markdown: a summary and the diffs folded, for a pull
    /// request comment or $GITHUB_STEP_SUMMARY
    #[arg(long, value_enum, default_value = "text", conflicts_with = "json")]
    pub format: DiffFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
}

#[derive(Debug, Clone, Args)]
pub struct EnvsArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    /// The same report as --json
    Json,
    /// KEY=value lines, for `source` or `env`
    Env,
}

#[derive(Debug, Clone, Args)]
pub struct OutputsArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
    /// How to print them: a table, `KEY=value` lines (env), or the JSON report (json: as --json)
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    #[command(flatten)]
    pub env: EnvArg,
}

#[derive(Debug, Clone, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
    #[command(flatten)]
    pub yes: YesArg,
    #[command(flatten)]
    pub env: EnvArg,
    /// Also destroy a protected environment (lifts its termination protection first)
    #[arg(long)]
    pub allow_protected: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// A count of things done at once: 0 would do nothing, forever.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("`{s}` is not a number: {e}")),
    }
}

/// A time to live, bounded as `jiti.toml`'s `ttl` is.
fn ttl_duration(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<jiti_core::config::Ttl>().map(|t| t.0)
}

fn humantime_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration such as 30m or 2d: {e}"))
}

/// Which apps, and for which branch: cargo's package selection flags.
#[derive(Debug, Clone, Args)]
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

#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Print the template to stdout instead of writing it (one app only)
    #[arg(long, conflicts_with = "json")]
    pub stdout: bool,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub json: JsonArg,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cargo::command().debug_assert();
    }
}
