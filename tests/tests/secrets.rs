//! A planted secret (a `[params]` value named like one, and a `NoEcho` parameter's default) goes to
//! CloudFormation and nowhere else: not in any output of any command, not in `target/jiti/`, not
//! in the release ledger.

use jiti_tests::{Repo, moto};

const PARAM_SECRET: &str = "planted-Secret-7731";
const NOECHO_SECRET: &str = "planted-NoEcho-9942";

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn secrets_never_leave_for_logs_reports_files_or_the_ledger() {
    let repo = Repo::from_fixture("shop");
    repo.git(&["checkout", "-q", "-b", "feature/secrets"]);
    repo.write(
        "billing/infra/jiti.toml",
        &repo
            .read("billing/infra/jiti.toml")
            .replace("[params]\n", &format!("[params]\ndb_password = \"{PARAM_SECRET}\"\n")),
    );
    let template = repo.read("billing/infra/stack.yaml").replace(
        "Resources:\n",
        &format!("Parameters:\n  ApiToken:\n    Type: String\n    NoEcho: true\n    Default: {NOECHO_SECRET}\n  Pin:\n    Type: String\n    NoEcho: true\n    Default: x7q\n\nResources:\n"),
    ) + "  DbPasswordEcho:\n    Value: \"{{ params.db_password }}\"\n  TokenEcho:\n    Value: !Ref ApiToken\n  PinEcho:\n    Value: !Sub 'pin-${Pin}'\n";
    repo.write("billing/infra/stack.yaml", &template);
    repo.commit("a secret");
    let moto = moto();

    let mut seen = Vec::new();
    let mut run = |args: &[&str], code: i32| {
        let out = moto.jiti(repo.path(), args).expect(code);
        seen.push((args.join(" "), out.stdout.clone() + &out.stderr));
        out
    };
    run(&["render", "-p", "billing"], 0);
    run(&["render", "-p", "billing", "--stdout"], 0);
    run(&["check", "-p", "billing", "--json"], 0);
    run(&["deploy", "-p", "billing", "--method", "direct", "--json"], 0);
    let table = run(&["outputs", "-p", "billing"], 0);
    run(&["outputs", "-p", "billing", "--format", "json"], 0);
    run(&["outputs", "-p", "billing", "--format", "env"], 0);
    run(&["history", "-p", "billing", "--json"], 0);
    run(&["envs", "--json"], 0);
    // A change that moves the secret: diff and the human deploy report show both sides.
    repo.write(
        "billing/infra/jiti.toml",
        &repo
            .read("billing/infra/jiti.toml")
            .replace(PARAM_SECRET, &format!("{PARAM_SECRET}-rotated")),
    );
    run(&["diff", "-p", "billing"], 0);
    run(&["deploy", "-p", "billing", "--method", "direct"], 0);
    run(&["history", "-p", "billing"], 0);
    // A rollback prints the outputs of the release it brings back: masked as deploy masks them.
    let rolled =
        run(&["rollback", "-p", "billing", "--steps", "1", "--method", "direct", "--json"], 0)
            .json();
    assert_eq!(rolled["result"]["outputs"]["TokenEcho"], "****", "{rolled:#}");
    let rolled_text = run(&["rollback", "-p", "billing", "--steps", "1", "--method", "direct"], 0);
    assert!(rolled_text.stdout.contains("TokenEcho = ****"), "{}", rolled_text.stdout);
    // An output made from a secret parameter is masked by what it is, however short the secret.
    for out in [&rolled_text.stdout, &table.stdout] {
        assert!(
            out.lines().any(|l| l.contains("PinEcho") && l.trim_end().ends_with("****")),
            "{out}"
        );
    }
    let json = run(&["outputs", "-p", "billing", "--format", "json"], 0).json();
    assert_eq!(json["outputs"]["PinEcho"], "****", "{json:#}");

    for (command, output) in &seen {
        assert!(
            !output.contains(PARAM_SECRET) && !output.contains(NOECHO_SECRET),
            "`cargo jiti {command}` printed a secret:\n{output}"
        );
    }
    assert!(
        table.stdout.contains("DbPasswordEcho") && table.stdout.contains("****"),
        "secrets are shown masked: {}",
        table.stdout
    );

    let mut files = Vec::new();
    files_under(&repo.path().join("target/jiti"), &mut files);
    assert!(files.len() >= 2, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            !text.contains(PARAM_SECRET) && !text.contains(NOECHO_SECRET),
            "{} holds a secret",
            file.display()
        );
    }

    // The ledger's records, read straight from the bucket.
    let ledger = moto.boto3(
        "s3 = c('s3')\nout = []\nfor b in s3.list_buckets()['Buckets']:\n    if b['Name'].startswith('cargo-jiti-artifacts-'):\n        for o in s3.list_objects_v2(Bucket=b['Name'], Prefix='releases/billing/').get('Contents', []):\n            out.append(s3.get_object(Bucket=b['Name'], Key=o['Key'])['Body'].read().decode())\nprint(json.dumps(out))",
    );
    let records: Vec<String> = serde_json::from_value(ledger).expect("records");
    let ours: Vec<&String> = records.iter().filter(|r| r.contains("feature/secrets")).collect();
    // Two deploys and one rollback that changed the stack, each recorded when it started and when
    // it ended.
    assert_eq!(ours.len(), 6, "{ours:#?}");
    for record in ours {
        assert!(
            !record.contains(PARAM_SECRET) && !record.contains(NOECHO_SECRET),
            "a ledger record holds a secret: {record}"
        );
        assert!(
            record.contains("\"db_password\": \"****\"")
                || record.contains("\"db_password\":\"****\""),
            "{record}"
        );
    }

    // CloudFormation itself got the real values (the first release's, rolled back to).
    let outputs = moto.boto3(
        "s = [s for s in c('cloudformation').describe_stacks()['Stacks'] if s['StackName'].startswith('billing-feature-secrets')][0]\nprint(json.dumps({o['OutputKey']: o['OutputValue'] for o in s.get('Outputs', [])}))",
    );
    assert_eq!(outputs["DbPasswordEcho"], PARAM_SECRET);
    assert_eq!(outputs["PinEcho"], "pin-x7q");
}
