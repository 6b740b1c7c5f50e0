//! `cargo jiti build`: the selected apps' `[artifacts]` built (cargo in the user's workspace, its
//! output streaming through), checked, zipped and uploaded where the bucket lacks them; and the
//! build step `deploy`, `diff` and `run` take first, before any AWS call.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};
use jiti_core::artifacts::{self, ArtifactSpec, Package, Tools};
use jiti_core::cloud::{Aws, CallCounter, Target};
use jiti_core::config::ArtifactKind;
use jiti_core::report::BuildReport;
use jiti_core::resolve::Project;
use jiti_core::ship::{self as publish, BuiltArtifact};

use crate::cli::BuildArgs;
use crate::progress::Progress;
use crate::shell::{DIM, Exit, GOOD, Shell};

/// Where cargo builds artifacts when set: a target directory shared by several checkouts (the
/// tests' copies of the example build the Lambda once), instead of the workspace's own.
pub const BUILD_TARGET_DIR_VAR: &str = "CARGO_JITI_BUILD_TARGET_DIR";

pub fn exec(args: BuildArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let project = match args.no_upload {
        true => super::load_offline_project(&args.project, shell)?,
        false => super::load_project(&args.project, shell)?,
    };
    let apps = project.selected.clone();
    if apps.iter().all(|&i| project.apps[i].artifacts.is_empty()) {
        shell.note("no artifacts to build: no selected app has `[artifacts]` in its jiti.toml");
    }
    let mut built = build(&project, &apps, shell)?;
    let counter = CallCounter::default();
    if !args.no_upload {
        let progress = Progress::new(shell);
        let mut project = project.clone();
        super::block_on(&progress, async {
            let apis = super::connect(
                apps.iter().map(|&i| &project.apps[i]),
                &args.cloud.connect,
                &counter,
            )
            .await;
            upload(&mut project, &mut built, &apis, true).await
        })?;
        progress.finish();
    }
    let report = BuildReport {
        checkout: super::checkout(&project),
        artifacts: built.into_iter().flat_map(|b| b.report).collect(),
        api_calls: (&counter).into(),
    };
    if shell.json() {
        shell.print_report(report)?;
        return Ok(Exit::Success);
    }
    let mut out = shell.out();
    for a in &report.artifacts {
        let state = match (&a.key, a.uploaded) {
            (None, _) => "built",
            (Some(_), true) => "uploaded",
            (Some(_), false) => "in bucket",
        };
        writeln!(
            out,
            "{GOOD}{state:>10}{GOOD:#} {}/{} {} bytes sha256 {} {DIM}({:.1}s build, {:.2}s zip) {}{DIM:#}",
            a.app,
            a.name,
            a.size,
            a.sha256,
            a.build_seconds,
            a.package_seconds,
            a.key.as_deref().unwrap_or(&a.file.display().to_string())
        )?;
    }
    Ok(Exit::Success)
}

/// The packages of one app, and how each was made.
#[derive(Debug)]
pub struct Built {
    pub index: usize,
    pub packages: Vec<Package>,
    pub report: Vec<BuiltArtifact>,
}

/// Builds and zips every artifact of `apps` (indices into the project's apps). No AWS call: a
/// failed build stops a deploy before anything changes.
pub fn build(project: &Project, apps: &[usize], shell: &Shell) -> anyhow::Result<Vec<Built>> {
    let mut tools: Option<Tools> = None;
    let mut out = Vec::new();
    for &index in apps {
        let app = &project.apps[index];
        let mut built = Built { index, packages: Vec::new(), report: Vec::new() };
        for spec in &app.artifacts {
            let start = Instant::now();
            let bytes = match spec.kind {
                ArtifactKind::Lambda => {
                    let tools = *tools.get_or_insert_with(find_tools);
                    build_binary(project, spec, tools, shell)?
                }
                ArtifactKind::Zip => Vec::new(),
            };
            let build_seconds = start.elapsed().as_secs_f64();
            let start = Instant::now();
            let zipped = match (spec.kind, &spec.folder) {
                (ArtifactKind::Lambda, _) => artifacts::package::lambda_zip(&bytes),
                (ArtifactKind::Zip, Some(folder)) => artifacts::package::folder_zip(folder),
                (ArtifactKind::Zip, None) => bail!("artifact `{}` has no folder", spec.name),
            }
            .with_context(|| {
                format!("failed to package artifact `{}` of app `{}`", spec.name, app.name)
            })?;
            let package = Package::new(&spec.name, zipped);
            let file = jiti_core::layout::package_file(&project.target_dir, &app.name, &spec.name);
            jiti_core::layout::write_atomic(&file, &package.bytes)
                .with_context(|| format!("failed to write `{}`", file.display()))?;
            built.report.push(BuiltArtifact {
                app: app.name.clone(),
                name: spec.name.clone(),
                kind: spec.kind,
                file,
                sha256: package.sha256.clone(),
                size: package.size(),
                key: None,
                uploaded: false,
                build_seconds,
                package_seconds: start.elapsed().as_secs_f64(),
            });
            built.packages.push(package);
        }
        if !built.packages.is_empty() {
            out.push(built);
        }
    }
    Ok(out)
}

