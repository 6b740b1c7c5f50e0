//! Stack parameters: `[parameters]` values judged against the template's `Parameters` section as
//! CloudFormation would judge them at CreateStack (a required one missing, an unknown name, a value
//! outside `AllowedValues`, `AllowedPattern`, `MinLength`/`MaxLength`, `MinValue`/`MaxValue`, or
//! not a number for `Number`), so that `check` says it before a deploy fails half-way.

use serde_json::Value;

use crate::secrets::is_noecho;
use crate::template::{Template, scalar_text};

/// One CloudFormation stack parameter an app's `[parameters]` gives (environment overrides applied).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct StackParameter {
    pub name: String,
    /// What CloudFormation receives; `None` when it comes from an environment variable that is not
    /// set (a `check` error, so nothing deploys without it).
    pub value: Option<String>,
    /// The process environment variable it is read from (then it is a secret).
    pub env: Option<String>,
}

impl StackParameter {
    /// Masked wherever shown: read from the environment, or named like a secret. (A template's
    /// `NoEcho` parameters are masked too, once the template is rendered.)
    pub fn secret(&self) -> bool {
        self.env.is_some() || crate::secrets::is_secret_name(&self.name)
    }
}

/// Values of stack parameters that are secrets: read from the environment, named like a secret,
/// or `NoEcho` in the template (`noecho`: their names).
pub fn secret_values(parameters: &[StackParameter], noecho: &[String]) -> Vec<String> {
    parameters
        .iter()
        .filter(|p| p.secret() || noecho.contains(&p.name))
        .filter_map(|p| p.value.clone())
        .filter(|s| s.chars().count() >= crate::secrets::MIN_SECRET_CHARS)
        .collect()
}

/// The template's parameters whose values are secret: `NoEcho`, named like a secret, or (among
/// `given`) read from the environment.
pub fn secret_names(template: &Template, given: &[StackParameter]) -> Vec<String> {
    let mut names = crate::secrets::noecho_parameters(template);
    names.extend(
        template
            .section("Parameters")
            .map(|(k, _)| k)
            .filter(|k| crate::secrets::is_secret_name(k))
            .cloned(),
    );
    names.extend(given.iter().filter(|p| p.secret()).map(|p| p.name.clone()));
    names
}

/// One thing wrong with an app's parameters in one environment. `code` is `check`'s finding code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: &'static str,
    pub parameter: String,
    pub message: String,
}

