//! Unit tests of [`super`] (render).

use super::*;

#[test]
fn literal_matching() {
    assert_eq!(literal_match("  Name: {{ app.name }}-q", "  Name: orders-q"), Some(7));
    assert_eq!(literal_match("  Name: {{ app.name }}-q", "  Other: orders-q"), None);
    assert_eq!(literal_match("{{ x }}", "anything"), Some(0));
    assert_eq!(literal_match("  A: 1", "  A: 1"), Some(4));
    assert_eq!(literal_match("  A: 1", "  A: 2"), None);
    assert_eq!(literal_match("  A: {{ a }}/{{ b }}", "  A: x/y"), Some(3));
}

#[test]
fn rendered_lines_map_back_to_template_lines() {
    let main = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n{% include \"p.yaml\" %}\n  T:\n    Type: AWS::SQS::Queue\n    Properties:\n      X: !Reff {{ v }}\n";
    let partial = "  P:\n    Type: AWS::SNS::Topic\n";
    let sources =
        vec![("stack.yaml".to_owned(), main.to_owned()), ("p.yaml".to_owned(), partial.to_owned())];
    let text = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n  P:\n    Type: AWS::SNS::Topic\n  T:\n    Type: AWS::SQS::Queue\n    Properties:\n      X: !Reff 1\n";
    assert_eq!(source_of_line(text, 9, &sources, "stack.yaml"), Some(("stack.yaml".into(), 8)));
    assert_eq!(source_of_line(text, 5, &sources, "stack.yaml"), Some(("p.yaml".into(), 2)));
    // The second `Type: AWS::SQS::Queue` is the template's second one.
    assert_eq!(source_of_line(text, 7, &sources, "stack.yaml"), Some(("stack.yaml".into(), 6)));
}

#[test]
fn dynamic_references_pass_tera_untouched() {
    let cases = [
        // (source, what Tera renders it to)
        (
            "Password: '{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:1:secret:db:SecretString:password}}'",
            "Password: '{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:1:secret:db:SecretString:password}}'",
        ),
        (
            "A: {{resolve:ssm:/p}} {{ x }} {{resolve:ssm-secure:/s:3}}",
            "A: {{resolve:ssm:/p}} 1 {{resolve:ssm-secure:/s:3}}",
        ),
        ("A: !Sub '{{resolve:ssm:/${Env}/url}}'", "A: !Sub '{{resolve:ssm:/${Env}/url}}'"),
        ("{% raw %}A: {{resolve:ssm:/p}}{% endraw %}", "A: {{resolve:ssm:/p}}"),
        (
            "{%- raw -%} A: {{resolve:ssm:/p}} {{ y }} {%- endraw %}",
            "A: {{resolve:ssm:/p}} {{ y }}",
        ),
        ("A: {{ \"{{resolve:ssm:/p}}\" }}", "A: {{resolve:ssm:/p}}"),
        (
            "{# {{resolve:ssm:/p}} #}A: {% if x == 1 %}{{resolve:ssm:/q}}{% endif %}",
            "A: {{resolve:ssm:/q}}",
        ),
        ("A: '{{ x }}'\nB: x\n", "A: '1'\nB: x\n"),
    ];
    for (source, want) in cases {
        let protected = protect_dynamic_references(source);
        assert_eq!(protected.lines().count(), source.lines().count(), "{source}");
        let mut tera = tera::Tera::default();
        tera.add_raw_template("t", &protected).unwrap_or_else(|e| panic!("{source}: {e:?}"));
        let mut context = tera::Context::new();
        context.insert("x", &1);
        assert_eq!(tera.render("t", &context).unwrap(), want, "{source}");
    }
}

#[test]
fn placeholders_are_plain_scalars_anywhere() {
    let p = placeholder("ledger-app", "QueueArn");
    for yaml in [
        format!("X: {p}\n"),
        format!("X: [{p}, b]\n"),
        format!("X: {{a: {p}}}\n"),
        format!("X: !Sub arn:{p}:x\n"),
    ] {
        let value =
            yaml_rust2::YamlLoader::load_from_str(&yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        assert!(format!("{value:?}").contains(&p), "{yaml} lost the placeholder: {value:?}");
    }
}

#[test]
fn retention_becomes_delete() {
    let mut t = json!({"Resources": {
        "B": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Snapshot"},
        "T": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "RetainExceptOnCreate"},
        "Q": {"Type": "AWS::SQS::Queue", "DeletionPolicy": "Delete"},
    }});
    let changes = drop_retention(&mut t);
    assert_eq!(changes.len(), 3);
    assert_eq!(t["Resources"]["B"]["DeletionPolicy"], "Delete");
    assert_eq!(t["Resources"]["B"]["UpdateReplacePolicy"], "Delete");
    assert_eq!(t["Resources"]["T"]["DeletionPolicy"], "Delete");
    assert_eq!(
        changes[1],
        RetentionChange {
            resource: "B".into(),
            attribute: "UpdateReplacePolicy",
            from: "Snapshot".into()
        }
    );
}
