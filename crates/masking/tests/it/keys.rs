//! The masking key: HMAC output on both engines equals the Rust oracle's (see
//! `strategies`), a run is pinned to the key it started with (by fingerprint,
//! never the key), and the key is not handed to a server that would log it.

use masking::keyed::key_fingerprint;
use masking::{
    DbCredentials, Dialect, MaskError, Password, RunOptions, RunOutcome, Salt, Target, TlsMode,
};

use crate::common::*;

const RULES: &str = r#"
[settings]
chunk_threshold = 10
chunk_size = 10
[tables.people.columns]
email = { strategy = "email" }
"#;

async fn people(db: &TestDb) {
    db.exec("CREATE TABLE people (id INT PRIMARY KEY, email VARCHAR(100))")
        .await;
    let rows: Vec<String> = (1..=50)
        .map(|i| format!("({i}, 'p{i}@corp.com')"))
        .collect();
    db.exec(&format!("INSERT INTO people VALUES {}", rows.join(", ")))
        .await;
}

/// A run interrupted after one chunk cannot be continued with another key
/// (rows masked under both keys would no longer join); the run records the
/// key's fingerprint, never the key, and continues with the key it began with.
async fn a_run_is_pinned_to_its_key(d: Dialect) {
    let db = TestDb::new(d).await;
    people(&db).await;
    let r = rules(RULES);
    db.begin("run-key").await;
    let rep = db
        .target
        .run_with(
            "run-key",
            &r,
            &salt(),
            far(),
            RunOptions {
                stop_after_chunks: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        matches!(rep.outcome, RunOutcome::Incomplete { .. }),
        "{rep:?}"
    );

    let other = Salt::new("another-key-0123456789-abcdef");
    let err = db
        .target
        .run("run-key", &r, &other, far())
        .await
        .expect_err("a different key must be refused");
    assert!(
        matches!(&err, MaskError::Ledger(m) if m.contains("different masking key")),
        "{err}"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM people WHERE email LIKE '%@corp.com'")
            .await,
        40,
        "the refused invocation wrote nothing"
    );

    let runs = format!("{}.runs", db.control);
    let recorded = db
        .col(&format!(
            "SELECT key_fingerprint FROM {runs} WHERE run_id = 'run-key'"
        ))
        .await;
    assert_eq!(recorded, vec![Some(key_fingerprint(&salt()))]);
    let cols: Vec<String> = ["run_id", "status", "rules_fingerprint", "key_fingerprint"]
        .iter()
        .map(|c| db.txt(c))
        .collect();
    let everything = db
        .rows(&format!("SELECT {} FROM {runs}", cols.join(", ")))
        .await;
    assert!(!format!("{everything:?}").contains(SALT), "{everything:?}");

    let rep = db.target.run("run-key", &r, &salt(), far()).await.unwrap();
    assert_eq!(rep.outcome, RunOutcome::Complete, "{rep:?}");
    assert_eq!(
        db.col("SELECT email FROM people WHERE id = 1").await,
        vec![Some(format!(
            "{}@example.invalid",
            &oracle_hex("email", "p1@corp.com")[..32]
        ))]
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_pinned_to_its_key_mysql() {
    a_run_is_pinned_to_its_key(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_pinned_to_its_key_postgres() {
    a_run_is_pinned_to_its_key(Dialect::Postgres).await;
}

/// A PostgreSQL login that logs every statement (`log_statement = 'all'` set
/// on the role by an administrator) and may not turn parameter logging off:
/// the key would be written into the server log with the statement that
/// binds it, so the run is refused before the key is sent. The same login
/// without that setting gets past the check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_a_session_that_would_log_the_key() {
    let mut db = TestDb::new(Dialect::Postgres).await;
    let role = unique("keylog");
    db.exec(&format!("CREATE ROLE {role} LOGIN PASSWORD 'pw-1234'"))
        .await;
    db.also_drop(format!("DROP ROLE IF EXISTS {role}"));
    db.exec(&format!("GRANT CREATE ON DATABASE {} TO {role}", db.name))
        .await;
    let creds = DbCredentials {
        username: role.clone(),
        password: Password::new("pw-1234"),
        ..db.creds.clone()
    };
    let as_role = || async {
        Target::connect(&creds, TlsMode::Disable)
            .await
            .unwrap()
            .with_control_schema(&db.control)
            .unwrap()
    };
    let r = rules(RULES);

    let t = as_role().await;
    let err = t.run("any", &r, &salt(), far()).await.expect_err("no run");
    assert!(
        !err.to_string().contains("log"),
        "without statement logging the key check passes: {err}"
    );
    t.close().await;

    db.exec(&format!("ALTER ROLE {role} SET log_statement = 'all'"))
        .await;
    let t = as_role().await;
    let err = t.run("any", &r, &salt(), far()).await.expect_err("refused");
    assert!(
        matches!(&err, MaskError::Config(m) if m.contains("log_statement = all") && m.contains("log_parameter_max_length")),
        "{err}"
    );
    assert!(!err.to_string().contains(SALT));
    t.close().await;
    db.cleanup().await;
}
