//! The replication-slot check of a CDC start from an LSN, against a real
//! PostgreSQL with logical decoding (`wal_level=logical`, started by
//! `bash scripts/ensure-databases.sh` on 127.0.0.1:5433): a slot made with
//! `test_decoding`, changes written after it, and every verdict of seed 003.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dms_refresh_core::cdc_start::{Lsn, SlotVerdict, judge_slot};
use dms_refresh_core::ports::{PortError, ReplicationSlots, Secrets};
use masking::{DbCredentials, TlsMode};
use sqlx::{Connection, Executor, PgConnection};
use task_starter::source_slots::{SourceSlots, connect, read_slot, vars};

/// The source secret, as Secrets Manager would give it.
#[derive(Debug)]
struct Secret(String);

impl Secrets for Secret {
    async fn secret_string(&self, _arn: &str) -> Result<String, PortError> {
        Ok(self.0.clone())
    }
}

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5433";

fn base_url() -> String {
    std::env::var("DMSR_TEST_PG_SOURCE_URL").unwrap_or_else(|_| DEFAULT_URL.into())
}

async fn admin() -> PgConnection {
    let url = format!("{}/postgres", base_url());
    PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "the logical-decoding PostgreSQL at {url} is not reachable ({e}); start it with \
             `bash scripts/ensure-databases.sh` (or set DMSR_TEST_PG_SOURCE_URL)"
        )
    })
}

/// A fresh database with a logical slot, removed on drop of the guard.
struct Source {
    db: String,
    slot: String,
    conn: PgConnection,
}

impl Source {
    async fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let db = format!("dmsr_src_{tag}_{}_{nanos}", std::process::id());
        let mut admin = admin().await;
        let level: String = sqlx::query_scalar("SHOW wal_level")
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert_eq!(
            level, "logical",
            "the source PostgreSQL must run with wal_level=logical; it is started so by \
             `bash scripts/ensure-databases.sh`"
        );
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .await
            .unwrap();
        let mut conn = PgConnection::connect(&format!("{}/{db}", base_url()))
            .await
            .unwrap();
        conn.execute("CREATE TABLE person (id int PRIMARY KEY, name text)")
            .await
            .unwrap();
        let slot = format!("{db}_slot");
        sqlx::query("SELECT pg_create_logical_replication_slot($1, 'test_decoding')")
            .bind(&slot)
            .execute(&mut conn)
            .await
            .unwrap();
        Self { db, slot, conn }
    }

    /// One committed insert per id; the LSNs of the changes the slot holds.
    async fn write(&mut self, ids: &[i32]) -> Vec<Lsn> {
        for id in ids {
            sqlx::query("INSERT INTO person VALUES ($1, 'someone')")
                .bind(id)
                .execute(&mut self.conn)
                .await
                .unwrap();
        }
        self.changes().await
    }

    async fn changes(&mut self) -> Vec<Lsn> {
        let lsns: Vec<String> = sqlx::query_scalar(
            "SELECT lsn::text FROM pg_logical_slot_peek_changes($1, NULL, NULL) \
             WHERE data LIKE 'table public.person: INSERT%' ORDER BY lsn",
        )
        .bind(&self.slot)
        .fetch_all(&mut self.conn)
        .await
        .unwrap();
        lsns.iter().filter_map(|l| Lsn::parse(l)).collect()
    }

    async fn drop(mut self) {
        sqlx::query("SELECT pg_drop_replication_slot($1)")
            .bind(&self.slot)
            .execute(&mut self.conn)
            .await
            .unwrap();
        let _ = self.conn.close().await;
        admin()
            .await
            .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {}", self.db)))
            .await
            .unwrap();
    }
}

async fn verdict(source: &mut Source, requested: Lsn) -> SlotVerdict {
    let view = read_slot(&mut source.conn, &source.slot, requested)
        .await
        .unwrap();
    judge_slot(requested, &source.slot, view.as_ref())
}

#[tokio::test]
async fn an_lsn_the_slot_holds_is_available_and_reading_it_consumes_nothing() {
    let mut source = Source::new("held").await;
    let lsns = source.write(&[1, 2, 3]).await;
    assert_eq!(lsns.len(), 3);
    assert_eq!(verdict(&mut source, lsns[1]).await, SlotVerdict::Available);
    assert_eq!(source.changes().await, lsns, "the check consumed changes");
    source.drop().await;
}

