//! Adapters from the ports to the AWS SDK for Rust. The endpoint, region and
//! credentials come from the standard AWS configuration chain
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, ...), so the same binary talks to AWS or
//! to a local emulator.

use std::error::Error as StdError;
use std::fmt::Debug;

use aws_sdk_databasemigration::types::{Filter, MigrationTypeValue, StartReplicationTaskTypeValue};
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

mod data_validation;
mod rule_lock;
mod task_metrics;

pub use task_metrics::CloudWatchClient;

use crate::cdc_start::CdcStart;
use crate::config::RefreshType;
use crate::guard::{EndpointInfo, MappedTask};
use crate::ports::{
    Endpoints, FailureKind, LockUpdate, Notifier, PortError, ReplicationTasks, RuleLock, RuleState,
    ScheduleRule, Secrets, StartRequest,
};
use crate::task::{
    StartDates, StartType, TaskInfo, TaskStatus, latest_start, resumed_without_reload,
};

/// Load the shared SDK configuration once, at init.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Reduce an SDK error to what the domain acts on. The message keeps the
/// service's error code and text, which carry no secrets.
pub fn classify<E, R>(operation: &'static str, err: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: Debug,
{
    let (kind, message) = match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("UnknownError");
            // The typed error's Display names its kind and message.
            let text = service.err().to_string();
            let message = if text.starts_with(code) {
                text
            } else {
                format!("{code}: {text}")
            };
            (kind_of_code(code), message)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => (
            FailureKind::Transient,
            DisplayErrorContext(&err).to_string(),
        ),
        _ => (
            FailureKind::Permanent,
            DisplayErrorContext(&err).to_string(),
        ),
    };
    PortError::new(operation, kind, message)
}

/// [`classify`] for a call on one replication task, whose typed faults
/// (`faults`: invalid resource state, resource not found) decide the kind
/// even when the error code is missing.
fn task_call_error<E, R>(
    operation: &'static str,
    err: SdkError<E, R>,
    faults: impl Fn(&E) -> (bool, bool),
) -> PortError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: Debug,
{
    let typed = err.as_service_error().map(faults);
    let mut port = classify(operation, err);
    match typed {
        Some((true, _)) => port.kind = FailureKind::InvalidState,
        Some((_, true)) => port.kind = FailureKind::NotFound,
        _ => {}
    }
    port
}

/// How an AWS error code is acted on.
pub fn kind_of_code(code: &str) -> FailureKind {
    match code {
        "ResourceNotFoundFault"
        | "ResourceNotFoundException"
        | "NotFound"
        | "NotFoundException" => FailureKind::NotFound,
        "InvalidResourceStateFault" => FailureKind::InvalidState,
        "Throttling"
        | "ThrottlingException"
        | "ThrottledException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "ProvisionedThroughputExceededException"
        | "ConcurrentModificationException"
        | "ResourceConflictException"
        | "InternalFailure"
        | "InternalError"
        | "InternalException"
        | "InternalServiceError"
        | "InternalServiceErrorException"
        | "ServiceException"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "RequestTimeout"
        | "RequestTimeoutException" => FailureKind::Transient,
        _ => FailureKind::Permanent,
    }
}

/// DMS through `aws-sdk-databasemigration`.
#[derive(Debug, Clone)]
pub struct DmsClient {
    client: aws_sdk_databasemigration::Client,
}

impl DmsClient {
    pub fn new(client: aws_sdk_databasemigration::Client) -> Self {
        Self { client }
    }
}

fn refresh_type(value: &MigrationTypeValue) -> Option<RefreshType> {
    match value.as_str() {
        "full-load" => Some(RefreshType::FullLoad),
        "full-load-and-cdc" => Some(RefreshType::FullLoadAndCdc),
        "cdc" => Some(RefreshType::Cdc),
        _ => None,
    }
}

