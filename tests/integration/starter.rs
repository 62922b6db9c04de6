//! The starter's decisions carried out against the emulator, read back from it.

use aws_sdk_databasemigration::types::MigrationTypeValue;
use dms_refresh_core::aws::{DmsClient, EventBridgeClient, SnsClient};
use dms_refresh_core::config::Config;
use dms_refresh_core::fakes::FakeSlots;
use dms_refresh_core::starter::{
    StartSummary, StarterError, StarterPorts, StopStep, TaskAction, Trigger, move_group,
    parse_trigger, start_checked, start_refresh, stop_at,
};
use dms_refresh_core::task::StartType;

use crate::harness::{Moto, config_from, function_env, unique};

struct Starter {
    dms: DmsClient,
    rules: EventBridgeClient,
    sns: SnsClient,
}

impl Starter {
    fn new(moto: &Moto) -> Self {
        Self {
            dms: DmsClient::new(moto.dms()),
            rules: EventBridgeClient::new(moto.events()),
            sns: SnsClient::new(moto.sns()),
        }
    }

    fn ports(&self) -> StarterPorts<'_, DmsClient, EventBridgeClient, SnsClient> {
        StarterPorts {
            dms: &self.dms,
            rules: &self.rules,
            notifier: &self.sns,
            before_load: None,
        }
    }

    async fn invoke(&self, config: &Config, event: &str) -> Result<StartSummary, StarterError> {
        self.invoke_as(config, event, &unique("request")).await
    }

    async fn invoke_as(
        &self,
        config: &Config,
        event: &str,
        request_id: &str,
    ) -> Result<StartSummary, StarterError> {
        let payload: serde_json::Value = serde_json::from_str(event).unwrap();
        let trigger = parse_trigger(&payload)?;
        start_refresh(config, &self.ports(), trigger, request_id).await
    }
}

const SCHEDULED: &str = include_str!("../../events/task-starter/scheduled-event.json");
const CONSOLE: &str = include_str!("../../events/task-starter/console-test.json");
const DRY_RUN: &str = include_str!("../../events/task-starter/operator-dry-run.json");
const CDC_FROM_LSN: &str = include_str!("../../events/task-starter/operator-cdc-start-lsn.json");

#[tokio::test]
async fn scheduled_run_disables_the_rule_and_reloads_the_stopped_task_once() {
    let moto = Moto::start().await;
    let rule = unique("nightly");
    moto.put_rule(&rule, true).await;
    let arn = moto
        .create_task(&unique("refresh"), MigrationTypeValue::FullLoad)
        .await;
    moto.run_and_stop(&arn).await;
    let (status, first_start) = moto.task_state(&arn).await;
    assert_eq!(status, "stopped");

    let config = config_from(&function_env(&[&arn], &rule, "schedule", None));
    let starter = Starter::new(&moto);
    let summary = starter.invoke(&config, SCHEDULED).await.unwrap();

    assert_eq!(summary.tasks[0].action, TaskAction::Started);
    assert_eq!(summary.tasks[0].start_type, Some(StartType::ReloadTarget));
    assert_eq!(summary.tasks[0].previous_status, "stopped");
    assert_eq!(moto.rule_state(&rule).await, "DISABLED");
    let tags = moto.rule_tags(&rule).await;
    assert_eq!(
        tags.get("dms-refresh:lock-owner").map(String::as_str),
        Some("schedule:89d1a02d-5ec7-412e-82f5-13505f849b41"),
        "the lock records its holder on the rule: {tags:?}"
    );
    assert!(tags.contains_key("dms-refresh:lock-since"), "{tags:?}");
    let (status, started) = moto.task_state(&arn).await;
    assert_eq!(status, "running");
    assert_ne!(started, first_start, "the emulator records a new start");

    // A second invocation (the console this time) while the task runs.
    let again = starter.invoke(&config, CONSOLE).await.unwrap();
    assert_eq!(again.tasks[0].action, TaskAction::Skipped);
    assert!(
        again.rule.is_none(),
        "the rule is not touched when nothing starts"
    );
    let (status, still) = moto.task_state(&arn).await;
    assert_eq!(status, "running");
    assert_eq!(still, started, "the task was not started a second time");
    assert_eq!(moto.rule_state(&rule).await, "DISABLED");
}

