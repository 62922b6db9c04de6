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
    /// Where CDC starts (`CdcStartPosition` or `CdcStartTime`), when asked.
    pub cdc_start: Option<crate::cdc_start::CdcStart>,
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

    /// StopReplicationTask.
    fn stop_task(&self, task_arn: &str) -> impl Future<Output = Result<(), PortError>> + Send;

    /// MoveReplicationTask to `target_instance_arn`.
    fn move_task(
        &self,
        task_arn: &str,
        target_instance_arn: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The `Status` of a DMS event subscription (`active`, `no-permission`,
    /// `topic-not-exist`, ...); `Ok(None)` when it does not exist.
    fn event_subscription_status(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
}

/// Whether an EventBridge rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RuleState {
    Enabled,
    Disabled,
}

/// The record the project keeps on the schedule rule (as tags) of a run it
/// started: who took the lock, since when, and which run it was handled as.
/// A rule disabled without this record was disabled by someone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleLock {
    /// The invocation that took the lock: `schedule:<event id>`,
    /// `console:<request id>` or `operator:<request id>`.
    pub owner: String,
    /// When the lock was taken, epoch seconds.
    pub since_epoch: u64,
    /// The run id the post-processor handled while keeping the rule
    /// disabled (a failed run, fail closed).
    pub handled_run: Option<String>,
    /// The lock age alert was sent for this lock.
    pub alerted: bool,
    /// The holder disabled the rule itself (schedule mode, the rule was
    /// enabled): a start that fails with nothing running gives it back.
    pub disabled_rule: bool,
    /// The key of the last alert sent while the lock was held, for alerts
    /// that cannot go through the ledger's outbox (the ledger is out of reach).
    pub last_alert: Option<String>,
}

impl RuleLock {
    /// A fresh lock taken by `owner` now.
    pub fn taken(owner: &str, since_epoch: u64, disabled_rule: bool) -> Self {
        Self {
            owner: owner.to_owned(),
            since_epoch,
            handled_run: None,
            alerted: false,
            disabled_rule,
            last_alert: None,
        }
    }
}

