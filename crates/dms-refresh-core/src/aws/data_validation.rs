//! DMS data validation through `aws-sdk-databasemigration`: whether the
//! task validates (`ValidationSettings.EnableValidation` of its
//! `ReplicationTaskSettings`) and, when it does, every table's validation
//! (DescribeTableStatistics).

use aws_sdk_databasemigration::types::TableStatistics;

use super::{DmsClient, task_call_error};
use crate::cutover::{DataValidation, TableValidation, TaskValidation};
use crate::ports::{FailureKind, PortError};

/// The most records DescribeTableStatistics answers with at once.
const MAX_RECORDS: i32 = 500;

impl DmsClient {
    /// The task's `ReplicationTaskSettings`, `Ok(None)` when it has none.
    async fn task_settings(&self, task_arn: &str) -> Result<Option<String>, PortError> {
        let task = self.describe_raw(task_arn, true).await?.ok_or_else(|| {
            PortError::new(
                "DescribeReplicationTasks",
                FailureKind::NotFound,
                format!("no replication task {task_arn}"),
            )
        })?;
        Ok(task.replication_task_settings().map(str::to_owned))
    }

    /// Every table's statistics (DescribeTableStatistics, following `Marker`).
    async fn table_statistics(&self, task_arn: &str) -> Result<Vec<TableValidation>, PortError> {
        let mut tables = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let output = self
                .client
                .describe_table_statistics()
                .replication_task_arn(task_arn)
                .max_records(MAX_RECORDS)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|err| {
                    task_call_error("DescribeTableStatistics", err, |e| {
                        (
                            e.is_invalid_resource_state_fault(),
                            e.is_resource_not_found_fault(),
                        )
                    })
                })?;
            tables.extend(output.table_statistics().iter().map(table_validation));
            marker = output.marker().filter(|m| !m.is_empty()).map(str::to_owned);
            if marker.is_none() {
                return Ok(tables);
            }
        }
    }
}

/// `ValidationSettings.EnableValidation` of a task's settings JSON; absent
/// is DMS's default, off. Settings that are not JSON, or a flag that is
/// not a boolean, leave the answer unknown: an error naming the task.
fn validation_enabled(task_arn: &str, settings: &str) -> Result<bool, PortError> {
    let invalid = |why: String| {
        PortError::new(
            "DescribeReplicationTasks",
            FailureKind::Permanent,
            format!("ReplicationTaskSettings of task {task_arn}: {why}"),
        )
    };
    let value: serde_json::Value =
        serde_json::from_str(settings).map_err(|e| invalid(format!("not JSON: {e}")))?;
    match value
        .get("ValidationSettings")
        .and_then(|v| v.get("EnableValidation"))
    {
        None | Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::Bool(enabled)) => Ok(*enabled),
        Some(other) => Err(invalid(format!(
            "ValidationSettings.EnableValidation is {other}, not a boolean"
        ))),
    }
}

fn table_validation(stats: &TableStatistics) -> TableValidation {
    TableValidation {
        table: format!(
            "{}.{}",
            stats.schema_name().unwrap_or_default(),
            stats.table_name().unwrap_or_default()
        ),
        state: stats
            .validation_state()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_owned(),
        pending_records: stats.validation_pending_records(),
        failed_records: stats.validation_failed_records(),
        suspended_records: stats.validation_suspended_records(),
    }
}

impl DataValidation for DmsClient {
    async fn validation(&self, task_arn: &str) -> Result<TaskValidation, PortError> {
        let enabled = match self.task_settings(task_arn).await? {
            None => false,
            Some(settings) => validation_enabled(task_arn, &settings)?,
        };
        let tables = if enabled {
            self.table_statistics(task_arn).await?
        } else {
            Vec::new()
        };
        Ok(TaskValidation { enabled, tables })
    }
}
