//! The handler hands every operator request that changed something to the
//! post-processor for the ledger (issue 12, item 5), with its answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use dms_refresh_core::config::{RefreshType, vars};
use dms_refresh_core::fakes::{
    FakeDms, FakeNotifier, FakeRecorder, FakeRules, FakeSlots, config, task,
};
use dms_refresh_core::ports::RuleState;
use dms_refresh_core::task::TaskStatus;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use task_starter::handler::{Deps, handle};

const A: &str = "arn:aws:dms:eu-west-1:123456789012:task:A";
const B: &str = "arn:aws:dms:eu-west-1:123456789012:task:B";

fn deps() -> Deps<FakeDms, FakeRules, FakeNotifier, FakeSlots, FakeRecorder> {
    let running = |arn| {
        let mut t = task(arn, TaskStatus::Running);
        t.migration_type = Some(RefreshType::Cdc);
        t
    };
    Deps {
        config: config(&[
            (vars::TASK_ARNS, &format!("{A},{B}")),
            (vars::RULE_NAME, "nightly"),
            (vars::INDICATOR, "data-migration"),
            (vars::REFRESH_TYPE, "cdc"),
            (vars::MODE, "one-time"),
        ]),
        dms: FakeDms::with_tasks([running(A), running(B)]),
        rules: FakeRules::with_rule("nightly", RuleState::Disabled),
        notifier: FakeNotifier::default(),
        slots: None,
        recorder: Some(FakeRecorder::default()),
    }
}

async fn send(
    deps: &Deps<FakeDms, FakeRules, FakeNotifier, FakeSlots, FakeRecorder>,
    request: Value,
    id: &str,
) -> Value {
    let mut context = Context::default();
    context.request_id = id.to_owned();
    handle(LambdaEvent::new(request, context), deps)
        .await
        .unwrap_or_else(|e| panic!("{}: {}", e.error_type, e.error_message))
}