/// Hands the packages to the deploy, which points each app's template at them and uploads what
/// the bucket lacks once it knows the stack changes.
pub fn attach(project: &Project, built: &[Built]) -> Project {
    let mut project = project.clone();
    for b in built {
        project.apps[b.index].packages = std::sync::Arc::new(b.packages.clone());
    }
    project
}

/// What the deploy did with each package, for the report.
pub fn shipped(built: Vec<Built>, results: &[jiti_core::deploy::AppResult]) -> Vec<BuiltArtifact> {
    let mut out: Vec<BuiltArtifact> = built.into_iter().flat_map(|b| b.report).collect();
    for a in &mut out {
        if let Some(r) = results.iter().find(|r| r.app == a.app) {
            a.key = r.artifacts.iter().find(|x| x.name == a.name).map(|x| x.key.clone());
            a.uploaded = r.uploaded.contains(&a.name);
        }
    }
    out
}

/// Uploads what each app's target bucket lacks and points the app's template at its packages;
/// with `upload` false (`diff`), only points them where an upload would put them.
pub async fn upload(
    project: &mut Project,
    built: &mut [Built],
    apis: &std::collections::BTreeMap<Target, Aws>,
    upload: bool,
) -> anyhow::Result<()> {
    for b in built.iter_mut() {
        let app = &mut project.apps[b.index];
        let target = jiti_core::stacks::target(app);
        let api = apis.get(&target).with_context(|| format!("no AWS client for {}", app.region))?;
        let published = match upload {
            true => publish::publish(api, &app.name, &b.packages).await,
            false => publish::address(api, &app.name, &b.packages).await,
        }
        .with_context(|| format!("failed to upload the artifacts of app `{}`", app.name))?;
        for (report, r) in b.report.iter_mut().zip(&published.refs) {
            report.key = Some(r.key.clone());
            report.uploaded = published.uploaded.contains(&r.name);
        }
        app.built = published.refs.into_iter().map(|r| (r.name.clone(), r)).collect();
    }
    Ok(())
}

/// cargo-zigbuild with zig (zig on PATH, or PyPI's `ziglang` module), and cargo-lambda.
fn find_tools() -> Tools {
    let runs = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    Tools {
        zigbuild: runs("cargo-zigbuild", &["--version"])
            && (runs("zig", &["version"]) || runs("python3", &["-m", "ziglang", "version"])),
        // cargo-lambda is invoked as the cargo subcommand `cargo lambda`; its own `--version`
        // flag lives on that subcommand, not on the bare program.
        cargo_lambda: runs("cargo-lambda", &["lambda", "--version"]),
    }
}

/// Runs cargo for one Lambda artifact, its output on our stderr, and checks the binary it made.
fn build_binary(
    project: &Project,
    spec: &ArtifactSpec,
    tools: Tools,
    shell: &Shell,
) -> anyhow::Result<Vec<u8>> {
    let request = spec.build_request()?;
    let plan = artifacts::plan(&request, tools);
    let triple = request.arch.triple();
    if !target_installed(triple) {
        bail!(
            "the Rust standard library for `{triple}` is not installed (artifact `{}` of app `{}` is for `{}`): run `rustup target add {triple}`",
            spec.name,
            spec.app,
            request.arch.lambda_name()
        );
    }
    let target_dir = std::env::var_os(BUILD_TARGET_DIR_VAR)
        .filter(|v| !v.is_empty())
        .map_or_else(|| project.target_dir.clone(), PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = project.workspace_root.join("Cargo.toml");
    shell.note(&format!("building {}/{}: cargo {}", spec.app, spec.name, plan.args.join(" ")));
    let status = Command::new(&cargo)
        .args(&plan.args)
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(&project.workspace_root)
        // cargo's progress and errors go where ours do; stdout stays for the report.
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("failed to run `{}`", Path::new(&cargo).display()))?;
    if !status.success() {
        bail!(
            "building artifact `{}` of app `{}` failed (`cargo {}`); nothing was deployed",
            spec.name,
            spec.app,
            plan.args.join(" ")
        );
    }
    let binary = target_dir.join(&plan.output);
    let bytes =
        std::fs::read(&binary).with_context(|| format!("failed to read `{}`", binary.display()))?;
    artifacts::check_binary(&request.bin, &bytes, request.arch)?;
    Ok(bytes)
}

/// Whether rustup (or the toolchain) has the standard library for `triple`.
fn target_installed(triple: &str) -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else { return true };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    sysroot.is_empty() || Path::new(&sysroot).join("lib/rustlib").join(triple).join("lib").is_dir()
}
