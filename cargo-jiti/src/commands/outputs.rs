//! `cargo jiti outputs`: an environment's stack outputs, as a table, `KEY=value` lines, or the
//! JSON report (`--json`, or `--format json`).

use std::io::Write;

use anyhow::{Context as _, bail};
use jiti_core::cloud::{CallCounter, StackApi};
use jiti_core::report::OutputsReport;

use crate::cli::{OutputFormat, OutputsArgs};
use crate::shell::{DIM, Exit, Shell};

pub fn exec(args: OutputsArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let project = super::load_project(&args.project, shell)?;
    let secret_outputs = super::hide_noecho_defaults(&project, shell);
    let app = project.one_app("outputs shows")?;
    let stack_name = app.stack_name_for(args.env.env.as_deref());
    let counter = CallCounter::default();
    let stack = super::runtime()?.block_on(async {
        let apis = super::connect([app], &args.cloud.connect, &counter).await;
        let api = apis.values().next().context("no AWS client")?;
        Ok::<_, anyhow::Error>(api.describe_stack(&stack_name).await?)
    })?;
    let Some(stack) = stack else {
        bail!(
            "stack {stack_name} does not exist: deploy it with `cargo jiti deploy -p {}`",
            app.name
        );
    };
    // Values are masked as everything printed is; secret outputs whatever their value.
    let outputs = jiti_core::secrets::mask_outputs(
        &stack.outputs,
        secret_outputs.get(&app.name).map_or(&[][..], Vec::as_slice),
        &[],
    );
    let report = OutputsReport {
        app: app.name.clone(),
        stack_name,
        status: stack.status,
        outputs,
        api_calls: (&counter).into(),
    };
    if shell.json() {
        shell.print_report(report)?;
        return Ok(Exit::Success);
    }
    let mut out = shell.out();
    match args.format {
        OutputFormat::Env => {
            for (key, value) in &report.outputs {
                writeln!(out, "{}={}", jiti_core::hooks::env_key(key), shell_quote(value))?;
            }
        }
        // `--format json` is the report, printed above.
        OutputFormat::Table | OutputFormat::Json => {
            writeln!(out, "{DIM}{} ({}){DIM:#}", report.stack_name, report.status)?;
            let width = report.outputs.keys().map(String::len).max().unwrap_or(0);
            for (key, value) in &report.outputs {
                writeln!(out, "{key:<width$}  {value}")?;
            }
        }
    }
    Ok(Exit::Success)
}

/// Single-quoted for POSIX shells when it needs to be, so the lines can be `source`d.
fn shell_quote(value: &str) -> String {
    if !value.is_empty()
        && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,".contains(c))
    {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}
