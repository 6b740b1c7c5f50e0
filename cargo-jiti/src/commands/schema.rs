//! `cargo jiti schema`: the JSON Schema of `jiti.toml` (for editors), or with `--reports` of every
//! `--json` report; both are committed in `infra-schema/`.

use std::io::Write;

use crate::cli::SchemaArgs;
use crate::shell::{Exit, Shell};

pub fn exec(args: SchemaArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let schema = if args.reports {
        jiti_core::report::json_schema()
    } else {
        jiti_core::config::json_schema()
    };
    write!(shell.out(), "{schema}")?;
    Ok(Exit::Success)
}
