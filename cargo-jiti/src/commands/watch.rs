//! `cargo jiti watch`: the inner loop of a branch environment. Every save rebuilds, and a code-only
//! change goes straight into the functions (hotswap); a change of infra deploys. One line per
//! cycle on stdout; Ctrl-C ends the loop once the cycle in flight is done (exit 130).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use jiti_core::cloud::{Aws, CallCounter, Target};
use jiti_core::deploy::{self, AppResult, DeployOptions, Outcome};
use jiti_core::hotswap::HotswapMode;
use jiti_core::resolve::Project;
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::WatchArgs;
use crate::progress::Progress;
use crate::shell::{DIM, ERROR, Exit, GOOD, NOTE, Shell};

/// Saves that arrive this close together are one change (an editor writes a file in several
/// steps; a formatter rewrites several files).
const DEBOUNCE: Duration = Duration::from_millis(200);

pub fn exec(args: WatchArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let project = super::load_project(&args.project, shell)?;
    let plan = jiti_core::graph::deploy_order(&project)?;
    if let Some(app) = plan.iter().map(|&i| &project.apps[i]).find(|a| a.environment.protected) {
        bail!(
            "`watch` is for branch environments: `{}` is protected (app {}); its stacks change only through `cargo jiti deploy`",
            app.environment.name,
            app.name
        );
    }
    let roots = roots(&project, &plan);
    super::runtime()?.block_on(watch(&args, shell, roots))
}

/// The folders whose changes matter: each app's code (its package and local path dependencies,
/// infra included), each watched with its subfolders. A folder that holds the target directory
/// (a one-package workspace) is watched alone and its other subfolders each with theirs: inotify
/// would otherwise spend a watch on every folder of every build.
fn roots(project: &Project, plan: &[usize]) -> Vec<(PathBuf, RecursiveMode)> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for &i in plan {
        for dir in &project.apps[i].code_dirs {
            if !dirs.iter().any(|r| dir.starts_with(r)) {
                dirs.retain(|r| !r.starts_with(dir));
                dirs.push(dir.clone());
            }
        }
    }
    dirs.sort();
    let mut roots = Vec::new();
    for dir in dirs {
        if !project.target_dir.starts_with(&dir) {
            roots.push((dir, RecursiveMode::Recursive));
            continue;
        }
        let children = std::fs::read_dir(&dir).into_iter().flatten().flatten();
        for child in children.map(|c| c.path()) {
            if child.is_dir() && relevant(&child) && !project.target_dir.starts_with(&child) {
                roots.push((child, RecursiveMode::Recursive));
            }
        }
        roots.push((dir, RecursiveMode::NonRecursive));
    }
    roots
}

/// Whether a changed path can change what is built or deployed: not in a `target/` or `.git/`
/// folder, not an editor's temporary file.
fn relevant(path: &Path) -> bool {
    let hidden_or_built = path.components().any(|c| {
        let c = c.as_os_str().to_string_lossy();
        c == "target" || c == ".git" || c == "node_modules"
    });
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.starts_with(".#")
        || name == "4913";
    !hidden_or_built && !temporary
}

async fn watch(
    args: &WatchArgs,
    shell: &Shell,
    roots: Vec<(PathBuf, RecursiveMode)>,
) -> anyhow::Result<Exit> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        for path in event.paths.into_iter().filter(|p| relevant(p)) {
            let _ = tx.send(path);
        }
    })
    .context("cannot watch files (inotify)")?;
    for (root, mode) in &roots {
        watcher.watch(root, *mode).with_context(|| {
            format!(
                "cannot watch `{}` (on Linux, raise fs.inotify.max_user_watches)",
                root.display()
            )
        })?;
    }
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let shown: Vec<String> = roots
        .iter()
        .filter(|(_, mode)| *mode == RecursiveMode::Recursive)
        .map(|(r, _)| r.display().to_string())
        .collect();
    shell.note(&format!("watching {} (Ctrl-C stops)", shown.join(", ")));
    let mut stop = false;
    let mut changed: BTreeSet<PathBuf> = BTreeSet::new();
    // Clients kept from cycle to cycle: the caller's identity and the bucket are looked up once
    // per session, not once per save.
    let mut session = Session::default();
    loop {
        // The cycle in flight is finished before an interrupt is obeyed: a function is never
        // left updated without its release in the ledger.
        let cycle = cycle(args, shell, std::mem::take(&mut changed), &mut session);
        tokio::pin!(cycle);
        let line = loop {
            tokio::select! {
                line = &mut cycle => break line,
                _ = interrupt.recv(), if !stop => stop = true,
                _ = terminate.recv(), if !stop => stop = true,
            }
        };
        print_line(shell, &line?)?;
        if stop {
            break;
        }
        tokio::select! {
            path = rx.recv() => match path {
                Some(path) => { changed.insert(path); }
                None => bail!("the file watcher stopped"),
            },
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
        // Quiet for DEBOUNCE: the change is complete.
        while let Ok(Some(path)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
            changed.insert(path);
        }
    }
    drop(watcher);
    shell.note("stopped watching");
    Ok(Exit::Interrupted)
}

/// What cycles share: one client per target, and the count of their calls.
#[derive(Default)]
struct Session {
    apis: BTreeMap<Target, Aws>,
    counter: CallCounter,
}

