//! Partitioned and inherited tables in place (issue 11 item 8): on
//! PostgreSQL every masking `UPDATE` is `UPDATE ONLY` and a partitioned table
//! is masked leaf partition by leaf partition, so no row is masked twice
//! through a parent and none is skipped; MySQL partitions are one table.

use masking::{Dialect, MaskError, RunOptions, RunOutcome};

use crate::common::*;

const EVENTS: &str = r#"
[settings]
coverage = "strict"
chunk_threshold = 100
chunk_size = 90
[tables.events.columns]
id = { strategy = "keep" }
email = { strategy = "hash" }
"#;

/// 1000 rows over three leaves: `events_low`, and `events_high` split again
/// in two.
async fn make_pg_events(db: &TestDb) {
    for stmt in [
        "CREATE TABLE events (id INT PRIMARY KEY, email TEXT) PARTITION BY RANGE (id)",
        "CREATE TABLE events_low PARTITION OF events FOR VALUES FROM (0) TO (400)",
        "CREATE TABLE events_high PARTITION OF events FOR VALUES FROM (400) TO (2000) PARTITION BY RANGE (id)",
        "CREATE TABLE events_high_a PARTITION OF events_high FOR VALUES FROM (400) TO (700)",
        "CREATE TABLE events_high_b PARTITION OF events_high FOR VALUES FROM (700) TO (2000)",
        "INSERT INTO events SELECT i, 'user' || i || '@corp.com' FROM generate_series(0, 999) i",
    ] {
        db.exec(stmt).await;
    }
}

async fn emails(db: &TestDb, table: &str) -> Vec<(String, Option<String>)> {
    db.rows(&format!("SELECT id::text, email FROM {table} ORDER BY id"))
        .await
        .into_iter()
        .map(|r| (r[0].clone().unwrap_or_default(), r[1].clone()))
        .collect()
}

fn assert_hashed_once(rows: &[(String, Option<String>)], original: impl Fn(&str) -> String) {
    for (id, email) in rows {
        assert_eq!(
            email.as_deref(),
            Some(oracle_hex("hash", &original(id)).as_str()),
            "row {id}: masked exactly once"
        );
    }
}

/// Strict coverage asks for the partitioned table only; every leaf is its own
/// chunked, resumable step; every row is masked once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_table_is_masked_leaf_by_leaf_postgres() {
    let db = TestDb::new(Dialect::Postgres).await;
    make_pg_events(&db).await;
    let r = rules(EVENTS);
    db.begin("night-1").await;
    let opts = RunOptions {
        stop_after_chunks: Some(5),
        ..Default::default()
    };
    let first = db
        .target
        .run_with("night-1", &r, &salt(), far(), opts)
        .await
        .unwrap();
    assert!(
        matches!(first.outcome, RunOutcome::Incomplete { .. }),
        "{first:?}"
    );
    let done = db.target.run("night-1", &r, &salt(), far()).await.unwrap();
    assert_eq!(done.outcome, RunOutcome::Complete);
    assert_eq!(done.tables[0].rows_masked, 1000, "{done:?}");
    assert_eq!(done.tables[0].rows_before, Some(1000), "{done:?}");
    assert!(done.tables[0].chunks >= 12, "each leaf in chunks: {done:?}");

    let steps = db
        .col(&format!(
            "SELECT step FROM {} WHERE run_id = 'night-1' AND step LIKE 'mask:%' ORDER BY step",
            db.control_table("table_progress")
        ))
        .await;
    assert_eq!(
        steps,
        ["events_high_a", "events_high_b", "events_low"]
            .map(|t| Some(format!("mask:public.{t}")))
            .to_vec()
    );
    let rows = emails(&db, "events").await;
    assert_eq!(rows.len(), 1000);
    assert_hashed_once(&rows, |id| format!("user{id}@corp.com"));
    db.cleanup().await;
}

/// A partition declared beside its partitioned table would be masked twice:
/// refused before any write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_declared_beside_its_parent_is_refused_postgres() {
    let db = TestDb::new(Dialect::Postgres).await;
    make_pg_events(&db).await;
    let before = emails(&db, "events").await;
    let src =
        format!("{EVENTS}[tables.events_high_a.columns]\nemail = {{ strategy = \"hash\" }}\n");
    let e = db.mask("night-1", &rules(&src)).await.unwrap_err();
    let MaskError::Schema { problems } = &e else {
        panic!("{e}")
    };
    assert!(
        problems
            .iter()
            .any(|p| p.contains("public.events_high_a") && p.contains("masked twice")),
        "{problems:?}"
    );
    assert_eq!(emails(&db, "events").await, before, "nothing written");
    db.cleanup().await;
}

/// Inheritance (the pre-partitioning way): an `UPDATE` of the parent would
/// also write the child's rows, which the child's own step masks again.
/// `UPDATE ONLY` masks each row through its own table, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inherited_table_and_its_parent_are_each_masked_once_postgres() {
    let db = TestDb::new(Dialect::Postgres).await;
    for stmt in [
        "CREATE TABLE contacts (id INT PRIMARY KEY, email TEXT)",
        "CREATE TABLE vip_contacts (tier INT) INHERITS (contacts)",
        "INSERT INTO contacts VALUES (1, 'a@corp.com'), (2, 'b@corp.com')",
        "INSERT INTO vip_contacts VALUES (3, 'c@corp.com', 1)",
    ] {
        db.exec(stmt).await;
    }
    let src = r#"
[settings]
coverage = "strict"
[tables.contacts.columns]
id = { strategy = "keep" }
email = { strategy = "hash" }
[tables.vip_contacts.columns]
id = { strategy = "keep" }
tier = { strategy = "keep" }
email = { strategy = "hash" }
"#;
    let rep = db.mask("night-1", &rules(src)).await.unwrap();
    assert_eq!(rep.outcome, RunOutcome::Complete);
    let originals = ["", "a@corp.com", "b@corp.com", "c@corp.com"];
    let original = |id: &str| originals[id.parse::<usize>().unwrap()].to_string();
    let rows = emails(&db, "contacts").await;
    assert_eq!(rows.len(), 3, "the parent shows its child's rows");
    assert_hashed_once(&rows, original);
    db.cleanup().await;
}

/// MySQL partitions are one table: masked and chunked like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_table_is_masked_once_mysql() {
    let db = TestDb::new(Dialect::MySql).await;
    db.exec(
        "CREATE TABLE events (id INT PRIMARY KEY, email VARCHAR(100)) ENGINE=InnoDB \
         PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (400), \
         PARTITION p1 VALUES LESS THAN MAXVALUE)",
    )
    .await;
    let values: Vec<String> = (0..1000)
        .map(|i| format!("({i}, 'user{i}@corp.com')"))
        .collect();
    db.exec(&format!("INSERT INTO events VALUES {}", values.join(", ")))
        .await;
    let rep = db.mask("night-1", &rules(EVENTS)).await.unwrap();
    assert_eq!(rep.outcome, RunOutcome::Complete);
    assert_eq!(rep.tables[0].rows_masked, 1000);
    let rows: Vec<(String, Option<String>)> = db
        .rows("SELECT CAST(id AS CHAR), email FROM events ORDER BY id")
        .await
        .into_iter()
        .map(|r| (r[0].clone().unwrap_or_default(), r[1].clone()))
        .collect();
    assert_eq!(rows.len(), 1000);
    assert_hashed_once(&rows, |id| format!("user{id}@corp.com"));
    db.cleanup().await;
}