/// Issue 9 item 5 on the emulator: the starter is killed after it took the
/// lock and disabled the rule; EventBridge (or Lambda) delivers the same
/// scheduled event again, and that retry starts the task instead of
/// returning success with nothing started.
#[tokio::test]
async fn a_retry_of_the_killed_invocation_finishes_its_start() {
    let moto = Moto::start().await;
    let rule = unique("nightly");
    moto.put_rule(&rule, true).await;
    let arn = moto
        .create_task(&unique("refresh"), MigrationTypeValue::FullLoad)
        .await;
    moto.run_and_stop(&arn).await;
    let config = config_from(&function_env(&[&arn], &rule, "schedule", None));
    // What the killed attempt left: its lock on the rule, the rule disabled.
    // Taken after last night's start (which the emulator dated a moment ago).
    let lock = dms_refresh_core::ports::RuleLock::taken(
        "schedule:89d1a02d-5ec7-412e-82f5-13505f849b41",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3,
        true,
    );
    let rules = EventBridgeClient::new(moto.events());
    use dms_refresh_core::ports::ScheduleRule;
    rules.set_lock(&rule, &lock).await.unwrap();
    moto.put_rule(&rule, false).await;

    let starter = Starter::new(&moto);
    // A console run meanwhile starts nothing.
    let console = starter.invoke(&config, CONSOLE).await.unwrap();
    assert_eq!(console.tasks[0].action, TaskAction::Skipped);
    assert_eq!(moto.task_state(&arn).await.0, "stopped");
    // The retry of the same scheduled event finishes the start.
    let retry = starter
        .invoke_as(&config, SCHEDULED, "retry")
        .await
        .unwrap();
    assert_eq!(retry.tasks[0].action, TaskAction::Started);
    assert_eq!(moto.task_state(&arn).await.0, "running");
    assert_eq!(moto.rule_state(&rule).await, "DISABLED");
}

/// Issue 9 item 4 on the emulator: one task of the group cannot start
/// (moto leaves a new task `creating`), so none is started.
#[tokio::test]
async fn a_group_with_a_task_that_cannot_start_starts_nothing() {
    let moto = Moto::start().await;
    let rule = unique("nightly");
    moto.put_rule(&rule, true).await;
    let ready = moto
        .create_task(&unique("orders"), MigrationTypeValue::FullLoad)
        .await;
    moto.run_and_stop(&ready).await;
    let creating = moto
        .create_task(&unique("customers"), MigrationTypeValue::FullLoad)
        .await;
    let config = config_from(&function_env(&[&ready, &creating], &rule, "schedule", None));
    let summary = Starter::new(&moto)
        .invoke(&config, SCHEDULED)
        .await
        .unwrap();
    assert!(
        summary
            .tasks
            .iter()
            .all(|t| t.action == TaskAction::Skipped),
        "{summary:?}"
    );
    assert_eq!(moto.task_state(&ready).await.0, "stopped");
    assert_eq!(moto.rule_state(&rule).await, "ENABLED");
    assert!(moto.rule_tags(&rule).await.is_empty());
}

#[tokio::test]
async fn one_time_mode_starts_without_touching_the_rule() {
    let moto = Moto::start().await;
    let rule = unique("unused");
    moto.put_rule(&rule, true).await;
    let arn = moto
        .create_task(&unique("migrate"), MigrationTypeValue::FullLoad)
        .await;
    moto.run_and_stop(&arn).await;

    let config = config_from(&function_env(&[&arn], &rule, "one-time", None));
    let summary = Starter::new(&moto).invoke(&config, CONSOLE).await.unwrap();
    assert_eq!(summary.tasks[0].action, TaskAction::Started);
    assert_eq!(moto.rule_state(&rule).await, "ENABLED");
    assert_eq!(moto.task_state(&arn).await.0, "running");
}

