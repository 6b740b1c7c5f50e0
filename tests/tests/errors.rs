//! Bad input gets a clear error: which file, which line, what to do; and exit codes 1 and 2 mean
//! what `--help` says. Messages are snapshots, with the temporary repository's path redacted.

use jiti_tests::{Repo, Run};

/// stderr (or stdout) with the repository path as `[REPO]` and commit ids as `[COMMIT]`.
fn redact(repo: &Repo, text: &str) -> String {
    let root = std::fs::canonicalize(repo.path()).expect("canonical path");
    let text = text
        .replace(&root.display().to_string(), "[REPO]")
        .replace(&repo.path().display().to_string(), "[REPO]");
    let commit = repo.git(&["rev-parse", "HEAD"]);
    text.replace(&commit, "[COMMIT]").replace(&commit[..7], "[SHORT]")
}

fn shop() -> Repo {
    Repo::from_fixture("shop")
}

fn edit(repo: &Repo, file: &str, from: &str, to: &str) {
    let text = repo.read(file);
    assert!(text.contains(from), "{file} does not contain {from:?}");
    repo.write(file, &text.replacen(from, to, 1));
}

fn render_err(repo: &Repo) -> String {
    let run: Run = repo.jiti(&["render"]).expect(2);
    redact(repo, &run.stderr)
}

