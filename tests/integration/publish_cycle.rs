//! The post-processor in the default publish model, end to end: DMS (the
//! emulator) loads into the quarantine, the post-processor rewrites a masked
//! copy and publishes it into live on the real MariaDB or PostgreSQL; a
//! failed load publishes nothing; the guard refuses a task that loads into
//! live; an operator rolls back.

use aws_sdk_databasemigration::types::MigrationTypeValue;
use dms_refresh_core::aws::{DmsClient, SecretsClient};
use dms_refresh_core::config::Config;
use dms_refresh_core::fakes::FakeContinuer;
use dms_refresh_core::post::{PostError, PostSummary, RecordAction};
use post_processor::target::{TargetHooks, layout_vars};

use crate::databases::{DemoDb, Engine};
use crate::harness::{Inbox, Moto, config_from, function_env, post_deliver, unique};
use crate::masking_cycle::{FINISHED, RULES, later, masked_email, target_hooks_layout};

const FAILED: &str = include_str!("../../events/post-processor/sns-failed.json");
const ROLLBACK: &str = include_str!("../../events/post-processor/rollback.json");

/// Table mappings that load the production schema `app` into `quarantine`.
fn into(quarantine: &str) -> String {
    serde_json::json!({"rules": [
        {"rule-type": "selection", "rule-id": "1", "rule-name": "app",
         "object-locator": {"schema-name": "app", "table-name": "%"}, "rule-action": "include"},
        {"rule-type": "transformation", "rule-id": "2", "rule-name": "quarantine",
         "rule-target": "schema", "object-locator": {"schema-name": "app"},
         "rule-action": "rename", "value": quarantine}
    ]})
    .to_string()
}

struct PublishScene {
    moto: Moto,
    db: DemoDb,
    live: String,
    quarantine: String,
    task: String,
    rule: String,
    inbox: Inbox,
    config: Config,
    hooks: TargetHooks<DmsClient, SecretsClient>,
    continuer: FakeContinuer,
}

impl PublishScene {
    /// `rows` customers loaded into the quarantine by a task whose mappings
    /// are `mappings(quarantine)`.
    async fn new(engine: Engine, rows: u32, mappings: impl Fn(&str) -> String) -> Self {
        let moto = Moto::start().await;
        let mut db = DemoDb::create(engine, rows).await;
        let (live, quarantine) = match engine {
            Engine::MariaDb => (db.name.clone(), format!("{}_q", db.name)),
            Engine::Postgres => ("app_live".to_owned(), "app_quarantine".to_owned()),
        };
        if engine == Engine::MariaDb {
            db.also_drop = ["_q", "_retired", "_build"]
                .iter()
                .map(|s| format!("{}{s}", db.name))
                .collect();
        }
        let scene_db = &db;
        let mut conn = scene_db.connect().await;
        // What DMS loaded: the demo tables, in the quarantine.
        match engine {
            Engine::MariaDb => {
                conn.execute(&format!("CREATE DATABASE {quarantine}")).await;
                conn.execute(&format!(
                    "RENAME TABLE {live}.orders TO {quarantine}.orders, {live}.customers TO {quarantine}.customers"
                ))
                .await;
            }
            Engine::Postgres => {
                conn.execute(&format!(
                    "CREATE SCHEMA {quarantine}; ALTER TABLE customers SET SCHEMA {quarantine}; \
                     ALTER TABLE orders SET SCHEMA {quarantine}"
                ))
                .await;
            }
        }
        let endpoint = moto
            .create_target_endpoint(db.dms_engine(), "127.0.0.1", db.port(), &db.name)
            .await;
        let task = moto
            .create_task_mapped(
                "dms-refresh-demo",
                MigrationTypeValue::FullLoad,
                &endpoint,
                &mappings(&quarantine),
            )
            .await;
        moto.run_and_stop(&task).await;
        let rule = unique("nightly");
        moto.lock_rule(&rule).await;
        let inbox = Inbox::create(&moto).await;
        let grants = String::new();
        let hooks = target_hooks_layout(
            &moto,
            &db.secret_json(),
            Some("disable"),
            RULES,
            &[
                (layout_vars::LIVE, live.as_str()),
                (layout_vars::QUARANTINE, quarantine.as_str()),
                (layout_vars::GRANTS, grants.as_str()),
            ],
        )
        .await;
        let config = config_from(&function_env(
            &[&task],
            &rule,
            "schedule",
            Some(&inbox.topic_arn),
        ));
        Self {
            moto,
            db,
            live,
            quarantine,
            task,
            rule,
            inbox,
            config,
            hooks,
            continuer: FakeContinuer::default(),
        }
    }

