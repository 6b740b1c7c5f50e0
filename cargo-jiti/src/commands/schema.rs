//! `cargo jiti schema`: the JSON Schema of `jiti.toml`, for editors and for `infra-schema/`.

use std::io::Write;
use std::process::ExitCode;

pub fn exec() -> anyhow::Result<ExitCode> {
    std::io::stdout().lock().write_all(jiti_core::config::json_schema().as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
