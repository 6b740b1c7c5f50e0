//! `check`: everything that can be known without the cloud — config, rendering, tags on every
//! resource, CloudFormation's limits, dependencies between apps, policy rules — as a list of
//! findings.

use std::path::PathBuf;

use serde_json::Value;

use crate::config::BuiltinRule;
use crate::policy;
use crate::render::{self, Rendered};
use crate::resolve::{Project, ResolvedApp};
use crate::tagging::{self, Taggability};
use crate::template::{self, Template};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// One thing `check` has to say. `code` is stable, for scripts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Finding {
    pub severity: Severity,
    pub code: &'static str,
    pub app: Option<String>,
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub resource: Option<String>,
    pub message: String,
}

/// Every finding code `check` gives: (code, usual severity, what it means). The reference
/// (`docs/reference/findings.md`) is checked against this list, and this list against the code.
/// Policy rules' levels can be changed per app or workspace, and a rule turned off is information.
pub const CODES: &[(&str, &str, &str)] = &[
    (
        "config",
        "error",
        "`jiti.toml` (or the workspace's `[workspace.metadata.jiti]`) cannot be read or is invalid",
    ),
    (
        "render",
        "error",
        "the template does not render (Tera) or does not parse as a CloudFormation template",
    ),
    ("reserved-tag", "error", "`[tags]` sets a `jiti:` or `aws:` key, which cargo-jiti or AWS own"),
    ("missing-tags", "error", "a taggable resource lacks a `jiti:*` tag (the `tags` policy rule)"),
    ("too-many-tags", "error", "a resource would carry more than AWS's 50 tags"),
    ("limit", "error", "over 500 resources, 200 parameters, 200 outputs, or a template over 1 MB"),
    (
        "dependency",
        "error",
        "`depends_on` names an unknown app or the app itself, or the apps' dependencies form a cycle",
    ),
    (
        "bucket-public-access",
        "error",
        "a bucket turns its public access block off or grants public ACLs (*strict*: does not set all four blocks)",
    ),
    (
        "encryption",
        "error",
        "a queue turns server-side encryption off without a key (*strict*: buckets and tables must say it); topics without a key are a warning",
    ),
    (
        "public-principal",
        "error",
        "an `Allow` statement or Lambda permission grants `*` without a condition that narrows it",
    ),
    (
        "termination-protection",
        "error",
        "a protected environment sets `termination_protection = false`",
    ),
    (
        "guard",
        "error",
        "a rule of the team's CloudFormation Guard files (`infra/policy/*.guard`) fails, or a Guard file is invalid",
    ),
    (
        "parameter-missing",
        "error",
        "the template requires a parameter `[parameters]` does not give",
    ),
    ("parameter-unknown", "error", "`[parameters]` sets a parameter the template does not declare"),
    (
        "parameter-value",
        "error",
        "a parameter's value breaks its `AllowedValues`, `AllowedPattern`, length, range or `Number` type",
    ),
    ("parameter-env", "error", "a parameter read from an environment variable that is not set"),
    (
        "artifact",
        "error",
        "`[artifacts]`: a `lambda` artifact's binary is not the package's (or not one), or a function runs an artifact built for other `Architectures`",
    ),
    (
        "untaggable",
        "info",
        "a resource whose type cannot be tagged (or is unknown to the registry)",
    ),
    (
        "retention-dropped",
        "info",
        "`DeletionPolicy`/`UpdateReplacePolicy: Retain` became `Delete` in an ephemeral environment",
    ),
    (
        "log-group-owned",
        "info",
        "a log group was added for a Lambda function that had none, so its logs are tagged, expire and go with the stack (`[logs]`)",
    ),
    (
        "log-group-left",
        "info",
        "a Lambda function's logging was left as written: Lambda will make its untagged `/aws/lambda/…` group",
    ),
    (
        "large-template",
        "info",
        "the template is over the 51,200 bytes CloudFormation takes inline: deploys upload it",
    ),
];

/// All findings of one `check`, and the templates that rendered (for callers that also write them).
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub rendered: Vec<Rendered>,
}

