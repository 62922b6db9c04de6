#![recursion_limit = "256"]
//! post-processor: reacts to DMS task events delivered through SNS (or
//! EventBridge), finishes the refresh and hands long runs to itself.

use dms_refresh_core::aws::{
    CloudWatchClient, DmsClient, EventBridgeClient, SecretsClient, SnsClient, load_sdk_config,
};
use dms_refresh_core::config::Config;
use dms_refresh_core::metrics::emf::{EmfSettings, EmfWriter};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use post_processor::handler::{Deps, handle};
use post_processor::source::SourceDatabase;
use post_processor::target::{TargetConfig, TargetHooks};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // The runtime's subscriber: JSON when the function's log format is JSON
    // (`AWS_LAMBDA_LOG_FORMAT`), text elsewhere; level from the function's
    // application log level (`AWS_LAMBDA_LOG_LEVEL`), else `RUST_LOG`, else
    // info; each line carries the invocation's request id.
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let target = TargetConfig::from_env(&config)?;
    let metrics = EmfSettings::from_env()?;
    let sdk = load_sdk_config().await;
    let dms = DmsClient::new(aws_sdk_databasemigration::Client::new(&sdk));
    let secrets = SecretsClient::new(aws_sdk_secretsmanager::Client::new(&sdk));
    let source =
        SourceDatabase::from_lookup(|k| std::env::var(k).ok(), secrets.clone(), dms.clone())?;
    let deps = Deps {
        config,
        target: TargetHooks::new(target, dms.clone(), secrets),
        dms,
        rules: EventBridgeClient::new(aws_sdk_eventbridge::Client::new(&sdk)),
        notifier: SnsClient::new(aws_sdk_sns::Client::new(&sdk)),
        lambda: aws_sdk_lambda::Client::new(&sdk),
        metrics: Box::new(EmfWriter::stdout(metrics)),
        task_metrics: CloudWatchClient::new(&sdk),
        source,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        handle(event, &deps)
    }))
    .await
}
