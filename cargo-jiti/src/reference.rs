//! The reference pages of `docs/reference/` that the code knows better than a writer: every
//! command and flag (from clap), every exit code (from `Exit`), every `check` finding code (from
//! `jiti_core::check::CODES`). Generated here and compared with the committed pages by a test, so
//! a command, flag or code missing from the reference fails the build's tests.
//! `JITI_BLESS=1 cargo test -p cargo-jiti reference` rewrites them.

use std::fmt::Write as _;

use clap::CommandFactory;

use crate::shell::Exit;

/// `docs/reference/commands.md`.
pub fn commands() -> String {
    let mut out = String::from(
        "# Commands and flags\n\n<!-- Generated from the command line's definition: `JITI_BLESS=1 cargo test -p cargo-jiti reference`. -->\n\n",
    );
    let cargo = crate::cli::Cargo::command();
    let jiti = cargo.get_subcommands().next().expect("the jiti subcommand");
    let _ = writeln!(out, "| command | what it does |\n|---|---|");
    for sub in jiti.get_subcommands() {
        let _ = writeln!(
            out,
            "| [`cargo jiti {0}`](#cargo-jiti-{0}) | {1} |",
            sub.get_name(),
            one_line(sub.get_about())
        );
    }
    for sub in jiti.get_subcommands() {
        let _ = writeln!(
            out,
            "\n## cargo jiti {}\n\n{}\n",
            sub.get_name(),
            one_line(sub.get_long_about().or(sub.get_about()))
        );
        let args: Vec<_> = sub
            .get_arguments()
            .filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "version")
            .collect();
        if args.is_empty() {
            let _ = writeln!(out, "No flags.");
            continue;
        }
        let _ = writeln!(out, "| flag | value | default | meaning |\n|---|---|---|---|");
        for arg in args {
            let name = match (arg.get_long(), arg.get_short()) {
                (Some(long), Some(short)) => format!("`-{short}`, `--{long}`"),
                (Some(long), None) => format!("`--{long}`"),
                (None, Some(short)) => format!("`-{short}`"),
                (None, None) => format!(
                    "`{}`",
                    arg.get_value_names()
                        .and_then(|v| v.first())
                        .map_or_else(|| arg.get_id().to_string(), ToString::to_string)
                ),
            };
            let takes_value = arg.get_action().takes_values();
            let value = match (takes_value, arg.get_possible_values().as_slice()) {
                (false, _) => String::new(),
                (true, []) => arg
                    .get_value_names()
                    .map(|v| v.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" "))
                    .unwrap_or_default(),
                (true, values) => values
                    .iter()
                    .map(|v| format!("`{}`", v.get_name()))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let default = arg
                .get_default_values()
                .iter()
                .map(|v| format!("`{}`", v.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "| {name} | {value} | {default} | {} |",
                one_line(arg.get_long_help().or(arg.get_help()))
            );
        }
    }
    out
}

/// `docs/reference/exit-codes.md`.
pub fn exit_codes() -> String {
    let mut out = String::from(
        "# Exit codes\n\n<!-- Generated from `Exit`: `JITI_BLESS=1 cargo test -p cargo-jiti reference`. -->\n\n| code | meaning |\n|---|---|\n",
    );
    for exit in Exit::ALL {
        let code = match exit {
            Exit::Child(_) => "any".to_owned(),
            other => other.code().to_string(),
        };
        let _ = writeln!(out, "| {code} | {} |", exit.meaning());
    }
    out.push_str(
        "\nWith `--json`, a failed command prints an error report on stdout too (see [JSON reports](json-reports.md)); the exit code is the same.\n",
    );
    out
}

/// `docs/reference/findings.md`.
pub fn findings() -> String {
    let mut out = String::from(
        "# Check findings\n\n<!-- Generated from `jiti_core::check::CODES`: `JITI_BLESS=1 cargo test -p cargo-jiti reference`. -->\n\nEach finding of `cargo jiti check` (and of the check every deploy runs) has a stable `code`, in the text output as `error[code]` and in `--json`. Errors stop a deploy (unless `--skip-checks`); errors and warnings make `check` exit 1; information never fails. The policy rules' levels are set per workspace or app (see [Policy rules](../guide/policy.md)), and a rule turned off with a reason is reported as information.\n\n| code | severity | meaning |\n|---|---|---|\n",
    );
    for (code, severity, meaning) in jiti_core::check::CODES {
        let _ = writeln!(out, "| `{code}` | {severity} | {meaning} |");
    }
    out
}

fn one_line(text: Option<&clap::builder::StyledStr>) -> String {
    text.map(|t| t.to_string().split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn the_reference_pages_are_what_the_code_says() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/reference");
        let bless = std::env::var_os("JITI_BLESS").is_some();
        let mut stale = Vec::new();
        for (name, text) in [
            ("commands.md", super::commands()),
            ("exit-codes.md", super::exit_codes()),
            ("findings.md", super::findings()),
        ] {
            let path = dir.join(name);
            if bless {
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(name);
            }
        }
        assert!(
            stale.is_empty(),
            "docs/reference/{stale:?} differ from the code: regenerate with\n    JITI_BLESS=1 cargo test -p cargo-jiti reference"
        );
    }

    #[test]
    fn every_command_and_flag_is_in_the_reference() {
        use clap::CommandFactory;
        let page = super::commands();
        let cargo = crate::cli::Cargo::command();
        let jiti = cargo.get_subcommands().next().unwrap();
        for sub in jiti.get_subcommands() {
            let section = page
                .split(&format!("## cargo jiti {}\n", sub.get_name()))
                .nth(1)
                .unwrap_or_else(|| panic!("no section for `{}`", sub.get_name()));
            let section = section.split("\n## ").next().unwrap_or_default();
            for arg in sub.get_arguments().filter_map(|a| a.get_long()).filter(|l| *l != "help") {
                assert!(
                    section.contains(&format!("`--{arg}`")),
                    "`cargo jiti {} --{arg}` is not in its reference section",
                    sub.get_name()
                );
            }
        }
        for exit in crate::shell::Exit::ALL {
            assert!(super::exit_codes().contains(exit.meaning()));
        }
    }
}
