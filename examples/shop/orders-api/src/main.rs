//! Orders API: a Lambda function that takes an order and answers with where it is kept. Built by
//! `cargo jiti deploy` for the `provided.al2023` runtime and shipped with its stack.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// One order in, its receipt out. The table comes from the stack (`TABLE_NAME`); the version is
/// the crate's, which `cargo jiti history` shows beside each release.
async fn take_order(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let order = event.payload.get("order_id").cloned().unwrap_or(Value::Null);
    let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "(not deployed)".into());
    let receipt = json!({"order_id": order, "table": table, "version": env!("CARGO_PKG_VERSION")});
    Ok(json!({"statusCode": 200, "body": receipt.to_string()}))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(take_order)).await
}
