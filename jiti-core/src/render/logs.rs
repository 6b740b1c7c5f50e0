//! Each Lambda function's logs in a log group of its own stack. Lambda otherwise makes
//! `/aws/lambda/<function>` on the first invocation, outside CloudFormation: untagged, kept
//! forever, and left behind when the stack goes (hundreds of them, with a branch environment per
//! pull request). `render` adds an `AWS::Logs::LogGroup` for every function that names none and
//! points the function's `LoggingConfig.LogGroup` at it: tagged like every resource, with a
//! retention, deleted with the stack.
//!
//! The group's name is left to CloudFormation (`<stack>-<Function>LogGroup-<random>`): a
//! function that already ran has its `/aws/lambda/…` group, and naming the new one so would fail
//! the update with "already exists". Functions whose author wired logging are left alone.

use serde_json::{Map, Value, json};

/// A log group `render` added for a function.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct OwnedLogGroup {
    /// The function's logical id.
    pub function: String,
    /// The log group's logical id.
    pub log_group: String,
    pub retention_days: u16,
}

/// A function whose logging `render` left as it was, and why (only where that is worth saying).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct LeftFunction {
    pub function: String,
    pub why: String,
}

/// What [`own`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    pub added: Vec<OwnedLogGroup>,
    pub left: Vec<LeftFunction>,
}

const FUNCTION_TYPES: &[&str] = &["AWS::Lambda::Function", "AWS::Serverless::Function"];

/// Adds a log group, kept `retention_days`, for each function of `template` that has none.
pub fn own(template: &mut Value, retention_days: u16) -> Ownership {
    let mut out = Ownership::default();
    // SAM's `Globals` may wire every function's logging at once.
    if template.pointer("/Globals/Function/LoggingConfig/LogGroup").is_some() {
        return out;
    }
    // Resources of `Fn::ForEach` loops counted once: what `check` judges against the limit.
    let count = crate::template::resources_mut(template).len();
    let Some(resources) = template.get_mut("Resources").and_then(Value::as_object_mut) else {
        return out;
    };
    let groups = lambda_log_group_names(resources);
    // A policy scoped to the `/aws/lambda/…` groups would not let a function write to another.
    let scoped = resources.values().any(|r| {
        let kind = r.get("Type").and_then(Value::as_str).unwrap_or("");
        (kind.starts_with("AWS::IAM::") || kind == "AWS::Serverless::Function")
            && r.to_string().contains(":log-group:/aws/lambda/")
    });
    let functions: Vec<String> = resources
        .iter()
        .filter(|(_, r)| {
            r.get("Type").and_then(Value::as_str).is_some_and(|t| FUNCTION_TYPES.contains(&t))
        })
        .map(|(id, _)| id.clone())
        .collect();
    let mut wanted = Vec::new();
    for id in functions {
        let function = &resources[&id];
        let properties = function.get("Properties");
        if properties.and_then(|p| p.pointer("/LoggingConfig/LogGroup")).is_some()
            || wired_by_author(&id, properties, &groups)
        {
            continue;
        }
        if scoped {
            out.left.push(LeftFunction {
                function: id,
                why: "a policy of the template names `/aws/lambda/…` log groups: the function's role may write to no other (set `LoggingConfig.LogGroup` yourself, or `[logs] own = false`)".into(),
            });
            continue;
        }
        if properties.is_some_and(|p| !p.is_object())
            || properties.and_then(|p| p.get("LoggingConfig")).is_some_and(|l| !l.is_object())
        {
            continue;
        }
        wanted.push(id);
    }
    // A group each must not take the stack past CloudFormation's resource limit: then none.
    if count + wanted.len() > crate::template::MAX_RESOURCES {
        out.left.extend(wanted.into_iter().map(|function| LeftFunction {
            function,
            why: format!(
                "a log group for each function would take the template's {count} resources past CloudFormation's {}",
                crate::template::MAX_RESOURCES
            ),
        }));
        return out;
    }
    for id in wanted {
        let function = &resources[&id];
        let log_group = free_id(resources, &format!("{id}LogGroup"));
        let mut group = Map::new();
        group.insert("Type".into(), json!("AWS::Logs::LogGroup"));
        // Made and kept as the function is: under its condition, with its policies.
        for attribute in ["Condition", "DeletionPolicy", "UpdateReplacePolicy"] {
            if let Some(v) = function.get(attribute) {
                group.insert(attribute.into(), v.clone());
            }
        }
        group.insert("Properties".into(), json!({ "RetentionInDays": retention_days }));
        let function = resources.get_mut(&id).and_then(Value::as_object_mut).expect("listed above");
        let properties = function.entry("Properties").or_insert_with(|| json!({}));
        let logging = properties
            .as_object_mut()
            .expect("checked above")
            .entry("LoggingConfig")
            .or_insert_with(|| json!({}));
        logging
            .as_object_mut()
            .expect("checked above")
            .insert("LogGroup".into(), json!({ "Ref": log_group }));
        resources.insert(log_group.clone(), Value::Object(group));
        out.added.push(OwnedLogGroup { function: id, log_group, retention_days });
    }
    out
}

