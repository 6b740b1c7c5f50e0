//! Generated artefacts are checked in and must match what generates them.

use jiti_tests::{repo_root, venv_tool};

#[test]
fn the_jiti_toml_schema_is_up_to_date() {
    let committed = std::fs::read_to_string(repo_root().join("infra-schema/jiti.schema.json"))
        .expect("read the schema");
    let fresh = jiti_core::config::json_schema();
    assert!(
        committed == fresh,
        "infra-schema/jiti.schema.json is stale: regenerate it with\n    cargo run -p cargo-jiti -- jiti schema > infra-schema/jiti.schema.json"
    );
    let cli =
        jiti_tests::jiti_command(&repo_root()).arg("schema").output().expect("run cargo-jiti");
    assert_eq!(
        String::from_utf8_lossy(&cli.stdout),
        fresh,
        "`cargo jiti schema` prints the schema"
    );
}

#[test]
fn the_reports_schema_is_up_to_date_and_versioned() {
    let committed = std::fs::read_to_string(repo_root().join("infra-schema/reports.schema.json"))
        .expect("read the reports' schema");
    let fresh = jiti_core::report::json_schema();
    assert!(
        committed == fresh,
        "infra-schema/reports.schema.json is stale: regenerate it with\n    cargo run -p cargo-jiti -- jiti schema --reports > infra-schema/reports.schema.json"
    );
    let cli = jiti_tests::jiti_command(&repo_root())
        .args(["schema", "--reports"])
        .output()
        .expect("run cargo-jiti");
    assert_eq!(
        String::from_utf8_lossy(&cli.stdout),
        fresh,
        "`cargo jiti schema --reports` prints the schema"
    );
    // Every report and the error report say their version; a report names its command.
    let schema: serde_json::Value = serde_json::from_str(&fresh).expect("schema is JSON");
    let text = schema.to_string();
    for command in [
        "render", "check", "deploy", "diff", "drift", "envs", "outputs", "destroy", "gc",
        "history", "rollback",
    ] {
        assert!(
            text.contains(&format!("\"const\":\"{command}\"")),
            "no `{command}` report in the schema"
        );
    }
    assert!(text.matches("schema_version").count() >= 2, "{text}");
    // A report without its version, or of an unknown command, does not validate.
    let err = std::panic::catch_unwind(|| {
        jiti_tests::assert_report_valid(&serde_json::json!({"command": "deploy"}))
    });
    assert!(err.is_err(), "a report without schema_version validated");
}

#[test]
fn the_schema_describes_every_section_and_rejects_unknown_keys() {
    let schema: serde_json::Value =
        serde_json::from_str(&jiti_core::config::json_schema()).expect("schema is JSON");
    assert_eq!(schema["properties"]["app"]["$ref"], "#/$defs/AppConfig", "{schema:#}");
    for section in ["app", "environments", "params", "tags", "hooks"] {
        assert!(schema["properties"][section].is_object(), "no `{section}` in the schema");
    }
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["$defs"]["AppConfig"]["additionalProperties"], false);
    assert!(schema["$defs"]["AppConfig"]["properties"]["depends_on"].is_object());
}

#[test]
fn the_tagging_table_matches_the_pinned_cfn_lint() {
    let python = venv_tool("python");
    let out = std::process::Command::new(python)
        .arg(repo_root().join("scripts/gen-tagging-table.py"))
        .output()
        .expect("run the generator");
    assert!(out.status.success(), "generator failed: {}", String::from_utf8_lossy(&out.stderr));
    let committed = std::fs::read_to_string(repo_root().join("infra-schema/tagging.tsv"))
        .expect("read the table");
    assert!(
        committed == String::from_utf8_lossy(&out.stdout),
        "infra-schema/tagging.tsv differs from what the pinned cfn-lint gives: regenerate it with\n    .venv/bin/python scripts/gen-tagging-table.py > infra-schema/tagging.tsv"
    );
    assert_eq!(
        jiti_core::tagging::TABLE_TSV,
        committed,
        "rebuild: the embedded table is older than the file"
    );
}
