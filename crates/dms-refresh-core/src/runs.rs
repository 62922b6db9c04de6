//! Pure decisions about a refresh run: has each task of the group finished
//! its load, is the group done, and what identifies the run.

use serde::Serialize;

use crate::config::RefreshType;
use crate::task::{TaskInfo, TaskStatus};

/// Stop reasons that end a full load as planned (matched as whole words,
/// since DMS embeds them in longer text such as `Stop Reason
/// FULL_LOAD_ONLY_FINISHED`).
pub const FINISHED_STOP_REASONS: &[&str] = &[
    "FULL_LOAD_ONLY_FINISHED",
    "STOPPED_AFTER_FULL_LOAD",
    "STOPPED_AFTER_CACHED_EVENTS",
    "STOPPED_AT_COMMIT_TIME",
    "STOPPED_AT_SERVER_TIME",
];

/// The stop reasons that end a CDC run: the task reached its `CdcStopPosition`.
pub const CDC_STOP_REASONS: &[&str] = &["STOPPED_AT_COMMIT_TIME", "STOPPED_AT_SERVER_TIME"];

/// Stop reasons that mean the task failed.
pub const FAILED_STOP_REASONS: &[&str] = &["FATAL_ERROR"];

/// The stop reason after which DMS restarts the task by itself
/// (`RecoverableErrorInterval` in the task settings): wait, do not fail.
pub const RECOVERABLE_STOP_REASON: &str = "RECOVERABLE_ERROR";

/// How long after a `RECOVERABLE_ERROR` stop the run waits for DMS's own
/// restart before it counts as failed.
pub const RECOVERY_WAIT_SECS: f64 = 60.0 * 60.0;

/// Where one task of the group stands for the current run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "reason")]
pub enum TaskRun {
    /// The load finished (the reason says how).
    Finished(String),
    /// Still starting, running, stopping or being restarted by DMS.
    InProgress(String),
    /// The task failed.
    Failed(String),
    /// Stopped before the full load finished (an operator stop mid-load, say).
    Interrupted(String),
    /// A CDC task stopped somewhere other than its stop position (an
    /// operator's or a maintenance stop): replication will resume, so the run
    /// is not finished. Reported; no hooks run.
    StoppedEarly(String),
    /// The task did not take part in this run of the group (never started,
    /// or started apart from the others).
    NotInRun(String),
}

/// What the post-processor is told about how runs end.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunJudge<'a> {
    /// The configured `CDC_STOP_POSITION`, if any.
    pub cdc_stop_position: Option<&'a str>,
    /// The stop position an operator's `stop-at` recorded on the rule: it
    /// takes the place of the configured one.
    pub intended_stop: Option<&'a str>,
    /// Now, in epoch seconds (bounds the wait after a recoverable error).
    pub now_epoch: f64,
}

/// `word` stands in `text` as a whole word (stop reasons come embedded in
/// longer text).
pub(crate) fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w == word)
}

/// Two stop positions name the same point (case and spaces aside).
pub fn same_position(a: &str, b: &str) -> bool {
    let norm = |p: &str| {
        p.split_whitespace()
            .collect::<String>()
            .to_ascii_lowercase()
    };
    norm(a) == norm(b)
}

