//! The post-processor's work: for each DMS event, decide what it means for
//! the refresh group and, when the group's run is over, run the hooks on the
//! target database, give the schedule back and notify, exactly once per run.
//!
//! The steps live in their own modules: [`settle`] carries a finished group
//! through the hooks, the rule and the ledger; [`announce`] delivers what a
//! run owes to operators through the ledger's outbox.

mod announce;
mod follow_move;
mod record_request;
mod settle;
mod success_message;
#[cfg(test)]
pub(crate) mod tests;

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::json;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::events::{
    Continuation, DmsEvent, EventKind, InvalidRecord, Invocation, Operation, TaskRef,
};
use crate::notify::{Alert, publish_if_configured};
use crate::ports::{
    Continuer, FailureKind, HookError, Notifier, PortError, PostRefreshHooks, ReplicationTasks,
    RunLedger, ScheduleRule,
};
use crate::runs::{RunJudge, TaskRun, run_id};
use crate::task::{TaskInfo, TaskStatus};

pub use announce::outcome_key;

/// The run context of the group's current run, for ledger reads and outbox
/// deliveries outside the event path.
pub(crate) fn settle_context(
    tasks: Vec<TaskInfo>,
    info: &InvocationInfo,
) -> crate::ports::RunContext {
    settle::context_for(tasks, false, info, None)
}

/// The dependencies the post-processor uses, borrowed for one invocation.
#[derive(Debug)]
pub struct PostPorts<'a, D, R, N, L, H, C> {
    pub dms: &'a D,
    pub rules: &'a R,
    pub notifier: &'a N,
    pub ledger: &'a L,
    pub hooks: &'a H,
    pub continuer: &'a C,
    /// Where the run's metrics go (stdout as EMF in Lambda).
    pub metrics: &'a dyn crate::metrics::MetricsSink,
}

/// Timing of one invocation.
#[derive(Debug, Clone)]
pub struct InvocationInfo {
    /// Names the lease holder in the ledger (the Lambda request id).
    pub owner: String,
    /// When the hooks must hand over (the Lambda deadline minus a margin).
    pub hooks_deadline: Instant,
    /// Until when the ledger lease holds (the Lambda deadline plus a margin),
    /// so a crashed invocation's run is taken over by the next delivery.
    pub lease_until: SystemTime,
}

impl InvocationInfo {
    /// From a Lambda deadline in epoch milliseconds.
    pub fn from_deadline_ms(owner: &str, deadline_ms: u64, hooks_margin: Duration) -> Self {
        let deadline = deadline_time(deadline_ms);
        let remaining = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        Self {
            owner: owner.to_owned(),
            hooks_deadline: Instant::now() + remaining.saturating_sub(hooks_margin),
            lease_until: deadline + Duration::from_secs(30),
        }
    }
}

/// The invocation's deadline. Lambda sends epoch milliseconds; a value
/// before the year 2000 cannot be one and is read as milliseconds from now
/// (cargo-lambda's runtime emulator sends the function timeout itself).
pub fn deadline_time(deadline_ms: u64) -> SystemTime {
    const YEAR_2000_MS: u64 = 946_684_800_000;
    if deadline_ms < YEAR_2000_MS {
        SystemTime::now() + Duration::from_millis(deadline_ms)
    } else {
        SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms)
    }
}

