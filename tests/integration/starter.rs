//! The starter's decisions carried out against the emulator, read back from it.

use aws_sdk_databasemigration::types::MigrationTypeValue;
use dms_refresh_core::aws::{DmsClient, EventBridgeClient, SnsClient};
use dms_refresh_core::config::Config;
use dms_refresh_core::starter::{
    StartSummary, StarterError, StarterPorts, TaskAction, parse_trigger, start_refresh,
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
        let ports = StarterPorts {
            dms: &self.dms,
            rules: &self.rules,
            notifier: &self.sns,
        };
        start_refresh(config, &ports, trigger, request_id).await
    }
}

const SCHEDULED: &str = include_str!("../../events/task-starter/scheduled-event.json");
const CONSOLE: &str = include_str!("../../events/task-starter/console-test.json");
const DRY_RUN: &str = include_str!("../../events/task-starter/operator-dry-run.json");

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
