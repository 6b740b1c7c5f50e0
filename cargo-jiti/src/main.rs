//! `cargo jiti`: CloudFormation beside your Rust apps, one environment per git branch.
//!
//! Thin on purpose: parse the command line, run the subcommand, turn its result into an exit code.
//! Everything else is in `jiti-core`; printing is in `commands/` through one `shell::Shell`.

mod cli;
mod commands;
mod html;
mod markdown;
mod progress;
#[cfg(test)]
mod reference;
mod shell;

use std::process::ExitCode;

use clap::Parser;

use crate::shell::{Exit, Shell};

fn main() -> ExitCode {
    let cli::Cargo::Jiti(args) = cli::Cargo::parse();
    let shell = Shell::new(args.command.json());
    match commands::exec(args, &shell) {
        Ok(exit) => exit.into(),
        Err(error) => {
            shell.error(&error);
            Exit::Error.into()
        }
    }
}