/// One field of the lock record, written alone so that a concurrent writer
/// of the whole record (a starter taking the lock, a post-processor dropping
/// it) is never overwritten from a stale read. Written to a rule without a
/// lock record it makes none (a record without an owner is no lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockUpdate {
    Handled(String),
    Alerted,
    LastAlert(String),
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

    /// The rule's schedule expression (`cron(...)` or `rate(...)`);
    /// `Ok(None)` when the rule does not exist or is not scheduled.
    fn schedule_expression(
        &self,
        rule_name: &str,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;

    /// The project's lock record on the rule, if any.
    fn lock(
        &self,
        rule_name: &str,
    ) -> impl Future<Output = Result<Option<RuleLock>, PortError>> + Send;

    /// Write (replace) the lock record.
    fn set_lock(
        &self,
        rule_name: &str,
        lock: &RuleLock,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Write one field of the lock record (see [`LockUpdate`]).
    fn update_lock(
        &self,
        rule_name: &str,
        update: &LockUpdate,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Remove the lock record.
    fn clear_lock(&self, rule_name: &str) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The CDC stop position an operator's `stop-at` request recorded on the
    /// rule, which the post-processor judges the group's stop against.
    fn intended_stop(
        &self,
        rule_name: &str,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;

    /// Record (`Some`) or forget (`None`) the intended stop.
    fn set_intended_stop(
        &self,
        rule_name: &str,
        position: Option<&str>,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The operator's `move` under way, recorded on the rule.
    fn move_record(
        &self,
        rule_name: &str,
    ) -> impl Future<Output = Result<Option<crate::moves::MoveRecord>, PortError>> + Send;

    /// Record (`Some`, replacing any earlier record) or forget (`None`) a move.
    fn set_move_record(
        &self,
        rule_name: &str,
        record: Option<&crate::moves::MoveRecord>,
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

/// Everything the post-refresh hooks and the ledger need to know about a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunContext {
    /// Stable across deliveries and invocations: the group's tasks and their start dates.
    pub run_id: String,
    /// The group's tasks as DMS described them for this run.
    pub tasks: Vec<TaskInfo>,
    /// Every task finished its load; `false` means a failed or interrupted load
    /// that is still masked before anything else happens.
    pub load_complete: bool,
    /// When the hooks must stop and hand over to a continuation.
    pub deadline: std::time::Instant,
    /// 1 for the invocation that began the run, then 2, 3, ... for continuations.
    pub invocation: u32,
}

impl RunContext {
    /// Whether the load of this run is a fresh copy: no task of the group
    /// was resumed (`resume-processing`) without reloading the target.
    pub fn target_reloaded(&self) -> bool {
        !self.tasks.iter().any(|t| t.resumed_without_reload)
    }
}

/// What `RunLedger::begin` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Begin {
    /// First sight of this run: it is ours.
    New,
    /// Started before (crashed, paused at a deadline, or failed): ours to resume.
    Resumed,
    /// Another invocation holds the run's lease right now.
    HeldByOther { owner: String },
    /// Finished before: a duplicate delivery, or (see `finished_at`) a later
    /// run DMS reported with the same start dates.
    AlreadyDone {
        /// When the run was recorded as done, epoch milliseconds.
        finished_at_ms: Option<u64>,
    },
}

/// How an invocation leaves a run in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum LedgerOutcome {
    /// Handled completely (masked, rule handled, notified).
    Done { rows_affected: Option<u64> },
    /// The hooks failed. A retryable failure is resumed by a later delivery,
    /// a retry or the reconciler; a permanent one waits for an operator.
    Failed { error: String, permanent: bool },
    /// Stopped at the deadline; a continuation resumes it.
    Paused,
}

/// A run as the ledger records it, for the reconciler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum LedgerState {
    InProgress { lease_expired: bool },
    Paused { lease_expired: bool },
    Failed { permanent: bool },
    Done,
}

/// A failure of the hooks or the ledger, permanent (bad rules, wrong
/// database, verification) or worth retrying (connection trouble).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HookError {
    pub permanent: bool,
    pub message: String,
    /// The run failed because verification found violations (the masked
    /// copy did not pass its checks), not for another reason.
    pub verification_failed: bool,
}

/// A message for operators kept in the ledger until SNS accepted it: sent
/// at least once, and once per run outcome (`key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outgoing {
    pub run_id: String,
    /// The outcome the message reports, e.g. `succeeded`, `failed:<hash>`.
    pub key: String,
    pub subject: String,
    pub body: String,
}

/// An operator request the task-starter answered (a `stop-at`, a `move`, a
/// CDC start from a point), kept in the ledger with its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestRecord {
    /// The task-starter invocation's request id: a retry records nothing more.
    pub request_id: String,
    /// `stop-at`, `move` or `cdc-start`.
    pub kind: String,
    /// The answer the operator got.
    pub outcome: serde_json::Value,
}

/// The task-starter's way to the ledger: it cannot reach the target
/// database, so it hands the record of a request to the post-processor.
pub trait RequestRecorder: Sync {
    fn record(&self, request: &RequestRecord)
    -> impl Future<Output = Result<(), PortError>> + Send;

    /// Before a load starts: have the post-processor disable the target's
    /// enabled triggers and keep their names for the cutover; its answer.
    fn record_triggers(&self) -> impl Future<Output = Result<serde_json::Value, PortError>> + Send;
}

/// The record of runs that gives duplicate deliveries no effect, and the
/// outbox of the messages their outcomes owe to operators.
pub trait RunLedger: Sync {
    /// Whether the record outlives the Lambda execution environment.
    fn is_durable(&self) -> bool;

    /// Claim the run for `owner` until `lease_until`.
    fn begin(
        &self,
        run: &RunContext,
        owner: &str,
        lease_until: std::time::SystemTime,
    ) -> impl Future<Output = Result<Begin, HookError>> + Send;

    fn finish(
        &self,
        run: &RunContext,
        owner: &str,
        outcome: &LedgerOutcome,
    ) -> impl Future<Output = Result<(), HookError>> + Send;

    /// The run's record, if any.
    fn state(
        &self,
        run: &RunContext,
    ) -> impl Future<Output = Result<Option<LedgerState>, HookError>> + Send;

