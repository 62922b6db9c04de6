//! The starter's decisions against in-memory doubles of every port.

use super::*;
use crate::config::vars;
use crate::fakes::{FakeDms, FakeNotifier, FakeRules, task};
use crate::task::TaskStatus;

const A: &str = "arn:aws:dms:eu-west-1:123456789012:task:A";
const B: &str = "arn:aws:dms:eu-west-1:123456789012:task:B";
const RULE: &str = "nightly";
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:alerts";

fn config(arns: &str, mode: &str) -> Config {
    let pairs = [
        (vars::TASK_ARNS, arns),
        (vars::RULE_NAME, RULE),
        (vars::INDICATOR, "data-refresh"),
        (vars::REFRESH_TYPE, "full-load"),
        (vars::MODE, mode),
        (vars::TOPIC_ARN, TOPIC),
    ];
    crate::fakes::config(&pairs)
}

fn scheduled(id: &str) -> Trigger {
    Trigger::Schedule {
        event_id: Some(id.into()),
        rule_arns: vec![],
        time: None,
    }
}

fn operator(start_type: Option<StartType>, allow_partial: bool) -> Trigger {
    Trigger::Operator {
        dry_run: false,
        start_type,
        allow_partial,
        force: false,
        cdc_start: None,
    }
}

struct World {
    dms: FakeDms,
    rules: FakeRules,
    notifier: FakeNotifier,
}

impl World {
    fn new(tasks: Vec<TaskInfo>, rule: RuleState) -> Self {
        Self::with_rules(tasks, FakeRules::with_rule(RULE, rule))
    }

    fn with_rules(tasks: Vec<TaskInfo>, rules: FakeRules) -> Self {
        Self {
            dms: FakeDms::with_tasks(tasks),
            rules,
            notifier: FakeNotifier::default(),
        }
    }

    async fn run(&self, config: &Config, trigger: Trigger) -> Result<StartSummary, StarterError> {
        self.run_as(config, trigger, "req-1").await
    }

    async fn run_as(
        &self,
        config: &Config,
        trigger: Trigger,
        request_id: &str,
    ) -> Result<StartSummary, StarterError> {
        let ports = StarterPorts {
            dms: &self.dms,
            rules: &self.rules,
            notifier: &self.notifier,
            before_load: None,
        };
        start_refresh(config, &ports, trigger, request_id).await
    }

    fn subjects(&self) -> Vec<String> {
        self.notifier
            .messages()
            .into_iter()
            .map(|(_, s, _)| s)
            .collect()
    }
}

fn actions(summary: &StartSummary) -> Vec<TaskAction> {
    summary.tasks.iter().map(|t| t.action).collect()
}

#[tokio::test]
async fn schedule_mode_records_the_lock_disables_the_rule_then_reloads_a_stopped_task() {
    let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Enabled);
    let summary = w
        .run(&config(A, "schedule"), scheduled("e1"))
        .await
        .unwrap();
    assert_eq!(
        w.rules.changes(),
        vec![(RULE.to_owned(), RuleState::Disabled)]
    );
    assert_eq!(w.rules.lock_of(RULE).unwrap().owner, "schedule:e1");
    let starts = w.dms.starts();
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].start_type, StartType::ReloadTarget);
    assert_eq!(summary.tasks[0].action, TaskAction::Started);
    assert_eq!(summary.tasks[0].previous_status, "stopped");
    assert!(w.notifier.messages().is_empty());

    // A console run while the task runs starts nothing and leaves the rule alone.
    let again = w
        .run(&config(A, "schedule"), Trigger::Manual)
        .await
        .unwrap();
    assert_eq!(again.tasks[0].action, TaskAction::Skipped);
    assert_eq!(w.dms.starts().len(), 1);
    assert_eq!(w.rules.changes().len(), 1);
    assert_eq!(w.rules.lock_of(RULE).unwrap().owner, "schedule:e1");
}

