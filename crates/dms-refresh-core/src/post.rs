//! The post-processor's work: for each DMS event, decide what it means for
//! the refresh group and, when the group's run is over, run the hooks on the
//! target database, give the schedule back and notify, exactly once per run.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::{Value, json};
use tracing::{error, info, warn};

use crate::config::Config;
use crate::events::{Continuation, DmsEvent, EventKind, InvalidRecord, Invocation, TaskRef};
use crate::notify::{Alert, publish_if_configured};
use crate::ports::{
    Begin, Continuer, HookError, HookReport, LedgerOutcome, Notifier, PortError, PostRefreshHooks,
    ReplicationTasks, RuleState, RunContext, RunLedger, ScheduleRule,
};
use crate::runs::{GroupRun, TaskRun, group_run, group_states, run_id, task_run};
use crate::task::TaskInfo;

/// The dependencies the post-processor uses, borrowed for one invocation.
#[derive(Debug)]
pub struct PostPorts<'a, D, R, N, L, H, C> {
    pub dms: &'a D,
    pub rules: &'a R,
    pub notifier: &'a N,
    pub ledger: &'a L,
    pub hooks: &'a H,
    pub continuer: &'a C,
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

/// What the post-processor did with one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum RecordAction {
    /// Not one of our tasks.
    Ignored,
    /// Started and other events: logged only.
    Logged,
    /// Another task of the group is still running.
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
    /// The load failed: hooks ran on what was loaded, an alert was sent.
    LoadFailureHandled {
        run_id: String,
        rule: &'static str,
    },
    /// The deadline came: a new invocation carries on.
    Continued {
        run_id: String,
        invocation: u32,
    },
    /// A group task was deleted: alerted.
    TaskDeleted,
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
            return Ok(PostSummary {
                records: vec![outcome],
            });
        }
        Invocation::Events(records) => records,
    };
    let mut summary = PostSummary {
        records: Vec::with_capacity(records.len()),
    };
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

