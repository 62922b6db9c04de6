//! post-processor: reacts to DMS task events delivered through SNS.

use dms_refresh_core::config::Config;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    dms_refresh_core::telemetry::init_tracing();
    let _config = Config::from_env()?;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move {
            tracing::info!(payload = %event.payload, "event received");
            Ok::<_, Error>(serde_json::Value::Null)
        },
    ))
    .await
}