/// An answer, `None` for the service's "not found" error, or the error.
fn found<T, E, R>(
    operation: &'static str,
    answer: Result<T, SdkError<E, R>>,
    is_not_found: impl Fn(&E) -> bool,
) -> Result<Option<T>, PortError>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: Debug,
{
    match answer {
        Ok(output) => Ok(Some(output)),
        Err(err) if err.as_service_error().is_some_and(&is_not_found) => Ok(None),
        Err(err) => Err(classify(operation, err)),
    }
}

/// A DMS Describe* filter selecting one ARN.
fn arn_filter(operation: &'static str, name: &str, arn: &str) -> Result<Filter, PortError> {
    Filter::builder()
        .name(name)
        .values(arn)
        .build()
        .map_err(|e| PortError::new(operation, FailureKind::Permanent, e.to_string()))
}

/// A MySQL-family endpoint that sends every table into one database
/// (`MySqlSettings.TargetDbType` `specific-database`) names that database.
fn single_database(e: &aws_sdk_databasemigration::types::Endpoint) -> Option<String> {
    use aws_sdk_databasemigration::types::TargetDbType;
    let specific = e
        .my_sql_settings()
        .and_then(|s| s.target_db_type())
        .is_some_and(|t| *t == TargetDbType::SpecificDatabase);
    if !specific {
        return None;
    }
    e.my_sql_settings()
        .and_then(|s| s.database_name())
        .or(e.database_name())
        .map(str::to_owned)
}

/// Convert the SDK's task to ours; `None` when DMS left out the ARN.
pub fn task_info(task: &aws_sdk_databasemigration::types::ReplicationTask) -> Option<TaskInfo> {
    let arn = task.replication_task_arn()?.to_owned();
    let stats = task.replication_task_stats();
    let secs =
        |d: Option<&aws_smithy_types::DateTime>| d.map(aws_smithy_types::DateTime::as_secs_f64);
    let dates = StartDates {
        stats_start: secs(stats.and_then(|s| s.start_date())),
        stats_fresh_start: secs(stats.and_then(|s| s.fresh_start_date())),
        task_start: secs(task.replication_task_start_date()),
    };
    Some(TaskInfo {
        identifier: task
            .replication_task_identifier()
            .unwrap_or_else(|| arn.rsplit(':').next().unwrap_or_default())
            .to_owned(),
        arn,
        status: TaskStatus::parse(task.status().unwrap_or("unknown")),
        migration_type: task.migration_type().and_then(refresh_type),
        stop_reason: task.stop_reason().map(str::to_owned),
        last_failure_message: task.last_failure_message().map(str::to_owned),
        start_date_epoch: latest_start(dates),
        resumed_without_reload: resumed_without_reload(dates),
        stop_date_epoch: secs(stats.and_then(|s| s.stop_date())),
        cdc_stop_position: task
            .cdc_stop_position()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
        target_endpoint_arn: task.target_endpoint_arn().map(str::to_owned),
        source_endpoint_arn: task.source_endpoint_arn().map(str::to_owned),
        full_load_progress_percent: stats.map(|s| s.full_load_progress_percent()),
        replication_instance_arn: task.replication_instance_arn().map(str::to_owned),
        recovery_checkpoint: task
            .recovery_checkpoint()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
    })
}

impl DmsClient {
    /// The task with `task_arn` as DescribeReplicationTasks answers (with its
    /// `ReplicationTaskSettings` when `with_settings`); `Ok(None)` when no
    /// task has that ARN.
    pub(crate) async fn describe_raw(
        &self,
        task_arn: &str,
        with_settings: bool,
    ) -> Result<Option<aws_sdk_databasemigration::types::ReplicationTask>, PortError> {
        const OP: &str = "DescribeReplicationTasks";
        let filter = arn_filter(OP, "replication-task-arn", task_arn)?;
        let answer = self
            .client
            .describe_replication_tasks()
            .filters(filter)
            .without_settings(!with_settings)
            .send()
            .await;
        let Some(output) = found(OP, answer, |e| e.is_resource_not_found_fault())? else {
            return Ok(None);
        };
        Ok(output
            .replication_tasks()
            .iter()
            .find(|t| t.replication_task_arn() == Some(task_arn))
            .cloned())
    }
}

