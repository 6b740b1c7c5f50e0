//! How results look: styled human text on a terminal, plain when piped, JSON for `--json`.

use std::io::Write;

use anstyle::{AnsiColor, Style};

pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

pub const ERROR: Style = AnsiColor::Red.on_default().bold();
pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
pub const NOTE: Style = AnsiColor::Cyan.on_default().bold();
pub const GOOD: Style = AnsiColor::Green.on_default().bold();
pub const DIM: Style = Style::new().dimmed();

/// `error: …` and each cause on its own line, as cargo prints them.
pub fn print_error(error: &anyhow::Error) {
    let mut err = anstream::stderr().lock();
    let _ = writeln!(err, "{ERROR}error{ERROR:#}: {error}");
    for cause in error.chain().skip(1) {
        let _ = writeln!(err, "\n{DIM}Caused by:{DIM:#}\n  {}", cause.to_string().replace('\n', "\n  "));
    }
}

/// Pretty JSON on stdout, newline-terminated.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}