impl Report {
    /// Errors or warnings were found (exit code 1).
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.severity <= Severity::Warning)
    }
}

/// Checks the selected apps of `project` (and the dependencies between all its apps).
pub fn check(project: &Project) -> Report {
    let mut report = Report::default();
    report.findings.extend(dependency_findings(project));
    for app in project.selected_apps() {
        match render::render_app(project, app) {
            Ok(rendered) => {
                report.findings.extend(template_findings(app, &rendered));
                report.findings.extend(other_environments_parameters(app, &rendered));
                report.rendered.push(rendered);
            }
            Err(e) => report.findings.push(render_error_finding(app, &e)),
        }
    }
    report.findings.sort_by(|a, b| (a.severity, &a.app).cmp(&(b.severity, &b.app)));
    report
}

fn finding(severity: Severity, code: &'static str, app: &ResolvedApp, message: String) -> Finding {
    Finding {
        severity,
        code,
        app: Some(app.name.clone()),
        file: None,
        line: None,
        resource: None,
        message,
    }
}

fn render_error_finding(app: &ResolvedApp, error: &render::RenderError) -> Finding {
    let mut f = finding(Severity::Error, "render", app, error.to_string());
    match error {
        render::RenderError::Template { location, .. } => match &location.source_line {
            Some((file, line)) => {
                f.file = Some(file.clone());
                f.line = Some(*line);
            }
            None => f.file = Some(app.infra_dir.join(&app.template)),
        },
        render::RenderError::ReservedTag { file, error, .. } => {
            f.file = Some(file.clone());
            f.resource = Some(error.resource.clone());
            f.code = "reserved-tag";
        }
        _ => f.file = Some(app.infra_dir.join(&app.template)),
    }
    f
}