/// Issue 9 item 5: a starter killed between disabling the rule and
/// starting the task; Lambda's retry of the same invocation (same event
/// id) finishes its own start instead of returning success.
#[tokio::test]
async fn a_retry_of_the_invocation_holding_the_lock_finishes_its_start() {
    let now = now_epoch();
    let w = World::with_rules(
        vec![task(A, TaskStatus::Stopped), task(B, TaskStatus::Stopped)],
        FakeRules::locked(RULE, "schedule:e1", now),
    );
    // The first attempt started A before it died.
    w.dms.update(A, |t| {
        t.status = TaskStatus::Running;
        #[allow(clippy::cast_precision_loss)]
        let started = now as f64 + 1.0;
        t.start_date_epoch = Some(started);
    });
    let cfg = config(&format!("{A},{B}"), "schedule");
    let summary = w
        .run_as(&cfg, scheduled("e1"), "retry-request")
        .await
        .unwrap();
    assert_eq!(
        actions(&summary),
        vec![TaskAction::AlreadyStarted, TaskAction::Started]
    );
    assert_eq!(w.dms.starts().len(), 1, "only B is started");
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
    assert!(w.notifier.messages().is_empty());

    // Another scheduled event (another owner) starts nothing.
    let other = w.run(&cfg, scheduled("e2")).await.unwrap();
    assert!(other.tasks.iter().all(|t| t.action == TaskAction::Skipped));
    assert!(
        w.notifier.messages().is_empty(),
        "a run in progress is not an alert"
    );
}

#[tokio::test]
async fn a_lost_race_is_already_started_with_the_rule_kept_disabled_and_no_alert() {
    let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Enabled);
    w.dms
        .fail_next_start(A, FailureKind::InvalidState, "Task is being started");
    w.dms
        .status_after_error
        .lock()
        .unwrap()
        .insert(A.into(), TaskStatus::Starting);
    let summary = w
        .run(&config(A, "schedule"), Trigger::Manual)
        .await
        .unwrap();
    assert_eq!(summary.tasks[0].action, TaskAction::AlreadyStarted);
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
    assert!(w.notifier.messages().is_empty());
}

#[tokio::test]
async fn a_failed_start_re_enables_the_rule_it_disabled_drops_the_lock_and_alerts() {
    let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Enabled);
    w.dms.fail_next_start(
        A,
        FailureKind::Permanent,
        "AccessDeniedFault: no dms-vpc-role",
    );
    let err = w
        .run(&config(A, "schedule"), Trigger::Manual)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "StartFailed");
    assert!(err.to_string().contains("re-enabled"), "{err}");
    assert_eq!(
        w.rules.changes(),
        vec![
            (RULE.to_owned(), RuleState::Disabled),
            (RULE.to_owned(), RuleState::Enabled)
        ]
    );
    assert_eq!(w.rules.lock_of(RULE), None);
    let messages = w.notifier.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].0, TOPIC);
    assert!(
        messages[0].2.contains("AccessDeniedFault"),
        "{}",
        messages[0].2
    );
}

#[tokio::test]
async fn an_operator_takes_over_a_failed_closed_lock_and_a_failure_leaves_the_rule_disabled() {
    let rules = FakeRules::locked(RULE, "schedule:e0", 1_789_000_000);
    if let Some(held) = rules.locks.lock().unwrap().get_mut(RULE) {
        held.handled_run = Some("A@1789000000".into());
    }
    let w = World::with_rules(vec![task(A, TaskStatus::Failed)], rules);
    w.dms
        .fail_next_start(A, FailureKind::Transient, "throttled");
    let err = w
        .run(&config(A, "schedule"), operator(None, false))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("left as it was"), "{err}");
    assert!(w.rules.changes().is_empty());
    assert_eq!(w.rules.lock_of(RULE).unwrap().owner, "operator:req-1");
    assert_eq!(w.notifier.messages().len(), 1);
}

