//! `cargo jiti run -- COMMAND`: the branch's environment, deployed first when out of date, then
//! COMMAND with every output of every app as `JITI_<APP>_<OUTPUT>`. How integration tests get real
//! infrastructure of their own branch.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use jiti_core::cloud::CallCounter;
use jiti_core::deploy::{self, DeployOptions};

use crate::cli::RunArgs;
use crate::progress::Progress;
use crate::shell::{Exit, Shell, WARNING};

pub fn exec(args: RunArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let project = super::load_project(&args.project, shell)?;
    let plan = jiti_core::graph::deploy_order(&project)?;
    let Some(&first) = plan.first() else { bail!("no app selected") };
    let environment = project.apps[first].environment.clone();
    // A protected environment is deployed by `deploy`, with its confirmation, never on the side.
    let deploying = !args.no_deploy && !environment.protected;
    let built = match deploying {
        true => super::build::build(&project, &plan, shell)?,
        false => Vec::new(),
    };
    let shipping = super::build::attach(&project, &built);
    let counter = CallCounter::default();
    let progress = Progress::new(shell);
    let options = DeployOptions {
        method: args.method.method(),
        wait: args.wait.options(),
        ttl: args.ttl.ttl,
        now: SystemTime::now(),
        deployer: super::deployer(&project),
        ..DeployOptions::default()
    };
    let outputs: Vec<(String, String, BTreeMap<String, String>)> = super::block_on(
        &progress,
        async {
            let apis =
                super::connect(plan.iter().map(|&i| &project.apps[i]), &args.connect, &counter)
                    .await;
            if deploying {
                let results = deploy::deploy(&shipping, &apis, &options, &progress).await?;
                progress.finish();
                let summary: Vec<String> = results
                    .iter()
                    .map(|r| format!("{} {}", r.app, super::deploy::outcome_word(&r.outcome)))
                    .collect();
                writeln!(
                    shell.err(),
                    "jiti: environment `{}`: {} ({} API calls)",
                    environment.name,
                    summary.join(", "),
                    counter.total()
                )?;
                if let Some(failed) = results.iter().find(|r| !r.outcome.succeeded()) {
                    bail!(
                        "not running the command: app `{}` did not deploy (run `cargo jiti deploy` to see why)",
                        failed.app
                    );
                }
                return Ok(results
                    .into_iter()
                    .map(|r| (r.app, r.environment, r.raw_outputs))
                    .collect());
            }
            let stacks = jiti_core::stacks::app_stacks(
                &project,
                &apis,
                plan.iter().map(|&i| &project.apps[i]),
            )
            .await?;
            let mut out = Vec::new();
            for &i in &plan {
                let app = &project.apps[i];
                let Some(stack) = stacks
                    .get(&jiti_core::stacks::target(app))
                    .and_then(|s| s.get(&app.stack_name))
                else {
                    bail!(
                        "app `{}` has no stack {} in environment `{}`: deploy it first",
                        app.name,
                        app.stack_name,
                        environment.name
                    );
                };
                out.push((app.name.clone(), app.environment.name.clone(), stack.outputs.clone()));
            }
            let why = if args.no_deploy {
                "--no-deploy"
            } else {
                "a protected environment is only deployed by `cargo jiti deploy`"
            };
            writeln!(
                shell.err(),
                "{WARNING}jiti{WARNING:#}: environment `{}` used as deployed ({why}; {} API calls)",
                environment.name,
                counter.total()
            )?;
            Ok(out)
        },
    )?;

    let (program, rest) = args.command.split_first().context("no command given")?;
    let mut command = tokio::process::Command::new(program);
    command.args(rest).env("JITI_ENV", &environment.name).env("JITI_BRANCH", &environment.branch);
    let mut named: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (app, _, values) in &outputs {
        for (key, value) in values {
            let name = variable(app, key);
            // `Url` and `URL` would both be JITI_APP_URL: one would silently hide the other.
            if let Some((first_app, first_key)) = named.get(&name) {
                bail!(
                    "outputs `{first_key}` of app `{first_app}` and `{key}` of app `{app}` would both be the variable {name}; rename one of them in its template"
                );
            }
            named.insert(name.clone(), (app.clone(), key.clone()));
            command.env(name, value);
        }
    }
    let status = super::runtime()?.block_on(supervise(command, program))?;
    Ok(Exit::Child(exit_code(status)))
}

/// `JITI_<APP>_<OUTPUT>`: upper case, anything but ASCII letters and digits as `_`.
fn variable(app: &str, output: &str) -> String {
    format!("JITI_{app}_{output}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect()
}

/// Runs the child to its end. Interrupts (Ctrl-C, SIGTERM) sent to cargo-jiti are passed on to the
/// child instead of ending cargo-jiti first, so the child decides how to stop and its code is ours.
async fn supervise(
    mut command: tokio::process::Command,
    program: &std::ffi::OsStr,
) -> anyhow::Result<std::process::ExitStatus> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut child =
        command.spawn().with_context(|| format!("cannot run `{}`", program.to_string_lossy()))?;
    let pid = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
    loop {
        let forward = tokio::select! {
            status = child.wait() => return status.context("waiting for the command failed"),
            _ = interrupt.recv() => Signal::SIGINT,
            _ = terminate.recv() => Signal::SIGTERM,
        };
        // A terminal's Ctrl-C reaches the child too (same process group); a signal sent to
        // cargo-jiti alone (CI runners do that) must be passed on.
        if let Some(pid) = pid {
            let _ = kill(pid, forward);
        }
    }
}

/// The child's exit code; 128 + the signal's number when a signal ended it, as shells report it.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(1),
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn output_variables_are_upper_case_with_underscores() {
        assert_eq!(super::variable("orders-api", "TableName"), "JITI_ORDERS_API_TABLENAME");
        assert_eq!(super::variable("billing", "queue.url"), "JITI_BILLING_QUEUE_URL");
    }
}