/// Findings on one rendered template.
pub fn template_findings(app: &ResolvedApp, rendered: &Rendered) -> Vec<Finding> {
    let mut out = Vec::new();
    let t = &rendered.template;
    let file = Some(rendered.template_file.clone());
    let at = |mut f: Finding, resource: &str| {
        f.file = file.clone();
        f.resource = Some(resource.to_owned());
        f
    };
    for (id, resource) in t.all_resources() {
        let ty = resource.get("Type").and_then(Value::as_str).unwrap_or_default();
        let taggability = tagging::lookup(ty);
        match taggability {
            Taggability::Taggable(tagging::TagRule { path, .. }) => {
                let missing = missing_jiti_tags(resource, path);
                if !missing.is_empty() {
                    let why = rendered
                        .tags
                        .not_injectable
                        .iter()
                        .find(|s| s.resource == *id)
                        .map(|s| format!(": {}", s.reason))
                        .unwrap_or_default();
                    out.push(at(
                        ruled(
                            app,
                            BuiltinRule::Tags,
                            finding(
                                Severity::Error,
                                "missing-tags",
                                app,
                                format!("`{id}` ({ty}) lacks {}{why}", missing.join(", ")),
                            ),
                        ),
                        id,
                    ));
                }
                let count = tag_values(resource, path)
                    .iter()
                    .filter_map(|v| tagging::count(v))
                    .max()
                    .unwrap_or(0);
                if count > tagging::MAX_TAGS {
                    out.push(at(
                        finding(
                            Severity::Error,
                            "too-many-tags",
                            app,
                            format!(
                                "`{id}` ({ty}) would carry {count} tags; AWS allows {}",
                                tagging::MAX_TAGS
                            ),
                        ),
                        id,
                    ));
                }
            }
            _ => out.push(at(
                finding(
                    Severity::Info,
                    "untaggable",
                    app,
                    format!(
                        "`{id}` ({ty}) is not tagged: {}",
                        taggability.reason().unwrap_or_default()
                    ),
                ),
                id,
            )),
        }
    }
    for change in &rendered.retention {
        out.push(at(
            finding(Severity::Info, "retention-dropped", app, format!("`{}`: {} {} → Delete, so the ephemeral environment `{}` leaves nothing behind (keep it: `keep_retained = true` under [environments.ephemeral])", change.resource, change.attribute, change.from, rendered.environment.name)),
            &change.resource,
        ));
    }
    let added = rendered.logs.added.iter().map(|a| (&a.function, "log-group-owned", format!("`{}`: logs go to `{}`, added to the stack (events kept {} days; `[logs]` in jiti.toml sets it, `own = false` turns it off)", a.function, a.log_group, a.retention_days)));
    let left = rendered.logs.left.iter().map(|l| {
        (&l.function, "log-group-left", format!("`{}`: no log group added: {}", l.function, l.why))
    });
    for (function, code, message) in added.chain(left) {
        out.push(at(finding(Severity::Info, code, app, message), function));
    }
    let count = |section: &str| t.section(section).count();
    for (section, n, limit) in [
        ("Resources", t.all_resources().len(), template::MAX_RESOURCES),
        ("Parameters", count("Parameters"), template::MAX_PARAMETERS),
        ("Outputs", count("Outputs"), template::MAX_OUTPUTS),
    ] {
        if n > limit {
            let mut f = finding(
                Severity::Error,
                "limit",
                app,
                format!("{n} {} exceed CloudFormation's limit of {limit}", section.to_lowercase()),
            );
            f.file = file.clone();
            out.push(f);
        }
    }
    for (resource, message) in
        crate::artifacts::functions::problems(&app.name, &app.artifacts, &app.built, t)
    {
        let mut f = finding(Severity::Error, "artifact", app, message);
        (f.file, f.resource) = (Some(app.config_path.clone()), resource);
        out.push(f);
    }
    out.extend(policy_findings(app, rendered));
    out.extend(parameter_findings(app, t, &app.parameters, &app.environment.name));
    let bytes = t.to_json().len();
    if bytes > template::MAX_TEMPLATE_BYTES {
        let mut f = finding(
            Severity::Error,
            "limit",
            app,
            format!(
                "the template is {bytes} bytes; CloudFormation accepts at most {}",
                template::MAX_TEMPLATE_BYTES
            ),
        );
        f.file = file.clone();
        out.push(f);
    } else if bytes > template::MAX_INLINE_TEMPLATE_BYTES {
        let mut f = finding(
            Severity::Info,
            "large-template",
            app,
            format!(
                "the template is {bytes} bytes, over the {} bytes CloudFormation takes inline: deploys upload it to the artifacts bucket",
                template::MAX_INLINE_TEMPLATE_BYTES
            ),
        );
        f.file = file.clone();
        out.push(f);
    }
    out
}

/// `[parameters]` of the app's other environments, judged against this render's `Parameters`
/// (which rarely differ between environments): a production value broken on a feature branch is
/// found before the merge. Environment variables are judged only where the command runs.
fn other_environments_parameters(app: &ResolvedApp, rendered: &Rendered) -> Vec<Finding> {
    let current =
        if app.environment.protected { app.environment.name.as_str() } else { "ephemeral" };
    let mut out = Vec::new();
    for (env, overrides) in app.parameter_config.environments.iter().filter(|(e, _)| e != current) {
        let given = crate::resolve::stack_parameters(
            &app.parameter_config.base,
            overrides,
            &crate::resolve::ProcessEnv::default(),
        );
        let label = if env == "ephemeral" { "branch environments".to_owned() } else { env.clone() };
        out.extend(
            parameter_findings(app, &rendered.template, &given, &label)
                .into_iter()
                .filter(|f| f.code != "parameter-env"),
        );
    }
    out
}

/// `[parameters]` of one environment judged against the template, as findings on `jiti.toml`.
fn parameter_findings(
    app: &ResolvedApp,
    template: &Template,
    given: &[crate::resolve::StackParameter],
    env: &str,
) -> Vec<Finding> {
    crate::parameters::judge(template, given, env)
        .into_iter()
        .map(|p| {
            let mut f = finding(Severity::Error, p.code, app, p.message);
            f.file = Some(app.config_path.clone());
            f
        })
        .collect()
}

