//! A stand-in for the Lambda Runtime API (the HTTP interface `provided.al2023` offers a
//! `bootstrap`): enough of it to hand a built function one event and take its answer, so tests
//! prove a package runs, not only that a file is in a zip. The emulator cannot invoke functions.
//!
//! The protocol: the function asks `GET /2018-06-01/runtime/invocation/next` (answered with the
//! event and the `Lambda-Runtime-*` headers), then posts its result to
//! `/2018-06-01/runtime/invocation/<request id>/response` (or `/error`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

/// Runs `bootstrap` with one event; returns what it answered (its `/response` body), or panics
/// with its `/error` body or when it answers nothing within 30 s.
pub fn invoke(
    bootstrap: &Path,
    event: &serde_json::Value,
    env: &[(&str, &str)],
) -> serde_json::Value {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("address").port();
    let mut child = Command::new(bootstrap)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "orders")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "stream")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/orders")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bootstrap");
    let (tx, rx) = mpsc::channel::<Result<String, String>>();
    let body = event.to_string();
    // One event per invocation: later `next` requests are left waiting.
    let given = std::sync::Arc::new(AtomicBool::new(false));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (tx, body, given) = (tx.clone(), body.clone(), given.clone());
            std::thread::spawn(move || serve(stream, &body, &given, &tx));
        }
    });
    let answer = rx.recv_timeout(Duration::from_secs(30));
    let _ = child.kill();
    let output = child.wait_with_output().expect("bootstrap output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    match answer {
        Ok(Ok(body)) => serde_json::from_str(&body).expect("the function answered JSON"),
        Ok(Err(error)) => panic!("the function reported an error: {error}\n{stderr}"),
        Err(_) => panic!("the function answered nothing within 30 s\n{stderr}"),
    }
}

/// One connection: requests one after another (the runtime's client keeps connections alive).
/// Only the first `next` gets the event; later ones are left waiting, as Lambda leaves an idle
/// function.
fn serve(
    stream: TcpStream,
    event: &str,
    given: &AtomicBool,
    tx: &mpsc::Sender<Result<String, String>>,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        if target.ends_with("/invocation/next") {
            if given.swap(true, Ordering::SeqCst) {
                // The next event never comes: the test ends the process.
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("time")
                .as_millis()
                + 30_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {REQUEST_ID}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:orders\r\nLambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1\r\nContent-Length: {}\r\n\r\n{event}",
                event.len()
            );
            let _ = writer.write_all(head.as_bytes());
        } else {
            let accepted = "{\"status\":\"OK\"}";
            let _ = writer.write_all(
                format!(
                    "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{accepted}",
                    accepted.len()
                )
                .as_bytes(),
            );
            let outcome = match target.ends_with(&format!("/invocation/{REQUEST_ID}/response")) {
                true => Ok(body),
                false => Err(format!("{target}: {body}")),
            };
            let _ = tx.send(outcome);
        }
    }
}