/// Now, in epoch seconds.
pub fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What the post-processor did with one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum RecordAction {
    /// Not one of our tasks.
    Ignored,
    /// Started and other events: logged only.
    Logged,
    /// A task of the group is still running (or stopping, moving, being
    /// restarted by DMS): its own event, or the reconciler, settles the run.
    Waiting {
        tasks: Vec<String>,
    },
    /// The task is running again or otherwise not stopped: a stale event.
    Stale {
        status: String,
    },
    /// The run was already handled: a duplicate delivery.
    Duplicate {
        run_id: String,
    },
    /// Another invocation is handling the run now.
    InProgressElsewhere {
        run_id: String,
        owner: String,
    },
    /// Hooks done, rule re-enabled (schedule mode), success notified.
    Completed {
        run_id: String,
        rows_affected: Option<u64>,
    },
    /// The load failed: handled as configured, an alert was sent.
    LoadFailureHandled {
        run_id: String,
        rule: String,
    },
    /// CDC stopped short of its stop position, or a group stopped
    /// inconsistently: reported, no hooks ran.
    NotFinished {
        run_id: String,
    },
    /// The deadline came: a new invocation carries on.
    Continued {
        run_id: String,
        invocation: u32,
    },
    /// A group task was deleted: alerted.
    TaskDeleted,
    /// The end of an operator's move of the group (seed 000), reported.
    Move {
        end: Box<crate::moves::MoveEnd>,
    },
    Invalid {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordOutcome {
    pub message_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventKind>,
    #[serde(flatten)]
    pub action: RecordAction,
}

/// The post-processor's JSON answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostSummary {
    pub records: Vec<RecordOutcome>,
    /// What the reconciler found and did, for a reconcile request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<crate::reconcile::ReconcileReport>,
    /// The answer to an operator request (rollback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<serde_json::Value>,
}

impl PostSummary {
    fn of_records(records: Vec<RecordOutcome>) -> Self {
        Self {
            records,
            reconcile: None,
            operation: None,
        }
    }
}

/// Why a post-processor invocation failed. Every variant except `Invalid*`
/// leaves the run resumable; the schedule rule stays disabled.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error(transparent)]
    Payload(#[from] crate::events::PayloadError),
    #[error("{count} record(s) could not be understood: {detail}")]
    InvalidRecords {
        count: usize,
        detail: String,
        summary: Box<PostSummary>,
    },
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("post-refresh hooks failed for run {run_id}: {error}")]
    Hooks { run_id: String, error: HookError },
    #[error("run {run_id} could not be recorded: {error}")]
    Ledger { run_id: String, error: HookError },
    #[error("continuation for run {run_id} failed: {message}")]
    Continuation { run_id: String, message: String },
    #[error("the notification for run {run_id} could not be published: {error}")]
    Announce { run_id: String, error: PortError },
}

impl PostError {
    /// A short, stable name for Lambda's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Payload(_) => "InvalidEvent",
            Self::InvalidRecords { .. } => "InvalidRecord",
            Self::Port(e) if e.is_retryable() => "AwsTransientError",
            Self::Port(_) => "AwsError",
            Self::Hooks { error, .. } | Self::Ledger { error, .. } if error.permanent => {
                "HookFailedPermanent"
            }
            Self::Hooks { .. } | Self::Ledger { .. } => "HookFailedRetryable",
            Self::Continuation { .. } => "ContinuationFailed",
            Self::Announce { .. } => "NotificationFailed",
        }
    }
}

/// Maximum invocations one run may use before it is declared stuck.
pub const MAX_INVOCATIONS: u32 = 48;