#[tokio::test]
async fn a_task_still_creating_is_not_started_and_the_rule_stays_enabled() {
    let moto = Moto::start().await;
    let rule = unique("nightly");
    moto.put_rule(&rule, true).await;
    let arn = moto
        .create_task(&unique("new"), MigrationTypeValue::FullLoad)
        .await;

    let config = config_from(&function_env(&[&arn], &rule, "schedule", None));
    let summary = Starter::new(&moto)
        .invoke(&config, SCHEDULED)
        .await
        .unwrap();
    assert_eq!(summary.tasks[0].action, TaskAction::Skipped);
    assert!(
        summary.tasks[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("creating")
    );
    assert_eq!(moto.rule_state(&rule).await, "ENABLED");
    assert_eq!(moto.task_state(&arn).await, ("creating".to_owned(), None));
}

#[tokio::test]
async fn a_refresh_group_starts_every_task_and_a_dry_run_changes_nothing() {
    let moto = Moto::start().await;
    let rule = unique("nightly");
    moto.put_rule(&rule, true).await;
    let a = moto
        .create_task(&unique("orders"), MigrationTypeValue::FullLoad)
        .await;
    let b = moto
        .create_task(&unique("customers"), MigrationTypeValue::FullLoad)
        .await;
    moto.run_and_stop(&a).await;
    moto.run_and_stop(&b).await;
    let config = config_from(&function_env(&[&a, &b], &rule, "schedule", None));
    let starter = Starter::new(&moto);

    let plan = starter.invoke(&config, DRY_RUN).await.unwrap();
    assert!(
        plan.tasks
            .iter()
            .all(|t| t.action == TaskAction::WouldStart)
    );
    assert_eq!(moto.rule_state(&rule).await, "ENABLED");
    assert_eq!(moto.task_state(&a).await.0, "stopped");

    let summary = starter.invoke(&config, SCHEDULED).await.unwrap();
    assert!(
        summary
            .tasks
            .iter()
            .all(|t| t.action == TaskAction::Started)
    );
    assert_eq!(moto.task_state(&a).await.0, "running");
    assert_eq!(moto.task_state(&b).await.0, "running");
    assert_eq!(moto.rule_state(&rule).await, "DISABLED");
}

#[tokio::test]
async fn an_unknown_task_fails_clearly_and_changes_nothing() {
    let moto = Moto::start().await;
    let rule = unique("nightly");
    moto.put_rule(&rule, true).await;
    let missing = "arn:aws:dms:us-east-1:123456789012:task:DOES-NOT-EXIST";
    let config = config_from(&function_env(&[missing], &rule, "schedule", None));
    let err = Starter::new(&moto)
        .invoke(&config, SCHEDULED)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "TaskNotFound");
    assert!(err.to_string().contains("DOES-NOT-EXIST"), "{err}");
    assert_eq!(moto.rule_state(&rule).await, "ENABLED");
}

#[tokio::test]
async fn a_missing_rule_fails_before_any_task_starts() {
    let moto = Moto::start().await;
    let arn = moto
        .create_task(&unique("refresh"), MigrationTypeValue::FullLoad)
        .await;
    moto.run_and_stop(&arn).await;
    let config = config_from(&function_env(&[&arn], "no-such-rule", "schedule", None));
    let err = Starter::new(&moto)
        .invoke(&config, SCHEDULED)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "RuleNotFound");
    assert_eq!(moto.task_state(&arn).await.0, "stopped");
}

/// A CDC-only task reading from a PostgreSQL source whose endpoint names
/// its slot, and the slot as the source holds it (the real slot reading is
/// tested against a logical-decoding PostgreSQL in the task-starter crate).
async fn cdc_from_postgres(moto: &Moto, first_change: &str) -> (Config, String, FakeSlots) {
    let source = moto
        .create_source_endpoint("postgres", Some("dms_slot"))
        .await;
    let arn = moto.create_cdc_task_from(&unique("cdc"), &source).await;
    moto.run_and_stop(&arn).await;
    let mut env = function_env(&[&arn], &unique("nightly"), "one-time", None);
    env.retain(|(k, _)| k != "REFRESH_TYPE" && k != "REFRESH_INDICATOR");
    env.push(("REFRESH_TYPE".into(), "cdc".into()));
    env.push(("REFRESH_INDICATOR".into(), "data-migration".into()));
    let slots = FakeSlots::holding("dms_slot", "1/87F75000", first_change);
    (config_from(&env), arn, slots)
}

async fn start_from(
    moto: &Moto,
    config: &Config,
    slots: &FakeSlots,
    request: serde_json::Value,
) -> Result<StartSummary, StarterError> {
    let starter = Starter::new(moto);
    let ports = starter.ports();
    let trigger = parse_trigger(&request)?;
    start_checked(config, &ports, Some(slots), trigger, &unique("request")).await
}

