//! The small interfaces the domain needs from the outside world. Each has a
//! real adapter in [`crate::aws`] and test doubles in the tests.

use std::future::Future;

use serde::Serialize;

use crate::task::{StartType, TaskInfo};

/// How a call to a dependency failed, reduced to what the domain acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The named resource does not exist.
    NotFound,
    /// The resource exists but is in a state that refuses the call
    /// (DMS `InvalidResourceStateFault`).
    InvalidState,
    /// Denied, malformed, or otherwise not worth retrying.
    Permanent,
    /// Throttling, timeouts, connection trouble: a retry may succeed.
    Transient,
}

/// A failed call to AWS (or the emulator), without secrets or payloads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed ({kind:?}): {message}")]
pub struct PortError {
    pub operation: &'static str,
    pub kind: FailureKind,
    pub message: String,
}

impl PortError {
    pub fn new(operation: &'static str, kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            operation,
            kind,
            message: message.into(),
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.kind == FailureKind::Transient
    }
}

/// A StartReplicationTask request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRequest {
    pub task_arn: String,
    pub start_type: StartType,
    pub cdc_stop_position: Option<String>,
}

/// The DMS calls the functions make.
pub trait ReplicationTasks: Sync {
    /// Describe one task; `Ok(None)` when no task has that ARN.
    fn describe_task(
        &self,
        task_arn: &str,
    ) -> impl Future<Output = Result<Option<TaskInfo>, PortError>> + Send;

    fn start_task(
        &self,
        request: &StartRequest,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Whether an EventBridge rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RuleState {
    Enabled,
    Disabled,
}

/// The EventBridge calls on the schedule rule.
pub trait ScheduleRule: Sync {
    /// The rule's state; `Ok(None)` when the rule does not exist.
    fn rule_state(
        &self,
        rule_name: &str,
    ) -> impl Future<Output = Result<Option<RuleState>, PortError>> + Send;

    fn set_rule_state(
        &self,
        rule_name: &str,
        state: RuleState,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Publishing a message to an SNS topic.
pub trait Notifier: Sync {
    fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        body: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}