impl RunJudge<'_> {
    /// Classify one task. `stop_reason_hint` is the stop reason from the event
    /// text, used only when DMS reports none (the local emulator never does).
    pub fn task_run(&self, task: &TaskInfo, stop_reason_hint: Option<&str>) -> TaskRun {
        let reason = task
            .stop_reason
            .as_deref()
            .filter(|r| !r.trim().is_empty())
            .or(stop_reason_hint)
            .unwrap_or_default();
        match &task.status {
            TaskStatus::Stopped | TaskStatus::Failed
                if has_word(reason, RECOVERABLE_STOP_REASON) =>
            {
                self.recovering(task)
            }
            TaskStatus::Failed => TaskRun::Failed(failure_text(task, reason)),
            TaskStatus::Stopped if FAILED_STOP_REASONS.iter().any(|r| has_word(reason, r)) => {
                TaskRun::Failed(failure_text(task, reason))
            }
            TaskStatus::Stopped if task.migration_type.is_some_and(RefreshType::has_cdc) => {
                self.cdc_stop(task, reason)
            }
            TaskStatus::Stopped => full_load_stop(task, reason),
            TaskStatus::Starting
            | TaskStatus::Running
            | TaskStatus::Stopping
            | TaskStatus::Modifying
            | TaskStatus::Moving => TaskRun::InProgress(task.status.as_str().to_owned()),
            // A task that never ran, is being created, tested or deleted, or whose
            // move failed will send no event that ends this run: do not wait for it.
            other => TaskRun::Interrupted(format!(
                "the task is {}; it did not finish a load for this run",
                other.as_str()
            )),
        }
    }

    /// DMS restarts a task that stopped with a recoverable error; wait for
    /// it, up to [`RECOVERY_WAIT_SECS`] after the stop.
    fn recovering(&self, task: &TaskInfo) -> TaskRun {
        let stopped_at = task
            .stop_date_epoch
            .or(task.start_date_epoch)
            .unwrap_or(0.0);
        if self.now_epoch - stopped_at > RECOVERY_WAIT_SECS {
            TaskRun::Failed(failure_text(
                task,
                &format!(
                    "RECOVERABLE_ERROR, and DMS did not restart the task within {} minutes",
                    RECOVERY_WAIT_SECS / 60.0
                ),
            ))
        } else {
            TaskRun::InProgress("recovering: DMS restarts the task after RECOVERABLE_ERROR".into())
        }
    }

    /// A CDC run is finished only at its stop position.
    fn cdc_stop(&self, task: &TaskInfo, reason: &str) -> TaskRun {
        let configured = self.intended_stop.or(self.cdc_stop_position);
        let Some(kind) = CDC_STOP_REASONS.iter().find(|r| has_word(reason, r)) else {
            if let Some(intended) = self.intended_stop
                && !task
                    .cdc_stop_position
                    .as_deref()
                    .is_some_and(|p| same_position(p, intended))
            {
                // Stopped by a stop-at request, which resumes it with the position.
                return TaskRun::InProgress(format!(
                    "stopped for the stop-at {intended}; the request resumes it with that stop \
                     position"
                ));
            }
            let shown = if reason.is_empty() {
                "no stop reason"
            } else {
                reason
            };
            return TaskRun::StoppedEarly(format!(
                "stopped ({shown}) before its CDC stop position; replication is not finished"
            ));
        };
        let position = configured.or(task.cdc_stop_position.as_deref());
        let prefix = if *kind == "STOPPED_AT_COMMIT_TIME" {
            "commit_time"
        } else {
            "server_time"
        };
        match (position, task.cdc_stop_position.as_deref(), configured) {
            (Some(p), _, _) if !p.trim_start().starts_with(prefix) => TaskRun::StoppedEarly(
                format!("stopped with {kind}, but the configured stop position is {p}"),
            ),
            (_, Some(reported), Some(configured)) if !same_position(reported, configured) => {
                TaskRun::StoppedEarly(format!(
                    "stopped at {reported}, not at the configured stop position {configured}"
                ))
            }
            (Some(p), _, _) => TaskRun::Finished(format!("{kind} {}", p.trim())),
            (None, _, _) => TaskRun::Finished((*kind).to_owned()),
        }
    }
}

fn full_load_stop(task: &TaskInfo, reason: &str) -> TaskRun {
    if let Some(finished) = FINISHED_STOP_REASONS.iter().find(|r| has_word(reason, r)) {
        return TaskRun::Finished((*finished).to_owned());
    }
    let full_load_done = task.full_load_progress_percent == Some(100);
    if has_word(reason, "NORMAL") {
        // An operator's stop: finished only if the full load got to 100 %.
        return if full_load_done {
            TaskRun::Finished("NORMAL".into())
        } else {
            TaskRun::Interrupted("stopped by an operator before the full load finished".into())
        };
    }
    if reason.is_empty() && full_load_done {
        return TaskRun::Finished("no stop reason reported; full load at 100%".into());
    }
    TaskRun::Interrupted(if reason.is_empty() {
        "stopped without a stop reason before the load finished".into()
    } else {
        format!("stopped with reason {reason}")
    })
}

