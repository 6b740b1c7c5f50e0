//! Generated artefacts are checked in and must match what generates them.

use jiti_tests::{repo_root, venv_tool};

#[test]
fn the_jiti_toml_schema_is_up_to_date() {
    let committed = std::fs::read_to_string(repo_root().join("infra-schema/jiti.schema.json")).expect("read the schema");
    let fresh = jiti_core::config::json_schema();
    assert!(
        committed == fresh,
        "infra-schema/jiti.schema.json is stale: regenerate it with\n    cargo run -p cargo-jiti -- jiti schema > infra-schema/jiti.schema.json"
    );
    let cli = jiti_tests::jiti_command(&repo_root()).arg("schema").output().expect("run cargo-jiti");
    assert_eq!(String::from_utf8_lossy(&cli.stdout), fresh, "`cargo jiti schema` prints the schema");
}

#[test]
fn the_schema_describes_every_section_and_rejects_unknown_keys() {
    let schema: serde_json::Value = serde_json::from_str(&jiti_core::config::json_schema()).expect("schema is JSON");
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
    let committed = std::fs::read_to_string(repo_root().join("infra-schema/tagging.tsv")).expect("read the table");
    assert!(
        committed == String::from_utf8_lossy(&out.stdout),
        "infra-schema/tagging.tsv differs from what the pinned cfn-lint gives: regenerate it with\n    .venv/bin/python scripts/gen-tagging-table.py > infra-schema/tagging.tsv"
    );
    assert_eq!(jiti_core::tagging::TABLE_TSV, committed, "rebuild: the embedded table is older than the file");
}