/// Handle one post-processor invocation.
///
/// Invalid records do not stop the valid ones; they are reported and then
/// fail the invocation, so that the delivery lands in the dead-letter queue
/// instead of being lost. Valid records handled before are not repeated:
/// the ledger makes the retry a no-op for them.
pub async fn handle_invocation<D, R, N, L, H, C>(
    config: &Config,
    ports: &PostPorts<'_, D, R, N, L, H, C>,
    invocation: Invocation,
    info: &InvocationInfo,
) -> Result<PostSummary, PostError>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
    L: RunLedger,
    H: PostRefreshHooks,
    C: Continuer,
{
    let records = match invocation {
        Invocation::Continuation(c) => {
            let outcome = ports.continue_run(config, &c, info).await?;
            return Ok(PostSummary::of_records(vec![outcome]));
        }
        Invocation::Operation(Operation::Reconcile) => {
            let report = crate::reconcile::reconcile(config, ports, info).await?;
            let mut summary = PostSummary::of_records(Vec::new());
            summary.reconcile = Some(report);
            return Ok(summary);
        }
        Invocation::Operation(Operation::RecordRequest(request)) => {
            let answer = ports.record_request(config, info, &request).await?;
            let mut summary = PostSummary::of_records(Vec::new());
            summary.operation = Some(answer);
            return Ok(summary);
        }
        Invocation::Operation(Operation::Rollback { dry_run }) => {
            let answer = ports.rollback(config, info, dry_run).await?;
            let mut summary = PostSummary::of_records(Vec::new());
            summary.operation = Some(answer);
            return Ok(summary);
        }
        Invocation::Events(records) => records,
    };
    let mut summary = PostSummary::of_records(Vec::with_capacity(records.len()));
    let mut invalid: Vec<InvalidRecord> = Vec::new();
    for record in records {
        match record {
            Ok(event) => {
                let action = ports.handle_event(config, &event, info).await?;
                summary.records.push(RecordOutcome {
                    message_id: event.message_id.clone(),
                    task: Some(task_label(&event.task).to_owned()),
                    event: Some(event.kind.clone()),
                    action,
                });
            }
            Err(bad) => {
                error!(message_id = %bad.message_id, error = %bad.error, "record not understood; the rule is left as it was");
                summary.records.push(RecordOutcome {
                    message_id: bad.message_id.clone(),
                    task: None,
                    event: None,
                    action: RecordAction::Invalid {
                        error: bad.error.clone(),
                    },
                });
                invalid.push(bad);
            }
        }
    }
    if invalid.is_empty() {
        Ok(summary)
    } else {
        Err(PostError::InvalidRecords {
            count: invalid.len(),
            detail: invalid
                .iter()
                .map(|b| format!("{}: {}", b.message_id, b.error))
                .collect::<Vec<_>>()
                .join("; "),
            summary: Box::new(summary),
        })
    }
}

fn task_label(task: &TaskRef) -> &str {
    match task {
        TaskRef::Identifier(s) | TaskRef::Arn(s) => s,
    }
}

/// Describe every task of the group; a configured task that does not exist
/// is an error.
pub(crate) async fn describe_group<D: ReplicationTasks>(
    config: &Config,
    dms: &D,
) -> Result<Vec<TaskInfo>, PostError> {
    let mut tasks = Vec::with_capacity(config.task_arns.len());
    for arn in &config.task_arns {
        match dms.describe_task(arn).await? {
            Some(task) => tasks.push(task),
            None => {
                return Err(PostError::Port(PortError::new(
                    "DescribeReplicationTasks",
                    FailureKind::NotFound,
                    format!("configured task {arn} does not exist (check DMS_TASK_ARNS)"),
                )));
            }
        }
    }
    Ok(tasks)
}

/// How runs end, for this configuration, an operator's `stop-at` (see
/// [`intended_stop`]) and this moment.
pub(crate) fn judge<'a>(config: &'a Config, intended_stop: Option<&'a str>) -> RunJudge<'a> {
    RunJudge {
        cdc_stop_position: config.cdc_stop_position.as_deref(),
        intended_stop,
        now_epoch: now_epoch(),
    }
}

/// The stop position an operator's `stop-at` recorded on the rule; none
/// when the rule does not exist (a stop-at could not have recorded one).
pub(crate) async fn intended_stop<R: ScheduleRule>(
    config: &Config,
    rules: &R,
) -> Result<Option<String>, PortError> {
    match config.rule_name.as_deref() {
        Some(rule) if config.refresh_type.has_cdc() => match rules.intended_stop(rule).await {
            Err(e) if e.kind == FailureKind::NotFound => Ok(None),
            other => other,
        },
        _ => Ok(None),
    }
}

fn is_event_task(task: &TaskInfo, event_task: &TaskRef) -> bool {
    match event_task {
        TaskRef::Arn(arn) => task.arn == *arn,
        TaskRef::Identifier(id) => task.identifier == *id,
    }
}

