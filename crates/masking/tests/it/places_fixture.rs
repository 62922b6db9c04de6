//! A quarantine loaded the way DMS would, and helpers to run rewrites on it.

use masking::{
    DeveloperGrant, Dialect, MaskError, Places, Publish, RunOptions, RunOutcome, RunReport, Target,
};

use crate::common::*;

/// customers (masked email + name, unique email), orders (FK to customers,
/// masked note, index on customer_id), countries (no rule). Chunked.
pub const RULES: &str = r#"
[settings]
chunk_threshold = 10
chunk_size = 7
[tables.customers.columns]
email = { strategy = "email" }
name = { strategy = "fake", dictionary = "full_name" }
[tables.orders.columns]
note = { strategy = "hash", length = 16 }
"#;

/// Drop and recreate quarantine with `n` customers, `2n` orders and two
/// countries (a new DMS full load).
pub async fn load_quarantine(db: &TestDb, places: &Places, n: i64) {
    let q = &places.quarantine;
    match db.d {
        Dialect::Postgres => {
            db.exec(&format!(
                "DROP SCHEMA IF EXISTS {q} CASCADE; CREATE SCHEMA {q}"
            ))
            .await
        }
        Dialect::MySql => {
            db.exec(&format!("DROP DATABASE IF EXISTS {q}")).await;
            db.exec(&format!("CREATE DATABASE {q}")).await;
        }
    }
    load_tables(db, q, n).await;
}

/// The schema the in-place runner works on (bare rules names).
pub fn default_schema(db: &TestDb) -> String {
    match db.d {
        Dialect::Postgres => "public".into(),
        Dialect::MySql => db.name.clone(),
    }
}

/// Create and fill customers, orders and countries in `schema`.
pub async fn load_tables(db: &TestDb, schema: &str, n: i64) {
    for sql in tables_sql(schema, n) {
        db.exec(&sql).await;
    }
}

/// The statements of [`load_tables`], for a caller that runs them its own
/// way (e.g. as another role).
pub fn tables_sql(schema: &str, n: i64) -> Vec<String> {
    let q = schema;
    let customers: Vec<String> = (1..=n)
        .map(|i| {
            let name = if i % 5 == 0 {
                "NULL".to_string()
            } else {
                format!("'Person {i}'")
            };
            format!(
                "({i}, 'user{i}@corp.com', {name}, '2020-01-{:02}')",
                1 + i % 28
            )
        })
        .collect();
    let orders: Vec<String> = (1..=2 * n)
        .map(|i| format!("({i}, {}, 'order note {i}')", 1 + i % n))
        .collect();
    vec![
        format!(
            "CREATE TABLE {q}.customers (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL UNIQUE, name VARCHAR(60), created DATE)"
        ),
        format!(
            "CREATE TABLE {q}.orders (id INT PRIMARY KEY, customer_id INT NOT NULL, note VARCHAR(100), \
             CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES {q}.customers (id))"
        ),
        format!("CREATE INDEX orders_note_idx ON {q}.orders (note)"),
        format!("CREATE TABLE {q}.countries (code CHAR(2) PRIMARY KEY, name VARCHAR(40))"),
        format!("INSERT INTO {q}.customers VALUES {}", customers.join(", ")),
        format!("INSERT INTO {q}.orders VALUES {}", orders.join(", ")),
        format!("INSERT INTO {q}.countries VALUES ('DK', 'Denmark'), ('FR', 'France')"),
    ]
}

pub fn publish(places: &Places, grants: &str) -> Publish {
    Publish {
        places: places.clone(),
        grants: DeveloperGrant::parse_list(grants).unwrap(),
        purge_quarantine: false,
    }
}

/// begin + run_rewrite until it is complete (or error).
pub async fn rewrite(
    db: &TestDb,
    run_id: &str,
    rules_src: &str,
    p: &Publish,
) -> Result<RunReport, MaskError> {
    rewrite_with(db, run_id, rules_src, p, RunOptions::default()).await
}

pub async fn rewrite_with(
    db: &TestDb,
    run_id: &str,
    rules_src: &str,
    p: &Publish,
    opts: RunOptions,
) -> Result<RunReport, MaskError> {
    db.begin(run_id).await;
    db.target
        .run_rewrite(run_id, &rules(rules_src), &salt(), p, far(), opts)
        .await
}

/// run_rewrite on a run already claimed, through `target` (the test's own
/// or another connection pool), with the default options.
pub async fn continue_rewrite(
    target: &Target,
    run_id: &str,
    rules_src: &str,
    p: &Publish,
) -> Result<RunReport, MaskError> {
    target
        .run_rewrite(
            run_id,
            &rules(rules_src),
            &salt(),
            p,
            far(),
            RunOptions::default(),
        )
        .await
}

pub fn assert_complete(r: &RunReport) {
    assert_eq!(r.outcome, RunOutcome::Complete, "{r:#?}");
}

/// Every table of a place with its rows (cells as text), sorted: the
/// "checksum" of a place.
pub async fn dump_place(db: &TestDb, place: &str) -> Vec<(String, Vec<Vec<Option<String>>>)> {
    let tables = match db.d {
        Dialect::Postgres => db
            .col(&format!(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = '{place}' AND c.relkind = 'r' ORDER BY 1"
            ))
            .await,
        Dialect::MySql => db
            .col(&format!(
                "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{place}' \
                 AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1"
            ))
            .await,
    };
    let mut out = Vec::new();
    for t in tables.into_iter().flatten() {
        let rows = match db.d {
            Dialect::Postgres => {
                db.rows(&format!("SELECT t::text FROM {place}.{t} t ORDER BY 1"))
                    .await
            }
            Dialect::MySql => mysql_rows_as_text(db, place, &t).await,
        };
        out.push((t, rows));
    }
    out
}

/// MySQL: every column of a table cast to text, ordered by all columns.
async fn mysql_rows_as_text(db: &TestDb, place: &str, t: &str) -> Vec<Vec<Option<String>>> {
    let cols = db
        .col(&format!(
            "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{place}' \
             AND TABLE_NAME = '{t}' ORDER BY ORDINAL_POSITION"
        ))
        .await;
    let list: Vec<String> = cols
        .iter()
        .flatten()
        .map(|c| format!("CAST(`{c}` AS CHAR)"))
        .collect();
    db.rows(&format!(
        "SELECT {} FROM {place}.{t} ORDER BY {}",
        list.join(", "),
        (1..=list.len())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .await
}

/// Row count of `place.table`.
pub async fn count_of(db: &TestDb, place: &str, table: &str) -> i64 {
    db.count(&format!("SELECT COUNT(*) FROM {place}.{table}"))
        .await
}