    /// Keep `message` until it is sent; `false` when a message with the same
    /// run and key was kept before (sent or not).
    fn enqueue(
        &self,
        run: &RunContext,
        message: &Outgoing,
    ) -> impl Future<Output = Result<bool, HookError>> + Send;

    /// Claim the messages not yet sent for `owner` (until `claim_until`)
    /// and return them, oldest first; messages another owner claimed and is
    /// still sending are left to it.
    fn claim_unsent(
        &self,
        run: &RunContext,
        owner: &str,
        claim_until: std::time::SystemTime,
    ) -> impl Future<Output = Result<Vec<Outgoing>, HookError>> + Send;

    fn mark_sent(
        &self,
        run: &RunContext,
        message: &Outgoing,
    ) -> impl Future<Output = Result<(), HookError>> + Send;

    /// Keep an operator request with its outcome in the ledger of the
    /// group's target (`run` names the group); `false` when it was kept before.
    fn record_request(
        &self,
        run: &RunContext,
        request: &RequestRecord,
    ) -> impl Future<Output = Result<bool, HookError>> + Send;
}

/// Rows masked in one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRows {
    /// `schema.table`.
    pub table: String,
    pub rows_masked: u64,
}

/// The verification a run ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VerificationFigures {
    pub passed: bool,
    /// How many checks ran.
    pub checks: usize,
}

/// The figures of a completed run that operators read in the notification
/// and the metrics (no row data).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunFigures {
    /// Rows masked per table, over every invocation of the run.
    pub tables: Vec<TableRows>,
    /// The verification, when it ran in the invocation that completed the run.
    pub verification: Option<VerificationFigures>,
    /// A masked copy was published into live (the publish model).
    pub published: bool,
}

/// What the hooks did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum HookReport {
    Complete {
        rows_affected: Option<u64>,
        details: serde_json::Value,
        figures: RunFigures,
    },
    /// The deadline came first; the run continues in another invocation.
    Incomplete { details: serde_json::Value },
}

/// The work done on the target database after a load: masking and the rest.
pub trait PostRefreshHooks: Sync {
    /// Whether any hook is configured; with none, a failed load is only alerted.
    fn is_configured(&self) -> bool;

    /// Whether a failure leaves what developers read untouched (the publish
    /// model) rather than a target that may be partly masked (in place).
    fn failure_keeps_live(&self) -> bool {
        false
    }

    fn run(&self, run: &RunContext) -> impl Future<Output = Result<HookReport, HookError>> + Send;

    /// Swap the retired copy back into live (the publish model), idempotent
    /// per `request_id`. `run` carries the group's tasks for the guard.
    fn rollback(
        &self,
        run: &RunContext,
        request_id: &str,
        dry_run: bool,
    ) -> impl Future<Output = Result<serde_json::Value, HookError>> + Send;
}

/// Hands an unfinished run to a new invocation.
pub trait Continuer: Sync {
    fn continue_run(
        &self,
        continuation: &crate::events::Continuation,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// DescribeEndpoints, for the target guard.
pub trait Endpoints: Sync {
    /// `Ok(None)` when no endpoint has that ARN.
    fn describe_endpoint(
        &self,
        endpoint_arn: &str,
    ) -> impl Future<Output = Result<Option<crate::guard::EndpointInfo>, PortError>> + Send;

    /// Every replication task whose target is `endpoint_arn`, with its
    /// table mappings (DescribeReplicationTasks filtered by endpoint).
    fn tasks_writing_to(
        &self,
        endpoint_arn: &str,
    ) -> impl Future<Output = Result<Vec<crate::guard::MappedTask>, PortError>> + Send;
}

/// A secret's string value. Implementations never log it.
pub trait Secrets: Sync {
    fn secret_string(
        &self,
        secret_arn: &str,
    ) -> impl Future<Output = Result<String, PortError>> + Send;
}

/// The source database's logical replication slots, read without consuming
/// anything (for a CDC start from a native point).
pub trait ReplicationSlots: Sync {
    /// The slot named `slot_name` and the first change it holds at or after
    /// `from`; `Ok(None)` when the source has no such slot.
    fn slot(
        &self,
        slot_name: &str,
        from: crate::cdc_start::Lsn,
    ) -> impl Future<Output = Result<Option<crate::cdc_start::SlotView>, PortError>> + Send;
}