#[tokio::test]
async fn a_cdc_start_from_an_lsn_is_checked_then_sent_to_dms() {
    let moto = Moto::start().await;
    let (config, arn, slots) = cdc_from_postgres(&moto, "1/87F75B28").await;
    let request = |dry_run: bool| {
        let mut event: serde_json::Value = serde_json::from_str(CDC_FROM_LSN).unwrap();
        event["dry_run"] = dry_run.into();
        event
    };
    let dry = start_from(&moto, &config, &slots, request(true))
        .await
        .unwrap();
    assert_eq!(dry.tasks[0].action, TaskAction::WouldStart);
    assert_eq!(moto.task_state(&arn).await.0, "stopped");
    let answer = serde_json::to_value(&dry).unwrap();
    assert_eq!(
        answer["cdc_start_check"]["tasks"][0]["slot"]["verdict"], "available",
        "{answer}"
    );

    let started = start_from(&moto, &config, &slots, request(false))
        .await
        .unwrap();
    assert_eq!(started.tasks[0].action, TaskAction::Started);
    // StartReplicationTaskType (API reference): a CDC-only task starts from
    // a position with start-replication, although this one ran before.
    assert_eq!(
        started.tasks[0].start_type,
        Some(StartType::StartReplication)
    );
    assert_eq!(moto.task_state(&arn).await.0, "running");
    assert_eq!(*slots.reads.lock().unwrap(), 2);
}

#[tokio::test]
async fn a_cdc_start_the_source_cannot_serve_is_refused_before_dms_is_called() {
    let moto = Moto::start().await;
    let (config, arn, slots) = cdc_from_postgres(&moto, "1/87F75B28").await;
    for (position, expected) in [
        ("1/87F75990", "\"cdc_start_position\": \"1/87F75B28\""),
        ("mysql-bin-changelog.000024:373", "LSN such as"),
    ] {
        let err = start_from(
            &moto,
            &config,
            &slots,
            serde_json::json!({"operation": "start", "cdc_start_position": position}),
        )
        .await
        .unwrap_err();
        assert_eq!(err.error_type(), "CdcStartRefused");
        assert!(err.to_string().contains(expected), "{err}");
    }
    assert_eq!(moto.task_state(&arn).await.0, "stopped");
}

/// Two CDC-only tasks reading from one `source`, running (started, stopped,
/// resumed: the only way the emulator gets there), and the functions'
/// environment for them as a one-time CDC migration group.
async fn running_cdc_group(
    moto: &Moto,
    rule: &str,
    engine: &str,
    names: [&str; 2],
) -> (Vec<String>, Vec<(String, String)>) {
    let source = moto.create_source_endpoint(engine, None).await;
    let mut arns = Vec::new();
    for name in names {
        let arn = moto.create_cdc_task_from(&unique(name), &source).await;
        moto.run_and_stop(&arn).await;
        moto.dms()
            .start_replication_task()
            .replication_task_arn(&arn)
            .start_replication_task_type(
                aws_sdk_databasemigration::types::StartReplicationTaskTypeValue::ResumeProcessing,
            )
            .send()
            .await
            .unwrap();
        arns.push(arn);
    }
    let refs: Vec<&str> = arns.iter().map(String::as_str).collect();
    let mut env = function_env(&refs, rule, "one-time", None);
    env.retain(|(k, _)| k != "REFRESH_TYPE" && k != "REFRESH_INDICATOR");
    env.push(("REFRESH_TYPE".into(), "cdc".into()));
    env.push(("REFRESH_INDICATOR".into(), "data-migration".into()));
    (arns, env)
}

const STOP_AT: &str = include_str!("../../events/task-starter/operator-stop-at.json");