impl ReplicationTasks for DmsClient {
    async fn describe_task(&self, task_arn: &str) -> Result<Option<TaskInfo>, PortError> {
        Ok(self
            .describe_raw(task_arn, false)
            .await?
            .as_ref()
            .and_then(task_info))
    }

    async fn start_task(&self, request: &StartRequest) -> Result<(), PortError> {
        let start_type = match request.start_type {
            StartType::StartReplication => StartReplicationTaskTypeValue::StartReplication,
            StartType::ReloadTarget => StartReplicationTaskTypeValue::ReloadTarget,
            StartType::ResumeProcessing => StartReplicationTaskTypeValue::ResumeProcessing,
        };
        self.client
            .start_replication_task()
            .replication_task_arn(&request.task_arn)
            .start_replication_task_type(start_type)
            .set_cdc_stop_position(request.cdc_stop_position.clone())
            .set_cdc_start_position(match &request.cdc_start {
                Some(CdcStart::Position(p)) => Some(p.clone()),
                _ => None,
            })
            .set_cdc_start_time(match request.cdc_start {
                Some(CdcStart::Time(secs)) => Some(aws_smithy_types::DateTime::from_secs(secs)),
                _ => None,
            })
            .send()
            .await
            .map(|_| ())
            .map_err(|err| {
                task_call_error("StartReplicationTask", err, |e| {
                    (
                        e.is_invalid_resource_state_fault(),
                        e.is_resource_not_found_fault(),
                    )
                })
            })
    }

    async fn stop_task(&self, task_arn: &str) -> Result<(), PortError> {
        self.client
            .stop_replication_task()
            .replication_task_arn(task_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| {
                task_call_error("StopReplicationTask", err, |e| {
                    (
                        e.is_invalid_resource_state_fault(),
                        e.is_resource_not_found_fault(),
                    )
                })
            })
    }

    async fn move_task(&self, task_arn: &str, target_instance_arn: &str) -> Result<(), PortError> {
        self.client
            .move_replication_task()
            .replication_task_arn(task_arn)
            .target_replication_instance_arn(target_instance_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| {
                task_call_error("MoveReplicationTask", err, |e| {
                    (
                        e.is_invalid_resource_state_fault(),
                        e.is_resource_not_found_fault(),
                    )
                })
            })
    }

    async fn event_subscription_status(&self, name: &str) -> Result<Option<String>, PortError> {
        self.subscription_status(name).await
    }
}

impl DmsClient {
    async fn subscription_status(&self, name: &str) -> Result<Option<String>, PortError> {
        const OP: &str = "DescribeEventSubscriptions";
        let answer = self
            .client
            .describe_event_subscriptions()
            .subscription_name(name)
            .send()
            .await;
        let Some(output) = found(OP, answer, |e| e.is_resource_not_found_fault())? else {
            return Ok(None);
        };
        Ok(output
            .event_subscriptions_list()
            .iter()
            .find(|s| s.cust_subscription_id() == Some(name))
            .map(|s| s.status().unwrap_or("unknown").to_owned()))
    }
}

impl Endpoints for DmsClient {
    async fn describe_endpoint(
        &self,
        endpoint_arn: &str,
    ) -> Result<Option<EndpointInfo>, PortError> {
        const OP: &str = "DescribeEndpoints";
        let filter = arn_filter(OP, "endpoint-arn", endpoint_arn)?;
        let answer = self
            .client
            .describe_endpoints()
            .filters(filter)
            .send()
            .await;
        let Some(output) = found(OP, answer, |e| e.is_resource_not_found_fault())? else {
            return Ok(None);
        };
        Ok(output
            .endpoints()
            .iter()
            .find(|e| e.endpoint_arn() == Some(endpoint_arn))
            .map(|e| EndpointInfo {
                arn: endpoint_arn.to_owned(),
                identifier: e.endpoint_identifier().unwrap_or_default().to_owned(),
                endpoint_type: e
                    .endpoint_type()
                    .map(|t| t.as_str().to_ascii_lowercase())
                    .unwrap_or_default(),
                engine: e.engine_name().unwrap_or_default().to_owned(),
                server_name: e.server_name().map(str::to_owned),
                port: e.port().and_then(|p| u16::try_from(p).ok()),
                database_name: e.database_name().map(str::to_owned),
                single_database: single_database(e),
                slot_name: e
                    .postgre_sql_settings()
                    .and_then(|s| s.slot_name())
                    .map(str::to_owned),
            }))
    }

