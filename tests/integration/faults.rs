//! Fault injection: duplicate and concurrent deliveries, racing starters, a
//! database connection killed in the middle of masking, and the local cycle
//! end to end. Every test is bounded in time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dms_refresh_core::aws::{EventBridgeClient, SnsClient};
use dms_refresh_core::fakes::{FakeDms, task};
use dms_refresh_core::post::{PostError, RecordAction};
use dms_refresh_core::starter::{StarterPorts, TaskAction, Trigger, start_refresh};
use dms_refresh_core::task::TaskStatus;
use sqlx::Connection;

use crate::databases::Engine;
use crate::harness::{
    Inbox, Moto, config_from, function_env, post_deliver, repo_root, unique, venv_bin,
};
use crate::masking_cycle::{FINISHED, Scene, later, masked_email, target_hooks};

/// Every row masked exactly once: each address is the single keyed
/// masking of its original, and no row was lost.
async fn assert_masked_once(scene: &Scene, rows: usize) {
    let snapshot = scene.snapshot().await;
    assert_eq!(snapshot.len(), rows, "no row lost");
    for row in &snapshot {
        let id = row[0].as_deref().unwrap_or_default().trim();
        assert_eq!(
            row[1].as_deref(),
            Some(masked_email(&format!("Person.{id}@Example.COM")).as_str()),
            "row {id} is masked exactly once"
        );
        assert_eq!(
            row[4], row[1],
            "row {id}: orders.customer_email still joins"
        );
    }
}

#[tokio::test]
async fn a_hundred_duplicate_deliveries_mask_once_and_notify_once() {
    let scene = Scene::new_mariadb().await;
    // Five warm Lambda environments, each with its own connection, taking
    // twenty deliveries of the same stop; the five run concurrently.
    let mut environments = Vec::new();
    for _ in 0..5 {
        environments.push(target_hooks(&scene.moto, &scene.db.secret_json()).await);
    }
    let deliveries = |hooks| {
        let scene = &scene;
        async move {
            let mut actions = Vec::new();
            for _ in 0..20 {
                let summary = post_deliver(
                    &scene.moto,
                    &scene.config,
                    hooks,
                    hooks,
                    &scene.continuer,
                    FINISHED,
                    later(),
                )
                .await
                .expect("every delivery succeeds");
                actions.push(summary.records[0].action.clone());
            }
            actions
        }
    };
    let started = Instant::now();
    let (a, b, c, d, e) = tokio::join!(
        deliveries(&environments[0]),
        deliveries(&environments[1]),
        deliveries(&environments[2]),
        deliveries(&environments[3]),
        deliveries(&environments[4]),
    );
    let actions: Vec<RecordAction> = [a, b, c, d, e].into_iter().flatten().collect();
    assert_eq!(actions.len(), 100);
    let completed = actions
        .iter()
        .filter(|a| matches!(a, RecordAction::Completed { .. }))
        .count();
    let others_ok = actions.iter().all(|a| {
        matches!(
            a,
            RecordAction::Completed { .. }
                | RecordAction::Duplicate { .. }
                | RecordAction::InProgressElsewhere { .. }
        )
    });
    assert_eq!(completed, 1, "{actions:?}");
    assert!(others_ok, "{actions:?}");
    assert_masked_once(&scene, 200).await;
    assert_eq!(
        scene.inbox.drain().await.len(),
        1,
        "one success notification"
    );
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "ENABLED");
    eprintln!("100 deliveries in {:.2} s", started.elapsed().as_secs_f64());
}

#[tokio::test]
async fn ten_concurrent_starters_start_the_task_once() {
    let moto = Moto::start().await;
    let rule = unique("nightly");
    moto.put_rule(&rule, true).await;
    let inbox = Inbox::create(&moto).await;
    const ARN: &str = "arn:aws:dms:us-east-1:123456789012:task:racing";
    // DMS itself is an in-memory double here: the emulator accepts a second
    // start, real DMS answers InvalidResourceStateFault, as this double does.
    let dms = Arc::new(FakeDms::with_tasks([task(ARN, TaskStatus::Stopped)]));
    *dms.refuse_start_when_running.lock().unwrap() = true;
    let config = Arc::new(config_from(&function_env(
        &[ARN],
        &rule,
        "schedule",
        Some(&inbox.topic_arn),
    )));
    let rules = EventBridgeClient::new(moto.events());
    let sns = SnsClient::new(moto.sns());

    let mut starters = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (dms, config, rules, sns) = (dms.clone(), config.clone(), rules.clone(), sns.clone());
        starters.spawn(async move {
            let ports = StarterPorts {
                dms: dms.as_ref(),
                rules: &rules,
                notifier: &sns,
                before_load: None,
            };
            start_refresh(&config, &ports, Trigger::Manual, &unique("request")).await
        });
    }
    let mut actions = Vec::new();
    while let Some(joined) = starters.join_next().await {
        let summary = joined.expect("starter task").expect("no starter fails");
        actions.push(summary.tasks[0].action);
    }
    assert_eq!(
        dms.starts().len(),
        1,
        "exactly one StartReplicationTask went through"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == TaskAction::Started)
            .count(),
        1,
        "{actions:?}"
    );
    assert!(
        actions.iter().all(|a| matches!(
            a,
            TaskAction::Started | TaskAction::AlreadyStarted | TaskAction::Skipped
        )),
        "{actions:?}"
    );
    assert_eq!(
        moto.rule_state(&rule).await,
        "DISABLED",
        "the rule stays disabled"
    );
    assert!(inbox.drain().await.is_empty(), "no spurious alert");
}