    async fn deliver(&self, payload: &str) -> Result<PostSummary, PostError> {
        post_deliver(
            &self.moto,
            &self.config,
            &self.hooks,
            &self.hooks,
            &self.continuer,
            payload,
            later(),
        )
        .await
    }

    fn table(&self, place: &str, table: &str) -> String {
        format!("{place}.{table}")
    }

    async fn strings(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.db.connect().await.strings(sql).await
    }

    async fn count(&self, place: &str) -> usize {
        let sql = format!(
            "SELECT CAST(COUNT(*) AS CHAR(12)) FROM {}",
            self.table(place, "customers")
        );
        let rows = self.strings(&sql).await;
        rows[0][0]
            .as_deref()
            .unwrap_or("0")
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// Every live row, as text, in key order: what developers see.
    async fn live_rows(&self) -> Vec<Vec<Option<String>>> {
        self.strings(&format!(
            "SELECT CAST(c.id AS CHAR(10)), c.email, c.first_name, c.phone, o.customer_email \
             FROM {} c JOIN {} o ON o.customer_id = c.id ORDER BY c.id",
            self.table(&self.live, "customers"),
            self.table(&self.live, "orders")
        ))
        .await
    }

    /// A new night: DMS reloads `rows` customers into the quarantine.
    async fn reload(&self, rows: u32) {
        let mut conn = self.db.connect().await;
        let (q, series, text) = match self.db.engine {
            Engine::MariaDb => (
                self.quarantine.clone(),
                format!("(SELECT seq AS i FROM seq_1_to_{rows}) s"),
                "CHAR",
            ),
            Engine::Postgres => (
                self.quarantine.clone(),
                format!("generate_series(1, {rows}) AS s(i)"),
                "TEXT",
            ),
        };
        for sql in [
            format!("DELETE FROM {q}.orders"),
            format!("DELETE FROM {q}.customers"),
            format!(
                "INSERT INTO {q}.customers SELECT i, CONCAT('Person.', CAST(i AS {text}), '@Example.COM'), \
                 CONCAT('First', CAST(i AS {text})), CONCAT('Last', CAST(i AS {text})), NULL, 'Springfield' FROM {series}"
            ),
            format!(
                "INSERT INTO {q}.orders SELECT i, i, CONCAT('Person.', CAST(i AS {text}), '@Example.COM'), 10 FROM {series}"
            ),
        ] {
            conn.execute(&sql).await;
        }
        // A run is named by its start date in whole seconds: the next night
        // starts in a later second.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        self.moto.run_and_stop(&self.task).await;
        self.moto.lock_rule(&self.rule).await;
    }
}

fn action(summary: &PostSummary) -> &RecordAction {
    &summary.records[0].action
}

async fn a_finished_load_is_published_as_a_masked_copy(engine: Engine) {
    let scene = PublishScene::new(engine, 120, into).await;
    let summary = scene.deliver(FINISHED).await.unwrap();
    assert!(
        matches!(action(&summary), RecordAction::Completed { .. }),
        "{summary:?}"
    );
    let rows = scene.live_rows().await;
    assert_eq!(rows.len(), 120, "a complete copy");
    for row in &rows {
        let id = row[0].as_deref().unwrap_or_default().trim();
        let email = masked_email(&format!("Person.{id}@Example.COM"));
        assert_eq!(
            row[1].as_deref(),
            Some(email.as_str()),
            "row {id} masked once"
        );
        assert_eq!(row[4], row[1], "row {id}: the join still matches");
    }
    assert_eq!(
        scene.count(&scene.quarantine).await,
        0,
        "raw rows purged after publish"
    );
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "ENABLED");
    let published = scene.inbox.drain().await;
    assert_eq!(published.len(), 1, "{published:?}");
    let again = scene.deliver(FINISHED).await.unwrap();
    assert!(matches!(action(&again), RecordAction::Duplicate { .. }));
    assert_eq!(
        scene.live_rows().await,
        rows,
        "a duplicate publishes nothing"
    );
}