    async fn tasks_writing_to(&self, endpoint_arn: &str) -> Result<Vec<MappedTask>, PortError> {
        const OP: &str = "DescribeReplicationTasks";
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let filter = arn_filter(OP, "endpoint-arn", endpoint_arn)?;
            let answer = self
                .client
                .describe_replication_tasks()
                .filters(filter)
                .without_settings(false)
                .set_marker(marker.clone())
                .send()
                .await;
            let Some(output) = found(OP, answer, |e| e.is_resource_not_found_fault())? else {
                return Ok(out);
            };
            // The filter matches the endpoint as source or target.
            out.extend(
                output
                    .replication_tasks()
                    .iter()
                    .filter(|t| t.target_endpoint_arn() == Some(endpoint_arn))
                    .filter_map(|t| {
                        Some(MappedTask {
                            arn: t.replication_task_arn()?.to_owned(),
                            identifier: t
                                .replication_task_identifier()
                                .unwrap_or_default()
                                .to_owned(),
                            table_mappings: t.table_mappings().map(str::to_owned),
                        })
                    }),
            );
            marker = output.marker().filter(|m| !m.is_empty()).map(str::to_owned);
            if marker.is_none() {
                return Ok(out);
            }
        }
    }
}

/// Secrets Manager through `aws-sdk-secretsmanager`. Errors carry the secret's
/// ARN and the service's message, never the value.
#[derive(Debug, Clone)]
pub struct SecretsClient {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsClient {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

impl Secrets for SecretsClient {
    async fn secret_string(&self, secret_arn: &str) -> Result<String, PortError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(secret_arn)
            .send()
            .await
            .map_err(|e| classify("GetSecretValue", e))?;
        output.secret_string().map(str::to_owned).ok_or_else(|| {
            PortError::new(
                "GetSecretValue",
                FailureKind::Permanent,
                format!("secret {secret_arn} has no string value"),
            )
        })
    }
}

/// EventBridge through `aws-sdk-eventbridge`, on the default event bus.
#[derive(Debug, Clone)]
pub struct EventBridgeClient {
    client: aws_sdk_eventbridge::Client,
}

impl EventBridgeClient {
    pub fn new(client: aws_sdk_eventbridge::Client) -> Self {
        Self { client }
    }
}

impl ScheduleRule for EventBridgeClient {
    async fn rule_state(&self, rule_name: &str) -> Result<Option<RuleState>, PortError> {
        use aws_sdk_eventbridge::types::RuleState as Sdk;
        let answer = self.client.describe_rule().name(rule_name).send().await;
        let output = found("DescribeRule", answer, |e| {
            e.is_resource_not_found_exception()
        })?;
        Ok(output.map(|o| match o.state() {
            Some(Sdk::Disabled) => RuleState::Disabled,
            // ENABLED and ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS both fire.
            Some(_) | None => RuleState::Enabled,
        }))
    }

    async fn schedule_expression(&self, rule_name: &str) -> Result<Option<String>, PortError> {
        let answer = self.client.describe_rule().name(rule_name).send().await;
        let output = found("DescribeRule", answer, |e| {
            e.is_resource_not_found_exception()
        })?;
        Ok(output.and_then(|o| o.schedule_expression().map(str::to_owned)))
    }

    async fn set_rule_state(&self, rule_name: &str, state: RuleState) -> Result<(), PortError> {
        match state {
            RuleState::Enabled => self
                .client
                .enable_rule()
                .name(rule_name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("EnableRule", e)),
            RuleState::Disabled => self
                .client
                .disable_rule()
                .name(rule_name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("DisableRule", e)),
        }
    }

