//! post-processor: reacts to DMS task events delivered through SNS (or
//! EventBridge), finishes the refresh and hands long runs to itself.

mod continuation;
mod handler;

use dms_refresh_core::aws::{DmsClient, EventBridgeClient, SnsClient, load_sdk_config};
use dms_refresh_core::config::Config;
use dms_refresh_core::post::{MemoryLedger, NoHooks};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    dms_refresh_core::telemetry::init_tracing();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let deps = handler::Deps {
        config,
        dms: DmsClient::new(aws_sdk_databasemigration::Client::new(&sdk)),
        rules: EventBridgeClient::new(aws_sdk_eventbridge::Client::new(&sdk)),
        notifier: SnsClient::new(aws_sdk_sns::Client::new(&sdk)),
        ledger: MemoryLedger::default(),
        hooks: NoHooks,
        lambda: aws_sdk_lambda::Client::new(&sdk),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        handler::handle(event, &deps)
    }))
    .await
}
