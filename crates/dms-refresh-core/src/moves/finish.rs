//! The end of a recorded move: reported once, and on success the CDC tasks
//! resumed (when the request asked) and the record forgotten. The
//! post-processor calls it on each task event while a move is recorded; the
//! starter calls it when the `move` request is sent again, so that a lost
//! event does not leave the move open.

use std::collections::BTreeMap;

use serde::Serialize;
use tracing::{info, warn};

use super::{MoveProgress, MoveRecord, progress};
use crate::config::Config;
use crate::notify::{Alert, publish_if_configured};
use crate::ports::{
    FailureKind, Notifier, PortError, ReplicationTasks, ScheduleRule, StartRequest,
};
use crate::task::{StartType, TaskInfo, TaskStatus};

/// What the end of a move did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoveEnd {
    pub progress: MoveProgress,
    pub target_instance_arn: String,
    /// The recovery checkpoint kept for each task (by task id).
    pub checkpoints: BTreeMap<String, String>,
    /// Tasks resumed with `resume-processing` on the new instance.
    pub resumed: Vec<String>,
    /// Resumes DMS refused (task id: error); the move itself is done.
    pub resume_failures: Vec<String>,
}

/// Ends the recorded move when it is over; `None` while it is under way.
/// A failed move keeps its record (the request can be sent again) and is
/// alerted once per attempt.
pub async fn finish_if_over<D, R, N>(
    config: &Config,
    (dms, rules, notifier): (&D, &R, &N),
    tasks: &[TaskInfo],
    record: &MoveRecord,
) -> Result<Option<MoveEnd>, PortError>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
{
    let state = progress(tasks, record);
    let mut end = MoveEnd {
        progress: state.clone(),
        target_instance_arn: record.target_instance_arn.clone(),
        checkpoints: record.kept_for(tasks),
        resumed: Vec::new(),
        resume_failures: Vec::new(),
    };
    let Some(rule) = config.rule_name.as_deref() else {
        return Ok(None);
    };
    match state {
        MoveProgress::UnderWay(_) => Ok(None),
        MoveProgress::Failed(_) if record.alerted_failure => Ok(Some(end)),
        MoveProgress::Failed(_) => {
            let delivered = publish_if_configured(notifier, config, &failed_alert(&end)).await;
            if delivered || config.notification_topic_arn.is_none() {
                let mut alerted = record.clone();
                alerted.alerted_failure = true;
                rules.set_move_record(rule, Some(&alerted)).await?;
            }
            Ok(Some(end))
        }
        MoveProgress::Done => {
            if record.resume {
                resume(config, dms, tasks, &mut end).await?;
            }
            rules.set_move_record(rule, None).await?;
            info!(target = %record.target_instance_arn, resumed = ?end.resumed, "move finished");
            publish_if_configured(notifier, config, &done_alert(&end)).await;
            Ok(Some(end))
        }
    }
}

/// Resume each stopped CDC task; a task already running counts as resumed.
/// A refusal that a retry may get past (throttling) is returned, so that the
/// record stays and the next event or sweep resumes what is left.
async fn resume<D: ReplicationTasks>(
    config: &Config,
    dms: &D,
    tasks: &[TaskInfo],
    end: &mut MoveEnd,
) -> Result<(), PortError> {
    for task in tasks {
        let kind = task.migration_type.unwrap_or(config.refresh_type);
        if !kind.has_cdc() || task.status != TaskStatus::Stopped {
            continue;
        }
        let request = StartRequest {
            task_arn: task.arn.clone(),
            start_type: StartType::ResumeProcessing,
            cdc_stop_position: crate::starter::cdc_stop_position(config, task),
            cdc_start: None,
        };
        match dms.start_task(&request).await {
            Ok(()) => end.resumed.push(task.identifier.clone()),
            Err(e) if e.kind == FailureKind::InvalidState => {
                info!(task = %task.arn, error = %e, "resume refused; the task was set going already");
                end.resumed.push(task.identifier.clone());
            }
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                warn!(task = %task.arn, error = %e, "resume after the move failed");
                end.resume_failures
                    .push(format!("{}: {e}", task.identifier));
            }
        }
    }
    Ok(())
}

fn done_alert(end: &MoveEnd) -> Alert {
    let resumed = if end.resumed.is_empty() {
        "No task was resumed: start them when ready (the CDC tasks with resume-processing)."
            .to_owned()
    } else {
        format!(
            "Resumed with resume-processing: {}.",
            end.resumed.join(", ")
        )
    };
    let failures = if end.resume_failures.is_empty() {
        String::new()
    } else {
        format!(
            " Could not resume: {}; start them by hand.",
            end.resume_failures.join("; ")
        )
    };
    Alert {
        subject: "dms-refresh: tasks moved".into(),
        summary: format!(
            "Every task of the group is on {}. {resumed}{failures}",
            end.target_instance_arn
        ),
        details: serde_json::json!({ "move": end }),
    }
}

fn failed_alert(end: &MoveEnd) -> Alert {
    let failed = match &end.progress {
        MoveProgress::Failed(tasks) => tasks.join("; "),
        _ => String::new(),
    };
    let kept = if end.checkpoints.is_empty() {
        "No recovery checkpoint was kept (a full-load task has none).".to_owned()
    } else {
        let each: Vec<String> = end
            .checkpoints
            .iter()
            .map(|(task, cp)| format!("{task}: {cp}"))
            .collect();
        format!("Recovery checkpoints kept: {}.", each.join("; "))
    };
    Alert {
        subject: "dms-refresh: move failed".into(),
        summary: format!(
            "DMS could not move {failed} to {}. {kept} Ways forward: (1) send the same move \
             request again (a failed-move task can be moved again); (2) start the task on its \
             old instance with {{\"operation\": \"start\", \"start_type\": \
             \"resume-processing\", \"force\": true}}; (3) if it cannot resume, start CDC from \
             its checkpoint with {{\"operation\": \"start\", \"cdc_start_position\": \
             \"<checkpoint>\", \"force\": true}} (a group of one CDC-only task: the \
             position applies to every task of the group, and each has its own checkpoint). Until then the nightly \
             refresh is held; \"force\" goes past the move and forgets it.",
            end.target_instance_arn
        ),
        details: serde_json::json!({ "move": end }),
    }
}