/// The steps of handling an invocation, on the ports they act through.
impl<D, R, N, L, H, C> PostPorts<'_, D, R, N, L, H, C>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
    L: RunLedger,
    H: PostRefreshHooks,
    C: Continuer,
{
    async fn handle_event(
        &self,
        config: &Config,
        event: &DmsEvent,
        info: &InvocationInfo,
    ) -> Result<RecordAction, PostError> {
        let label = task_label(&event.task);
        // DMS may tell the end of a move by an event of its own: followed
        // when a move of the group is recorded. Reading the record must not
        // fail an event that was only logged before.
        let ours = match &event.task {
            TaskRef::Arn(arn) => config.task_arns.contains(arn),
            TaskRef::Identifier(_) => true,
        };
        if event.kind == EventKind::Other && ours {
            match self.recorded_move(config).await {
                Ok(Some(record)) => {
                    let tasks = describe_group(config, self.dms).await?;
                    return self.follow_move(config, &tasks, &record).await;
                }
                Ok(None) => {}
                Err(e) => warn!(error = %e, "the move record could not be read; event logged only"),
            }
        }
        if matches!(event.kind, EventKind::Started | EventKind::Other) {
            info!(message_id = %event.message_id, task = label, kind = ?event.kind,
                  code = ?event.event_code, text = %event.message, "DMS event logged");
            // Only events that end a run need the group described.
            return Ok(RecordAction::Logged);
        }
        if let TaskRef::Arn(arn) = &event.task
            && !config.task_arns.contains(arn)
        {
            info!(message_id = %event.message_id, task = label, "event for a task outside the refresh group; ignored");
            return Ok(RecordAction::Ignored);
        }
        if event.kind == EventKind::Deleted {
            return self.task_deleted(config, event).await;
        }
        let tasks = describe_group(config, self.dms).await?;
        let Some(this) = tasks.iter().find(|t| is_event_task(t, &event.task)) else {
            info!(message_id = %event.message_id, task = label, "event for a task outside the refresh group; ignored");
            return Ok(RecordAction::Ignored);
        };
        info!(message_id = %event.message_id, task = %this.arn, kind = ?event.kind,
              status = this.status.as_str(), stop_reason = ?this.stop_reason, text = %event.message,
              "DMS event for the refresh group");
        if let Some(record) = self.recorded_move(config).await? {
            return self.follow_move(config, &tasks, &record).await;
        }

        // DMS announced the stop before its API shows it, or DMS is
        // restarting the task: not stale, but nothing to settle yet. The
        // task's next event, or the reconciler, settles the run.
        if this.status == TaskStatus::Stopping {
            info!(task = %this.arn, "the task is still stopping; the run settles on a later event or reconciler sweep");
            return Ok(RecordAction::Waiting {
                tasks: vec![this.identifier.clone()],
            });
        }
        // Only whether a running task counts as in progress matters here, and
        // a stop-at changes how stopped tasks are judged: settle_group reads it.
        let this_state = judge(config, None).task_run(this, event.stop_reason_hint.as_deref());
        if let TaskRun::InProgress(status) = &this_state
            && this.status.is_starting_or_running()
        {
            info!(task = %this.arn, %status, "the task is not stopped any more; stale event");
            return Ok(RecordAction::Stale {
                status: status.clone(),
            });
        }
        let this_arn = this.arn.clone();
        let hint = |t: &TaskInfo| {
            (t.arn == this_arn)
                .then_some(event.stop_reason_hint.as_deref())
                .flatten()
        };
        self.settle_group(config, tasks, hint, None, info).await
    }

    /// A deleted task: alert when it is (or may be) one of ours. The deleted
    /// task can no longer be described, so an identifier is matched against the
    /// group's tasks that still exist.
    async fn task_deleted(
        &self,
        config: &Config,
        event: &DmsEvent,
    ) -> Result<RecordAction, PostError> {
        let ours = match &event.task {
            TaskRef::Arn(arn) => config.task_arns.contains(arn),
            TaskRef::Identifier(id) => {
                let mut missing = false;
                let mut named = false;
                for arn in &config.task_arns {
                    match self.dms.describe_task(arn).await? {
                        Some(task) => named |= task.identifier == *id,
                        None => missing = true,
                    }
                }
                named || missing
            }
        };
        if !ours {
            return Ok(RecordAction::Ignored);
        }
        let alert = Alert {
            subject: format!("dms-refresh: task {} deleted", task_label(&event.task)),
            summary: "A task of the refresh group was deleted; the refresh cannot run until \
                      DMS_TASK_ARNS is corrected."
                .into(),
            details: json!({ "task": task_label(&event.task), "event": event.message }),
        };
        if !publish_if_configured(self.notifier, config, &alert).await
            && config.notification_topic_arn.is_some()
        {
            return Err(PostError::Port(PortError::new(
                "Publish",
                FailureKind::Transient,
                "the task-deleted alert could not be published; the delivery is retried",
            )));
        }
        Ok(RecordAction::TaskDeleted)
    }

    async fn continue_run(
        &self,
        config: &Config,
        continuation: &Continuation,
        info: &InvocationInfo,
    ) -> Result<RecordOutcome, PostError> {
        let outcome = |action| RecordOutcome {
            message_id: format!("continuation {}", continuation.invocation),
            task: None,
            event: None,
            action,
        };
        if continuation.invocation > MAX_INVOCATIONS {
            return Err(self.stuck(config, continuation, info).await);
        }
        let tasks = describe_group(config, self.dms).await?;
        let current = run_id(&tasks);
        if current != continuation.run_id {
            warn!(expected = %continuation.run_id, %current, "the group has started another run since; continuation dropped");
            return Ok(outcome(RecordAction::Stale {
                status: format!("the current run is {current}"),
            }));
        }
        let action = self
            .settle_group(config, tasks, |_| None, Some(continuation), info)
            .await?;
        Ok(outcome(action))
    }

    /// A run that used every invocation it may: recorded as a permanent
    /// failure (so neither a retry nor the reconciler starts the chain
    /// again) and alerted once, through the outbox.
    async fn stuck(
        &self,
        config: &Config,
        continuation: &Continuation,
        info: &InvocationInfo,
    ) -> PostError {
        let error = HookError {
            permanent: true,
            verification_failed: false,
            message: format!(
                "run {} used {MAX_INVOCATIONS} invocations without finishing; raise the chunk \
                 size or the function timeout, then re-run by hand",
                continuation.run_id
            ),
        };
        match describe_group(config, self.dms).await {
            Ok(tasks) if run_id(&tasks) == continuation.run_id => {
                let run = settle::context_for(tasks, true, info, Some(continuation));
                self.fail_run(config, &run, info, &error, "continuing the run")
                    .await;
            }
            _ => {
                let alert = Alert {
                    subject: format!("dms-refresh: run {} is stuck", continuation.run_id),
                    summary: format!("{} The schedule rule stays disabled.", error.message),
                    details: json!({ "run_id": continuation.run_id, "invocations": continuation.invocation }),
                };
                self.alert_outside_ledger(config, "stuck", &alert).await;
            }
        }
        PostError::Hooks {
            run_id: continuation.run_id.clone(),
            error,
        }
    }

    /// Settle the group's current run as an event would, without an event.
    pub(crate) async fn settle_now(
        &self,
        config: &Config,
        tasks: Vec<TaskInfo>,
        info: &InvocationInfo,
    ) -> Result<RecordAction, PostError> {
        self.settle_group(config, tasks, |_| None, None, info).await
    }

    async fn rollback(
        &self,
        config: &Config,
        info: &InvocationInfo,
        dry_run: bool,
    ) -> Result<serde_json::Value, PostError> {
        let tasks = describe_group(config, self.dms).await?;
        let context = settle::context_for(tasks, false, info, None);
        self.hooks
            .rollback(&context, &info.owner, dry_run)
            .await
            .map_err(|error| PostError::Hooks {
                run_id: format!("rollback@{}", info.owner),
                error,
            })
    }
}
