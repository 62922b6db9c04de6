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
