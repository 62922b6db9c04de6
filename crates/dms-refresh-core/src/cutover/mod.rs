//! `cutover` (seed 003): after a consistent stop, check that nothing is
//! left to apply and that validation is clean, then set the target's
//! sequences, re-enable the triggers the load start disabled, and validate
//! the foreign keys, reporting each step and refusing at the first failure.
//!
//! Both requests go to the post-processor, the one function that reaches
//! the target database: `{"operation": "cutover", "dry_run": true}` and
//! `{"operation": "record-triggers"}` (the task-starter's, before it starts
//! a load in data-migration mode).

mod checks;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
pub mod ports;
mod report;
mod steps;
#[cfg(test)]
mod tests;

pub use checks::{LATENCY_WINDOW_SECS, consistent_stop};
pub use ports::{
    CutoverTarget, DataValidation, Datapoint, LatencyMetric, SequenceValue, SourceSequences,
    TableValidation, TaskMetrics, TaskValidation,
};
pub use report::{CutoverReport, Step, StepName, StepState};

use serde_json::Value;

use crate::config::{Config, RefreshIndicator};
use crate::events::PayloadError;
use crate::notify::publish_if_configured;
use crate::ports::{
    HookError, Notifier, PortError, ReplicationTasks, RequestRecord, RunContext, RunLedger,
    ScheduleRule,
};
use crate::post::{InvocationInfo, PostError, describe_group, intended_stop, settle_context};

/// The requests of this module.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "operation", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CutoverRequest {
    Cutover {
        #[serde(default)]
        dry_run: bool,
    },
    RecordTriggers,
}

/// `Some` when the payload is one of this module's requests (parsed, or
/// why not); `None` for anything else.
pub fn request_from(payload: &Value) -> Option<Result<CutoverRequest, PayloadError>> {
    let operation = payload.get("operation").and_then(Value::as_str)?;
    if !matches!(operation, "cutover" | "record-triggers") {
        return None;
    }
    Some(serde_json::from_value(payload.clone()).map_err(|e| {
        PayloadError(format!(
            "{operation} request: {e}; send {{\"operation\": \"cutover\", \"dry_run\": true}} \
             or {{\"operation\": \"record-triggers\"}}"
        ))
    }))
}

/// What the cutover acts through, borrowed for one invocation.
#[derive(Debug)]
pub struct CutoverPorts<'a, D, R, N, L, T, M, S> {
    /// DMS: the group's tasks and their data validation.
    pub dms: &'a D,
    pub rules: &'a R,
    pub notifier: &'a N,
    /// The run ledger, where the request is kept.
    pub ledger: &'a L,
    /// The target database's side of the cutover.
    pub target: &'a T,
    pub metrics: &'a M,
    /// The source's sequences, when a source secret is configured.
    pub source: Option<&'a S>,
}

/// Why a cutover request did not complete.
#[derive(Debug, thiserror::Error)]
pub enum CutoverError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    Post(#[from] PostError),
    #[error(transparent)]
    Port(#[from] PortError),
    /// A check failed; nothing on the target was changed.
    #[error("cutover refused: {reason}; steps: {}", report.steps_json())]
    Refused {
        reason: String,
        report: Box<CutoverReport>,
    },
    /// A step on the target failed; the steps before it are done.
    #[error("cutover failed at {step:?}: {error}; steps: {}", report.steps_json())]
    Failed {
        step: StepName,
        error: HookError,
        report: Box<CutoverReport>,
    },
    /// The trigger record at a load start failed.
    #[error("recording the target's triggers failed: {0}")]
    RecordTriggers(HookError),
}

impl CutoverError {
    /// A short, stable name for Lambda's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Payload(_) => "InvalidEvent",
            Self::Post(e) => e.error_type(),
            Self::Port(e) if e.is_retryable() => "AwsTransientError",
            Self::Port(_) => "AwsError",
            Self::Refused { .. } => "CutoverRefused",
            Self::Failed { .. } => "CutoverFailed",
            Self::RecordTriggers(e) if e.permanent => "RecordTriggersFailed",
            Self::RecordTriggers(_) => "RecordTriggersRetryable",
        }
    }
}

