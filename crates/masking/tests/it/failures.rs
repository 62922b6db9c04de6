use std::time::Duration;

use masking::{DbCredentials, Dialect, MaskError, Password, Target, TlsMode};

use crate::common::*;

async fn setup(d: Dialect) -> TestDb {
    let db = TestDb::new(d).await;
    db.exec("CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL, name VARCHAR(40), born DATE, short_mail VARCHAR(20))")
        .await;
    db.exec("INSERT INTO customers VALUES (1, 'a@corp.com', 'Ann', '1990-01-01', 'x'), (2, 'b@corp.com', NULL, NULL, NULL)").await;
    db
}

async fn snapshot(db: &TestDb) -> Vec<Vec<Option<String>>> {
    db.rows(&format!(
        "SELECT {}, {}, {} FROM customers ORDER BY id",
        db.txt("id"),
        db.txt("email"),
        db.txt("name")
    ))
    .await
}

async fn progress_rows(db: &TestDb) -> i64 {
    let t = db.control_table("table_progress");
    db.count(&format!("SELECT COUNT(*) FROM {t}")).await
}

async fn expect_schema_error(db: &TestDb, run_id: &str, src: &str, needle: &str) {
    let before = snapshot(db).await;
    let e = db.mask(run_id, &rules(src)).await.unwrap_err();
    assert!(matches!(e, MaskError::Schema { .. }), "{e}");
    assert!(e.is_permanent());
    assert!(
        e.to_string().contains(needle),
        "expected `{needle}` in: {e}"
    );
    assert!(
        e.to_string().contains("test-rules.toml:"),
        "no file:line in: {e}"
    );
    assert_eq!(
        snapshot(db).await,
        before,
        "data changed despite validation error"
    );
    assert_eq!(
        progress_rows(db).await,
        0,
        "progress written despite validation error"
    );
}

