//! `cargo jiti`: CloudFormation beside your Rust apps, one environment per git branch.
//!
//! Thin on purpose: parse the command line, run the subcommand, turn its result into an exit code.
//! Everything else is in `jiti-core`; printing is in `commands/` and `output.rs`.

mod cli;
mod commands;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli::Cargo::Jiti(args) = cli::Cargo::parse();
    match commands::exec(args) {
        Ok(code) => code,
        Err(error) => {
            output::print_error(&error);
            ExitCode::from(output::EXIT_ERROR)
        }
    }
}