impl<D, R, N, L, T, M, S> CutoverPorts<'_, D, R, N, L, T, M, S>
where
    D: ReplicationTasks + DataValidation,
    R: ScheduleRule,
    N: Notifier,
    L: RunLedger,
    T: CutoverTarget,
    M: TaskMetrics,
    S: SourceSequences,
{
    /// Handle one request of this module.
    pub async fn handle(
        &self,
        config: &Config,
        request: &CutoverRequest,
        info: &InvocationInfo,
    ) -> Result<Value, CutoverError> {
        match request {
            CutoverRequest::RecordTriggers => self.record_triggers(config, info).await,
            CutoverRequest::Cutover { dry_run } => {
                let report = self.cutover(config, info, *dry_run).await?;
                Ok(serde_json::to_value(&report).unwrap_or_else(|e| Value::String(e.to_string())))
            }
        }
    }

    /// Disable and record the target's enabled triggers (a load start).
    async fn record_triggers(
        &self,
        config: &Config,
        info: &InvocationInfo,
    ) -> Result<Value, CutoverError> {
        if config.indicator != RefreshIndicator::DataMigration {
            return Err(CutoverError::RecordTriggers(HookError {
                permanent: true,
                verification_failed: false,
                message: "the trigger record is for data-migration groups \
                          (REFRESH_INDICATOR=data-migration); a data-refresh target's triggers \
                          are its hooks'"
                    .into(),
            }));
        }
        let group = self.group(config, info).await?;
        let answer = self
            .target
            .record_triggers(&group)
            .await
            .map_err(CutoverError::RecordTriggers)?;
        let record = RequestRecord {
            request_id: info.owner.clone(),
            kind: "record-triggers".into(),
            outcome: answer.clone(),
        };
        if let Err(e) = self.ledger.record_request(&group, &record).await {
            tracing::warn!(error = %e, "the trigger record is not kept in the ledger");
        }
        Ok(answer)
    }

    async fn group(&self, config: &Config, info: &InvocationInfo) -> Result<RunContext, PostError> {
        let tasks = describe_group(config, self.dms).await?;
        Ok(settle_context(tasks, info))
    }

    /// The cutover: the checks, then (unless `dry_run`) the steps, then the
    /// record in the ledger and the notification.
    pub async fn cutover(
        &self,
        config: &Config,
        info: &InvocationInfo,
        dry_run: bool,
    ) -> Result<CutoverReport, CutoverError> {
        let mut report = CutoverReport::new(&info.owner, dry_run);
        if config.indicator != RefreshIndicator::DataMigration {
            return Err(report.refuse(
                StepName::ConsistentStop,
                "cutover is for data-migration groups (REFRESH_INDICATOR=data-migration); in \
                 data-refresh mode the hooks set sequences, triggers and foreign keys after masking"
                    .into(),
            ));
        }
        let group = self.group(config, info).await?;
        let intended = intended_stop(config, self.rules).await?;
        self.check(&mut report, &group.tasks, intended.as_deref())
            .await?;
        let failed = self.steps(&mut report, &group, dry_run).await?;
        if !dry_run {
            self.keep_and_announce(config, &group, &mut report).await;
        }
        match failed {
            None => Ok(report),
            Some((step, error)) => Err(CutoverError::Failed {
                step,
                error,
                report: Box::new(report),
            }),
        }
    }

    /// Keep the request in the ledger and announce it; neither failing
    /// undoes the cutover, and the answer says how they went.
    async fn keep_and_announce(
        &self,
        config: &Config,
        group: &RunContext,
        report: &mut CutoverReport,
    ) {
        let record = RequestRecord {
            request_id: report.request_id.clone(),
            kind: "cutover".into(),
            outcome: report.as_json(),
        };
        report.ledger = Some(match self.ledger.record_request(group, &record).await {
            Ok(true) => "recorded".into(),
            Ok(false) => "recorded before (a retry)".into(),
            Err(e) => format!("not recorded in the ledger: {e}"),
        });
        let sent = publish_if_configured(self.notifier, config, &report.alert()).await;
        report.notified = sent;
    }
}