/// Problems of `given` against the `Parameters` `template` declares, in environment `env`.
/// Values of secret parameters never appear in messages.
pub fn judge(template: &Template, given: &[StackParameter], env: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    let declared: Vec<(&String, &Value)> = template.section("Parameters").collect();
    let problem = |code, parameter: &str, message: String| Problem {
        code,
        parameter: parameter.to_owned(),
        message,
    };
    for (name, declaration) in &declared {
        let has_default = declaration.get("Default").is_some();
        match given.iter().find(|p| p.name == **name) {
            None if !has_default => out.push(problem(
                "parameter-missing",
                name,
                format!("template parameter `{name}` has no `Default` and `[parameters]` gives it no value in environment `{env}`: add `{name} = \"…\"` under [parameters] (or the environment's own `parameters` table) in jiti.toml"),
            )),
            Some(StackParameter { value: None, env: Some(var), .. }) => out.push(problem(
                "parameter-env",
                name,
                format!("parameter `{name}` is read from the environment variable `{var}`, which is not set: set it (a CI secret, say) before `cargo jiti deploy`"),
            )),
            Some(p @ StackParameter { value: Some(value), .. }) => {
                let shown = if p.secret() || is_noecho(declaration) { "the value".to_owned() } else { format!("`{value}`") };
                for reason in constraint_failures(declaration, value) {
                    out.push(problem("parameter-value", name, format!("parameter `{name}` in environment `{env}`: {shown} {reason}")));
                }
            }
            _ => {}
        }
    }
    for p in given {
        if !declared.iter().any(|(name, _)| **name == p.name) {
            let hint = declared
                .iter()
                .map(|(n, _)| (strsim::jaro_winkler(&p.name, n), n))
                .filter(|(score, _)| *score >= 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map_or_else(
                    || match declared.is_empty() {
                        true => "; the template declares no Parameters".to_owned(),
                        false => format!(
                            "; it declares {}",
                            declared.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    },
                    |(_, n)| format!("; did you mean `{n}`?"),
                );
            out.push(problem("parameter-unknown", &p.name, format!("`[parameters]` sets `{}`, which the template does not declare (CloudFormation refuses unknown parameters){hint}", p.name)));
        }
    }
    out
}

/// A constraint's number, written as a number or a string (`MinValue: "1"`), as CloudFormation reads it.
fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Why `value` breaks the declaration's constraints (none when it keeps them). List types
/// (`List<…>`, `CommaDelimitedList`) are judged item by item, as CloudFormation does.
fn constraint_failures(declaration: &Value, value: &str) -> Vec<String> {
    let ty = declaration.get("Type").and_then(Value::as_str).unwrap_or("String");
    let list = ty.starts_with("List<") || ty == "CommaDelimitedList";
    let items: Vec<&str> =
        if list { value.split(',').map(str::trim).collect() } else { vec![value] };
    let numeric = ty == "Number" || ty == "List<Number>";
    let mut out = Vec::new();
    for item in items {
        if numeric && item.parse::<f64>().is_err() {
            out.push(format!("is not a number, and the parameter's type is {ty}"));
            continue;
        }
        if let Some(allowed) = declaration.get("AllowedValues").and_then(Value::as_array) {
            let allowed: Vec<String> = allowed.iter().filter_map(scalar_text).collect();
            let equal = |a: &String| {
                a == item || (numeric && a.parse::<f64>().ok() == item.parse::<f64>().ok())
            };
            if !allowed.iter().any(equal) {
                out.push(format!("is not one of AllowedValues ({})", allowed.join(", ")));
            }
        }
        // CloudFormation matches the whole value. Its patterns are Java's; one the regex crate
        // cannot read is left to CloudFormation.
        if let Some(pattern) = declaration.get("AllowedPattern").and_then(Value::as_str)
            && let Ok(re) = regex::Regex::new(&format!("^(?:{pattern})$"))
            && !re.is_match(item)
        {
            out.push(format!("does not match AllowedPattern `{pattern}`"));
        }
        let length = item.chars().count() as f64;
        if let Some(min) = number(declaration.get("MinLength")).filter(|m| length < *m) {
            out.push(format!("is shorter than MinLength {min}"));
        }
        if let Some(max) = number(declaration.get("MaxLength")).filter(|m| length > *m) {
            out.push(format!("is longer than MaxLength {max}"));
        }
        if numeric && let Ok(n) = item.parse::<f64>() {
            if let Some(min) = number(declaration.get("MinValue")).filter(|m| n < *m) {
                out.push(format!("is below MinValue {min}"));
            }
            if let Some(max) = number(declaration.get("MaxValue")).filter(|m| n > *m) {
                out.push(format!("is above MaxValue {max}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(pairs: &[(&str, Option<&str>, Option<&str>)]) -> Vec<StackParameter> {
        pairs
            .iter()
            .map(|(n, v, e)| StackParameter {
                name: (*n).into(),
                value: v.map(Into::into),
                env: e.map(Into::into),
            })
            .collect()
    }

    #[test]
    fn each_problem_is_found_and_values_that_keep_the_rules_pass() {
        let t = Template::parse(
            "Parameters:\n  QueueName:\n    Type: String\n    AllowedPattern: '[a-z-]+'\n    MaxLength: 10\n  Size:\n    Type: Number\n    MinValue: 1\n    MaxValue: '10'\n  Stage:\n    Type: String\n    AllowedValues: [dev, prod]\n    Default: dev\n  Subnets:\n    Type: CommaDelimitedList\n    AllowedValues: [a, b]\n    Default: a\n  DbPassword:\n    Type: String\n    NoEcho: true\n    MinLength: 8\n    Default: xxxxxxxx\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n",
        )
        .unwrap();
        let ok = given(&[
            ("QueueName", Some("orders"), None),
            ("Size", Some("3"), None),
            ("Subnets", Some("a,b"), None),
        ]);
        assert_eq!(judge(&t, &ok, "dev"), vec![]);
        let bad = given(&[
            ("QueueName", Some("Orders_Queue_1"), None),
            ("Size", Some("11"), None),
            ("Stage", Some("qa"), None),
            ("Subnets", Some("a,c"), None),
            ("DbPassword", Some("short"), Some("DB_PASSWORD")),
            ("Stges", Some("x"), None),
        ]);
        let found: Vec<(&str, String)> =
            judge(&t, &bad, "dev").into_iter().map(|p| (p.code, p.message)).collect();
        let codes: Vec<&str> = found.iter().map(|f| f.0).collect();
        assert_eq!(
            codes,
            [
                "parameter-value",
                "parameter-value",
                "parameter-value",
                "parameter-value",
                "parameter-value",
                "parameter-value",
                "parameter-unknown"
            ],
            "{found:#?}"
        );
        let text = format!("{found:?}");
        for expected in [
            "does not match AllowedPattern `[a-z-]+`",
            "is longer than MaxLength 10",
            "is above MaxValue 10",
            "`qa` is not one of AllowedValues (dev, prod)",
            "`a,c` is not one of AllowedValues (a, b)",
            "the value is shorter than MinLength 8",
            "did you mean `Stage`?",
        ] {
            assert!(text.contains(expected), "{expected} not in {text}");
        }
        assert!(!text.contains("short`"), "a secret value is never shown: {text}");
        let missing = judge(
            &t,
            &given(&[("Size", Some("2"), None), ("DbPassword", None, Some("DB_PASSWORD"))]),
            "feature-x",
        );
        assert_eq!(
            missing.iter().map(|p| (p.code, p.parameter.as_str())).collect::<Vec<_>>(),
            [("parameter-missing", "QueueName"), ("parameter-env", "DbPassword")]
        );
        assert!(missing[0].message.contains("in environment `feature-x`"), "{missing:?}");
        let not_a_number = judge(
            &t,
            &given(&[("QueueName", Some("q"), None), ("Size", Some("many"), None)]),
            "dev",
        );
        assert_eq!(not_a_number.len(), 1);
        assert!(not_a_number[0].message.contains("is not a number"), "{not_a_number:?}");
    }
}
