//! `move` (seed 000): every task of the group moves to another replication
//! instance. One pass stops the running tasks, keeps each stopped task's
//! `RecoveryCheckpoint` on the schedule rule (and in the answer and the
//! notification), then calls MoveReplicationTask. DMS then shows `moving`,
//! and `stopped` on the new instance or `failed-move`: the post-processor
//! follows those events ([`crate::moves::finish_if_over`]). Sending the same
//! request again moves the tasks that were still stopping, and ends a move
//! whose last event was lost.

use std::collections::BTreeMap;

use serde::Serialize;
use tracing::{info, warn};

use super::{StarterError, StarterPorts, describe_group, stop_at::stop_one};
use crate::config::{Config, RefreshType};
use crate::moves::{MoveEnd, MoveRecord, MoveStep, TaskMove, finish_if_over, plan};
use crate::notify::{Alert, publish_if_configured};
use crate::ports::{Notifier, ReplicationTasks, ScheduleRule};
use crate::task::{TaskInfo, TaskStatus};

/// The answer of one pass of the request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoveSummary {
    pub target_instance_arn: String,
    pub resume: bool,
    pub dry_run: bool,
    pub tasks: Vec<TaskMove>,
    /// The recovery checkpoint kept for each task (by task id); in a dry
    /// run, the one DMS shows now.
    pub checkpoints: BTreeMap<String, String>,
    /// Tasks this pass asked DMS to move.
    pub moved: Vec<String>,
    /// Tasks DMS refused to move (task id: error).
    pub failures: Vec<String>,
    /// Tasks still stopping: the same request again moves them.
    pub waiting: Vec<String>,
    /// The end of the move, when this pass found it over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<MoveEnd>,
}

impl MoveSummary {
    /// Nothing is left for the request itself to do: every task is moving
    /// or moved (DMS and the post-processor take it from here).
    pub fn is_settled(&self) -> bool {
        self.dry_run || (self.waiting.is_empty() && self.failures.is_empty())
    }
}

/// Refuse what the deployment does not allow before reading anything.
fn check_allowed<'c>(config: &'c Config, target: &str) -> Result<&'c str, StarterError> {
    if !config.move_targets.iter().any(|t| t == target) {
        return Err(StarterError::MoveRefused(format!(
            "{target} is not one of MOVE_TARGET_INSTANCE_ARNS; add it to the template \
             parameter MoveTargetInstanceArns and deploy (the IAM policy allows \
             MoveReplicationTask to those instances only)"
        )));
    }
    config.rule_name.as_deref().ok_or_else(|| {
        StarterError::MoveRefused(
            "no SCHEDULE_RULE_NAME: the move and its recovery checkpoints are recorded on the \
             schedule rule"
                .into(),
        )
    })
}

/// A running full load is not moved: the stop would leave a partial copy
/// on the target (unmasked, in place) for as long as the move lasts.
fn refuse_during_a_load(config: &Config, tasks: &[TaskInfo]) -> Result<(), StarterError> {
    let loading: Vec<String> = tasks
        .iter()
        .filter(|t| t.status.is_starting_or_running())
        .filter(|t| {
            let kind = t.migration_type.unwrap_or(config.refresh_type);
            kind != RefreshType::Cdc && t.full_load_progress_percent.unwrap_or(0) < 100
        })
        .map(|t| t.identifier.clone())
        .collect();
    if loading.is_empty() {
        return Ok(());
    }
    Err(StarterError::MoveRefused(format!(
        "{} still loading: a move would stop the full load and leave a partial copy on the \
         target; move the group when the load has finished",
        loading.join(", ")
    )))
}

/// The record this request works under: the one under way for the same
/// instance, else a new one (keeping the checkpoints of an earlier attempt).
fn record_for(
    existing: Option<MoveRecord>,
    steps: &[TaskMove],
    target: &str,
    resume: bool,
) -> Result<MoveRecord, StarterError> {
    let mut record = match existing {
        Some(r) if r.target_instance_arn == target => r,
        Some(r) if steps.iter().any(|s| s.step == MoveStep::Moving) => {
            return Err(StarterError::MoveRefused(format!(
                "a move to {} is under way; wait for it to end",
                r.target_instance_arn
            )));
        }
        Some(r) => MoveRecord {
            target_instance_arn: target.to_owned(),
            ..r
        },
        None => MoveRecord::new(target, resume),
    };
    record.resume = resume;
    Ok(record)
}

