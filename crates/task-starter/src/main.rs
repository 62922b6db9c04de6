//! task-starter: invoked by the EventBridge schedule rule, from the Lambda
//! console, or by an operator request; starts the DMS refresh task(s).

use dms_refresh_core::aws::{
    DmsClient, EventBridgeClient, SecretsClient, SnsClient, load_sdk_config,
};
use dms_refresh_core::config::Config;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use task_starter::handler;
use task_starter::recorder::InvokeRecorder;
use task_starter::source_slots::SourceSlots;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // The runtime's subscriber: JSON when the function's log format is JSON
    // (`AWS_LAMBDA_LOG_FORMAT`), text elsewhere; level from the function's
    // application log level (`AWS_LAMBDA_LOG_LEVEL`), else `RUST_LOG`, else
    // info; each line carries the invocation's request id.
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let slots = SourceSlots::from_lookup(
        |k| std::env::var(k).ok(),
        SecretsClient::new(aws_sdk_secretsmanager::Client::new(&sdk)),
    )?;
    let deps = handler::Deps {
        config,
        dms: DmsClient::new(aws_sdk_databasemigration::Client::new(&sdk)),
        rules: EventBridgeClient::new(aws_sdk_eventbridge::Client::new(&sdk)),
        notifier: SnsClient::new(aws_sdk_sns::Client::new(&sdk)),
        slots,
        recorder: InvokeRecorder::from_lookup(
            |k| std::env::var(k).ok(),
            || aws_sdk_lambda::Client::new(&sdk),
        ),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        handler::handle(event, &deps)
    }))
    .await
}