fn records(
    deps: &Deps<FakeDms, FakeRules, FakeNotifier, FakeSlots, FakeRecorder>,
) -> Vec<dms_refresh_core::ports::RequestRecord> {
    deps.recorder
        .as_ref()
        .map(|r| r.records.lock().unwrap().clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_request_that_changed_something_is_handed_over_with_its_answer() {
    let deps = deps();
    let stop = json!({"operation": "stop-at", "commit_time": "2026-11-21T15:30:00"});
    let dry = send(
        &deps,
        json!({"operation": "stop-at", "commit_time": "2026-11-21T15:30:00", "dry_run": true}),
        "req-dry",
    )
    .await;
    assert!(dry.get("ledger").is_none(), "{dry}");
    assert!(
        records(&deps).is_empty(),
        "a dry run changes nothing to record"
    );

    let answer = send(&deps, stop, "req-1").await;
    assert_eq!(
        answer["ledger"], "sent to the post-processor for the ledger",
        "{answer}"
    );
    let kept = records(&deps);
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (kept[0].request_id.as_str(), kept[0].kind.as_str()),
        ("req-1", "stop-at")
    );
    assert_eq!(
        kept[0].outcome["position"],
        "commit_time:2026-11-21T15:30:00"
    );

    // A plain start is a run: the run ledger has it, not the requests.
    let mut plain = deps;
    plain.dms = FakeDms::with_tasks([task(A, TaskStatus::Stopped), task(B, TaskStatus::Stopped)]);
    let before = records(&plain).len();
    send(&plain, json!({"operation": "start"}), "req-2").await;
    assert_eq!(records(&plain).len(), before);
}

#[tokio::test]
async fn a_failed_hand_over_is_said_in_the_answer_and_the_request_stands() {
    let deps = deps();
    if let Some(r) = deps.recorder.as_ref() {
        *r.fail.lock().unwrap() = true;
    }
    let answer = send(
        &deps,
        json!({"operation": "stop-at", "commit_time": "2026-11-21T15:30:00"}),
        "req-1",
    )
    .await;
    assert_eq!(answer["done"], true, "{answer}");
    let note = answer["ledger"].as_str().unwrap_or_default();
    assert!(
        note.starts_with("not recorded in the ledger") && note.contains("rate exceeded"),
        "{answer}"
    );

    let mut unnamed = deps;
    unnamed.recorder = None;
    let answer = send(
        &unnamed,
        json!({"operation": "stop-at", "commit_time": "2026-11-21T16:00:00"}),
        "req-2",
    )
    .await;
    assert!(
        answer["ledger"]
            .as_str()
            .unwrap_or_default()
            .contains("notifications only"),
        "{answer}"
    );
}

/// A group of stopped CDC tasks that records the target's triggers before
/// every load (`RECORD_TARGET_TRIGGERS`).
fn recording_triggers() -> Deps<FakeDms, FakeRules, FakeNotifier, FakeSlots, FakeRecorder> {
    let mut deps = deps();
    deps.config.record_triggers_at_start = true;
    for arn in [A, B] {
        deps.dms.set_status(arn, TaskStatus::Stopped);
    }
    deps
}

fn trigger_records(
    deps: &Deps<FakeDms, FakeRules, FakeNotifier, FakeSlots, FakeRecorder>,
) -> usize {
    deps.recorder
        .as_ref()
        .map_or(0, |r| *r.trigger_records.lock().unwrap())
}

/// Seed 003: the triggers are disabled and recorded before the load, so
/// that the cutover re-enables exactly those; a dry run only says so.
#[tokio::test]
async fn the_triggers_are_recorded_before_the_load_starts() {
    let deps = recording_triggers();
    let dry = send(
        &deps,
        json!({"operation": "start", "dry_run": true}),
        "req-dry",
    )
    .await;
    assert_eq!(dry["before_load"], "would run before the load", "{dry}");
    assert_eq!(trigger_records(&deps), 0);
    assert!(deps.dms.starts().is_empty());

    let answer = send(&deps, json!({"operation": "start"}), "req-1").await;
    assert_eq!(trigger_records(&deps), 1);
    assert_eq!(
        answer["before_load"]["triggers"][0], "public.orders.audit",
        "{answer}"
    );
    assert_eq!(deps.dms.starts().len(), 2);
}

/// Nothing starts when the triggers could not be recorded: the load would
/// fire them, and the cutover could not tell which to re-enable.
#[tokio::test]
async fn no_load_starts_when_the_triggers_could_not_be_recorded() {
    let deps = recording_triggers();
    *deps.recorder.as_ref().unwrap().fail.lock().unwrap() = true;
    let mut context = Context::default();
    context.request_id = "req-1".into();
    let err = handle(
        LambdaEvent::new(json!({"operation": "start"}), context),
        &deps,
    )
    .await
    .unwrap_err();
    assert!(
        err.error_message
            .contains("could not be recorded before the load, so nothing was started"),
        "{}",
        err.error_message
    );
    assert!(
        err.error_message.contains("not reachable"),
        "{}",
        err.error_message
    );
    assert!(deps.dms.starts().is_empty());

    let mut without = recording_triggers();
    without.recorder = None;
    let mut context = Context::default();
    context.request_id = "req-2".into();
    let err = handle(
        LambdaEvent::new(json!({"operation": "start"}), context),
        &without,
    )
    .await
    .unwrap_err();
    assert!(
        err.error_message.contains("POST_PROCESSOR_FUNCTION_NAME"),
        "{}",
        err.error_message
    );
    assert!(without.dms.starts().is_empty());
}

/// A start that starts nothing (the tasks are running) records nothing:
/// the triggers are only touched when a load is about to begin.
#[tokio::test]
async fn a_start_that_starts_nothing_leaves_the_triggers_alone() {
    let mut deps = deps();
    deps.config.record_triggers_at_start = true;
    let answer = send(&deps, json!({"operation": "start"}), "req-1").await;
    assert_eq!(answer["tasks"][0]["action"], "skipped", "{answer}");
    assert!(answer.get("before_load").is_none(), "{answer}");
    assert_eq!(trigger_records(&deps), 0);
    assert!(deps.dms.starts().is_empty());
}

/// A stop-at's resume continues the load whose start kept the triggers: it
/// records nothing, and a failing record cannot leave the tasks stopped.
#[tokio::test]
async fn a_stop_at_resume_records_no_triggers() {
    let mut deps = deps();
    deps.config.record_triggers_at_start = true;
    *deps.recorder.as_ref().unwrap().fail.lock().unwrap() = true;
    let stop = json!({"operation": "stop-at", "commit_time": "2026-11-21T15:30:00"});
    let answer = send(&deps, stop, "req-1").await;
    assert_eq!(trigger_records(&deps), 0, "{answer}");
    assert_eq!(deps.dms.starts().len(), 2, "both tasks resumed: {answer}");
}