/// The `LogGroupName`s of the template's log groups that name a `/aws/lambda/…` group, as JSON
/// text (a literal, a `Fn::Sub`, a `Fn::Join`).
fn lambda_log_group_names(resources: &Map<String, Value>) -> Vec<String> {
    resources
        .values()
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::Logs::LogGroup"))
        .filter_map(|r| r.pointer("/Properties/LogGroupName"))
        .map(Value::to_string)
        .filter(|name| name.contains("/aws/lambda/"))
        .collect()
}

/// Whether the template declares the function's `/aws/lambda/…` group itself: by its name, or
/// by a reference to the function.
fn wired_by_author(id: &str, properties: Option<&Value>, groups: &[String]) -> bool {
    let name = properties.and_then(|p| p.get("FunctionName")).and_then(Value::as_str);
    groups.iter().any(|g| {
        g.contains(&format!("${{{id}}}"))
            || g.contains(&format!("\"Ref\":\"{id}\""))
            || name.is_some_and(|n| g.contains(&format!("/aws/lambda/{n}")))
    })
}

/// `wanted`, or `wanted2`, `wanted3`… where the template has it already.
fn free_id(resources: &Map<String, Value>, wanted: &str) -> String {
    (1..)
        .map(|n| match n {
            1 => wanted.to_owned(),
            n => format!("{wanted}{n}"),
        })
        .find(|id| !resources.contains_key(id))
        .expect("an unused id")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(properties: Value) -> Value {
        json!({ "Type": "AWS::Lambda::Function", "Properties": properties })
    }

    #[test]
    fn a_function_without_a_log_group_gets_one_of_its_stack() {
        let mut t = json!({ "Resources": {
            "Api": {
                "Type": "AWS::Lambda::Function", "Condition": "WithApi", "DeletionPolicy": "Retain",
                "Properties": { "Runtime": "provided.al2023", "LoggingConfig": { "LogFormat": "JSON" } }
            },
            "ApiLogGroup": { "Type": "AWS::SQS::Queue" },
        }});
        let done = own(&mut t, 7);
        assert_eq!(
            done.added,
            [OwnedLogGroup {
                function: "Api".into(),
                log_group: "ApiLogGroup2".into(),
                retention_days: 7
            }]
        );
        assert_eq!(
            t["Resources"]["ApiLogGroup2"],
            json!({ "Type": "AWS::Logs::LogGroup", "Condition": "WithApi", "DeletionPolicy": "Retain",
                    "Properties": { "RetentionInDays": 7 } })
        );
        assert_eq!(
            t["Resources"]["Api"]["Properties"]["LoggingConfig"],
            json!({ "LogFormat": "JSON", "LogGroup": { "Ref": "ApiLogGroup2" } })
        );
    }

    #[test]
    fn functions_whose_author_wired_logging_are_left_alone() {
        // (template resources, functions that get a group)
        let table: Vec<(Value, Vec<&str>)> = vec![
            (json!({ "F": function(json!({ "LoggingConfig": { "LogGroup": "mine" } })) }), vec![]),
            (
                json!({ "F": function(json!({})),
                        "L": { "Type": "AWS::Logs::LogGroup", "Properties": { "LogGroupName": { "Fn::Sub": "/aws/lambda/${F}" } } } }),
                vec![],
            ),
            (
                json!({ "F": function(json!({})),
                        "L": { "Type": "AWS::Logs::LogGroup", "Properties": { "LogGroupName": { "Fn::Join": ["", ["/aws/lambda/", { "Ref": "F" }]] } } } }),
                vec![],
            ),
            (
                json!({ "F": function(json!({ "FunctionName": "orders-api" })),
                        "L": { "Type": "AWS::Logs::LogGroup", "Properties": { "LogGroupName": "/aws/lambda/orders-api" } } }),
                vec![],
            ),
            // A group of another function does not wire this one.
            (
                json!({ "F": function(json!({})), "G": function(json!({})),
                        "L": { "Type": "AWS::Logs::LogGroup", "Properties": { "LogGroupName": { "Fn::Sub": "/aws/lambda/${G}" } } } }),
                vec!["F"],
            ),
            (
                json!({ "S": { "Type": "AWS::Serverless::Function", "Properties": { "Handler": "x" } } }),
                vec!["S"],
            ),
        ];
        for (resources, expected) in table {
            let mut t = json!({ "Resources": resources });
            let added: Vec<String> = own(&mut t, 7).added.into_iter().map(|a| a.function).collect();
            assert_eq!(added, expected, "{resources}");
        }
        let mut sam = json!({ "Globals": { "Function": { "LoggingConfig": { "LogGroup": "all" } } },
                              "Resources": { "S": { "Type": "AWS::Serverless::Function" } } });
        assert_eq!(own(&mut sam, 7), Ownership::default(), "SAM's Globals wire every function");
    }

    #[test]
    fn groups_that_would_pass_the_resource_limit_are_not_added() {
        let mut resources = Map::new();
        for i in 0..495 {
            resources.insert(format!("Q{i}"), json!({ "Type": "AWS::SQS::Queue" }));
        }
        for i in 0..5 {
            resources.insert(format!("F{i}"), function(json!({})));
        }
        let mut full = json!({ "Resources": resources.clone() });
        let done = own(&mut full, 7);
        assert!(done.added.is_empty() && done.left.len() == 5, "{done:?}");
        assert!(done.left[0].why.contains("500 resources past"), "{:?}", done.left[0]);
        // Five queues fewer: 490 + 5 functions + their 5 groups is the limit, which fits.
        for i in 0..5 {
            resources.remove(&format!("Q{i}"));
        }
        let mut fits = json!({ "Resources": resources });
        assert_eq!(own(&mut fits, 7).added.len(), 5);
    }

    #[test]
    fn a_policy_scoped_to_lambdas_own_groups_leaves_functions_as_they_are() {
        let mut t = json!({ "Resources": {
            "F": function(json!({ "Role": { "Fn::GetAtt": ["Role", "Arn"] } })),
            "Role": { "Type": "AWS::IAM::Role", "Properties": { "Policies": [{ "PolicyDocument": { "Statement": [{
                "Effect": "Allow", "Action": "logs:PutLogEvents",
                "Resource": { "Fn::Sub": "arn:aws:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/*" } }] } }] } },
        }});
        let before = t.clone();
        let done = own(&mut t, 7);
        assert!(done.added.is_empty());
        assert_eq!(done.left.len(), 1);
        assert!(done.left[0].why.contains("[logs] own = false"), "{:?}", done.left);
        assert_eq!(t, before, "nothing changed");
    }
}
