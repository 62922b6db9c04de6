//! `stop-at` against in-memory doubles of DMS and the rule.

use super::*;
use crate::config::{RefreshType, vars};
use crate::fakes::{FakeDms, FakeNotifier, FakeRules, task};
use crate::ports::RuleState;
use crate::task::StartType;

const A: &str = "arn:aws:dms:eu-west-1:123456789012:task:A";
const B: &str = "arn:aws:dms:eu-west-1:123456789012:task:B";
const RULE: &str = "nightly";
const AT: &str = "commit_time:2026-11-21T15:30:00";

fn config() -> Config {
    crate::fakes::config(&[
        (vars::TASK_ARNS, &format!("{A},{B}")),
        (vars::RULE_NAME, RULE),
        (vars::INDICATOR, "data-migration"),
        (vars::REFRESH_TYPE, "cdc"),
        (vars::MODE, "one-time"),
        (vars::TOPIC_ARN, "arn:aws:sns:eu-west-1:123456789012:alerts"),
    ])
}

fn cdc(arn: &str, status: TaskStatus) -> TaskInfo {
    let mut t = task(arn, status);
    t.migration_type = Some(RefreshType::Cdc);
    t.stop_reason = None;
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
            rules: FakeRules::with_rule(RULE, RuleState::Disabled),
            notifier: FakeNotifier::default(),
        }
    }

    async fn send(&self, dry_run: bool) -> Result<StopAtSummary, StarterError> {
        let ports = StarterPorts {
            dms: &self.dms,
            rules: &self.rules,
            notifier: &self.notifier,
            before_load: None,
        };
        stop_at(&config(), &ports, AT, dry_run, "req-1").await
    }
}

fn steps(summary: &StopAtSummary) -> Vec<StopStep> {
    summary.tasks.iter().map(|t| t.step).collect()
}

#[tokio::test]
async fn a_dry_run_plans_and_touches_nothing() {
    let w = World::new(vec![
        cdc(A, TaskStatus::Running),
        cdc(B, TaskStatus::Stopped),
    ]);
    let summary = w.send(true).await.unwrap();
    assert_eq!(steps(&summary), [StopStep::Stop, StopStep::Resume]);
    announce(&config(), &w.notifier, &summary).await;
    assert!(w.notifier.messages().is_empty());
    assert!(w.dms.stops().is_empty() && w.dms.starts().is_empty());
    assert_eq!(w.rules.intended_stop(RULE).await.unwrap(), None);
}

/// ModifyReplicationTask refuses a running task, so each running task is
/// stopped and resumed (`resume-processing`) with the `CdcStopPosition`;
/// the position is recorded on the rule for the post-processor.
#[tokio::test]
async fn running_tasks_are_stopped_and_resumed_with_the_stop_position() {
    let w = World::new(vec![
        cdc(A, TaskStatus::Running),
        cdc(B, TaskStatus::Running),
    ]);
    let summary = w.send(false).await.unwrap();
    assert!(summary.is_done(), "{summary:?}");
    assert_eq!(w.dms.stops(), [A, B]);
    let starts = w.dms.starts();
    assert_eq!(starts.len(), 2);
    for s in &starts {
        assert_eq!(s.start_type, StartType::ResumeProcessing);
        assert_eq!(s.cdc_stop_position.as_deref(), Some(AT));
    }
    assert_eq!(
        w.rules.intended_stop(RULE).await.unwrap().as_deref(),
        Some(AT)
    );

    announce(&config(), &w.notifier, &summary).await;
    let messages = w.notifier.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].1.contains(AT), "{messages:?}");
    assert!(messages[0].2.contains("A, B"), "{messages:?}");

    // The same request again changes nothing: both run with the position.
    let again = w.send(false).await.unwrap();
    assert_eq!(steps(&again), [StopStep::AlreadySet, StopStep::AlreadySet]);
    assert_eq!((w.dms.stops().len(), w.dms.starts().len()), (2, 2));
}

/// A task still stopping after the stop is resumed by the next pass.
#[tokio::test]
async fn a_task_still_stopping_is_resumed_by_the_next_pass() {
    let w = World::new(vec![
        cdc(A, TaskStatus::Running),
        cdc(B, TaskStatus::Running),
    ]);
    *w.dms.stop_slowly.lock().unwrap() = true;
    let first = w.send(false).await.unwrap();
    assert_eq!(first.waiting.len(), 2);
    assert!(!first.is_done() && w.dms.starts().is_empty());
    w.dms.set_status(A, TaskStatus::Stopped);
    w.dms.set_status(B, TaskStatus::Stopped);
    let second = w.send(false).await.unwrap();
    assert_eq!(steps(&second), [StopStep::Resume, StopStep::Resume]);
    assert!(second.is_done());
    assert_eq!(w.dms.starts().len(), 2);
}

#[tokio::test]
async fn a_group_with_a_task_it_cannot_stop_is_refused_untouched() {
    let mut full_load = cdc(B, TaskStatus::Running);
    full_load.migration_type = Some(RefreshType::FullLoad);
    for (other, expected) in [
        (cdc(B, TaskStatus::Failed), "B is failed"),
        (cdc(B, TaskStatus::Ready), "B is ready"),
        (full_load, "no CDC"),
    ] {
        let w = World::new(vec![cdc(A, TaskStatus::Running), other]);
        let err = w.send(false).await.unwrap_err();
        assert_eq!(err.error_type(), "StopAtRefused");
        assert!(err.to_string().contains(expected), "{err}");
        assert!(w.dms.stops().is_empty() && w.dms.starts().is_empty());
        assert_eq!(w.rules.intended_stop(RULE).await.unwrap(), None);
    }
}
