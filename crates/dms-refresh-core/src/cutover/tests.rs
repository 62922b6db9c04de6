//! The cutover's decisions against in-memory doubles of every port.

use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use super::fakes::{FakeCutoverTarget, FakeSource, FakeTaskMetrics};
use super::*;
use crate::config::vars;
use crate::fakes::{FakeDms, FakeLedger, FakeNotifier, FakeRules, task};
use crate::ports::RuleState;
use crate::task::{TaskInfo, TaskStatus};

const A: &str = "arn:aws:dms:eu-west-1:123456789012:task:ORDERSTASK";
const B: &str = "arn:aws:dms:eu-west-1:123456789012:task:PAYMENTSTASK";
const RULE: &str = "nightly";
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:alerts";
const AT: &str = "commit_time:2026-11-21T15:30:00";

fn stopped_at(arn: &str, position: &str) -> TaskInfo {
    let mut t = task(arn, TaskStatus::Stopped);
    t.migration_type = Some(crate::config::RefreshType::Cdc);
    t.stop_reason = Some("STOPPED_AT_COMMIT_TIME".into());
    t.cdc_stop_position = Some(position.into());
    t
}

/// A two-task CDC group that stopped consistently at [`AT`], with a clean
/// CloudWatch, a source holding two sequences, and two kept triggers.
struct World {
    config: Config,
    dms: FakeDms,
    rules: FakeRules,
    notifier: FakeNotifier,
    ledger: FakeLedger,
    target: FakeCutoverTarget,
    metrics: FakeTaskMetrics,
    source: Option<FakeSource>,
}

impl World {
    fn new() -> Self {
        Self::in_mode("data-migration")
    }

    fn in_mode(indicator: &str) -> Self {
        let arns = format!("{A},{B}");
        let (kind, mode) = match indicator {
            "data-migration" => ("cdc", "one-time"),
            _ => ("full-load", "schedule"),
        };
        let config = crate::fakes::config(&[
            (vars::TASK_ARNS, &arns),
            (vars::RULE_NAME, RULE),
            (vars::INDICATOR, indicator),
            (vars::REFRESH_TYPE, kind),
            (vars::MODE, mode),
            (vars::TOPIC_ARN, TOPIC),
        ]);
        let rules = FakeRules::with_rule(RULE, RuleState::Disabled);
        rules.record_stop_at(RULE, AT);
        let target = FakeCutoverTarget::default();
        target
            .recorded
            .lock()
            .unwrap()
            .extend(["public.orders.audit".into(), "public.payments.audit".into()]);
        let source = FakeSource::default();
        source.values.lock().unwrap().extend([
            SequenceValue {
                schema: "public".into(),
                name: "orders_id_seq".into(),
                next_value: 1042,
            },
            SequenceValue {
                schema: "public".into(),
                name: "payments_id_seq".into(),
                next_value: 77,
            },
        ]);
        Self {
            config,
            dms: FakeDms::with_tasks([stopped_at(A, AT), stopped_at(B, AT)]),
            rules,
            notifier: FakeNotifier::default(),
            ledger: FakeLedger::default(),
            target,
            metrics: FakeTaskMetrics::at(&["ORDERSTASK", "PAYMENTSTASK"], 0.0),
            source: Some(source),
        }
    }

    async fn send(&self, payload: serde_json::Value) -> Result<serde_json::Value, CutoverError> {
        let request = request_from(&payload).expect("a cutover request")?;
        let ports = CutoverPorts {
            dms: &self.dms,
            rules: &self.rules,
            notifier: &self.notifier,
            ledger: &self.ledger,
            target: &self.target,
            metrics: &self.metrics,
            source: self.source.as_ref(),
        };
        let info = InvocationInfo {
            owner: "req-cutover".into(),
            hooks_deadline: Instant::now() + Duration::from_secs(600),
            lease_until: SystemTime::now() + Duration::from_secs(900),
        };
        ports.handle(&self.config, &request, &info).await
    }

