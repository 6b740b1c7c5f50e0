//! Rendering one app for its environment: Tera (strict) over the `infra/` folder → the template
//! model → a log group of its own for each Lambda function ([`logs`]) → jiti tags on every
//! resource → retention rewritten for ephemeral environments.
//! Needs no network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::environment::Environment;
use crate::resolve::{Project, ResolvedApp};
use crate::tagging::{self, ReservedTagError, TagReport};
use crate::template::{Template, TemplateError};

/// A single infra file larger than this is refused (CloudFormation's own limit is 1 MB of output).
pub const MAX_SOURCE_BYTES: u64 = 4 * 1024 * 1024;
/// Rendered text larger than this is refused before it is parsed.
pub const MAX_RENDERED_BYTES: usize = 8 * 1024 * 1024;
/// Retention policies that keep a resource after its stack is gone.
const RETAINING: &[&str] = &["Retain", "RetainExceptOnCreate", "Snapshot"];

/// One app's template, ready to lint, diff or deploy.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub app: String,
    pub stack_name: String,
    pub environment: Environment,
    /// The source template file.
    pub template_file: PathBuf,
    pub template: Template,
    pub tags: TagReport,
    /// Policies rewritten to `Delete` because the environment is ephemeral.
    pub retention: Vec<RetentionChange>,
    /// Log groups added for Lambda functions that had none, and functions left as they were.
    pub logs: logs::Ownership,
    /// Secret values in the template (see [`crate::secrets`]): masked wherever it is written.
    pub secrets: Vec<String>,
    /// Outputs made from secret parameters: shown as `****` whatever their value.
    pub secret_outputs: Vec<String>,
}

impl Rendered {
    /// The template as JSON with its secrets masked: what is written and shown (CloudFormation
    /// gets [`Template::to_json`]).
    pub fn masked_json(&self) -> String {
        crate::secrets::mask(&self.template.to_json(), &self.secrets)
    }
}

/// Where a template error stands, in the rendered text and (when it can be told) in the source.
#[derive(Debug, Clone, Default)]
pub struct SourceLocation {
    /// The text of the offending rendered line.
    pub rendered_line: Option<String>,
    /// The template file and line that produced it.
    pub source_line: Option<(PathBuf, usize)>,
}

