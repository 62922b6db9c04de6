//! The post-processor's decisions against in-memory doubles of every port.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::*;
use crate::config::vars;
use crate::events::parse_invocation;
use crate::fakes::{
    FakeContinuer, FakeDms, FakeHooks, FakeLedger, FakeMetrics, FakeNotifier, FakeRules, task,
};
use crate::ports::{HookReport, RuleState};
use crate::task::TaskStatus;

pub(crate) const A: &str = "arn:aws:dms:us-east-1:123456789012:task:dms-refresh-demo";
pub(crate) const B: &str = "arn:aws:dms:us-east-1:123456789012:task:second-task";
pub(crate) const RULE: &str = "nightly";
pub(crate) const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:alerts";

pub(crate) const FINISHED: &str =
    include_str!("../../../../events/post-processor/sns-finished.json");
const FINISHED_LEGACY: &str =
    include_str!("../../../../events/post-processor/sns-finished-legacy.json");
const FAILED: &str = include_str!("../../../../events/post-processor/sns-failed.json");
const STARTED: &str = include_str!("../../../../events/post-processor/sns-started.json");
const OTHER_TASK: &str = include_str!("../../../../events/post-processor/sns-other-task.json");
const EVENTBRIDGE: &str =
    include_str!("../../../../events/post-processor/eventbridge-finished.json");
const BATCH: &str = include_str!("../../../../events/post-processor/sns-batch.json");
const MALFORMED: &str = include_str!("../../../../events/post-processor/sns-malformed.json");
/// When the starter took the lock: just before the fakes' tasks started.
pub(crate) const LOCK_SINCE: u64 = 1_789_999_990;

pub(crate) fn config(arns: &[&str], mode: &str, reenable_on_failure: bool) -> Config {
    let arns = arns.join(",");
    let pairs = [
        (vars::TASK_ARNS, arns.as_str()),
        (vars::RULE_NAME, RULE),
        (vars::INDICATOR, "data-refresh"),
        (vars::REFRESH_TYPE, "full-load"),
        (vars::MODE, mode),
        (vars::TOPIC_ARN, TOPIC),
        (
            vars::REENABLE_ON_FAILURE,
            if reenable_on_failure { "true" } else { "false" },
        ),
    ];
    crate::fakes::config(&pairs)
}

/// Every port of the post-processor as an in-memory double.
pub(crate) struct World {
    pub config: Config,
    pub dms: FakeDms,
    pub rules: FakeRules,
    pub notifier: FakeNotifier,
    pub ledger: FakeLedger,
    pub hooks: FakeHooks,
    pub continuer: FakeContinuer,
    pub metrics: FakeMetrics,
}

impl World {
    /// The group's tasks stopped after a finished load; the rule disabled
    /// by the starter, which recorded its lock before the tasks started.
    pub fn new(arns: &[&str]) -> Self {
        let tasks = arns.iter().map(|arn| {
            let mut t = task(arn, TaskStatus::Stopped);
            t.stop_reason = Some("FULL_LOAD_ONLY_FINISHED".into());
            t
        });
        let mut config = config(arns, "schedule", false);
        // The fakes' dates are fixed in the past: no lock-age alerts here.
        config.lock_alert_after_secs = u64::MAX / 2;
        Self {
            config,
            dms: FakeDms::with_tasks(tasks),
            rules: FakeRules::locked(RULE, "schedule:e1", LOCK_SINCE),
            notifier: FakeNotifier::default(),
            ledger: FakeLedger::default(),
            hooks: FakeHooks::default(),
            continuer: FakeContinuer::default(),
            metrics: FakeMetrics::default(),
        }
    }

    pub async fn deliver_as(&self, payload: &str, owner: &str) -> Result<PostSummary, PostError> {
        let value: Value = serde_json::from_str(payload).unwrap();
        let invocation = parse_invocation(&value).unwrap();
        let ports = PostPorts {
            dms: &self.dms,
            rules: &self.rules,
            notifier: &self.notifier,
            ledger: &self.ledger,
            hooks: &self.hooks,
            continuer: &self.continuer,
            metrics: &self.metrics,
        };
        let info = InvocationInfo {
            owner: owner.to_owned(),
            hooks_deadline: Instant::now() + Duration::from_secs(600),
            lease_until: SystemTime::now() + Duration::from_secs(900),
        };
        handle_invocation(&self.config, &ports, invocation, &info).await
    }

    pub async fn deliver(&self, payload: &str) -> Result<PostSummary, PostError> {
        self.deliver_as(payload, "request-1").await
    }

    pub fn subjects(&self) -> Vec<String> {
        self.notifier
            .messages()
            .into_iter()
            .map(|(_, s, _)| s)
            .collect()
    }
}

fn action(summary: &PostSummary) -> &RecordAction {
    &summary.records[0].action
}