/// How one cycle ended, as one line.
struct Line {
    /// Files changed (empty: the first cycle).
    changed: Vec<String>,
    build_seconds: f64,
    results: Vec<AppResult>,
    api_calls: u64,
    /// The build failed, with why (the functions keep their last good code).
    build_failed: Option<String>,
    seconds: f64,
}

async fn cycle(
    args: &WatchArgs,
    shell: &Shell,
    changed: BTreeSet<PathBuf>,
    session: &mut Session,
) -> anyhow::Result<Line> {
    let start = Instant::now();
    let changed: Vec<String> = changed
        .iter()
        .map(|p| {
            p.file_name()
                .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
        })
        .collect();
    let mut line = Line {
        changed,
        build_seconds: 0.0,
        results: Vec::new(),
        api_calls: 0,
        build_failed: None,
        seconds: 0.0,
    };
    // Read again each cycle: jiti.toml, Cargo.toml and the git state may have changed.
    let loaded = tokio::task::block_in_place(|| {
        let project = super::load_project(&args.project, shell)?;
        let plan = jiti_core::graph::deploy_order(&project)?;
        Ok::<_, anyhow::Error>((project, plan))
    });
    let (project, plan) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            line.build_failed = Some(format!("{e:#}"));
            return Ok(line);
        }
    };
    let build_start = Instant::now();
    let built = tokio::task::block_in_place(|| super::build::build(&project, &plan, shell));
    line.build_seconds = build_start.elapsed().as_secs_f64();
    let built = match built {
        Ok(built) => built,
        Err(e) => {
            line.build_failed = Some(format!("{e:#}"));
            line.seconds = start.elapsed().as_secs_f64();
            return Ok(line);
        }
    };
    let shipping = super::build::attach(&project, &built);
    let options = DeployOptions {
        wait: args.wait.options(),
        ttl: args.ttl.ttl,
        now: SystemTime::now(),
        deployer: super::deployer(&project),
        hotswap: Some(HotswapMode::Fallback),
        ..DeployOptions::default()
    };
    let apps: Vec<_> = plan.iter().map(|&i| &project.apps[i]).collect();
    if apps.iter().any(|a| !session.apis.contains_key(&jiti_core::stacks::target(a))) {
        let more = super::connect(apps.iter().copied(), &args.connect, &session.counter).await;
        for (target, api) in more {
            session.apis.entry(target).or_insert(api);
        }
    }
    let calls_before = session.counter.total();
    let progress = Progress::new(shell);
    let results = deploy::deploy(&shipping, &session.apis, &options, &progress).await?;
    progress.finish();
    shell.hide(results.iter().flat_map(|r| r.secrets.clone()));
    line.api_calls = session.counter.total() - calls_before;
    line.results = results;
    line.seconds = start.elapsed().as_secs_f64();
    Ok(line)
}

fn print_line(shell: &Shell, line: &Line) -> anyhow::Result<()> {
    let mut out = shell.out();
    let time = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let clock = time.get(11..19).unwrap_or(&time);
    let cause = match line.changed.len() {
        0 => "start".to_owned(),
        1..=3 => line.changed.join(", "),
        n => format!("{} and {} more", line.changed[..2].join(", "), n - 2),
    };
    if let Some(error) = &line.build_failed {
        let first = error.lines().next().unwrap_or_default();
        writeln!(
            out,
            "{DIM}{clock}{DIM:#} {cause}: {ERROR}build failed{ERROR:#}, the last good code keeps running: {first}"
        )?;
        return Ok(());
    }
    for r in &line.results {
        let word = super::deploy::outcome_word(&r.outcome);
        let style = if r.outcome.succeeded() { GOOD } else { ERROR };
        let detail = match &r.outcome {
            Outcome::Hotswapped { functions } => {
                let update = functions.iter().map(|f| f.seconds).fold(0.0, f64::max);
                let names: Vec<&str> = functions.iter().map(|f| f.logical_id.as_str()).collect();
                format!(
                    "{} (build {:.2}s, upload {:.2}s, update {:.2}s)",
                    names.join(", "),
                    line.build_seconds,
                    r.upload_seconds,
                    update
                )
            }
            Outcome::Failed { error, .. } => error.clone(),
            _ => format!("(build {:.2}s, deploy {:.2}s)", line.build_seconds, r.seconds),
        };
        writeln!(out, "{DIM}{clock}{DIM:#} {cause}: {} {style}{word}{style:#} {detail}", r.app)?;
    }
    writeln!(
        out,
        "{DIM}{clock}{DIM:#} {NOTE}cycle{NOTE:#} {:.2}s, {} API calls",
        line.seconds, line.api_calls
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sources_start_a_cycle() {
        let table = [
            ("/w/orders/src/main.rs", true),
            ("/w/orders/infra/stack.yaml", true),
            ("/w/orders/Cargo.toml", true),
            ("/w/target/debug/orders", false),
            ("/w/orders/target/x", false),
            ("/w/.git/index", false),
            ("/w/orders/src/main.rs~", false),
            ("/w/orders/src/.main.rs.swp", false),
            ("/w/orders/src/4913", false),
            ("/w/orders/src/.#main.rs", false),
        ];
        for (path, expected) in table {
            assert_eq!(relevant(Path::new(path)), expected, "{path}");
        }
    }
}
