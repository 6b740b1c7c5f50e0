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
            unless_reader_gone(self.out.write_all(masked(&done).as_bytes()))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let rest = std::mem::take(&mut self.line);
        unless_reader_gone(self.out.write_all(masked(&rest).as_bytes()))?;
        unless_reader_gone(self.out.flush())
    }
}

impl Drop for Stdout {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// A reader that went away (`cargo jiti envs | head -1`) is not an error of the command: what it
/// did is done, and the rest of the output has nobody to read it.
fn unless_reader_gone(result: std::io::Result<()>) -> std::io::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
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

/// Whether a JSON report went to stdout (then an error after it is not reported as JSON again).
static JSON_PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn json_printed() -> bool {
    JSON_PRINTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Pretty JSON on stdout, newline-terminated. A reader that went away (`| head -1`) is no error:
/// the work is done, and the exit code says how it went.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    JSON_PRINTED.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", masked(&text)).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// The JSON a failed command prints for `--json`: `{"error": {kind, message, causes, app?, stack?,
/// operation?, file?, line?}}`, from the typed errors of `jiti-core` where the chain holds one.
pub fn error_json(error: &anyhow::Error) -> serde_json::Value {
    use jiti_core::{cloud::CloudError, config::ConfigError, deploy::DeployError, discovery::DiscoveryError, gc::GcError, git::GitError, render::RenderError, resolve::ResolveError};
    let mut fields = serde_json::Map::new();
    let mut kind = "error";
    // A listing's error carries its AWS error in the same line (not as a source): look inside.
    let listing = error.chain().find_map(|c| match c.downcast_ref::<DeployError>() {
        Some(DeployError::List { error, region }) => Some((error, region)),
        _ => None,
    });
    for cause in error.chain() {
        let cloud = cause.downcast_ref::<CloudError>().or(listing.map(|(e, _)| e));
        if let Some(e) = cloud {
            if let Some((_, region)) = listing {
                fields.insert("region".into(), region.clone().into());
            }
            kind = "aws";
            fields.insert("operation".into(), e.operation.into());
            if let Some(code) = &e.code {
                fields.insert("code".into(), code.clone().into());
            }
            break;
        } else if let Some(e) = cause.downcast_ref::<ConfigError>() {
            kind = "config";
            if let ConfigError::Invalid { path, line, .. } = e {
                fields.insert("file".into(), path.display().to_string().into());
                fields.insert("line".into(), (*line).into());
            }
            break;
        } else if let Some(e) = cause.downcast_ref::<RenderError>() {
            kind = "render";
            let app = match e {
                RenderError::NoTemplate { app, .. }
                | RenderError::Tera { app, .. }
                | RenderError::NoRegion { app, .. }
                | RenderError::Cycle { app, .. }
                | RenderError::Dependency { app, .. }
                | RenderError::RenderedTooLarge { app, .. }
                | RenderError::Template { app, .. }
                | RenderError::ReservedTag { app, .. } => Some(app),
                _ => None,
            };
            if let Some(app) = app {
                fields.insert("app".into(), app.clone().into());
            }
            break;
        } else if cause.downcast_ref::<ResolveError>().is_some() || cause.downcast_ref::<DiscoveryError>().is_some() {
            kind = "workspace";
        } else if cause.downcast_ref::<GitError>().is_some() {
            kind = "git";
            break;
        } else if cause.downcast_ref::<GcError>().is_some() {
            kind = "gc-refused";
            break;
        } else if cause.downcast_ref::<DeployError>().is_some() {
            kind = "deploy";
        }
    }
    fields.insert("kind".into(), kind.into());
    fields.insert("message".into(), masked(&error.to_string()).into());
    let causes: Vec<serde_json::Value> = error.chain().skip(1).map(|c| masked(&c.to_string()).into()).collect();
    fields.insert("causes".into(), causes.into());
    serde_json::json!({ "error": fields })
}