/// Seed 001 on the emulator: a two-task CDC group, both running; `stop-at`
/// stops each and resumes it (moto keeps no `CdcStopPosition`, so the
/// position sent is asserted with aws-smithy-mocks in the core crate), and
/// records the position on the rule for the post-processor.
#[tokio::test]
async fn stop_at_stops_and_resumes_a_running_cdc_group_and_records_the_position() {
    let moto = Moto::start().await;
    let rule = unique("nightly");
    moto.put_rule(&rule, false).await;
    let (arns, env) = running_cdc_group(&moto, &rule, "oracle", ["cdc-parent", "cdc-child"]).await;
    let config = config_from(&env);
    let starter = Starter::new(&moto);
    let ports = starter.ports();
    let Trigger::StopAt { position, .. } =
        parse_trigger(&serde_json::from_str(STOP_AT).unwrap()).unwrap()
    else {
        panic!("the stop-at event is not a stop-at request");
    };

    let dry = stop_at(&config, &ports, &position, true, "req-dry")
        .await
        .unwrap();
    assert!(
        dry.tasks.iter().all(|t| t.step == StopStep::Stop),
        "{dry:?}"
    );
    assert!(
        !moto
            .rule_tags(&rule)
            .await
            .contains_key("dms-refresh:stop-at")
    );

    let done = stop_at(&config, &ports, &position, false, "req-1")
        .await
        .unwrap();
    assert!(done.is_done(), "{done:?}");
    let resumed = done.resumed.expect("the stopped tasks are resumed");
    assert_eq!(resumed.tasks.len(), 2);
    for t in &resumed.tasks {
        assert_eq!(t.action, TaskAction::Started, "{t:?}");
        assert_eq!(t.start_type, Some(StartType::ResumeProcessing));
    }
    for arn in &arns {
        assert_eq!(moto.task_state(arn).await.0, "running");
    }
    assert_eq!(
        moto.rule_tags(&rule).await.get("dms-refresh:stop-at"),
        Some(&position)
    );

    // A task of the group that is not running or stopped refuses the whole request.
    let source = moto.create_source_endpoint("oracle", None).await;
    let ready = moto.create_cdc_task_from(&unique("cdc-new"), &source).await;
    let mut env = env.clone();
    env.retain(|(k, _)| k != "DMS_TASK_ARNS");
    env.push(("DMS_TASK_ARNS".into(), format!("{},{ready}", arns[0])));
    let err = stop_at(&config_from(&env), &ports, &position, false, "req-2")
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "StopAtRefused");
    assert_eq!(moto.task_state(&arns[0]).await.0, "running");
}

const MOVE: &str = include_str!("../../events/task-starter/operator-move.json");

/// `move` against the emulator: the running CDC tasks are stopped and the
/// move is recorded on the rule before MoveReplicationTask, which the
/// emulator does not implement: its refusal is reported per task, and the
/// record stays for the next attempt. The move itself and its end are
/// tested with `aws-smithy-mocks` and the fakes.
#[tokio::test]
async fn a_move_stops_the_group_and_records_it_before_calling_move_replication_task() {
    let moto = Moto::start().await;
    let rule = unique("nightly");
    moto.put_rule(&rule, false).await;
    let (arns, mut env) = running_cdc_group(&moto, &rule, "postgres", ["cdc-a", "cdc-b"]).await;
    let Trigger::Move {
        target_instance_arn: target,
        ..
    } = parse_trigger(&serde_json::from_str(MOVE).unwrap()).unwrap()
    else {
        panic!("the move event is not a move request");
    };
    let refused_env = env.clone();
    env.push(("MOVE_TARGET_INSTANCE_ARNS".into(), target.clone()));
    let config = config_from(&env);
    let starter = Starter::new(&moto);
    let ports = starter.ports();

    let dry = move_group(&config, &ports, &target, true, true)
        .await
        .unwrap();
    assert!(
        dry.tasks
            .iter()
            .all(|t| t.step == dms_refresh_core::moves::MoveStep::Stop),
        "{dry:?}"
    );
    assert!(
        !moto
            .rule_tags(&rule)
            .await
            .contains_key("dms-refresh:move-target")
    );

    // An instance the deployment does not allow: refused, nothing touched.
    let err = move_group(&config_from(&refused_env), &ports, &target, true, false)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "MoveRefused");
    assert_eq!(moto.task_state(&arns[0]).await.0, "running");

    let pass = move_group(&config, &ports, &target, true, false)
        .await
        .unwrap();
    for arn in &arns {
        assert_eq!(moto.task_state(arn).await.0, "stopped");
    }
    let tags = moto.rule_tags(&rule).await;
    assert_eq!(tags.get("dms-refresh:move-target"), Some(&target));
    assert_eq!(
        tags.get("dms-refresh:move-resume").map(String::as_str),
        Some("true")
    );
    assert_eq!(pass.failures.len(), 2, "{pass:?}");
    assert!(
        pass.failures
            .iter()
            .all(|f| f.contains("MoveReplicationTask")),
        "{pass:?}"
    );
    assert!(!pass.is_settled());

    // The nightly start is held while the move is recorded.
    let held = start_refresh(&config, &ports, Trigger::Manual, "req-start")
        .await
        .unwrap();
    assert!(
        held.tasks.iter().all(|t| t.action == TaskAction::Skipped),
        "{held:?}"
    );
    assert_eq!(moto.task_state(&arns[0]).await.0, "stopped");
}
