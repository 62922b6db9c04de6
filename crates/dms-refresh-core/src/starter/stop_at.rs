//! `stop-at` (seed 001): every task of a CDC group stops at one source
//! commit time, so that the target is consistent there.
//!
//! DMS refuses to modify a running task (ModifyReplicationTask: "The task
//! must be stopped before you can modify it"), so a running task is stopped
//! and resumed (`resume-processing`, from DMS's own checkpoint, so no change
//! is skipped) with `CdcStopPosition`. A stopped task is resumed with it. The
//! position is recorded on the schedule rule first, so that the
//! post-processor waits for the resume instead of reporting the stop, and
//! judges the group's stop against it. Sending the same request again
//! finishes what an earlier one began.

use serde::Serialize;
use tracing::info;

use super::{StartSummary, StarterError, StarterPorts, Trigger, describe_group, start_group};
use crate::config::Config;
use crate::notify::{Alert, publish_if_configured};
use crate::ports::{FailureKind, Notifier, ReplicationTasks, ScheduleRule};
use crate::runs::{has_word, same_position};
use crate::task::{TaskInfo, TaskStatus};

/// What the request does with one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopStep {
    /// Running with this stop position already.
    AlreadySet,
    /// Stopped at this commit time already.
    AlreadyStopped,
    /// Running: stop it, then resume it with the stop position.
    Stop,
    /// Stopping: resume it once it has stopped.
    Stopping,
    /// Stopped: resume it with the stop position.
    Resume,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskStop {
    pub task_id: String,
    pub status: String,
    pub step: StopStep,
}

/// The answer of one pass of the request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StopAtSummary {
    pub position: String,
    pub dry_run: bool,
    pub tasks: Vec<TaskStop>,
    /// The resume of the tasks that were stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<StartSummary>,
    /// Tasks still stopping: the same request again resumes them.
    pub waiting: Vec<String>,
}

impl StopAtSummary {
    /// Every task runs with the stop position, or has stopped there.
    pub fn is_done(&self) -> bool {
        self.waiting.is_empty() && !self.dry_run
    }
}

fn step_for(config: &Config, task: &TaskInfo, position: &str) -> Result<StopStep, String> {
    let kind = task.migration_type.unwrap_or(config.refresh_type);
    if !kind.has_cdc() {
        return Err(format!(
            "{} is a {kind} task: it has no CDC to stop",
            task.identifier
        ));
    }
    let there = task
        .cdc_stop_position
        .as_deref()
        .is_some_and(|p| same_position(p, position));
    let stopped_there = task
        .stop_reason
        .as_deref()
        .is_some_and(|r| has_word(r, "STOPPED_AT_COMMIT_TIME"));
    match task.status {
        TaskStatus::Running if there => Ok(StopStep::AlreadySet),
        TaskStatus::Running => Ok(StopStep::Stop),
        TaskStatus::Stopping => Ok(StopStep::Stopping),
        TaskStatus::Stopped if there && stopped_there => Ok(StopStep::AlreadyStopped),
        TaskStatus::Stopped => Ok(StopStep::Resume),
        ref other => Err(format!(
            "{} is {}; stop-at handles running, stopping and stopped tasks",
            task.identifier,
            other.as_str()
        )),
    }
}

/// Plan every task, all or nothing.
fn plan(config: &Config, tasks: &[TaskInfo], position: &str) -> Result<Vec<TaskStop>, String> {
    super::plan_every(tasks, |t| {
        step_for(config, t, position).map(|step| TaskStop {
            task_id: t.identifier.clone(),
            status: t.status.as_str().to_owned(),
            step,
        })
    })
}

/// One pass of a `stop-at` request for `position` (`commit_time:...`).
pub async fn stop_at<D, R, N>(
    config: &Config,
    ports: &StarterPorts<'_, D, R, N>,
    position: &str,
    dry_run: bool,
    request_id: &str,
) -> Result<StopAtSummary, StarterError>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
{
    let tasks = describe_group(config, ports.dms).await?;
    let steps = plan(config, &tasks, position).map_err(StarterError::StopAtRefused)?;
    // The resume would be held by the move, leaving the tasks stopped.
    if let Some(rule) = config.rule_name.as_deref()
        && let Some(moving) = ports.rules.move_record(rule).await?
    {
        return Err(StarterError::StopAtRefused(format!(
            "a move to {} is recorded; send the stop-at when the move has ended",
            moving.target_instance_arn
        )));
    }
    let mut summary = StopAtSummary {
        position: position.to_owned(),
        dry_run,
        tasks: steps,
        resumed: None,
        waiting: Vec::new(),
    };
    if dry_run {
        return Ok(summary);
    }
    if let Some(rule) = config.rule_name.as_deref() {
        ports.rules.set_intended_stop(rule, Some(position)).await?;
    }
    for (task, stop) in tasks.iter().zip(&summary.tasks) {
        if stop.step == StopStep::Stop {
            stop_one(ports.dms, task).await?;
        }
    }
    let now = describe_group(config, ports.dms).await?;
    let to_resume: Vec<String> = now
        .iter()
        .zip(&summary.tasks)
        .filter(|(t, s)| {
            t.status == TaskStatus::Stopped
                && matches!(
                    s.step,
                    StopStep::Stop | StopStep::Stopping | StopStep::Resume
                )
        })
        .map(|(t, _)| t.arn.clone())
        .collect();
    summary.waiting = now
        .iter()
        .filter(|t| t.status == TaskStatus::Stopping)
        .map(|t| t.identifier.clone())
        .collect();
    if !to_resume.is_empty() {
        let only = Config {
            task_arns: to_resume,
            ..config.clone()
        };
        let trigger = Trigger::StopAt {
            dry_run,
            position: position.to_owned(),
        };
        summary.resumed =
            Some(start_group(&only, ports, trigger, request_id, Some(position)).await?);
    }
    Ok(summary)
}

/// Tell the operators what a `stop-at` request did (its last pass), so that
/// the request is on record next to the runs' messages. Nothing for a dry run.
pub async fn announce<N: Notifier>(config: &Config, notifier: &N, last: &StopAtSummary) {
    if last.dry_run {
        return;
    }
    let tasks: Vec<String> = last.tasks.iter().map(|t| t.task_id.clone()).collect();
    let summary = if last.is_done() {
        format!(
            "Every task of the group ({}) now stops at {}. When they have stopped, the \
             post-processor checks that they stopped there, together, before any hook runs.",
            tasks.join(", "),
            last.position
        )
    } else {
        format!(
            "The stop-at {} is under way: {} still stopping; send the same request again to \
             resume them with the stop position.",
            last.position,
            last.waiting.join(", ")
        )
    };
    let alert = Alert {
        subject: format!("dms-refresh: stop-at {}", last.position),
        summary,
        details: serde_json::json!({ "stop_at": last }),
    };
    publish_if_configured(notifier, config, &alert).await;
}

/// Stop a running task; a task that stopped meanwhile is fine.
pub(super) async fn stop_one<D: ReplicationTasks>(
    dms: &D,
    task: &TaskInfo,
) -> Result<(), StarterError> {
    match dms.stop_task(&task.arn).await {
        Ok(()) => {
            info!(task = %task.arn, "stopped for stop-at");
            Ok(())
        }
        Err(err) if err.kind == FailureKind::InvalidState => {
            let now = dms.describe_task(&task.arn).await?;
            match now.map(|t| t.status) {
                Some(TaskStatus::Stopped | TaskStatus::Stopping) => Ok(()),
                _ => Err(err.into()),
            }
        }
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests;
