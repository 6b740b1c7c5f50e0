//! Unit tests of [`super`] (template).

use super::*;
use serde_json::json;

fn parse(yaml: &str) -> Value {
    match Template::parse(&format!(
        "Resources:\n  R:\n    Type: AWS::SQS::Queue\n    Properties:\n      X: {yaml}\n"
    )) {
        Ok(t) => t.value["Resources"]["R"]["Properties"]["X"].clone(),
        Err(e) => panic!("{yaml}: {e}"),
    }
}

#[test]
fn a_brace_opens_json_or_a_yaml_flow_mapping() {
    let flow =
        Template::parse("{Resources: {Q: {Type: AWS::SQS::Queue, Properties: {Name: !Ref N}}}}")
            .expect("YAML flow style");
    assert_eq!(
        flow.value,
        json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Name": {"Ref": "N"}}}}})
    );
    let broken = Template::parse("{\"Resources\": {\"Q\": {\"Type\": \"AWS::SQS::Queue\"}}")
        .expect_err("unbalanced");
    assert!(broken.message.starts_with("invalid JSON"), "{broken}");
    // A trailing comma is not JSON, but it is YAML, and means the same.
    let trailing = Template::parse("{\"Resources\": {\"Q\": {\"Type\": \"AWS::SQS::Queue\",}}}")
        .expect("YAML flow style");
    assert_eq!(trailing.value, json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}));
}

