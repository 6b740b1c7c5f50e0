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
    let json = args.command.json();
    match commands::exec(args) {
        Ok(code) => code,
        Err(error) => {
            output::print_error(&error);
            // A script that asked for JSON gets JSON, also when the command failed.
            if json && !output::json_printed() {
                let _ = output::print_json(&output::error_json(&error));
            }
            ExitCode::from(output::EXIT_ERROR)
        }
    }
}
