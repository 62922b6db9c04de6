//! Deciding for the whole refresh group before anything starts: per task,
//! then all-or-nothing.

use tracing::warn;

use super::lock::started_under_lock;
use crate::config::{Config, RefreshType};
use crate::task::{StartDecision, StartType, TaskInfo, TaskStatus, decide_start};

/// One task of the group and what will be done with it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTask {
    pub task: TaskInfo,
    pub decision: StartDecision,
    /// Started since this invocation took the lock (whatever its status
    /// now): an earlier attempt of the same invocation started it.
    pub started_under_lock: bool,
}

/// Decide per task. With `own_since` (a retry of the invocation holding the
/// lock), a task started since then is this invocation's own start and
/// counts as started, even if it has already stopped again.
pub fn plan(
    config: &Config,
    tasks: Vec<TaskInfo>,
    requested: Option<StartType>,
    own_since: Option<u64>,
) -> Vec<PlannedTask> {
    tasks
        .into_iter()
        .map(|task| {
            let migration_type = task.migration_type.unwrap_or(config.refresh_type);
            if task.migration_type.is_some_and(|t| t != config.refresh_type) {
                warn!(task = %task.arn, configured = %config.refresh_type, actual = ?task.migration_type,
                      "the task's migration type differs from REFRESH_TYPE; deciding by the task's own");
            }
            let ours =
                own_since.is_some_and(|since| started_under_lock(task.start_date_epoch, since));
            let decision = if ours {
                StartDecision::Start(requested.unwrap_or(StartType::ReloadTarget))
            } else {
                decide_start(&task.status, migration_type, requested)
            };
            PlannedTask {
                task,
                decision,
                started_under_lock: ours,
            }
        })
        .collect()
}

/// A CDC start point applies only to CDC-only tasks (migration type `cdc`),
/// any other task of the group cannot start as asked. A CDC-only task that
/// is not busy starts with `start-replication` even if it ran before:
/// StartReplicationTaskType (API reference) requires it for a CDC-only task
/// starting from a position.
pub fn plan_cdc_start(config: &Config, plan: &mut [PlannedTask]) {
    for p in plan.iter_mut() {
        let kind = p.task.migration_type.unwrap_or(config.refresh_type);
        // A failed-move task "can be started" (seed 000): from a recovery
        // checkpoint is one way forward after a failed move.
        let idle = matches!(
            p.task.status,
            TaskStatus::Ready | TaskStatus::Stopped | TaskStatus::Failed | TaskStatus::FailedMove
        );
        if kind != RefreshType::Cdc {
            if !matches!(p.decision, StartDecision::Busy(_)) {
                p.decision = StartDecision::Skip(format!(
                    "a CDC start point applies only to a CDC-only task; this one is {kind}"
                ));
            }
        } else if idle && !p.started_under_lock {
            p.decision = StartDecision::Start(StartType::StartReplication);
        }
    }
}

/// Decide for every task with `step`, all or nothing: every refusal,
/// joined, or every step.
pub fn plan_every<T>(
    tasks: &[TaskInfo],
    step: impl Fn(&TaskInfo) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let (steps, refusals): (Vec<_>, Vec<_>) = tasks.iter().map(step).partition(Result::is_ok);
    if refusals.is_empty() {
        Ok(steps.into_iter().filter_map(Result::ok).collect())
    } else {
        let why: Vec<String> = refusals.into_iter().filter_map(Result::err).collect();
        Err(why.join("; "))
    }
}

/// The rule refuses every start.
pub fn refuse_all(plan: &mut [PlannedTask], reason: &str) {
    for p in plan.iter_mut() {
        if matches!(p.decision, StartDecision::Start(_)) && !p.started_under_lock {
            p.decision = StartDecision::Skip(reason.to_owned());
        }
    }
}

/// A group starts all-or-nothing: when some task would start and another
/// cannot, none is started. Returns the tasks that block (task id, reason)
/// for the alert: every task that cannot be started as asked, and, when
/// others could start, the busy ones. With `allow_partial` (an operator's
/// override) the others start anyway. A group whose tasks are all busy (a
/// run is going) blocks nothing.
pub fn all_or_nothing(plan: &mut [PlannedTask], allow_partial: bool) -> Vec<(String, String)> {
    let startable = plan
        .iter()
        .any(|p| matches!(p.decision, StartDecision::Start(_)));
    let blockers: Vec<(String, String)> = plan
        .iter()
        .filter_map(|p| match &p.decision {
            StartDecision::Skip(r) => Some((p.task.identifier.clone(), r.clone())),
            StartDecision::Busy(r) if startable => Some((p.task.identifier.clone(), r.clone())),
            _ => None,
        })
        .collect();
    if startable && !blockers.is_empty() && !allow_partial {
        let names: Vec<&str> = blockers.iter().map(|(id, _)| id.as_str()).collect();
        let reason = format!(
            "not started: the group starts all-or-nothing and {} cannot start",
            names.join(", ")
        );
        for p in plan.iter_mut() {
            if matches!(p.decision, StartDecision::Start(_)) && !p.started_under_lock {
                p.decision = StartDecision::Skip(reason.clone());
            }
        }
    }
    blockers
}