/// A `DeletionPolicy`/`UpdateReplacePolicy` that `render` changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct RetentionChange {
    pub resource: String,
    pub attribute: &'static str,
    pub from: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` links outside the repository (to `{}`); infra files must live in the repository", path.display(), target.display())]
    LinkOutside { path: PathBuf, target: PathBuf },
    #[error("`{}` is {bytes} bytes; infra files are limited to {limit} bytes", path.display())]
    TooLarge { path: PathBuf, bytes: u64, limit: u64 },
    #[error("template `{template}` of app `{app}` does not exist in `{}`; set `[app] template` in jiti.toml", infra_dir.display())]
    NoTemplate { app: String, template: String, infra_dir: PathBuf },
    #[error("failed to render app `{app}` (templates in `{}`):\n{message}", infra_dir.display())]
    Tera { app: String, infra_dir: PathBuf, message: String },
    #[error("app `{app}`: the template uses `aws.region` and no AWS region is configured: set `region` under `[app]` in `{}`, a `region` in your AWS config file's profile, or AWS_REGION", config.display())]
    NoRegion { app: String, config: PathBuf },
    #[error("app `{app}` is not rendered: its dependencies form a cycle ({}); remove one of these `depends_on` in jiti.toml", cycle.join(" → "))]
    Cycle { app: String, cycle: Vec<String> },
    #[error("app `{app}` is not rendered: its dependency `{dependency}` does not render")]
    Dependency { app: String, dependency: String },
    #[error("app `{app}` rendered {bytes} bytes; the limit is {MAX_RENDERED_BYTES}")]
    RenderedTooLarge { app: String, bytes: usize },
    #[error("app `{app}`: the rendered template is not a valid CloudFormation template: {error}{}{}",
        location.rendered_line.as_ref().map(|l| format!("\n  rendered line: {l}")).unwrap_or_default(),
        location.source_line.as_ref().map(|(f, l)| format!("\n  from: {}:{l}", f.display())).unwrap_or_default())]
    Template { app: String, error: TemplateError, location: Box<SourceLocation> },
    #[error("app `{app}` ({}): {error}; remove it, cargo-jiti sets the `jiti:` tags", file.display())]
    ReservedTag { app: String, file: PathBuf, error: ReservedTagError },
    #[error("failed to write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Stack outputs of apps, by app name, for `deps.<app>.outputs` in templates.
pub type DepOutputs = BTreeMap<String, BTreeMap<String, String>>;

/// The variables a template sees (documented in the README). `outputs` holds the deployed outputs
/// of the app's dependencies; a dependency missing from it gets placeholders (see [`render_app`]).
pub fn context(project: &Project, app: &ResolvedApp, outputs: &DepOutputs) -> Value {
    let deps: serde_json::Map<String, Value> = app
        .depends_on
        .iter()
        .filter_map(|d| project.app(d))
        .map(|d| {
            let outs = outputs.get(&d.name).cloned().unwrap_or_default();
            (d.name.clone(), json!({"stack_name": d.stack_name, "env": d.environment.name, "region": d.region, "outputs": outs}))
        })
        .collect();
    // Without a region (an offline command), `aws.region` is undefined: a template that uses it
    // fails with `RenderError::NoRegion`.
    let mut aws = if app.region_source == crate::resolve::RegionSource::Unknown {
        json!({})
    } else {
        json!({"region": app.region})
    };
    if let Some(profile) = &app.profile {
        aws["profile"] = json!(profile);
    }
    json!({
        "app": {"name": app.name, "version": app.version, "package": app.package},
        "env": {"name": app.environment.name, "protected": app.environment.protected, "ephemeral": app.environment.ephemeral()},
        "git": {"branch": project.git.branch, "commit": project.git.commit, "short_commit": project.git.short_commit, "dirty": project.git.dirty},
        "stack": {"name": app.stack_name},
        "aws": aws,
        "params": app.params,
        "deps": deps,
        "artifacts": crate::artifacts::template_variables(&app.name, &app.artifacts, &app.built),
    })
}

/// Renders `app` of `project` for its environment, offline: a dependency's outputs are not known
/// before it is deployed, so `deps.<app>.outputs.<Key>` renders as a placeholder
/// `known-after-deploy.<app>.<Key>` for each output its own template declares: a plain scalar of
/// letters, digits, `-`, `_` and `.`, valid YAML wherever a value may stand (unquoted, in flow
/// style, inside a `!Sub` string), since authors write `Arn: {{ deps.a.outputs.Arn }}` unquoted.
pub fn render_app(project: &Project, app: &ResolvedApp) -> Result<Rendered, RenderError> {
    render_offline(project, app, &mut Vec::new())
}

/// Renders each of `apps` offline, all or nothing: every app's error when any fails, so that a
/// caller writes nothing until every template rendered (a broken app leaves no half-updated
/// `target/jiti`).
pub fn render_all<'a>(
    project: &Project,
    apps: impl IntoIterator<Item = &'a ResolvedApp>,
) -> Result<Vec<Rendered>, Vec<RenderError>> {
    let (ok, failed): (Vec<_>, Vec<_>) =
        apps.into_iter().map(|app| render_app(project, app)).partition(Result::is_ok);
    match failed.is_empty() {
        true => Ok(ok.into_iter().filter_map(Result::ok).collect()),
        false => Err(failed.into_iter().filter_map(Result::err).collect()),
    }
}

fn render_offline(
    project: &Project,
    app: &ResolvedApp,
    visiting: &mut Vec<String>,
) -> Result<Rendered, RenderError> {
    visiting.push(app.name.clone());
    let mut outputs = DepOutputs::new();
    for dep in app.depends_on.iter().filter_map(|d| project.app(d)) {
        if let Some(at) = visiting.iter().position(|v| *v == dep.name) {
            let mut cycle = visiting[at..].to_vec();
            cycle.push(dep.name.clone());
            // Named for the app being rendered: the first one visited.
            return Err(RenderError::Cycle { app: visiting[0].clone(), cycle });
        }
        match render_offline(project, dep, visiting) {
            Ok(rendered) => {
                let keys = rendered
                    .template
                    .section("Outputs")
                    .map(|(k, _)| (k.clone(), placeholder(&dep.name, k)));
                outputs.insert(dep.name.clone(), keys.collect());
            }
            Err(e @ RenderError::Cycle { .. }) => return Err(e),
            // Its outputs are unknown: say so, rather than fail later on a missing `deps.*` field.
            Err(_) => {
                return Err(RenderError::Dependency {
                    app: app.name.clone(),
                    dependency: dep.name.clone(),
                });
            }
        }
    }
    visiting.pop();
    render_app_with(project, app, &outputs)
}

/// The offline stand-in for output `key` of app `dep` (see [`render_app`]). App names and output
/// keys are alphanumeric (with `-`/`_` in app names), so the result is always a plain scalar.
pub fn placeholder(dep: &str, key: &str) -> String {
    format!("{PLACEHOLDER_PREFIX}{dep}.{key}")
}

/// How every offline placeholder starts.
pub const PLACEHOLDER_PREFIX: &str = "known-after-deploy.";

/// Renders `app` with the deployed outputs of its dependencies.
pub fn render_app_with(
    project: &Project,
    app: &ResolvedApp,
    outputs: &DepOutputs,
) -> Result<Rendered, RenderError> {
    let sources = match &app.sources {
        Some(files) => files.as_ref().clone(),
        None => load_sources(&app.infra_dir, &project.git.root)?,
    };
    if !sources.iter().any(|(name, _)| *name == app.template) {
        return Err(RenderError::NoTemplate {
            app: app.name.clone(),
            template: app.template.clone(),
            infra_dir: app.infra_dir.clone(),
        });
    }
    let tera_error = |e: tera::Error| RenderError::Tera {
        app: app.name.clone(),
        infra_dir: app.infra_dir.clone(),
        message: e.to_string(),
    };
    let mut tera = tera::Tera::default();
    tera.autoescape_on(Vec::<&str>::new());
    // CloudFormation's dynamic references (`{{resolve:ssm:/p}}`) are not Tera's: they reach the
    // template untouched, without the author escaping them.
    let protected: Vec<(&str, std::borrow::Cow<'_, str>)> =
        sources.iter().map(|(n, t)| (n.as_str(), protect_dynamic_references(t))).collect();
    tera.add_raw_templates(protected.iter().map(|(n, t)| (*n, t.as_ref()))).map_err(|e| RenderError::Tera {
        app: app.name.clone(),
        infra_dir: app.infra_dir.clone(),
        message: format!("{e}\n  help: a `{{{{ … }}}}` that is not meant for Tera (another tool's syntax) must be wrapped in {{% raw %}}…{{% endraw %}}"),
    })?;
    let context =
        tera::Context::from_serialize(&context(project, app, outputs)).map_err(tera_error)?;
    let text = tera.render(&app.template, &context).map_err(|e| {
        let unknown_region = app.region_source == crate::resolve::RegionSource::Unknown
            && format!("{e:?}").contains("aws.region");
        if unknown_region {
            RenderError::NoRegion { app: app.name.clone(), config: app.config_path.clone() }
        } else {
            tera_error(e)
        }
    })?;
    if text.len() > MAX_RENDERED_BYTES {
        return Err(RenderError::RenderedTooLarge { app: app.name.clone(), bytes: text.len() });
    }
    let template_file = app.infra_dir.join(&app.template);
    let mut template = Template::parse(&text).map_err(|error| {
        let rendered_line = error.line.and_then(|l| text.lines().nth(l - 1)).map(str::to_owned);
        let source_line = error
            .line
            .and_then(|l| source_of_line(&text, l, &sources, &app.template))
            .map(|(name, line)| (app.infra_dir.join(name), line));
        RenderError::Template {
            app: app.name.clone(),
            error,
            location: Box::new(SourceLocation { rendered_line, source_line }),
        }
    })?;
    // Before tags and retention: the added groups are tagged and judged like every resource.
    let logs = match app.own_logs {
        Some(days) => logs::own(&mut template.value, days),
        None => logs::Ownership::default(),
    };
    let tags = tagging::inject(&mut template.value, &project.tags(app)).map_err(|error| {
        RenderError::ReservedTag { app: app.name.clone(), file: template_file.clone(), error }
    })?;
    let retention = if app.environment.ephemeral() && !app.keep_retained {
        drop_retention(&mut template.value)
    } else {
        Vec::new()
    };
    let mut secrets = crate::secrets::from_params(&app.params);
    secrets.extend(crate::secrets::from_template(&template));
    secrets.extend(crate::parameters::secret_values(
        &app.parameters,
        &crate::secrets::noecho_parameters(&template),
    ));
    let secret_outputs = crate::secrets::secret_outputs(
        &template,
        &crate::parameters::secret_names(&template, &app.parameters),
        &secrets,
    );
    Ok(Rendered {
        app: app.name.clone(),
        stack_name: app.stack_name.clone(),
        environment: app.environment.clone(),
        template_file,
        template,
        tags,
        retention,
        logs,
        secrets,
        secret_outputs,
    })
}

/// Where `render` writes an app's template: `target/jiti/<env>/<app>.template.json`.
pub fn output_path(project: &Project, rendered: &Rendered) -> PathBuf {
    crate::layout::template_file(&project.target_dir, &rendered.environment.name, &rendered.app)
}

/// Writes the template to [`output_path`], whole or not at all (through a temporary file).
pub fn write(project: &Project, rendered: &Rendered) -> Result<PathBuf, RenderError> {
    let path = output_path(project, rendered);
    crate::layout::write_atomic(&path, rendered.masked_json())
        .map_err(|source| RenderError::Write { path: path.clone(), source })?;
    Ok(path)
}

/// Every text file of the infra folder, named by its `/`-separated path inside it, so templates can
/// `{% include "partials/queue.yaml" %}`. Hidden entries and `jiti.toml` are not templates.
fn load_sources(infra_dir: &Path, repo_root: &Path) -> Result<Vec<(String, String)>, RenderError> {
    let root = std::fs::canonicalize(repo_root).unwrap_or_else(|_| repo_root.to_owned());
    let mut out = Vec::new();
    let mut stack = vec![infra_dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let read = |source| RenderError::Read { path: dir.clone(), source };
        let mut entries: Vec<_> =
            std::fs::read_dir(&dir).map_err(read)?.collect::<Result<_, _>>().map_err(read)?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || (dir == infra_dir && name == crate::config::FILE_NAME) {
                continue;
            }
            let target = std::fs::canonicalize(&path)
                .map_err(|source| RenderError::Read { path: path.clone(), source })?;
            if !target.starts_with(&root) {
                return Err(RenderError::LinkOutside { path, target });
            }
            if target.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = target
                .metadata()
                .map_err(|source| RenderError::Read { path: path.clone(), source })?
                .len();
            if bytes > MAX_SOURCE_BYTES {
                return Err(RenderError::TooLarge { path, bytes, limit: MAX_SOURCE_BYTES });
            }
            let raw = std::fs::read(&path)
                .map_err(|source| RenderError::Read { path: path.clone(), source })?;
            // Binary files (a zipped handler, say) cannot be templates or partials.
            let Ok(text) = String::from_utf8(raw) else { continue };
            let relative = path.strip_prefix(infra_dir).unwrap_or(&path);
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((name, text));
        }
    }
    Ok(out)
}

/// Rewrites `Retain`, `RetainExceptOnCreate` and `Snapshot` to `Delete`, so that deleting an
/// ephemeral environment's stack deletes everything it made.
fn drop_retention(template: &mut Value) -> Vec<RetentionChange> {
    let mut changes = Vec::new();
    for (id, resource) in crate::template::resources_mut(template) {
        for attribute in ["DeletionPolicy", "UpdateReplacePolicy"] {
            let Some(slot) = resource.get_mut(attribute) else { continue };
            if let Some(from) = slot.as_str().filter(|p| RETAINING.contains(p)).map(str::to_owned) {
                *slot = json!("Delete");
                changes.push(RetentionChange { resource: id.clone(), attribute, from });
            }
        }
    }
    changes
}

/// The template line that produced rendered line `line` (1-based), told by matching the literal
/// text around each `{{ … }}`/`{% … %}`. Tera keeps no source map, so this is a best effort: when
/// several lines match, the k-th equal rendered line maps to the k-th matching template line.
fn source_of_line(
    text: &str,
    line: usize,
    sources: &[(String, String)],
    main: &str,
) -> Option<(String, usize)> {
    let rendered: Vec<&str> = text.lines().collect();
    let target = rendered.get(line - 1)?.trim_end();
    if target.trim().is_empty() {
        return None;
    }
    let occurrence = rendered[..line - 1].iter().filter(|l| l.trim_end() == target).count();
    let ordered =
        sources.iter().filter(|(n, _)| n == main).chain(sources.iter().filter(|(n, _)| n != main));
    let mut best: Option<(usize, String, usize)> = None;
    for (name, source) in ordered {
        let matches: Vec<(usize, usize)> = source
            .lines()
            .enumerate()
            .filter_map(|(i, l)| literal_match(l.trim_end(), target).map(|score| (i + 1, score)))
            .collect();
        let Some(top) = matches.iter().map(|m| m.1).max() else { continue };
        let tops: Vec<usize> = matches.iter().filter(|m| m.1 == top).map(|m| m.0).collect();
        let pick = tops.get(occurrence).or(tops.first()).copied()?;
        if best.as_ref().is_none_or(|b| top > b.0) {
            best = Some((top, name.clone(), pick));
        }
    }
    best.map(|(_, name, line)| (name, line))
}

/// How many literal characters of template line `pattern` match rendered line `line`, if it can
/// have produced it.
fn literal_match(pattern: &str, line: &str) -> Option<usize> {
    let mut literals = Vec::new();
    let mut rest = pattern;
    let mut opens_with_tag = false;
    let mut ends_with_tag = false;
    while let Some(start) = ["{{", "{%", "{#"].iter().filter_map(|d| rest.find(d)).min() {
        literals.push(&rest[..start]);
        opens_with_tag |= literals.len() == 1 && start == 0;
        let close = match &rest[start..start + 2] {
            "{{" => "}}",
            "{%" => "%}",
            _ => "#}",
        };
        let end = rest[start..].find(close)? + start + 2;
        rest = &rest[end..];
        ends_with_tag = rest.is_empty();
    }
    literals.push(rest);
    if literals.len() == 1 {
        return (pattern == line && !pattern.trim().is_empty()).then_some(pattern.trim().len());
    }
    let mut at = 0;
    for (i, lit) in literals.iter().enumerate() {
        if lit.is_empty() {
            continue;
        }
        if i == 0 && !opens_with_tag {
            if !line.starts_with(lit) {
                return None;
            }
            at = lit.len();
        } else if i == literals.len() - 1 && !ends_with_tag {
            if !line[at..].ends_with(lit) {
                return None;
            }
        } else {
            at += line[at..].find(lit)? + lit.len();
        }
    }
    Some(literals.iter().map(|l| l.trim().len()).sum())
}

mod dynamic_references;
pub mod logs;
pub use dynamic_references::protect_dynamic_references;

#[cfg(test)]
mod tests;
