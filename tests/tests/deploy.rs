//! Per-branch environments on moto's CloudFormation: deploy, no-op, update, diff, envs, outputs,
//! destroy, protected environments. Each test deploys from its own branch, so stack names never
//! collide and the tests run in parallel against the process's one emulator.

use jiti_tests::{Repo, moto, shop_on};
use serde_json::Value;

fn results(report: &Value) -> Vec<(String, String)> {
    report["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| {
            (
                a["app"].as_str().unwrap_or_default().to_owned(),
                a["result"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn calls(report: &Value, operation: &str) -> u64 {
    report["api_calls"]["by_operation"][operation]["calls"].as_u64().unwrap_or(0)
}

#[test]
fn first_deploy_then_noop_then_update_with_dependency_outputs() {
    let repo = shop_on("feature/first-deploy");
    let moto = moto();
    let report =
        moto.jiti(repo.path(), &["deploy", "--method", "direct", "--json"]).expect(0).json();
    assert_eq!(
        results(&report),
        [("billing".to_owned(), "created".to_owned()), ("orders-api".into(), "created".into())],
        "billing first: orders-api depends on it"
    );
    let env = report["apps"][0]["environment"].as_str().expect("env").to_owned();

    // Outputs are reported and written, and the dependent saw its dependency's real outputs.
    let billing: Value =
        serde_json::from_str(&repo.read(&format!("target/jiti/{env}/billing.outputs.json")))
            .expect("outputs file");
    let topic = billing["TopicArn"].as_str().expect("TopicArn output");
    assert!(topic.starts_with("arn:aws:sns:us-east-1:"), "{topic}");
    let orders: Value =
        serde_json::from_str(&repo.read(&format!("target/jiti/{env}/orders-api.template.json")))
            .expect("template");
    assert_eq!(
        orders["Resources"]["OrdersFunction"]["Properties"]["Environment"]["Variables"]["BILLING_TOPIC_ARN"],
        topic
    );

    // Every resource moto tags from the template carries every jiti tag (moto does not pass stack
    // tags on, so this is the template's doing).
    let commit = repo.git(&["rev-parse", "HEAD"]);
    let tagged = moto.tagged_resources(&env);
    let kinds: Vec<&str> =
        tagged.keys().map(|arn| arn.split(':').nth(2).unwrap_or_default()).collect();
    for service in ["sqs", "s3", "dynamodb", "logs"] {
        assert!(kinds.contains(&service), "no {service} resource tagged for {env}: {tagged:#?}");
    }
    for (arn, tags) in &tagged {
        assert_eq!(
            tags.get("jiti:branch").map(String::as_str),
            Some("feature/first-deploy"),
            "{arn}"
        );
        assert_eq!(tags.get("jiti:commit"), Some(&commit), "{arn}");
        assert_eq!(tags.get("jiti:managed-by").map(String::as_str), Some("cargo-jiti"), "{arn}");
        for key in ["jiti:app", "jiti:env", "jiti:version"] {
            assert!(tags.contains_key(key), "{arn} lacks {key}");
        }
    }

    // A no-op deploy of the whole workspace is one paginated listing, and nothing else.
    let noop = moto.jiti(repo.path(), &["deploy", "--json"]).expect(0).json();
    assert_eq!(
        results(&noop),
        [
            ("billing".to_owned(), "up-to-date".to_owned()),
            ("orders-api".into(), "up-to-date".into())
        ]
    );
    assert_eq!(noop["api_calls"]["total"], 1, "{:#}", noop["api_calls"]);
    assert_eq!(calls(&noop, "CloudFormation.DescribeStacks"), 1);

    // An infra change updates only the app it touches.
    let config = repo
        .read("billing/infra/jiti.toml")
        .replace("visibility_timeout = 60", "visibility_timeout = 120");
    repo.write("billing/infra/jiti.toml", &config);
    let update =
        moto.jiti(repo.path(), &["deploy", "--method", "direct", "--json"]).expect(0).json();
    assert_eq!(update["apps"][0]["result"], "updated");
    assert_eq!(update["apps"][0]["changes"][0]["logical_id"], "InvoiceQueue");
    assert_eq!(update["apps"][0]["changes"][0]["action"], "Modify");
    assert_eq!(update["apps"][1]["result"], "up-to-date");
    let queue = moto.boto3(&format!(
        "url = json.load(open({:?}))['QueueUrl']\nprint(json.dumps(c('sqs').get_queue_attributes(QueueUrl=url, AttributeNames=['VisibilityTimeout'])['Attributes']))",
        repo.path().join(format!("target/jiti/{env}/billing.outputs.json")).display().to_string()
    ));
    assert_eq!(queue["VisibilityTimeout"], "120");
}

#[test]
fn change_sets_create_show_and_execute() {
    let repo = shop_on("feature/change-sets");
    let moto = moto();
    let report = moto.jiti(repo.path(), &["deploy", "-p", "billing", "--json"]).expect(0).json();
    assert_eq!(results(&report), [("billing".to_owned(), "created".to_owned())]);
    assert_eq!(report["apps"][0]["changes"].as_array().map(Vec::len), Some(5));
    for op in [
        "CloudFormation.CreateChangeSet",
        "CloudFormation.DescribeChangeSet",
        "CloudFormation.ExecuteChangeSet",
    ] {
        assert_eq!(calls(&report, op), 1, "{op}: {:#}", report["api_calls"]);
    }
    let stack = report["apps"][0]["stack_name"].as_str().expect("stack").to_owned();

    // --no-execute shows the change set and leaves the stack as it was.
    let config = repo
        .read("billing/infra/jiti.toml")
        .replace("max_receive_count = 5", "max_receive_count = 7");
    repo.write("billing/infra/jiti.toml", &config);
    let review = moto
        .jiti(repo.path(), &["deploy", "-p", "billing", "--no-execute", "--json"])
        .expect(0)
        .json();
    assert_eq!(review["apps"][0]["result"], "reviewed");
    assert_eq!(review["apps"][0]["changes"][0]["action"], "Modify");
    assert_eq!(calls(&review, "CloudFormation.ExecuteChangeSet"), 0);
    let diff = moto.jiti(repo.path(), &["diff", "-p", "billing", "--exit-code"]).expect(1);
    assert!(
        diff.stdout
            .lines()
            .any(|l| l.starts_with('-')
                && l.trim_start_matches('-').trim() == "\"maxReceiveCount\": 5"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout
            .lines()
            .any(|l| l.starts_with('+')
                && l.trim_start_matches('+').trim() == "\"maxReceiveCount\": 7"),
        "{}",
        diff.stdout
    );

    // Executing it updates the stack: the deployed template is the rendered one. (moto 5.2.5's
    // ExecuteChangeSet leaves the stack's tags as they were, where AWS applies the change set's,
    // so only the template is compared here; the direct method's test covers tags.)
    let update = moto.jiti(repo.path(), &["deploy", "-p", "billing", "--json"]).expect(0).json();
    assert_eq!(update["apps"][0]["result"], "updated");
    let diff = moto.jiti(repo.path(), &["diff", "-p", "billing", "--json"]).expect(0).json();
    assert_eq!(diff["apps"][0]["diff"]["stack_name"], stack.as_str());
    assert_eq!(diff["apps"][0]["diff"]["resources"], serde_json::json!([]), "{diff:#}");
    let text = moto.jiti(repo.path(), &["diff", "-p", "billing"]).expect(0);
    assert!(
        !text.stdout.contains("@@"),
        "the deployed template differs from the rendered one:\n{}",
        text.stdout
    );
}

#[test]
fn envs_lists_every_branch_environment() {
    let repo = shop_on("feature/envs-a");
    let moto = moto();
    for branch in ["feature/envs-a", "feature/envs-b", "bugfix/envs-c"] {
        repo.git(&["checkout", "-q", "-B", branch]);
        moto.jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct"]).expect(0);
    }
    repo.git(&["checkout", "-q", "feature/envs-a"]);
    repo.git(&["branch", "-D", "feature/envs-b"]);
    let report = moto.jiti(repo.path(), &["envs", "--json"]).expect(0).json();
    assert_eq!(report["api_calls"]["total"], 1, "envs is one listing");
    let rows = report["environments"].as_array().expect("environments");
    let mine: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r["branch"].as_str().is_some_and(|b| b.contains("envs-")))
        .map(|r| {
            (
                r["branch"].as_str().unwrap_or_default(),
                r["branch_presence"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(mine.len(), 3, "{rows:#?}");
    assert!(
        mine.contains(&("feature/envs-a", "local")) && mine.contains(&("bugfix/envs-c", "local")),
        "{mine:?}"
    );
    assert!(mine.contains(&("feature/envs-b", "gone")), "{mine:?}");
    for r in rows.iter().filter(|r| r["branch"].as_str().is_some_and(|b| b.contains("envs-"))) {
        assert_eq!(r["status"], "CREATE_COMPLETE");
        assert_eq!(r["version"], "0.3.1");
        assert!(
            r["expires_at"].as_str().is_some_and(|t| t.ends_with('Z')),
            "ephemeral environments expire: {r}"
        );
    }
    let table = moto.jiti(repo.path(), &["envs"]).expect(0);
    assert!(
        table.stdout.contains("feature/envs-b") && table.stdout.contains("gone"),
        "{}",
        table.stdout
    );
}

#[test]
fn outputs_as_table_json_and_env_lines() {
    let repo = shop_on("feature/outputs");
    let moto = moto();
    moto.jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct"]).expect(0);
    // `--format json` is the `--json` report: one JSON contract.
    let report_by_format =
        moto.jiti(repo.path(), &["outputs", "-p", "billing", "--format", "json"]).expect(0).json();
    let report = moto.jiti(repo.path(), &["outputs", "-p", "billing", "--json"]).expect(0).json();
    assert_eq!(report, report_by_format);
    let json = &report["outputs"];
    assert_eq!(report["api_calls"]["total"], 1);
    assert!(json["QueueUrl"].as_str().is_some_and(|u| u.contains("InvoiceQueue")), "{json}");
    let env = moto.jiti(repo.path(), &["outputs", "-p", "billing", "--format", "env"]).expect(0);
    assert!(env.stdout.lines().any(|l| l.starts_with("QUEUEURL=https://")), "{}", env.stdout);
    assert_eq!(env.stdout.lines().count(), 4);
    let table = moto.jiti(repo.path(), &["outputs", "-p", "billing"]).expect(0);
    assert!(
        table.stdout.contains("TopicArn") && table.stdout.contains("CREATE_COMPLETE"),
        "{}",
        table.stdout
    );
    let missing = moto.jiti(repo.path(), &["outputs", "-p", "orders-api"]).expect(2);
    assert!(
        missing.stderr.contains("does not exist: deploy it with `cargo jiti deploy -p orders-api`"),
        "{}",
        missing.stderr
    );
    let many = moto.jiti(repo.path(), &["outputs"]).expect(2);
    assert!(many.stderr.contains("pick one with -p"), "{}", many.stderr);
}

#[test]
fn destroy_is_a_dry_run_until_yes() {
    let repo = shop_on("feature/destroy");
    let moto = moto();
    let report =
        moto.jiti(repo.path(), &["deploy", "--method", "direct", "--json"]).expect(0).json();
    let stacks: Vec<String> = report["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| a["stack_name"].as_str().unwrap_or_default().to_owned())
        .collect();
    let exists = |name: &str| {
        moto.boto3(&format!("s = [x['StackName'] for x in c('cloudformation').describe_stacks()['Stacks']]\nprint(json.dumps({name:?} in s))")) == Value::Bool(true)
    };
    let dry = moto.jiti(repo.path(), &["destroy", "--json"]).expect(0).json();
    assert_eq!(dry["dry_run"], true);
    let planned: Vec<&str> = dry["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .map(|i| i["app"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(planned, ["orders-api", "billing"], "dependents go first");
    assert!(stacks.iter().all(|s| exists(s)), "a dry run deletes nothing");
    let real = moto.jiti(repo.path(), &["destroy", "--yes", "--json"]).expect(0).json();
    assert!(
        real["deleted"].as_array().expect("deleted").iter().all(|d| d["deleted"] == true),
        "{real:#}"
    );
    assert!(stacks.iter().all(|s| !exists(s)), "stacks remain after destroy --yes");
}

#[test]
fn protected_environments_need_yes_and_resist_destroy() {
    let repo = Repo::from_fixture("shop");
    repo.with_unique_stack_prefix('p');
    let moto = moto();
    let refused = moto.jiti(repo.path(), &["deploy", "-p", "billing"]).expect(2);
    assert!(refused.stderr.contains("refusing to deploy to the protected environment `production` without confirmation: pass --yes"), "{}", refused.stderr);
    let report = moto
        .jiti(repo.path(), &["deploy", "-p", "billing", "--yes", "--method", "direct", "--json"])
        .expect(0)
        .json();
    assert_eq!(report["apps"][0]["result"], "created");
    assert_eq!(report["apps"][0]["environment"], "production");
    let stack = report["apps"][0]["stack_name"].as_str().expect("stack").to_owned();
    let kept = moto.jiti(repo.path(), &["destroy", "-p", "billing", "--yes"]).expect(2);
    assert!(
        kept.stdout
            .contains("kept: `production` is a protected environment: add --allow-protected"),
        "{}",
        kept.stdout
    );
    let status = |name: &str| {
        moto.boto3(&format!("s = {{x['StackName']: x['StackStatus'] for x in c('cloudformation').describe_stacks()['Stacks']}}\nprint(json.dumps(s.get({name:?})))"))
    };
    assert_eq!(status(&stack), "CREATE_COMPLETE");
    moto.jiti(repo.path(), &["destroy", "-p", "billing", "--yes", "--allow-protected"]).expect(0);
    assert_eq!(status(&stack), Value::Null);
}

#[test]
fn a_stack_of_another_app_or_tool_is_never_touched() {
    let repo = shop_on("feature/foreign");
    let moto = moto();
    let env_stack = moto.jiti(repo.path(), &["render", "-p", "billing", "--json"]).expect(0).json()
        ["apps"][0]["stack_name"]
        .as_str()
        .expect("stack")
        .to_owned();
    moto.boto3(&format!(
        "c('cloudformation').create_stack(StackName={env_stack:?}, TemplateBody=json.dumps({{'Resources': {{'Q': {{'Type': 'AWS::SQS::Queue'}}}}}}))\nprint('null')"
    ));
    let run = moto.jiti(repo.path(), &["deploy", "-p", "billing", "--json"]).expect(2);
    assert!(
        run.json()["apps"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("was not made by cargo-jiti")),
        "{}",
        run.stdout
    );
    let destroy = moto.jiti(repo.path(), &["destroy", "-p", "billing", "--yes"]).expect(2);
    assert!(
        destroy.stdout.contains("kept: was not made by cargo-jiti for app `billing`"),
        "{}",
        destroy.stdout
    );

    // Another tool's stack that copied the `jiti:app` tag is still not cargo-jiti's: its template
    // is never replaced, and it is never deleted.
    let other = shop_on("feature/copied-tag");
    let copied =
        moto.jiti(other.path(), &["render", "-p", "billing", "--json"]).expect(0).json()["apps"][0]
            ["stack_name"]
            .as_str()
            .expect("stack")
            .to_owned();
    moto.boto3(&format!(
        "c('cloudformation').create_stack(StackName={copied:?}, TemplateBody=json.dumps({{'Resources': {{'Q': {{'Type': 'AWS::SQS::Queue'}}}}}}), Tags=[{{'Key': 'jiti:app', 'Value': 'billing'}}])\nprint('null')"
    ));
    let before = moto.boto3(&format!(
        "print(json.dumps(c('cloudformation').get_template(StackName={copied:?})['TemplateBody']))"
    ));
    // (A rollback deploys through the same path.)
    let refused = moto
        .jiti(other.path(), &["deploy", "-p", "billing", "--method", "direct", "--json"])
        .expect(2);
    assert!(
        refused.json()["apps"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("its tags: no `jiti:managed-by`, `jiti:app=billing`")),
        "{}",
        refused.stdout
    );
    let destroy = moto.jiti(other.path(), &["destroy", "-p", "billing", "--yes"]).expect(2);
    assert!(
        destroy.stdout.contains("its tags: no `jiti:managed-by`, `jiti:app=billing`"),
        "{}",
        destroy.stdout
    );
    let after = moto.boto3(&format!(
        "print(json.dumps(c('cloudformation').get_template(StackName={copied:?})['TemplateBody']))"
    ));
    assert_eq!(before, after, "the other tool's template is untouched");
}

#[test]
fn a_large_template_goes_through_the_artifacts_bucket() {
    let repo = Repo::from_fixture("shop");
    repo.git(&["checkout", "-q", "-b", "feature/large"]);
    let mut template = String::from("Resources:\n");
    for i in 0..90 {
        template.push_str(&format!(
            "  Queue{i}:\n    Type: AWS::SQS::Queue\n    Properties:\n      DelaySeconds: {}\n",
            i % 10
        ));
    }
    repo.write("billing/infra/stack.yaml", &template);
    let moto = moto();
    let render = moto.jiti(repo.path(), &["render", "-p", "billing", "--stdout"]).expect(0);
    assert!(
        render.stdout.len() > 51_200,
        "the template must exceed the inline limit: {} bytes",
        render.stdout.len()
    );
    let report = moto.jiti(repo.path(), &["deploy", "-p", "billing", "--json"]).expect(0).json();
    assert_eq!(report["apps"][0]["result"], "created", "{report:#}");
    // Three objects: the template, and the release's two ledger records (its start, its outcome).
    assert_eq!(calls(&report, "S3.PutObject"), 3, "{:#}", report["api_calls"]);
    let bucket = moto.boto3(
        "s3 = c('s3')\nb = [x['Name'] for x in s3.list_buckets()['Buckets'] if x['Name'].startswith('cargo-jiti-artifacts-')][0]\nkeys = [o['Key'] for o in s3.list_objects_v2(Bucket=b, Prefix='templates/billing/')['Contents']]\nprint(json.dumps({'keys': keys, 'tags': s3.get_bucket_tagging(Bucket=b)['TagSet'], 'block': s3.get_public_access_block(Bucket=b)['PublicAccessBlockConfiguration'], 'sse': s3.get_bucket_encryption(Bucket=b)['ServerSideEncryptionConfiguration']['Rules'][0]['ApplyServerSideEncryptionByDefault']['SSEAlgorithm']}))",
    );
    let env = report["apps"][0]["environment"].as_str().expect("env");
    let hash = report["apps"][0]["release"]["template_hash"].as_str().expect("hash");
    assert!(
        bucket["keys"]
            .as_array()
            .expect("keys")
            .contains(&Value::String(format!("templates/billing/{env}/{hash}.json"))),
        "{bucket:#}"
    );
    assert_eq!(bucket["tags"][0]["Key"], "jiti:managed-by");
    assert_eq!(bucket["block"]["BlockPublicAcls"], true);
    assert_eq!(bucket["sse"], "AES256");
}

#[test]
fn a_throttling_api_still_deploys() {
    let repo = shop_on("feature/throttled");
    let moto = moto();
    let proxy = jiti_tests::Proxy::throttling(&moto.endpoint, 3);
    let through_proxy = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let report = moto
        .jiti_env(repo.path(), &["deploy", "--method", "direct", "--json"], &through_proxy)
        .expect(0)
        .json();
    assert_eq!(
        results(&report),
        [("billing".to_owned(), "created".to_owned()), ("orders-api".into(), "created".into())]
    );
    let report = moto
        .jiti_env(repo.path(), &["deploy", "-p", "billing", "--json"], &through_proxy)
        .expect(0)
        .json();
    assert_eq!(report["apps"][0]["result"], "up-to-date");
    let envs = moto.jiti_env(repo.path(), &["envs", "--json"], &through_proxy).expect(0).json();
    assert!(
        envs["environments"]
            .as_array()
            .is_some_and(|e| e.iter().any(|r| r["branch"] == "feature/throttled"))
    );
    assert!(proxy.throttled() >= 3, "the proxy throttled only {} requests", proxy.throttled());
    // The same outcome as without throttling: the stacks are there.
    let direct = moto.jiti(repo.path(), &["deploy", "--json"]).expect(0).json();
    assert_eq!(
        results(&direct),
        [
            ("billing".to_owned(), "up-to-date".to_owned()),
            ("orders-api".into(), "up-to-date".into())
        ]
    );
}

#[test]
fn a_stack_that_never_leaves_create_in_progress_ends_in_a_clear_timeout() {
    // moto fails to create an SSM parameter with tags: CreateStack answers 500, the SDK's retry
    // answers AlreadyExists, and the stack stays CREATE_IN_PROGRESS for ever.
    let repo = shop_on("feature/stuck");
    repo.write("billing/infra/stack.yaml", "Resources:\n  Param:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Type: String\n      Value: x\n");
    let moto = jiti_tests::Moto::start();
    let start = std::time::Instant::now();
    let run = moto
        .jiti(repo.path(), &["deploy", "-p", "billing", "--method", "direct", "--timeout", "3s"])
        .expect(2);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "the timeout was not honoured: {:?}",
        start.elapsed()
    );
    assert!(
        run.stderr
            .contains("CloudFormation is working on the stack (CREATE_IN_PROGRESS): following it"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("timed out after 3s waiting for stack billing-feature-stuck-")
            && run.stdout.contains("(CREATE_IN_PROGRESS); the operation goes on in CloudFormation: follow it with `aws cloudformation describe-stack-events"),
        "{}",
        run.stdout
    );
    // The next deploy does not start a second operation on the busy stack: it waits for it.
    let again = moto
        .jiti(
            repo.path(),
            &["deploy", "-p", "billing", "--method", "direct", "--timeout", "2s", "--json"],
        )
        .expect(2);
    assert!(
        again.stderr.contains("is busy (CREATE_IN_PROGRESS): waiting for that operation to finish"),
        "{}",
        again.stderr
    );
    assert_eq!(
        again.json()["api_calls"]["by_operation"]["CloudFormation.CreateStack"],
        Value::Null
    );
}

#[test]
fn a_failed_app_skips_what_depends_on_it() {
    let repo = shop_on("feature/dependency-fails");
    let moto = moto();
    let template = repo
        .read("billing/infra/stack.yaml")
        .replace("{{ params.visibility_timeout }}", "{{ params.no_such_param }}");
    repo.write("billing/infra/stack.yaml", &template);
    let report =
        moto.jiti(repo.path(), &["deploy", "--method", "direct", "--json"]).expect(2).json();
    assert_eq!(
        results(&report),
        [("billing".to_owned(), "failed".to_owned()), ("orders-api".into(), "skipped".into())]
    );
    assert!(
        report["apps"][0]["error"].as_str().is_some_and(|e| e.contains("no_such_param")),
        "{report:#}"
    );
    assert_eq!(report["apps"][1]["reason"], "dependency `billing` did not deploy");
    let outputs = moto.jiti(repo.path(), &["outputs", "-p", "orders-api", "--json"]).expect(2);
    assert!(
        outputs.stderr.contains("does not exist"),
        "nothing of orders-api was deployed: {}",
        outputs.stderr
    );
}

#[test]
fn in_a_crowded_account_a_deploy_asks_for_its_stacks_by_name() {
    // An account of its own, with 120 stacks of other tools: three DescribeStacks pages.
    let moto = jiti_tests::Moto::start();
    moto.boto3("cf = c('cloudformation')\nbody = json.dumps({'Resources': {'Q': {'Type': 'AWS::SQS::Queue'}}})\nfor i in range(120):\n    cf.create_stack(StackName=f'other-{i}', TemplateBody=body)\nprint('null')");
    let repo = shop_on("feature/crowded");
    // Direct: moto's ExecuteChangeSet leaves a stack without outputs, which orders-api reads.
    let created =
        moto.jiti(repo.path(), &["deploy", "--method", "direct", "--json"]).expect(0).json();
    assert_eq!(
        results(&created),
        [("billing".to_owned(), "created".to_owned()), ("orders-api".into(), "created".into())]
    );

    // One page, then the workspace's two stacks by name: not the 3 pages of the whole account.
    let noop = moto.jiti(repo.path(), &["deploy", "--json"]).expect(0).json();
    assert_eq!(
        results(&noop),
        [
            ("billing".to_owned(), "up-to-date".to_owned()),
            ("orders-api".into(), "up-to-date".into())
        ]
    );
    assert_eq!(noop["api_calls"]["total"], 3, "{:#}", noop["api_calls"]);
    // One app without dependencies: one page and its own stack.
    let one = moto.jiti(repo.path(), &["deploy", "-p", "billing", "--json"]).expect(0).json();
    assert_eq!(results(&one), [("billing".to_owned(), "up-to-date".to_owned())]);
    assert_eq!(one["api_calls"]["total"], 2, "{:#}", one["api_calls"]);
    // diff finds the stacks the same way, and with them billing's outputs that orders-api renders with.
    let diff = moto.jiti(repo.path(), &["diff", "--json"]).expect(0).json();
    assert_eq!(diff["differs"], false, "{diff:#}");
    assert_eq!(
        diff["apps"].as_array().map(|a| a.iter().filter(|d| d["diff"]["exists"] == true).count()),
        Some(2),
        "{diff:#}"
    );

    // envs still sees the whole account's environments of the workspace.
    let envs = moto.jiti(repo.path(), &["envs", "--json"]).expect(0).json();
    assert_eq!(envs["environments"].as_array().map(Vec::len), Some(2), "one row per app: {envs:#}");
    // 3 pages, and one listing of orders-api's releases in this checkout's environment (were
    // its functions hotswapped since its last deploy?), in the bucket named by the account (STS).
    assert_eq!(envs["api_calls"]["total"], 5, "envs pages through the account: {envs:#}");
    assert_eq!(envs["api_calls"]["by_operation"]["CloudFormation.DescribeStacks"]["calls"], 3);
}
