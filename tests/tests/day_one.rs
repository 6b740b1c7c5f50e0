//! What a team meets in its first hour with its own templates and machine: the region in the AWS
//! config file, stack parameters (one a CI secret from the process environment), CloudFormation's
//! dynamic references, and a dirty flag that means what a user means.

use std::path::Path;
use std::process::Command;

use jiti_tests::{Moto, Repo, Run, jiti_against, moto};

/// `cargo-jiti jiti <args>` against `moto` with no AWS_REGION: the region comes from `config`
/// (an AWS config file), as on a developer's machine.
fn jiti_with_config(
    moto: &Moto,
    dir: &Path,
    config: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let mut cmd: Command = jiti_against(dir, &format!("http://127.0.0.1:{}", moto.port()));
    cmd.env_remove("AWS_REGION").env("AWS_CONFIG_FILE", config).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::new(cmd.output().expect("run cargo-jiti"))
}

/// The shop on `branch`, every app without a region of its own.
fn shop_without_regions(branch: &str) -> Repo {
    let repo = Repo::from_fixture("shop");
    for app in ["billing", "orders-api"] {
        let path = format!("{app}/infra/jiti.toml");
        repo.write(&path, &repo.read(&path).replace("region = \"us-east-1\"\n", ""));
    }
    repo.git(&["checkout", "-q", "-b", branch]);
    repo.commit("no region in jiti.toml");
    repo
}

fn stacks_in(moto: &Moto, region: &str) -> Vec<String> {
    let names = moto.boto3(&format!(
        "cf = boto3.client('cloudformation', endpoint_url='http://127.0.0.1:{}', region_name='{region}', aws_access_key_id='testing', aws_secret_access_key='testing')\nprint(json.dumps([s['StackName'] for s in cf.describe_stacks()['Stacks']]))",
        moto.port()
    ));
    serde_json::from_value(names).expect("stack names")
}

#[test]
fn the_region_comes_from_the_aws_config_file_as_the_aws_cli_finds_it() {
    let repo = shop_without_regions("feature/region-chain");
    let config = repo.path().join("aws-config");
    std::fs::write(
        &config,
        "[default]\nregion = us-west-2\n\n[profile qa]\nregion = eu-central-1\n",
    )
    .unwrap();
    let moto = moto();

    let render =
        jiti_with_config(moto, repo.path(), &config, &["render", "-p", "billing", "--json"], &[])
            .expect(0)
            .json();
    assert_eq!(render["apps"][0]["region"], "us-west-2", "{render:#}");
    assert!(
        render["apps"][0]["region_from"].as_str().unwrap().contains("default profile"),
        "{render:#}"
    );

    // An environment's own profile picks that profile's region, for render and deploy alike.
    let path = "billing/infra/jiti.toml";
    repo.write(
        path,
        &repo
            .read(path)
            .replace("[environments.ephemeral]\n", "[environments.ephemeral]\nprofile = \"qa\"\n"),
    );
    repo.commit("branch environments deploy with the qa profile");
    let render =
        jiti_with_config(moto, repo.path(), &config, &["render", "-p", "billing", "--json"], &[])
            .expect(0)
            .json();
    assert_eq!(render["apps"][0]["region"], "eu-central-1");
    assert_eq!(
        render["apps"][0]["region_source"],
        serde_json::json!({"kind": "chain", "detail": "profile `qa` of the AWS config file"})
    );
    let deploy = jiti_with_config(
        moto,
        repo.path(),
        &config,
        &["deploy", "-p", "billing", "--method", "direct", "--json"],
        &[],
    )
    .expect(0)
    .json();
    let stack = deploy["apps"][0]["stack_name"].as_str().unwrap().to_owned();
    assert!(stacks_in(moto, "eu-central-1").contains(&stack), "{stack} is not in eu-central-1");
    assert!(!stacks_in(moto, "us-west-2").contains(&stack));
    let envs =
        jiti_with_config(moto, repo.path(), &config, &["envs", "-p", "billing", "--json"], &[])
            .expect(0)
            .json();
    // Branch environments in the qa profile's region; production's (the default profile's) is
    // looked in too, as every region an environment of the app is configured for.
    assert_eq!(
        envs["regions"],
        serde_json::json!([
            {"region": "eu-central-1", "from": "profile `qa` of the AWS config file", "apps": ["billing"]},
            {"region": "us-west-2", "from": "where another environment of the app is configured", "apps": ["billing"]}
        ])
    );
    let human =
        jiti_with_config(moto, repo.path(), &config, &["envs", "-p", "billing"], &[]).expect(0);
    assert!(
        human.stderr.contains("region eu-central-1 (profile `qa` of the AWS config file): billing"),
        "{}",
        human.stderr
    );

    // AWS_REGION wins over the file, as for the AWS CLI.
    let render = jiti_with_config(
        moto,
        repo.path(),
        &config,
        &["render", "-p", "billing", "--json"],
        &[("AWS_REGION", "ap-south-1")],
    )
    .expect(0)
    .json();
    assert_eq!(render["apps"][0]["region"], "ap-south-1");

    // No region anywhere: offline commands still work unless a template asks for `aws.region`.
    let nowhere = repo.path().join("no-such-config");
    let offline = jiti_with_config(
        moto,
        repo.path(),
        &nowhere,
        &["render", "-p", "orders-api", "--json"],
        &[],
    )
    .expect(0)
    .json();
    assert_eq!(offline["apps"][0]["region"], serde_json::Value::Null);
    jiti_with_config(moto, repo.path(), &nowhere, &["check", "-p", "orders-api"], &[]).expect(0);
    let template = "orders-api/infra/stack.yaml";
    repo.write(
        template,
        &repo
            .read(template)
            .replace("Resources:\n", "Metadata:\n  Region: {{ aws.region }}\nResources:\n"),
    );
    let refused =
        jiti_with_config(moto, repo.path(), &nowhere, &["render", "-p", "orders-api"], &[])
            .expect(2);
    assert!(
        refused.stderr.contains("the template uses `aws.region` and no AWS region is configured"),
        "{}",
        refused.stderr
    );
    let refused =
        jiti_with_config(moto, repo.path(), &nowhere, &["deploy", "-p", "orders-api"], &[])
            .expect(2);
    assert!(
        refused.stderr.contains("no AWS region for app `") && refused.stderr.contains("AWS_REGION"),
        "{}",
        refused.stderr
    );
}

