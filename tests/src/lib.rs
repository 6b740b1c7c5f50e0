//! Test support for cargo-jiti's end-to-end tests: the real binary, throw-away git repositories
//! made from fixtures, and the external oracle (cfn-lint) found in the project's virtualenv.
//!
//! Nothing here fakes cargo-jiti's behaviour: tests run the binary as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository's root (the cargo-jiti workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// The `cargo-jiti` binary of this checkout, built once per test process with the test's profile.
///
/// Cargo builds a package's binaries only for that package's own integration tests, and these tests
/// live in their own package, so they ask cargo for it (a no-op when it is up to date).
pub fn cargo_jiti() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "-p", "cargo-jiti", "--bin", "cargo-jiti"]).current_dir(repo_root());
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building cargo-jiti failed");
        let bin = profile_dir.join(format!("cargo-jiti{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}

/// The project's virtualenv (`.venv`, made by `scripts/setup-python`), or `JITI_VENV`.
pub fn venv() -> PathBuf {
    std::env::var_os("JITI_VENV").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv"))
}

/// A program of the virtualenv, or a clear failure saying how to install it.
pub fn venv_tool(name: &str) -> PathBuf {
    let path = venv().join("bin").join(name);
    assert!(
        path.is_file(),
        "`{}` not found. The tests need the pinned Python tools (cfn-lint, moto): run `scripts/setup-python` from the repository root (or set JITI_VENV to a virtualenv that has them)",
        path.display()
    );
    path
}

/// Runs cfn-lint on `templates`; returns its JSON findings (`[]` when clean).
pub fn cfn_lint(templates: &[PathBuf], extra: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(venv_tool("cfn-lint"))
        .args(["--format", "json"])
        .args(extra)
        .arg("--")
        .args(templates)
        .output()
        .expect("run cfn-lint");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("cfn-lint printed no JSON ({e}); exit {:?}\nstdout: {stdout}\nstderr: {}", out.status.code(), String::from_utf8_lossy(&out.stderr))
    })
}

/// cfn-lint findings of level Error.
pub fn lint_errors(findings: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    findings.iter().filter(|f| f["Level"] == "Error").collect()
}

/// A git repository in a temporary directory, made from a fixture, with a fixed identity and no
/// global or system git config, so tests see the same thing on every machine.
pub struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// Copies `examples/<name>` or `tests/fixtures/<name>` and commits it on branch `main`.
    pub fn from_fixture(name: &str) -> Repo {
        let root = repo_root();
        let source = [root.join("examples").join(name), root.join("tests/fixtures").join(name)]
            .into_iter()
            .find(|p| p.is_dir())
            .unwrap_or_else(|| panic!("no fixture `{name}`"));
        let repo = Repo::empty();
        copy_dir(&source, repo.path());
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-qm", "initial"]);
        repo
    }

    /// An empty repository on branch `main`.
    pub fn empty() -> Repo {
        let dir = tempfile::Builder::new().prefix("jiti-test-").tempdir().expect("temp dir");
        let repo = Repo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the repository; panics when it fails.
    pub fn git(&self, args: &[&str]) -> String {
        let out = git_command(self.path()).args(args).output().expect("run git");
        assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("create dirs");
        std::fs::write(path, text).expect("write file");
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path().join(relative)).unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    /// Gives every app of the shop a stack prefix unique to this test process and commits it, so a
    /// test's protected `production` stacks never meet another test run's.
    pub fn with_unique_stack_prefix(&self, letter: char) {
        for app in ["billing", "orders-api"] {
            let path = format!("{app}/infra/jiti.toml");
            let config = self.read(&path).replace("[app]\n", &format!("[app]\nstack_prefix = \"{letter}{}-\"\n", std::process::id() % 100_000));
            self.write(&path, &config);
        }
        self.commit("unique stack prefix");
    }

    /// Commits everything with `message`.
    pub fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-qm", message]);
    }

    /// `cargo-jiti jiti <args>` in `dir` (relative to the repository), as cargo would run it.
    pub fn jiti_in(&self, dir: &str, args: &[&str]) -> Run {
        Run::new(jiti_command(&self.path().join(dir)).args(args).output().expect("run cargo-jiti"))
    }

    /// `cargo-jiti jiti <args>` at the repository's root.
    pub fn jiti(&self, args: &[&str]) -> Run {
        self.jiti_in(".", args)
    }
}

/// `cargo-jiti jiti` in `dir`, with CI branch variables and AWS settings cleared so the host's
/// environment cannot leak into a test.
pub fn jiti_command(dir: &Path) -> Command {
    jiti_command_through(&[], dir)
}