/// One pass of a `move` request.
pub async fn move_group<D, R, N>(
    config: &Config,
    ports: &StarterPorts<'_, D, R, N>,
    target: &str,
    resume: bool,
    dry_run: bool,
) -> Result<MoveSummary, StarterError>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
{
    let rule = check_allowed(config, target)?;
    let tasks = describe_group(config, ports.dms).await?;
    let steps = plan(&tasks, target).map_err(StarterError::MoveRefused)?;
    refuse_during_a_load(config, &tasks)?;
    let existing = ports.rules.move_record(rule).await?;
    let recorded = existing.is_some();
    let mut record = record_for(existing, &steps, target, resume)?;
    let all_moved = steps.iter().all(|t| t.step == MoveStep::Moved);
    let mut summary = MoveSummary {
        target_instance_arn: target.to_owned(),
        resume,
        dry_run,
        tasks: steps,
        checkpoints: BTreeMap::new(),
        moved: Vec::new(),
        failures: Vec::new(),
        waiting: Vec::new(),
        end: None,
    };
    if dry_run {
        summary.checkpoints = preview(&tasks, &record);
        return Ok(summary);
    }
    if all_moved {
        // A recorded move whose last event was lost ends here. Without a
        // record the move ended before: nothing is resumed or announced again.
        if recorded {
            let tasks_ports = (ports.dms, ports.rules, ports.notifier);
            summary.end = finish_if_over(config, tasks_ports, &tasks, &record).await?;
        }
        summary.checkpoints = record.kept_for(&tasks);
        return Ok(summary);
    }
    ports.rules.set_move_record(rule, Some(&record)).await?;
    stop_running(ports, rule, (&tasks, &summary.tasks), recorded).await?;
    let now = describe_group(config, ports.dms).await?;
    move_stopped(ports, rule, &now, &mut record, &mut summary).await?;
    summary.checkpoints = record.kept_for(&now);
    Ok(summary)
}

/// Stop the running tasks. When the first stop fails, a record this request
/// made is taken back: nothing was stopped, and it would hold the nightly
/// start for nothing.
async fn stop_running<D, R, N>(
    ports: &StarterPorts<'_, D, R, N>,
    rule: &str,
    (tasks, steps): (&[TaskInfo], &[TaskMove]),
    recorded: bool,
) -> Result<(), StarterError>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
{
    let mut stopped = 0;
    for (task, planned) in tasks.iter().zip(steps) {
        if planned.step != MoveStep::Stop {
            continue;
        }
        if let Err(e) = stop_one(ports.dms, task).await {
            if stopped == 0
                && !recorded
                && let Err(undo) = ports.rules.set_move_record(rule, None).await
            {
                warn!(error = %undo, "the move record could not be taken back");
            }
            return Err(e);
        }
        stopped += 1;
    }
    Ok(())
}

/// Keep the checkpoint of every task ready to move, then move them.
async fn move_stopped<D, R, N>(
    ports: &StarterPorts<'_, D, R, N>,
    rule: &str,
    now: &[TaskInfo],
    record: &mut MoveRecord,
    summary: &mut MoveSummary,
) -> Result<(), StarterError>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
{
    let target = record.target_instance_arn.clone();
    let ready: Vec<&TaskInfo> = now
        .iter()
        .filter(|t| crate::moves::step_for(t, &target) == Ok(MoveStep::Move))
        .collect();
    summary.waiting = now
        .iter()
        .filter(|t| t.status == TaskStatus::Stopping)
        .map(|t| t.identifier.clone())
        .collect();
    if ready.is_empty() {
        return Ok(());
    }
    for task in &ready {
        if let Some(checkpoint) = task.recovery_checkpoint.as_deref() {
            record.keep_checkpoint(&task.arn, checkpoint);
        }
    }
    record.alerted_failure = false;
    // Kept before any move: a failed move's alert names it.
    ports.rules.set_move_record(rule, Some(record)).await?;
    for task in ready {
        match ports.dms.move_task(&task.arn, &target).await {
            Ok(()) => {
                info!(task = %task.arn, %target, "move requested");
                summary.moved.push(task.identifier.clone());
            }
            Err(e) => {
                warn!(task = %task.arn, error = %e, "DMS refused the move");
                summary.failures.push(format!("{}: {e}", task.identifier));
            }
        }
    }
    Ok(())
}

/// What a dry run shows: the checkpoint kept, else the one DMS shows now.
fn preview(tasks: &[TaskInfo], record: &MoveRecord) -> BTreeMap<String, String> {
    let mut shown: BTreeMap<String, String> = tasks
        .iter()
        .filter_map(|t| Some((t.identifier.clone(), t.recovery_checkpoint.clone()?)))
        .collect();
    shown.extend(record.kept_for(tasks));
    shown
}

/// Tell the operators what a `move` request did (its last pass), with the
/// checkpoints kept. Nothing for a dry run; the end of a move has its own
/// message.
pub async fn announce<N: Notifier>(config: &Config, notifier: &N, last: &MoveSummary) {
    if last.dry_run || last.end.is_some() {
        return;
    }
    let mut text = format!(
        "Moving the group to {}: DMS is moving {}.",
        last.target_instance_arn,
        if last.moved.is_empty() {
            "no new task".to_owned()
        } else {
            last.moved.join(", ")
        }
    );
    if !last.waiting.is_empty() {
        text.push_str(&format!(
            " Still stopping: {}; send the same request again to move them.",
            last.waiting.join(", ")
        ));
    }
    if !last.failures.is_empty() {
        text.push_str(&format!(" DMS refused: {}.", last.failures.join("; ")));
    }
    let kept: Vec<String> = last
        .checkpoints
        .iter()
        .map(|(task, cp)| format!("{task}: {cp}"))
        .collect();
    if !kept.is_empty() {
        text.push_str(&format!(" Recovery checkpoints kept: {}.", kept.join("; ")));
    }
    let alert = Alert {
        subject: format!("dms-refresh: move to {}", last.target_instance_arn),
        summary: text,
        details: serde_json::json!({ "move": last }),
    };
    publish_if_configured(notifier, config, &alert).await;
}

#[cfg(test)]
mod tests;
