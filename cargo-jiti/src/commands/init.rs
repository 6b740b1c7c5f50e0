//! `cargo jiti init`: infra/ beside a crate's code, from a starter.

use std::io::Write as _;

use anyhow::Context as _;
use jiti_core::scaffold::{self, Starter};

use crate::cli::{InitArgs, Starter as StarterArg};
use crate::shell::{Exit, GOOD, Shell};

pub fn exec(args: InitArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    let (package, dir) =
        scaffold::package_dir(args.manifest_path.as_deref(), &cwd, args.package.as_deref())?;
    let starter = match args.template {
        StarterArg::QueueWorker => Starter::QueueWorker,
        StarterArg::HttpFunction => Starter::HttpFunction,
        StarterArg::StaticBucket => Starter::StaticBucket,
    };
    let done = scaffold::init(&dir, starter)?;
    let mut out = shell.out();
    for path in &done.written {
        let verb = if path.ends_with("src/main.rs") { "wrote" } else { "created" };
        writeln!(
            out,
            "{GOOD}{verb}{GOOD:#} {}",
            path.strip_prefix(&cwd).unwrap_or(path).display()
        )?;
    }
    if done.handler_written {
        // The handler's crates, added as the user would (cargo picks the versions and the lock).
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        for add in starter.dependencies() {
            let status = std::process::Command::new(&cargo)
                .arg("add")
                .args(*add)
                .arg("--package")
                .arg(&package)
                .current_dir(&dir)
                .stdout(std::io::stderr())
                .status()
                .context("failed to run `cargo add`")?;
            anyhow::ensure!(
                status.success(),
                "`cargo add {}` failed: add the handler's dependencies to {}/Cargo.toml yourself",
                add.join(" "),
                dir.display()
            );
        }
        writeln!(
            out,
            "{GOOD}added{GOOD:#} lambda_runtime, serde_json and tokio to {package}'s dependencies"
        )?;
    }
    if let Some(handler) = done.handler_left {
        writeln!(
            out,
            "note: src/main.rs has code of its own, so it was left alone; the function runs this crate's binary on the provided.al2023 runtime: a handler to start from (with `cargo add lambda_runtime serde_json tokio -F tokio/macros`):\n\n{handler}"
        )?;
    }
    writeln!(
        out,
        "next: `cargo jiti check -p {package}`, then `cargo jiti deploy -p {package}` for this branch's environment"
    )?;
    Ok(Exit::Success)
}
