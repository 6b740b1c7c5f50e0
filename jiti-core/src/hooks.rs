//! Hooks: the `verify` command run after a deploy, through the shell, in the app's folder, with
//! the stack's outputs in its environment, bounded in time. Its output is captured and returned
//! (the caller shows it), never printed here.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// How a hook ran.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct HookRun {
    pub command: String,
    pub success: bool,
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// The end of what it printed (stdout then stderr), at most 4 KiB.
    pub output: String,
}

impl HookRun {
    /// One line saying how it ended.
    pub fn verdict(&self) -> String {
        match (self.success, self.timed_out, self.exit_code) {
            (true, _, _) => format!("`{}` passed", self.command),
            (_, true, _) => format!("`{}` did not finish in time and was stopped", self.command),
            (_, _, Some(code)) => format!("`{}` failed with exit code {code}", self.command),
            _ => format!("`{}` was killed by a signal", self.command),
        }
    }
}

/// `QueueUrl` → `QUEUEURL`: upper case, anything but letters and digits as `_`.
pub fn env_key(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect()
}

/// Runs `command` with `sh -c` in `dir`; `outputs` become `JITI_OUTPUT_<KEY>`, beside `JITI_APP`,
/// `JITI_ENV` and `JITI_STACK`.
pub async fn verify(
    command: &str,
    dir: &Path,
    app: &str,
    env: &str,
    stack: &str,
    outputs: &BTreeMap<String, String>,
    timeout: Duration,
) -> std::io::Result<HookRun> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(dir)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
    cmd.env("JITI_APP", app).env("JITI_ENV", env).env("JITI_STACK", stack);
    for (key, value) in outputs {
        cmd.env(format!("JITI_OUTPUT_{}", env_key(key)), value);
    }
    let run = |success, exit_code, timed_out, output: String| HookRun {
        command: command.to_owned(),
        success,
        exit_code,
        timed_out,
        output,
    };
    match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_) => Ok(run(false, None, true, String::new())),
        Ok(out) => {
            let out = out?;
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            let cut = text.len().saturating_sub(4096);
            let cut = (cut..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
            Ok(run(out.status.success(), out.status.code(), false, text[cut..].to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn outputs_reach_the_command_and_failures_and_timeouts_are_told() {
        let dir = tempfile::tempdir().unwrap();
        let outputs = BTreeMap::from([
            ("QueueUrl".to_owned(), "https://q".to_owned()),
            ("api-url".to_owned(), "https://a".to_owned()),
        ]);
        let run = |cmd: &str, timeout| {
            runtime()
                .block_on(verify(cmd, dir.path(), "orders", "dev", "orders-dev", &outputs, timeout))
                .unwrap()
        };
        let ok = run(
            "echo $JITI_OUTPUT_QUEUEURL $JITI_OUTPUT_API_URL $JITI_APP $JITI_ENV $JITI_STACK; pwd",
            Duration::from_secs(10),
        );
        assert!(ok.success, "{ok:?}");
        assert!(
            ok.output.starts_with("https://q https://a orders dev orders-dev\n"),
            "{}",
            ok.output
        );
        let failed = run("echo broken >&2; exit 3", Duration::from_secs(10));
        assert_eq!(
            (failed.success, failed.exit_code, failed.output.as_str()),
            (false, Some(3), "broken\n")
        );
        assert!(failed.verdict().contains("exit code 3"));
        let slow = run("sleep 5", Duration::from_millis(200));
        assert!(slow.timed_out && !slow.success);
    }
}
