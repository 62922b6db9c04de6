//! `move` (seed 000): the group's tasks move to another replication instance,
//! a side-by-side DMS upgrade. Each task is stopped, its `RecoveryCheckpoint`
//! is kept (the way back if the move fails), then MoveReplicationTask moves
//! it; DMS shows `moving`, then `stopped` on the new instance, or
//! `failed-move`.
//!
//! The pure parts live here: the record kept on the schedule rule while a
//! move is under way, the plan per task, and how far a move has got. The
//! starter's request is [`crate::starter::move_group`]; the end of a move
//! (report, resume) is [`finish`], shared by the post-processor, which
//! follows the task events, and the starter, when the request is sent again.

mod finish;
mod tags;

pub use finish::{MoveEnd, finish_if_over};
pub use tags::{PREFIX as TAG_PREFIX, from_tags as record_from_tags, to_tags};

use std::collections::BTreeMap;

use serde::Serialize;

use crate::task::{TaskInfo, TaskStatus};

/// A move under way, recorded on the schedule rule so that the
/// post-processor knows the stops and `moving` states it sees are a move's,
/// not a run's end.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct MoveRecord {
    /// The replication instance the tasks move to.
    pub target_instance_arn: String,
    /// Resume the CDC tasks (`resume-processing`) once they have moved.
    pub resume: bool,
    /// Each task's `RecoveryCheckpoint` when it was stopped for the move,
    /// by the task's resource id (the last part of its ARN).
    pub checkpoints: BTreeMap<String, String>,
    /// The failure of this attempt was alerted (a new attempt clears it).
    pub alerted_failure: bool,
}

/// The part of a task ARN that names it within the account and region.
pub fn resource_id(task_arn: &str) -> &str {
    task_arn.rsplit(':').next().unwrap_or(task_arn)
}

impl MoveRecord {
    pub fn new(target_instance_arn: &str, resume: bool) -> Self {
        Self {
            target_instance_arn: target_instance_arn.to_owned(),
            resume,
            checkpoints: BTreeMap::new(),
            alerted_failure: false,
        }
    }

    pub fn checkpoint_of(&self, task_arn: &str) -> Option<&str> {
        self.checkpoints
            .get(resource_id(task_arn))
            .map(String::as_str)
    }

    /// The checkpoint kept for each of `tasks`, by task id.
    pub fn kept_for(&self, tasks: &[TaskInfo]) -> BTreeMap<String, String> {
        tasks
            .iter()
            .filter_map(|t| Some((t.identifier.clone(), self.checkpoint_of(&t.arn)?.to_owned())))
            .collect()
    }

    pub fn keep_checkpoint(&mut self, task_arn: &str, checkpoint: &str) {
        self.checkpoints
            .insert(resource_id(task_arn).to_owned(), checkpoint.to_owned());
    }
}

/// `arn:<partition>:dms:<region>:<account>:rep:<id>`, the form DMS gives a
/// replication instance ARN.
pub fn is_instance_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    parts.len() == 7
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == "dms"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5] == "rep"
        && !parts[6].is_empty()
        && parts[6]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// What the request does with one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MoveStep {
    /// On the target instance already, and not moving.
    Moved,
    /// DMS is moving it.
    Moving,
    /// Running: stop it, keep its checkpoint, then move it.
    Stop,
    /// Stopping: move it once it has stopped.
    Stopping,
    /// Stopped, failed, ready or failed-move: keep its checkpoint, move it.
    Move,
}

/// One task of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskMove {
    pub task_id: String,
    pub status: String,
    pub step: MoveStep,
    /// The instance the task is on, as DMS reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// Decide for one task.
pub fn step_for(task: &TaskInfo, target: &str) -> Result<MoveStep, String> {
    let on_target = task.replication_instance_arn.as_deref() == Some(target);
    match task.status {
        TaskStatus::Moving => Ok(MoveStep::Moving),
        TaskStatus::FailedMove => Ok(MoveStep::Move),
        TaskStatus::Stopped
        | TaskStatus::Running
        | TaskStatus::Starting
        | TaskStatus::Stopping
        | TaskStatus::Ready
        | TaskStatus::Failed
            if on_target =>
        {
            Ok(MoveStep::Moved)
        }
        TaskStatus::Running => Ok(MoveStep::Stop),
        TaskStatus::Stopping => Ok(MoveStep::Stopping),
        TaskStatus::Stopped | TaskStatus::Failed | TaskStatus::Ready => Ok(MoveStep::Move),
        ref other => Err(format!(
            "{} is {}; a move handles running, stopping, stopped, failed, ready and failed-move \
             tasks (wait until it is one of those)",
            task.identifier,
            other.as_str()
        )),
    }
}

/// Decide for every task, all or nothing.
pub fn plan(tasks: &[TaskInfo], target: &str) -> Result<Vec<TaskMove>, String> {
    crate::starter::plan_every(tasks, |t| {
        step_for(t, target).map(|step| TaskMove {
            task_id: t.identifier.clone(),
            status: t.status.as_str().to_owned(),
            step,
            instance: t.replication_instance_arn.clone(),
        })
    })
}

/// How far a recorded move has got, from the group's tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "tasks", rename_all = "kebab-case")]
pub enum MoveProgress {
    /// These tasks (id and status) are not on the target instance yet, or
    /// are still moving or stopping.
    UnderWay(Vec<String>),
    /// DMS could not move these tasks (`failed-move`), with DMS's message.
    Failed(Vec<String>),
    /// Every task is on the target instance and has stopped (or runs again).
    Done,
}

pub fn progress(tasks: &[TaskInfo], record: &MoveRecord) -> MoveProgress {
    let failed: Vec<String> = tasks
        .iter()
        .filter(|t| t.status == TaskStatus::FailedMove)
        .map(|t| match t.last_failure_message.as_deref() {
            Some(m) if !m.trim().is_empty() => format!("{}: {}", t.identifier, m.trim()),
            _ => t.identifier.clone(),
        })
        .collect();
    if !failed.is_empty() {
        return MoveProgress::Failed(failed);
    }
    let pending: Vec<String> = tasks
        .iter()
        .filter(|t| {
            step_for(t, &record.target_instance_arn) != Ok(MoveStep::Moved)
                || t.status == TaskStatus::Stopping
        })
        .map(|t| format!("{} ({})", t.identifier, t.status.as_str()))
        .collect();
    if pending.is_empty() {
        MoveProgress::Done
    } else {
        MoveProgress::UnderWay(pending)
    }
}

#[cfg(test)]
mod tests;