/// [`jiti_command`] started through `wrapper`, e.g. `["prlimit", "--as=2000000000", "--"]`.
pub fn jiti_command_through(wrapper: &[&str], dir: &Path) -> Command {
    let mut cmd = match wrapper {
        [program, args @ ..] => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(cargo_jiti());
            cmd
        }
        [] => Command::new(cargo_jiti()),
    };
    cmd.arg("jiti").current_dir(dir);
    for var in jiti_core::git::CI_BRANCH_VARS.iter().chain(&["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"]) {
        cmd.env_remove(var);
    }
    // The machine's own AWS config never counts, and nothing asks EC2 instance metadata (a
    // link-local address no test may reach); a test that wants a config file sets its own.
    cmd.env("NO_COLOR", "1")
        .env_remove("CARGO_TARGET_DIR")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// `cargo-jiti jiti` in `dir` against the AWS endpoint `endpoint` (an emulator, a proxy, a dead
/// port), with test credentials and no AWS config of the machine's; arguments are the caller's.
pub fn jiti_against(dir: &Path, endpoint: &str) -> Command {
    let mut cmd = jiti_command(dir);
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdin(std::process::Stdio::null());
    cmd
}

fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Jiti Test")
        .env("GIT_AUTHOR_EMAIL", "test@jiti.invalid")
        .env("GIT_COMMITTER_NAME", "Jiti Test")
        .env("GIT_COMMITTER_EMAIL", "test@jiti.invalid");
    cmd
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("fixture entry");
        let name = entry.file_name();
        if name == "target" || name == "Cargo.lock" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy fixture file");
        }
    }
}

