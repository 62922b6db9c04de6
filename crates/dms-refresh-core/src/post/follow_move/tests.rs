//! A move recorded on the rule: the group's events are the move's.

use crate::config::RefreshType;
use crate::fakes::{NEW_INSTANCE, OLD_INSTANCE};
use crate::moves::{MoveProgress, MoveRecord};
use crate::post::tests::{A, FINISHED, RULE, World};
use crate::post::{PostSummary, RecordAction};
use crate::task::{StartType, TaskStatus};

const CHECKPOINT: &str = "checkpoint:V1#27#mysql-bin-changelog.157832:1975:-1:2002:677883278264080:mysql-bin-changelog.157832:1876#0#0#*#0#93";
const STARTED: &str = include_str!("../../../../../events/post-processor/sns-started.json");

/// One CDC task on `instance` with `status`; a move to the new instance
/// recorded with its checkpoint.
fn moving_world(instance: &str, status: TaskStatus, resume: bool) -> World {
    let w = World::new(&[A]);
    w.dms.update(A, |t| {
        t.status = status;
        t.migration_type = Some(RefreshType::FullLoadAndCdc);
        t.stop_reason = Some("Stop Reason NORMAL".into());
        t.replication_instance_arn = Some(instance.to_owned());
    });
    let mut record = MoveRecord::new(NEW_INSTANCE, resume);
    record.keep_checkpoint(A, CHECKPOINT);
    w.rules.moves.lock().unwrap().insert(RULE.into(), record);
    w
}

fn action(summary: &PostSummary) -> &RecordAction {
    &summary.records[0].action
}

/// The stop before a move, or a stop event while DMS moves the task, is no
/// run's end: no hook runs, nothing is reported.
#[tokio::test]
async fn a_stop_during_a_move_is_waited_for_not_settled() {
    for status in [TaskStatus::Moving, TaskStatus::Stopped] {
        let w = moving_world(OLD_INSTANCE, status.clone(), false);
        let summary = w.deliver(FINISHED).await.unwrap();
        assert!(
            matches!(action(&summary), RecordAction::Waiting { tasks } if tasks.len() == 1),
            "{status:?}: {summary:?}"
        );
        assert!(w.hooks.runs.lock().unwrap().is_empty());
        assert!(w.notifier.messages().is_empty());
        assert!(w.rules.move_of(RULE).is_some());
    }
}

/// `moving` -> `stopped` on the new instance: reported, the CDC task
/// resumed with resume-processing (asked for), the record forgotten.
#[tokio::test]
async fn the_end_of_a_move_is_reported_and_cdc_tasks_resumed() {
    let w = moving_world(NEW_INSTANCE, TaskStatus::Stopped, true);
    let summary = w.deliver(FINISHED).await.unwrap();
    let RecordAction::Move { end } = action(&summary) else {
        panic!("{summary:?}");
    };
    assert_eq!(end.progress, MoveProgress::Done);
    assert_eq!(end.resumed, ["dms-refresh-demo"]);
    let starts = w.dms.starts();
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].start_type, StartType::ResumeProcessing);
    assert_eq!(w.rules.move_of(RULE), None);
    assert_eq!(w.subjects(), ["dms-refresh: tasks moved"]);
    assert!(w.hooks.runs.lock().unwrap().is_empty());
}

/// `failed-move`: alerted once with the kept checkpoint and the documented
/// ways forward; the record stays, so the request can be sent again.
#[tokio::test]
async fn a_failed_move_is_alerted_once_with_the_checkpoint() {
    let w = moving_world(OLD_INSTANCE, TaskStatus::FailedMove, true);
    let summary = w.deliver(FINISHED).await.unwrap();
    let RecordAction::Move { end } = action(&summary) else {
        panic!("{summary:?}");
    };
    assert!(matches!(end.progress, MoveProgress::Failed(_)));
    let messages = w.notifier.messages();
    assert_eq!(messages.len(), 1);
    let body = &messages[0].2;
    for needed in [
        CHECKPOINT,
        "send the same move request again",
        "resume-processing",
        "cdc_start_position",
        "\"force\": true",
    ] {
        assert!(body.contains(needed), "{needed} missing from {body}");
    }
    assert!(w.dms.starts().is_empty());
    w.deliver(FINISHED).await.unwrap();
    assert_eq!(w.notifier.messages().len(), 1, "alerted once");
    assert!(w.rules.move_of(RULE).is_some_and(|r| r.alerted_failure));
}

/// DMS's own events that are not a start, stop or failure (a move's, say)
/// are followed while a move is recorded, and only logged otherwise.
#[tokio::test]
async fn other_events_end_a_recorded_move_and_are_logged_otherwise() {
    let other = STARTED.replace("DMS-EVENT-0069", "DMS-EVENT-0093");
    let w = moving_world(NEW_INSTANCE, TaskStatus::Stopped, false);
    let summary = w.deliver(&other).await.unwrap();
    assert!(
        matches!(action(&summary), RecordAction::Move { .. }),
        "{summary:?}"
    );
    assert_eq!(w.rules.move_of(RULE), None);
    let again = w.deliver(&other).await.unwrap();
    assert_eq!(action(&again), &RecordAction::Logged);
}

/// A lost end-of-move event: the reconciler's sweep ends the move instead
/// of settling the stopped group as a run.
#[tokio::test]
async fn the_reconciler_follows_a_recorded_move() {
    let w = moving_world(NEW_INSTANCE, TaskStatus::Stopped, false);
    let sweep = w.deliver(r#"{"operation": "reconcile"}"#).await.unwrap();
    let report = sweep.reconcile.expect("a sweep report");
    assert_eq!(report.group, "moving");
    assert!(
        matches!(report.action, Some(RecordAction::Move { .. })),
        "{report:?}"
    );
    assert!(w.hooks.runs.lock().unwrap().is_empty());
    assert_eq!(w.rules.move_of(RULE), None);
}

/// A resume DMS throttles is retried by the next event or sweep: the
/// record stays until every CDC task is resumed.
#[tokio::test]
async fn a_throttled_resume_keeps_the_move_for_a_retry() {
    let w = moving_world(NEW_INSTANCE, TaskStatus::Stopped, true);
    w.dms.fail_next_start(
        A,
        crate::ports::FailureKind::Transient,
        "ThrottlingException: Rate exceeded",
    );
    let err = w.deliver(FINISHED).await.unwrap_err();
    assert_eq!(err.error_type(), "AwsTransientError");
    assert!(w.rules.move_of(RULE).is_some());
    assert!(w.notifier.messages().is_empty());
    let retry = w.deliver(FINISHED).await.unwrap();
    assert!(
        matches!(action(&retry), RecordAction::Move { .. }),
        "{retry:?}"
    );
    assert_eq!(w.dms.starts().len(), 1);
    assert_eq!(w.rules.move_of(RULE), None);
}