/// Tasks of a group are started together; a task whose last start is older
/// than the group's latest start by more than this did not take part in the
/// current run (its start failed, or it was left out).
pub const GROUP_START_WINDOW_SECS: f64 = 15.0 * 60.0;

/// Classify every task of the group for the current run. `hint` gives the
/// stop reason from the event text for the task the event is about. A task
/// outside the run (never started, or started apart from the others) is
/// never waited for, whatever its status.
pub fn group_states<'a>(
    judge: &RunJudge<'_>,
    tasks: &[TaskInfo],
    hint: impl Fn(&TaskInfo) -> Option<&'a str>,
) -> Vec<(String, TaskRun)> {
    let latest = tasks
        .iter()
        .filter_map(|t| t.start_date_epoch)
        .fold(f64::NEG_INFINITY, f64::max);
    tasks
        .iter()
        .map(|t| {
            let state = match t.start_date_epoch {
                None => TaskRun::NotInRun("the task has never been started".into()),
                Some(s) if s < latest - GROUP_START_WINDOW_SECS => TaskRun::NotInRun(
                    "the task was not started with the rest of the group for this run".into(),
                ),
                Some(_) => judge.task_run(t, hint(t)),
            };
            (t.identifier.clone(), state)
        })
        .collect()
}

fn failure_text(task: &TaskInfo, reason: &str) -> String {
    let mut text = if reason.is_empty() {
        "FAILED".to_owned()
    } else {
        reason.to_owned()
    };
    if let Some(last) = task
        .last_failure_message
        .as_deref()
        .filter(|m| !m.is_empty())
    {
        text.push_str("; last error: ");
        text.push_str(last);
    }
    text
}

/// Where the whole refresh group stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "tasks")]
pub enum GroupRun {
    /// Some task of the run is still running: wait for its own event.
    Waiting(Vec<String>),
    /// Every task finished its load.
    Finished,
    /// Every task settled and at least one failed, was interrupted or was
    /// left out of the run.
    Failed(Vec<(String, String)>),
    /// CDC replication stopped short of its stop position, or the tasks of
    /// a group did not stop at one commit time: reported, no hooks run.
    NotFinished(Vec<(String, String)>),
}

fn collect(
    states: &[(String, TaskRun)],
    pick: impl Fn(&TaskRun) -> Option<&String>,
) -> Vec<(String, String)> {
    states
        .iter()
        .filter_map(|(id, s)| pick(s).map(|r| (id.clone(), r.clone())))
        .collect()
}

/// Fan-in over the group's task states (identifier, state).
pub fn group_run(states: &[(String, TaskRun)]) -> GroupRun {
    let waiting: Vec<String> = states
        .iter()
        .filter(|(_, s)| matches!(s, TaskRun::InProgress(_)))
        .map(|(id, _)| id.clone())
        .collect();
    if !waiting.is_empty() {
        return GroupRun::Waiting(waiting);
    }
    let failed = collect(states, |s| match s {
        TaskRun::Failed(r) | TaskRun::Interrupted(r) | TaskRun::NotInRun(r) => Some(r),
        _ => None,
    });
    if !failed.is_empty() {
        return GroupRun::Failed(failed);
    }
    let early = collect(states, |s| match s {
        TaskRun::StoppedEarly(r) => Some(r),
        _ => None,
    });
    if !early.is_empty() {
        return GroupRun::NotFinished(early);
    }
    consistency(states)
}