#[test]
fn every_short_form_becomes_its_long_form() {
    let cases: &[(&str, Value)] = &[
        ("!Ref Queue", json!({"Ref": "Queue"})),
        ("!Sub '${AWS::StackName}-q'", json!({"Fn::Sub": "${AWS::StackName}-q"})),
        ("!Sub ['${A}-x', {A: !Ref B}]", json!({"Fn::Sub": ["${A}-x", {"A": {"Ref": "B"}}]})),
        ("!GetAtt Queue.Arn", json!({"Fn::GetAtt": ["Queue", "Arn"]})),
        ("!GetAtt Db.Endpoint.Address", json!({"Fn::GetAtt": ["Db", "Endpoint.Address"]})),
        ("!GetAtt [Queue, Arn]", json!({"Fn::GetAtt": ["Queue", "Arn"]})),
        ("!Join ['-', [a, !Ref B]]", json!({"Fn::Join": ["-", ["a", {"Ref": "B"}]]})),
        (
            "!If [IsProd, 5, !Ref AWS::NoValue]",
            json!({"Fn::If": ["IsProd", 5, {"Ref": "AWS::NoValue"}]}),
        ),
        ("!Equals [!Ref Env, prod]", json!({"Fn::Equals": [{"Ref": "Env"}, "prod"]})),
        (
            "!And [!Condition A, !Condition B]",
            json!({"Fn::And": [{"Condition": "A"}, {"Condition": "B"}]}),
        ),
        (
            "!Or [!Condition A, !Not [!Condition B]]",
            json!({"Fn::Or": [{"Condition": "A"}, {"Fn::Not": [{"Condition": "B"}]}]}),
        ),
        ("!Select [0, !GetAZs '']", json!({"Fn::Select": [0, {"Fn::GetAZs": ""}]})),
        (
            "!Select [1, !Split [',', !Ref L]]",
            json!({"Fn::Select": [1, {"Fn::Split": [",", {"Ref": "L"}]}]}),
        ),
        (
            "!FindInMap [M, !Ref AWS::Region, K]",
            json!({"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "K"]}),
        ),
        ("!Base64 hello", json!({"Fn::Base64": "hello"})),
        ("!Cidr [10.0.0.0/16, 4, 8]", json!({"Fn::Cidr": ["10.0.0.0/16", 4, 8]})),
        ("!GetAZs", json!({"Fn::GetAZs": ""})),
        ("!ImportValue other-stack-QueueArn", json!({"Fn::ImportValue": "other-stack-QueueArn"})),
        (
            "!Transform {Name: AWS::Include, Parameters: {Location: s3://b/k}}",
            json!({"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}}),
        ),
        ("!ToJsonString {a: 1}", json!({"Fn::ToJsonString": {"a": 1}})),
    ];
    for (yaml, expected) in cases {
        assert_eq!(&parse(yaml), expected, "{yaml}");
    }
}

#[test]
fn resources_of_nested_loops_are_resources() {
    let t = Template::parse(
        "Transform: AWS::LanguageExtensions\nResources:\n  Plain:\n    Type: AWS::SNS::Topic\n  Fn::ForEach::Envs:\n    - Env\n    - [a, b]\n    - Queue${Env}:\n        Type: AWS::SQS::Queue\n      Fn::ForEach::Kinds:\n        - Kind\n        - [x, y]\n        - Table${Env}${Kind}:\n            Type: AWS::DynamoDB::Table\n",
    )
    .unwrap();
    let ids: Vec<&str> = t.all_resources().into_iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["Plain", "Queue${Env}", "Table${Env}${Kind}"]);
    assert_eq!(t.loop_resources(), 2);
    let mut value = t.value.clone();
    let untagged = crate::check::missing_tags_in(&t);
    assert_eq!(untagged.len(), 3, "{untagged:?}");
    use crate::tagging::*;
    let tags: Vec<(String, String)> =
        [KEY_APP, KEY_ENV, KEY_BRANCH, KEY_VERSION, KEY_COMMIT, KEY_MANAGED_BY]
            .iter()
            .map(|k| ((*k).to_owned(), "x".to_owned()))
            .collect();
    let report = inject(&mut value, &tags).unwrap();
    assert_eq!(report.tagged, 3);
    let tagged = Template::parse(&value.to_string()).unwrap();
    assert_eq!(
        crate::check::missing_tags_in(&tagged),
        vec![],
        "nested loop resources are tagged too"
    );
}

#[test]
fn a_block_scalar_ending_the_file_keeps_no_line_break_it_does_not_have() {
    let value = |text: &str| {
        Template::parse(text).unwrap().value["Resources"]["R"]["Properties"]["Code"].clone()
    };
    let head = "Resources:\n  R:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: |\n        line one\n        line two";
    assert_eq!(value(head), json!("line one\nline two"));
    assert_eq!(value(&format!("{head}\n")), json!("line one\nline two\n"));
    assert_eq!(value(&format!("{head}\n# end")), json!("line one\nline two\n"));
    let folded = "Resources:\n  R:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: >\n        a\n        b";
    assert_eq!(value(folded), json!("a b"));
}

#[test]
fn block_forms_and_scalars() {
    let t = Template::parse("Resources:\n  R:\n    Type: AWS::SQS::Queue\n    Properties:\n      A: !Sub\n        - '${X}'\n        - X: !Ref Y\n      B: !If\n        - C\n        - 1\n        - 2\n").unwrap();
    assert_eq!(
        t.value["Resources"]["R"]["Properties"]["A"],
        json!({"Fn::Sub": ["${X}", {"X": {"Ref": "Y"}}]})
    );
    assert_eq!(t.value["Resources"]["R"]["Properties"]["B"], json!({"Fn::If": ["C", 1, 2]}));
    let cases: &[(&str, Value)] = &[
        ("5", json!(5)),
        ("-3", json!(-3)),
        ("0.5", json!(0.5)),
        ("1.10", json!("1.10")),
        ("012345678901", json!("012345678901")),
        ("1e3", json!("1e3")),
        ("'5'", json!("5")),
        ("true", json!(true)),
        ("yes", json!(true)),
        ("Off", json!(false)),
        ("NO", json!(false)),
        ("y", json!("y")),
        ("'yes'", json!("yes")),
        ("~", json!(null)),
        ("!!str 5", json!("5")),
        ("99999999999999999999", json!("99999999999999999999")),
    ];
    for (yaml, expected) in cases {
        assert_eq!(&parse(yaml), expected, "{yaml}");
    }
}

#[test]
fn json_and_yaml_give_the_same_canonical_form() {
    let yaml = Template::parse("AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Sub '${AWS::StackName}-q'\n").unwrap();
    let json = Template::parse(r#"{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "${AWS::StackName}-q"}}}}}"#).unwrap();
    assert_eq!(yaml.to_json(), json.to_json());
    assert_eq!(yaml.hash(), json.hash());
    assert!(
        yaml.to_json()
            .starts_with("{\n  \"AWSTemplateFormatVersion\": \"2010-09-09\",\n  \"Resources\"")
    );
}

#[test]
fn errors_point_at_the_rendered_line() {
    let cases: &[(&str, Option<usize>, &str)] = &[
        (
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      A: !Reff x\n",
            Some(5),
            "unknown tag `!Reff`; did you mean `!Ref`?",
        ),
        (
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n  Q:\n    Type: AWS::SNS::Topic\n",
            Some(4),
            "duplicate key `Q`",
        ),
        ("Resources:\n  Q:\n    Type: [a\n", Some(4), "invalid YAML"),
        ("Resources:\n  Q:\n    Properties: {}\n", Some(2), "resource `Q` has no `Type`"),
        ("Resources:\n  my-queue:\n    Type: AWS::SQS::Queue\n", Some(2), "logical id `my-queue`"),
        ("Resource:\n  Q:\n    Type: AWS::SQS::Queue\n", Some(1), "did you mean `Resources`?"),
        ("Description: x\n", Some(1), "no resources"),
        (
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      A: !GetAtt Queue\n",
            Some(5),
            "`!GetAtt Resource.Attribute`",
        ),
        (
            "{\"Resources\": {\"Q\": {\"Type\": \"AWS::SQS::Queue\" \"x\"}}}",
            Some(1),
            "invalid JSON",
        ),
        (
            "Resources: {Q: {Type: AWS::SQS::Queue}}\n---\nResources: {}\n",
            Some(2),
            "one YAML document",
        ),
    ];
    for (text, line, message) in cases {
        let e = Template::parse(text).unwrap_err();
        assert_eq!(e.line, *line, "{text}: {e}");
        assert!(e.message.contains(message), "{text}: {e}");
    }
}

#[test]
fn alias_bombs_and_deep_nesting_are_refused() {
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..8 {
        bomb.push_str(&format!(
            "{}: &{} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n",
            (b'a' + i) as char,
            (b'a' + i) as char,
            p = (b'a' + i - 1) as char
        ));
    }
    let e = Template::parse(&bomb).unwrap_err();
    assert!(e.message.contains("more than 1000000 nodes"), "{e}");
    // Few nodes, much text: a 4 KiB string copied 10^4 times is 40 MiB.
    let mut strings = format!("a: &a \"{}\"\n", "x".repeat(4096));
    for i in 1..5u8 {
        strings.push_str(&format!(
            "{}: &{} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n",
            (b'a' + i) as char,
            (b'a' + i) as char,
            p = (b'a' + i - 1) as char
        ));
    }
    let e = Template::parse(&strings).unwrap_err();
    assert!(e.message.contains("more than 32 MiB of text and paths"), "{e}");
    assert_eq!(e.line, Some(5), "the line whose alias crossed the limit");
    // No alias at all: a 100 KiB explicit key above 1,000 items is 100 MiB of paths.
    let long_key = format!(
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\nMetadata:\n  ? {}\n  :\n{}",
        "k".repeat(100 * 1024),
        "    - 1\n".repeat(1000)
    );
    let e = Template::parse(&long_key).unwrap_err();
    assert!(e.message.contains("more than 32 MiB of text and paths"), "{e}");
    let deep = format!("Resources: {}{}", "[".repeat(300), "]".repeat(300));
    assert!(Template::parse(&deep).unwrap_err().message.contains("recursion limit"));
    let deep_json = format!("{{\"Resources\": {}{}}}", "[".repeat(300), "]".repeat(300));
    assert!(Template::parse(&deep_json).is_err());
}

#[test]
fn aliases_within_bounds_are_expanded() {
    let t = Template::parse("Resources:\n  A:\n    Type: AWS::SQS::Queue\n    Properties: &p\n      DelaySeconds: 5\n  B:\n    Type: AWS::SQS::Queue\n    Properties: *p\n").unwrap();
    assert_eq!(t.value["Resources"]["B"]["Properties"], json!({"DelaySeconds": 5}));
    assert_eq!(t.line_of("/Resources/B/Type"), Some(7));
}
