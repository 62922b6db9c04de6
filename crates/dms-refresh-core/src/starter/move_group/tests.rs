//! `move` against in-memory doubles of DMS and the rule.

use super::*;
use crate::config::{RefreshType, vars};
use crate::fakes::{FakeDms, FakeNotifier, FakeRules, NEW_INSTANCE, OLD_INSTANCE, task};
use crate::moves::MoveProgress;
use crate::ports::RuleState;
use crate::task::StartType;

const A: &str = "arn:aws:dms:eu-west-1:123456789012:task:A";
const B: &str = "arn:aws:dms:eu-west-1:123456789012:task:B";
const RULE: &str = "nightly";
const CHECKPOINT_A: &str = "checkpoint:V1#27#mysql-bin-changelog.157832:1975:-1:2002:677883278264080:mysql-bin-changelog.157832:1876#0#0#*#0#93";

fn config() -> Config {
    crate::fakes::config(&[
        (vars::TASK_ARNS, &format!("{A},{B}")),
        (vars::RULE_NAME, RULE),
        (vars::INDICATOR, "data-migration"),
        (vars::REFRESH_TYPE, "full-load-and-cdc"),
        (vars::MODE, "one-time"),
        (vars::TOPIC_ARN, "arn:aws:sns:eu-west-1:123456789012:alerts"),
        (vars::MOVE_TARGETS, NEW_INSTANCE),
    ])
}

/// A CDC task with a recovery checkpoint once it has run.
fn cdc(arn: &str, status: TaskStatus, checkpoint: Option<&str>) -> TaskInfo {
    let mut t = task(arn, status);
    t.migration_type = Some(RefreshType::FullLoadAndCdc);
    t.recovery_checkpoint = checkpoint.map(str::to_owned);
    t
}

struct World {
    dms: FakeDms,
    rules: FakeRules,
    notifier: FakeNotifier,
}

impl World {
    fn new(tasks: Vec<TaskInfo>) -> Self {
        Self {
            dms: FakeDms::with_tasks(tasks),
            rules: FakeRules::with_rule(RULE, RuleState::Enabled),
            notifier: FakeNotifier::default(),
        }
    }

    fn ports(&self) -> StarterPorts<'_, FakeDms, FakeRules, FakeNotifier> {
        StarterPorts {
            dms: &self.dms,
            rules: &self.rules,
            notifier: &self.notifier,
            before_load: None,
        }
    }

    async fn send(&self, dry_run: bool) -> Result<MoveSummary, StarterError> {
        move_group(&config(), &self.ports(), NEW_INSTANCE, true, dry_run).await
    }
}

/// The nightly schedule's invocation.
fn scheduled() -> super::super::Trigger {
    super::super::Trigger::Schedule {
        event_id: Some("e1".into()),
        rule_arns: Vec::new(),
        time: None,
    }
}

/// An operator's start with `"force": true`.
fn forced() -> super::super::Trigger {
    super::super::Trigger::Operator {
        dry_run: false,
        start_type: None,
        allow_partial: false,
        force: true,
        cdc_start: None,
    }
}

fn steps(summary: &MoveSummary) -> Vec<MoveStep> {
    summary.tasks.iter().map(|t| t.step).collect()
}

#[tokio::test]
async fn a_dry_run_plans_shows_the_checkpoints_and_touches_nothing() {
    let w = World::new(vec![
        cdc(A, TaskStatus::Running, Some(CHECKPOINT_A)),
        cdc(B, TaskStatus::Stopped, None),
    ]);
    let summary = w.send(true).await.unwrap();
    assert_eq!(steps(&summary), [MoveStep::Stop, MoveStep::Move]);
    assert_eq!(
        summary.checkpoints.get("A").map(String::as_str),
        Some(CHECKPOINT_A)
    );
    assert!(summary.is_settled());
    announce(&config(), &w.notifier, &summary).await;
    assert!(w.notifier.messages().is_empty());
    assert!(w.dms.stops().is_empty() && w.dms.moves().is_empty());
    assert_eq!(w.rules.move_of(RULE), None);
}

