//! Secrets: values of `[params]` named like secrets and defaults of `NoEcho` template parameters.
//! They go to CloudFormation as they are, and nowhere else as they are: every file cargo-jiti
//! writes, every record of the ledger and everything the binary prints shows them as `****`.

use serde_json::Value;

use crate::template::Template;

/// What a secret is shown as.
pub const MASK: &str = "****";

/// Values shorter than this are not masked: replacing `1` or `yes` everywhere would garble output
/// and hide nothing.
pub(crate) const MIN_SECRET_CHARS: usize = 4;

/// A parameter name that says it holds a secret (`db_password`, `apiToken`, `signing-key` …).
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "api_key",
        "api-key",
        "private_key",
        "private-key",
        "privatekey",
        "credential",
    ]
    .iter()
    .any(|w| lower.contains(w))
        || lower.ends_with("_key")
        || lower.ends_with("-key")
}

/// The secret values among `params` (by name, at any depth of a table named like a secret).
pub fn from_params(params: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in params {
        match value {
            Value::Object(inner) if is_secret_name(name) => {
                out.extend(inner.values().filter_map(scalar))
            }
            Value::Object(inner) => out.extend(from_params(inner)),
            v if is_secret_name(name) => out.extend(scalar(v)),
            _ => {}
        }
    }
    out.retain(|s| s.chars().count() >= MIN_SECRET_CHARS);
    out
}

/// Names of the template's `NoEcho` parameters.
pub fn noecho_parameters(template: &Template) -> Vec<String> {
    template
        .section("Parameters")
        .filter(|(_, p)| is_noecho(p))
        .map(|(name, _)| name.clone())
        .collect()
}

