//! The external oracles: cfn-lint (every template a test renders must pass it) and the JSON Schema
//! of the reports, from the project's virtualenv and `infra-schema/`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::repo_root;

/// The project's virtualenv (`.venv`, made by `scripts/setup-python`), or `JITI_VENV`.
pub fn venv() -> PathBuf {
    std::env::var_os("JITI_VENV").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv"))
}

/// A program of the virtualenv, or a clear failure saying how to install it.
pub fn venv_tool(name: &str) -> PathBuf {
    let path = venv().join("bin").join(name);
    assert!(
        path.is_file(),
        "`{}` not found. The tests need the pinned Python tools (cfn-lint, moto): run `scripts/setup-python` from the repository root (or set JITI_VENV to a virtualenv that has them)",
        path.display()
    );
    path
}

/// Runs cfn-lint on `templates`; returns its JSON findings (`[]` when clean).
pub fn cfn_lint(templates: &[PathBuf], extra: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(venv_tool("cfn-lint"))
        .args(["--format", "json"])
        .args(extra)
        .arg("--")
        .args(templates)
        .output()
        .expect("run cfn-lint");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "cfn-lint printed no JSON ({e}); exit {:?}\nstdout: {stdout}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// cfn-lint findings of level Error.
pub fn lint_errors(findings: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    findings.iter().filter(|f| f["Level"] == "Error").collect()
}

/// Fails the test unless `report` validates against the committed JSON Schema of the reports, with
/// every error and where it is.
#[track_caller]
pub fn assert_report_valid(report: &serde_json::Value) {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = SCHEMA.get_or_init(|| {
        let path = repo_root().join("infra-schema/reports.schema.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let schema: serde_json::Value =
            serde_json::from_str(&text).expect("the reports' schema is JSON");
        jsonschema::validator_for(&schema).expect("the reports' schema is a valid JSON Schema")
    });
    let errors: Vec<String> = validator.iter_errors(report).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "the report does not match infra-schema/reports.schema.json:\n  {}\nreport: {report:#}",
        errors.join("\n  ")
    );
}
