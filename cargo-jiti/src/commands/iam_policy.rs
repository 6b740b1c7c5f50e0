//! `cargo jiti iam-policy`: the IAM policy document a CI role needs for one app, on stdout; how
//! each service is scoped, on stderr.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::bail;
use jiti_core::{iam, render};

use crate::cli::IamPolicyArgs;
use crate::output::{self, NOTE};

pub fn exec(args: IamPolicyArgs) -> anyhow::Result<ExitCode> {
    let project = super::load_project(&args.project)?;
    let apps: Vec<_> = project.selected_apps().collect();
    let [app] = apps.as_slice() else {
        let names: Vec<_> = apps.iter().map(|a| a.name.as_str()).collect();
        bail!("a policy is for one app, and {} are selected ({}): pick one with -p", names.len(), names.join(", "));
    };
    let rendered = render::render_app(&project, app)?;
    let policy = iam::policy(app, &rendered.template, args.env.as_deref(), args.account.as_deref());
    output::print_json(&policy.document)?;
    let mut err = anstream::stderr().lock();
    for note in &policy.notes {
        writeln!(err, "{NOTE}note{NOTE:#}: {note}")?;
    }
    Ok(ExitCode::SUCCESS)
}