#[tokio::test]
async fn a_finished_load_runs_the_hooks_then_re_enables_the_rule_then_notifies() {
    let w = World::new(&[A]);
    let summary = w.deliver(FINISHED).await.unwrap();
    assert_eq!(
        action(&summary),
        &RecordAction::Completed {
            run_id: "dms-refresh-demo@1790000000".into(),
            rows_affected: Some(3)
        }
    );
    assert_eq!(w.hooks.run_count(), 1);
    assert!(w.hooks.runs()[0].load_complete);
    assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
    let messages = w.notifier.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].1.contains("succeeded"), "{}", messages[0].1);
    let (text, json) = messages[0]
        .2
        .split_once(crate::notify::JSON_SEPARATOR)
        .unwrap();
    let body: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(text.trim_end(), body["summary"], "the text is the summary");
    assert_eq!(body["details"]["run_id"], "dms-refresh-demo@1790000000");
    assert_eq!(body["details"]["rows_affected"], 3);
    assert_eq!(w.ledger.done_count(), 1);
    // The summary for people: rows per table, verification, the next run
    // of the rule's schedule (the fakes' rule fires at midnight UTC).
    let summary = body["summary"].as_str().unwrap();
    for line in [
        "Tasks: dms-refresh-demo (FULL_LOAD_ONLY_FINISHED)",
        "Rows masked: 3 in 2 table(s)",
        "  app.customers  2",
        "Verification: passed (4 checks)",
    ] {
        assert!(summary.lines().any(|l| l == line), "{line:?} in {summary}");
    }
    let next = summary
        .lines()
        .find_map(|l| l.strip_prefix("Next scheduled run: "))
        .unwrap();
    assert!(
        next.ends_with(" 00:00 UTC (cron(0 0 * * ? *))"),
        "{summary}"
    );
    assert_eq!(body["details"]["next_scheduled_run"], next);
}

/// The run's metrics are emitted once, when the ledger recorded it done: a
/// duplicate delivery adds none.
#[tokio::test]
async fn a_finished_run_emits_its_metrics_once() {
    use crate::metrics::{Measure, names};
    let w = World::new(&[A]);
    w.deliver(FINISHED).await.unwrap();
    w.deliver(FINISHED).await.unwrap();
    let events = w.metrics.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let run = &events[0];
    for (name, measure) in [
        (names::RUN_SUCCEEDED, Measure::Count(1)),
        (names::RUN_FAILED, Measure::Count(0)),
        (names::ROWS_MASKED, Measure::Count(3)),
        (names::TABLES_MASKED, Measure::Count(2)),
        (names::VERIFICATION_PASSED, Measure::Count(1)),
    ] {
        assert_eq!(run.metric(name), Some(measure), "{name}: {run:?}");
    }
    // The fakes' task started at 1_790_000_000 and stopped an hour later.
    let since_stop = now_epoch() - 1_790_003_600.0;
    assert!(
        matches!(run.metric(names::STOP_TO_PUBLISHED), Some(Measure::Seconds(s)) if (s - since_stop).abs() < 60.0),
        "{run:?}"
    );
    assert!(
        matches!(run.metric(names::RUN_DURATION), Some(Measure::Seconds(s)) if (s - since_stop - 3600.0).abs() < 60.0),
        "{run:?}"
    );
}

#[tokio::test]
async fn duplicate_deliveries_have_one_effect_per_run() {
    let w = World::new(&[A]);
    w.deliver(FINISHED).await.unwrap();
    // SNS redelivers; the old-style message for the same stop arrives too.
    let again = w.deliver(FINISHED).await.unwrap();
    let legacy = w.deliver(FINISHED_LEGACY).await.unwrap();
    let eb = w.deliver(EVENTBRIDGE).await.unwrap();
    for s in [&again, &legacy, &eb] {
        assert!(matches!(action(s), RecordAction::Duplicate { .. }), "{s:?}");
    }
    assert_eq!(w.hooks.run_count(), 1);
    assert_eq!(w.notifier.messages().len(), 1);
}

#[tokio::test]
async fn concurrent_duplicates_run_the_hooks_once() {
    let w = World::new(&[A]);
    let (a, b, c) = tokio::join!(
        w.deliver_as(FINISHED, "r1"),
        w.deliver_as(FINISHED, "r2"),
        w.deliver_as(FINISHED_LEGACY, "r3")
    );
    let actions: Vec<RecordAction> = [a, b, c]
        .into_iter()
        .map(|r| action(&r.unwrap()).clone())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, RecordAction::Completed { .. }))
            .count(),
        1,
        "{actions:?}"
    );
    assert_eq!(w.hooks.run_count(), 1);
    assert_eq!(w.notifier.messages().len(), 1);
    // A later redelivery is a plain duplicate.
    assert!(matches!(
        action(&w.deliver(FINISHED).await.unwrap()),
        RecordAction::Duplicate { .. }
    ));
}