#[tokio::test]
async fn mariadb_a_finished_load_is_published_as_a_masked_copy() {
    a_finished_load_is_published_as_a_masked_copy(Engine::MariaDb).await;
}

#[tokio::test]
async fn postgres_a_finished_load_is_published_as_a_masked_copy() {
    a_finished_load_is_published_as_a_masked_copy(Engine::Postgres).await;
}

async fn a_failed_load_publishes_nothing(engine: Engine) {
    let scene = PublishScene::new(engine, 80, into).await;
    scene.deliver(FINISHED).await.unwrap();
    scene.inbox.drain().await;
    let before = scene.live_rows().await;
    scene.reload(95).await;
    let summary = scene.deliver(FAILED).await.unwrap();
    assert!(
        matches!(action(&summary), RecordAction::LoadFailureHandled { .. }),
        "{summary:?}"
    );
    assert_eq!(
        scene.live_rows().await,
        before,
        "live is what it was, row for row"
    );
    assert_eq!(
        scene.count(&scene.quarantine).await,
        95,
        "the failed load is kept"
    );
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "DISABLED");
    let alerts = scene.inbox.drain().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let summary = alerts[0].1["summary"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(summary.contains("Nothing was published"), "{summary}");
}

#[tokio::test]
async fn mariadb_a_failed_load_publishes_nothing() {
    a_failed_load_publishes_nothing(Engine::MariaDb).await;
}

#[tokio::test]
async fn postgres_a_failed_load_publishes_nothing() {
    a_failed_load_publishes_nothing(Engine::Postgres).await;
}

/// Issue 10's guard on real parts: a task whose mappings load into live is
/// refused before anything is written, and alerted.
async fn guard_refusal(engine: Engine) {
    let scene = PublishScene::new(engine, 30, |quarantine| {
        // The live place, named the way the scene names it.
        let live = quarantine.strip_suffix("_q").unwrap_or("app_live");
        into(live)
    })
    .await;
    let err = scene.deliver(FINISHED).await.unwrap_err();
    assert_eq!(err.error_type(), "HookFailedPermanent");
    let text = err.to_string();
    assert!(text.contains("is a DMS target"), "{text}");
    assert_eq!(scene.count(&scene.quarantine).await, 30, "nothing written");
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "DISABLED");
    let alerts = scene.inbox.drain().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
}

#[tokio::test]
async fn mariadb_the_guard_refuses_a_task_that_loads_into_live() {
    guard_refusal(Engine::MariaDb).await;
}

#[tokio::test]
async fn postgres_the_guard_refuses_a_task_that_loads_into_live() {
    guard_refusal(Engine::Postgres).await;
}

async fn an_operator_rolls_back_to_the_previous_copy(engine: Engine) {
    let scene = PublishScene::new(engine, 60, into).await;
    scene.deliver(FINISHED).await.unwrap();
    let night1 = scene.live_rows().await;
    scene.reload(75).await;
    let summary = scene.deliver(FINISHED).await.unwrap();
    assert!(
        matches!(action(&summary), RecordAction::Completed { .. }),
        "{summary:?}"
    );
    assert_eq!(scene.live_rows().await.len(), 75);

    let rolled = scene.deliver(ROLLBACK).await.unwrap();
    let answer = rolled.operation.expect("an answer");
    assert_eq!(answer["rolled_back"], true, "{answer}");
    assert_eq!(scene.live_rows().await, night1, "yesterday's copy is back");
    let dry = scene
        .deliver(r#"{"operation": "rollback", "dry_run": true}"#)
        .await
        .unwrap();
    assert_eq!(dry.operation.expect("an answer")["dry_run"], true);
    assert_eq!(scene.live_rows().await, night1, "a dry run changes nothing");
}

#[tokio::test]
async fn mariadb_an_operator_rolls_back_to_the_previous_copy() {
    an_operator_rolls_back_to_the_previous_copy(Engine::MariaDb).await;
}

#[tokio::test]
async fn postgres_an_operator_rolls_back_to_the_previous_copy() {
    an_operator_rolls_back_to_the_previous_copy(Engine::Postgres).await;
}