/// Seed 000's order: stop, keep the recovery checkpoint, move. The
/// checkpoint is on the rule before MoveReplicationTask is called.
#[tokio::test]
async fn running_tasks_are_stopped_their_checkpoints_kept_then_moved() {
    let w = World::new(vec![
        cdc(A, TaskStatus::Running, Some(CHECKPOINT_A)),
        cdc(B, TaskStatus::Running, Some("checkpoint:V1#B")),
    ]);
    let summary = w.send(false).await.unwrap();
    assert_eq!(w.dms.stops(), [A, B]);
    assert_eq!(
        w.dms.moves(),
        [
            (A.to_owned(), NEW_INSTANCE.to_owned()),
            (B.to_owned(), NEW_INSTANCE.to_owned())
        ]
    );
    assert_eq!(summary.moved, ["A", "B"]);
    assert!(summary.is_settled(), "{summary:?}");
    let record = w.rules.move_of(RULE).expect("the move is recorded");
    assert_eq!(record.checkpoint_of(A), Some(CHECKPOINT_A));
    assert_eq!(record.checkpoint_of(B), Some("checkpoint:V1#B"));
    assert!(record.resume);

    announce(&config(), &w.notifier, &summary).await;
    let messages = w.notifier.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].2.contains(CHECKPOINT_A), "{messages:?}");

    // Sent again while DMS moves them: nothing more is called.
    let again = w.send(false).await.unwrap();
    assert_eq!(steps(&again), [MoveStep::Moving, MoveStep::Moving]);
    assert_eq!((w.dms.stops().len(), w.dms.moves().len()), (2, 2));
}

/// A task still stopping is moved by the next pass; its checkpoint is the
/// one DMS shows once it has stopped.
#[tokio::test]
async fn a_task_still_stopping_is_moved_by_the_next_pass() {
    let w = World::new(vec![
        cdc(A, TaskStatus::Running, Some(CHECKPOINT_A)),
        cdc(B, TaskStatus::Stopped, None),
    ]);
    *w.dms.stop_slowly.lock().unwrap() = true;
    let first = w.send(false).await.unwrap();
    assert_eq!(first.waiting, ["A"]);
    assert!(!first.is_settled());
    assert_eq!(
        w.dms.moves().len(),
        1,
        "B, stopped already, is moved at once"
    );
    w.dms.set_status(A, TaskStatus::Stopped);
    let second = w.send(false).await.unwrap();
    assert_eq!(steps(&second), [MoveStep::Move, MoveStep::Moving]);
    assert_eq!(second.moved, ["A"]);
    assert_eq!(
        w.rules.move_of(RULE).unwrap().checkpoint_of(A),
        Some(CHECKPOINT_A)
    );
}

/// Once DMS has moved every task, sending the request again ends the move
/// (the post-processor normally does): CDC tasks resumed, record forgotten.
#[tokio::test]
async fn the_request_sent_again_ends_a_finished_move_and_resumes_cdc_tasks() {
    let w = World::new(vec![
        cdc(A, TaskStatus::Stopped, Some(CHECKPOINT_A)),
        cdc(B, TaskStatus::Stopped, None),
    ]);
    w.send(false).await.unwrap();
    w.dms.end_move(A, true);
    w.dms.end_move(B, true);
    let end = w.send(false).await.unwrap();
    assert_eq!(steps(&end), [MoveStep::Moved, MoveStep::Moved]);
    let finished = end.end.expect("the move ended");
    assert_eq!(finished.progress, MoveProgress::Done);
    assert_eq!(finished.resumed, ["A", "B"]);
    for start in w.dms.starts() {
        assert_eq!(start.start_type, StartType::ResumeProcessing);
    }
    assert_eq!(w.rules.move_of(RULE), None);
    assert!(w.notifier.messages()[0].1.contains("moved"));
}

#[tokio::test]
async fn a_move_is_refused_before_anything_changes() {
    // A task being created or modified cannot be moved; nor can the group
    // go to an instance the deployment does not allow.
    let w = World::new(vec![
        cdc(A, TaskStatus::Running, None),
        cdc(B, TaskStatus::Modifying, None),
    ]);
    let err = w.send(false).await.unwrap_err();
    assert_eq!(err.error_type(), "MoveRefused");
    assert!(err.to_string().contains("B is modifying"), "{err}");
    let elsewhere = move_group(&config(), &w.ports(), OLD_INSTANCE, false, false).await;
    let err = elsewhere.unwrap_err();
    assert!(
        err.to_string().contains("MOVE_TARGET_INSTANCE_ARNS"),
        "{err}"
    );
    assert!(w.dms.stops().is_empty() && w.dms.moves().is_empty());
    assert_eq!(w.rules.move_of(RULE), None);
}

/// DMS's `InvalidResourceStateFault` on a move is reported per task; the
/// record stays for the next attempt.
#[tokio::test]
async fn a_move_dms_refuses_is_reported_and_the_request_is_not_settled() {
    let w = World::new(vec![
        cdc(A, TaskStatus::Stopped, Some(CHECKPOINT_A)),
        cdc(B, TaskStatus::Stopped, None),
    ]);
    w.dms.move_errors.lock().unwrap().insert(
        B.to_owned(),
        crate::ports::PortError::new(
            "MoveReplicationTask",
            crate::ports::FailureKind::InvalidState,
            "InvalidResourceStateFault: the task is running",
        ),
    );
    let summary = w.send(false).await.unwrap();
    assert_eq!(summary.moved, ["A"]);
    assert_eq!(summary.failures.len(), 1, "{summary:?}");
    assert!(summary.failures[0].starts_with("B: "), "{summary:?}");
    assert!(!summary.is_settled());
    assert!(w.rules.move_of(RULE).is_some());
}