/// Seed 001's condition: the tasks of a CDC group are consistent only when
/// every one stopped at the same commit time. Server time is each replication
/// instance's own clock, so a group stopped at server time is reported as not
/// consistent.
fn consistency(states: &[(String, TaskRun)]) -> GroupRun {
    let stops: Vec<(&String, &String)> = states
        .iter()
        .filter_map(|(id, s)| match s {
            TaskRun::Finished(r) if CDC_STOP_REASONS.iter().any(|c| r.starts_with(c)) => {
                Some((id, r))
            }
            _ => None,
        })
        .collect();
    if stops.len() < 2 {
        return GroupRun::Finished;
    }
    let all_commit = stops
        .iter()
        .all(|(_, r)| r.starts_with("STOPPED_AT_COMMIT_TIME"));
    let first = stops[0].1;
    if all_commit && stops.iter().all(|(_, r)| same_position(r, first)) {
        return GroupRun::Finished;
    }
    let why = if all_commit {
        "the group's tasks stopped at different commit times: the target is not consistent"
    } else {
        "stopped at server time, which differs between tasks: the target is not consistent"
    };
    GroupRun::NotFinished(
        stops
            .into_iter()
            .map(|(id, r)| (id.clone(), format!("{r} ({why})")))
            .collect(),
    )
}