/// Issue 9 items 4 and 5: while the run holding the lock is not handled
/// (the post-processor may still be building its copy from the
/// quarantine), an operator's start would reload the quarantine under
/// it: refused, unless forced.
#[tokio::test]
async fn an_operator_does_not_take_over_a_run_in_progress_unless_forced() {
    let w = World::with_rules(
        vec![task(A, TaskStatus::Stopped)],
        FakeRules::locked(RULE, "schedule:e0", 1_789_000_000),
    );
    let refused = w
        .run(&config(A, "schedule"), operator(None, false))
        .await
        .unwrap();
    assert_eq!(refused.tasks[0].action, TaskAction::Skipped);
    assert!(
        refused.tasks[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("force")
    );
    assert!(w.dms.starts().is_empty());
    let forced = Trigger::Operator {
        dry_run: false,
        start_type: None,
        allow_partial: false,
        force: true,
        cdc_start: None,
    };
    let started = w.run(&config(A, "schedule"), forced).await.unwrap();
    assert_eq!(started.tasks[0].action, TaskAction::Started);
    assert_eq!(w.rules.lock_of(RULE).unwrap().owner, "operator:req-1");
}

/// Issue 9 item 5: the killed attempt recorded its lock but died before
/// it disabled the rule; its retry disables it, then starts.
#[tokio::test]
async fn a_retry_disables_a_rule_its_attempt_left_enabled() {
    let rules = FakeRules::locked(RULE, "schedule:e1", now_epoch());
    rules
        .rules
        .lock()
        .unwrap()
        .insert(RULE.into(), RuleState::Enabled);
    let w = World::with_rules(vec![task(A, TaskStatus::Stopped)], rules);
    let summary = w
        .run(&config(A, "schedule"), scheduled("e1"))
        .await
        .unwrap();
    assert_eq!(summary.tasks[0].action, TaskAction::Started);
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
}

/// A task the first attempt started and that has already stopped again
/// is not started a second time by the retry.
#[tokio::test]
async fn a_retry_does_not_restart_a_task_its_attempt_started() {
    let now = now_epoch();
    let w = World::with_rules(
        vec![task(A, TaskStatus::Stopped)],
        FakeRules::locked(RULE, "schedule:e1", now),
    );
    #[allow(clippy::cast_precision_loss)]
    let started = now as f64 + 1.0;
    w.dms.update(A, |t| t.start_date_epoch = Some(started));
    let summary = w
        .run(&config(A, "schedule"), scheduled("e1"))
        .await
        .unwrap();
    assert_eq!(summary.tasks[0].action, TaskAction::AlreadyStarted);
    assert!(w.dms.starts().is_empty());
}

/// A retry whose starts all fail again gives back the rule its attempt
/// disabled.
#[tokio::test]
async fn a_failing_retry_gives_back_the_rule_its_attempt_disabled() {
    let w = World::with_rules(
        vec![task(A, TaskStatus::Stopped)],
        FakeRules::locked(RULE, "schedule:e1", now_epoch()),
    );
    w.dms
        .fail_next_start(A, FailureKind::Permanent, "AccessDeniedFault");
    let err = w
        .run(&config(A, "schedule"), scheduled("e1"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("re-enabled"), "{err}");
    assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
    assert_eq!(w.rules.lock_of(RULE), None);
}

/// Issue 9 item 5: a rule an administrator disabled on purpose (no lock
/// record) stops scheduled and console runs; an operator's start does
/// not take the lock, so the run never re-enables the rule.
#[tokio::test]
async fn a_rule_disabled_outside_the_project_is_never_taken() {
    let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Disabled);
    for trigger in [Trigger::Manual, scheduled("e1")] {
        let summary = w.run(&config(A, "schedule"), trigger).await.unwrap();
        assert_eq!(summary.tasks[0].action, TaskAction::Skipped);
        let reason = summary.tasks[0].reason.clone().unwrap_or_default();
        assert!(reason.contains("outside dms-refresh"), "{reason}");
    }
    assert!(w.dms.starts().is_empty());
    let summary = w
        .run(&config(A, "schedule"), operator(None, false))
        .await
        .unwrap();
    assert_eq!(summary.tasks[0].action, TaskAction::Started);
    assert_eq!(
        summary.rule.as_ref().map(|r| &r.lock),
        Some(&RuleAccess::Bypass)
    );
    assert!(w.rules.changes().is_empty(), "the rule stays disabled");
    assert_eq!(
        w.rules.lock_of(RULE),
        None,
        "no lock: the run will not re-enable it"
    );
    assert!(w.notifier.messages().is_empty());
}

#[tokio::test]
async fn a_refused_start_whose_state_cannot_be_read_fails_closed() {
    let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Enabled);
    w.dms
        .fail_next_start(A, FailureKind::InvalidState, "Task is being started");
    *w.dms.fail_describe_after.lock().unwrap() = Some(1);
    let err = w
        .run(&config(A, "schedule"), Trigger::Manual)
        .await
        .unwrap_err();
    let StarterError::StartFailed { summary, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(summary.tasks[0].action, TaskAction::Unknown);
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
    assert_eq!(w.notifier.messages().len(), 1);
}

#[tokio::test]
async fn a_start_failure_after_another_task_started_keeps_the_rule_disabled() {
    let w = World::new(
        vec![task(A, TaskStatus::Stopped), task(B, TaskStatus::Stopped)],
        RuleState::Enabled,
    );
    w.dms
        .fail_next_start(B, FailureKind::Permanent, "AccessDeniedFault");
    let err = w
        .run(&config(&format!("{A},{B}"), "schedule"), Trigger::Manual)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("kept disabled"), "{err}");
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
    assert_eq!(w.notifier.messages().len(), 1);
}

