//! `cargo jiti outputs`: an environment's stack outputs, as a table, JSON or `KEY=value` lines.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use jiti_core::cloud::{CallCounter, StackApi};

use crate::cli::{OutputFormat, OutputsArgs};
use crate::output::{self, DIM};

pub fn exec(args: OutputsArgs) -> anyhow::Result<ExitCode> {
    let project = super::load_project(&args.project)?;
    let secret_outputs = super::hide_noecho_defaults(&project);
    let apps: Vec<_> = project.selected_apps().collect();
    let [app] = apps[..] else {
        let names: Vec<_> = apps.iter().map(|a| a.name.as_str()).collect();
        bail!("outputs shows one app's, and {} apps are selected ({}): pick one with -p", names.len(), names.join(", "));
    };
    let stack_name = app.stack_name_for(args.env.as_deref());
    let counter = CallCounter::default();
    let stack = super::runtime()?.block_on(async {
        let apis = super::connect([app], &args.cloud.connect, &counter).await;
        let api = apis.values().next().context("no AWS client")?;
        Ok::<_, anyhow::Error>(api.describe_stack(&stack_name).await?)
    })?;
    let Some(mut stack) = stack else {
        bail!("stack {stack_name} does not exist: deploy it with `cargo jiti deploy -p {}`", app.name);
    };
    // Values are masked as everything printed is; secret outputs whatever their value.
    stack.outputs = jiti_core::secrets::mask_outputs(&stack.outputs, secret_outputs.get(&app.name).map_or(&[][..], Vec::as_slice), &[]);
    match (args.format, args.cloud.json) {
        (_, true) => output::print_json(&serde_json::json!({"stack_name": stack_name, "status": stack.status, "outputs": stack.outputs, "api_calls": super::calls_json(&counter)}))?,
        (OutputFormat::Json, false) => output::print_json(&stack.outputs)?,
        (OutputFormat::Env, _) => {
            let mut out = output::stdout();
            for (key, value) in &stack.outputs {
                writeln!(out, "{}={}", jiti_core::hooks::env_key(key), shell_quote(value))?;
            }
        }
        (OutputFormat::Table, _) => {
            let mut out = output::stdout();
            writeln!(out, "{DIM}{stack_name} ({}){DIM:#}", stack.status)?;
            let width = stack.outputs.keys().map(String::len).max().unwrap_or(0);
            for (key, value) in &stack.outputs {
                writeln!(out, "{key:<width$}  {value}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Single-quoted for POSIX shells when it needs to be, so the lines can be `source`d.
fn shell_quote(value: &str) -> String {
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,".contains(c)) {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}
