//! Unique indexes are read at plan time: a strategy that can merge distinct
//! values on a unique column is refused before any write, in place and in a
//! rewrite; a long enough digest on the same column runs.

use masking::{Dialect, MaskError};

use crate::common::*;
use crate::places_fixture::*;

const MERGING: &str = r#"
[tables.customers.columns]
email = { strategy = "fake", dictionary = "first_name" }
"#;

const SHORT_HASH: &str = r#"
[tables.customers.columns]
email = { strategy = "hash", length = 8 }
"#;

fn assert_unique_refusal(e: &MaskError, strategy: &str) {
    assert!(matches!(e, MaskError::Schema { .. }), "{e}");
    let m = e.to_string();
    assert!(
        m.contains("`email` is in unique index") && m.contains(&format!("strategy `{strategy}`")),
        "{m}"
    );
}

async fn non_injective_strategies_on_unique_columns_are_refused(d: Dialect) {
    let mut db = TestDb::new(d).await;
    let schema = default_schema(&db);
    load_tables(&db, &schema, 5).await;
    let before = db.col("SELECT email FROM customers ORDER BY id").await;
    let e = db.mask("uniq-fake", &rules(MERGING)).await.unwrap_err();
    assert_unique_refusal(&e, "fake");
    let e = db.mask("uniq-short", &rules(SHORT_HASH)).await.unwrap_err();
    assert_unique_refusal(&e, "hash");
    assert_eq!(
        db.col("SELECT email FROM customers ORDER BY id").await,
        before,
        "nothing written"
    );

    let places = db.places("uq");
    let p = publish(&places, "");
    load_quarantine(&db, &places, 5).await;
    let e = rewrite(&db, "uniq-rewrite", MERGING, &p).await.unwrap_err();
    assert_unique_refusal(&e, "fake");
    assert!(dump_place(&db, &places.build).await.is_empty());

    let ok = SHORT_HASH.replace("length = 8", "length = 16");
    assert_complete(&rewrite(&db, "uniq-long", &ok, &p).await.unwrap());
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_injective_strategies_on_unique_columns_are_refused_mysql() {
    non_injective_strategies_on_unique_columns_are_refused(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_injective_strategies_on_unique_columns_are_refused_postgres() {
    non_injective_strategies_on_unique_columns_are_refused(Dialect::Postgres).await;
}

fn schema_lines(e: &MaskError) -> Vec<String> {
    match e {
        MaskError::Schema { problems } => problems.clone(),
        other => panic!("expected a schema refusal, got: {other}"),
    }
}

/// CHECK constraints are evaluated against the masked values of a sample
/// before any write: an `email` that leaves the corporate domain is refused
/// naming the constraint, in place and in a rewrite; a strategy that keeps
/// the domain runs.
async fn check_constraints_broken_by_masking_are_refused(d: Dialect) {
    let mut db = TestDb::new(d).await;
    db.exec(
        "CREATE TABLE members (id INT PRIMARY KEY, email VARCHAR(100), \
         CONSTRAINT corp_mail CHECK (email LIKE '%@corp.com'))",
    )
    .await;
    db.exec("INSERT INTO members VALUES (1, 'ann@corp.com'), (2, 'bob@corp.com'), (3, NULL)")
        .await;
    let leaves = "[tables.members.columns]\nemail = { strategy = \"email\" }\n";
    let e = db.mask("chk-1", &rules(leaves)).await.unwrap_err();
    let lines = schema_lines(&e);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("CHECK constraint `corp_mail`") && l.contains("2 of the first")),
        "{lines:?}"
    );
    assert_eq!(
        db.col("SELECT email FROM members ORDER BY id").await,
        [
            Some("ann@corp.com".into()),
            Some("bob@corp.com".into()),
            None
        ],
        "nothing written"
    );
    // `||` concatenates on both engines (MySQL sessions use PIPES_AS_CONCAT).
    let keeps = "[tables.members.columns]\nemail = { strategy = \"sql\", expression = \"left({hmac}, 8) || '@corp.com'\", check = \"{column} LIKE '%@corp.com'\" }\n";
    let rep = db.mask("chk-2", &rules(keeps)).await.unwrap();
    assert_eq!(rep.tables[0].rows_masked, 3);

    let places = db.places("chk");
    let p = publish(&places, "");
    load_quarantine(&db, &places, 5).await;
    db.exec(&format!(
        "ALTER TABLE {}.customers ADD CONSTRAINT no_test_domains CHECK (email NOT LIKE '%.invalid')",
        places.quarantine
    ))
    .await;
    let e = rewrite(
        &db,
        "chk-rewrite",
        "[tables.customers.columns]\nemail = { strategy = \"email\" }\n",
        &p,
    )
    .await
    .unwrap_err();
    let lines = schema_lines(&e);
    assert!(
        lines.iter().any(|l| l.contains("`no_test_domains`")),
        "{lines:?}"
    );
    assert!(
        dump_place(&db, &places.build).await.is_empty(),
        "nothing built"
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_constraints_broken_by_masking_are_refused_mysql() {
    check_constraints_broken_by_masking_are_refused(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_constraints_broken_by_masking_are_refused_postgres() {
    check_constraints_broken_by_masking_are_refused(Dialect::Postgres).await;
}

const NORMALIZED: &str = r#"
[tables.accounts.columns]
email = { strategy = "email", normalize = "lower_trim" }
[tables.logins.columns]
account_email = { strategy = "email", normalize = "lower_trim" }
"#;

/// `normalize = "lower_trim"`: values a case-insensitive key treats as one
/// get one masked value on both engines (the Rust oracle of the normalised
/// value), so the two tables still join after masking.
async fn lower_trim_keeps_case_insensitive_keys_joined(d: Dialect) {
    let db = TestDb::new(d).await;
    db.exec("CREATE TABLE accounts (id INT PRIMARY KEY, email VARCHAR(100))")
        .await;
    db.exec("CREATE TABLE logins (id INT PRIMARY KEY, account_email VARCHAR(100))")
        .await;
    db.exec(
        "INSERT INTO accounts VALUES (1, 'Ann@Corp.com '), (2, '  BOB@corp.com'), (3, 'Élodie@X.org'), (4, NULL)",
    )
    .await;
    db.exec(
        "INSERT INTO logins VALUES (1, 'ann@corp.com'), (2, 'bob@CORP.COM'), (3, 'élodie@x.org'), (4, 'Élodie@x.ORG ')",
    )
    .await;
    db.mask("norm-1", &rules(NORMALIZED)).await.unwrap();
    let accounts = db.col("SELECT email FROM accounts ORDER BY id").await;
    let logins = db.col("SELECT account_email FROM logins ORDER BY id").await;
    let masked = |v: &str| {
        let n = masking::normalize::normalized(Some(masking::normalize::Normalize::LowerTrim), v);
        Some(format!(
            "{}@example.invalid",
            &oracle_hex("email", &n)[..32]
        ))
    };
    assert_eq!(accounts[0], masked("ann@corp.com"));
    assert_eq!(accounts[1], masked("bob@corp.com"));
    assert_eq!(
        accounts[2],
        masked("Élodie@x.org"),
        "only ASCII letters are lowered"
    );
    assert_eq!(accounts[3], None);
    assert_eq!(logins[0], accounts[0], "still joins");
    assert_eq!(logins[1], accounts[1], "still joins");
    assert_ne!(
        logins[2], accounts[2],
        "É and é stay different on both engines"
    );
    assert_eq!(logins[3], accounts[2]);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_trim_keeps_case_insensitive_keys_joined_mysql() {
    lower_trim_keeps_case_insensitive_keys_joined(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_trim_keeps_case_insensitive_keys_joined_postgres() {
    lower_trim_keeps_case_insensitive_keys_joined(Dialect::Postgres).await;
}

/// On a unique column that tells 'A' from 'a' (PostgreSQL, a MySQL `_bin`
/// collation) normalising would make a duplicate key: refused before any
/// write. A MySQL `_ci` unique column already treats them as one: allowed.
async fn lower_trim_on_a_case_sensitive_unique_column_is_refused(d: Dialect) {
    let db = TestDb::new(d).await;
    let collate = match d {
        Dialect::MySql => " COLLATE utf8mb4_bin",
        Dialect::Postgres => "",
    };
    db.exec(&format!(
        "CREATE TABLE accounts (id INT PRIMARY KEY, email VARCHAR(100){collate} UNIQUE)"
    ))
    .await;
    db.exec("INSERT INTO accounts VALUES (1, 'Ann@corp.com'), (2, 'ann@corp.com')")
        .await;
    let src =
        "[tables.accounts.columns]\nemail = { strategy = \"hash\", normalize = \"lower_trim\" }\n";
    let e = db.mask("norm-uq", &rules(src)).await.unwrap_err();
    let lines = schema_lines(&e);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("`email`") && l.contains("normalize")),
        "{lines:?}"
    );
    assert_eq!(
        db.col("SELECT email FROM accounts ORDER BY id").await,
        [Some("Ann@corp.com".into()), Some("ann@corp.com".into())]
    );
    if d == Dialect::MySql {
        db.exec("CREATE TABLE ci_accounts (id INT PRIMARY KEY, email VARCHAR(100) COLLATE utf8mb4_unicode_ci UNIQUE)")
            .await;
        db.exec("INSERT INTO ci_accounts VALUES (1, 'Ann@corp.com')")
            .await;
        let ci = src.replace("tables.accounts", "tables.ci_accounts");
        db.mask("norm-ci", &rules(&ci)).await.unwrap();
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_trim_on_a_case_sensitive_unique_column_is_refused_mysql() {
    lower_trim_on_a_case_sensitive_unique_column_is_refused(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_trim_on_a_case_sensitive_unique_column_is_refused_postgres() {
    lower_trim_on_a_case_sensitive_unique_column_is_refused(Dialect::Postgres).await;
}