#[tokio::test]
async fn a_new_run_of_the_same_task_is_handled_again() {
    let w = World::new(&[A]);
    w.deliver(FINISHED).await.unwrap();
    w.rules
        .set_rule_state(RULE, RuleState::Disabled)
        .await
        .unwrap();
    w.dms
        .update(A, |t| t.start_date_epoch = Some(1_790_086_400.0));
    let next = w.deliver(FINISHED).await.unwrap();
    assert_eq!(
        action(&next),
        &RecordAction::Completed {
            run_id: "dms-refresh-demo@1790086400".into(),
            rows_affected: Some(3)
        }
    );
    assert_eq!(w.hooks.run_count(), 2);
}

#[tokio::test]
async fn events_of_other_tasks_and_started_events_change_nothing() {
    let w = World::new(&[A]);
    assert_eq!(
        action(&w.deliver(OTHER_TASK).await.unwrap()),
        &RecordAction::Ignored
    );
    assert_eq!(
        action(&w.deliver(STARTED).await.unwrap()),
        &RecordAction::Logged
    );
    assert_eq!(w.hooks.run_count(), 0);
    assert!(w.rules.changes().is_empty());
    assert!(w.notifier.messages().is_empty());
}

#[tokio::test]
async fn the_group_waits_for_its_last_task() {
    let w = World::new(&[A, B]);
    w.dms.set_status(B, TaskStatus::Running);
    let first = w.deliver(FINISHED).await.unwrap();
    assert_eq!(
        action(&first),
        &RecordAction::Waiting {
            tasks: vec!["second-task".into()]
        }
    );
    assert_eq!(w.hooks.run_count(), 0);
    assert!(w.rules.changes().is_empty());

    w.dms.set_status(B, TaskStatus::Stopped);
    let eventbridge_for_b = EVENTBRIDGE.replace("task:dms-refresh-demo", "task:second-task");
    let last = w.deliver(&eventbridge_for_b).await.unwrap();
    assert!(
        matches!(action(&last), RecordAction::Completed { run_id, .. } if run_id.contains('+')),
        "{last:?}"
    );
    assert_eq!(w.hooks.run_count(), 1);
    assert_eq!(w.hooks.runs()[0].tasks.len(), 2);
    assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
}

#[tokio::test]
async fn a_failed_load_is_masked_and_alerted_and_the_rule_stays_disabled() {
    let w = World::new(&[A]);
    w.dms.update(A, |t| {
        t.status = TaskStatus::Failed;
        t.stop_reason = Some("FATAL_ERROR".into());
        t.last_failure_message = Some("Error executing source loop".into());
        t.full_load_progress_percent = Some(40);
    });
    let summary = w.deliver(FAILED).await.unwrap();
    assert!(matches!(
        action(&summary),
        RecordAction::LoadFailureHandled {
            rule,
            ..
        } if rule == "left disabled"
    ));
    assert_eq!(w.hooks.run_count(), 1, "the partial load is masked");
    assert!(!w.hooks.runs()[0].load_complete);
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
    let (_, subject, body) = w.notifier.messages().remove(0);
    assert!(subject.contains("FAILED"), "{subject}");
    assert!(
        body.contains("dms-refresh-demo") && body.contains("FATAL_ERROR"),
        "{body}"
    );
    assert!(
        body.contains("Error executing source loop") && body.contains("left disabled"),
        "{body}"
    );
    // The failure is alerted once per run.
    assert!(matches!(
        action(&w.deliver(FAILED).await.unwrap()),
        RecordAction::Duplicate { .. }
    ));
    assert_eq!(w.notifier.messages().len(), 1);
}

#[tokio::test]
async fn a_failed_load_re_enables_the_rule_only_when_configured() {
    let mut w = World::new(&[A]);
    w.config = config(&[A], "schedule", true);
    w.dms.update(A, |t| t.status = TaskStatus::Failed);
    let summary = w.deliver(FAILED).await.unwrap();
    assert!(matches!(
        action(&summary),
        RecordAction::LoadFailureHandled {
            rule,
            ..
        } if rule == "re-enabled"
    ));
    assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
}

#[tokio::test]
async fn without_hooks_a_failed_load_is_only_alerted() {
    let mut w = World::new(&[A]);
    w.hooks.configured = false;
    w.dms.update(A, |t| t.status = TaskStatus::Failed);
    w.deliver(FAILED).await.unwrap();
    assert_eq!(w.hooks.run_count(), 0);
    assert!(
        w.notifier.messages()[0]
            .2
            .contains("No hooks are configured")
    );
}

#[tokio::test]
async fn failing_hooks_fail_closed_and_the_next_delivery_resumes() {
    let w = World::new(&[A]);
    w.hooks.then(Err(HookError {
        permanent: false,
        verification_failed: false,
        message: "connection reset".into(),
    }));
    let err = w.deliver(FINISHED).await.unwrap_err();
    assert_eq!(err.error_type(), "HookFailedRetryable");
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
    assert!(w.subjects()[0].contains("FAILED"), "{:?}", w.subjects());

    // The retry resumes the run and finishes it.
    let retry = w.deliver(FINISHED).await.unwrap();
    assert!(matches!(action(&retry), RecordAction::Completed { .. }));
    assert_eq!(w.hooks.run_count(), 2);
    assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
}

