//! Pure decisions about a refresh run: has each task of the group finished
//! its load, is the group done, and what identifies the run.

use serde::Serialize;

use crate::config::RefreshType;
use crate::task::{TaskInfo, TaskStatus};

/// Stop reasons that end a run as planned (matched as whole words, since DMS
/// embeds them in longer text such as `Stop Reason FULL_LOAD_ONLY_FINISHED`).
pub const FINISHED_STOP_REASONS: &[&str] = &[
    "FULL_LOAD_ONLY_FINISHED",
    "STOPPED_AFTER_FULL_LOAD",
    "STOPPED_AFTER_CACHED_EVENTS",
    "STOPPED_AT_COMMIT_TIME",
    "STOPPED_AT_SERVER_TIME",
];

/// Stop reasons that mean the task failed.
pub const FAILED_STOP_REASONS: &[&str] = &["FATAL_ERROR", "RECOVERABLE_ERROR"];

/// Where one task of the group stands for the current run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "reason")]
pub enum TaskRun {
    /// The load finished (the reason says how).
    Finished(String),
    /// Still starting, running or stopping.
    InProgress(String),
    /// The task failed.
    Failed(String),
    /// Stopped before the load finished (an operator stop mid-load, say).
    Interrupted(String),
}

fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w == word)
}

/// Classify one task. `stop_reason_hint` is the stop reason from the event
/// text, used only when DMS reports none (the local emulator never does).
pub fn task_run(task: &TaskInfo, stop_reason_hint: Option<&str>) -> TaskRun {
    let reason = task
        .stop_reason
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .or(stop_reason_hint)
        .unwrap_or_default();
    match &task.status {
        TaskStatus::Failed => TaskRun::Failed(failure_text(task, reason)),
        TaskStatus::Stopped => {
            if let Some(finished) = FINISHED_STOP_REASONS.iter().find(|r| has_word(reason, r)) {
                return TaskRun::Finished((*finished).to_owned());
            }
            if FAILED_STOP_REASONS.iter().any(|r| has_word(reason, r)) {
                return TaskRun::Failed(failure_text(task, reason));
            }
            let full_load_done = task.full_load_progress_percent == Some(100);
            let cdc = task.migration_type.is_some_and(RefreshType::has_cdc);
            if has_word(reason, "NORMAL") {
                // An operator's stop: the end of a CDC run, or a full load
                // stopped by hand, finished only if it got to 100 %.
                return if cdc || full_load_done {
                    TaskRun::Finished("NORMAL".into())
                } else {
                    TaskRun::Interrupted(
                        "stopped by an operator before the full load finished".into(),
                    )
                };
            }
            if reason.is_empty() && full_load_done && !cdc {
                return TaskRun::Finished("no stop reason reported; full load at 100%".into());
            }
            TaskRun::Interrupted(if reason.is_empty() {
                "stopped without a stop reason before the load finished".into()
            } else {
                format!("stopped with reason {reason}")
            })
        }
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

/// Tasks of a group are started together; a task whose last start is older
/// than the group's latest start by more than this did not take part in the
/// current run (its start failed, or it was left out).
pub const GROUP_START_WINDOW_SECS: f64 = 15.0 * 60.0;

/// Classify every task of the group for the current run. `hint` gives the
/// stop reason from the event text for the task the event is about.
pub fn group_states<'a>(
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
            let state = match task_run(t, hint(t)) {
                TaskRun::Finished(_)
                    if t.start_date_epoch
                        .is_some_and(|s| s < latest - GROUP_START_WINDOW_SECS) =>
                {
                    TaskRun::Interrupted(
                        "the task was not started with the rest of the group for this run".into(),
                    )
                }
                state => state,
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
    /// Some task is still running: wait for its own event.
    Waiting(Vec<String>),
    /// Every task finished its load.
    Finished,
    /// Every task settled and at least one failed or was interrupted.
    Failed(Vec<(String, String)>),
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
    let failed: Vec<(String, String)> = states
        .iter()
        .filter_map(|(id, s)| match s {
            TaskRun::Failed(r) | TaskRun::Interrupted(r) => Some((id.clone(), r.clone())),
            _ => None,
        })
        .collect();
    if failed.is_empty() {
        GroupRun::Finished
    } else {
        GroupRun::Failed(failed)
    }
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
    if id.len() <= 200 {
        id
    } else {
        let prefix: String = id.chars().take(180).collect();
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
            (
                Some("STOPPED_AFTER_FULL_LOAD"),
                FullLoadAndCdc,
                100,
                None,
                "finished",
            ),
            (
                Some("STOPPED_AFTER_CACHED_EVENTS"),
                FullLoadAndCdc,
                100,
                None,
                "finished",
            ),
            (
                Some("Stop Reason STOPPED_AT_COMMIT_TIME."),
                Cdc,
                0,
                None,
                "finished",
            ),
            (Some("NORMAL"), Cdc, 0, None, "finished"),
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
            (Some("RECOVERABLE_ERROR"), Cdc, 0, None, "failed"),
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
            (None, Cdc, 100, None, "interrupted"),
        ];
        for (reason, kind, progress, hint, want) in cases {
            let got = task_run(&stopped(*reason, *kind, *progress), *hint);
            let label = match got {
                TaskRun::Finished(_) => "finished",
                TaskRun::Failed(_) => "failed",
                TaskRun::Interrupted(_) => "interrupted",
                TaskRun::InProgress(_) => "in-progress",
            };
            assert_eq!(
                label, *want,
                "{reason:?}/{kind}/{progress}/{hint:?}: {got:?}"
            );
        }
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
            task_run(&t, None),
            TaskRun::Failed("FATAL_ERROR; last error: Endpoint initialization failed".into())
        );
        t.status = TaskStatus::Running;
        assert_eq!(task_run(&t, None), TaskRun::InProgress("running".into()));
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
                matches!(task_run(&t, None), TaskRun::Interrupted(ref r) if r.contains(status)),
                "{status}"
            );
        }
    }

    #[test]
    fn a_task_left_out_of_the_groups_run_does_not_count_as_finished() {
        let mut a = stopped(Some("FULL_LOAD_ONLY_FINISHED"), RefreshType::FullLoad, 100);
        a.identifier = "a".into();
        let mut b = a.clone();
        b.identifier = "b".into();
        b.start_date_epoch = Some(1_790_000_000.0 - 86_400.0);
        let states = group_states(&[a.clone(), b], |_| None);
        assert!(matches!(states[0].1, TaskRun::Finished(_)));
        assert!(matches!(states[1].1, TaskRun::Interrupted(ref r) if r.contains("not started")));
        assert_eq!(
            group_run(&states),
            GroupRun::Failed(vec![(
                "b".into(),
                "the task was not started with the rest of the group for this run".into()
            )])
        );

        let mut c = a.clone();
        c.identifier = "c".into();
        c.start_date_epoch = Some(1_790_000_000.0 + 40.0);
        assert_eq!(
            group_run(&group_states(&[a, c], |_| None)),
            GroupRun::Finished
        );
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
        assert!(long.len() <= 200, "{}", long.len());
        assert_eq!(long, run_id(&many));
    }
}