/// A finding of a built-in rule the app turned off becomes information, with the app's reason.
fn ruled(app: &ResolvedApp, rule: BuiltinRule, mut f: Finding) -> Finding {
    if let Some((_, why)) = app.policy.off.iter().find(|(r, _)| *r == rule) {
        f.severity = Severity::Info;
        f.message = format!("{} (rule `{}` is off for this app: {why})", f.message, rule.name());
    }
    f
}

/// The policy rules: built-in ones on the template and the config, then the team's Guard rules.
fn policy_findings(app: &ResolvedApp, rendered: &Rendered) -> Vec<Finding> {
    let mut out = Vec::new();
    for v in policy::builtin(&rendered.template, app.policy.strict) {
        let Some(rule) = BuiltinRule::ALL.into_iter().find(|r| r.name() == v.rule) else {
            continue;
        };
        let level = app.policy.levels.iter().find(|(r, _)| *r == rule).map_or(v.level, |(_, l)| *l);
        let severity = match level {
            crate::config::Level::Error => Severity::Error,
            crate::config::Level::Warning => Severity::Warning,
        };
        let mut f = finding(severity, rule.name(), app, v.message);
        f.file = Some(rendered.template_file.clone());
        f.resource = v.resource;
        out.push(ruled(app, rule, f));
    }
    for env in &app.unprotected_envs {
        let mut f = finding(
            Severity::Error,
            BuiltinRule::TerminationProtection.name(),
            app,
            format!(
                "protected environment `{env}` sets termination_protection = false: its stacks could be deleted by mistake"
            ),
        );
        f.file = Some(app.config_path.clone());
        out.push(ruled(app, BuiltinRule::TerminationProtection, f));
    }
    let files = match policy::guard_files(&app.infra_dir) {
        Ok(files) => files,
        Err(e) => {
            out.push(finding(Severity::Error, "guard", app, e.to_string()));
            return out;
        }
    };
    let name = format!("{}.template.json", app.name);
    for file in files {
        match policy::guard(&file, &rendered.template, &name) {
            Ok(violations) => out.extend(violations.into_iter().map(|v| {
                let mut f = finding(
                    Severity::Error,
                    "guard",
                    app,
                    format!("rule `{}`: {}", v.rule, v.message),
                );
                f.file = v.file;
                f.resource = v.resource;
                f
            })),
            Err(e) => {
                let mut f = finding(Severity::Error, "guard", app, e.to_string());
                f.file = Some(file);
                out.push(f);
            }
        }
    }
    out
}

/// The values of a resource's tag property (several for `TagSpecifications/*/Tags`).
fn tag_values<'a>(resource: &'a Value, path: &str) -> Vec<&'a Value> {
    let props = resource.get("Properties");
    match path.split_once("/*/") {
        None => props.and_then(|p| p.get(path)).into_iter().collect(),
        Some((list, rest)) => props
            .and_then(|p| p.get(list))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| item.get(rest))
            .collect(),
    }
}

/// The jiti keys a resource lacks, read back from the rendered template (not trusted from injection).
pub fn missing_jiti_tags(resource: &Value, path: &str) -> Vec<&'static str> {
    let values = tag_values(resource, path);
    tagging::JITI_KEYS
        .into_iter()
        .filter(|key| values.is_empty() || values.iter().any(|v| !has_key(v, key)))
        .collect()
}

fn has_key(value: &Value, key: &str) -> bool {
    if let Some(branches) = value.get("Fn::If").and_then(Value::as_array).filter(|b| b.len() == 3) {
        return branches[1..].iter().all(|b| has_key(b, key));
    }
    tagging::keys(value).iter().any(|k| k == key)
}

/// The finding of a `jiti.toml` that cannot be read or is invalid: `check` reports it (exit 1)
/// rather than fail to run (exit 2).
pub fn config_finding(e: &crate::config::ConfigError) -> Finding {
    let (file, line) = match e {
        crate::config::ConfigError::Invalid { path, line, .. } => (Some(path.clone()), Some(*line)),
        crate::config::ConfigError::Read { path, .. } => (Some(path.clone()), None),
    };
    Finding {
        severity: Severity::Error,
        code: "config",
        app: None,
        file,
        line,
        resource: None,
        message: e.to_string(),
    }
}