    fn step_states(answer: &serde_json::Value) -> Vec<(String, String)> {
        answer["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                (
                    s["step"].as_str().unwrap_or_default().to_owned(),
                    s["state"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn refused_report(err: CutoverError) -> (String, CutoverReport) {
    match err {
        CutoverError::Refused { reason, report } => (reason, *report),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A dry run checks everything and reads the source, changes nothing on
/// the target, records nothing and sends nothing.
#[tokio::test]
async fn a_dry_run_checks_and_says_what_it_would_do() {
    let w = World::new();
    let answer = w
        .send(json!({"operation": "cutover", "dry_run": true}))
        .await
        .unwrap();
    assert_eq!(answer["outcome"], "dry-run");
    assert_eq!(answer["commit_time"], AT);
    assert_eq!(
        World::step_states(&answer),
        pairs(&[
            ("consistent-stop", "passed"),
            ("cdc-latency", "passed"),
            ("validation", "skipped"),
            ("sequences", "would-run"),
            ("triggers", "would-run"),
            ("foreign-keys", "would-run"),
        ])
    );
    assert_eq!(
        answer["steps"][3]["details"]["values"][0]["next_value"],
        1042
    );
    assert_eq!(
        answer["steps"][4]["details"]["would_enable"][1],
        "public.payments.audit"
    );
    assert!(w.target.calls().is_empty(), "{:?}", w.target.calls());
    assert!(w.ledger.inner.requests().is_empty());
    assert!(w.notifier.messages().is_empty());
}

/// The success path: the steps run in the order of seed 003 (sequences
/// from the source, then the kept triggers, then the foreign keys), the
/// request is kept in the ledger and announced.
#[tokio::test]
async fn a_cutover_sets_sequences_then_triggers_then_checks_foreign_keys() {
    let w = World::new();
    let answer = w.send(json!({"operation": "cutover"})).await.unwrap();
    assert_eq!(answer["outcome"], "done", "{answer}");
    assert_eq!(
        w.target.calls(),
        ["sequences from the source (2)", "triggers", "foreign-keys"]
    );
    assert_eq!(
        answer["steps"][4]["details"]["enabled"][0],
        "public.orders.audit"
    );
    assert_eq!(answer["ledger"], "recorded");
    let kept = w.ledger.inner.requests();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].kind, "cutover");
    assert_eq!(kept[0].outcome["outcome"], "done");
    let sent = w.notifier.messages();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0]
            .1
            .contains("cutover done at commit_time:2026-11-21T15:30:00"),
        "{sent:?}"
    );
    // The latency is read in the minutes before each task's stop.
    let reads = w.metrics.reads.lock().unwrap().clone();
    assert_eq!(reads.len(), 4, "{reads:?}");
    let stop = task(A, TaskStatus::Stopped).stop_date_epoch.unwrap();
    assert!(
        reads
            .iter()
            .all(|(_, _, from, to)| *to == stop + 60.0 && *from < stop - 14.0 * 60.0)
    );

    // Sent again: every step is repeatable, and the kept triggers are gone.
    let again = w.send(json!({"operation": "cutover"})).await.unwrap();
    assert_eq!(again["outcome"], "done");
    assert_eq!(again["steps"][4]["details"]["enabled"], json!([]));
}

/// Without a source secret the sequences go to max+1, and the report says so.
#[tokio::test]
async fn without_a_source_the_sequences_go_to_max_plus_one() {
    let mut w = World::new();
    w.source = None;
    let dry = w
        .send(json!({"operation": "cutover", "dry_run": true}))
        .await
        .unwrap();
    assert_eq!(dry["steps"][3]["details"]["from"], "max+1 of each table");
    assert!(
        dry["steps"][3]["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("SOURCE_DB_SECRET_ARN")
    );
    w.send(json!({"operation": "cutover"})).await.unwrap();
    assert_eq!(w.target.calls()[0], "sequences max+1");
}

/// Seed 001: the tasks must have stopped at one commit time. Stopped at two
/// different ones, or one still running, is refused before anything else.
#[tokio::test]
async fn a_group_not_stopped_at_one_commit_time_is_refused() {
    let w = World::new();
    w.dms.update(B, |t| {
        t.cdc_stop_position = Some("commit_time:2026-11-21T15:31:00".into())
    });
    let (reason, report) =
        refused_report(w.send(json!({"operation": "cutover"})).await.unwrap_err());
    assert!(
        reason.contains("PAYMENTSTASK stopped at commit_time:2026-11-21T15:31:00"),
        "{reason}"
    );
    assert_eq!(report.steps.len(), 1);
    assert_eq!(report.steps[0].state, StepState::Refused);

    w.dms.update(B, |t| {
        t.cdc_stop_position = Some(AT.into());
        t.status = TaskStatus::Running;
    });
    let (reason, _) = refused_report(w.send(json!({"operation": "cutover"})).await.unwrap_err());
    assert!(
        reason.contains("PAYMENTSTASK: it is running, not stopped"),
        "{reason}"
    );

    w.dms.update(B, |t| {
        t.status = TaskStatus::Stopped;
        t.stop_reason = Some("NORMAL".into());
    });
    let err = w.send(json!({"operation": "cutover"})).await.unwrap_err();
    assert_eq!(err.error_type(), "CutoverRefused");
    assert!(
        err.to_string()
            .contains("it stopped with NORMAL, not at a commit time"),
        "{err}"
    );
    assert!(w.target.calls().is_empty());
    assert!(w.notifier.messages().is_empty());
    assert!(w.ledger.inner.requests().is_empty());
}

/// Seed 003: "Make sure that CDC latency is 0" (`CDCLatencySource` and
/// `CDCLatencyTarget`). A latency above zero, or no datapoint at all, is
/// refused after the consistent-stop check.
#[tokio::test]
async fn latency_above_zero_or_unknown_is_refused() {
    let w = World::new();
    w.metrics.set("PAYMENTSTASK", LatencyMetric::Target, 4.0);
    let (reason, report) =
        refused_report(w.send(json!({"operation": "cutover"})).await.unwrap_err());
    assert!(
        reason.contains("CDCLatencyTarget of PAYMENTSTASK was 4 s"),
        "{reason}"
    );
    assert_eq!(report.steps[0].state, StepState::Passed);
    assert_eq!(report.steps[1].step, StepName::CdcLatency);

    w.metrics.set("PAYMENTSTASK", LatencyMetric::Target, 0.0);
    w.metrics.forget("ORDERSTASK", LatencyMetric::Source);
    let (reason, _) = refused_report(w.send(json!({"operation": "cutover"})).await.unwrap_err());
    assert!(
        reason.contains("no CDCLatencySource datapoint for ORDERSTASK"),
        "{reason}"
    );
    assert!(w.target.calls().is_empty());
}

/// Seed 003: "Make sure that there are no data validation error". A task
/// that validates must have every table clean.
#[tokio::test]
async fn validation_findings_are_refused() {
    let w = World::new();
    let table = |state: &str, failed: i64| TableValidation {
        table: "public.orders".into(),
        state: state.into(),
        pending_records: 0,
        failed_records: failed,
        suspended_records: 0,
    };
    w.dms.validations.lock().unwrap().insert(
        A.into(),
        TaskValidation {
            enabled: true,
            tables: vec![table("Validated", 0)],
        },
    );
    let answer = w
        .send(json!({"operation": "cutover", "dry_run": true}))
        .await
        .unwrap();
    assert_eq!(answer["steps"][2]["state"], "passed");

    w.dms.validations.lock().unwrap().insert(
        B.into(),
        TaskValidation {
            enabled: true,
            tables: vec![table("Mismatched records", 3)],
        },
    );
    let (reason, report) =
        refused_report(w.send(json!({"operation": "cutover"})).await.unwrap_err());
    assert!(reason.contains("PAYMENTSTASK"), "{reason}");
    assert!(
        reason.contains("public.orders Mismatched records (3 failed"),
        "{reason}"
    );
    assert_eq!(report.steps[2].step, StepName::Validation);
    assert!(w.target.calls().is_empty());
}

/// A failed step stops the cutover there; what ran is reported, kept in
/// the ledger and alerted, and the request can be sent again.
#[tokio::test]
async fn a_failed_step_stops_there_and_is_recorded() {
    let w = World::new();
    *w.target.fail.lock().unwrap() = Some((
        "foreign-keys",
        crate::ports::HookError {
            permanent: true,
            verification_failed: true,
            message: "public.payments payments_order_fk: 2 orphan row(s)".into(),
        },
    ));
    let err = w.send(json!({"operation": "cutover"})).await.unwrap_err();
    assert_eq!(err.error_type(), "CutoverFailed");
    let CutoverError::Failed { step, report, .. } = err else {
        panic!("expected a failure")
    };
    assert_eq!(step, StepName::ForeignKeys);
    assert_eq!(report.outcome, "failed");
    assert_eq!(report.steps[3].state, StepState::Done);
    assert_eq!(report.steps[5].state, StepState::Failed);
    assert_eq!(w.ledger.inner.requests()[0].outcome["outcome"], "failed");
    let sent = w.notifier.messages();
    assert!(
        sent[0].1.contains("cutover FAILED at ForeignKeys"),
        "{sent:?}"
    );
    assert!(sent[0].2.contains("2 orphan row(s)"), "{sent:?}");
}

/// A cutover is for a data-migration group; a data-refresh target is a
/// masked copy, set up by its hooks.
#[tokio::test]
async fn a_data_refresh_group_is_refused() {
    let w = World::in_mode("data-refresh");
    let err = w
        .send(json!({"operation": "cutover", "dry_run": true}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "CutoverRefused");
    assert!(
        err.to_string().contains("REFRESH_INDICATOR=data-migration"),
        "{err}"
    );
}

/// The source out of reach fails the request before the target is touched.
#[tokio::test]
async fn an_unreachable_source_changes_nothing() {
    let w = World::new();
    *w.source.as_ref().unwrap().unreachable.lock().unwrap() = true;
    let err = w.send(json!({"operation": "cutover"})).await.unwrap_err();
    assert_eq!(err.error_type(), "AwsTransientError");
    assert!(w.target.calls().is_empty());
}

/// `record-triggers` (the starter's, at a load start) disables and keeps
/// the enabled triggers, adding to an earlier record.
#[tokio::test]
async fn record_triggers_keeps_what_a_load_start_disabled() {
    let w = World::new();
    w.target
        .enabled
        .lock()
        .unwrap()
        .push("public.refunds.audit".into());
    let answer = w
        .send(json!({"operation": "record-triggers"}))
        .await
        .unwrap();
    assert_eq!(answer["disabled"], json!(["public.refunds.audit"]));
    assert_eq!(answer["recorded"].as_array().unwrap().len(), 3);
    let kept = w.ledger.inner.requests();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].kind, "record-triggers");

    // A data-refresh target's triggers are its hooks': refused, untouched.
    let refresh = World::in_mode("data-refresh");
    refresh
        .target
        .enabled
        .lock()
        .unwrap()
        .push("public.refunds.audit".into());
    let err = refresh
        .send(json!({"operation": "record-triggers"}))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "RecordTriggersFailed");
    assert!(err.to_string().contains("data-migration"), "{err}");
    assert!(refresh.target.calls().is_empty());
}

/// Requests of this module are told apart from the post-processor's others,
/// and a malformed one is an error that names the accepted shapes.
#[test]
fn cutover_requests_are_parsed_strictly() {
    assert!(request_from(&json!({"operation": "reconcile"})).is_none());
    assert!(request_from(&json!({"Records": []})).is_none());
    assert_eq!(
        request_from(&json!({"operation": "cutover"}))
            .unwrap()
            .unwrap(),
        CutoverRequest::Cutover { dry_run: false }
    );
    let bad = request_from(&json!({"operation": "cutover", "dryrun": true}))
        .unwrap()
        .unwrap_err();
    assert!(bad.0.contains("unknown field `dryrun`"), "{bad}");
    assert!(bad.0.contains("\"dry_run\": true"), "{bad}");
}