/// Issue 9 item 4: decide for every task first; a task that cannot start
/// means none is started, and the alert names it and why.
#[tokio::test]
async fn a_group_starts_all_or_nothing() {
    let w = World::new(
        vec![
            task(A, TaskStatus::Stopped),
            task(B, TaskStatus::FailedMove),
        ],
        RuleState::Enabled,
    );
    let cfg = config(&format!("{A},{B}"), "schedule");
    let summary = w.run(&cfg, scheduled("e1")).await.unwrap();
    assert_eq!(
        actions(&summary),
        vec![TaskAction::Skipped, TaskAction::Skipped]
    );
    assert!(
        summary.tasks[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("all-or-nothing")
    );
    assert!(w.dms.starts().is_empty());
    assert!(w.rules.changes().is_empty() && w.rules.lock_of(RULE).is_none());
    let (_, subject, body) = w.notifier.messages().remove(0);
    assert!(subject.contains("not started"), "{subject}");
    assert!(body.contains("B (the task's move"), "{body}");

    // A busy task blocks the group too.
    w.dms.set_status(B, TaskStatus::Running);
    let summary = w.run(&cfg, scheduled("e2")).await.unwrap();
    assert_eq!(
        actions(&summary),
        vec![TaskAction::Skipped, TaskAction::Skipped]
    );
    assert_eq!(w.notifier.messages().len(), 2);
}

#[tokio::test]
async fn an_operator_may_start_part_of_the_group() {
    let w = World::new(
        vec![
            task(A, TaskStatus::Stopped),
            task(B, TaskStatus::FailedMove),
        ],
        RuleState::Enabled,
    );
    let cfg = config(&format!("{A},{B}"), "schedule");
    let summary = w.run(&cfg, operator(None, true)).await.unwrap();
    assert_eq!(
        actions(&summary),
        vec![TaskAction::Started, TaskAction::Skipped]
    );
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
    assert!(w.subjects()[0].contains("not started"));
    assert!(w.notifier.messages()[0].2.contains("Started only part"));
}

#[tokio::test]
async fn a_busy_group_starts_nothing_without_an_alert() {
    let w = World::new(
        vec![task(A, TaskStatus::Running), task(B, TaskStatus::Stopping)],
        RuleState::Enabled,
    );
    let summary = w
        .run(&config(&format!("{A},{B}"), "schedule"), Trigger::Manual)
        .await
        .unwrap();
    assert!(summary.rule.is_none());
    assert!(w.rules.changes().is_empty());
    assert!(w.notifier.messages().is_empty());
}

#[tokio::test]
async fn one_time_mode_records_the_run_but_never_toggles_the_rule() {
    let w = World::new(vec![task(A, TaskStatus::Ready)], RuleState::Disabled);
    let summary = w
        .run(&config(A, "one-time"), Trigger::Manual)
        .await
        .unwrap();
    assert!(w.rules.changes().is_empty());
    assert_eq!(
        summary.rule.as_ref().map(|r| r.after),
        Some(RuleState::Disabled)
    );
    assert_eq!(w.rules.lock_of(RULE).unwrap().owner, "console:req-1");
    assert_eq!(w.dms.starts()[0].start_type, StartType::StartReplication);
}

#[tokio::test]
async fn a_failed_one_time_start_leaves_no_lock_record() {
    let w = World::new(vec![task(A, TaskStatus::Ready)], RuleState::Disabled);
    w.dms
        .fail_next_start(A, FailureKind::Permanent, "AccessDeniedFault");
    let err = w
        .run(&config(A, "one-time"), Trigger::Manual)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "StartFailed");
    assert_eq!(w.rules.lock_of(RULE), None);
    assert!(w.rules.changes().is_empty());
}

