//! What a deploy would change, computed from templates and tags alone: resources added, modified
//! or removed, and stack tags changed. (CloudFormation's change sets say more, replacements among
//! it; this is what needs no change set, for `diff` and the direct deploy method.)

use std::collections::BTreeMap;

use serde_json::Value;

use crate::cloud::Change;
use crate::stacks::KEY_EXPIRES_AT;
use crate::template::scalar_text;

/// `template` without the resources whose `Condition` is false for these parameter values (given,
/// else the template's `Default`) in `region`. A condition that cannot be told offline (a
/// `Fn::FindInMap`, an unknown parameter) keeps its resources: the change may be real.
pub fn active(template: &Value, parameters: &BTreeMap<String, String>, region: &str) -> Value {
    let mut out = template.clone();
    let conditions =
        template.get("Conditions").and_then(Value::as_object).cloned().unwrap_or_default();
    let defaults: BTreeMap<String, String> = template
        .get("Parameters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, p)| Some((k.clone(), scalar_text(p.get("Default")?)?)))
        .collect();
    let value_of = |name: &str| -> Option<String> {
        match name {
            "AWS::Region" if !region.is_empty() => Some(region.to_owned()),
            // A `NoEcho` value comes back from CloudFormation masked: unknown.
            _ => parameters
                .get(name)
                .or_else(|| defaults.get(name))
                .filter(|v| v.as_str() != crate::cloud::NOECHO_SHOWN)
                .cloned(),
        }
    };
    if let Some(resources) = out.get_mut("Resources").and_then(Value::as_object_mut) {
        resources.retain(|_, r| {
            let Some(name) = r.get("Condition").and_then(Value::as_str) else { return true };
            condition(name, &conditions, &value_of, 0) != Some(false)
        });
    }
    out
}

/// A named condition's value, where it can be told (conditions nest at most a few levels deep;
/// 32 stops a cycle, which CloudFormation refuses anyway).
fn condition(
    name: &str,
    conditions: &serde_json::Map<String, Value>,
    value_of: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) -> Option<bool> {
    if depth > 32 {
        return None;
    }
    evaluate(conditions.get(name)?, conditions, value_of, depth + 1)
}

fn evaluate(
    expr: &Value,
    conditions: &serde_json::Map<String, Value>,
    value_of: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) -> Option<bool> {
    let object = expr.as_object().filter(|o| o.len() == 1)?;
    let (function, args) = object.iter().next()?;
    let list = || args.as_array().map(Vec::as_slice).unwrap_or_default();
    let operand = |v: &Value| -> Option<String> {
        match v {
            Value::Object(o) => o.get("Ref").and_then(Value::as_str).and_then(value_of),
            other => scalar_text(other),
        }
    };
    match function.as_str() {
        "Condition" => condition(args.as_str()?, conditions, value_of, depth),
        "Fn::Equals" => match list() {
            [a, b] => Some(operand(a)? == operand(b)?),
            _ => None,
        },
        "Fn::Not" => match list() {
            [a] => evaluate(a, conditions, value_of, depth).map(|v| !v),
            _ => None,
        },
        "Fn::And" | "Fn::Or" => {
            let values: Vec<Option<bool>> =
                list().iter().map(|a| evaluate(a, conditions, value_of, depth)).collect();
            let decisive = function == "Fn::Or";
            if values.contains(&Some(decisive)) {
                Some(decisive)
            } else if values.iter().all(Option::is_some) {
                Some(!decisive)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The resources a deploy adds, modifies or removes: the deployed template (with the stack's
/// parameter values) against the rendered one (with the values a deploy passes), each without the
/// resources its conditions leave out. Used by `diff` and the direct deploy method.
pub fn deploy_changes(
    deployed: Option<&Value>,
    stack: Option<&crate::cloud::Stack>,
    rendered: &Value,
    app: &crate::resolve::ResolvedApp,
) -> Vec<Change> {
    let given: BTreeMap<String, String> =
        crate::stacks::given_parameters(app).into_iter().collect();
    let old = deployed
        .map(|d| active(d, &stack.map(|s| s.parameters.clone()).unwrap_or_default(), &app.region));
    resource_changes(old.as_ref(), &active(rendered, &given, &app.region))
}

/// Resource-level changes from `old` to `new` (canonical template values), in `new`'s order,
/// removals last.
pub fn resource_changes(old: Option<&Value>, new: &Value) -> Vec<Change> {
    let empty = serde_json::Map::new();
    let resources = |t: Option<&Value>| {
        t.and_then(|t| t.get("Resources"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(|| empty.clone())
    };
    let (before, after) = (resources(old), resources(Some(new)));
    let kind = |r: &Value| r.get("Type").and_then(Value::as_str).unwrap_or_default().to_owned();
    let mut changes: Vec<Change> = after
        .iter()
        .filter_map(|(id, r)| {
            let action = match before.get(id) {
                None => "Add",
                Some(b) if b != r => "Modify",
                Some(_) => return None,
            };
            Some(Change {
                action: action.into(),
                logical_id: id.clone(),
                resource_type: kind(r),
                replacement: None,
            })
        })
        .collect();
    changes.extend(before.iter().filter(|(id, _)| !after.contains_key(*id)).map(|(id, r)| {
        Change {
            action: "Remove".into(),
            logical_id: id.clone(),
            resource_type: kind(r),
            replacement: None,
        }
    }));
    changes
}

/// One stack tag that a deploy would add, change or remove.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct TagChange {
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Stack tag changes, `jiti:expires-at` left out (it moves with the clock on every deploy).
pub fn tag_changes(old: &BTreeMap<String, String>, new: &[(String, String)]) -> Vec<TagChange> {
    let new: BTreeMap<&str, &str> = new.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut keys: Vec<&str> = old
        .keys()
        .map(String::as_str)
        .chain(new.keys().copied())
        .filter(|k| *k != KEY_EXPIRES_AT)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (o, n) = (old.get(k).map(String::as_str), new.get(k).copied());
            (o != n).then(|| TagChange {
                key: k.to_owned(),
                old: o.map(str::to_owned),
                new: n.map(str::to_owned),
            })
        })
        .collect()
}

/// What deploying one app would change.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct AppDiff {
    pub app: String,
    pub stack_name: String,
    pub exists: bool,
    /// The deployed template, canonical pretty JSON (`None` when the stack does not exist).
    #[serde(skip)]
    pub deployed: Option<String>,
    /// The template a deploy would send.
    #[serde(skip)]
    pub proposed: String,
    pub resources: Vec<Change>,
    pub tags: Vec<TagChange>,
    /// Releases hotswapped since the last deploy through CloudFormation (of the newest
    /// [`crate::ledger::HOTSWAPS_READ`]): the functions run newer code than the template names.
    pub hotswaps: usize,
}

impl AppDiff {
    pub fn differs(&self) -> bool {
        self.deployed.as_deref() != Some(self.proposed.as_str()) || !self.tags.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Stacks(#[from] crate::stacks::StacksError),
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    #[error(transparent)]
    Cloud(#[from] crate::cloud::CloudError),
}

/// Diffs of the selected apps: their stacks (and their dependencies', for outputs), then
/// GetTemplate for each deployed app.
pub async fn diff<A: crate::cloud::StackApi + crate::cloud::ReleaseStore>(
    project: &crate::resolve::Project,
    apis: &BTreeMap<crate::cloud::Target, A>,
    ttl: Option<std::time::Duration>,
) -> Result<Vec<AppDiff>, DiffError> {
    use crate::stacks::{app_stacks, stack_tags, target};
    let stacks = app_stacks(project, apis, project.selected_apps()).await?;
    let stack_of = |app: &crate::resolve::ResolvedApp| {
        stacks.get(&target(app)).and_then(|s| s.get(&app.stack_name))
    };
    let outputs: crate::render::DepOutputs = project
        .apps
        .iter()
        .filter_map(|a| Some((a.name.clone(), stack_of(a)?.outputs.clone())))
        .collect();
    let mut out = Vec::new();
    for app in project.selected_apps() {
        // A dependency not deployed yet (a new environment) has no outputs: they render as
        // `known-after-deploy.*` placeholders, as a plan shows what only the deploy will know.
        let rendered = match app.depends_on.iter().all(|d| outputs.contains_key(d)) {
            true => crate::render::render_app_with(project, app, &outputs)?,
            false => crate::render::render_app(project, app)?,
        };
        let proposed = rendered.masked_json();
        let current = stack_of(app);
        let (deployed, old_value) = match (current, apis.get(&target(app))) {
            (Some(_), Some(api)) => {
                let body = api.get_template(&app.stack_name).await?;
                // Stacks made elsewhere may hold YAML; compare in the same canonical form.
                match crate::template::Template::parse(&body) {
                    Ok(mut t) => {
                        // Where today's template holds a secret, the deployed one holds the
                        // secret of its day: masked too (a rotation shows as no change there).
                        mask_like(&mut t.value, &rendered.template.value, &rendered.secrets);
                        (Some(crate::secrets::mask(&t.to_json(), &rendered.secrets)), Some(t.value))
                    }
                    Err(_) => (Some(crate::secrets::mask(&body, &rendered.secrets)), None),
                }
            }
            _ => (None, None),
        };
        let wanted =
            stack_tags(project, app, &rendered.template.hash(), ttl, std::time::SystemTime::now());
        // Only an app that ships code can have been hotswapped: others cost no ledger read.
        let hotswaps = match (current, apis.get(&target(app))) {
            (Some(_), Some(api)) if !app.artifacts.is_empty() => {
                crate::ledger::hotswaps_recorded(api, &app.name, &app.environment.name).await?
            }
            _ => 0,
        };
        out.push(AppDiff {
            app: app.name.clone(),
            stack_name: app.stack_name.clone(),
            exists: current.is_some(),
            resources: deploy_changes(old_value.as_ref(), current, &rendered.template.value, app),
            tags: current.map(|s| tag_changes(&s.tags, &wanted)).unwrap_or_default(),
            deployed,
            proposed,
            hotswaps,
        });
    }
    Ok(out)
}

/// Masks the strings of `deployed` found where `rendered` holds a string containing a secret.
fn mask_like(deployed: &mut Value, rendered: &Value, secrets: &[String]) {
    match (deployed, rendered) {
        (Value::Object(d), Value::Object(r)) => {
            for (k, rv) in r {
                if let Some(dv) = d.get_mut(k) {
                    mask_like(dv, rv, secrets);
                }
            }
        }
        (Value::Array(d), Value::Array(r)) => {
            d.iter_mut().zip(r).for_each(|(dv, rv)| mask_like(dv, rv, secrets))
        }
        (d @ Value::String(_), Value::String(r))
            if secrets.iter().any(|s| r.contains(s.as_str())) =>
        {
            *d = Value::String(crate::secrets::MASK.to_owned())
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_whose_condition_is_false_are_not_there() {
        let t = serde_json::json!({
            "Parameters": {"Stage": {"Type": "String", "Default": "dev"}, "Alarms": {"Type": "String"}},
            "Conditions": {
                "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
                "Alarming": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": [{"Ref": "Alarms"}, "on"]}]},
                "InEurope": {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]},
                "Mapped": {"Fn::Equals": [{"Fn::FindInMap": ["M", "a", "b"]}, "x"]},
                "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
            },
            "Resources": {
                "Always": {"Type": "AWS::SQS::Queue"},
                "Prod": {"Type": "AWS::SQS::Queue", "Condition": "IsProd"},
                "Alarm": {"Type": "AWS::SNS::Topic", "Condition": "Alarming"},
                "Europe": {"Type": "AWS::SQS::Queue", "Condition": "InEurope"},
                "Unknown": {"Type": "AWS::SQS::Queue", "Condition": "Mapped"},
                "Dev": {"Type": "AWS::SQS::Queue", "Condition": "NotProd"},
            }
        });
        let ids = |params: &[(&str, &str)], region: &str| -> Vec<String> {
            let params = params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            active(&t, &params, region)["Resources"].as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(ids(&[], "us-east-1"), ["Always", "Unknown", "Dev"]);
        assert_eq!(
            ids(&[("Stage", "prod"), ("Alarms", "on")], "eu-west-1"),
            ["Always", "Prod", "Alarm", "Europe", "Unknown"]
        );
        // `Alarms` unknown: `IsProd` alone decides when it is false, and cannot when true.
        assert_eq!(ids(&[("Stage", "prod")], "us-east-1"), ["Always", "Prod", "Alarm", "Unknown"]);
        let added = resource_changes(None, &active(&t, &Default::default(), "us-east-1"));
        assert_eq!(added.len(), 3, "a create adds only what its conditions allow: {added:?}");
    }

    use serde_json::json;

    #[test]
    fn a_deployed_secret_is_masked_where_the_rendered_one_is() {
        let mut deployed =
            json!({"Outputs": {"Pw": {"Value": "old-secret"}, "Plain": {"Value": "x"}}});
        mask_like(
            &mut deployed,
            &json!({"Outputs": {"Pw": {"Value": "new-secret"}, "Plain": {"Value": "y"}}}),
            &["new-secret".to_owned()],
        );
        assert_eq!(
            deployed,
            json!({"Outputs": {"Pw": {"Value": "****"}, "Plain": {"Value": "x"}}})
        );
    }

    #[test]
    fn resources_added_modified_removed() {
        let old = json!({"Resources": {"A": {"Type": "AWS::SQS::Queue"}, "B": {"Type": "AWS::SNS::Topic"}, "C": {"Type": "AWS::S3::Bucket"}}});
        let new = json!({"Resources": {"A": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": 5}}, "C": {"Type": "AWS::S3::Bucket"}, "D": {"Type": "AWS::Logs::LogGroup"}}});
        let got: Vec<_> = resource_changes(Some(&old), &new)
            .into_iter()
            .map(|c| (c.action, c.logical_id))
            .collect();
        assert_eq!(
            got,
            [
                ("Modify".to_owned(), "A".to_owned()),
                ("Add".into(), "D".into()),
                ("Remove".into(), "B".into())
            ]
        );
        assert_eq!(resource_changes(None, &new).len(), 3);
    }

    #[test]
    fn tags_changed_except_expiry() {
        let old = BTreeMap::from([
            ("jiti:commit".to_owned(), "a".to_owned()),
            ("team".into(), "x".into()),
            (KEY_EXPIRES_AT.into(), "2026".into()),
        ]);
        let new = vec![
            ("jiti:commit".to_owned(), "b".to_owned()),
            ("team".into(), "x".into()),
            ("owner".into(), "me".into()),
            (KEY_EXPIRES_AT.into(), "2027".into()),
        ];
        let got = tag_changes(&old, &new);
        assert_eq!(
            got,
            vec![
                TagChange {
                    key: "jiti:commit".into(),
                    old: Some("a".into()),
                    new: Some("b".into())
                },
                TagChange { key: "owner".into(), old: None, new: Some("me".into()) },
            ]
        );
    }
}
