//! What we know about a DMS replication task, and the pure decision of how (or
//! whether) to start it.

use serde::Serialize;

use crate::config::RefreshType;

/// A replication task's `Status`, as DescribeReplicationTasks reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskStatus {
    Ready,
    Creating,
    Starting,
    Running,
    Stopping,
    Stopped,
    Failed,
    Modifying,
    Moving,
    FailedMove,
    Deleting,
    Testing,
    Other(String),
}

impl TaskStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "ready" => Self::Ready,
            "creating" => Self::Creating,
            "starting" => Self::Starting,
            "running" => Self::Running,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "failed" => Self::Failed,
            "modifying" => Self::Modifying,
            "moving" => Self::Moving,
            "failed-move" => Self::FailedMove,
            "deleting" => Self::Deleting,
            "testing" => Self::Testing,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Ready => "ready",
            Self::Creating => "creating",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
            Self::Modifying => "modifying",
            Self::Moving => "moving",
            Self::FailedMove => "failed-move",
            Self::Deleting => "deleting",
            Self::Testing => "testing",
            Self::Other(s) => s,
        }
    }

    /// A task another start (ours or an operator's) already set going.
    pub fn is_starting_or_running(&self) -> bool {
        matches!(self, Self::Starting | Self::Running)
    }
}

impl Serialize for TaskStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Everything the functions read from DescribeReplicationTasks.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInfo {
    pub arn: String,
    pub identifier: String,
    pub status: TaskStatus,
    /// The task's own migration type, when DMS reports it.
    pub migration_type: Option<RefreshType>,
    pub stop_reason: Option<String>,
    pub last_failure_message: Option<String>,
    /// When the task last started, seconds since the epoch: the latest of the
    /// start dates DMS reports (see [`latest_start`]). Names the run.
    pub start_date_epoch: Option<f64>,
    /// The latest start was a `resume-processing`: the target was not
    /// reloaded (see [`resumed_without_reload`]).
    pub resumed_without_reload: bool,
    /// `ReplicationTaskStats.StopDate`: when the task last stopped.
    pub stop_date_epoch: Option<f64>,
    /// `CdcStopPosition`: where a CDC task was told to stop, if anywhere.
    pub cdc_stop_position: Option<String>,
    pub target_endpoint_arn: Option<String>,
    pub source_endpoint_arn: Option<String>,
    pub full_load_progress_percent: Option<i32>,
    /// `ReplicationInstanceArn`: the instance the task runs on.
    pub replication_instance_arn: Option<String>,
    /// `RecoveryCheckpoint`: where a CDC task would resume, the fallback of
    /// a failed move (seed 000).
    pub recovery_checkpoint: Option<String>,
}

/// The start dates DescribeReplicationTasks reports, in epoch seconds.
///
/// The API reference documents `ReplicationTaskStats.StartDate` as set by "a
/// fresh start or a resume" and `ReplicationTaskStats.FreshStartDate` as set
/// by "a fresh start or a target reload"; `ReplicationTaskStartDate` is the
/// task-level date. No single one moves on every start type, so the run is
/// named by the latest of them: start-replication, resume-processing and
/// reload-target each give a new run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StartDates {
    pub stats_start: Option<f64>,
    pub stats_fresh_start: Option<f64>,
    pub task_start: Option<f64>,
}

/// Whether the latest start resumed the task without reloading the target.
///
/// `StartDate` moves on a fresh start or a resume, `FreshStartDate` on a
/// fresh start or a target reload (the API reference fields quoted on
/// [`StartDates`]): a `StartDate` later than `FreshStartDate` means the last
/// start was a `resume-processing`. One second of slack absorbs the two dates
/// of one fresh start being recorded apart. Without both dates DMS has not
/// reported a resume, and the start counts as a reload.
pub fn resumed_without_reload(dates: StartDates) -> bool {
    const SAME_START_SECS: f64 = 1.0;
    match (dates.stats_start, dates.stats_fresh_start) {
        (Some(start), Some(fresh)) => start > fresh + SAME_START_SECS,
        _ => false,
    }
}

/// The latest of the reported start dates, if any.
pub fn latest_start(dates: StartDates) -> Option<f64> {
    [dates.stats_start, dates.stats_fresh_start, dates.task_start]
        .into_iter()
        .flatten()
        .reduce(f64::max)
}

/// `StartReplicationTaskType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartType {
    StartReplication,
    ReloadTarget,
    ResumeProcessing,
}

impl StartType {
    pub const VALUES: &'static [&'static str] =
        &["start-replication", "reload-target", "resume-processing"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StartReplication => "start-replication",
            Self::ReloadTarget => "reload-target",
            Self::ResumeProcessing => "resume-processing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "start-replication" => Some(Self::StartReplication),
            "reload-target" => Some(Self::ReloadTarget),
            "resume-processing" => Some(Self::ResumeProcessing),
            _ => None,
        }
    }
}

/// What to do with one task of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartDecision {
    Start(StartType),
    /// The task is busy (starting, running, stopping, ...): a run is going.
    Busy(String),
    /// The task cannot be started as asked (never run, failed move, unknown
    /// status, a start type that does not apply).
    Skip(String),
}

