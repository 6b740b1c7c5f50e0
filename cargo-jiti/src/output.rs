//! How results look: styled human text on a terminal, plain when piped, JSON for `--json`.

use std::io::Write;
use std::sync::Mutex;

use anstyle::{AnsiColor, Style};

pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

pub const ERROR: Style = AnsiColor::Red.on_default().bold();
pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
pub const NOTE: Style = AnsiColor::Cyan.on_default().bold();
pub const GOOD: Style = AnsiColor::Green.on_default().bold();
pub const DIM: Style = Style::new().dimmed();

/// Secret values (see `jiti_core::secrets`): everything printed shows them as `****`.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Adds values to hide from everything printed from now on.
pub fn hide(secrets: impl IntoIterator<Item = String>) {
    if let Ok(mut all) = SECRETS.lock() {
        all.extend(secrets.into_iter().filter(|s| !s.is_empty()));
    }
}

/// `text` with the hidden values masked.
pub fn masked(text: &str) -> String {
    match SECRETS.lock() {
        Ok(all) if !all.is_empty() => jiti_core::secrets::mask(text, &all),
        _ => text.to_owned(),
    }
}

/// Standard output, a line at a time with hidden values masked (a line is masked whole, so a
/// value written in pieces is still caught).
pub struct Stdout {
    line: String,
    out: anstream::AutoStream<std::io::StdoutLock<'static>>,
}

pub fn stdout() -> Stdout {
    Stdout { line: String::new(), out: anstream::stdout().lock() }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.push_str(&String::from_utf8_lossy(buf));
        if let Some(end) = self.line.rfind('\n') {
            let rest = self.line.split_off(end + 1);
            let done = std::mem::replace(&mut self.line, rest);
            self.out.write_all(masked(&done).as_bytes())?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let rest = std::mem::take(&mut self.line);
        self.out.write_all(masked(&rest).as_bytes())?;
        self.out.flush()
    }
}

impl Drop for Stdout {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// `error: …` and each cause on its own line, as cargo prints them.
pub fn print_error(error: &anyhow::Error) {
    let mut err = anstream::stderr().lock();
    let _ = writeln!(err, "{ERROR}error{ERROR:#}: {}", masked(&error.to_string()));
    for cause in error.chain().skip(1) {
        let _ = writeln!(err, "\n{DIM}Caused by:{DIM:#}\n  {}", masked(&cause.to_string()).replace('\n', "\n  "));
    }
}

/// Pretty JSON on stdout, newline-terminated.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", masked(&text))?;
    Ok(())
}
