//! `cargo jiti iam-policy`: the IAM policy document a CI role needs for one app, on stdout; how
//! each service is scoped, on stderr.

use jiti_core::{iam, render};

use crate::cli::IamPolicyArgs;
use crate::shell::{Exit, Shell};

pub fn exec(args: IamPolicyArgs, shell: &Shell) -> anyhow::Result<Exit> {
    let project = super::load_project(&args.project, shell)?;
    let app = project.one_app("a policy is for")?;
    let rendered = render::render_app(&project, app)?;
    let policy = iam::policy(app, &rendered.template, args.env.as_deref(), args.account.as_deref());
    // The policy document itself, as IAM takes it (not a report).
    shell.print_json(&policy.document)?;
    for note in &policy.notes {
        shell.note(note);
    }
    Ok(Exit::Success)
}