async fn describe_group<D: ReplicationTasks>(
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
                    crate::ports::FailureKind::NotFound,
                    format!("configured task {arn} does not exist (check DMS_TASK_ARNS)"),
                )));
            }
        }
    }
    Ok(tasks)
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

        // Stopped or failed: what do the task and the whole group say now?
        let this_state = task_run(this, event.stop_reason_hint.as_deref());
        if this.status == crate::task::TaskStatus::Stopping {
            // DMS announced the stop before its API shows it: try again shortly.
            return Err(PostError::Port(PortError::new(
                "DescribeReplicationTasks",
                crate::ports::FailureKind::Transient,
                format!(
                    "task {} is still stopping; the delivery is retried",
                    this.identifier
                ),
            )));
        }
        if let TaskRun::InProgress(status) = &this_state {
            info!(task = %this.arn, %status, "the task is not stopped any more; stale event");
            return Ok(RecordAction::Stale {
                status: status.clone(),
            });
        }
        let this_arn = this.arn.clone();
        self.settle_group(config, tasks, Some((&this_arn, event)), None, info)
            .await
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
        publish_if_configured(self.notifier, config, &alert).await;
        Ok(RecordAction::TaskDeleted)
    }

    /// Evaluate the group and, when its run is over, carry it through.
    async fn settle_group(
        &self,
        config: &Config,
        tasks: Vec<TaskInfo>,
        event: Option<(&str, &DmsEvent)>,
        continuation: Option<&Continuation>,
        info: &InvocationInfo,
    ) -> Result<RecordAction, PostError> {
        let states = group_states(&tasks, |t| {
            event
                .filter(|(arn, _)| *arn == t.arn)
                .and_then(|(_, e)| e.stop_reason_hint.as_deref())
        });
        let group = group_run(&states);
        let failures = match &group {
            GroupRun::Waiting(waiting) => {
                info!(waiting = ?waiting, "other tasks of the group are still running; waiting for their events");
                return Ok(RecordAction::Waiting {
                    tasks: waiting.clone(),
                });
            }
            GroupRun::Finished => Vec::new(),
            GroupRun::Failed(failures) => failures.clone(),
        };

        if let Some(task) = tasks.iter().find(|t| t.start_date_epoch.is_none()) {
            // Without a start date the run has no stable identity, and the
            // ledger could not tell this run from the next: refuse to mask.
            let alert = Alert {
                subject: format!(
                    "dms-refresh: cannot identify the run of {}",
                    task.identifier
                ),
                summary: "DMS reports no start date for a task of the group; nothing was masked. \
                          The schedule rule stays disabled."
                    .into(),
                details: json!({ "task": task.arn, "status": task.status.as_str() }),
            };
            publish_if_configured(self.notifier, config, &alert).await;
            return Err(PostError::Hooks {
                run_id: format!("{}@unknown", task.identifier),
                error: HookError {
                    permanent: true,
                    message: format!("DMS reports no start date for task {}", task.arn),
                },
            });
        }
        let run = RunContext {
            run_id: run_id(&tasks),
            tasks,
            load_complete: continuation
                .and_then(|c| c.load_complete)
                .unwrap_or(failures.is_empty()),
            deadline: info.hooks_deadline,
            invocation: continuation.map_or(1, |c| c.invocation),
        };
        match self.ledger.begin(&run, &info.owner, info.lease_until).await {
            Ok(Begin::AlreadyDone) => {
                info!(run_id = %run.run_id, "run already handled; duplicate delivery ignored");
                return Ok(RecordAction::Duplicate { run_id: run.run_id });
            }
            Ok(Begin::HeldByOther { owner }) => {
                info!(run_id = %run.run_id, %owner, "another invocation is handling this run");
                return Ok(RecordAction::InProgressElsewhere {
                    run_id: run.run_id,
                    owner,
                });
            }
            Ok(begin) => {
                info!(run_id = %run.run_id, ?begin, load_complete = run.load_complete, "run claimed")
            }
            Err(error) => {
                alert_hooks_failed(config, self.notifier, &run, &error, "recording the run").await;
                return Err(PostError::Ledger {
                    run_id: run.run_id,
                    error,
                });
            }
        }

        // Hooks first (a failed or partial load of production data is masked too).
        let started = Instant::now();
        let report = if run.load_complete || self.hooks.is_configured() {
            match self.hooks.run(&run).await {
                Ok(report) => Some(report),
                Err(error) => {
                    error!(run_id = %run.run_id, permanent = error.permanent, error = %error, "post-refresh hooks failed; the rule stays disabled");
                    self.fail_run(config, &run, info, &error, "running the hooks")
                        .await;
                    return Err(PostError::Hooks {
                        run_id: run.run_id,
                        error,
                    });
                }
            }
        } else {
            None
        };

        if let Some(HookReport::Incomplete { details }) = &report {
            return self.hand_over(config, &run, info, details).await;
        }
        let (rows_affected, hook_details) = match report {
            Some(HookReport::Complete {
                rows_affected,
                details,
            }) => (rows_affected, details),
            _ => (None, Value::Null),
        };

        // Then the schedule: back on after a good run; after a failed load only
        // when configured so. A failure here leaves the run resumable.
        let reenable = run.load_complete || config.reenable_rule_on_failure;
        let rule_note = match (config.manages_rule(), reenable) {
            (Some(rule), true) => {
                if let Err(err) = self.rules.set_rule_state(rule, RuleState::Enabled).await {
                    // The hooks are done (and resumable as no-ops): record the
                    // failure, alert, and let the retry converge.
                    let error = HookError {
                        permanent: !err.is_retryable(),
                        message: format!("re-enabling the schedule rule {rule} failed: {err}"),
                    };
                    self.fail_run(config, &run, info, &error, "re-enabling the schedule rule")
                        .await;
                    return Err(PostError::Port(err));
                }
                info!(rule, run_id = %run.run_id, "schedule rule re-enabled");
                "re-enabled"
            }
            (Some(_), false) => "left disabled",
            (None, _) => "not managed (one-time mode)",
        };

        let done = LedgerOutcome::Done { rows_affected };
        if let Err(error) = self.ledger.finish(&run, &info.owner, &done).await {
            return Err(PostError::Ledger {
                run_id: run.run_id,
                error,
            });
        }

        let body = json!({
            "run_id": run.run_id,
            "tasks": run.tasks.iter().map(|t| json!({
                "task": t.arn, "status": t.status.as_str(), "stop_reason": t.stop_reason,
            })).collect::<Vec<_>>(),
            "outcome": if run.load_complete { "succeeded" } else { "load-failed" },
            "hooks_seconds": started.elapsed().as_secs_f64(),
            "invocations": run.invocation,
            "rows_affected": rows_affected,
            "hooks": hook_details,
            "rule": rule_note,
        });
        if run.load_complete {
            let alert = Alert {
                subject: format!("dms-refresh: run {} succeeded", run.run_id),
                summary: format!(
                    "The refresh finished{}. Rule {rule_note}.",
                    if self.hooks.is_configured() {
                        " and the post-refresh hooks ran"
                    } else {
                        "; no post-refresh hooks are configured"
                    }
                ),
                details: body,
            };
            publish_if_configured(self.notifier, config, &alert).await;
            Ok(RecordAction::Completed {
                run_id: run.run_id,
                rows_affected,
            })
        } else {
            let masked = if self.hooks.is_configured() {
                "The hooks ran on what was loaded."
            } else {
                "No hooks are configured."
            };
            let alert = Alert {
                subject: format!("dms-refresh: load FAILED for run {}", run.run_id),
                summary: format!(
                    "The DMS load did not finish: {}. {masked} Rule {rule_note}.",
                    failures
                        .iter()
                        .map(|(task, reason)| format!("{task}: {reason}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                details: body,
            };
            publish_if_configured(self.notifier, config, &alert).await;
            Ok(RecordAction::LoadFailureHandled {
                run_id: run.run_id,
                rule: rule_note,
            })
        }
    }

    /// Record a failed run (resumable by a later delivery) and alert; the
    /// schedule rule is left as it is, disabled.
    async fn fail_run(
        &self,
        config: &Config,
        run: &RunContext,
        info: &InvocationInfo,
        error: &HookError,
        doing: &str,
    ) {
        let outcome = LedgerOutcome::Failed {
            error: error.message.clone(),
        };
        if let Err(e) = self.ledger.finish(run, &info.owner, &outcome).await {
            warn!(run_id = %run.run_id, error = %e, "could not record the failure in the ledger");
        }
        alert_hooks_failed(config, self.notifier, run, error, doing).await;
    }

    async fn hand_over(
        &self,
        config: &Config,
        run: &RunContext,
        info: &InvocationInfo,
        details: &Value,
    ) -> Result<RecordAction, PostError> {
        let next = Continuation {
            run_id: run.run_id.clone(),
            invocation: run.invocation + 1,
            load_complete: Some(run.load_complete),
        };
        info!(run_id = %run.run_id, next = next.invocation, progress = %details, "deadline reached; handing over to a new invocation");
        if let Err(error) = self
            .ledger
            .finish(run, &info.owner, &LedgerOutcome::Paused)
            .await
        {
            return Err(PostError::Ledger {
                run_id: run.run_id.clone(),
                error,
            });
        }
        if let Err(e) = self.continuer.continue_run(&next).await {
            let error = HookError {
                permanent: !e.is_retryable(),
                message: e.to_string(),
            };
            alert_hooks_failed(
                config,
                self.notifier,
                run,
                &error,
                "handing the run to a new invocation",
            )
            .await;
            return Err(PostError::Continuation {
                run_id: run.run_id.clone(),
                message: e.to_string(),
            });
        }
        Ok(RecordAction::Continued {
            run_id: run.run_id.clone(),
            invocation: next.invocation,
        })
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
            let error = HookError {
                permanent: true,
                message: format!(
                    "run {} used {MAX_INVOCATIONS} invocations without finishing; raise the \
                     chunk size or the function timeout",
                    continuation.run_id
                ),
            };
            let alert = Alert {
                subject: format!("dms-refresh: run {} is stuck", continuation.run_id),
                summary: format!("{} The schedule rule stays disabled.", error.message),
                details: json!({ "run_id": continuation.run_id, "invocations": continuation.invocation }),
            };
            publish_if_configured(self.notifier, config, &alert).await;
            return Err(PostError::Hooks {
                run_id: continuation.run_id.clone(),
                error,
            });
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
            .settle_group(config, tasks, None, Some(continuation), info)
            .await?;
        Ok(outcome(action))
    }
}

async fn alert_hooks_failed<N: Notifier>(
    config: &Config,
    notifier: &N,
    run: &RunContext,
    error: &HookError,
    doing: &str,
) {
    let kind = if error.permanent {
        "permanent: fix the cause, then re-run by hand"
    } else {
        "retryable: the invocation is retried"
    };
    let alert = Alert {
        subject: format!("dms-refresh: post-refresh FAILED for run {}", run.run_id),
        summary: format!(
            "Failed while {doing} ({kind}). The schedule rule stays disabled and the target \
             must not be used until a run succeeds."
        ),
        details: json!({
            "run_id": run.run_id,
            "tasks": run.tasks.iter().map(|t| &t.arn).collect::<Vec<_>>(),
            "load_complete": run.load_complete,
            "error": error.message,
            "permanent": error.permanent,
        }),
    };
    publish_if_configured(notifier, config, &alert).await;
}

/// No hooks: the post-processor only finishes the cycle (rule, notification).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;

impl PostRefreshHooks for NoHooks {
    fn is_configured(&self) -> bool {
        false
    }

    async fn run(&self, _run: &RunContext) -> Result<HookReport, HookError> {
        Ok(HookReport::Complete {
            rows_affected: None,
            details: Value::Null,
        })
    }
}

/// A ledger in the function's memory. It remembers runs for the life of one
/// warm execution environment only: the production ledger lives in the target
/// database; this one serves deployments without hooks and tests.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    runs: Mutex<HashMap<String, (MemoryRunState, String, SystemTime)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemoryRunState {
    InProgress,
    Paused,
    Failed,
    Done,
}

impl MemoryLedger {
    /// How many runs are recorded as done.
    pub fn done_count(&self) -> usize {
        self.lock()
            .values()
            .filter(|(s, _, _)| *s == MemoryRunState::Done)
            .count()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (MemoryRunState, String, SystemTime)>> {
        self.runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl RunLedger for MemoryLedger {
    async fn begin(
        &self,
        run: &RunContext,
        owner: &str,
        lease_until: SystemTime,
    ) -> Result<Begin, HookError> {
        let mut runs = self.lock();
        let now = SystemTime::now();
        let begin = match runs.get(&run.run_id) {
            None => Begin::New,
            Some((MemoryRunState::Done, _, _)) => return Ok(Begin::AlreadyDone),
            Some((MemoryRunState::InProgress, holder, until))
                if holder != owner && *until > now =>
            {
                return Ok(Begin::HeldByOther {
                    owner: holder.clone(),
                });
            }
            Some(_) => Begin::Resumed,
        };
        runs.insert(
            run.run_id.clone(),
            (MemoryRunState::InProgress, owner.to_owned(), lease_until),
        );
        Ok(begin)
    }

    async fn finish(
        &self,
        run: &RunContext,
        owner: &str,
        outcome: &LedgerOutcome,
    ) -> Result<(), HookError> {
        let state = match outcome {
            LedgerOutcome::Done { .. } => MemoryRunState::Done,
            LedgerOutcome::Failed { .. } => MemoryRunState::Failed,
            LedgerOutcome::Paused => MemoryRunState::Paused,
        };
        self.lock().insert(
            run.run_id.clone(),
            (state, owner.to_owned(), SystemTime::UNIX_EPOCH),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars;
    use crate::events::parse_invocation;
    use crate::fakes::{FakeContinuer, FakeDms, FakeHooks, FakeNotifier, FakeRules, task};
    use crate::task::TaskStatus;

    const A: &str = "arn:aws:dms:us-east-1:123456789012:task:dms-refresh-demo";
    const B: &str = "arn:aws:dms:us-east-1:123456789012:task:second-task";
    const RULE: &str = "nightly";
    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:alerts";

    const FINISHED: &str = include_str!("../../../events/post-processor/sns-finished.json");
    const FINISHED_LEGACY: &str =
        include_str!("../../../events/post-processor/sns-finished-legacy.json");
    const FAILED: &str = include_str!("../../../events/post-processor/sns-failed.json");
    const STARTED: &str = include_str!("../../../events/post-processor/sns-started.json");
    const OTHER_TASK: &str = include_str!("../../../events/post-processor/sns-other-task.json");
    const EVENTBRIDGE: &str =
        include_str!("../../../events/post-processor/eventbridge-finished.json");
    const BATCH: &str = include_str!("../../../events/post-processor/sns-batch.json");
    const MALFORMED: &str = include_str!("../../../events/post-processor/sns-malformed.json");

    fn config(arns: &[&str], mode: &str, reenable_on_failure: bool) -> Config {
        let arns = arns.join(",");
        let pairs = [
            (vars::TASK_ARNS, arns.as_str()),
            (vars::RULE_NAME, RULE),
            (vars::INDICATOR, "data-refresh"),
            (vars::REFRESH_TYPE, "full-load"),
            (vars::MODE, mode),
            (vars::TOPIC_ARN, TOPIC),
            (
                vars::REENABLE_ON_FAILURE,
                if reenable_on_failure { "true" } else { "false" },
            ),
        ];
        crate::fakes::config(&pairs)
    }

    struct World {
        config: Config,
        dms: FakeDms,
        rules: FakeRules,
        notifier: FakeNotifier,
        ledger: MemoryLedger,
        hooks: FakeHooks,
        continuer: FakeContinuer,
    }

    impl World {
        /// The group's tasks stopped after a finished load; the rule disabled by the starter.
        fn new(arns: &[&str]) -> Self {
            let tasks = arns.iter().map(|arn| {
                let mut t = task(arn, TaskStatus::Stopped);
                t.stop_reason = Some("FULL_LOAD_ONLY_FINISHED".into());
                t
            });
            Self {
                config: config(arns, "schedule", false),
                dms: FakeDms::with_tasks(tasks),
                rules: FakeRules::with_rule(RULE, RuleState::Disabled),
                notifier: FakeNotifier::default(),
                ledger: MemoryLedger::default(),
                hooks: FakeHooks::default(),
                continuer: FakeContinuer::default(),
            }
        }

        async fn deliver_as(&self, payload: &str, owner: &str) -> Result<PostSummary, PostError> {
            let value: Value = serde_json::from_str(payload).unwrap();
            let invocation = parse_invocation(&value).unwrap();
            let ports = PostPorts {
                dms: &self.dms,
                rules: &self.rules,
                notifier: &self.notifier,
                ledger: &self.ledger,
                hooks: &self.hooks,
                continuer: &self.continuer,
            };
            let info = InvocationInfo {
                owner: owner.to_owned(),
                hooks_deadline: Instant::now() + Duration::from_secs(600),
                lease_until: SystemTime::now() + Duration::from_secs(900),
            };
            handle_invocation(&self.config, &ports, invocation, &info).await
        }

        async fn deliver(&self, payload: &str) -> Result<PostSummary, PostError> {
            self.deliver_as(payload, "request-1").await
        }

        fn subjects(&self) -> Vec<String> {
            self.notifier
                .messages()
                .into_iter()
                .map(|(_, s, _)| s)
                .collect()
        }
    }

    fn action(summary: &PostSummary) -> &RecordAction {
        &summary.records[0].action
    }

    #[tokio::test]
    async fn a_finished_load_runs_the_hooks_then_re_enables_the_rule_then_notifies() {
        let w = World::new(&[A]);
        let summary = w.deliver(FINISHED).await.unwrap();
        assert_eq!(
            action(&summary),
            &RecordAction::Completed {
                run_id: "dms-refresh-demo@1790000000".into(),
                rows_affected: Some(3)
            }
        );
        assert_eq!(w.hooks.run_count(), 1);
        assert!(w.hooks.runs()[0].load_complete);
        assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
        let messages = w.notifier.messages();
        assert_eq!(messages.len(), 1);
        assert!(messages[0].1.contains("succeeded"), "{}", messages[0].1);
        let body: Value = serde_json::from_str(&messages[0].2).unwrap();
        assert_eq!(body["details"]["run_id"], "dms-refresh-demo@1790000000");
        assert_eq!(body["details"]["rows_affected"], 3);
        assert_eq!(w.ledger.done_count(), 1);
    }

    #[tokio::test]
    async fn duplicate_deliveries_have_one_effect_per_run() {
        let w = World::new(&[A]);
        w.deliver(FINISHED).await.unwrap();
        // SNS redelivers; the old-style message for the same stop arrives too.
        let again = w.deliver(FINISHED).await.unwrap();
        let legacy = w.deliver(FINISHED_LEGACY).await.unwrap();
        let eb = w.deliver(EVENTBRIDGE).await.unwrap();
        for s in [&again, &legacy, &eb] {
            assert!(matches!(action(s), RecordAction::Duplicate { .. }), "{s:?}");
        }
        assert_eq!(w.hooks.run_count(), 1);
        assert_eq!(w.notifier.messages().len(), 1);
    }

    #[tokio::test]
    async fn concurrent_duplicates_run_the_hooks_once() {
        let w = World::new(&[A]);
        let (a, b, c) = tokio::join!(
            w.deliver_as(FINISHED, "r1"),
            w.deliver_as(FINISHED, "r2"),
            w.deliver_as(FINISHED_LEGACY, "r3")
        );
        let actions: Vec<RecordAction> = [a, b, c]
            .into_iter()
            .map(|r| action(&r.unwrap()).clone())
            .collect();
        assert_eq!(
            actions
                .iter()
                .filter(|a| matches!(a, RecordAction::Completed { .. }))
                .count(),
            1,
            "{actions:?}"
        );
        assert_eq!(w.hooks.run_count(), 1);
        assert_eq!(w.notifier.messages().len(), 1);
        // A later redelivery is a plain duplicate.
        assert!(matches!(
            action(&w.deliver(FINISHED).await.unwrap()),
            RecordAction::Duplicate { .. }
        ));
    }

    #[tokio::test]
    async fn a_new_run_of_the_same_task_is_handled_again() {
        let w = World::new(&[A]);
        w.deliver(FINISHED).await.unwrap();
        w.rules
            .set_rule_state(RULE, RuleState::Disabled)
            .await
            .unwrap();
        w.dms
            .update(A, |t| t.start_date_epoch = Some(1_790_086_400.0));
        let next = w.deliver(FINISHED).await.unwrap();
        assert_eq!(
            action(&next),
            &RecordAction::Completed {
                run_id: "dms-refresh-demo@1790086400".into(),
                rows_affected: Some(3)
            }
        );
        assert_eq!(w.hooks.run_count(), 2);
    }

    #[tokio::test]
    async fn events_of_other_tasks_and_started_events_change_nothing() {
        let w = World::new(&[A]);
        assert_eq!(
            action(&w.deliver(OTHER_TASK).await.unwrap()),
            &RecordAction::Ignored
        );
        assert_eq!(
            action(&w.deliver(STARTED).await.unwrap()),
            &RecordAction::Logged
        );
        assert_eq!(w.hooks.run_count(), 0);
        assert!(w.rules.changes().is_empty());
        assert!(w.notifier.messages().is_empty());
    }

    #[tokio::test]
    async fn the_group_waits_for_its_last_task() {
        let w = World::new(&[A, B]);
        w.dms.set_status(B, TaskStatus::Running);
        let first = w.deliver(FINISHED).await.unwrap();
        assert_eq!(
            action(&first),
            &RecordAction::Waiting {
                tasks: vec!["second-task".into()]
            }
        );
        assert_eq!(w.hooks.run_count(), 0);
        assert!(w.rules.changes().is_empty());

        w.dms.set_status(B, TaskStatus::Stopped);
        let eventbridge_for_b = EVENTBRIDGE.replace("task:dms-refresh-demo", "task:second-task");
        let last = w.deliver(&eventbridge_for_b).await.unwrap();
        assert!(
            matches!(action(&last), RecordAction::Completed { run_id, .. } if run_id.contains('+')),
            "{last:?}"
        );
        assert_eq!(w.hooks.run_count(), 1);
        assert_eq!(w.hooks.runs()[0].tasks.len(), 2);
        assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
    }

    #[tokio::test]
    async fn a_failed_load_is_masked_and_alerted_and_the_rule_stays_disabled() {
        let w = World::new(&[A]);
        w.dms.update(A, |t| {
            t.status = TaskStatus::Failed;
            t.stop_reason = Some("FATAL_ERROR".into());
            t.last_failure_message = Some("Error executing source loop".into());
            t.full_load_progress_percent = Some(40);
        });
        let summary = w.deliver(FAILED).await.unwrap();
        assert!(matches!(
            action(&summary),
            RecordAction::LoadFailureHandled {
                rule: "left disabled",
                ..
            }
        ));
        assert_eq!(w.hooks.run_count(), 1, "the partial load is masked");
        assert!(!w.hooks.runs()[0].load_complete);
        assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
        let (_, subject, body) = w.notifier.messages().remove(0);
        assert!(subject.contains("FAILED"), "{subject}");
        assert!(
            body.contains("dms-refresh-demo") && body.contains("FATAL_ERROR"),
            "{body}"
        );
        assert!(
            body.contains("Error executing source loop") && body.contains("left disabled"),
            "{body}"
        );
        // The failure is alerted once per run.
        assert!(matches!(
            action(&w.deliver(FAILED).await.unwrap()),
            RecordAction::Duplicate { .. }
        ));
        assert_eq!(w.notifier.messages().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_load_re_enables_the_rule_only_when_configured() {
        let mut w = World::new(&[A]);
        w.config = config(&[A], "schedule", true);
        w.dms.update(A, |t| t.status = TaskStatus::Failed);
        let summary = w.deliver(FAILED).await.unwrap();
        assert!(matches!(
            action(&summary),
            RecordAction::LoadFailureHandled {
                rule: "re-enabled",
                ..
            }
        ));
        assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
    }

    #[tokio::test]
    async fn without_hooks_a_failed_load_is_only_alerted() {
        let mut w = World::new(&[A]);
        w.hooks.configured = false;
        w.dms.update(A, |t| t.status = TaskStatus::Failed);
        w.deliver(FAILED).await.unwrap();
        assert_eq!(w.hooks.run_count(), 0);
        assert!(
            w.notifier.messages()[0]
                .2
                .contains("No hooks are configured")
        );
    }

    #[tokio::test]
    async fn failing_hooks_fail_closed_and_the_next_delivery_resumes() {
        let w = World::new(&[A]);
        w.hooks.then(Err(HookError {
            permanent: false,
            message: "connection reset".into(),
        }));
        let err = w.deliver(FINISHED).await.unwrap_err();
        assert_eq!(err.error_type(), "HookFailedRetryable");
        assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
        assert!(w.subjects()[0].contains("FAILED"), "{:?}", w.subjects());

        // The retry resumes the run and finishes it.
        let retry = w.deliver(FINISHED).await.unwrap();
        assert!(matches!(action(&retry), RecordAction::Completed { .. }));
        assert_eq!(w.hooks.run_count(), 2);
        assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
    }

    #[tokio::test]
    async fn a_permanent_hook_failure_is_reported_as_such() {
        let w = World::new(&[A]);
        w.hooks.then(Err(HookError {
            permanent: true,
            message: "column customers.emial does not exist".into(),
        }));
        let err = w.deliver(FINISHED).await.unwrap_err();
        assert_eq!(err.error_type(), "HookFailedPermanent");
        assert!(err.to_string().contains("emial"), "{err}");
        assert!(w.notifier.messages()[0].2.contains("permanent"));
        assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
    }

    #[tokio::test]
    async fn the_deadline_hands_the_run_to_a_continuation() {
        let w = World::new(&[A]);
        w.hooks.then(Ok(HookReport::Incomplete {
            details: json!({"table": "customers"}),
        }));
        let first = w.deliver(FINISHED).await.unwrap();
        assert_eq!(
            action(&first),
            &RecordAction::Continued {
                run_id: "dms-refresh-demo@1790000000".into(),
                invocation: 2
            }
        );
        assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
        assert!(w.notifier.messages().is_empty());
        let sent = w.continuer.sent();
        assert_eq!(sent.len(), 1);

        let payload = json!({ crate::events::CONTINUATION_KEY: sent[0] }).to_string();
        let second = w.deliver_as(&payload, "request-2").await.unwrap();
        assert!(
            matches!(action(&second), RecordAction::Completed { .. }),
            "{second:?}"
        );
        assert_eq!(w.hooks.runs()[1].invocation, 2);
        assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
        assert_eq!(w.notifier.messages().len(), 1);
    }

    #[tokio::test]
    async fn a_continuation_for_an_old_run_is_dropped() {
        let w = World::new(&[A]);
        let payload = json!({ crate::events::CONTINUATION_KEY: {"run_id": "dms-refresh-demo@1", "invocation": 2} });
        let summary = w.deliver(&payload.to_string()).await.unwrap();
        assert!(matches!(action(&summary), RecordAction::Stale { .. }));
        assert_eq!(w.hooks.run_count(), 0);
    }

    #[tokio::test]
    async fn a_stale_stop_event_for_a_running_task_is_ignored() {
        let w = World::new(&[A]);
        w.dms.set_status(A, TaskStatus::Running);
        let summary = w.deliver(FINISHED).await.unwrap();
        assert_eq!(
            action(&summary),
            &RecordAction::Stale {
                status: "running".into()
            }
        );
        assert_eq!(w.hooks.run_count(), 0);
    }

    #[tokio::test]
    async fn every_record_of_a_batch_is_handled() {
        let w = World::new(&[A]);
        let summary = w.deliver(BATCH).await.unwrap();
        let actions: Vec<_> = summary.records.iter().map(|r| &r.action).collect();
        assert!(matches!(actions[0], RecordAction::Logged));
        assert!(matches!(actions[1], RecordAction::Completed { .. }));
        assert!(matches!(actions[2], RecordAction::Duplicate { .. }));
        assert_eq!(w.hooks.run_count(), 1);
    }

    #[tokio::test]
    async fn malformed_records_fail_the_invocation_after_the_good_ones_and_touch_nothing() {
        let w = World::new(&[A]);
        let err = w.deliver(MALFORMED).await.unwrap_err();
        assert_eq!(err.error_type(), "InvalidRecord");
        let PostError::InvalidRecords {
            count,
            detail,
            summary,
        } = err
        else {
            panic!()
        };
        assert_eq!(count, 3);
        assert!(detail.contains("bad-0001"), "{detail}");
        assert_eq!(summary.records.len(), 4);
        assert_eq!(summary.records[3].action, RecordAction::Logged);
        assert!(w.rules.changes().is_empty());
        assert_eq!(w.hooks.run_count(), 0);
    }

    #[tokio::test]
    async fn a_task_left_out_of_the_run_makes_it_a_failed_load() {
        let w = World::new(&[A, B]);
        // B's start failed: it still shows last night's finished load.
        w.dms
            .update(A, |t| t.start_date_epoch = Some(1_790_086_400.0));
        let summary = w.deliver(FINISHED).await.unwrap();
        assert!(
            matches!(
                action(&summary),
                RecordAction::LoadFailureHandled {
                    rule: "left disabled",
                    ..
                }
            ),
            "{summary:?}"
        );
        assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
        assert!(
            w.notifier.messages()[0]
                .2
                .contains("not started with the rest of the group")
        );
    }

    #[tokio::test]
    async fn a_failed_rule_re_enable_alerts_and_the_retry_converges() {
        let w = World::new(&[A]);
        *w.rules.fail_changes.lock().unwrap() = true;
        let err = w.deliver(FINISHED).await.unwrap_err();
        assert_eq!(err.error_type(), "AwsTransientError");
        assert_eq!(w.hooks.run_count(), 1);
        assert!(w.subjects()[0].contains("FAILED"), "{:?}", w.subjects());
        assert!(
            w.notifier.messages()[0]
                .2
                .contains("re-enabling the schedule rule")
        );

        *w.rules.fail_changes.lock().unwrap() = false;
        let retry = w.deliver(FINISHED).await.unwrap();
        assert!(matches!(action(&retry), RecordAction::Completed { .. }));
        assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
    }

    #[tokio::test]
    async fn a_deleted_group_task_is_alerted() {
        let w = World::new(&[A]);
        w.dms.tasks.lock().unwrap().clear();
        let deleted = FINISHED
            .replace("DMS-EVENT-0079", "DMS-EVENT-0073")
            .replace(
                "Replication task has stopped. Stop Reason FULL_LOAD_ONLY_FINISHED.",
                "Replication task has been deleted.",
            );
        let summary = w.deliver(&deleted).await.unwrap();
        assert_eq!(action(&summary), &RecordAction::TaskDeleted);
        assert!(w.subjects()[0].contains("deleted"));
    }

    #[tokio::test]
    async fn a_task_still_stopping_is_retried() {
        let w = World::new(&[A]);
        w.dms.set_status(A, TaskStatus::Stopping);
        let err = w.deliver(FINISHED).await.unwrap_err();
        assert_eq!(err.error_type(), "AwsTransientError");
        assert_eq!(w.hooks.run_count(), 0);
    }

    #[tokio::test]
    async fn a_run_without_a_start_date_is_refused() {
        let w = World::new(&[A]);
        w.dms.update(A, |t| t.start_date_epoch = None);
        let err = w.deliver(FINISHED).await.unwrap_err();
        assert_eq!(err.error_type(), "HookFailedPermanent");
        assert_eq!(w.hooks.run_count(), 0);
        assert!(w.subjects()[0].contains("cannot identify"));
    }

    #[test]
    fn deadlines_are_epoch_milliseconds_or_a_duration_from_now() {
        let epoch = 1_790_000_000_000;
        assert_eq!(
            deadline_time(epoch),
            SystemTime::UNIX_EPOCH + Duration::from_millis(epoch)
        );
        let relative = deadline_time(600_000)
            .duration_since(SystemTime::now())
            .unwrap();
        assert!(relative > Duration::from_secs(590) && relative <= Duration::from_secs(600));
        let info = InvocationInfo::from_deadline_ms("r", 600_000, Duration::from_secs(60));
        let hooks = info.hooks_deadline.duration_since(Instant::now());
        assert!(
            hooks > Duration::from_secs(530) && hooks <= Duration::from_secs(540),
            "{hooks:?}"
        );
    }

    #[tokio::test]
    async fn one_time_mode_never_touches_the_rule() {
        let mut w = World::new(&[A]);
        w.config = config(&[A], "one-time", false);
        let summary = w.deliver(FINISHED).await.unwrap();
        assert!(matches!(action(&summary), RecordAction::Completed { .. }));
        assert!(w.rules.changes().is_empty());
    }
}
