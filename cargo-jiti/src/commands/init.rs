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
    let written = scaffold::init(&dir, starter)?;
    let mut out = shell.out();
    for path in &written {
        writeln!(
            out,
            "{GOOD}created{GOOD:#} {}",
            path.strip_prefix(&cwd).unwrap_or(path).display()
        )?;
    }
    writeln!(
        out,
        "next: `cargo jiti check -p {package}`, then `cargo jiti deploy -p {package}` for this branch's environment"
    )?;
    Ok(Exit::Success)
}
