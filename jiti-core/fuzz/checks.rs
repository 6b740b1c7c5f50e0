//! What each fuzz target asserts about one input, shared by the fuzz targets and by
//! `jiti-core/tests/fuzz_regressions.rs`, which replays every input a fuzzer ever crashed on.

// Each fuzz target uses one of these; the regression test uses both.
#![allow(dead_code)]

use std::path::Path;

use jiti_core::config::{self, ConfigError};
use jiti_core::template::{Template, escape_pointer};
use jiti_core::{check, policy, secrets, tagging};

/// The template model, fed what a render could produce: any UTF-8 text, YAML (short-form
/// intrinsics, anchors, flow and block styles) or JSON.
///
/// Beyond "no panic", it checks the model's promises: the canonical JSON written to `target/jiti`
/// parses back to the same template, and every later stage of a deploy (tag injection, the policy
/// rules, secret discovery) accepts whatever `parse` accepted.
pub fn template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let template = match Template::parse(text) {
        Ok(t) => t,
        Err(e) => {
            // Errors are shown to users: formatting one must not panic either.
            let _ = e.to_string();
            return;
        }
    };
    let json = template.to_json();
    let again = Template::parse(&json)
        .unwrap_or_else(|e| panic!("canonical JSON does not parse back: {e}\n{json}"));
    assert_eq!(again.value, template.value, "canonical JSON changed the template");
    for (id, _) in template.resources() {
        let _ = template.line_of(&format!("/Resources/{}/Properties", escape_pointer(id)));
    }

    let mut tagged = template.value.clone();
    let tags = [
        ("team".to_owned(), "fuzz".to_owned()),
        ("jiti:app".to_owned(), "app".to_owned()),
        ("jiti:env".to_owned(), "feature-x".to_owned()),
    ];
    if tagging::inject(&mut tagged, &tags).is_ok() {
        // What deploy sends must still be a template.
        let json = serde_json::to_string_pretty(&tagged).expect("a JSON value serializes");
        let tagged = Template::parse(&json)
            .unwrap_or_else(|e| panic!("tag injection broke the template: {e}\n{json}"));
        let _ = policy::builtin(&tagged, false);
        let _ = policy::builtin(&tagged, true);
        let _ = check::missing_tags_in(&tagged);
    }
    let _ = policy::builtin(&template, false);
    let _ = policy::builtin(&template, true);
    let _ = secrets::from_template(&template);
}

/// The `jiti.toml` loader: any UTF-8 text gives a config, or an error that points inside the file.
pub fn jiti_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match config::parse(text, Path::new("infra/jiti.toml")) {
        Ok(config) => {
            let _ = config.protected_environments();
        }
        Err(ConfigError::Invalid { line, column, .. }) => {
            let lines = text.split('\n').count();
            assert!((1..=lines).contains(&line), "error line {line} outside a {lines}-line file");
            assert!(column >= 1, "error column {column}");
        }
        Err(e) => panic!("parsing text cannot fail to read a file: {e}"),
    }
}
