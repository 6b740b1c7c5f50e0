//! Templates nobody here wrote: the public corpus of `tests/corpus/` (64 templates AWS publishes,
//! pinned, unchanged; see its SOURCE.md), each dropped into an app of one generated workspace, as a
//! team adopting cargo-jiti would. What cargo-jiti does to them is printed and asserted:
//! - every template renders, but those whose text Tera cannot take (listed, with the reason);
//! - cfn-lint finds no error in a rendering that it does not find in the original;
//! - the built-in policy refuses only templates that really weaken an AWS default (listed);
//! - resources of `Fn::ForEach` loops are tagged;
//! - differential: each rendering equals the original as cfn-lint's decoder reads it (the YAML 1.1
//!   CloudFormation reads), cargo-jiti's tags, retention rewrites and functions' log groups set aside;
//! - every Lambda function logs to a group of its own stack, tagged, but where its author wired it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jiti_tests::{Repo, cfn_lint, repo_root, venv_tool};

const CORPUS: &str = "tests/corpus/aws-cloudformation-templates";

/// Templates that are not CloudFormation as written: (template, the syntax, whose it is). Each must
/// hold that syntax and be refused for it (see the test).
const NOT_CLOUDFORMATION: &[(&str, &str, &str)] = &[
    (
        "APIGateway/apigateway_lambda_integration.yaml",
        "!Rain::Embed",
        "a directive of the Rain tool, expanded by `rain pkg` before CloudFormation sees the template",
    ),
    (
        "CloudFormation/StackSets/common-resources.yaml",
        "!Rain::Module",
        "a directive of the Rain tool",
    ),
    (
        "CloudFormation/StackSets/log-setup-management.yaml",
        "!Rain::Embed",
        "a directive of the Rain tool",
    ),
    ("ElastiCache/Elasticache-snapshot.yaml", "!Rain::Embed", "a directive of the Rain tool"),
];

/// (template, rule, resource) of every policy error the corpus raises: each one a real weakening.
const POLICY_ERRORS: &[(&str, &str, &str)] = &[];

fn templates(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            templates(&path, out);
        } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "json") {
            out.push(path);
        }
    }
}

struct App {
    name: String,
    /// The template's path inside the corpus.
    source: String,
    original: PathBuf,
}

fn lint_errors(findings: &[serde_json::Value]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in findings.iter().filter(|f| f["Level"] == "Error") {
        let file = f["Filename"].as_str().unwrap_or_default().to_owned();
        let path: Vec<String> =
            f["Location"]["Path"].as_array().into_iter().flatten().map(|p| p.to_string()).collect();
        out.entry(file).or_default().insert(format!(
            "{} at {}: {}",
            f["Rule"]["Id"].as_str().unwrap_or_default(),
            path.join("/"),
            f["Message"].as_str().unwrap_or_default()
        ));
    }
    out
}

/// A lint finding without its message (which quotes values, and so the tags cargo-jiti adds).
fn rule_and_path(finding: &str) -> &str {
    finding.split(": ").next().unwrap_or(finding)
}