#[tokio::test]
async fn an_unknown_task_is_an_error_before_anything_changes() {
    let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Enabled);
    let err = w
        .run(&config(&format!("{A},{B}"), "schedule"), Trigger::Manual)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StarterError::TaskNotFound(ref arn) if arn == B),
        "{err}"
    );
    assert!(w.rules.changes().is_empty());
    assert!(w.dms.starts().is_empty());
}

#[tokio::test]
async fn a_missing_rule_is_an_error_before_any_start() {
    let w = World::with_rules(vec![task(A, TaskStatus::Stopped)], FakeRules::default());
    let err = w
        .run(&config(A, "schedule"), Trigger::Manual)
        .await
        .unwrap_err();
    assert!(matches!(err, StarterError::RuleNotFound(_)), "{err}");
    assert!(w.dms.starts().is_empty());
}

#[tokio::test]
async fn a_dry_run_changes_nothing() {
    let w = World::new(vec![task(A, TaskStatus::Stopped)], RuleState::Enabled);
    let trigger = Trigger::Operator {
        dry_run: true,
        start_type: None,
        allow_partial: false,
        force: false,
        cdc_start: None,
    };
    let summary = w.run(&config(A, "schedule"), trigger).await.unwrap();
    assert_eq!(summary.tasks[0].action, TaskAction::WouldStart);
    assert_eq!(summary.tasks[0].start_type, Some(StartType::ReloadTarget));
    assert!(w.rules.changes().is_empty() && w.dms.starts().is_empty());
    assert!(w.rules.lock_of(RULE).is_none());
}

/// Issue 9 item 10: DMS allows starting a task whose move failed; an
/// operator asks for it with an explicit start type.
#[tokio::test]
async fn an_operator_starts_a_failed_move_task_on_its_old_instance() {
    let w = World::new(vec![task(A, TaskStatus::FailedMove)], RuleState::Enabled);
    let skipped = w
        .run(&config(A, "schedule"), Trigger::Manual)
        .await
        .unwrap();
    assert_eq!(skipped.tasks[0].action, TaskAction::Skipped);
    let started = w
        .run(
            &config(A, "schedule"),
            operator(Some(StartType::ReloadTarget), false),
        )
        .await
        .unwrap();
    assert_eq!(started.tasks[0].action, TaskAction::Started);
    assert_eq!(w.dms.starts()[0].start_type, StartType::ReloadTarget);
}