const DB_PASSWORD: &str = "planted-Param-5521";

#[test]
fn stack_parameters_are_checked_then_passed_and_a_secret_from_the_environment_is_masked() {
    let repo = Repo::from_fixture("shop");
    repo.git(&["checkout", "-q", "-b", "feature/parameters"]);
    let template = "billing/infra/stack.yaml";
    repo.write(
        template,
        &(repo.read(template).replace(
            "Resources:\n",
            "Parameters:\n  QueueName:\n    Type: String\n    AllowedPattern: '[a-z0-9-]+'\n  DbPassword:\n    Type: String\n    NoEcho: true\n    MinLength: 8\n  Stage:\n    Type: String\n    Default: dev\n    AllowedValues: [dev, prod]\nResources:\n  NamedQueue:\n    Type: AWS::SQS::Queue\n    Properties:\n      SqsManagedSseEnabled: true\n      Tags:\n        - Key: queue-name\n          Value: !Ref QueueName\n",
        ) + "  PasswordEcho:\n    Value: !Ref DbPassword\n  QueueNameEcho:\n    Value: !Ref QueueName\n"),
    );
    repo.commit("a template with parameters");
    let moto = moto();

    let check = moto.jiti(repo.path(), &["check", "-p", "billing", "--json"]).expect(1).json();
    let codes = |report: &serde_json::Value| -> Vec<(String, String)> {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"].as_str().unwrap().starts_with("parameter"))
            .map(|f| {
                (f["code"].as_str().unwrap().to_owned(), f["message"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    let missing = codes(&check);
    // Two in the branch's environment, and the same two in `production`, judged from here too.
    for env in ["feature-parameters-", "production"] {
        let here: Vec<_> = missing
            .iter()
            .filter(|(c, m)| c == "parameter-missing" && m.contains(&format!("environment `{env}")))
            .collect();
        assert_eq!(here.len(), 2, "{env}: {missing:#?}");
        assert!(
            here.iter().any(|(_, m)| m.contains("`QueueName` has no `Default`")),
            "{missing:#?}"
        );
    }
    // CloudFormation would refuse the same deploy; cargo-jiti refuses it before any call.
    let refused =
        moto.jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct"]).expect(2);
    assert!(
        (refused.stdout.clone() + &refused.stderr).contains("parameter-missing"),
        "{}{}",
        refused.stdout,
        refused.stderr
    );

    let config = "billing/infra/jiti.toml";
    repo.write(
        config,
        &(repo.read(config) + "\n[parameters]\nQueueName = \"jobs-prod\"\nDbPassword = { env = \"JITI_TEST_DB_PASSWORD\" }\nStage = \"prod\"\n\n[environments.ephemeral.parameters]\nQueueName = \"Jobs_Branch\"\nStage = \"qa\"\n"),
    );
    let bad =
        codes(&moto.jiti(repo.path(), &["check", "-p", "billing", "--json"]).expect(1).json());
    let bad_text = format!("{bad:#?}");
    for expected in [
        "JITI_TEST_DB_PASSWORD`, which is not set",
        "`Jobs_Branch` does not match AllowedPattern",
        "`qa` is not one of AllowedValues (dev, prod)",
    ] {
        assert!(bad_text.contains(expected), "{expected} not in {bad_text}");
    }
    repo.write(
        config,
        &repo.read(config).replace(
            "QueueName = \"Jobs_Branch\"\nStage = \"qa\"\n",
            "QueueName = \"jobs-branch\"\n",
        ),
    );
    repo.commit("parameters");
    let env = [("JITI_TEST_DB_PASSWORD", DB_PASSWORD)];
    let mut seen = Vec::new();
    let mut run = |args: &[&str], code: i32| {
        let out = moto.jiti_env(repo.path(), args, &env).expect(code);
        seen.push((args.join(" "), out.stdout.clone() + &out.stderr));
        out
    };
    let check = run(&["check", "-p", "billing", "--json"], 0).json();
    assert_eq!(codes(&check), vec![], "{check:#}");
    let deploy = run(&["deploy", "-p", "billing", "--json"], 0).json();
    let stack = deploy["apps"][0]["stack_name"].as_str().unwrap().to_owned();
    assert_eq!(
        deploy["apps"][0]["release"]["parameters"],
        serde_json::json!({"DbPassword": "****", "QueueName": "jobs-branch", "Stage": "prod"})
    );
    run(&["history", "-p", "billing", "--json"], 0);
    run(&["render", "-p", "billing", "--json"], 0);
    run(&["diff", "-p", "billing"], 0);
    // Nothing changed: nothing to do. Then a new value is a change, though the template is the same.
    let again = run(&["deploy", "-p", "billing", "--method", "direct", "--json"], 0).json();
    assert_eq!(again["apps"][0]["result"], "up-to-date", "{again:#}");
    // (Not committed: moto 5.2.5 fails an update that changes an S3 bucket's tags, as a new
    // commit's tags would, with a 500 after applying half of it.)
    repo.write(
        config,
        &repo
            .read(config)
            .replace("QueueName = \"jobs-branch\"\n", "QueueName = \"jobs-branch-2\"\n"),
    );
    let changed = run(&["deploy", "-p", "billing", "--method", "direct", "--json"], 0).json();
    assert_eq!(changed["apps"][0]["result"], "updated", "{changed:#}");
    let parameters_of = |stack: &str| {
        moto.boto3(&format!("s = c('cloudformation').describe_stacks(StackName='{stack}')['Stacks'][0]\nprint(json.dumps({{p['ParameterKey']: p['ParameterValue'] for p in s.get('Parameters', [])}}))"))
    };
    assert_eq!(parameters_of(&stack)["QueueName"], "jobs-branch-2");
    // A rollback deploys that release's values again (its secret: today's, from the environment).
    let rolled =
        run(&["rollback", "-p", "billing", "--steps", "1", "--method", "direct", "--json"], 0)
            .json();
    assert_eq!(rolled["result"]["result"], "updated", "{rolled:#}");
    assert_eq!(parameters_of(&stack)["QueueName"], "jobs-branch");

    for (command, output) in &seen {
        assert!(
            !output.contains(DB_PASSWORD),
            "`cargo jiti {command}` printed the secret:\n{output}"
        );
    }
    // CloudFormation got the real values.
    let got = moto.boto3(&format!(
        "s = c('cloudformation').describe_stacks(StackName='{stack}')['Stacks'][0]\nprint(json.dumps({{'parameters': {{p['ParameterKey']: p['ParameterValue'] for p in s.get('Parameters', [])}}, 'outputs': {{o['OutputKey']: o['OutputValue'] for o in s.get('Outputs', [])}}}}))"
    ));
    assert_eq!(got["parameters"]["QueueName"], "jobs-branch", "{got:#}");
    assert_eq!(got["parameters"]["Stage"], "prod", "{got:#}");
    assert_eq!(got["outputs"]["PasswordEcho"], DB_PASSWORD, "{got:#}");
}

#[test]
fn dynamic_references_reach_cloudformation_untouched() {
    let repo = Repo::from_fixture("shop");
    repo.git(&["checkout", "-q", "-b", "feature/dynamic-references"]);
    let template = "billing/infra/stack.yaml";
    repo.write(
        template,
        &(repo.read(template).replace("      DisplayName: billing-{{ env.name }}\n", "      DisplayName: '{{resolve:ssm:/jiti-test/display-name}}'\n")
            + "  SecretRef:\n    Value: !Sub 'db-{{ env.name }}-{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:db:SecretString:password}}'\n"),
    );
    repo.commit("dynamic references");
    let moto = moto();
    moto.boto3("c('ssm').put_parameter(Name='/jiti-test/display-name', Value='Billing events', Type='String', Overwrite=True)\nprint('{}')");
    let rendered = moto.jiti(repo.path(), &["render", "-p", "billing", "--stdout"]).expect(0);
    assert!(
        rendered.stdout.contains("\"DisplayName\": \"{{resolve:ssm:/jiti-test/display-name}}\""),
        "{}",
        rendered.stdout
    );
    assert!(
        rendered.stdout.contains("db-feature-dynamic-references-"),
        "Tera still renders around a reference: {}",
        rendered.stdout
    );
    assert!(rendered.stdout.contains("{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:db:SecretString:password}}"), "{}", rendered.stdout);
    // moto cannot resolve Secrets Manager references without the secret: deploy the SSM one.
    repo.write(
        template,
        &repo
            .read(template)
            .replace("  SecretRef:\n", "  SecretRefUnused:\n")
            .replace("{{resolve:secretsmanager", "{# resolve:secretsmanager")
            .replace(":password}}'", ":password #}'"),
    );
    repo.commit("only the SSM reference");
    let deploy = moto
        .jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"])
        .expect(0)
        .json();
    let stack = deploy["apps"][0]["stack_name"].as_str().unwrap().to_owned();
    let body = moto.boto3(&format!(
        "print(json.dumps(c('cloudformation').get_template(StackName='{stack}')['TemplateBody']))"
    ));
    let body = if body.is_string() { body.as_str().unwrap().to_owned() } else { body.to_string() };
    assert!(
        body.contains("{{resolve:ssm:/jiti-test/display-name}}"),
        "GetTemplate shows the reference as written: {body}"
    );

    // Other `{{ … }}` Tera cannot read say what to do.
    repo.write(
        template,
        &repo
            .read(template)
            .replace("'{{resolve:ssm:/jiti-test/display-name}}'", "'{{ssm:/not-a-reference}}'"),
    );
    let broken = moto.jiti(repo.path(), &["render", "-p", "billing"]).expect(2);
    assert!(broken.stderr.contains("{% raw %}"), "{}", broken.stderr);
}

#[test]
fn only_changes_that_can_reach_an_app_make_a_release_dirty() {
    let repo = Repo::from_fixture("shop");
    // A repository that does not ignore `target/`: cargo-jiti's own output lands in the work tree.
    std::fs::remove_file(repo.path().join(".gitignore")).unwrap();
    repo.commit("no .gitignore");
    let dirty = |repo: &Repo| repo.jiti(&["render", "--json"]).expect(0).json()["dirty"].clone();
    assert_eq!(dirty(&repo), false);
    assert!(repo.path().join("target/jiti/production/billing.template.json").is_file());
    assert_eq!(dirty(&repo), false, "cargo-jiti's own output never makes a release dirty");
    repo.write("NOTES.md", "notes nobody committed\n");
    assert_eq!(
        dirty(&repo),
        false,
        "an untracked file outside every app is not a change to any app"
    );
    repo.write("billing/infra/partials/new.yaml", "  New:\n    Type: AWS::SQS::Queue\n");
    assert_eq!(dirty(&repo), true, "an untracked file in an app's infra may be rendered");
    std::fs::remove_dir_all(repo.path().join("billing/infra/partials")).unwrap();
    repo.git(&["checkout", "-q", "--", "."]);
    assert_eq!(dirty(&repo), false);
    repo.write("Cargo.toml", &(repo.read("Cargo.toml") + "\n# a tracked change\n"));
    assert_eq!(dirty(&repo), true, "a change to a tracked file always counts");
}
