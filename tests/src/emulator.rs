//! The AWS emulators' common face ([`Emulator`]: run cargo-jiti against one, look at what it holds
//! with boto3) and moto, the main one: one shared server per test process (or a private one a
//! test may kill), on a free loopback port. LocalStack is in [`crate::localstack`].

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use crate::binary::{Run, jiti_against};
use crate::oracle::venv_tool;

/// An emulator's endpoint, and what the tests do with one.
pub struct Emulator {
    pub endpoint: String,
}

/// A moto server on a free loopback port, one per test process, stopped when the process exits.
pub struct Moto {
    emulator: Emulator,
    /// The watchdog shell that owns the server (kept so the child is not left unowned).
    _watchdog: std::process::Child,
}

impl std::ops::Deref for Moto {
    type Target = Emulator;
    fn deref(&self) -> &Emulator {
        &self.emulator
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The test process's emulator, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
}

impl Moto {
    /// A server of its own, for a test that leaves the emulator in a state others must not see
    /// (a stack stuck in progress). It too stops when the test process exits.
    pub fn start() -> Moto {
        Moto::start_on(free_port())
    }

    /// A server on `port` (a fresh one, after [`Moto::kill`], to bring "AWS" back).
    pub fn start_on(port: u16) -> Moto {
        let server = venv_tool("moto_server");
        // Statics are never dropped, so a watchdog ends the server when this process is gone.
        let script = format!(
            "{} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; while kill -0 {} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.5; done; kill $m 2>/dev/null",
            server.display(),
            std::process::id()
        );
        let watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server did not start on port {port} within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Moto { emulator: Emulator { endpoint }, _watchdog: watchdog }
    }

    /// Kills the server abruptly (as a network outage would end it) and waits until the port is closed.
    pub fn kill(&self) {
        let pattern = format!("moto_server -H 127.0.0.1 -p {}$", self.port());
        let _ = Command::new("pkill").args(["-KILL", "-f", &pattern]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port())).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server on port {} did not stop",
                self.port()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Emulator {
    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.endpoint.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_default()
    }

    /// `cargo-jiti jiti <args>` in `dir` against this emulator, with test credentials.
    pub fn jiti(&self, dir: &Path, args: &[&str]) -> Run {
        self.jiti_env(dir, args, &[])
    }

    pub fn jiti_env(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = jiti_against(dir, &self.endpoint);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::new(cmd.output().expect("run cargo-jiti"))
    }

    /// A Lambda function's `CodeSha256` as the emulator reports it (GetFunction), turned from
    /// base64 into hex: comparable with an artifact's `sha256`.
    pub fn code_sha256(&self, function: &str) -> String {
        let v = self.boto3(&format!(
            "import base64\nprint(json.dumps(base64.b64decode(c('lambda').get_function(FunctionName={function:?})['Configuration']['CodeSha256']).hex()))"
        ));
        v.as_str().expect("a CodeSha256").to_owned()
    }

    /// Runs a boto3 snippet against the emulator (`c(service)` makes a client); returns its JSON output.
    pub fn boto3(&self, code: &str) -> serde_json::Value {
        let program = format!(
            "import boto3, json, sys\ndef c(s): return boto3.client(s, endpoint_url={:?}, region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n{code}",
            self.endpoint
        );
        let out =
            Command::new(venv_tool("python")).args(["-c", &program]).output().expect("run python");
        assert!(
            out.status.success(),
            "boto3 snippet failed: {}\n{code}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("boto3 snippet printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
        })
    }

    /// Tags of every resource carrying `jiti:env = env`, by ARN (the Resource Groups Tagging API).
    pub fn tagged_resources(
        &self,
        env: &str,
    ) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> {
        let value = self.boto3(&format!(
            "p = c('resourcegroupstaggingapi').get_paginator('get_resources')\nout = {{}}\nfor page in p.paginate(TagFilters=[{{'Key': 'jiti:env', 'Values': [{env:?}]}}]):\n    for r in page['ResourceTagMappingList']:\n        out[r['ResourceARN']] = {{t['Key']: t['Value'] for t in r['Tags']}}\nprint(json.dumps(out))"
        ));
        serde_json::from_value(value).expect("a map of tags")
    }
}
