//! What a cutover needs from the outside world: DMS task metrics in
//! CloudWatch, DMS data validation, the source's sequence values, and the
//! target database's triggers, sequences and foreign keys.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::ports::{HookError, PortError, RunContext};

/// One datapoint of a DMS task metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Datapoint {
    /// When, seconds since the epoch.
    pub epoch: f64,
    pub value: f64,
}

/// `CDCLatencySource` and `CDCLatencyTarget` (namespace `AWS/DMS`): the
/// seconds between a change's commit on the source and its capture, and
/// between its commit on the source and its apply on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LatencyMetric {
    #[serde(rename = "CDCLatencySource")]
    Source,
    #[serde(rename = "CDCLatencyTarget")]
    Target,
}

impl LatencyMetric {
    pub const ALL: [Self; 2] = [Self::Source, Self::Target];

    /// The CloudWatch metric name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Source => "CDCLatencySource",
            Self::Target => "CDCLatencyTarget",
        }
    }
}

/// DMS task metrics as CloudWatch keeps them.
pub trait TaskMetrics: Sync {
    /// The latest one-minute `Maximum` of `metric` for the task whose ARN
    /// ends in `task_resource_id` (the metric's `ReplicationTaskIdentifier`
    /// dimension), between `from_epoch` and `to_epoch`; `Ok(None)` when
    /// CloudWatch has no datapoint there.
    fn latest(
        &self,
        task_resource_id: &str,
        metric: LatencyMetric,
        from_epoch: f64,
        to_epoch: f64,
    ) -> impl Future<Output = Result<Option<Datapoint>, PortError>> + Send;
}

/// The validation of one table (DescribeTableStatistics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableValidation {
    /// `schema.table`.
    pub table: String,
    /// `ValidationState`, e.g. `Validated`, `Mismatched records`.
    pub state: String,
    pub pending_records: i64,
    pub failed_records: i64,
    pub suspended_records: i64,
}

/// Data validation of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskValidation {
    /// `ValidationSettings.EnableValidation` of the task's settings.
    pub enabled: bool,
    /// Every table's validation; empty when validation is off.
    pub tables: Vec<TableValidation>,
}

/// DMS data validation (the task's settings and DescribeTableStatistics).
pub trait DataValidation: Sync {
    fn validation(
        &self,
        task_arn: &str,
    ) -> impl Future<Output = Result<TaskValidation, PortError>> + Send;
}

/// Where a sequence of the source stands: the value its next `nextval`
/// returns (PostgreSQL `last_value + increment_by` of a called sequence;
/// MySQL the table's `AUTO_INCREMENT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceValue {
    pub schema: String,
    /// The sequence (PostgreSQL) or the table (MySQL `AUTO_INCREMENT`).
    pub name: String,
    pub next_value: i64,
}

/// The source database's sequences, read without changing anything.
pub trait SourceSequences: Sync {
    /// Read only from the database the source endpoints of `tasks` name
    /// (checked as the target is, by [`crate::guard::check_source`]).
    fn sequences(
        &self,
        tasks: &[crate::task::TaskInfo],
    ) -> impl Future<Output = Result<Vec<SequenceValue>, PortError>> + Send;
}

/// The cutover's work on the target database (the DMS task's target, by
/// the same guard as a run). Each step answers with a JSON report.
pub trait CutoverTarget: Sync {
    /// At a load start: disable the target's enabled user triggers and keep
    /// their names, adding to what an earlier start kept.
    fn record_triggers(
        &self,
        group: &RunContext,
    ) -> impl Future<Output = Result<serde_json::Value, HookError>> + Send;

    /// What the cutover would re-enable (the kept triggers), for a dry run.
    fn recorded_triggers(
        &self,
        group: &RunContext,
    ) -> impl Future<Output = Result<serde_json::Value, HookError>> + Send;

    /// Set the target's sequences: from the source's values when given
    /// (never moving one back), else to the tables' max+1.
    fn set_sequences(
        &self,
        group: &RunContext,
        from_source: Option<&[SequenceValue]>,
    ) -> impl Future<Output = Result<serde_json::Value, HookError>> + Send;

    /// Re-enable exactly the kept triggers, then forget them.
    fn enable_recorded_triggers(
        &self,
        group: &RunContext,
    ) -> impl Future<Output = Result<serde_json::Value, HookError>> + Send;

    /// Validate the foreign keys; orphans are a failure with
    /// `verification_failed`.
    fn validate_foreign_keys(
        &self,
        group: &RunContext,
    ) -> impl Future<Output = Result<serde_json::Value, HookError>> + Send;
}