    async fn lock(&self, rule_name: &str) -> Result<Option<RuleLock>, PortError> {
        rule_lock::read(&self.client, rule_name).await
    }

    async fn set_lock(&self, rule_name: &str, lock: &RuleLock) -> Result<(), PortError> {
        rule_lock::write(&self.client, rule_name, lock).await
    }

    async fn update_lock(&self, rule_name: &str, update: &LockUpdate) -> Result<(), PortError> {
        rule_lock::update(&self.client, rule_name, update).await
    }

    async fn clear_lock(&self, rule_name: &str) -> Result<(), PortError> {
        rule_lock::clear(&self.client, rule_name).await
    }

    async fn intended_stop(&self, rule_name: &str) -> Result<Option<String>, PortError> {
        rule_lock::read_stop_at(&self.client, rule_name).await
    }

    async fn set_intended_stop(
        &self,
        rule_name: &str,
        position: Option<&str>,
    ) -> Result<(), PortError> {
        rule_lock::write_stop_at(&self.client, rule_name, position).await
    }

    async fn move_record(
        &self,
        rule_name: &str,
    ) -> Result<Option<crate::moves::MoveRecord>, PortError> {
        rule_lock::read_move(&self.client, rule_name).await
    }

    async fn set_move_record(
        &self,
        rule_name: &str,
        record: Option<&crate::moves::MoveRecord>,
    ) -> Result<(), PortError> {
        rule_lock::write_move(&self.client, rule_name, record).await
    }
}

/// Invoke `function` and wait for its answer (InvocationType
/// `RequestResponse`). A function error (the answer's `FunctionError`)
/// carries the function's `errorType` and `errorMessage`; it is transient
/// when the `errorType` says so (`...Retryable`, `...Transient...`), else
/// permanent.
pub async fn invoke_sync(
    client: &aws_sdk_lambda::Client,
    function: &str,
    payload: Vec<u8>,
) -> Result<serde_json::Value, PortError> {
    let out = client
        .invoke()
        .function_name(function)
        .invocation_type(aws_sdk_lambda::types::InvocationType::RequestResponse)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload))
        .send()
        .await
        .map_err(|e| classify("Invoke", e))?;
    let answer: serde_json::Value = out
        .payload()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .unwrap_or_default();
    let error_type = answer["errorType"].as_str().unwrap_or_default();
    let retryable = error_type.contains("Retryable") || error_type.contains("Transient");
    match out.function_error() {
        None => Ok(answer),
        Some(kind) => Err(PortError::new(
            "Invoke",
            if retryable {
                FailureKind::Transient
            } else {
                FailureKind::Permanent
            },
            format!(
                "{function} answered {kind}: {} {}",
                answer["errorType"].as_str().unwrap_or("(no errorType)"),
                answer["errorMessage"]
                    .as_str()
                    .unwrap_or("(no errorMessage)")
            ),
        )),
    }
}

/// Invoke `function` asynchronously (`InvocationType` `Event`) with
/// `payload`: Lambda queues it, retries it, and dead-letters what still
/// fails, so the caller does not wait for it.
pub async fn invoke_async(
    client: &aws_sdk_lambda::Client,
    function: &str,
    payload: Vec<u8>,
) -> Result<(), PortError> {
    client
        .invoke()
        .function_name(function)
        .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| classify("Invoke", e))
}

/// SNS through `aws-sdk-sns`.
#[derive(Debug, Clone)]
pub struct SnsClient {
    client: aws_sdk_sns::Client,
}

impl SnsClient {
    pub fn new(client: aws_sdk_sns::Client) -> Self {
        Self { client }
    }
}

impl Notifier for SnsClient {
    async fn publish(&self, topic_arn: &str, subject: &str, body: &str) -> Result<(), PortError> {
        self.client
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("Publish", e))
    }
}

#[cfg(test)]
mod cutover_tests;
#[cfg(test)]
mod move_tests;
#[cfg(test)]
mod tests;
