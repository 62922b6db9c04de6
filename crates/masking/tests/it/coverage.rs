//! Coverage, deny by default: production gains a column (or a table) and the
//! next refresh stops before writing, naming what to declare; in report mode
//! it goes on and names the gaps in the report.

use masking::{Dialect, MaskError, RunOutcome};

use crate::common::*;
use crate::places_fixture::*;

/// Every column of the fixture's quarantine declared.
const STRICT: &str = r#"
[settings]
coverage = "strict"
chunk_threshold = 10
chunk_size = 7
[tables.customers.columns]
id = { strategy = "keep", reason = "surrogate key" }
email = { strategy = "email" }
name = { strategy = "fake", dictionary = "full_name" }
created = { strategy = "keep" }
[tables.orders.columns]
id = { strategy = "keep" }
customer_id = { strategy = "keep" }
note = { strategy = "hash", length = 16 }
[tables.countries.columns]
code = { strategy = "keep", reason = "ISO 3166 code" }
name = { strategy = "keep" }
"#;

fn schema_error_lines(e: &MaskError) -> Vec<String> {
    match e {
        MaskError::Schema { problems } => problems.clone(),
        other => panic!("expected a schema refusal, got: {other}"),
    }
}

async fn a_new_production_column_stops_the_publish(d: Dialect) {
    let mut db = TestDb::new(d).await;
    let places = db.places("cov");
    let p = publish(&places, "");
    load_quarantine(&db, &places, 12).await;
    assert_complete(&rewrite(&db, "night-1", STRICT, &p).await.unwrap());
    let yesterday = dump_place(&db, &places.live).await;

    // The next load brings a column and a table the rules do not know.
    load_quarantine(&db, &places, 12).await;
    let q = &places.quarantine;
    db.exec(&format!(
        "ALTER TABLE {q}.customers ADD COLUMN phone VARCHAR(30)"
    ))
    .await;
    db.exec(&format!("UPDATE {q}.customers SET phone = '+1 555 0100'"))
        .await;
    db.exec(&format!(
        "CREATE TABLE {q}.invoices (id INT PRIMARY KEY, iban VARCHAR(34))"
    ))
    .await;
    let e = rewrite(&db, "night-2", STRICT, &p).await.unwrap_err();
    let lines = schema_error_lines(&e);
    assert!(lines[0].contains("coverage is strict"), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("tables.customers.columns.phone")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("`invoices`") && l.contains("id, iban")),
        "{lines:?}"
    );
    assert_eq!(
        dump_place(&db, &places.live).await,
        yesterday,
        "live keeps yesterday's copy"
    );
    assert!(
        dump_place(&db, &places.build).await.is_empty(),
        "nothing built before the refusal"
    );
    let raw = format!("{:?}", dump_place(&db, &places.live).await);
    assert!(
        !raw.contains("555 0100"),
        "the new column never reached live"
    );

    // Report mode: the same gaps are named and the run publishes.
    let report = STRICT.replace("\"strict\"", "\"report\"");
    let r = rewrite(&db, "night-3", &report, &p).await.unwrap();
    assert_complete(&r);
    let w = r.warnings.join("\n");
    assert!(
        w.contains("customers.phone") && w.contains("`invoices`"),
        "{w}"
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_production_column_stops_the_publish_mysql() {
    a_new_production_column_stops_the_publish(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_production_column_stops_the_publish_postgres() {
    a_new_production_column_stops_the_publish(Dialect::Postgres).await;
}

/// In place: an undeclared table fails a strict run before any write, and
/// a `keep` column that no longer exists is named too.
async fn in_place_strict_coverage(d: Dialect) {
    let db = TestDb::new(d).await;
    let schema = default_schema(&db);
    load_tables(&db, &schema, 5).await;
    let strict_without_countries = STRICT
        .replace("[tables.countries.columns]", "")
        .replace(
            "code = { strategy = \"keep\", reason = \"ISO 3166 code\" }\n",
            "",
        )
        .replace("name = { strategy = \"keep\" }\n", "")
        .replace(
            "created = { strategy = \"keep\" }",
            "created = { strategy = \"keep\" }\nretired = { strategy = \"keep\" }",
        );
    let before = db.col("SELECT email FROM customers ORDER BY id").await;
    db.begin("inplace-cov").await;
    let e = db
        .target
        .run(
            "inplace-cov",
            &rules(&strict_without_countries),
            &salt(),
            far(),
        )
        .await
        .unwrap_err();
    let lines = schema_error_lines(&e);
    assert!(
        lines.iter().any(|l| l.contains("`countries` has no rules")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("customers.retired") && l.contains("does not exist")),
        "{lines:?}"
    );
    assert_eq!(
        db.col("SELECT email FROM customers ORDER BY id").await,
        before,
        "nothing written"
    );

    db.begin("inplace-full").await;
    let r = db
        .target
        .run("inplace-full", &rules(STRICT), &salt(), far())
        .await
        .unwrap();
    assert_eq!(r.outcome, RunOutcome::Complete, "{r:?}");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_strict_coverage_mysql() {
    in_place_strict_coverage(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_strict_coverage_postgres() {
    in_place_strict_coverage(Dialect::Postgres).await;
}
