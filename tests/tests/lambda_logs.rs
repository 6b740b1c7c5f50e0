//! Lambda's log groups on moto: a function's logs go to a group of its own stack (tagged, with a
//! retention, gone with the stack), and the untagged `/aws/lambda/…` groups Lambda makes for
//! functions of environments that are gone are collected by gc, while those of live stacks and
//! of other apps stay. An emulator of its own: gc looks at every log group of the account.

use jiti_tests::{Moto, Proxy, Repo};

const STACK: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: { Service: lambda.amazonaws.com }
            Action: sts:AssumeRole
      ManagedPolicyArns:
        - arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole
  Notify:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code:
        ZipFile: "def handler(event, context):\n    return event\n"
"#;

/// A workspace of one app, `notify`: one Lambda function that names no log group.
fn notify() -> Repo {
    let repo = Repo::empty();
    repo.write("Cargo.toml", "[workspace]\nresolver = \"2\"\nmembers = [\"notify\"]\n");
    repo.write(
        "notify/Cargo.toml",
        "[package]\nname = \"notify\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    repo.write("notify/src/lib.rs", "");
    repo.write("notify/infra/jiti.toml", "[app]\nregion = \"us-east-1\"\n");
    repo.write("notify/infra/stack.yaml", STACK);
    repo.write(".gitignore", "/target\n");
    repo.commit("notify");
    repo
}

fn log_groups(moto: &Moto) -> Vec<String> {
    let v = moto.boto3(
        "p = c('logs').get_paginator('describe_log_groups')\nprint(json.dumps(sorted(g['logGroupName'] for page in p.paginate() for g in page['logGroups'])))",
    );
    serde_json::from_value(v).expect("names")
}

#[test]
fn a_functions_logs_live_and_die_with_its_stack_and_lambdas_own_groups_are_collected() {
    let moto = Moto::start();
    let repo = notify();

    // Two branch environments: `feature/logs` (to be destroyed), `feature/live` (stays).
    let mut stack_of = std::collections::BTreeMap::new();
    for branch in ["feature/live", "feature/logs"] {
        repo.git(&["checkout", "-q", "-b", branch, "main"]);
        let deploy = moto.jiti(repo.path(), &["deploy", "--json"]).expect(0).json();
        let stack = deploy["apps"][0]["stack_name"].as_str().expect("stack name").to_owned();
        stack_of.insert(branch, stack);
    }
    let (live, dying) = (&stack_of["feature/live"], &stack_of["feature/logs"]);

    // The group is the stack's: a resource of it, tagged, with the branch retention; the function
    // logs to it.
    let resources = moto.boto3(&format!(
        "r = c('cloudformation').describe_stack_resources(StackName={dying:?})['StackResources']\nprint(json.dumps({{x['LogicalResourceId']: [x['ResourceType'], x['PhysicalResourceId']] for x in r}}))"
    ));
    assert_eq!(resources["NotifyLogGroup"][0], "AWS::Logs::LogGroup", "{resources}");
    let group = resources["NotifyLogGroup"][1].as_str().expect("its name").to_owned();
    let described = moto.boto3(&format!(
        "l = c('logs')\ng = l.describe_log_groups(logGroupNamePrefix={group:?})['logGroups'][0]\nt = l.list_tags_log_group(logGroupName={group:?})['tags']\nprint(json.dumps({{'retention': g.get('retentionInDays'), 'tags': t}}))"
    ));
    assert_eq!(described["retention"], 7, "{described}");
    assert_eq!(described["tags"]["jiti:app"], "notify", "{described}");
    assert_eq!(described["tags"]["jiti:branch"], "feature/logs", "{described}");
    // What CloudFormation was given (moto's Lambda does not keep `LoggingConfig`).
    let template = moto.boto3(&format!(
        "b = c('cloudformation').get_template(StackName={dying:?})['TemplateBody']\nprint(b if isinstance(b, str) else json.dumps(b))"
    ));
    assert_eq!(
        template["Resources"]["Notify"]["Properties"]["LoggingConfig"]["LogGroup"],
        serde_json::json!({ "Ref": "NotifyLogGroup" })
    );
    assert!(group.starts_with(&format!("{dying}-NotifyLogGroup-")), "{group}");

    // Lambda's own groups, made as Lambda makes them (untagged, named after the function): of the
    // environment about to go, of the live one, and of an app this workspace does not have.
    let by_lambda = [
        format!("/aws/lambda/{dying}-Notify-AbCdEf123456"),
        format!("/aws/lambda/{live}-Notify-ZyXwVu654321"),
        "/aws/lambda/billing-feature-logs-Api-0123456789ab".to_owned(),
    ];
    moto.boto3(&format!(
        "l = c('logs')\nfor n in {by_lambda:?}:\n    l.create_log_group(logGroupName=n)\nprint('null')"
    ));

    // Destroyed: the stack's own group goes with it; Lambda's stays for gc.
    moto.jiti(repo.path(), &["destroy", "--yes"]).expect(0);
    let after_destroy = log_groups(&moto);
    assert!(!after_destroy.contains(&group), "{group} left behind: {after_destroy:?}");
    assert!(after_destroy.contains(&by_lambda[0]), "{after_destroy:?}");

    // gc plans only the gone environment's group, with the reason, and deletes it with --yes.
    repo.git(&["checkout", "-q", "feature/live"]);
    let dry = moto.jiti(repo.path(), &["gc", "--json"]).expect(0).json();
    let planned: Vec<(&str, &str)> = dry["plan"]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| (r["arn"].as_str().unwrap_or_default(), r["orphan"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(planned.len(), 1, "{planned:?}");
    assert!(planned[0].0.contains(&by_lambda[0]) && planned[0].1 == "lambda-logs", "{planned:?}");
    assert_eq!(log_groups(&moto), after_destroy, "a dry run deletes nothing");
    let text = moto.jiti(repo.path(), &["gc"]).expect(0);
    assert!(
        text.stdout
            .contains(&format!("made by Lambda (untagged) for a function of stack {dying} (gone)")),
        "{}",
        text.stdout
    );

    moto.jiti(repo.path(), &["gc", "--yes"]).expect(0);
    let left = log_groups(&moto);
    assert!(!left.contains(&by_lambda[0]), "{left:?}");
    assert!(left.contains(&by_lambda[1]) && left.contains(&by_lambda[2]), "{left:?}");
    assert!(left.iter().any(|g| g.starts_with(&format!("{live}-NotifyLogGroup"))), "{left:?}");

    // A CI role made before gc looked at Lambda's groups may not list them: gc does the rest and
    // says what it could not see.
    moto.boto3(&format!(
        "c('logs').create_log_group(logGroupName={:?})\nprint('null')",
        by_lambda[0]
    ));
    let proxy = Proxy::deny(&moto.endpoint, "logGroupNamePrefix", "logs:DescribeLogGroups");
    let denied = moto
        .jiti(repo.path(), &["gc", "--yes", "--json", "--endpoint-url", &proxy.endpoint])
        .expect(0)
        .json();
    let notes = denied["plan"]["notes"].to_string();
    assert!(notes.contains("not looked at") && notes.contains("logs:DescribeLogGroups"), "{notes}");
    assert!(log_groups(&moto).contains(&by_lambda[0]), "nothing deleted on a guess");
}
