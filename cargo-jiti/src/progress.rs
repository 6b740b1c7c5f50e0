//! Progress while stack operations run: a spinner per app on a terminal (indicatif), plain lines
//! on stderr otherwise (CI logs), always one line per stack event.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use jiti_core::cloud::Method;
use jiti_core::cloud::{Change, StackEvent};
use jiti_core::observe::Observer;

use crate::shell::{DIM, ERROR, GOOD, NOTE, Shell, WARNING};

pub struct Progress<'a> {
    shell: &'a Shell,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    /// The last status of each stack waited for (or resource gc removed), in the order first seen.
    statuses: Mutex<Vec<(String, String)>>,
}

impl<'a> Progress<'a> {
    pub fn new(shell: &'a Shell) -> Progress<'a> {
        let multi = std::io::stderr().is_terminal().then(MultiProgress::new);
        Progress {
            shell,
            multi,
            bars: Mutex::new(HashMap::new()),
            statuses: Mutex::new(Vec::new()),
        }
    }

    pub fn shell(&self) -> &'a Shell {
        self.shell
    }

    /// (stack, last status) of every stack waited for so far.
    pub fn statuses(&self) -> Vec<(String, String)> {
        self.statuses.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// A line above the spinners (or plainly on stderr).
    pub fn line(&self, text: &str) {
        match &self.multi {
            Some(m) => {
                let _ =
                    m.println(anstream::adapter::strip_str(&self.shell.masked(text)).to_string());
            }
            None => {
                let _ = writeln!(self.shell.err(), "{text}");
            }
        }
    }

    fn spinner(&self, app: &str, message: &str) {
        let Some(multi) = &self.multi else { return };
        let Ok(mut bars) = self.bars.lock() else { return };
        let bar = bars.entry(app.to_owned()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:>12} {msg} {elapsed:.dim}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(app.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        bar.set_message(self.shell.masked(message));
    }

    /// Stops every spinner (before the summary is printed).
    pub fn finish(&self) {
        if let Ok(bars) = self.bars.lock() {
            for bar in bars.values() {
                bar.finish_and_clear();
            }
        }
    }
}

impl Observer for Progress<'_> {
    fn note(&self, app: &str, message: &str) {
        self.spinner(app, message);
        let style = if message.starts_with("warning") { WARNING } else { NOTE };
        self.line(&format!("{style}{app:>12}{style:#} {message}"));
    }

    fn change_set(&self, app: &str, stack: &str, changes: &[Change], method: Method) {
        let count = |a: &str| changes.iter().filter(|c| c.action == a).count();
        let what = match method {
            Method::ChangeSet => "change set for",
            Method::Direct => "changes (deployed vs new template) to",
        };
        self.line(&format!(
            "{NOTE}{app:>12}{NOTE:#} {what} {stack}: {} to add, {} to modify, {} to remove",
            count("Add"),
            count("Modify"),
            count("Remove")
        ));
        for c in changes {
            let (sign, style) = match c.action.as_str() {
                "Add" => ("+", GOOD),
                "Remove" => ("-", ERROR),
                _ => ("~", WARNING),
            };
            let replace = match c.replacement.as_deref() {
                Some("True") => " (replacement)",
                Some("Conditional") => " (may be replaced)",
                _ => "",
            };
            self.line(&format!(
                "{:>12}   {style}{sign} {:<8}{style:#} {} {DIM}{}{DIM:#}{replace}",
                "", c.action, c.logical_id, c.resource_type
            ));
        }
    }

    fn status(&self, _app: &str, stack: &str, status: &str) {
        if let Ok(mut statuses) = self.statuses.lock() {
            match statuses.iter_mut().find(|(s, _)| s == stack) {
                Some(entry) => entry.1 = status.to_owned(),
                None => statuses.push((stack.to_owned(), status.to_owned())),
            }
        }
    }

    fn event(&self, app: &str, _stack: &str, e: &StackEvent) {
        let style = if e.failed() {
            ERROR
        } else if e.status.ends_with("_COMPLETE") {
            GOOD
        } else {
            DIM
        };
        let when = e
            .timestamp
            .map(|t| humantime::format_rfc3339_seconds(t).to_string())
            .unwrap_or_default();
        let reason = e.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        self.spinner(app, &format!("{} {}", e.status, e.logical_id));
        self.line(&format!(
            "{app:>12} {DIM}{when}{DIM:#} {style}{}{style:#} {} {DIM}{}{DIM:#}{reason}",
            e.status, e.logical_id, e.resource_type
        ));
    }
}
