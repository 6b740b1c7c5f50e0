//! Unit tests of [`super`] (tagging).

use super::*;

fn tags() -> Vec<(String, String)> {
    vec![("team".into(), "payments".into()), ("jiti:app".into(), "orders".into())]
}

fn injected(template: Value) -> (Value, TagReport) {
    let mut t = template;
    let report = inject(&mut t, &tags()).unwrap();
    (t, report)
}

#[test]
fn the_table_knows_the_common_shapes() {
    let property = |t: &str| lookup(t).property();
    assert_eq!(property("AWS::S3::Bucket"), Some(("Tags", Shape::List)));
    assert_eq!(property("AWS::SSM::Parameter"), Some(("Tags", Shape::Map)));
    assert_eq!(property("AWS::Serverless::Function"), Some(("Tags", Shape::Map)));
    assert_eq!(
        property("AWS::AutoScaling::AutoScalingGroup"),
        Some(("Tags", Shape::ListPropagate))
    );
    assert_eq!(property("AWS::Cognito::UserPool"), Some(("UserPoolTags", Shape::Map)));
    assert_eq!(
        property("AWS::EC2::CapacityReservation"),
        Some(("TagSpecifications/*/Tags", Shape::List))
    );
    assert!(matches!(
        lookup("AWS::SQS::QueuePolicy"),
        Taggability::Untaggable(NotTaggable::Registry)
    ));
    assert!(
        matches!(lookup("AWS::RoboMaker::Fleet"), Taggability::Untaggable(NotTaggable::KeyPattern(p)) if p.contains("a-zA-Z0-9-"))
    );
    assert!(matches!(lookup("Custom::Thing"), Taggability::Unknown));
    assert!(table_source().starts_with("cfn-lint 1."), "{}", table_source());
    assert!(table().count() > 1800);
}

#[test]
fn each_shape_is_written_as_its_type_requires() {
    let (t, report) = injected(json!({"Resources": {
        "Q": {"Type": "AWS::SQS::Queue"},
        "P": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "v", "Tags": {"owner": "me"}}},
        "G": {"Type": "AWS::AutoScaling::AutoScalingGroup", "Properties": {"MaxSize": "1", "MinSize": "0"}},
        "A": {"Type": "AWS::CloudFront::AnycastIpList", "Properties": {}},
        "B": {"Type": "AWS::S3::Bucket", "Properties": {"Tags": [{"Key": "team", "Value": "mine"}]}},
        "QP": {"Type": "AWS::SQS::QueuePolicy", "Properties": {}},
    }}));
    assert_eq!(
        t["Resources"]["Q"]["Properties"]["Tags"],
        json!([{"Key": "team", "Value": "payments"}, {"Key": "jiti:app", "Value": "orders"}])
    );
    assert_eq!(
        t["Resources"]["P"]["Properties"]["Tags"],
        json!({"owner": "me", "team": "payments", "jiti:app": "orders"})
    );
    assert_eq!(
        t["Resources"]["G"]["Properties"]["Tags"][1],
        json!({"Key": "jiti:app", "Value": "orders", "PropagateAtLaunch": true})
    );
    assert_eq!(
        t["Resources"]["A"]["Properties"]["Tags"],
        json!({"Items": [{"Key": "team", "Value": "payments"}, {"Key": "jiti:app", "Value": "orders"}]})
    );
    // The resource's own `team` wins over [tags].
    assert_eq!(
        t["Resources"]["B"]["Properties"]["Tags"],
        json!([{"Key": "team", "Value": "mine"}, {"Key": "jiti:app", "Value": "orders"}])
    );
    assert_eq!(report.tagged, 5);
    assert_eq!(report.untaggable.len(), 1);
    assert_eq!(report.untaggable[0].resource, "QP");
}

#[test]
fn conditional_and_computed_tags() {
    let (t, report) = injected(json!({"Resources": {
        "C": {"Type": "AWS::SQS::Queue", "Properties": {"Tags": {"Fn::If": ["IsProd", [{"Key": "tier", "Value": "gold"}], {"Ref": "AWS::NoValue"}]}}},
        "R": {"Type": "AWS::SQS::Queue", "Properties": {"Tags": {"Ref": "TagList"}}},
        "N": {"Type": "AWS::EC2::CapacityReservation", "Properties": {}},
    }}));
    let branches = &t["Resources"]["C"]["Properties"]["Tags"]["Fn::If"];
    assert_eq!(branches[1].as_array().unwrap().len(), 3);
    assert_eq!(branches[2].as_array().unwrap().len(), 2);
    assert_eq!(report.tagged, 1);
    let reasons: Vec<_> =
        report.not_injectable.iter().map(|s| (s.resource.as_str(), s.reason.as_str())).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].1.contains("intrinsic"));
    assert!(reasons[1].1.contains("TagSpecifications"));
}

#[test]
fn values_are_fitted_to_each_type() {
    let Taggability::Taggable(agent) = lookup("AWS::Bedrock::Agent") else {
        panic!("Bedrock agents are taggable")
    };
    assert_eq!(agent.fit_value("feature/Login_Page").as_deref(), Some("feature/Login_Page"));
    assert_eq!(agent.fit_value("naïve/café").as_deref(), Some("na_ve/caf_"));
    let Taggability::Taggable(app) = lookup("AWS::SageMaker::App") else {
        panic!("SageMaker apps are taggable")
    };
    assert_eq!(app.fit_value(&"x".repeat(200)).map(|v| v.len()), Some(128));
    let (t, report) = injected(
        json!({"Resources": {"A": {"Type": "AWS::Bedrock::Agent", "Properties": {}}, "F": {"Type": "AWS::RoboMaker::Fleet"}, "S": {"Type": "AWS::SSO::Application"}}}),
    );
    assert_eq!(t["Resources"]["A"]["Properties"]["Tags"]["jiti:app"], json!("orders"));
    assert_eq!(report.untaggable.len(), 2);
    assert!(
        report.untaggable.iter().all(|u| u.reason.contains("rules out `jiti:` keys")),
        "{:?}",
        report.untaggable
    );
}

#[test]
fn a_template_setting_a_jiti_tag_is_an_error() {
    let mut t = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Tags": [{"Key": "jiti:env", "Value": "x"}]}}}});
    let e = inject(&mut t, &tags()).unwrap_err();
    assert_eq!(e.to_string(), "resource `Q` sets tag `jiti:env`, which cargo-jiti owns");
    let mut t = json!({"Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {"Tags": {"JITI:App": "x"}}}}});
    assert!(inject(&mut t, &tags()).is_err());
}

#[test]
fn sanitized_values_are_always_valid() {
    let cases = [
        ("feature/Login_Page", "feature/Login_Page"),
        ("fix#12!", "fix_12_"),
        ("naïve café 日本", "naïve café 日本"),
        ("tab\there", "tab_here"),
        ("a\u{301}", "a_"),
    ];
    for (input, expected) in cases {
        assert_eq!(sanitize_value(input), expected, "{input:?}");
    }
    assert_eq!(sanitize_value(&"x".repeat(300)).chars().count(), 256);
}

proptest::proptest! {
    #[test]
    fn sanitize_accepts_what_validate_accepts(s in "\\PC{0,300}") {
        let clean = sanitize_value(&s);
        proptest::prop_assert!(validate_value(&clean).is_ok(), "{clean:?}");
        if validate_value(&s).is_ok() {
            proptest::prop_assert_eq!(clean, s);
        }
    }
}
