//! A proxy in front of the emulator that throttles every n-th request, holds chosen operations,
//! fails one once or denies some; and a way to start a command and wait for a line of its output.

use std::process::Command;

/// What a [`Proxy`] does with one request.
enum Verdict {
    Pass,
    Throttle,
    /// Hold the request this long, then pass it on.
    Delay(std::time::Duration),
    /// Answer with this CloudFormation (query protocol) error instead: (code, message).
    QueryError(&'static str, String),
    /// Answer with this JSON-protocol error instead (CloudWatch Logs, DynamoDB …): (type, message).
    JsonError(&'static str, String),
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
        Proxy::start(upstream, move |body| {
            if body.contains(needle) { Verdict::Delay(delay) } else { Verdict::Pass }
        })
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

    /// Answers every JSON-protocol request whose body contains `needle` as IAM does when the
    /// caller may not make it (`AccessDeniedException`), passing everything else on.
    pub fn deny(upstream: &str, needle: &'static str, action: &'static str) -> Proxy {
        Proxy::start(upstream, move |body| match body.contains(needle) {
            true => Verdict::JsonError(
                "AccessDeniedException",
                format!(
                    "User: arn:aws:sts::123456789012:assumed-role/ci/jiti is not authorized to perform: {action}"
                ),
            ),
            false => Verdict::Pass,
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
                let (upstream, decide, counter) =
                    (upstream.clone(), decide.clone(), counter.clone());
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
fn proxy_one(
    mut client: std::net::TcpStream,
    upstream: &str,
    decide: impl FnOnce(&str) -> Verdict,
) -> std::io::Result<()> {
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
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
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
            let (status, content_type, body) = if head
                .to_ascii_lowercase()
                .contains("x-amz-target:")
            {
                (
                    "400 Bad Request",
                    "application/x-amz-json-1.1",
                    r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
                )
            } else if request_body.contains("Action=") {
                (
                    "400 Bad Request",
                    "text/xml",
                    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>jiti-test</RequestId></ErrorResponse>",
                )
            } else {
                (
                    "503 Slow Down",
                    "application/xml",
                    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>jiti-test</RequestId></Error>",
                )
            };
            write!(
                client,
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            return Ok(());
        }
        Verdict::JsonError(kind, message) => {
            let body = serde_json::json!({ "__type": kind, "message": message }).to_string();
            write!(
                client,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            return Ok(());
        }
        Verdict::QueryError(code, message) => {
            let body = format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>jiti-test</RequestId></ErrorResponse>"
            );
            write!(
                client,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
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
pub fn start_until(
    cmd: &mut Command,
    needle: &str,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>, String) {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start cargo-jiti");
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
