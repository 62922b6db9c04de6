//! The cutover through the post-processor's own adapters on real databases:
//! the target guard asks the emulator's DMS which database the task writes
//! to, the trigger record and the steps run on the local PostgreSQL, and the
//! source's sequences are read from a second local database. What the
//! emulator cannot show stands in as fakes: a `STOPPED_AT_COMMIT_TIME` stop
//! (moto reports no stop reason) and DMS task metrics in CloudWatch.

use std::time::{Duration, Instant, SystemTime};

use dms_refresh_core::aws::{DmsClient, SecretsClient};
use dms_refresh_core::config::{Config, RefreshIndicator, RefreshType};
use dms_refresh_core::cutover::fakes::FakeTaskMetrics;
use dms_refresh_core::cutover::{CutoverError, CutoverPorts, CutoverRequest, SourceSequences};
use dms_refresh_core::fakes::{FakeDms, FakeNotifier, FakeRules};
use dms_refresh_core::ports::{ReplicationTasks, RuleState};
use dms_refresh_core::post::InvocationInfo;
use dms_refresh_core::task::TaskStatus;
use post_processor::source::SourceDatabase;
use post_processor::target::{TargetConfig, TargetHooks, vars};
use serde_json::Value;

use crate::databases::{DemoDb, Engine};
use crate::harness::{Moto, config_from, log_dir, unique};
use aws_sdk_databasemigration::types::MigrationTypeValue;

const AT: &str = "commit_time:2026-11-21T15:30:00";
const RULES: &str = include_str!("../../rules/cutover-request.toml");

/// A data-migration group of one task that stopped at [`AT`], writing to a
/// PostgreSQL target with two triggers (one disabled by design) and a
/// sequence behind the source's.
struct Scene {
    moto: Moto,
    target_db: DemoDb,
    _source_db: DemoDb,
    config: Config,
    dms: FakeDms,
    rules: FakeRules,
    notifier: FakeNotifier,
    hooks: TargetHooks<DmsClient, SecretsClient>,
    metrics: FakeTaskMetrics,
    source: SourceDatabase<SecretsClient, DmsClient>,
}

