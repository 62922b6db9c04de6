//! The post-processor with the masking engine on a real target database:
//! secrets and the DMS task/endpoint in the emulator, the data in the local
//! MariaDB or PostgreSQL.

use std::time::{Duration, Instant};

use dms_refresh_core::aws::{DmsClient, SecretsClient};
use dms_refresh_core::config::Config;
use dms_refresh_core::config::RefreshIndicator;
use dms_refresh_core::events::CONTINUATION_KEY;
use dms_refresh_core::fakes::FakeContinuer;
use dms_refresh_core::post::{PostError, PostSummary, RecordAction};
use hmac::{Hmac, Mac};
use post_processor::target::{TargetConfig, TargetHooks, layout_vars, vars};
use sha2::Sha256;

use crate::databases::{DemoDb, Engine};
use crate::harness::{Inbox, Moto, config_from, function_env, log_dir, post_deliver, unique};

pub(crate) const FINISHED: &str = include_str!("../../events/post-processor/sns-finished.json");
pub(crate) const SALT: &str = "integration-test-salt-0123456789";

pub(crate) const RULES: &str = r##"
version = 1

[settings]
chunk_threshold = 50
chunk_size = 40

[tables.customers.columns]
email = { strategy = "email" }
first_name = { strategy = "fake", dictionary = "first_name" }
phone = { strategy = "partial", keep_last = 4, mask_char = "#" }

[tables.orders.columns]
customer_email = { strategy = "email" }
"##;

/// The post-processor's target adapter for the database in `db_secret_json`,
/// with the secrets in the emulator and the test rules.
pub(crate) async fn target_hooks(
    moto: &Moto,
    db_secret_json: &str,
) -> TargetHooks<DmsClient, SecretsClient> {
    target_hooks_with(moto, db_secret_json, Some("disable"), RULES).await
}

/// As [`target_hooks`], with `DB_TLS_MODE` set to `tls` (or left unset) and
/// the given rules, masking in place (the explicit opt-in mode these tests
/// cover; `publish_cycle` covers the default rewrite).
pub(crate) async fn target_hooks_with(
    moto: &Moto,
    db_secret_json: &str,
    tls: Option<&str>,
    rules: &str,
) -> TargetHooks<DmsClient, SecretsClient> {
    target_hooks_layout(
        moto,
        db_secret_json,
        tls,
        rules,
        &[(layout_vars::PUBLISH_MODE, "in-place")],
    )
    .await
}

