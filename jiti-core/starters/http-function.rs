//! An HTTP function behind API Gateway (a REST API's proxy integration): one request in, one
//! response out. Built for Amazon Linux 2023 and shipped with its stack by `cargo jiti deploy`
//! (`[artifacts.function]` in infra/jiti.toml).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let path = event.payload.get("path").and_then(Value::as_str).unwrap_or("/");
    let body = json!({"path": path, "version": env!("CARGO_PKG_VERSION")});
    Ok(json!({
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
