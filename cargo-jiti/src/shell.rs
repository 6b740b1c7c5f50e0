//! Everything the binary prints goes through one [`Shell`] (as cargo's does): it knows whether the
//! command was asked for JSON, styles for a terminal and plain text for a pipe (anstream), and
//! masks every secret value in every line, on stdout and stderr alike. Reports are the typed
//! values of `jiti_core::report`; errors become an `ErrorReport` under `--json`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anstyle::{AnsiColor, Style};
use jiti_core::report::{Body, ErrorBody, ErrorReport, Printed, Report, SCHEMA_VERSION};

pub const ERROR: Style = AnsiColor::Red.on_default().bold();
pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
pub const NOTE: Style = AnsiColor::Cyan.on_default().bold();
pub const GOOD: Style = AnsiColor::Green.on_default().bold();
pub const DIM: Style = Style::new().dimmed();

/// How a command ended, as its exit code: the one list `main`, the signal path and `--help` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success, or nothing to do.
    Success,
    /// `check` found errors or warnings; `diff --exit-code` found differences; a deploy's
    /// `[hooks] verify` failed (and the app was rolled back unless --no-rollback).
    Findings,
    /// An error: bad config or template, git, cargo or AWS failure, a deploy that failed.
    Error,
    /// Interrupted (Ctrl-C, SIGTERM): nothing more was started; what runs in CloudFormation is named.
    Interrupted,
    /// `run`: the command's own exit code, once it ran.
    Child(u8),
}

impl Exit {
    pub const ALL: [Exit; 5] =
        [Exit::Success, Exit::Findings, Exit::Error, Exit::Interrupted, Exit::Child(0)];

    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Findings => 1,
            Exit::Error => 2,
            Exit::Interrupted => 130,
            Exit::Child(code) => code,
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "success, or nothing to do",
            Exit::Findings => {
                "`check` found errors or warnings; `diff --exit-code` found differences; `drift` found drift nobody meant; a deploy's [hooks] verify failed (and the app was rolled back unless --no-rollback)"
            }
            Exit::Error => {
                "error (bad config or template, git, cargo or AWS failure, a failed deploy or deletion)"
            }
            Exit::Interrupted => {
                "interrupted (Ctrl-C, SIGTERM): nothing more was started; what goes on in CloudFormation is named (`watch` stops this way, after its cycle in flight)"
            }
            Exit::Child(_) => "`run`: the command's own exit code, once it ran",
        }
    }

    /// The "Exit codes:" section of `--help`.
    pub fn help() -> String {
        let mut text = String::from("Exit codes:");
        for exit in Exit::ALL {
            let code = match exit {
                Exit::Child(_) => "*".to_owned(),
                other => other.code().to_string(),
            };
            text.push_str(&format!("\n  {code:<3}  {}", exit.meaning()));
        }
        text
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

pub struct Shell {
    json: bool,
    /// Secret values (see `jiti_core::secrets`): everything printed shows them as `****`.
    secrets: Mutex<Vec<String>>,
    /// A JSON report went to stdout: an error after it is not reported as JSON again.
    json_printed: AtomicBool,
}

impl Shell {
    /// `json`: the command was asked for `--json`.
    pub fn new(json: bool) -> Shell {
        Shell { json, secrets: Mutex::new(Vec::new()), json_printed: AtomicBool::new(false) }
    }

    pub fn json(&self) -> bool {
        self.json
    }

    /// Adds values to hide from everything printed from now on.
    pub fn hide(&self, secrets: impl IntoIterator<Item = String>) {
        if let Ok(mut all) = self.secrets.lock() {
            all.extend(secrets.into_iter().filter(|s| !s.is_empty()));
        }
    }

    /// `text` with the hidden values masked.
    pub fn masked(&self, text: &str) -> String {
        match self.secrets.lock() {
            Ok(all) if !all.is_empty() => jiti_core::secrets::mask(text, &all),
            _ => text.to_owned(),
        }
    }

    /// Standard output for human text, masked line by line.
    pub fn out(&self) -> Out<'_, std::io::StdoutLock<'static>> {
        Out { shell: self, line: String::new(), stream: anstream::stdout().lock() }
    }

    /// Standard error for what goes beside the result (notes, regions listed), masked line by line.
    pub fn err(&self) -> Out<'_, std::io::StderrLock<'static>> {
        Out { shell: self, line: String::new(), stream: anstream::stderr().lock() }
    }

    /// `note: …` on stderr.
    pub fn note(&self, message: &str) {
        let _ = writeln!(self.err(), "{NOTE}note{NOTE:#}: {message}");
    }

    /// A command's report as JSON on stdout (`{"schema_version": …, "command": …}`).
    pub fn print_report(&self, body: impl Into<Body>) -> anyhow::Result<()> {
        self.print_json(&Printed::Report(Report::new(body)))
    }

    /// Pretty JSON on stdout, newline-terminated, secrets masked. A reader that went away
    /// (`| head -1`) is no error: the work is done, and the exit code says how it went.
    pub fn print_json(&self, value: &impl serde::Serialize) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        self.json_printed.store(true, Ordering::SeqCst);
        let mut out = std::io::stdout().lock();
        unless_reader_gone(writeln!(out, "{}", self.masked(&text)).and_then(|()| out.flush()))?;
        Ok(())
    }

    /// `error: …` and each cause on its own line on stderr, as cargo prints them; with `--json`,
    /// also the error as JSON on stdout (unless a report already went there).
    pub fn error(&self, error: &anyhow::Error) {
        self.print_error(error);
        if self.json && !self.json_printed.load(Ordering::SeqCst) {
            let report = ErrorReport { schema_version: SCHEMA_VERSION, error: error_body(error) };
            let _ = self.print_json(&Printed::Error(report));
        }
    }

    /// `error: …` and its causes on stderr only: one of several failures, before the one that
    /// ends the command (see [`Shell::error`]).
    pub fn print_error(&self, error: &anyhow::Error) {
        let mut err = self.err();
        let _ = writeln!(err, "{ERROR}error{ERROR:#}: {error}");
        for cause in error.chain().skip(1) {
            let _ = writeln!(
                err,
                "\n{DIM}Caused by:{DIM:#}\n  {}",
                cause.to_string().replace('\n', "\n  ")
            );
        }
    }
}