const CHUNKED_RULES: &str = r#"
version = 1

[settings]
chunk_threshold = 1000
chunk_size = 500

[tables.customers.columns]
email = { strategy = "email" }
first_name = { strategy = "fake", dictionary = "first_name" }

[tables.orders.columns]
customer_email = { strategy = "email" }
"#;

/// Kill the first session of `database` that is running an UPDATE (while
/// the test holds a row lock, the masking UPDATE of that row's chunk waits
/// until killed, so this finds it deterministically). Gives up, returning
/// false, once `delivered` is set (the delivery ended without reaching the
/// held row) or after 60 s.
async fn kill_a_masking_session(engine: Engine, database: &str, delivered: &AtomicBool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    let watching = || Instant::now() < deadline && !delivered.load(Ordering::SeqCst);
    match engine {
        Engine::MariaDb => {
            let mut admin = sqlx::MySqlConnection::connect("mysql://root@127.0.0.1:3306")
                .await
                .expect("admin connection");
            while watching() {
                let ids: Vec<i64> = sqlx::query_scalar(
                    "SELECT ID FROM information_schema.PROCESSLIST \
                     WHERE DB = ? AND INFO LIKE 'UPDATE%' AND ID <> CONNECTION_ID()",
                )
                .bind(database)
                .fetch_all(&mut admin)
                .await
                .expect("processlist");
                if let Some(id) = ids.first() {
                    let kill = format!("KILL {id}");
                    sqlx::raw_sql(sqlx::AssertSqlSafe(kill))
                        .execute(&mut admin)
                        .await
                        .expect("kill");
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let sessions: Vec<(i64, String, String)> = sqlx::query_as(
                "SELECT ID, COALESCE(DB, ''), COALESCE(LEFT(INFO, 120), '') FROM information_schema.PROCESSLIST",
            )
            .fetch_all(&mut admin)
            .await
            .unwrap_or_default();
            eprintln!("sessions when giving up: {sessions:#?}");
        }
        Engine::Postgres => {
            let mut admin =
                sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres")
                    .await
                    .expect("admin connection");
            while watching() {
                let killed: Vec<bool> = sqlx::query_scalar(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid() \
                     AND (query LIKE 'UPDATE%' OR query LIKE 'WITH dmsr_written AS (UPDATE%')",
                )
                .bind(database)
                .fetch_all(&mut admin)
                .await
                .expect("pg_stat_activity");
                if killed.iter().any(|k| *k) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    false
}

/// Deliver the stop while a row is held and kill the masking session that
/// waits on it; returns that delivery's error and how many deliveries failed
/// before one reached the held row. Such an early failure must be retryable
/// (MariaDB can report a deadlock on the server-wide control tables while
/// other tests run) and is delivered again, as Lambda would, at most twice.
async fn deliver_while_killing(scene: &Scene, engine: Engine) -> (PostError, usize) {
    for early_failures in 0..3 {
        let delivered = AtomicBool::new(false);
        let (outcome, killed) = tokio::join!(
            async {
                let outcome = scene.deliver(FINISHED, later()).await;
                delivered.store(true, Ordering::SeqCst);
                outcome
            },
            kill_a_masking_session(engine, &scene.db.name, &delivered)
        );
        match outcome {
            Err(err) if killed => return (err, early_failures),
            Err(err) if err.error_type() == "HookFailedRetryable" => {
                eprintln!("delivery failed before reaching the held row, delivered again: {err}");
            }
            Err(err) => panic!("no masking UPDATE was seen to kill; the delivery failed: {err}"),
            Ok(summary) => panic!("masking finished although a row was held: {summary:?}"),
        }
    }
    panic!("three deliveries failed before any reached the held row")
}

async fn a_killed_connection_is_resumed_without_double_masking(engine: Engine) {
    const ROWS: u32 = 20_000;
    let scene = Scene::build(engine, "127.0.0.1", ROWS, CHUNKED_RULES).await;
    // Hold a row in the middle of the customers table: masking commits the
    // chunks before it, then its UPDATE waits there until it is killed.
    let mut holder = scene.db.connect().await;
    holder.execute("BEGIN").await;
    holder
        .strings("SELECT CAST(id AS CHAR(10)) FROM customers WHERE id = 10000 FOR UPDATE")
        .await;
    let (err, early_failures) = deliver_while_killing(&scene, engine).await;
    holder.execute("ROLLBACK").await;
    assert_eq!(err.error_type(), "HookFailedRetryable", "{err}");
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "DISABLED");

    // Lambda's retries (two): the run resumes from its last committed chunk.
    // A second retryable failure (MariaDB can report a deadlock on the
    // server-wide control tables while other tests run) takes the next one,
    // and alerts once more.
    let mut retry = scene.deliver(FINISHED, later()).await;
    let mut failed_retries = 0;
    while failed_retries < 1 && matches!(&retry, Err(e) if e.error_type() == "HookFailedRetryable")
    {
        failed_retries += 1;
        retry = scene.deliver(FINISHED, later()).await;
    }
    let retry = retry.unwrap();
    assert!(
        matches!(retry.records[0].action, RecordAction::Completed { .. }),
        "{retry:?}"
    );
    assert_masked_once(&scene, ROWS as usize).await;
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "ENABLED");
    let published = scene.inbox.drain().await;
    assert_eq!(
        published.len(),
        2 + failed_retries + early_failures,
        "one alert per failure, one success: {published:?}"
    );
}

#[tokio::test]
async fn mariadb_a_killed_connection_is_resumed_without_double_masking() {
    a_killed_connection_is_resumed_without_double_masking(Engine::MariaDb).await;
}

#[tokio::test]
async fn postgres_a_killed_connection_is_resumed_without_double_masking() {
    a_killed_connection_is_resumed_without_double_masking(Engine::Postgres).await;
}

/// What `bash scripts/run-local.sh [--engine ENGINE]` runs after its setup
/// steps (which `scripts/test.sh` has run): the local cycle, with 1,000 rows.
async fn the_local_cycle_runs_end_to_end(engine: &str) {
    let database = format!("dmsr_cycle_{engine}_{}", std::process::id());
    let output = tokio::process::Command::new(venv_bin("python"))
        .arg(repo_root().join("tools").join("local_cycle.py"))
        .args(["--engine", engine, "--rows", "1000"])
        .args(["--database", &database, "--drop-database"])
        .current_dir(repo_root())
        .output()
        .await
        .expect("run tools/local_cycle.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the local cycle failed:\n{stdout}\n{stderr}"
    );
    for expected in [
        "\"action\": \"completed\"",
        "response: duplicate",
        "live (masked)",
        "@example.invalid",
        "developer, during night 2 (yesterday's copy): live: 1000 customers",
        "quarantine: refused",
        "the lock records a start, the tasks settled, and no event reached the post-processor",
        "developer, after night 2: live: 2000 customers",
        "\"rolled_back\": true",
        "rule tag dms-refresh:stop-at: commit_time:2026-11-21T15:30:00",
        "ledger row (requests): stop-at, commit_time:2026-11-21T15:30:00",
        "OK: the refresh cycle ran locally.",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

#[tokio::test]
async fn the_local_cycle_runs_end_to_end_on_mariadb() {
    the_local_cycle_runs_end_to_end("mariadb").await;
}

#[tokio::test]
async fn the_local_cycle_runs_end_to_end_on_postgres() {
    the_local_cycle_runs_end_to_end("postgres").await;
}

#[tokio::test]
async fn the_emulator_going_away_mid_start_fails_clearly_and_starts_once_after() {
    use dms_refresh_core::aws::DmsClient;
    use dms_refresh_core::starter::StarterError;

    let moto = Moto::start().await;
    let rule = unique("nightly");
    moto.put_rule(&rule, true).await;
    let arn = moto
        .create_task(
            &unique("refresh"),
            aws_sdk_databasemigration::types::MigrationTypeValue::FullLoad,
        )
        .await;
    moto.run_and_stop(&arn).await;
    let (_, last_start) = moto.task_state(&arn).await;
    // Last night's start, and tonight's lock, fall in different seconds.
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // The starter reaches AWS through a proxy that goes down when the
    // StartReplicationTask request is sent (the request never arrives).
    let proxy = crate::harness::FlakyProxy::start(&moto.url).await;
    proxy.cut_on("AmazonDMSv20160101.StartReplicationTask");
    let sdk = proxy.sdk().await;
    let dms = DmsClient::new(aws_sdk_databasemigration::Client::new(&sdk));
    let rules = EventBridgeClient::new(aws_sdk_eventbridge::Client::new(&sdk));
    let sns = SnsClient::new(aws_sdk_sns::Client::new(&sdk));
    let inbox = Inbox::create(&moto).await;
    let config = config_from(&function_env(
        &[&arn],
        &rule,
        "schedule",
        Some(&inbox.topic_arn),
    ));
    let ports = StarterPorts {
        dms: &dms,
        rules: &rules,
        notifier: &sns,
        before_load: None,
    };
    let schedule = |id: &str| Trigger::Schedule {
        event_id: Some(id.to_owned()),
        rule_arns: vec![],
        time: None,
    };

    let err = start_refresh(&config, &ports, schedule("night-1"), "request-1")
        .await
        .unwrap_err();
    assert!(proxy.is_down());
    let StarterError::StartFailed { rule_note, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        rule_note.contains("could NOT be re-enabled") && rule_note.contains("by hand"),
        "{err}"
    );
    // Documented outcome: the rule stays disabled (it could not be given
    // back), nothing was started, and the alert could not be sent either.
    assert_eq!(moto.rule_state(&rule).await, "DISABLED");
    assert_eq!(
        moto.task_state(&arn).await,
        ("stopped".to_owned(), last_start)
    );
    assert!(inbox.drain().await.is_empty());

    // AWS is back. The rule's lock keeps other scheduled runs away...
    proxy.restore();
    let summary = start_refresh(&config, &ports, schedule("night-2"), "request-2")
        .await
        .unwrap();
    assert_eq!(summary.tasks[0].action, TaskAction::Skipped);
    assert_eq!(moto.task_state(&arn).await.0, "stopped");
    // ...while Lambda's retry of the invocation that holds it (same event id)
    // finishes its own start, exactly once.
    let started = start_refresh(&config, &ports, schedule("night-1"), "request-1")
        .await
        .unwrap();
    assert_eq!(started.tasks[0].action, TaskAction::Started);
    let (status, new_start) = moto.task_state(&arn).await;
    assert_eq!(status, "running");
    let operator = Trigger::Operator {
        dry_run: false,
        start_type: None,
        allow_partial: false,
        force: false,
        cdc_start: None,
    };
    let again = start_refresh(&config, &ports, operator, "request-3")
        .await
        .unwrap();
    assert_eq!(again.tasks[0].action, TaskAction::Skipped);
    assert_eq!(
        moto.task_state(&arn).await.1,
        new_start,
        "not started a second time"
    );
}

/// Issue 9 item 8: the stop event never reaches the post-processor. One
/// reconciler sweep completes the run (masking, rule, notification) once; a
/// second sweep and the event arriving late change nothing.
#[tokio::test]
async fn a_dropped_stop_event_is_completed_by_one_reconciler_sweep_once() {
    const SWEEP: &str = r#"{"operation": "reconcile"}"#;
    let scene = Scene::new_mariadb().await;
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "DISABLED");

    let summary = scene.deliver(SWEEP, later()).await.unwrap();
    let report = summary.reconcile.expect("a reconcile report");
    assert!(
        matches!(report.action, Some(RecordAction::Completed { .. })),
        "{report:?}"
    );
    assert_masked_once(&scene, 200).await;
    assert_eq!(scene.moto.rule_state(&scene.rule).await, "ENABLED");
    assert!(
        scene.moto.rule_tags(&scene.rule).await.is_empty(),
        "lock released"
    );
    let published = scene.inbox.drain().await;
    assert_eq!(published.len(), 1, "{published:?}");
    assert!(published[0].0.contains("succeeded"), "{published:?}");

    let again = scene.deliver(SWEEP, later()).await.unwrap();
    assert_eq!(again.reconcile.expect("a report").action, None);
    let late = scene.deliver(FINISHED, later()).await.unwrap();
    assert!(
        matches!(late.records[0].action, RecordAction::Duplicate { .. }),
        "{late:?}"
    );
    assert_masked_once(&scene, 200).await;
    assert!(scene.inbox.drain().await.is_empty());
}
