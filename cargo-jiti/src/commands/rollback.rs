//! `cargo jiti rollback`: an app back to an earlier release, app and infra together, from git.

use std::io::Write;
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use jiti_core::cloud::CallCounter;
use jiti_core::deploy::DeployOptions;
use jiti_core::ledger;
use jiti_core::report::RollbackReport;
use jiti_core::rollback::{self, To};

use crate::cli::RollbackArgs;
use crate::progress::Progress;
use crate::shell::{Exit, Shell};

pub fn exec(args: RollbackArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let project = super::load_project(&args.project, shell)?;
    let app = project.one_app("rollback works on")?;
    let env = args.env.env.clone().unwrap_or_else(|| app.environment.name.clone());
    if env != app.environment.name {
        bail!(
            "--env {env}: check out (or pass --branch for) a branch of that environment; the branch's environment is `{}`",
            app.environment.name
        );
    }
    if app.environment.protected
        && !args.yes.yes
        && !super::confirm(&format!(
            "Roll back {} in the protected environment `{env}`?",
            app.name
        ))?
    {
        bail!(
            "refusing to roll back the protected environment `{env}` without confirmation: pass --yes"
        );
    }
    let to = match (&args.to, args.steps) {
        (Some(r), _) => To::Reference(r.clone()),
        (None, Some(n)) => To::Steps(usize::from(n)),
        (None, None) => bail!("say where to: --to VERSION|COMMIT or --steps N"),
    };
    let counter = CallCounter::default();
    let progress = Progress::new(shell);
    let options = DeployOptions {
        method: args.method.method(),
        wait: args.wait.options(),
        now: SystemTime::now(),
        deployer: super::deployer(&project),
        ..DeployOptions::default()
    };
    let (target, result) = super::block_on(&progress, async {
        let apis = super::connect(&project.apps, &args.cloud.connect, &counter).await;
        let api = apis
            .get(&jiti_core::stacks::target(app))
            .context("no AWS client for the app's region")?;
        let history = ledger::history(api, &app.name, &env, usize::MAX).await?;
        let target = rollback::pick(&history, &app.name, &env, &to)?.clone();
        let current = history.first().map(|r| r.id.clone());
        let result =
            rollback::rollback(&project, &app.name, &target, current, &apis, &options, &progress)
                .await?;
        Ok::<_, anyhow::Error>((target, result))
    })?;
    progress.finish();
    // The release's own secrets (its template's NoEcho defaults, say), as deploy hides them.
    shell.hide(result.secrets.clone());
    let ok = result.outcome.succeeded();
    if shell.json() {
        shell.print_report(RollbackReport { to: target, result, api_calls: (&counter).into() })?;
    } else {
        super::deploy::print_summary(
            shell,
            std::slice::from_ref(&result),
            &project.workspace_root,
        )?;
        let verb = if ok { "rolled back to" } else { "could not roll back to" };
        let commit = jiti_core::git::short(&target.commit, 7);
        writeln!(
            shell.out(),
            "{} {verb} release {} (version {}, commit {commit})",
            app.name,
            target.id,
            target.version
        )?;
    }
    Ok(if ok { Exit::Success } else { Exit::Error })
}