/// Seed 003: the captured LSN is not a change the slot holds; the first
/// LSN after it is proposed.
#[tokio::test]
async fn an_lsn_between_changes_gets_the_next_one_proposed() {
    let mut source = Source::new("next").await;
    let lsns = source.write(&[1, 2]).await;
    let between = Lsn(lsns[0].0 + 1);
    match verdict(&mut source, between).await {
        SlotVerdict::NextAvailable { lsn } => {
            assert!(lsn > between && lsn <= lsns[1], "{lsn} vs {lsns:?}");
        }
        other => panic!("expected the next LSN, got {other:?}"),
    }
    source.drop().await;
}

/// Changes confirmed by the slot's reader are gone: asking for one of them,
/// with nothing newer held, is refused.
#[tokio::test]
async fn an_lsn_the_slot_has_already_confirmed_is_refused() {
    let mut source = Source::new("gone").await;
    let lsns = source.write(&[1, 2]).await;
    sqlx::query("SELECT count(*) FROM pg_logical_slot_get_changes($1, NULL, NULL)")
        .bind(&source.slot)
        .execute(&mut source.conn)
        .await
        .unwrap();
    match verdict(&mut source, lsns[0]).await {
        SlotVerdict::Refused { reason } => assert!(reason.contains("gone"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    source.drop().await;
}

#[tokio::test]
async fn a_missing_slot_and_a_slot_of_another_database_are_told_apart() {
    let mut source = Source::new("where").await;
    source.write(&[1]).await;
    let missing = read_slot(&mut source.conn, "no_such_slot", Lsn(0))
        .await
        .unwrap();
    assert_eq!(missing, None);
    let mut elsewhere = admin().await;
    let err = read_slot(&mut elsewhere, &source.slot, Lsn(0))
        .await
        .unwrap_err();
    assert!(err.message.contains("dbname"), "{err}");
    source.drop().await;
}

/// The adapter the Lambda uses: the source secret from Secrets Manager
/// (here a stand-in holding the RDS secret format), plain TCP for the test.
#[tokio::test]
async fn the_adapter_reads_the_slot_through_the_source_secret() {
    let mut source = Source::new("adapter").await;
    let lsns = source.write(&[7]).await;
    let secret = format!(
        r#"{{"engine":"postgres","host":"127.0.0.1","port":5433,"username":"postgres","password":"","dbname":"{}"}}"#,
        source.db
    );
    let env = |k: &str| match k {
        vars::SECRET_ARN => Some("arn:aws:secretsmanager:eu-west-1:123456789012:secret:src".into()),
        vars::TLS_MODE => Some("disable".into()),
        _ => None,
    };
    let slots = SourceSlots::from_lookup(env, Secret(secret))
        .unwrap()
        .expect("configured");
    let view = slots.slot(&source.slot, lsns[0]).await.unwrap().unwrap();
    assert_eq!(view.first_change_at_or_after, Some(lsns[0]));
    assert_eq!(view.plugin.as_deref(), Some("test_decoding"));
    assert!(!view.active);
    source.drop().await;
}

#[tokio::test]
async fn bad_settings_and_unreachable_sources_are_clear_errors() {
    let bad = SourceSlots::from_lookup(
        |k| match k {
            vars::SECRET_ARN => Some("arn".into()),
            vars::TLS_MODE => Some("maybe".into()),
            _ => None,
        },
        Secret(String::new()),
    );
    assert!(bad.unwrap_err().contains(vars::TLS_MODE));
    let none = SourceSlots::from_lookup(|_| None, Secret(String::new())).unwrap();
    assert!(none.is_none());
    let creds = DbCredentials::from_secret_json(
        r#"{"engine":"postgres","host":"127.0.0.1","port":1,"username":"u","password":"hunter2"}"#,
    )
    .unwrap();
    let err = connect(&creds, &TlsMode::Disable).await.unwrap_err();
    assert!(err.message.contains("127.0.0.1:1"), "{err}");
    assert!(!err.message.contains("hunter2"), "{err}");
}