/// Loads the workspace and checks it. A bad `jiti.toml` is a finding (then there is no project);
/// any other failure to load is an error.
pub fn load_and_check(
    options: &crate::resolve::Options,
) -> Result<(Option<Project>, Report), crate::resolve::ResolveError> {
    use crate::discovery::DiscoveryError;
    use crate::resolve::ResolveError;
    match Project::load(options) {
        Ok(project) => {
            let report = check(&project);
            Ok((Some(project), report))
        }
        Err(ResolveError::Discovery(DiscoveryError::Config(e))) => {
            Ok((None, Report { findings: vec![config_finding(&e)], rendered: Vec::new() }))
        }
        Err(e) => Err(e),
    }
}

/// Unknown apps in `depends_on`, and cycles, over every app of the workspace.
fn dependency_findings(project: &Project) -> Vec<Finding> {
    let mut out = Vec::new();
    let located = |app: &ResolvedApp, needle: &str, message: String| {
        let text = std::fs::read_to_string(&app.config_path).unwrap_or_default();
        let start = text.find("depends_on").unwrap_or(0);
        let line =
            text[start..].find(needle).map(|i| crate::config::line_column(&text, start + i).0);
        Finding {
            file: Some(app.config_path.clone()),
            line,
            ..finding(Severity::Error, "dependency", app, message)
        }
    };
    for app in &project.apps {
        for dep in &app.depends_on {
            if dep == &app.name {
                out.push(located(app, dep, format!("`{}` depends on itself", app.name)));
            } else if project.app(dep).is_none() {
                let known: Vec<_> = project.apps.iter().map(|a| a.name.as_str()).collect();
                out.push(located(
                    app,
                    dep,
                    format!(
                        "`{}` depends on `{dep}`, which is not an app of this workspace (apps: {})",
                        app.name,
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    for cycle in crate::graph::cycles(project) {
        let first = &project.apps[cycle[0]];
        let names: Vec<_> =
            cycle.iter().chain(cycle.first()).map(|&i| project.apps[i].name.as_str()).collect();
        out.push(located(
            first,
            &project.apps[cycle[1 % cycle.len()]].name,
            format!("dependency cycle: {}", names.join(" → ")),
        ));
    }
    out
}

/// Checks a template that did not come from a project (tests, tooling): tags and limits only.
pub fn missing_tags_in(template: &Template) -> Vec<(String, Vec<&'static str>)> {
    template
        .all_resources()
        .into_iter()
        .filter_map(|(id, r)| {
            match tagging::lookup(r.get("Type").and_then(Value::as_str).unwrap_or_default()) {
                Taggability::Taggable(rule) => Some((id.clone(), missing_jiti_tags(r, rule.path))),
                _ => None,
            }
        })
        .filter(|(_, m)| !m.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_the_checks_give_is_listed_in_codes() {
        let listed: Vec<&str> = CODES.iter().map(|(c, _, _)| *c).collect();
        let sources = [include_str!("check.rs"), include_str!("parameters.rs")];
        let pattern = regex::Regex::new(
            r#"(?:finding\(\s*Severity::\w+,\s*|code: |code = |problem\(\s*)"([a-z]+(?:-[a-z]+)*)""#,
        )
        .unwrap();
        let mut given: Vec<&str> = sources
            .iter()
            .flat_map(|s| pattern.captures_iter(s).map(|c| c.get(1).unwrap().as_str()))
            .collect();
        given.extend(BuiltinRule::ALL.iter().map(|r| r.name()).filter(|n| *n != "tags"));
        assert!(given.len() > 15, "the pattern finds the codes: {given:?}");
        for code in given {
            assert!(
                listed.contains(&code),
                "finding code `{code}` is not in check::CODES (and so not in the reference)"
            );
        }
    }
}