/// The target adapter with the given publish-model settings.
pub(crate) async fn target_hooks_layout(
    moto: &Moto,
    db_secret_json: &str,
    tls: Option<&str>,
    rules: &str,
    layout: &[(&'static str, &str)],
) -> TargetHooks<DmsClient, SecretsClient> {
    let db_secret = moto.create_secret(db_secret_json).await;
    let salt_secret = moto.create_secret(SALT).await;
    let rules_path = log_dir().join(format!("{}.toml", unique("rules")));
    std::fs::write(&rules_path, rules).unwrap();
    let mut env = vec![
        (vars::DB_SECRET_ARN, db_secret),
        (vars::SALT_SECRET_ARN, salt_secret),
        (vars::RULES_PATH, rules_path.display().to_string()),
    ];
    if let Some(tls) = tls {
        env.push((vars::TLS_MODE, tls.to_owned()));
    }
    env.extend(layout.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let target = TargetConfig::from_lookup(RefreshIndicator::DataRefresh, |k| {
        env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .expect("target configuration");
    TargetHooks::new(
        target,
        DmsClient::new(moto.dms()),
        SecretsClient::new(moto.secrets()),
    )
}

pub(crate) struct Scene {
    pub(crate) moto: Moto,
    pub(crate) db: DemoDb,
    pub(crate) rule: String,
    pub(crate) inbox: Inbox,
    pub(crate) config: Config,
    pub(crate) hooks: TargetHooks<DmsClient, SecretsClient>,
    pub(crate) continuer: FakeContinuer,
}

impl Scene {
    /// `endpoint_server` is the server the task's target endpoint names.
    async fn new(engine: Engine, endpoint_server: &str) -> Self {
        Self::build(engine, endpoint_server, 200, RULES).await
    }

    /// The default scene on MariaDB.
    pub(crate) async fn new_mariadb() -> Self {
        Self::new(Engine::MariaDb, "127.0.0.1").await
    }

    /// A scene with `rows` customers and orders, masked with `rules`.
    pub(crate) async fn build(
        engine: Engine,
        endpoint_server: &str,
        rows: u32,
        rules: &str,
    ) -> Self {
        let moto = Moto::start().await;
        let db = DemoDb::create(engine, rows).await;
        let endpoint = moto
            .create_target_endpoint(db.dms_engine(), endpoint_server, db.port(), &db.name)
            .await;
        let task = moto.create_task_to("dms-refresh-demo", &endpoint).await;
        moto.run_and_stop(&task).await;
        let rule = unique("nightly");
        moto.lock_rule(&rule).await;
        let inbox = Inbox::create(&moto).await;
        let hooks = target_hooks_with(&moto, &db.secret_json(), Some("disable"), rules).await;
        let config = config_from(&function_env(
            &[&task],
            &rule,
            "schedule",
            Some(&inbox.topic_arn),
        ));
        Self {
            moto,
            db,
            rule,
            inbox,
            config,
            hooks,
            continuer: FakeContinuer::default(),
        }
    }

    pub(crate) async fn deliver(
        &self,
        payload: &str,
        hooks_deadline: Instant,
    ) -> Result<PostSummary, PostError> {
        post_deliver(
            &self.moto,
            &self.config,
            &self.hooks,
            &self.hooks,
            &self.continuer,
            payload,
            hooks_deadline,
        )
        .await
    }

    pub(crate) async fn snapshot(&self) -> Vec<Vec<Option<String>>> {
        let mut conn = self.db.connect().await;
        conn.strings(
            "SELECT CAST(c.id AS CHAR(10)), c.email, c.first_name, c.phone, o.customer_email \
             FROM customers c JOIN orders o ON o.customer_id = c.id ORDER BY c.id",
        )
        .await
    }
}

pub(crate) fn later() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

/// `email` strategy: the first 32 hex digits of HMAC-SHA256(key, "email:" value) at
/// example.invalid.
pub(crate) fn masked_email(original: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SALT.as_bytes()).expect("any key length");
    mac.update(format!("email:{original}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}@example.invalid", &hex[..32])
}

async fn a_finished_load_is_masked_once(engine: Engine) {
    let scene = Scene::new(engine, "127.0.0.1").await;
    let summary = scene.deliver(FINISHED, later()).await.unwrap();
    let RecordAction::Completed { rows_affected, .. } = &summary.records[0].action else {
        panic!("expected a completed run: {summary:?}");
    };
    assert!(rows_affected.unwrap_or(0) >= 400, "{rows_affected:?}");

    let rows = scene.snapshot().await;
    assert_eq!(
        rows.len(),
        200,
        "no row lost, the join still matches every order"
    );
    for row in &rows {
        let id = row[0].as_deref().unwrap().trim();
        let email = row[1].as_deref().unwrap();
        assert_eq!(
            email,
            masked_email(&format!("Person.{id}@Example.COM")),
            "row {id}: masked exactly once"
        );
        assert_eq!(
            row[4].as_deref(),
            Some(email),
            "orders.customer_email still matches customers.email"
        );
        assert!(
            !row[2].as_deref().unwrap_or_default().starts_with("First"),
            "first name replaced"
        );
        match row[3].as_deref() {
            None => assert_eq!(id.parse::<u32>().unwrap() % 10, 0, "NULL phones stay NULL"),
            Some(phone) => assert!(
                phone.starts_with("###########") && phone.len() == 15,
                "{phone}"
            ),
        }
    }
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "ENABLED");
    let published = scene.inbox.drain().await;
    assert_eq!(published.len(), 1);
    assert_eq!(
        published[0].1["details"]["rows_affected"],
        serde_json::json!(rows_affected)
    );
    let text = published[0].1.to_string();
    assert!(
        !text.contains(SALT) && !text.contains("Person."),
        "no salt or row data in notifications"
    );

    // SNS delivers again: the ledger in the target database makes it a no-op.
    let again = scene.deliver(FINISHED, later()).await.unwrap();
    assert!(
        matches!(again.records[0].action, RecordAction::Duplicate { .. }),
        "{again:?}"
    );
    assert_eq!(scene.snapshot().await, rows);
    assert!(scene.inbox.drain().await.is_empty());
}

#[tokio::test]
async fn mariadb_a_finished_load_is_masked_once() {
    a_finished_load_is_masked_once(Engine::MariaDb).await;
}

#[tokio::test]
async fn postgres_a_finished_load_is_masked_once() {
    a_finished_load_is_masked_once(Engine::Postgres).await;
}

/// Issue 11 item 5, through the post-processor's target adapter: a load that
/// DMS resumed without reloading the target (moto always reports a fresh
/// start, so the described task is marked resumed here as DescribeReplication
/// Tasks would show it) is refused by in-place masking before any write.
async fn a_resumed_load_is_not_masked_again_in_place(engine: Engine) {
    use dms_refresh_core::ports::{PostRefreshHooks, ReplicationTasks, RunContext, RunLedger};
    let scene = Scene::new(engine, "127.0.0.1").await;
    let before = scene.snapshot().await;
    let dms = DmsClient::new(scene.moto.dms());
    let mut task = dms
        .describe_task(&scene.config.task_arns[0])
        .await
        .unwrap()
        .expect("the task exists");
    task.resumed_without_reload = true;
    let run = RunContext {
        run_id: dms_refresh_core::runs::run_id(std::slice::from_ref(&task)),
        tasks: vec![task],
        load_complete: true,
        deadline: later(),
        invocation: 1,
    };
    let lease = std::time::SystemTime::now() + Duration::from_secs(600);
    scene.hooks.begin(&run, "tester", lease).await.unwrap();
    let err = scene.hooks.run(&run).await.unwrap_err();
    assert!(err.permanent, "{err:?}");
    assert!(err.message.contains("resume-processing"), "{err:?}");
    assert_eq!(scene.snapshot().await, before, "nothing was written");
}

#[tokio::test]
async fn mariadb_a_resumed_load_is_not_masked_again_in_place() {
    a_resumed_load_is_not_masked_again_in_place(Engine::MariaDb).await;
}

#[tokio::test]
async fn postgres_a_resumed_load_is_not_masked_again_in_place() {
    a_resumed_load_is_not_masked_again_in_place(Engine::Postgres).await;
}

async fn the_guard_refuses_a_database_that_is_not_the_target(engine: Engine) {
    // The task's target endpoint names another server than the secret.
    let scene = Scene::new(engine, "prod-db.internal.example").await;
    let before = scene.snapshot().await;
    let err = scene.deliver(FINISHED, later()).await.unwrap_err();
    assert_eq!(err.error_type(), "HookFailedPermanent", "{err}");
    assert!(err.to_string().contains("refusing to write"), "{err}");
    assert_eq!(scene.snapshot().await, before, "nothing written");
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "DISABLED");
    let published = scene.inbox.drain().await;
    assert_eq!(published.len(), 1);
    assert!(published[0].0.contains("FAILED"));
}

#[tokio::test]
async fn mariadb_the_guard_refuses_a_database_that_is_not_the_target() {
    the_guard_refuses_a_database_that_is_not_the_target(Engine::MariaDb).await;
}

#[tokio::test]
async fn postgres_the_guard_refuses_a_database_that_is_not_the_target() {
    the_guard_refuses_a_database_that_is_not_the_target(Engine::Postgres).await;
}

#[tokio::test]
async fn the_deadline_hands_over_and_the_continuation_finishes_the_run() {
    let scene = Scene::new(Engine::MariaDb, "127.0.0.1").await;
    let before = scene.snapshot().await;
    // The deadline has already come: nothing can be done in this invocation.
    let first = scene.deliver(FINISHED, Instant::now()).await.unwrap();
    assert!(
        matches!(
            first.records[0].action,
            RecordAction::Continued { invocation: 2, .. }
        ),
        "{first:?}"
    );
    assert_eq!(scene.snapshot().await, before);
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "DISABLED");

    let sent = scene.continuer.sent();
    assert_eq!(sent.len(), 1);
    let payload = serde_json::json!({ CONTINUATION_KEY: sent[0] }).to_string();
    let second = scene.deliver(&payload, later()).await.unwrap();
    assert!(
        matches!(second.records[0].action, RecordAction::Completed { .. }),
        "{second:?}"
    );
    for row in scene.snapshot().await {
        let id = row[0].as_deref().unwrap().trim();
        assert_eq!(
            row[1].as_deref().unwrap(),
            masked_email(&format!("Person.{id}@Example.COM"))
        );
    }
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "ENABLED");
}

#[tokio::test]
async fn an_unreachable_database_fails_retryably_and_changes_nothing() {
    let scene = Scene::new(Engine::MariaDb, "127.0.0.1").await;
    // Point the secret at a port nothing listens on (the endpoint agrees, so
    // the guard passes and the connection itself fails).
    let port = crate::harness::free_port();
    let secret = serde_json::json!({
        "engine": "mariadb", "host": "127.0.0.1", "port": port, "username": "root",
        "password": "", "dbname": scene.db.name,
    });
    let endpoint = scene
        .moto
        .create_target_endpoint("mariadb", "127.0.0.1", i32::from(port), &scene.db.name)
        .await;
    let task = scene
        .moto
        .create_task_to("dms-refresh-unreachable", &endpoint)
        .await;
    scene.moto.run_and_stop(&task).await;
    let mut scene = scene;
    scene.hooks = target_hooks(&scene.moto, &secret.to_string()).await;
    scene.config = config_from(&function_env(
        &[&task],
        &scene.rule,
        "schedule",
        Some(&scene.inbox.topic_arn),
    ));

    let payload = FINISHED.replace("dms-refresh-demo", "dms-refresh-unreachable");
    let err = scene.deliver(&payload, later()).await.unwrap_err();
    assert_eq!(err.error_type(), "HookFailedRetryable", "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "DISABLED");
    assert_eq!(scene.inbox.drain().await.len(), 1, "an alert is published");
}

#[tokio::test]
async fn postgres_masks_over_tls_by_default() {
    // The local PostgreSQL offers TLS (Debian's default certificate); with
    // DB_TLS_MODE unset the post-processor requires it.
    let mut scene = Scene::new(Engine::Postgres, "127.0.0.1").await;
    scene.hooks = target_hooks_with(&scene.moto, &scene.db.secret_json(), None, RULES).await;
    let summary = scene.deliver(FINISHED, later()).await.unwrap();
    assert!(
        matches!(summary.records[0].action, RecordAction::Completed { .. }),
        "{summary:?}"
    );
    let mut conn = scene.db.connect().await;
    let sessions = conn
        .strings(&format!(
            "SELECT CAST(s.ssl AS TEXT) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid \
             WHERE a.application_name = 'dms-refresh-masking' AND a.datname = '{}'",
            scene.db.name
        ))
        .await;
    assert!(
        !sessions.is_empty(),
        "the masking pool keeps its ledger connection open"
    );
    assert!(
        sessions.iter().all(|s| s[0].as_deref() == Some("true")),
        "{sessions:?}"
    );
}

const RECORD_REQUEST: &str = include_str!("../../events/post-processor/record-request.json");

/// The starter's record of an operator request lands in the ledger of the
/// group's target, once (issue 12, item 5).
async fn an_operator_request_is_kept_in_the_targets_ledger(engine: Engine) {
    let scene = Scene::new(engine, "127.0.0.1").await;
    let id = unique("request");
    let payload = RECORD_REQUEST.replace("0b7a5e2c-4d1f-4f3a-9a61-2f8e5c1d7b90", &id);
    let first = scene.deliver(&payload, later()).await.unwrap();
    let answer = first.operation.expect("an answer to the request");
    assert_eq!(
        (answer["recorded"].clone(), answer["new"].clone()),
        (true.into(), true.into())
    );
    let again = scene.deliver(&payload, later()).await.unwrap();
    assert_eq!(again.operation.expect("an answer")["new"], false);
    let mut conn = scene.db.connect().await;
    let rows = conn
        .strings(&format!(
            "SELECT operation, outcome FROM dms_refresh_control.requests WHERE request_id = '{id}'"
        ))
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0].as_deref(), Some("move"));
    let outcome: serde_json::Value =
        serde_json::from_str(rows[0][1].as_deref().unwrap_or_default()).unwrap();
    assert_eq!(outcome["settled"], true);
}

#[tokio::test]
async fn mariadb_an_operator_request_is_kept_in_the_targets_ledger() {
    an_operator_request_is_kept_in_the_targets_ledger(Engine::MariaDb).await;
}

#[tokio::test]
async fn postgres_an_operator_request_is_kept_in_the_targets_ledger() {
    an_operator_request_is_kept_in_the_targets_ledger(Engine::Postgres).await;
}
