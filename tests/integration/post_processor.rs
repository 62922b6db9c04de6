//! The post-processor against the emulator: rule state and notifications read
//! back from it. The emulator records no `StopReason`, so these tests also
//! exercise the fallback to the stop reason in the event's text.

use aws_sdk_databasemigration::types::MigrationTypeValue;
use dms_refresh_core::config::Config;
use dms_refresh_core::fakes::{FakeContinuer, FakeHooks};
use dms_refresh_core::memory::MemoryLedger;
use dms_refresh_core::ports::HookError;
use dms_refresh_core::post::{PostError, PostSummary, RecordAction};
use std::time::{Duration, Instant};

use crate::harness::{Inbox, Moto, config_from, function_env, post_deliver, unique};

const FINISHED: &str = include_str!("../../events/post-processor/sns-finished.json");
const OTHER_TASK: &str = include_str!("../../events/post-processor/sns-other-task.json");
const EVENTBRIDGE: &str = include_str!("../../events/post-processor/eventbridge-finished.json");

/// The demo task (identifier as in the fixtures) stopped after its load, the
/// rule disabled by the starter, a topic with a queue to read it back.
struct Scene {
    moto: Moto,
    rule: String,
    task_arn: String,
    inbox: Inbox,
    config: Config,
    ledger: MemoryLedger,
    hooks: FakeHooks,
    continuer: FakeContinuer,
}

impl Scene {
    async fn new() -> Self {
        let moto = Moto::start().await;
        let rule = unique("nightly");
        moto.lock_rule(&rule).await;
        let task_arn = moto
            .create_task("dms-refresh-demo", MigrationTypeValue::FullLoad)
            .await;
        moto.run_and_stop(&task_arn).await;
        let inbox = Inbox::create(&moto).await;
        let config = config_from(&function_env(
            &[&task_arn],
            &rule,
            "schedule",
            Some(&inbox.topic_arn),
        ));
        Self {
            moto,
            rule,
            task_arn,
            inbox,
            config,
            ledger: MemoryLedger::default(),
            hooks: FakeHooks::default(),
            continuer: FakeContinuer::default(),
        }
    }

    async fn deliver(&self, payload: &str) -> Result<PostSummary, PostError> {
        let deadline = Instant::now() + Duration::from_secs(600);
        post_deliver(
            &self.moto,
            &self.config,
            &self.ledger,
            &self.hooks,
            &self.continuer,
            payload,
            deadline,
        )
        .await
    }
}

#[tokio::test]
async fn a_finished_load_re_enables_the_rule_after_the_hooks_and_notifies_once() {
    let scene = Scene::new().await;
    let summary = scene.deliver(FINISHED).await.unwrap();
    let RecordAction::Completed { run_id, .. } = &summary.records[0].action else {
        panic!("expected a completed run: {summary:?}");
    };
    assert!(run_id.starts_with("dms-refresh-demo@"), "{run_id}");
    assert_eq!(scene.hooks.run_count(), 1);
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "ENABLED");
    let published = scene.inbox.drain().await;
    assert_eq!(published.len(), 1, "{published:?}");
    assert!(published[0].0.contains("succeeded"), "{}", published[0].0);
    assert_eq!(published[0].1["details"]["run_id"], run_id.as_str());

    // The same stop delivered again, through EventBridge this time.
    assert!(
        EVENTBRIDGE.contains(&scene.task_arn),
        "the fixture names the emulator's task ARN"
    );
    let again = scene.deliver(EVENTBRIDGE).await.unwrap();
    assert!(
        matches!(again.records[0].action, RecordAction::Duplicate { .. }),
        "{again:?}"
    );
    assert_eq!(scene.hooks.run_count(), 1);
    assert!(scene.inbox.drain().await.is_empty());
}

#[tokio::test]
async fn a_hook_failure_leaves_the_rule_disabled_and_alerts() {
    let scene = Scene::new().await;
    scene.hooks.then(Err(HookError {
        permanent: true,
        verification_failed: false,
        message: "unknown column customers.emial".into(),
    }));
    let err = scene.deliver(FINISHED).await.unwrap_err();
    assert_eq!(err.error_type(), "HookFailedPermanent");
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "DISABLED");
    let published = scene.inbox.drain().await;
    assert_eq!(published.len(), 1);
    assert!(published[0].0.contains("FAILED"), "{}", published[0].0);
    assert_eq!(
        published[0].1["details"]["error"],
        "unknown column customers.emial"
    );
}

#[tokio::test]
async fn another_tasks_event_leaves_everything_untouched() {
    let scene = Scene::new().await;
    let summary = scene.deliver(OTHER_TASK).await.unwrap();
    assert_eq!(summary.records[0].action, RecordAction::Ignored);
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "DISABLED");
    assert_eq!(scene.hooks.run_count(), 0);
    assert!(scene.inbox.drain().await.is_empty());
}

#[tokio::test]
async fn a_running_task_makes_the_stop_event_stale() {
    let scene = Scene::new().await;
    scene
        .moto
        .dms()
        .start_replication_task()
        .replication_task_arn(&scene.task_arn)
        .start_replication_task_type(
            aws_sdk_databasemigration::types::StartReplicationTaskTypeValue::ReloadTarget,
        )
        .send()
        .await
        .unwrap();
    let summary = scene.deliver(FINISHED).await.unwrap();
    assert!(
        matches!(summary.records[0].action, RecordAction::Stale { .. }),
        "{summary:?}"
    );
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "DISABLED");
}