#[tokio::test]
async fn a_permanent_hook_failure_is_reported_as_such() {
    let w = World::new(&[A]);
    w.hooks.then(Err(HookError {
        permanent: true,
        verification_failed: false,
        message: "column customers.emial does not exist".into(),
    }));
    let err = w.deliver(FINISHED).await.unwrap_err();
    assert_eq!(err.error_type(), "HookFailedPermanent");
    assert!(err.to_string().contains("emial"), "{err}");
    assert!(w.notifier.messages()[0].2.contains("permanent"));
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
}

/// Issue 11 item 5: the hooks learn that the load resumed without a reload
/// (what DescribeReplicationTasks' start dates say, see `aws::tests::
/// a_resume_is_told_from_a_reload_by_start_date_and_fresh_start_date`), so
/// in-place masking can refuse to mask yesterday's rows again.
#[tokio::test]
async fn the_hooks_are_told_when_the_load_resumed_without_a_reload() {
    let w = World::new(&[A]);
    w.deliver(FINISHED).await.unwrap();
    assert!(w.hooks.runs()[0].target_reloaded());

    let w = World::new(&[A, B]);
    w.dms.update(B, |t| t.resumed_without_reload = true);
    w.deliver(FINISHED).await.unwrap();
    let runs = w.hooks.runs();
    assert_eq!((runs.len(), runs[0].tasks.len()), (1, 2), "{runs:?}");
    assert!(!runs[0].target_reloaded(), "one resumed task is enough");
}

#[tokio::test]
async fn the_deadline_hands_the_run_to_a_continuation() {
    let w = World::new(&[A]);
    w.hooks.then(Ok(HookReport::Incomplete {
        details: json!({"table": "customers"}),
    }));
    let first = w.deliver(FINISHED).await.unwrap();
    assert_eq!(
        action(&first),
        &RecordAction::Continued {
            run_id: "dms-refresh-demo@1790000000".into(),
            invocation: 2
        }
    );
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
    assert!(w.notifier.messages().is_empty());
    let sent = w.continuer.sent();
    assert_eq!(sent.len(), 1);

    let payload = json!({ crate::events::CONTINUATION_KEY: sent[0] }).to_string();
    let second = w.deliver_as(&payload, "request-2").await.unwrap();
    assert!(
        matches!(action(&second), RecordAction::Completed { .. }),
        "{second:?}"
    );
    assert_eq!(w.hooks.runs()[1].invocation, 2);
    assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
    assert_eq!(w.notifier.messages().len(), 1);
}

#[tokio::test]
async fn a_continuation_for_an_old_run_is_dropped() {
    let w = World::new(&[A]);
    let payload = json!({ crate::events::CONTINUATION_KEY: {"run_id": "dms-refresh-demo@1", "invocation": 2} });
    let summary = w.deliver(&payload.to_string()).await.unwrap();
    assert!(matches!(action(&summary), RecordAction::Stale { .. }));
    assert_eq!(w.hooks.run_count(), 0);
}

#[tokio::test]
async fn a_stale_stop_event_for_a_running_task_is_ignored() {
    let w = World::new(&[A]);
    w.dms.set_status(A, TaskStatus::Running);
    let summary = w.deliver(FINISHED).await.unwrap();
    assert_eq!(
        action(&summary),
        &RecordAction::Stale {
            status: "running".into()
        }
    );
    assert_eq!(w.hooks.run_count(), 0);
}

#[tokio::test]
async fn every_record_of_a_batch_is_handled() {
    let w = World::new(&[A]);
    let summary = w.deliver(BATCH).await.unwrap();
    let actions: Vec<_> = summary.records.iter().map(|r| &r.action).collect();
    assert!(matches!(actions[0], RecordAction::Logged));
    assert!(matches!(actions[1], RecordAction::Completed { .. }));
    assert!(matches!(actions[2], RecordAction::Duplicate { .. }));
    assert_eq!(w.hooks.run_count(), 1);
}

#[tokio::test]
async fn malformed_records_fail_the_invocation_after_the_good_ones_and_touch_nothing() {
    let w = World::new(&[A]);
    let err = w.deliver(MALFORMED).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidRecord");
    let PostError::InvalidRecords {
        count,
        detail,
        summary,
    } = err
    else {
        panic!()
    };
    assert_eq!(count, 3);
    assert!(detail.contains("bad-0001"), "{detail}");
    assert_eq!(summary.records.len(), 4);
    assert_eq!(summary.records[3].action, RecordAction::Logged);
    assert!(w.rules.changes().is_empty());
    assert_eq!(w.hooks.run_count(), 0);
}

