//! LocalStack core, the second emulator: where moto falls short on the default deploy path
//! (change-set stacks get outputs and exports, change sets carry `Replacement`, resources emit
//! events and fail). Run in-process on the host from `.venv-localstack` (`scripts/setup-localstack`),
//! no Docker: one server per test process on a free loopback port, its state in a folder of its
//! own, stopped (and the folder removed) when the test process exits.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::emulator::{Emulator, free_port};
use crate::repo_root;

/// The services the tests use; DynamoDB and Lambda need downloads from outside the registries.
const SERVICES: &str = "cloudformation,s3,sqs,sns,logs,ssm,iam,sts";

/// A LocalStack server of the test process.
pub struct LocalStack {
    emulator: Emulator,
    /// Where its state and log live.
    pub dir: PathBuf,
    _watchdog: std::process::Child,
}

impl std::ops::Deref for LocalStack {
    type Target = Emulator;
    fn deref(&self) -> &Emulator {
        &self.emulator
    }
}

/// The test process's LocalStack, started on first use.
pub fn localstack() -> &'static LocalStack {
    static LOCALSTACK: OnceLock<LocalStack> = OnceLock::new();
    LOCALSTACK.get_or_init(LocalStack::start)
}

/// The LocalStack virtualenv's python (`JITI_LOCALSTACK_VENV`, else `.venv-localstack`), or a
/// clear failure saying how to make it.
fn python() -> PathBuf {
    let venv = std::env::var_os("JITI_LOCALSTACK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv-localstack"));
    let python = venv.join("bin").join("python");
    assert!(
        python.is_file(),
        "`{}` not found. The LocalStack tests need LocalStack core in its own virtualenv (Python 3.12 or newer): run `scripts/setup-localstack` from the repository root (or set JITI_LOCALSTACK_VENV to one that has it)",
        python.display()
    );
    python
}

impl LocalStack {
    pub fn start() -> LocalStack {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("jiti-localstack-{}-{port}", std::process::id()));
        for sub in ["fs", "config", "tmp", "volume"] {
            std::fs::create_dir_all(dir.join(sub)).expect("LocalStack's folders");
        }
        let log = dir.join("localstack.log");
        let listen = format!("127.0.0.1:{port}");
        // In-process on the host: the machine has /.dockerenv, so LocalStack must be told it is
        // not in its container; hypercorn is the server that honours a loopback address.
        let vars: Vec<(&str, String)> = vec![
            ("OVERRIDE_IN_DOCKER", "0".into()),
            ("GATEWAY_LISTEN", listen.clone()),
            ("LOCALSTACK_HOST", listen),
            ("GATEWAY_SERVER", "hypercorn".into()),
            ("DNS_ADDRESS", "0".into()),
            ("SERVICES", SERVICES.into()),
            ("STRICT_SERVICE_LOADING", "1".into()),
            ("PERSISTENCE", "0".into()),
            ("DISABLE_EVENTS", "1".into()),
            ("SKIP_SSL_CERT_DOWNLOAD", "1".into()),
            ("SKIP_INFRA_DOWNLOADS", "1".into()),
            ("FILESYSTEM_ROOT", dir.join("fs").display().to_string()),
            ("CONFIG_DIR", dir.join("config").display().to_string()),
            ("TMPDIR", dir.join("tmp").display().to_string()),
            ("LOCALSTACK_VOLUME_DIR", dir.join("volume").display().to_string()),
        ];
        // Statics are never dropped: a watchdog ends the server, and removes its folder, once
        // this process is gone. Its shutdown can hang after SIGTERM: SIGKILL 5 s later. The
        // watchdog holds none of the test process's output streams, so nothing waits for it.
        let script = format!(
            "{} -m localstack.runtime.main >{} 2>&1 & m=$!; while kill -0 {} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.5; done; kill $m 2>/dev/null; for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 $m 2>/dev/null || break; sleep 0.5; done; kill -9 $m 2>/dev/null; rm -rf {}",
            python().display(),
            log.display(),
            std::process::id(),
            dir.display()
        );
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (k, v) in &vars {
            cmd.env(k, v);
        }
        // The host's AWS settings are not LocalStack's business.
        for var in ["AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_CONFIG_FILE"] {
            cmd.env_remove(var);
        }
        let watchdog = cmd.spawn().expect("start LocalStack");
        let deadline = Instant::now() + Duration::from_secs(90);
        while !ready(port) {
            if Instant::now() > deadline {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                panic!(
                    "LocalStack did not answer on 127.0.0.1:{port} within 90 s; the end of {}:\n{}",
                    log.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        LocalStack {
            emulator: Emulator { endpoint: format!("http://127.0.0.1:{port}") },
            dir,
            _watchdog: watchdog,
        }
    }
}

/// Whether LocalStack's health endpoint says CloudFormation is up.
fn ready(port: u16) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET /_localstack/health HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1")
        && (answer.contains("\"cloudformation\": \"available\"")
            || answer.contains("\"cloudformation\": \"running\""))
}