#[test]
fn public_templates_render_and_lint_as_written() {
    let root = repo_root();
    let mut files = Vec::new();
    templates(&root.join(CORPUS), &mut files);
    assert!(files.len() >= 50, "the corpus holds {} templates", files.len());

    // One workspace, one app per template, the template copied byte for byte.
    let repo = Repo::empty();
    let mut apps = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let name = format!("t{i:02}");
        let source = file
            .strip_prefix(root.join(CORPUS))
            .expect("in the corpus")
            .to_string_lossy()
            .into_owned();
        let file_name = file.file_name().expect("a file").to_string_lossy().into_owned();
        repo.write(
            &format!("{name}/Cargo.toml"),
            &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
        );
        repo.write(&format!("{name}/src/lib.rs"), "");
        repo.write(
            &format!("{name}/infra/jiti.toml"),
            &format!("# {source}\n[app]\nregion = \"us-east-1\"\ntemplate = \"{file_name}\"\n"),
        );
        std::fs::copy(file, repo.path().join(format!("{name}/infra/{file_name}"))).expect("copy");
        apps.push(App { name, source, original: file.clone() });
    }
    let members: Vec<String> = apps.iter().map(|a| format!("\"{}\"", a.name)).collect();
    repo.write(
        "Cargo.toml",
        &format!("[workspace]\nresolver = \"2\"\nmembers = [{}]\n", members.join(", ")),
    );
    repo.write(".gitignore", "/target\n");
    repo.commit("the corpus");
    repo.git(&["checkout", "-q", "-b", "feature/corpus"]);
    let by_name: BTreeMap<&str, &App> = apps.iter().map(|a| (a.name.as_str(), a)).collect();

    let check = repo.jiti(&["check", "--workspace", "--json"]).json();
    let findings = check["findings"].as_array().expect("findings");
    let source_of =
        |f: &serde_json::Value| by_name[f["app"].as_str().expect("an app")].source.clone();

    // 1. Rendering.
    let failed: BTreeMap<String, String> = findings
        .iter()
        .filter(|f| f["code"] == "render")
        .map(|f| (source_of(f), f["message"].as_str().unwrap_or_default().to_owned()))
        .collect();
    eprintln!("rendered {} of {} templates", apps.len() - failed.len(), apps.len());
    for (source, message) in &failed {
        eprintln!("  not rendered: {source}: {}", message.lines().last().unwrap_or_default());
    }
    let expected: BTreeSet<&str> = NOT_CLOUDFORMATION.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(failed.keys().map(String::as_str).collect::<BTreeSet<_>>(), expected, "{failed:#?}");
    for (source, syntax, why) in NOT_CLOUDFORMATION {
        let text = std::fs::read_to_string(root.join(CORPUS).join(source)).expect("read");
        assert!(text.contains(syntax), "{source} holds no `{syntax}`");
        assert!(
            failed[*source].contains(&format!("unknown tag `{syntax}`")),
            "{source} is refused for `{syntax}` ({why}): {}",
            failed[*source]
        );
    }

    // 2. Policy: errors only where a template really weakens a default.
    let policy: BTreeSet<(String, String, String)> = findings
        .iter()
        .filter(|f| {
            f["severity"] == "error"
                && ["bucket-public-access", "encryption", "public-principal"]
                    .contains(&f["code"].as_str().unwrap_or_default())
        })
        .map(|f| {
            (
                by_name[f["app"].as_str().expect("an app")].source.clone(),
                f["code"].as_str().unwrap_or_default().to_owned(),
                f["resource"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    eprintln!("policy errors: {}", policy.len());
    for (source, rule, resource) in &policy {
        eprintln!("  {source}: {rule} ({resource})");
    }
    let expected: BTreeSet<(String, String, String)> = POLICY_ERRORS
        .iter()
        .map(|(s, r, id)| ((*s).to_owned(), (*r).to_owned(), (*id).to_owned()))
        .collect();
    assert_eq!(policy, expected);

    // 3. Render what renders, and lint both sides.
    let rendered_apps: Vec<&App> =
        apps.iter().filter(|a| !failed.contains_key(&a.source)).collect();
    let mut args = vec!["render".to_owned(), "--json".to_owned()];
    for a in &rendered_apps {
        args.extend(["-p".to_owned(), a.name.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let render = repo.jiti(&args).expect(0).json();
    let rendered: BTreeMap<String, PathBuf> = render["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| {
            (
                a["app"].as_str().expect("app").to_owned(),
                PathBuf::from(a["template"].as_str().expect("path")),
            )
        })
        .collect();
    assert_eq!(rendered.len(), rendered_apps.len());
    // Each app's log groups added for its functions: (function, log group) by app.
    let added: BTreeMap<String, Vec<(String, String)>> = render["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| {
            let pairs = a["log_groups_added"].as_array().expect("log_groups_added").iter();
            let pairs = pairs.map(|g| {
                (
                    g["function"].as_str().expect("function").to_owned(),
                    g["log_group"].as_str().expect("id").to_owned(),
                )
            });
            (a["app"].as_str().expect("app").to_owned(), pairs.collect())
        })
        .collect();
    let loop_resources: usize = render["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| a["loop_resources"].as_u64().unwrap_or(0) as usize)
        .sum();

    let originals: Vec<PathBuf> = rendered_apps.iter().map(|a| a.original.clone()).collect();
    let before = lint_errors(&cfn_lint(&originals, &[]));
    let after = lint_errors(&cfn_lint(&rendered.values().cloned().collect::<Vec<_>>(), &[]));
    let mut introduced = Vec::new();
    for a in &rendered_apps {
        let had: BTreeSet<&str> = before
            .get(&a.original.to_string_lossy().into_owned())
            .into_iter()
            .flatten()
            .map(|f| rule_and_path(f))
            .collect();
        for f in after.get(&rendered[&a.name].to_string_lossy().into_owned()).into_iter().flatten()
        {
            if !had.contains(rule_and_path(f)) {
                introduced.push(format!("{}: {f}", a.source));
            }
        }
    }
    eprintln!(
        "cfn-lint errors in the originals: {}; introduced by cargo-jiti: {}",
        before.values().map(BTreeSet::len).sum::<usize>(),
        introduced.len()
    );
    assert!(
        introduced.is_empty(),
        "cargo-jiti's rendering adds cfn-lint errors:\n{}",
        introduced.join("\n")
    );

    // 4. Loops: every resource of an `Fn::ForEach` loop carries the jiti tags.
    let mut tagged_in_loops = 0;
    for (name, path) in &rendered {
        let template =
            jiti_core::template::Template::parse(&std::fs::read_to_string(path).expect("read"))
                .expect("a template");
        let in_loops = template.loop_resources();
        if in_loops == 0 {
            continue;
        }
        let missing = jiti_core::check::missing_tags_in(&template);
        assert!(missing.is_empty(), "{}: untagged: {missing:?}", by_name[name.as_str()].source);
        tagged_in_loops += in_loops;
    }
    eprintln!("resources in Fn::ForEach loops: {loop_resources}, tagged: {tagged_in_loops}");
    assert!(
        tagged_in_loops >= 4 && tagged_in_loops == loop_resources,
        "{tagged_in_loops} of {loop_resources}"
    );

    // 5. Functions' logs: every function of a rendering logs to a group of its stack (one added,
    // tagged, with the branch environment's retention), but those whose author wired logging.
    let (mut functions, mut owned, mut wired) = (0, 0, Vec::new());
    for (name, path) in &rendered {
        let template =
            jiti_core::template::Template::parse(&std::fs::read_to_string(path).expect("read"))
                .expect("a template");
        let resources: BTreeMap<&String, &serde_json::Value> = template.resources().collect();
        let of_app: BTreeMap<&str, &str> =
            added[name].iter().map(|(f, g)| (f.as_str(), g.as_str())).collect();
        for (id, r) in &resources {
            let kind = r["Type"].as_str().unwrap_or_default();
            if !["AWS::Lambda::Function", "AWS::Serverless::Function"].contains(&kind) {
                continue;
            }
            functions += 1;
            let source = &by_name[name.as_str()].source;
            let Some(group) = of_app.get(id.as_str()) else {
                wired.push(format!("{source}: {id}"));
                continue;
            };
            owned += 1;
            assert_eq!(
                r["Properties"]["LoggingConfig"]["LogGroup"],
                serde_json::json!({ "Ref": group }),
                "{source}: {id}"
            );
            let g = resources[&group.to_string()];
            assert_eq!(g["Type"], "AWS::Logs::LogGroup", "{source}: {group}");
            assert_eq!(g["Properties"]["RetentionInDays"], 7, "{source}: {group}");
            let tags = g["Properties"]["Tags"].to_string();
            assert!(
                tags.contains("jiti:app") && tags.contains("jiti:branch"),
                "{source}: {group}: {tags}"
            );
        }
    }
    eprintln!(
        "Lambda functions: {functions}; given a log group of their stack: {owned}; left as written: {}",
        wired.len()
    );
    for w in &wired {
        eprintln!("  left: {w}");
    }
    assert!(owned >= 10, "{owned} of {functions}");

    // 6. Differential: the rendering is the template as CloudFormation's YAML reader sees it.
    let pairs: Vec<_> = rendered_apps
        .iter()
        .map(|a| {
            (
                a.source.clone(),
                a.original.to_string_lossy().into_owned(),
                rendered[&a.name].to_string_lossy().into_owned(),
                &added[&a.name],
            )
        })
        .collect();
    let mut decode = Command::new(venv_tool("python"))
        .arg(root.join("tests/corpus/decode.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run decode.py");
    serde_json::to_writer(decode.stdin.take().expect("stdin"), &pairs).expect("write pairs");
    let out = decode.wait_with_output().expect("decode.py");
    assert!(out.status.success(), "decode.py failed");
    let differences: BTreeMap<String, Vec<String>> =
        serde_json::from_slice(&out.stdout).expect("JSON");
    eprintln!("templates that differ from cfn-lint's reading: {}", differences.len());
    assert!(differences.is_empty(), "{differences:#?}");
}