impl Scene {
    async fn new() -> Self {
        let moto = Moto::start().await;
        let target_db = DemoDb::create(Engine::Postgres, 20).await;
        let source_db = DemoDb::create(Engine::Postgres, 1).await;
        let mut conn = target_db.connect().await;
        for sql in [
            "CREATE SEQUENCE invoice_no START 1",
            "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'",
            "CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION touch()",
            "CREATE TRIGGER customers_hold BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION touch()",
            "ALTER TABLE customers DISABLE TRIGGER customers_hold",
        ] {
            conn.execute(sql).await;
        }
        let mut conn = source_db.connect().await;
        conn.execute("CREATE SEQUENCE invoice_no START 1").await;
        conn.execute("SELECT setval('invoice_no', 500)").await;

        let engine = target_db.dms_engine();
        let endpoint = moto
            .create_target_endpoint(engine, "127.0.0.1", target_db.port(), &target_db.name)
            .await;
        let source_endpoint = moto
            .create_source_endpoint_at(engine, "127.0.0.1", source_db.port(), &source_db.name)
            .await;
        let endpoints = (source_endpoint.as_str(), endpoint.as_str());
        let arn = moto
            .create_task_between(&unique("migration"), MigrationTypeValue::Cdc, endpoints)
            .await;
        moto.run_and_stop(&arn).await;
        let mut task = DmsClient::new(moto.dms())
            .describe_task(&arn)
            .await
            .unwrap()
            .expect("the emulator's task");
        task.status = TaskStatus::Stopped;
        task.migration_type = Some(RefreshType::Cdc);
        task.stop_reason = Some("STOPPED_AT_COMMIT_TIME".into());
        task.cdc_stop_position = Some(AT.into());
        let resource_id = arn.rsplit(':').next().unwrap_or_default().to_owned();

        let rule = unique("migration");
        let rules = FakeRules::with_rule(&rule, RuleState::Disabled);
        rules.record_stop_at(&rule, AT);
        let env = [
            ("DMS_TASK_ARNS", arn.as_str()),
            ("SCHEDULE_RULE_NAME", rule.as_str()),
            ("REFRESH_INDICATOR", "data-migration"),
            ("REFRESH_TYPE", "cdc"),
            ("SCHEDULE_MODE", "one-time"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let hooks = hooks(&moto, &target_db).await;
        let source_secret = moto.create_secret(&source_db.secret_json()).await;
        let source = source_reader(&moto, &source_secret);
        Self {
            config: config_from(&env),
            dms: FakeDms::with_tasks([task]),
            rules,
            notifier: FakeNotifier::default(),
            hooks,
            metrics: FakeTaskMetrics::at(&[&resource_id], 0.0),
            source,
            target_db,
            _source_db: source_db,
            moto,
        }
    }

    async fn send(&self, request: CutoverRequest) -> Result<Value, CutoverError> {
        let ports = CutoverPorts {
            dms: &self.dms,
            rules: &self.rules,
            notifier: &self.notifier,
            ledger: &self.hooks,
            target: &self.hooks,
            metrics: &self.metrics,
            source: Some(&self.source),
        };
        let info = InvocationInfo {
            owner: unique("cutover-request"),
            hooks_deadline: Instant::now() + Duration::from_secs(600),
            lease_until: SystemTime::now() + Duration::from_secs(900),
        };
        ports.handle(&self.config, &request, &info).await
    }

    /// `pg_trigger.tgenabled` of a trigger of the target.
    async fn trigger_mode(&self, name: &str) -> String {
        let mut conn = self.target_db.connect().await;
        let rows = conn
            .strings(&format!(
                "SELECT tgenabled::text FROM pg_trigger WHERE tgname = '{name}'"
            ))
            .await;
        rows[0][0].clone().unwrap_or_default()
    }
}

/// The post-processor's source reader with the secret `secret_arn`.
fn source_reader(moto: &Moto, secret_arn: &str) -> SourceDatabase<SecretsClient, DmsClient> {
    SourceDatabase::from_lookup(
        |k| match k {
            "SOURCE_DB_SECRET_ARN" => Some(secret_arn.to_owned()),
            "SOURCE_DB_TLS_MODE" => Some("disable".into()),
            _ => None,
        },
        SecretsClient::new(moto.secrets()),
        DmsClient::new(moto.dms()),
    )
    .unwrap()
    .expect("a source is configured")
}

/// The post-processor's target adapter, in data-migration mode (no salt).
async fn hooks(moto: &Moto, db: &DemoDb) -> TargetHooks<DmsClient, SecretsClient> {
    let secret = moto.create_secret(&db.secret_json()).await;
    let rules_path = log_dir().join(format!("{}.toml", unique("cutover-rules")));
    std::fs::write(&rules_path, RULES).unwrap();
    let env = [
        (vars::DB_SECRET_ARN, secret),
        (vars::RULES_PATH, rules_path.display().to_string()),
        (vars::TLS_MODE, "disable".to_owned()),
    ];
    let config = TargetConfig::from_lookup(RefreshIndicator::DataMigration, |k| {
        env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .expect("target configuration");
    TargetHooks::new(
        config,
        DmsClient::new(moto.dms()),
        SecretsClient::new(moto.secrets()),
    )
}

/// Seed 003 on real parts: the load start records and disables the enabled
/// trigger; a latency above zero refuses with the target untouched; the dry
/// run reads the source; the cutover sets the sequence from the source,
/// re-enables exactly the recorded trigger and keeps the request.
#[tokio::test]
async fn postgres_a_cutover_restores_what_the_load_start_recorded() {
    let scene = Scene::new().await;
    let recorded = scene.send(CutoverRequest::RecordTriggers).await.unwrap();
    assert_eq!(
        recorded["triggers"],
        serde_json::json!(["public.orders.orders_audit"]),
        "{recorded}"
    );
    assert_eq!(scene.trigger_mode("orders_audit").await, "D");

    let resource_id = scene
        .dms
        .tasks
        .lock()
        .unwrap()
        .values()
        .next()
        .map(|t| t.arn.rsplit(':').next().unwrap_or_default().to_owned())
        .unwrap();
    scene.metrics.set(
        &resource_id,
        dms_refresh_core::cutover::LatencyMetric::Source,
        3.0,
    );
    let refused = scene
        .send(CutoverRequest::Cutover { dry_run: false })
        .await
        .unwrap_err();
    assert_eq!(refused.error_type(), "CutoverRefused", "{refused}");
    assert_eq!(
        scene.trigger_mode("orders_audit").await,
        "D",
        "a refusal changes nothing"
    );
    scene.metrics.set(
        &resource_id,
        dms_refresh_core::cutover::LatencyMetric::Source,
        0.0,
    );

    let dry = scene
        .send(CutoverRequest::Cutover { dry_run: true })
        .await
        .unwrap();
    let values = dry["steps"][3]["details"]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        values
            .iter()
            .any(|v| v["name"] == "invoice_no" && v["next_value"] == 501),
        "{dry}"
    );
    assert_eq!(
        dry["steps"][4]["details"]["triggers"],
        serde_json::json!(["public.orders.orders_audit"])
    );
    assert_eq!(
        scene.trigger_mode("orders_audit").await,
        "D",
        "a dry run changes nothing"
    );

    let done = scene
        .send(CutoverRequest::Cutover { dry_run: false })
        .await
        .unwrap();
    assert_eq!(done["outcome"], "done", "{done}");
    assert_eq!(done["ledger"], "recorded");
    assert_eq!(scene.trigger_mode("orders_audit").await, "O");
    assert_eq!(
        scene.trigger_mode("customers_hold").await,
        "D",
        "disabled by design, left so"
    );
    let mut conn = scene.target_db.connect().await;
    let next = conn.strings("SELECT nextval('invoice_no')::text").await;
    assert_eq!(next[0][0].as_deref(), Some("501"));
    let kept = conn
        .strings("SELECT operation FROM dms_refresh_control.requests WHERE operation = 'cutover'")
        .await;
    assert_eq!(kept.len(), 1, "{kept:?}");
}

/// The source is read only where the tasks' source endpoint points: a
/// secret of another database (here the target's) is refused, unread.
#[tokio::test]
async fn postgres_the_source_secret_must_name_the_tasks_source() {
    let scene = Scene::new().await;
    let wrong_secret = scene
        .moto
        .create_secret(&scene.target_db.secret_json())
        .await;
    let wrong = source_reader(&scene.moto, &wrong_secret);
    let tasks: Vec<_> = scene.dms.tasks.lock().unwrap().values().cloned().collect();
    let err = wrong.sequences(&tasks).await.unwrap_err();
    assert!(err.message.contains("refusing to read"), "{err}");
    assert!(
        err.message.contains("is not the source of DMS endpoint"),
        "{err}"
    );
    assert!(scene.source.sequences(&tasks).await.is_ok());
}