/// Decide how to start a task from its status and migration type.
///
/// `requested` is an operator's explicit start type; it is honoured only for a
/// task that can be started at all, and `start-replication` only for a task
/// that has never run. A task whose move to another replication instance
/// failed (`failed-move`) is started only on an operator's explicit
/// `reload-target` or `resume-processing`: DMS allows it, and it runs the task
/// on its old instance.
pub fn decide_start(
    status: &TaskStatus,
    migration_type: RefreshType,
    requested: Option<StartType>,
) -> StartDecision {
    use StartDecision::{Busy, Skip, Start};
    match status {
        TaskStatus::Ready => match requested {
            None | Some(StartType::StartReplication) => Start(StartType::StartReplication),
            Some(other) => Skip(format!(
                "the task has never run, so {} does not apply; use start-replication",
                other.as_str()
            )),
        },
        TaskStatus::Stopped | TaskStatus::Failed => match requested {
            Some(StartType::StartReplication) => Skip(
                "start-replication applies only to a task that has never run; \
                 use reload-target or resume-processing"
                    .into(),
            ),
            Some(other) => Start(other),
            None if migration_type.has_cdc() => Start(StartType::ResumeProcessing),
            None => Start(StartType::ReloadTarget),
        },
        TaskStatus::Starting
        | TaskStatus::Running
        | TaskStatus::Stopping
        | TaskStatus::Modifying
        | TaskStatus::Moving
        | TaskStatus::Creating
        | TaskStatus::Deleting
        | TaskStatus::Testing => Busy(format!(
            "the task is {}; it is not started again until it settles",
            status.as_str()
        )),
        TaskStatus::FailedMove => match requested {
            Some(t @ (StartType::ReloadTarget | StartType::ResumeProcessing)) => Start(t),
            _ => Skip(
                "the task's move to another replication instance failed; retry the move, or \
                 send an operator request with start_type reload-target or resume-processing \
                 to run it on its old instance"
                    .into(),
            ),
        },
        TaskStatus::Other(s) => Skip(format!("unknown task status {s:?}; not starting it")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StartDecision::{Busy, Skip, Start};

    #[test]
    fn decision_table() {
        use RefreshType::{Cdc, FullLoad, FullLoadAndCdc};
        use StartType::{ReloadTarget, ResumeProcessing, StartReplication};
        let start = |t| Some(Start(t));
        let cases: &[(&str, RefreshType, Option<StartType>, Option<StartDecision>)] = &[
            ("ready", FullLoad, None, start(StartReplication)),
            ("ready", Cdc, None, start(StartReplication)),
            ("stopped", FullLoad, None, start(ReloadTarget)),
            ("failed", FullLoad, None, start(ReloadTarget)),
            ("stopped", Cdc, None, start(ResumeProcessing)),
            ("stopped", FullLoadAndCdc, None, start(ResumeProcessing)),
            ("failed", Cdc, None, start(ResumeProcessing)),
            ("stopped", Cdc, Some(ReloadTarget), start(ReloadTarget)),
            ("stopped", FullLoad, Some(StartReplication), None),
            ("ready", FullLoad, Some(ReloadTarget), None),
            (
                "ready",
                FullLoad,
                Some(StartReplication),
                start(StartReplication),
            ),
            ("starting", FullLoad, None, None),
            ("running", FullLoad, None, None),
            ("running", FullLoad, Some(ReloadTarget), None),
            ("stopping", FullLoad, None, None),
            ("modifying", FullLoad, None, None),
            ("moving", FullLoad, None, None),
            ("creating", FullLoad, None, None),
            ("deleting", FullLoad, None, None),
            ("testing", FullLoad, None, None),
            ("failed-move", FullLoad, None, None),
            ("failed-move", FullLoad, Some(StartReplication), None),
            (
                "failed-move",
                FullLoad,
                Some(ReloadTarget),
                start(ReloadTarget),
            ),
            (
                "failed-move",
                Cdc,
                Some(ResumeProcessing),
                start(ResumeProcessing),
            ),
            ("something-new", FullLoad, None, None),
        ];
        for (status, kind, requested, expected) in cases {
            let got = decide_start(&TaskStatus::parse(status), *kind, *requested);
            match expected {
                Some(want) => assert_eq!(&got, want, "{status}/{kind}/{requested:?}"),
                None => assert!(
                    matches!(got, Skip(_) | Busy(_)),
                    "{status}/{kind}/{requested:?}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn skip_reasons_say_why() {
        let Busy(reason) = decide_start(&TaskStatus::Running, RefreshType::FullLoad, None) else {
            panic!("a running task must be busy");
        };
        assert!(reason.contains("running"), "{reason}");
        let Skip(reason) = decide_start(&TaskStatus::parse("weird"), RefreshType::FullLoad, None)
        else {
            panic!("an unknown status must be skipped");
        };
        assert!(reason.contains("weird"), "{reason}");
    }

    #[test]
    fn status_round_trips() {
        for s in [
            "ready",
            "creating",
            "starting",
            "running",
            "stopping",
            "stopped",
            "failed",
            "modifying",
            "moving",
            "failed-move",
            "deleting",
            "testing",
            "other",
        ] {
            assert_eq!(TaskStatus::parse(s).as_str(), s);
        }
        for s in StartType::VALUES {
            assert_eq!(StartType::parse(s).map(StartType::as_str), Some(*s));
        }
    }
}