#[tokio::test]
async fn a_task_left_out_of_the_run_makes_it_a_failed_load() {
    let w = World::new(&[A, B]);
    // B's start failed: it still shows last night's finished load.
    w.dms
        .update(A, |t| t.start_date_epoch = Some(1_790_086_400.0));
    let summary = w.deliver(FINISHED).await.unwrap();
    assert!(
        matches!(
            action(&summary),
            RecordAction::LoadFailureHandled {
                rule,
                ..
            } if rule == "left disabled"
        ),
        "{summary:?}"
    );
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
    assert!(
        w.notifier.messages()[0]
            .2
            .contains("not started with the rest of the group")
    );
}

#[tokio::test]
async fn a_failed_rule_re_enable_alerts_and_the_retry_converges() {
    let w = World::new(&[A]);
    *w.rules.fail_changes.lock().unwrap() = true;
    let err = w.deliver(FINISHED).await.unwrap_err();
    assert_eq!(err.error_type(), "AwsTransientError");
    assert_eq!(w.hooks.run_count(), 1);
    // The alert says what happened: the work is done, the rule is not back.
    assert!(
        w.subjects()[0].contains("NOT handed back"),
        "{:?}",
        w.subjects()
    );
    let body = &w.notifier.messages()[0].2;
    assert!(
        body.contains("The target is masked") && body.contains("schedule rule"),
        "{body}"
    );
    // Even a permission error stays retryable: only the rule is left to do.
    let again = w.deliver(FINISHED).await.unwrap_err();
    assert_eq!(again.error_type(), "AwsTransientError");
    assert_eq!(w.notifier.messages().len(), 1, "alerted once");

    *w.rules.fail_changes.lock().unwrap() = false;
    let retry = w.deliver(FINISHED).await.unwrap();
    assert!(matches!(action(&retry), RecordAction::Completed { .. }));
    assert_eq!(w.rules.state(RULE), Some(RuleState::Enabled));
    assert!(w.subjects()[1].contains("succeeded"), "{:?}", w.subjects());
}

/// Issue 9 review: in data-refresh mode a task whose own migration type
/// replicates changes and that stopped short loaded part of production:
/// handled as a failed load (masked in place, nothing published), never
/// only reported.
#[tokio::test]
async fn a_short_cdc_stop_in_data_refresh_mode_is_a_failed_load() {
    let w = World::new(&[A]);
    w.dms.update(A, |t| {
        t.migration_type = Some(crate::config::RefreshType::FullLoadAndCdc);
        t.stop_reason = Some("NORMAL".into());
    });
    let summary = w.deliver(FINISHED).await.unwrap();
    assert!(
        matches!(action(&summary), RecordAction::LoadFailureHandled { .. }),
        "{summary:?}"
    );
    assert_eq!(w.hooks.run_count(), 1, "what was loaded is masked");
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
}

/// Issue 9 review: a lock taken after this run's tasks started belongs to
/// a later start; finishing this run leaves it alone.
#[tokio::test]
async fn a_run_leaves_the_lock_of_a_later_start_alone() {
    let mut w = World::new(&[A]);
    w.rules = FakeRules::locked(RULE, "operator:later", LOCK_SINCE + 86_400);
    let summary = w.deliver(FINISHED).await.unwrap();
    assert!(matches!(action(&summary), RecordAction::Completed { .. }));
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
    assert_eq!(w.rules.lock_of(RULE).unwrap().owner, "operator:later");
}