async fn rejected_before_any_write(d: Dialect) {
    let db = setup(d).await;
    // A valid rule on another column must not be applied either.
    expect_schema_error(
        &db,
        "typo",
        "[tables.customers.columns]\nname = { strategy = \"fake\", dictionary = \"first_name\" }\nemial = { strategy = \"email\" }\n",
        "column `emial` does not exist",
    )
    .await;
    expect_schema_error(
        &db,
        "missing-table",
        "[tables.custmers.columns]\nemail = { strategy = \"email\" }\n",
        "does not exist",
    )
    .await;
    expect_schema_error(
        &db,
        "null-nn",
        "[tables.customers.columns]\nemail = { strategy = \"null\" }\n",
        "NOT NULL",
    )
    .await;
    expect_schema_error(
        &db,
        "shift-text",
        "[tables.customers.columns]\nname = { strategy = \"date_shift\", max_days = 3 }\n",
        "date/time",
    )
    .await;
    expect_schema_error(
        &db,
        "noise-date",
        "[tables.customers.columns]\nborn = { strategy = \"noise\", percent = 3 }\n",
        "numeric",
    )
    .await;
    expect_schema_error(
        &db,
        "too-short",
        "[tables.customers.columns]\nshort_mail = { strategy = \"email\" }\n",
        "limited to 20",
    )
    .await;
    expect_schema_error(
        &db,
        "hash-date",
        "[tables.customers.columns]\nborn = { strategy = \"hash\" }\n",
        "text column",
    )
    .await;
    // Raw SQL that the server rejects is caught by the pre-flight.
    expect_schema_error(
        &db,
        "bad-sql",
        "[tables.customers.columns]\nname = { strategy = \"sql\", expression = \"no_such_function({column})\" }\n",
        "rejected by the server",
    )
    .await;
    expect_schema_error(
        &db,
        "bad-delete",
        "[tables.customers]\ndelete_where = \"no_such_column = 1\"\n",
        "delete_where",
    )
    .await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_before_any_write_mysql() {
    rejected_before_any_write(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_before_any_write_postgres() {
    rejected_before_any_write(Dialect::Postgres).await;
}

async fn verification_fails_closed(d: Dialect) {
    let db = setup(d).await;
    // An escape hatch producing a value its own check rejects.
    let e = db
        .mask(
            "bad-value",
            &rules(
                "[tables.customers.columns]\nemail = { strategy = \"sql\", expression = \"CONCAT('still-', {column})\", check = \"{column} LIKE '%@example.invalid'\" }\n",
            ),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, MaskError::Verification { .. }), "{e}");
    assert!(e.is_permanent());
    assert!(e.to_string().contains("email:sql: 2 offending"), "{e}");

    // A row inserted after masking (by an `after` hook) is caught, both by the
    // strategy check and by the row count.
    let db2 = setup(d).await;
    let e = db2
        .mask(
            "late-row",
            &rules(
                r#"
[tables.customers.columns]
email = { strategy = "email" }
[[hooks]]
kind = "sql"
phase = "after"
statements = ["INSERT INTO customers (id, email) VALUES (99, 'late@corp.com')"]
"#,
            ),
        )
        .await
        .unwrap_err();
    let MaskError::Verification { failures } = &e else {
        panic!("{e}")
    };
    assert!(
        failures
            .iter()
            .any(|f| f.contains("email:email: 1 offending")),
        "{failures:?}"
    );
    assert!(
        failures
            .iter()
            .any(|f| f.contains("row_count (before 2, after 3)")),
        "{failures:?}"
    );
    // the failed verification is not recorded as done: a retry fails again
    let again = db2
        .target
        .run(
            "late-row",
            &rules(
                r#"
[tables.customers.columns]
email = { strategy = "email" }
[[hooks]]
kind = "sql"
phase = "after"
statements = ["INSERT INTO customers (id, email) VALUES (99, 'late@corp.com')"]
"#,
            ),
            &salt(),
            far(),
        )
        .await
        .unwrap_err();
    assert!(matches!(again, MaskError::Verification { .. }), "{again}");
    db.cleanup().await;
    db2.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_fails_closed_mysql() {
    verification_fails_closed(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_fails_closed_postgres() {
    verification_fails_closed(Dialect::Postgres).await;
}

async fn rules_changed_mid_run(d: Dialect) {
    let db = setup(d).await;
    db.begin("changing").await;
    let r1 = rules(
        "[settings]\nchunk_threshold = 0\nchunk_size = 1\n[tables.customers.columns]\nname = { strategy = \"null\" }\n",
    );
    let rep = db
        .target
        .run_with(
            "changing",
            &r1,
            &salt(),
            far(),
            masking::RunOptions {
                stop_after_chunks: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        matches!(rep.outcome, masking::RunOutcome::Incomplete { .. }),
        "{rep:?}"
    );
    let r2 = rules(
        "[settings]\nchunk_threshold = 0\nchunk_size = 1\n[tables.customers.columns]\nname = { strategy = \"fixed\", value = \"x\" }\n",
    );
    let e = db
        .target
        .run("changing", &r2, &salt(), far())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("different rules"), "{e}");
    // short salt refused
    let e = db
        .target
        .run("changing", &r1, &masking::Salt::new("short"), far())
        .await
        .unwrap_err();
    assert!(matches!(e, MaskError::Config(_)), "{e}");
    assert!(!e.to_string().contains("short"));
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_changed_mid_run_mysql() {
    rules_changed_mid_run(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_changed_mid_run_postgres() {
    rules_changed_mid_run(Dialect::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_database_is_a_clear_retryable_error() {
    for d in ENGINES {
        let creds = DbCredentials {
            engine: d,
            host: "127.0.0.1".into(),
            port: 1,
            username: "u".into(),
            password: Password::new("very-secret-pw"),
            dbname: Some("shop".into()),
        };
        let e = tokio::time::timeout(
            Duration::from_secs(60),
            Target::connect(&creds, TlsMode::Disable),
        )
        .await
        .unwrap()
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("127.0.0.1:1") && msg.contains("shop"), "{msg}");
        assert!(
            !msg.contains("very-secret-pw") && !format!("{e:?}").contains("very-secret-pw"),
            "{msg}"
        );
        assert!(!e.is_permanent(), "{msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_verify_full_needs_the_ca_bundle_and_identity_is_reported() {
    for d in ENGINES {
        let db = TestDb::new(d).await;
        let e = Target::connect(
            &db.creds,
            TlsMode::VerifyFull {
                ca_pem_path: "/nonexistent/rds-ca.pem".into(),
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, MaskError::Config(_)), "{e}");
        assert!(e.to_string().contains("/nonexistent/rds-ca.pem"), "{e}");
        let (host, port, dbname) = db.target.identity();
        assert_eq!(
            (host.as_str(), port, dbname.as_deref()),
            (
                db.creds.host.as_str(),
                db.creds.port,
                Some(db.name.as_str())
            )
        );
        assert_eq!(
            db.target.live_database().await.unwrap().as_deref(),
            Some(db.name.as_str())
        );
        db.cleanup().await;
    }
}