/// A template parameter declared `NoEcho: true` (or `"true"`).
pub fn is_noecho(parameter: &Value) -> bool {
    matches!(parameter.get("NoEcho"), Some(Value::Bool(true)))
        || parameter
            .get("NoEcho")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

/// Outputs whose `Value` is made from a secret parameter (`Ref`, a `${Name}` of `Fn::Sub`, at any
/// depth, so inside `Fn::Join` too), or written with a secret value (a secret `[params]` value:
/// after a rollback the stack holds an earlier secret, which no value today names): masked by what
/// they are, whatever their value's length (a three-character password is as secret as a long
/// one). `secret_parameters`: names of the template's `NoEcho` parameters, of secret-looking names,
/// and of those read from the environment; `secret_values`: the render's secrets.
pub fn secret_outputs(
    template: &Template,
    secret_parameters: &[String],
    secret_values: &[String],
) -> Vec<String> {
    fn uses(value: &Value, secret: &[String]) -> bool {
        match value {
            Value::Object(map) => map.iter().any(|(k, v)| match (k.as_str(), v) {
                ("Ref", Value::String(name)) => secret.contains(name),
                ("Fn::Sub", Value::String(text)) => {
                    sub_names(text).any(|n| secret.iter().any(|s| s == n))
                }
                ("Fn::Sub", Value::Array(items)) => {
                    let local: Vec<&String> = items
                        .get(1)
                        .and_then(Value::as_object)
                        .map(|m| m.keys().collect())
                        .unwrap_or_default();
                    let text = items.first().and_then(Value::as_str).unwrap_or_default();
                    sub_names(text)
                        .any(|n| !local.iter().any(|l| *l == n) && secret.iter().any(|s| s == n))
                        || items.iter().skip(1).any(|i| uses(i, secret))
                }
                _ => uses(v, secret),
            }),
            Value::Array(items) => items.iter().any(|i| uses(i, secret)),
            _ => false,
        }
    }
    let written_with_secret = |v: &Value| {
        let text = v.to_string();
        secret_values.iter().any(|s| text.contains(s.as_str()))
    };
    template
        .section("Outputs")
        .filter(|(_, o)| {
            o.get("Value").is_some_and(|v| uses(v, secret_parameters) || written_with_secret(v))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// Outputs as shown: those of `secret_outputs` as [`MASK`] whatever their value, the others with
/// `secrets` masked inside them.
pub fn mask_outputs(
    outputs: &std::collections::BTreeMap<String, String>,
    secret_outputs: &[String],
    secrets: &[String],
) -> std::collections::BTreeMap<String, String> {
    outputs
        .iter()
        .map(|(k, v)| {
            (k.clone(), if secret_outputs.contains(k) { MASK.to_owned() } else { mask(v, secrets) })
        })
        .collect()
}

/// The names a `Fn::Sub` string refers to (`${Name}`, `${Res.Attr}` as `Res`; `${!Literal}` is text).
fn sub_names(text: &str) -> impl Iterator<Item = &str> {
    text.split("${").skip(1).filter_map(|rest| {
        let name = rest.split('}').next()?;
        (!name.starts_with('!')).then(|| name.split('.').next().unwrap_or(name))
    })
}

/// Defaults of the template's `NoEcho` parameters.
pub fn from_template(template: &Template) -> Vec<String> {
    template
        .section("Parameters")
        .filter(|(_, p)| is_noecho(p))
        .filter_map(|(_, p)| p.get("Default").and_then(scalar))
        .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
        .collect()
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `text` with every one of `secrets` replaced by [`MASK`], longest first (so a secret that
/// contains another is masked whole).
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_owned();
    for s in sorted {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
}

/// `params` with the values of secret-named entries replaced by [`MASK`] (for the ledger).
pub fn mask_params(params: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    params
        .iter()
        .map(|(k, v)| {
            let v = match v {
                _ if is_secret_name(k) => Value::String(MASK.to_owned()),
                Value::Object(inner) => Value::Object(mask_params(inner)),
                other => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

#[cfg(test)]
mod secret_output_tests {
    use super::*;

    #[test]
    fn outputs_made_of_secret_parameters_are_secret() {
        let t = Template::parse(
            "Parameters:\n  Pw:\n    Type: String\n    NoEcho: true\n  Name:\n    Type: String\n  ApiToken:\n    Type: String\nResources:\n  Q:\n    Type: AWS::SQS::Queue\nOutputs:\n  Direct:\n    Value: !Ref Pw\n  Subbed:\n    Value: !Sub 'user:${Pw}@db'\n  Joined:\n    Value: !Join [':', [a, !Ref ApiToken]]\n  Local:\n    Value: !Sub ['${Pw}', {Pw: x}]\n  Literal:\n    Value: !Sub '${!Pw}'\n  Plain:\n    Value: !Ref Name\n  Queue:\n    Value: !GetAtt Q.Arn\n  Written:\n    Value: 'user:db-password-1'\n",
        )
        .unwrap();
        let names = crate::parameters::secret_names(&t, &[]);
        assert_eq!(secret_outputs(&t, &names, &[]), ["Direct", "Subbed", "Joined"]);
        // Written with a secret value: secret too, whatever names it.
        assert_eq!(secret_outputs(&t, &[], &["db-password-1".to_owned()]), ["Written"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_values_and_masking() {
        for name in [
            "db_password",
            "apiToken",
            "signing_key",
            "client-secret",
            "STRIPE_API_KEY",
            "credentials",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["visibility_timeout", "keyspace", "monkey", "log_retention_days"] {
            assert!(!is_secret_name(name), "{name}");
        }
        let params: serde_json::Map<String, Value> = serde_json::from_str(r#"{"db_password": "hunter22", "pin_token": 123, "short_secret": "ab", "nested": {"api_key": "k-123456"}, "memory": 256}"#).unwrap();
        let mut found = from_params(&params);
        found.sort();
        assert_eq!(
            found,
            ["hunter22", "k-123456"],
            "numbers under four digits and short strings are not secrets worth masking"
        );
        assert_eq!(
            mask("pw=hunter22 and hunter22x, key k-123456", &found),
            "pw=**** and ****x, key ****"
        );
        let masked = mask_params(&params);
        assert_eq!(masked["db_password"], MASK);
        assert_eq!(masked["nested"]["api_key"], MASK);
        assert_eq!(masked["memory"], 256);
        let t = Template::parse("Parameters:\n  Token:\n    Type: String\n    NoEcho: true\n    Default: planted-noecho\n  Plain:\n    Type: String\n    Default: visible\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n").unwrap();
        assert_eq!(from_template(&t), ["planted-noecho"]);
    }
}