/// Issue 9 review: a run that used every invocation is recorded as a
/// permanent failure, alerted once, and not resumed by the reconciler.
#[tokio::test]
async fn a_stuck_run_is_recorded_and_not_resumed() {
    let w = World::new(&[A]);
    w.hooks
        .then(Ok(HookReport::Incomplete { details: json!({}) }));
    w.deliver(FINISHED).await.unwrap();
    let payload = json!({ crate::events::CONTINUATION_KEY: {
        "run_id": "dms-refresh-demo@1790000000", "invocation": MAX_INVOCATIONS + 1 } });
    for _ in 0..3 {
        let err = w.deliver(&payload.to_string()).await.unwrap_err();
        assert_eq!(err.error_type(), "HookFailedPermanent");
    }
    assert_eq!(w.notifier.messages().len(), 1, "{:?}", w.subjects());
    assert!(w.notifier.messages()[0].2.contains("invocations"));
    let sweep = w.deliver(r#"{"operation": "reconcile"}"#).await.unwrap();
    assert_eq!(sweep.reconcile.unwrap().action, None);
    assert_eq!(w.hooks.run_count(), 1);
}

/// Issue 9 item 6: a failure outside the ledger (the guard refuses, the
/// database is out of reach) is alerted once while the run holds the lock,
/// however often Lambda retries.
#[tokio::test]
async fn a_failure_outside_the_ledger_is_alerted_once_per_lock() {
    let w = World::new(&[A]);
    w.ledger
        .fail_begin(Some("refusing to write: the endpoint's server is prod"));
    for _ in 0..3 {
        let err = w.deliver(FINISHED).await.unwrap_err();
        assert_eq!(err.error_type(), "HookFailedPermanent");
    }
    assert_eq!(w.notifier.messages().len(), 1, "{:?}", w.subjects());
    assert!(w.notifier.messages()[0].2.contains("refusing to write"));
    w.ledger.fail_begin(None);
    let ok = w.deliver(FINISHED).await.unwrap();
    assert!(matches!(action(&ok), RecordAction::Completed { .. }));
}

#[tokio::test]
async fn a_deleted_group_task_is_alerted() {
    let w = World::new(&[A]);
    w.dms.tasks.lock().unwrap().clear();
    let deleted = FINISHED
        .replace("DMS-EVENT-0079", "DMS-EVENT-0073")
        .replace(
            "Replication task has stopped. Stop Reason FULL_LOAD_ONLY_FINISHED.",
            "Replication task has been deleted.",
        );
    let summary = w.deliver(&deleted).await.unwrap();
    assert_eq!(action(&summary), &RecordAction::TaskDeleted);
    assert!(w.subjects()[0].contains("deleted"));
}

#[tokio::test]
/// Issue 9 item 7: `stopping` (longer than Lambda's two retries would
/// wait) and DMS's own restart after `RECOVERABLE_ERROR` are waited for,
/// not failed into the dead-letter queue; the reconciler settles the run.
async fn a_task_still_stopping_or_recovering_is_waited_for() {
    let w = World::new(&[A]);
    w.dms.set_status(A, TaskStatus::Stopping);
    let summary = w.deliver(FINISHED).await.unwrap();
    assert!(
        matches!(action(&summary), RecordAction::Waiting { .. }),
        "{summary:?}"
    );
    w.dms.update(A, |t| {
        t.status = TaskStatus::Stopped;
        t.stop_reason = Some("RECOVERABLE_ERROR".into());
        t.stop_date_epoch = Some(now_epoch() - 60.0);
    });
    let summary = w.deliver(FAILED).await.unwrap();
    assert!(
        matches!(action(&summary), RecordAction::Waiting { .. }),
        "{summary:?}"
    );
    assert_eq!(w.hooks.run_count(), 0);
    assert!(w.notifier.messages().is_empty());
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
}

#[tokio::test]
async fn a_run_without_a_start_date_is_refused() {
    let w = World::new(&[A]);
    w.dms.update(A, |t| t.start_date_epoch = None);
    let err = w.deliver(FINISHED).await.unwrap_err();
    assert_eq!(err.error_type(), "HookFailedPermanent");
    assert_eq!(w.hooks.run_count(), 0);
    assert!(w.subjects()[0].contains("cannot identify"));
}

#[test]
fn deadlines_are_epoch_milliseconds_or_a_duration_from_now() {
    let epoch = 1_790_000_000_000;
    assert_eq!(
        deadline_time(epoch),
        SystemTime::UNIX_EPOCH + Duration::from_millis(epoch)
    );
    let relative = deadline_time(600_000)
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(relative > Duration::from_secs(590) && relative <= Duration::from_secs(600));
    let info = InvocationInfo::from_deadline_ms("r", 600_000, Duration::from_secs(60));
    let hooks = info.hooks_deadline.duration_since(Instant::now());
    assert!(
        hooks > Duration::from_secs(530) && hooks <= Duration::from_secs(540),
        "{hooks:?}"
    );
}

#[tokio::test]
async fn one_time_mode_never_touches_the_rule() {
    let mut w = World::new(&[A]);
    w.config = config(&[A], "one-time", false);
    let summary = w.deliver(FINISHED).await.unwrap();
    assert!(matches!(action(&summary), RecordAction::Completed { .. }));
    assert!(w.rules.changes().is_empty());
}

/// Issue 9 item 1: the nightly refresh restarts with reload-target, which
/// moves `FreshStartDate` (the run is named by the latest start date, see
/// `task::latest_start`). Should DMS restart a task without moving any start
/// date, its later stop is not taken for the run already handled: the
/// post-processor refuses and alerts instead of answering "duplicate".
#[tokio::test]
async fn a_later_stop_with_the_same_start_dates_is_refused_not_ignored() {
    let w = World::new(&[A]);
    w.dms
        .update(A, |t| t.stop_date_epoch = Some(1_790_003_600.0));
    w.deliver(FINISHED).await.unwrap();
    // A true duplicate (same stop) is still a duplicate.
    assert!(matches!(
        action(&w.deliver(FINISHED).await.unwrap()),
        RecordAction::Duplicate { .. }
    ));
    // The task ran again; DMS reports the same start dates, a later stop.
    w.rules
        .set_rule_state(RULE, RuleState::Disabled)
        .await
        .unwrap();
    w.dms
        .update(A, |t| t.stop_date_epoch = Some(now_epoch() + 5.0));
    let err = w.deliver(FINISHED).await.unwrap_err();
    assert_eq!(err.error_type(), "HookFailedPermanent");
    assert!(err.to_string().contains("cannot be told"), "{err}");
    assert_eq!(
        w.hooks.run_count(),
        1,
        "nothing masked under a reused identity"
    );
    assert!(
        w.subjects().iter().any(|s| s.contains("FAILED")),
        "{:?}",
        w.subjects()
    );
    // Redelivered: alerted once.
    let before = w.notifier.messages().len();
    w.deliver(FINISHED).await.unwrap_err();
    assert_eq!(w.notifier.messages().len(), before);
}

/// Issue 9 item 2: in data-migration mode a failed load runs no hooks (no
/// masking ever, and no cutover hooks on a half-loaded target).
#[tokio::test]
async fn data_migration_mode_runs_no_hooks_after_a_failed_load() {
    let mut w = World::new(&[A]);
    w.config = crate::fakes::config(&[
        (vars::TASK_ARNS, A),
        (vars::RULE_NAME, RULE),
        (vars::INDICATOR, "data-migration"),
        (vars::REFRESH_TYPE, "full-load"),
        (vars::MODE, "schedule"),
        (vars::TOPIC_ARN, TOPIC),
    ]);
    w.dms.update(A, |t| t.status = TaskStatus::Failed);
    let summary = w.deliver(FAILED).await.unwrap();
    assert!(matches!(
        action(&summary),
        RecordAction::LoadFailureHandled { .. }
    ));
    assert_eq!(w.hooks.run_count(), 0);
    assert!(w.notifier.messages()[0].2.contains("No cutover hooks ran"));
}

fn cdc_world(reason: &str, position: Option<&str>) -> World {
    let mut w = World::new(&[A]);
    w.config = crate::fakes::config(&[
        (vars::TASK_ARNS, A),
        (vars::RULE_NAME, RULE),
        (vars::INDICATOR, "data-migration"),
        (vars::REFRESH_TYPE, "cdc"),
        (vars::MODE, "one-time"),
        (vars::TOPIC_ARN, TOPIC),
        (vars::CDC_STOP_POSITION, "commit_time:2026-11-21T00:00:00"),
    ]);
    w.dms.update(A, |t| {
        t.migration_type = Some(crate::config::RefreshType::Cdc);
        t.stop_reason = Some(reason.into());
        t.cdc_stop_position = position.map(str::to_owned);
        t.full_load_progress_percent = Some(0);
    });
    w
}

/// Issue 9 item 3: an operator's or a maintenance stop of a CDC task is
/// reported, not finished: no cutover hooks run on a target whose
/// replication will resume.
#[tokio::test]
async fn a_cdc_stop_before_the_stop_position_is_reported_not_finished() {
    let w = cdc_world("NORMAL", Some("commit_time:2026-11-21T00:00:00"));
    let summary = w.deliver(FINISHED).await.unwrap();
    assert!(
        matches!(action(&summary), RecordAction::NotFinished { .. }),
        "{summary:?}"
    );
    assert_eq!(w.hooks.run_count(), 0);
    assert!(
        w.subjects()[0].contains("NOT finished"),
        "{:?}",
        w.subjects()
    );

    let w = cdc_world(
        "STOPPED_AT_COMMIT_TIME",
        Some("commit_time:2026-11-21T00:00:00"),
    );
    let summary = w.deliver(FINISHED).await.unwrap();
    assert!(
        matches!(action(&summary), RecordAction::Completed { .. }),
        "{summary:?}"
    );
    assert_eq!(w.hooks.run_count(), 1);

    let w = cdc_world(
        "STOPPED_AT_COMMIT_TIME",
        Some("commit_time:2026-11-20T23:00:00"),
    );
    let summary = w.deliver(FINISHED).await.unwrap();
    assert!(
        matches!(action(&summary), RecordAction::NotFinished { .. }),
        "{summary:?}"
    );

    // An operator's stop-at recorded that position on the rule: the stop
    // is where it was asked for, and the cutover hooks run.
    let w = cdc_world(
        "STOPPED_AT_COMMIT_TIME",
        Some("commit_time:2026-11-20T23:00:00"),
    );
    w.rules
        .record_stop_at(RULE, "commit_time:2026-11-20T23:00:00");
    let summary = w.deliver(FINISHED).await.unwrap();
    assert!(
        matches!(action(&summary), RecordAction::Completed { .. }),
        "{summary:?}"
    );
    assert_eq!(w.hooks.run_count(), 1);

    // A rule that does not exist holds no stop-at: the configured position counts.
    let mut w = cdc_world(
        "STOPPED_AT_COMMIT_TIME",
        Some("commit_time:2026-11-21T00:00:00"),
    );
    w.rules = FakeRules::default();
    let summary = w.deliver(FINISHED).await.unwrap();
    assert!(
        matches!(action(&summary), RecordAction::Completed { .. }),
        "{summary:?}"
    );

    // The operator stop the stop-at makes before it resumes the task is
    // waited for, not reported.
    let w = cdc_world("NORMAL", None);
    w.rules
        .record_stop_at(RULE, "commit_time:2026-11-20T23:00:00");
    let summary = w.deliver(FINISHED).await.unwrap();
    assert!(
        matches!(action(&summary), RecordAction::Waiting { .. }),
        "{summary:?}"
    );
    assert!(w.notifier.messages().is_empty());
}

/// Issue 9 item 5: a rule an administrator disabled (no lock record) is not
/// re-enabled by a run an operator started.
#[tokio::test]
async fn a_rule_disabled_outside_the_project_is_not_re_enabled() {
    let mut w = World::new(&[A]);
    w.rules = FakeRules::with_rule(RULE, RuleState::Disabled);
    let summary = w.deliver(FINISHED).await.unwrap();
    assert!(matches!(action(&summary), RecordAction::Completed { .. }));
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
    assert!(w.rules.changes().is_empty());
    assert!(w.notifier.messages()[0].2.contains("did not disable it"));
}

#[tokio::test]
async fn a_successful_run_releases_the_lock_and_a_failed_one_marks_it_handled() {
    let w = World::new(&[A]);
    w.deliver(FINISHED).await.unwrap();
    assert_eq!(w.rules.lock_of(RULE), None);

    let w = World::new(&[A]);
    w.dms.update(A, |t| t.status = TaskStatus::Failed);
    w.deliver(FAILED).await.unwrap();
    let held = w.rules.lock_of(RULE).unwrap();
    assert_eq!(
        held.handled_run.as_deref(),
        Some("dms-refresh-demo@1790000000")
    );
    assert_eq!(w.rules.state(RULE), Some(RuleState::Disabled));
}

/// Issue 9 item 6: an SNS error does not lose the only signal: the run is
/// recorded, the invocation fails, the message stays in the outbox, and the
/// next delivery sends it once.
#[tokio::test]
async fn a_refused_publish_keeps_the_alert_for_the_next_delivery() {
    let w = World::new(&[A]);
    w.dms.update(A, |t| t.status = TaskStatus::Failed);
    *w.notifier.fail.lock().unwrap() = true;
    let err = w.deliver(FAILED).await.unwrap_err();
    assert_eq!(err.error_type(), "NotificationFailed");
    assert_eq!(w.ledger.done_count(), 1, "the run itself is recorded");
    *w.notifier.fail.lock().unwrap() = false;
    let retry = w.deliver(FAILED).await.unwrap();
    assert!(matches!(action(&retry), RecordAction::Duplicate { .. }));
    assert_eq!(w.notifier.messages().len(), 1);
    assert!(w.subjects()[0].contains("load FAILED"));
    w.deliver(FAILED).await.unwrap();
    assert_eq!(w.notifier.messages().len(), 1, "sent once");
}

/// Issue 9 item 6: a permanent failure retried by Lambda (three attempts)
/// alerts once.
#[tokio::test]
async fn a_permanent_failure_retried_by_lambda_alerts_once() {
    let w = World::new(&[A]);
    for _ in 0..3 {
        w.hooks.then(Err(HookError {
            permanent: true,
            verification_failed: true,
            message: "verification failed: customers email:email: 3 offending row(s)".into(),
        }));
        let err = w.deliver(FINISHED).await.unwrap_err();
        assert_eq!(err.error_type(), "HookFailedPermanent");
    }
    assert_eq!(w.hooks.run_count(), 3);
    assert_eq!(w.notifier.messages().len(), 1, "{:?}", w.subjects());
    // Counted once, like its alert, with the verification that failed it.
    let events = w.metrics.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].metric(crate::metrics::names::RUN_FAILED),
        Some(crate::metrics::Measure::Count(1))
    );
    assert_eq!(
        events[0].metric(crate::metrics::names::VERIFICATION_PASSED),
        Some(crate::metrics::Measure::Count(0))
    );
    assert_eq!(
        w.rules.lock_of(RULE).and_then(|l| l.handled_run).as_deref(),
        Some("dms-refresh-demo@1790000000")
    );
}

#[tokio::test]
async fn a_rollback_request_reaches_the_hooks() {
    let w = World::new(&[A]);
    let summary = w
        .deliver(&json!({"operation": "rollback"}).to_string())
        .await
        .unwrap();
    assert_eq!(summary.operation.unwrap()["rolled_back"], true);
    assert_eq!(
        w.hooks.rollbacks.lock().unwrap().clone(),
        vec!["request-1".to_owned()]
    );
    let bad = parse_invocation(&json!({"operation": "rollbak"})).unwrap_err();
    assert!(bad.to_string().contains("reconcile"), "{bad}");
}