/// A run is identified by the group's tasks and the dates DMS started them:
/// `nightly@1790000000`, or `a@1790000000+b@1790000003` for a group. Long
/// groups are shortened to a prefix plus a stable hash.
pub fn run_id(tasks: &[TaskInfo]) -> String {
    let mut parts: Vec<(String, String)> = tasks
        .iter()
        .map(|t| {
            let started = t
                .start_date_epoch
                .map_or_else(|| "never".to_owned(), |s| format!("{}", s.floor() as i64));
            (t.arn.clone(), format!("{}@{started}", t.identifier))
        })
        .collect();
    parts.sort();
    let id = parts
        .into_iter()
        .map(|(_, p)| p)
        .collect::<Vec<_>>()
        .join("+");
    // At most 180 characters, so that `<database>/<run id>` fits the
    // ledger's 255.
    if id.len() <= 180 {
        id
    } else {
        let prefix: String = id.chars().take(160).collect();
        format!("{prefix}~{:016x}", fnv1a(id.as_bytes()))
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::task;

    const NOW: f64 = 1_790_010_000.0;

    fn judge(position: Option<&str>) -> RunJudge<'_> {
        RunJudge {
            cdc_stop_position: position,
            intended_stop: None,
            now_epoch: NOW,
        }
    }

    fn stopped(reason: Option<&str>, kind: RefreshType, progress: i32) -> TaskInfo {
        let mut t = task(
            "arn:aws:dms:us-east-1:123456789012:task:T",
            TaskStatus::Stopped,
        );
        t.stop_reason = reason.map(str::to_owned);
        t.migration_type = Some(kind);
        t.full_load_progress_percent = Some(progress);
        t
    }

    fn label(run: &TaskRun) -> &'static str {
        match run {
            TaskRun::Finished(_) => "finished",
            TaskRun::Failed(_) => "failed",
            TaskRun::Interrupted(_) => "interrupted",
            TaskRun::InProgress(_) => "in-progress",
            TaskRun::StoppedEarly(_) => "stopped-early",
            TaskRun::NotInRun(_) => "not-in-run",
        }
    }

    #[test]
    fn stop_reasons_are_matched_inside_longer_text() {
        use RefreshType::{Cdc, FullLoad, FullLoadAndCdc};
        // (API stop reason, migration type, full-load %, event text's reason, expected)
        type Case<'a> = (Option<&'a str>, RefreshType, i32, Option<&'a str>, &'a str);
        let cases: &[Case] = &[
            (
                Some("FULL_LOAD_ONLY_FINISHED"),
                FullLoad,
                100,
                None,
                "finished",
            ),
            (
                Some("Stop Reason FULL_LOAD_ONLY_FINISHED"),
                FullLoad,
                100,
                None,
                "finished",
            ),
            (Some("NORMAL"), FullLoad, 100, None, "finished"),
            (Some("NORMAL"), FullLoad, 42, None, "interrupted"),
            (
                Some("ABNORMAL_SOMETHING"),
                FullLoad,
                42,
                None,
                "interrupted",
            ),
            (
                Some("Stop Reason FATAL_ERROR Error Level FATAL"),
                FullLoad,
                42,
                None,
                "failed",
            ),
            // The emulator reports no stop reason: the event's text decides.
            (
                None,
                FullLoad,
                100,
                Some("FULL_LOAD_ONLY_FINISHED"),
                "finished",
            ),
            (Some(""), FullLoad, 30, Some("FATAL_ERROR"), "failed"),
            (None, FullLoad, 100, None, "finished"),
            (None, FullLoad, 30, None, "interrupted"),
            (
                Some("Stop Reason STOPPED_AT_COMMIT_TIME."),
                Cdc,
                0,
                None,
                "finished",
            ),
        ];
        for (reason, kind, progress, hint, want) in cases {
            let got = judge(None).task_run(&stopped(*reason, *kind, *progress), *hint);
            assert_eq!(
                label(&got),
                *want,
                "{reason:?}/{kind}/{progress}/{hint:?}: {got:?}"
            );
        }
        let _ = FullLoadAndCdc;
    }

    /// Issue 9 item 3: a CDC run is finished only at its stop position
    /// (`StopReason` STOPPED_AT_COMMIT_TIME / STOPPED_AT_SERVER_TIME in the
    /// DescribeReplicationTasks reference); an operator's or a maintenance
    /// stop (NORMAL), or a full-load-and-cdc task paused after its full load,
    /// is reported, not finished.
    #[test]
    fn a_cdc_run_is_finished_only_at_its_stop_position() {
        use RefreshType::{Cdc, FullLoadAndCdc};
        let at = |reason: &str, kind, reported: Option<&str>| {
            let mut t = stopped(Some(reason), kind, 40);
            t.cdc_stop_position = reported.map(str::to_owned);
            t
        };
        let commit = "commit_time:2026-11-21T00:00:00";
        type Case<'a> = (TaskInfo, Option<&'a str>, &'a str);
        let cases: Vec<Case> = vec![
            (at("NORMAL", Cdc, None), None, "stopped-early"),
            (
                at("NORMAL", FullLoadAndCdc, Some(commit)),
                Some(commit),
                "stopped-early",
            ),
            (
                at("STOPPED_AFTER_FULL_LOAD", FullLoadAndCdc, None),
                None,
                "stopped-early",
            ),
            (
                at("STOPPED_AFTER_CACHED_EVENTS", FullLoadAndCdc, None),
                None,
                "stopped-early",
            ),
            (
                at("STOPPED_AT_COMMIT_TIME", Cdc, Some(commit)),
                Some(commit),
                "finished",
            ),
            (
                at("STOPPED_AT_COMMIT_TIME", Cdc, Some(commit)),
                None,
                "finished",
            ),
            (
                at("STOPPED_AT_COMMIT_TIME", Cdc, None),
                Some(commit),
                "finished",
            ),
            (
                at(
                    "STOPPED_AT_COMMIT_TIME",
                    Cdc,
                    Some("commit_time:2026-11-20T00:00:00"),
                ),
                Some(commit),
                "stopped-early",
            ),
            (
                at("STOPPED_AT_SERVER_TIME", Cdc, None),
                Some(commit),
                "stopped-early",
            ),
            (
                at(
                    "STOPPED_AT_SERVER_TIME",
                    FullLoadAndCdc,
                    Some("server_time:2026-11-21T00:00:00"),
                ),
                None,
                "finished",
            ),
            (at("FATAL_ERROR", Cdc, None), None, "failed"),
        ];
        for (task, configured, want) in cases {
            let got = judge(configured).task_run(&task, None);
            assert_eq!(
                label(&got),
                want,
                "{:?}/{configured:?}: {got:?}",
                task.stop_reason
            );
        }
    }

    /// An operator's `stop-at` recorded on the rule takes the place of the
    /// configured stop position; a task it stopped (NORMAL) and has not
    /// resumed yet is waited for, not reported.
    #[test]
    fn a_recorded_stop_at_is_the_position_the_group_is_judged_against() {
        let configured = "commit_time:2026-11-21T00:00:00";
        let intended = "commit_time:2026-11-21T15:30:00";
        let judge = RunJudge {
            cdc_stop_position: Some(configured),
            intended_stop: Some(intended),
            now_epoch: NOW,
        };
        let mut t = stopped(Some("STOPPED_AT_COMMIT_TIME"), RefreshType::Cdc, 0);
        t.cdc_stop_position = Some(intended.into());
        assert_eq!(label(&judge.task_run(&t, None)), "finished");
        t.cdc_stop_position = Some(configured.into());
        assert_eq!(label(&judge.task_run(&t, None)), "stopped-early");
        let mut paused = stopped(Some("NORMAL"), RefreshType::Cdc, 0);
        assert!(matches!(
            judge.task_run(&paused, None),
            TaskRun::InProgress(r) if r.contains("stop-at")
        ));
        paused.cdc_stop_position = Some(intended.into());
        assert_eq!(label(&judge.task_run(&paused, None)), "stopped-early");
    }

    /// Issue 9 item 7: DMS restarts a task that stopped with
    /// `RECOVERABLE_ERROR`; the run waits for it, up to a bound, then fails.
    #[test]
    fn a_recoverable_error_is_waited_for_up_to_a_bound() {
        let mut t = stopped(Some("RECOVERABLE_ERROR"), RefreshType::FullLoad, 40);
        t.stop_date_epoch = Some(NOW - 60.0);
        assert_eq!(label(&judge(None).task_run(&t, None)), "in-progress");
        t.status = TaskStatus::Failed;
        assert_eq!(label(&judge(None).task_run(&t, None)), "in-progress");
        t.stop_date_epoch = Some(NOW - RECOVERY_WAIT_SECS - 1.0);
        let late = judge(None).task_run(&t, None);
        assert!(
            matches!(&late, TaskRun::Failed(r) if r.contains("did not restart")),
            "{late:?}"
        );
    }

    #[test]
    fn failures_carry_the_last_error_and_running_tasks_are_in_progress() {
        let mut t = task(
            "arn:aws:dms:us-east-1:123456789012:task:T",
            TaskStatus::Failed,
        );
        t.stop_reason = Some("FATAL_ERROR".into());
        t.last_failure_message = Some("Endpoint initialization failed".into());
        assert_eq!(
            judge(None).task_run(&t, None),
            TaskRun::Failed("FATAL_ERROR; last error: Endpoint initialization failed".into())
        );
        t.status = TaskStatus::Running;
        assert_eq!(
            judge(None).task_run(&t, None),
            TaskRun::InProgress("running".into())
        );
        for status in [
            "ready",
            "creating",
            "deleting",
            "testing",
            "failed-move",
            "new-status",
        ] {
            t.status = TaskStatus::parse(status);
            assert!(
                matches!(judge(None).task_run(&t, None), TaskRun::Interrupted(ref r) if r.contains(status)),
                "{status}"
            );
        }
    }

    /// Issue 9 items 4 and 7: a task left out of the group's run, or never
    /// started at all, is not waited for whatever its status, and makes the
    /// run a failed load instead of blocking it.
    #[test]
    fn a_task_left_out_of_the_groups_run_is_not_waited_for() {
        let mut a = stopped(Some("FULL_LOAD_ONLY_FINISHED"), RefreshType::FullLoad, 100);
        a.identifier = "a".into();
        let mut b = a.clone();
        b.identifier = "b".into();
        b.start_date_epoch = Some(1_790_000_000.0 - 86_400.0);
        b.status = TaskStatus::Running;
        let mut c = a.clone();
        c.identifier = "c".into();
        c.start_date_epoch = None;
        c.status = TaskStatus::Ready;
        let states = group_states(&judge(None), &[a.clone(), b, c], |_| None);
        assert_eq!(label(&states[0].1), "finished");
        assert!(matches!(states[1].1, TaskRun::NotInRun(ref r) if r.contains("not started")));
        assert!(matches!(states[2].1, TaskRun::NotInRun(ref r) if r.contains("never")));
        assert!(
            matches!(group_run(&states), GroupRun::Failed(ref f) if f.len() == 2),
            "{states:?}"
        );

        let mut d = a.clone();
        d.identifier = "d".into();
        d.start_date_epoch = Some(1_790_000_000.0 + 40.0);
        assert_eq!(
            group_run(&group_states(&judge(None), &[a, d], |_| None)),
            GroupRun::Finished
        );
    }

    /// Seed 001: a CDC group is consistent only when every task stopped at
    /// the same commit time; server time is not comparable across tasks.
    #[test]
    fn a_cdc_group_is_consistent_only_at_one_commit_time() {
        let fin = |id: &str, r: &str| (id.to_owned(), TaskRun::Finished(r.to_owned()));
        let t1 = "STOPPED_AT_COMMIT_TIME commit_time:2026-11-21T00:00:00";
        let t2 = "STOPPED_AT_COMMIT_TIME commit_time:2026-11-21T00:05:00";
        let s = "STOPPED_AT_SERVER_TIME server_time:2026-11-21T00:00:00";
        assert_eq!(group_run(&[fin("a", t1), fin("b", t1)]), GroupRun::Finished);
        assert!(matches!(
            group_run(&[fin("a", t1), fin("b", t2)]),
            GroupRun::NotFinished(ref r) if r[0].1.contains("different commit times")
        ));
        assert!(matches!(
            group_run(&[fin("a", s), fin("b", s)]),
            GroupRun::NotFinished(ref r) if r[1].1.contains("server time")
        ));
        assert_eq!(group_run(&[fin("a", s)]), GroupRun::Finished);
    }

    #[test]
    fn the_group_waits_for_every_task() {
        let fin = |id: &str| {
            (
                id.to_owned(),
                TaskRun::Finished("FULL_LOAD_ONLY_FINISHED".into()),
            )
        };
        assert_eq!(group_run(&[fin("a"), fin("b")]), GroupRun::Finished);
        assert_eq!(
            group_run(&[
                fin("a"),
                ("b".into(), TaskRun::InProgress("running".into()))
            ]),
            GroupRun::Waiting(vec!["b".into()])
        );
        assert_eq!(
            group_run(&[
                fin("a"),
                ("b".into(), TaskRun::Failed("FATAL_ERROR".into()))
            ]),
            GroupRun::Failed(vec![("b".into(), "FATAL_ERROR".into())])
        );
        assert_eq!(
            group_run(&[
                ("a".into(), TaskRun::Failed("x".into())),
                ("b".into(), TaskRun::InProgress("stopping".into()))
            ]),
            GroupRun::Waiting(vec!["b".into()])
        );
        assert!(matches!(
            group_run(&[
                fin("a"),
                ("b".into(), TaskRun::StoppedEarly("NORMAL".into()))
            ]),
            GroupRun::NotFinished(_)
        ));
    }

    #[test]
    fn run_ids_are_stable_and_order_free() {
        let a = task(
            "arn:aws:dms:us-east-1:123456789012:task:A",
            TaskStatus::Stopped,
        );
        let mut b = task(
            "arn:aws:dms:us-east-1:123456789012:task:B",
            TaskStatus::Stopped,
        );
        b.start_date_epoch = Some(1_790_000_003.7);
        assert_eq!(run_id(std::slice::from_ref(&a)), "A@1790000000");
        assert_eq!(run_id(&[a.clone(), b.clone()]), "A@1790000000+B@1790000003");
        assert_eq!(
            run_id(&[b.clone(), a.clone()]),
            run_id(&[a.clone(), b.clone()])
        );
        let mut next = a.clone();
        next.start_date_epoch = Some(1_790_086_400.0);
        assert_ne!(run_id(&[next]), run_id(&[a]));

        let many: Vec<TaskInfo> = (0..40)
            .map(|i| {
                task(
                    &format!("arn:aws:dms:us-east-1:123456789012:task:task-number-{i}"),
                    TaskStatus::Stopped,
                )
            })
            .collect();
        let long = run_id(&many);
        assert!(long.len() <= 180, "{}", long.len());
        assert_eq!(long, run_id(&many));
    }
}
