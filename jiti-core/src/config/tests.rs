//! Unit tests of [`super`] (config).

use std::time::Duration;

use super::*;

fn err(text: &str) -> String {
    match parse(text, Path::new("infra/jiti.toml")) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_minimal_file_is_valid_and_defaults_apply() {
    let c = parse("", Path::new("jiti.toml")).unwrap();
    assert!(c.app.name.is_none());
    let protected = c.protected_environments();
    assert_eq!(protected.len(), 1);
    let (name, env) = protected.first().unwrap();
    assert_eq!(name.as_str(), "production");
    assert_eq!(env.branches, vec![BranchName("main".into()), BranchName("master".into())]);
}

#[test]
fn unknown_keys_name_file_line_column_and_the_nearest_key() {
    let e = err("[app]\nname = \"orders\"\nregoin = \"eu-west-1\"\n");
    assert!(e.starts_with("infra/jiti.toml:3:1: unknown field `regoin`"), "{e}");
    assert!(e.contains("help: did you mean `region`?"), "{e}");
    let e = err("[enviroments]\n");
    assert!(e.contains("infra/jiti.toml:1:2"), "{e}");
    assert!(e.contains("did you mean `environments`?"), "{e}");
    let e = err("[environments.ephemeral]\nttl = \"7d\"\nkeep_retain = true\n");
    assert!(e.contains(":3:1:") && e.contains("did you mean `keep_retained`?"), "{e}");
    let e = err("[hooks]\nverfy = \"true\"\n");
    assert!(e.contains("help: did you mean `verify`?"), "{e}");
    let e = err("[app]\nzzz = 1\n");
    assert!(e.contains("known keys here: name, template, region, stack_prefix, depends_on"), "{e}");
}

#[test]
fn bad_values_are_located() {
    let e = err("[app]\nname = \"9lives\"\n");
    assert!(
        e.starts_with("infra/jiti.toml:2:8: app name `9lives` must start with a letter"),
        "{e}"
    );
    let e = err("[environments.ephemeral]\nttl = \"soon\"\n");
    assert!(e.contains(":2:7:") && e.contains("`soon` is not a duration"), "{e}");
    let e = err("[app]\ntemplate = \"../escape.yaml\"\n");
    assert!(e.contains("without `..`"), "{e}");
    let e = err("[app]\nregion = \"Europe\"\n");
    assert!(e.contains("not an AWS region code"), "{e}");
}

#[test]
fn jiti_and_aws_tag_keys_are_refused() {
    let e = err("[tags]\nteam = \"payments\"\n\"jiti:app\" = \"other\"\n");
    assert!(e.contains(":3:1:") && e.contains("`jiti:app`") && e.contains("reserved"), "{e}");
    let e = err("[tags]\n\"aws:cloudformation:x\" = \"y\"\n");
    assert!(e.contains("reserved"), "{e}");
    let e = err("[tags]\nteam = \"a#b\"\n");
    assert!(e.contains("not allowed in AWS tags"), "{e}");
}

#[test]
fn protected_environments_are_validated() {
    let text = "[environments.protected.production]\nbranches = [\"main\"]\n[environments.protected.staging]\nbranches = [\"develop\", \"main\"]\n";
    let e = err(text);
    assert!(e.contains(":4:") && e.contains("`main` feeds two protected environments"), "{e}");
    let e = err("[environments.protected.Prod]\nbranches = [\"main\"]\n");
    assert!(e.contains("environment name `Prod`"), "{e}");
    let e = err("[environments.protected.prod]\nbranches = []\n");
    assert!(e.contains("has no branches"), "{e}");
}

#[test]
fn ttl_parses_human_durations() {
    assert_eq!("12h".parse::<Ttl>().unwrap().0, Duration::from_secs(12 * 3600));
    assert_eq!("7d".parse::<Ttl>().unwrap().0, Duration::from_secs(7 * 86400));
    assert!("0s".parse::<Ttl>().is_err());
    let e = "99999999d".parse::<Ttl>().unwrap_err();
    assert!(e.contains("longer than a year"), "{e}");
    assert!("366d".parse::<Ttl>().is_ok());
}

#[test]
fn log_retention_is_one_cloudwatch_accepts_and_says_the_nearest() {
    let c = parse(
        "[logs]\nown = false\nretention_days = 90\nephemeral_retention_days = 3\n",
        Path::new("jiti.toml"),
    )
    .unwrap();
    assert_eq!(c.logs.own, Some(false));
    assert_eq!(c.logs.retention_days, Some(RetentionDays(90)));
    assert_eq!(c.logs.ephemeral_retention_days, Some(RetentionDays(3)));
    let e = err("[logs]\nretention_days = 10\n");
    assert!(e.starts_with("infra/jiti.toml:2:18:"), "{e}");
    assert!(e.contains("not 10: try 7"), "{e}");
    let e = err("[logs]\nretain = 10\n");
    assert!(e.contains(":2:1:") && e.contains("unknown field `retain`"), "{e}");
}

#[test]
fn functions_logs_are_kept_shorter_in_branch_environments_unless_turned_off() {
    let default = LogsConfig::default();
    assert_eq!((default.own_logs(true), default.own_logs(false)), (Some(7), Some(30)));
    let set = LogsConfig {
        own: None,
        retention_days: Some(RetentionDays(365)),
        ephemeral_retention_days: Some(RetentionDays(1)),
    };
    assert_eq!((set.own_logs(true), set.own_logs(false)), (Some(1), Some(365)));
    let off = LogsConfig { own: Some(false), ..set };
    assert_eq!((off.own_logs(true), off.own_logs(false)), (None, None));
}
