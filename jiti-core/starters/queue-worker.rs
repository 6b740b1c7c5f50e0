//! A queue worker: SQS hands it batches of jobs; a job that fails goes back to the queue, and
//! after `max_receive_count` tries to the dead-letter queue. Failures are reported job by job
//! (`ReportBatchItemFailures`), so one bad job does not send its whole batch back. Built for
//! Amazon Linux 2023 and shipped with its stack by `cargo jiti deploy` (`[artifacts.function]`).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// One job: here, any JSON body is done and anything else fails. Put the real work here.
fn work(body: &str) -> Result<(), String> {
    serde_json::from_str::<Value>(body).map(drop).map_err(|e| e.to_string())
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let mut failures = Vec::new();
    for record in event.payload["Records"].as_array().into_iter().flatten() {
        if work(record["body"].as_str().unwrap_or_default()).is_err() {
            failures.push(json!({"itemIdentifier": record["messageId"]}));
        }
    }
    Ok(json!({"batchItemFailures": failures}))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