/// While a move is recorded the nightly start is held (it would resume a
/// task the move stopped); an operator's start with `force` goes past it
/// and forgets the move.
#[tokio::test]
async fn a_recorded_move_holds_ordinary_starts_until_forced() {
    let w = World::new(vec![
        cdc(A, TaskStatus::Stopped, None),
        cdc(B, TaskStatus::Stopped, None),
    ]);
    w.rules
        .set_move_record(RULE, Some(&MoveRecord::new(NEW_INSTANCE, false)))
        .await
        .unwrap();
    let held = super::super::start_refresh(&config(), &w.ports(), scheduled(), "req-1")
        .await
        .unwrap();
    assert!(w.dms.starts().is_empty(), "{held:?}");
    let reason = held.tasks[0].reason.as_deref().unwrap_or_default();
    assert!(reason.contains("a move to"), "{held:?}");
    super::super::start_refresh(&config(), &w.ports(), forced(), "req-2")
        .await
        .unwrap();
    assert_eq!(w.dms.starts().len(), 2);
    assert_eq!(w.rules.move_of(RULE), None);
}

/// Sent again after the move ended (no record on the rule): nothing is
/// resumed or announced a second time.
#[tokio::test]
async fn a_move_sent_again_after_its_end_only_reports() {
    let moved = |arn| {
        let mut t = cdc(arn, TaskStatus::Stopped, None);
        t.replication_instance_arn = Some(NEW_INSTANCE.into());
        t
    };
    let w = World::new(vec![moved(A), moved(B)]);
    let again = w.send(false).await.unwrap();
    assert_eq!(steps(&again), [MoveStep::Moved, MoveStep::Moved]);
    assert!(again.end.is_none() && again.is_settled(), "{again:?}");
    assert!(
        w.dms.starts().is_empty(),
        "no resume outside a recorded move"
    );
    assert!(w.notifier.messages().is_empty());
}

/// A stop-at during a move would stop the tasks and have its resume held:
/// refused before anything is stopped.
#[tokio::test]
async fn a_recorded_move_refuses_a_stop_at() {
    let w = World::new(vec![
        cdc(A, TaskStatus::Running, None),
        cdc(B, TaskStatus::Running, None),
    ]);
    w.rules
        .set_move_record(RULE, Some(&MoveRecord::new(NEW_INSTANCE, true)))
        .await
        .unwrap();
    let err = super::super::stop_at(
        &config(),
        &w.ports(),
        "commit_time:2026-11-21T15:30:00",
        false,
        "req-1",
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "StopAtRefused");
    assert!(err.to_string().contains("a move to"), "{err}");
    assert!(w.dms.stops().is_empty());
}

/// A running full load is not moved: the stop would leave a partial copy.
#[tokio::test]
async fn a_running_full_load_is_not_moved() {
    let mut loading = cdc(A, TaskStatus::Running, None);
    loading.full_load_progress_percent = Some(40);
    let w = World::new(vec![loading, cdc(B, TaskStatus::Stopped, None)]);
    let err = w.send(false).await.unwrap_err();
    assert_eq!(err.error_type(), "MoveRefused");
    assert!(err.to_string().contains("A still loading"), "{err}");
    assert!(w.dms.stops().is_empty() && w.rules.move_of(RULE).is_none());
}

/// A scheduled start held by a move says so; a forced start that DMS
/// refuses keeps the move (and its checkpoints) on record.
#[tokio::test]
async fn a_held_nightly_start_is_alerted_and_a_failed_forced_start_keeps_the_move() {
    let w = World::new(vec![
        cdc(A, TaskStatus::Stopped, None),
        cdc(B, TaskStatus::Stopped, None),
    ]);
    let mut record = MoveRecord::new(NEW_INSTANCE, false);
    record.keep_checkpoint(A, CHECKPOINT_A);
    w.rules.set_move_record(RULE, Some(&record)).await.unwrap();
    super::super::start_refresh(&config(), &w.ports(), scheduled(), "req-1")
        .await
        .unwrap();
    let subjects: Vec<String> = w.notifier.messages().into_iter().map(|m| m.1).collect();
    assert_eq!(subjects, ["dms-refresh: refresh held by a move"]);

    w.dms
        .fail_next_start(B, crate::ports::FailureKind::Permanent, "AccessDeniedFault");
    let err = super::super::start_refresh(&config(), &w.ports(), forced(), "req-2")
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "StartFailed");
    assert_eq!(
        w.rules
            .move_of(RULE)
            .and_then(|r| r.checkpoint_of(A).map(str::to_owned)),
        Some(CHECKPOINT_A.to_owned())
    );
}