#[test]
fn unknown_config_key_names_file_line_and_the_key_meant() {
    let repo = shop();
    edit(&repo, "billing/infra/jiti.toml", "region = \"us-east-1\"", "regoin = \"us-east-1\"");
    insta::assert_snapshot!(render_err(&repo), @r"
    error: [REPO]/billing/infra/jiti.toml:5:1: unknown field `regoin`, expected one of `name`, `template`, `region`, `stack_prefix`, `depends_on`
      help: did you mean `region`?
    ");
    // check reports it as a finding (exit 1), not as a failure to run.
    let run = repo.jiti(&["check"]).expect(1);
    assert!(
        run.stdout.contains("error[config]") && run.stdout.contains("jiti.toml:5"),
        "{}",
        run.stdout
    );
}

#[test]
fn undefined_template_variables_are_errors_with_locations() {
    let repo = shop();
    edit(
        &repo,
        "billing/infra/stack.yaml",
        "{{ params.visibility_timeout }}",
        "{{ params.visibility_timout }}",
    );
    insta::assert_snapshot!(render_err(&repo), @r"
    error: failed to render app `billing` (templates in `[REPO]/billing/infra`):
    error: Field `visibility_timout` is not defined. Available fields: log_retention_days, max_receive_count, visibility_timeout
     --> stack.yaml:8:36
      |
    8 |       VisibilityTimeout: {{ params.visibility_timout }}
      |                                    ^^^^^^^^^^^^^^^^^
    error: app `orders-api` is not rendered: its dependency `billing` does not render
    ");
    // In a partial, the error names the partial and where it was included from.
    let repo = shop();
    edit(&repo, "billing/infra/partials/dead-letters.yaml", "1209600", "{{ retention }}");
    let err = render_err(&repo);
    assert!(
        err.contains("--> partials/dead-letters.yaml:4:34")
            && err.contains("called from stack.yaml:14:12"),
        "{err}"
    );
}

#[test]
fn template_errors_point_at_the_rendered_line_and_its_template_line() {
    let repo = shop();
    edit(
        &repo,
        "billing/infra/stack.yaml",
        "!GetAtt InvoiceDeadLetters.Arn",
        "!GetAttr InvoiceDeadLetters.Arn",
    );
    insta::assert_snapshot!(render_err(&repo), @r"
    error: app `billing`: the rendered template is not a valid CloudFormation template: line 11: unknown tag `!GetAttr`; did you mean `!GetAtt`?
      rendered line:         deadLetterTargetArn: !GetAttr InvoiceDeadLetters.Arn
      from: [REPO]/billing/infra/stack.yaml:11
    error: app `orders-api` is not rendered: its dependency `billing` does not render
    ");
    let repo = shop();
    // A block that renders to nothing above the error: the rendered line and its template line differ.
    edit(
        &repo,
        "orders-api/infra/stack.yaml",
        "  OrdersLogs:",
        "{%- if env.protected %}\n  # production only: alarms\n  # on the function's errors\n{%- endif %}\n  OrdersLogs:",
    );
    edit(
        &repo,
        "orders-api/infra/stack.yaml",
        "      RetentionInDays: {{ params.log_retention_days }}",
        "      RetentionInDays: {{ params.log_retention_days }}: days",
    );
    let template = repo.read("orders-api/infra/stack.yaml");
    let source_line = template.lines().position(|l| l.ends_with(": days")).expect("the edit") + 1;
    let err = render_err(&repo);
    assert!(err.contains("line 79: invalid YAML: mapping values are not allowed"), "{err}");
    assert!(err.contains("rendered line:       RetentionInDays: 90: days"), "{err}");
    assert_eq!(source_line, 82, "{template}");
    assert!(err.contains("from: [REPO]/orders-api/infra/stack.yaml:82"), "{err}");
}

#[test]
fn jiti_tag_keys_belong_to_cargo_jiti() {
    let repo = shop();
    edit(
        &repo,
        "billing/infra/stack.yaml",
        "      DisplayName: billing-{{ env.name }}",
        "      DisplayName: billing-{{ env.name }}\n      Tags:\n        - Key: jiti:env\n          Value: mine",
    );
    insta::assert_snapshot!(render_err(&repo), @r"
    error: app `billing` ([REPO]/billing/infra/stack.yaml): resource `BillingEvents` sets tag `jiti:env`, which cargo-jiti owns; remove it, cargo-jiti sets the `jiti:` tags
    error: app `orders-api` is not rendered: its dependency `billing` does not render
    ");
    let repo = shop();
    edit(&repo, "billing/infra/jiti.toml", "team = \"billing\"", "\"jiti:team\" = \"billing\"");
    let err = render_err(&repo);
    assert!(err.contains("jiti.toml:22:1: tag key `jiti:team` is reserved"), "{err}");
}

#[test]
fn check_reports_dependency_problems_and_exits_1() {
    let repo = shop();
    edit(&repo, "billing/infra/jiti.toml", "[app]\n", "[app]\ndepends_on = [\"orders-api\"]\n");
    let run = repo.jiti(&["check"]).expect(1);
    insta::assert_snapshot!(redact(&repo, &run.stdout), @r"
    error[dependency]: billing: dependency cycle: billing → orders-api → billing
      --> [REPO]/billing/infra/jiti.toml:5
    error[render]: billing: app `billing` is not rendered: its dependencies form a cycle (billing → orders-api → billing); remove one of these `depends_on` in jiti.toml
      --> [REPO]/billing/infra/stack.yaml
    error[render]: orders-api: app `orders-api` is not rendered: its dependencies form a cycle (orders-api → billing → orders-api); remove one of these `depends_on` in jiti.toml
      --> [REPO]/orders-api/infra/stack.yaml
    check failed: 2 app(s), 3 error(s), 0 warning(s), 0 note(s)
    ");
}

#[test]
fn check_reports_unknown_dependencies_untaggable_resources_and_limits() {
    let repo = shop();
    edit(
        &repo,
        "orders-api/infra/jiti.toml",
        "depends_on = [\"billing\"]",
        "depends_on = [\"billing\", \"shipping\"]",
    );
    let mut big = String::from("Resources:\n");
    for i in 0..501 {
        big.push_str(&format!("  Queue{i}:\n    Type: AWS::SQS::Queue\n"));
    }
    big.push_str("  Policy:\n    Type: AWS::SQS::QueuePolicy\n    Properties:\n      Queues: [!Ref Queue0]\n      PolicyDocument: {}\n");
    repo.write("billing/infra/stack.yaml", &big);
    let run = repo.jiti(&["check", "--json"]).expect(1);
    let report = run.json();
    let codes: Vec<_> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (f["severity"].as_str().unwrap_or_default(), f["code"].as_str().unwrap_or_default())
        })
        .collect();
    assert!(codes.contains(&("error", "dependency")), "{codes:?}");
    assert!(codes.contains(&("error", "limit")), "{codes:?}");
    assert!(codes.contains(&("info", "untaggable")), "{codes:?}");
    assert!(codes.contains(&("info", "large-template")), "{codes:?}");
    let dep = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["code"] == "dependency")
        .expect("a dependency finding");
    assert!(
        dep["message"].as_str().unwrap_or_default().contains("`shipping`, which is not an app"),
        "{dep}"
    );
    assert_eq!(dep["line"], 7);
    // orders-api reads billing's `TopicArn` output, which this billing template no longer has.
    let render = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["code"] == "render")
        .expect("a render finding");
    assert!(
        render["message"].as_str().is_some_and(|m| m.contains("`TopicArn` is not defined")),
        "{render}"
    );
    assert_eq!(report["summary"]["errors"], 3);
}

#[test]
fn a_broken_app_leaves_no_half_written_output() {
    let repo = shop();
    repo.jiti(&["render"]).expect(0);
    let before = repo.read("target/jiti/production/orders-api.template.json");
    edit(&repo, "billing/infra/stack.yaml", "Resources:", "Resources: [");
    edit(&repo, "orders-api/infra/jiti.toml", "memory = 256", "memory = 512");
    repo.jiti(&["render"]).expect(2);
    assert_eq!(
        repo.read("target/jiti/production/orders-api.template.json"),
        before,
        "orders-api was rewritten although billing failed"
    );
}

#[test]
fn templates_that_try_to_escape_or_swamp_are_refused() {
    // A symlink out of the repository.
    let repo = shop();
    std::os::unix::fs::symlink(
        "/etc/hostname",
        repo.path().join("billing/infra/partials/stolen.yaml"),
    )
    .expect("symlink");
    let out = repo.jiti(&["render", "-p", "billing"]).expect(2);
    assert!(out.stderr.contains("partials/stolen.yaml` links outside the repository (to `/etc/hostname`); infra files must live in the repository"), "{}", out.stderr);

    // An include of a path outside infra/: only the app's infra files are templates.
    let repo = shop();
    edit(
        &repo,
        "billing/infra/stack.yaml",
        "Resources:\n",
        "Resources:\n{% include \"../../Cargo.toml\" %}\n",
    );
    let out = repo.jiti(&["render", "-p", "billing"]).expect(2);
    assert!(
        out.stderr.contains("failed to render app `billing`")
            && out.stderr.contains("../../Cargo.toml"),
        "{}",
        out.stderr
    );

    // A 50 MB template is refused before it is read (memory stays bounded).
    let repo = shop();
    let big = std::fs::File::create(repo.path().join("billing/infra/huge.yaml")).expect("create");
    big.set_len(50 * 1024 * 1024).expect("a sparse 50 MB file");
    let out = repo.jiti(&["render", "-p", "billing"]).expect(2);
    assert!(
        out.stderr
            .contains("huge.yaml` is 52428800 bytes; infra files are limited to 4194304 bytes"),
        "{}",
        out.stderr
    );

    // Bombs that would take far more memory than their size, refused at their line within 2 GB of
    // address space: a 4 KiB string aliased 10^7 times (40 GB expanded), and, without any alias, a
    // 1 MiB key above 300,000 items (each item's path for error lines would hold the key: 300 GB).
    let mut aliases = format!(
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\nMetadata:\n  a: &a \"{}\"\n",
        "x".repeat(4096)
    );
    for level in 1..8u8 {
        let (name, previous) = ((b'a' + level) as char, (b'a' + level - 1) as char);
        aliases.push_str(&format!(
            "  {name}: &{name} [{}]\n",
            vec![format!("*{previous}"); 10].join(", ")
        ));
    }
    let long_key = format!(
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\nMetadata:\n  ? {}\n  :\n{}",
        "k".repeat(1 << 20),
        "    - 1\n".repeat(300_000)
    );
    for (bomb, line) in [(aliases, 9), (long_key, 36)] {
        let repo = shop();
        repo.write("billing/infra/stack.yaml", &bomb);
        let out =
            jiti_tests::jiti_command_through(&["prlimit", "--as=2000000000", "--"], repo.path())
                .args(["render", "-p", "billing"])
                .output()
                .expect("prlimit (util-linux)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("line {line}: the template expands to more than 32 MiB of text and paths (YAML aliases, long keys?); refused")), "{stderr}");
    }
}