/// A stream masked line by line (a line is masked whole, so a value written in pieces is still
/// caught); the rest is flushed when it is dropped.
pub struct Out<'a, W: anstream::stream::RawStream + anstream::stream::AsLockedWrite> {
    shell: &'a Shell,
    line: String,
    stream: anstream::AutoStream<W>,
}

impl<W: anstream::stream::RawStream + anstream::stream::AsLockedWrite> Write for Out<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.push_str(&String::from_utf8_lossy(buf));
        if let Some(end) = self.line.rfind('\n') {
            let rest = self.line.split_off(end + 1);
            let done = std::mem::replace(&mut self.line, rest);
            unless_reader_gone(self.stream.write_all(self.shell.masked(&done).as_bytes()))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let rest = std::mem::take(&mut self.line);
        unless_reader_gone(self.stream.write_all(self.shell.masked(&rest).as_bytes()))?;
        unless_reader_gone(self.stream.flush())
    }
}

impl<W: anstream::stream::RawStream + anstream::stream::AsLockedWrite> Drop for Out<'_, W> {
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

/// The JSON of a failed command, from the typed errors of `jiti-core` where the chain holds one.
/// Its text is masked when printed, as everything is.
fn error_body(error: &anyhow::Error) -> ErrorBody {
    use jiti_core::{
        cloud::CloudError, config::ConfigError, deploy::DeployError, discovery::DiscoveryError,
        gc::GcError, git::GitError, render::RenderError, resolve::ResolveError,
        stacks::StacksError,
    };
    let mut body = ErrorBody {
        kind: "error".into(),
        message: error.to_string(),
        causes: error.chain().skip(1).map(|c| c.to_string()).collect(),
        ..ErrorBody::default()
    };
    // A listing's error carries its AWS error in the same line (not as a source): look inside.
    let listing = error.chain().find_map(|c| {
        match c.downcast_ref::<StacksError>().or(match c.downcast_ref::<DeployError>() {
            Some(DeployError::Stacks(e)) => Some(e),
            _ => None,
        }) {
            Some(StacksError::List { error, region }) => Some((error, region)),
            _ => None,
        }
    });
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<CloudError>().or(listing.map(|(e, _)| e)) {
            body.region = listing.map(|(_, region)| region.clone());
            body.kind = "aws".into();
            body.operation = Some(e.operation.to_owned());
            body.code = e.code.clone();
            break;
        } else if let Some(e) = cause.downcast_ref::<ConfigError>() {
            body.kind = "config".into();
            if let ConfigError::Invalid { path, line, .. } = e {
                body.file = Some(path.clone());
                body.line = Some(*line);
            }
            break;
        } else if let Some(e) = cause.downcast_ref::<RenderError>() {
            body.kind = "render".into();
            body.app = match e {
                RenderError::NoTemplate { app, .. }
                | RenderError::Tera { app, .. }
                | RenderError::NoRegion { app, .. }
                | RenderError::Cycle { app, .. }
                | RenderError::Dependency { app, .. }
                | RenderError::RenderedTooLarge { app, .. }
                | RenderError::Template { app, .. }
                | RenderError::ReservedTag { app, .. } => Some(app.clone()),
                _ => None,
            };
            break;
        } else if cause.downcast_ref::<ResolveError>().is_some()
            || cause.downcast_ref::<DiscoveryError>().is_some()
        {
            body.kind = "workspace".into();
        } else if cause.downcast_ref::<GitError>().is_some() {
            body.kind = "git".into();
            break;
        } else if cause.downcast_ref::<GcError>().is_some() {
            body.kind = "gc-refused".into();
            break;
        } else if cause.downcast_ref::<DeployError>().is_some()
            || cause.downcast_ref::<StacksError>().is_some()
        {
            body.kind = "deploy".into();
        }
    }
    body
}