/// A finished run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn new(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(self.code, Some(code), "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// A moto server on a free loopback port, one per test process, stopped when the process exits.
pub struct Moto {
    pub endpoint: String,
    /// The watchdog shell that owns the server (kept so the child is not left unowned).
    _watchdog: std::process::Child,
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
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        Moto::start_on(port)
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
        let watchdog = Command::new("sh").args(["-c", &script]).stdin(std::process::Stdio::null()).spawn().expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "moto_server did not start on port {port} within 30 s");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Moto { endpoint, _watchdog: watchdog }
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.endpoint.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_default()
    }

    /// Kills the server abruptly (as a network outage would end it) and waits until the port is closed.
    pub fn kill(&self) {
        let pattern = format!("moto_server -H 127.0.0.1 -p {}$", self.port());
        let _ = Command::new("pkill").args(["-KILL", "-f", &pattern]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port())).is_ok() {
            assert!(std::time::Instant::now() < deadline, "moto_server on port {} did not stop", self.port());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
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

    /// Runs a boto3 snippet against the emulator (`c(service)` makes a client); returns its JSON output.
    pub fn boto3(&self, code: &str) -> serde_json::Value {
        let program = format!(
            "import boto3, json, sys\ndef c(s): return boto3.client(s, endpoint_url={:?}, region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n{code}",
            self.endpoint
        );
        let out = Command::new(venv_tool("python")).args(["-c", &program]).output().expect("run python");
        assert!(out.status.success(), "boto3 snippet failed: {}\n{code}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("boto3 snippet printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// Tags of every resource carrying `jiti:env = env`, by ARN (the Resource Groups Tagging API).
    pub fn tagged_resources(&self, env: &str) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> {
        let value = self.boto3(&format!(
            "p = c('resourcegroupstaggingapi').get_paginator('get_resources')\nout = {{}}\nfor page in p.paginate(TagFilters=[{{'Key': 'jiti:env', 'Values': [{env:?}]}}]):\n    for r in page['ResourceTagMappingList']:\n        out[r['ResourceARN']] = {{t['Key']: t['Value'] for t in r['Tags']}}\nprint(json.dumps(out))"
        ));
        serde_json::from_value(value).expect("a map of tags")
    }
}

/// What a [`Proxy`] does with one request.
enum Verdict {
    Pass,
    Throttle,
    /// Hold the request this long, then pass it on.
    Delay(std::time::Duration),
    /// Answer with this CloudFormation (query protocol) error instead: (code, message).
    QueryError(&'static str, String),
}

/// A loopback HTTP proxy in front of the emulator, for what the emulator cannot do itself: throttle
/// as AWS does when a caller goes too fast ([`Proxy::throttling`]), or take its time over some
/// operations ([`Proxy::slow`]).
pub struct Proxy {
    pub endpoint: String,
    throttled: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Proxy {
    /// Answers every `every`-th request with a throttling error in the request's own protocol.
    pub fn throttling(upstream: &str, every: usize) -> Proxy {
        let seen = std::sync::atomic::AtomicUsize::new(0);
        Proxy::start(upstream, move |_| {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if n.is_multiple_of(every) { Verdict::Throttle } else { Verdict::Pass }
        })
    }

    /// Holds each request whose body contains `needle` (`Action=DeleteStack`) for `delay` before
    /// passing it on: an operation that takes a while, as AWS's do.
    pub fn slow(upstream: &str, needle: &'static str, delay: std::time::Duration) -> Proxy {
        Proxy::start(upstream, move |body| if body.contains(needle) { Verdict::Delay(delay) } else { Verdict::Pass })
    }

    /// Answers the first request whose body contains `needle` with CloudFormation's `ValidationError`
    /// `message` (another operation's "… is in UPDATE_IN_PROGRESS state and can not be updated",
    /// say), then passes everything on.
    pub fn fail_once(upstream: &str, needle: &'static str, message: String) -> Proxy {
        let done = std::sync::atomic::AtomicBool::new(false);
        Proxy::start(upstream, move |body| {
            if body.contains(needle) && !done.swap(true, std::sync::atomic::Ordering::SeqCst) {
                Verdict::QueryError("ValidationError", message.clone())
            } else {
                Verdict::Pass
            }
        })
    }

    fn start(upstream: &str, decide: impl Fn(&str) -> Verdict + Send + Sync + 'static) -> Proxy {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("proxy address"));
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let throttled = Arc::new(AtomicUsize::new(0));
        let counter = throttled.clone();
        let decide = Arc::new(decide);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, decide, counter) = (upstream.clone(), decide.clone(), counter.clone());
                std::thread::spawn(move || {
                    let _ = proxy_one(client, &upstream, |body| {
                        let verdict = decide(body);
                        if matches!(verdict, Verdict::Throttle) {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        verdict
                    });
                });
            }
        });
        Proxy { endpoint, throttled }
    }

    /// Requests answered with a throttling error so far.
    pub fn throttled(&self) -> usize {
        self.throttled.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// One request: read it, then throttle, delay or pass it on (one request per connection, then close).
fn proxy_one(mut client: std::net::TcpStream, upstream: &str, decide: impl FnOnce(&str) -> Verdict) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let request_body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    match decide(&request_body) {
        Verdict::Pass => {}
        Verdict::Delay(delay) => {
            std::thread::sleep(delay);
            // A caller that gave up (or was interrupted) meanwhile has closed the connection: the
            // request never reached AWS, as with a request lost on the way.
            client.set_nonblocking(true)?;
            if matches!(client.peek(&mut [0u8; 1]), Ok(0)) {
                return Ok(());
            }
            client.set_nonblocking(false)?;
        }
        Verdict::Throttle => {
            // Each protocol's own throttling answer: JSON services (an `X-Amz-Target` header), the
            // query protocol (CloudFormation, STS, SNS: `Action=` in a form body), and S3's REST-XML.
            let (status, content_type, body) = if head.to_ascii_lowercase().contains("x-amz-target:") {
                ("400 Bad Request", "application/x-amz-json-1.1", r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#)
            } else if request_body.contains("Action=") {
                ("400 Bad Request", "text/xml", "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>jiti-test</RequestId></ErrorResponse>")
            } else {
                ("503 Slow Down", "application/xml", "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>jiti-test</RequestId></Error>")
            };
            write!(client, "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
            return Ok(());
        }
        Verdict::QueryError(code, message) => {
            let body = format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>jiti-test</RequestId></ErrorResponse>");
            write!(client, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
            return Ok(());
        }
    }
    let head = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n")
        .trim_end()
        .to_owned()
        + "\r\nConnection: close\r\n\r\n";
    let mut server = std::net::TcpStream::connect(upstream)?;
    server.write_all(head.as_bytes())?;
    server.write_all(&buf[head_end..])?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    client.write_all(&response)?;
    Ok(())
}

/// Starts `cmd` and returns once a line of its stderr contains `needle` (and the lines so far).
pub fn start_until(cmd: &mut Command, needle: &str) -> (std::process::Child, std::sync::mpsc::Receiver<String>, String) {
    let mut child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("start cargo-jiti");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = String::new();
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push_str(&(line + "\n")),
            Err(_) => panic!("no `{needle}` on stderr; so far:\n{seen}"),
        }
    }
    (child, rx, seen)
}
