use std::time::Instant;

use masking::{Dialect, RunOptions, RunOutcome};

use crate::common::*;

const RULES: &str = r#"
[settings]
chunk_threshold = 100
chunk_size = 100
[tables.big.columns]
email = { strategy = "email" }
amount = { strategy = "noise", percent = 20 }
token = { strategy = "hash" }
"#;

async fn make_big(db: &TestDb, n: usize) {
    db.exec("CREATE TABLE big (id INT PRIMARY KEY, email VARCHAR(100), amount DECIMAL(14,2), token VARCHAR(64))").await;
    // Sparse keys (gaps) to exercise key-based chunk bounds.
    let rows: Vec<String> = (1..=n)
        .map(|i| {
            let id = i * 3 + (i % 7);
            let email = if i % 97 == 0 {
                "NULL".to_string()
            } else {
                format!("'p{i}@corp.com'")
            };
            format!("({id}, {email}, {}.25, 'tok{i}')", i * 10)
        })
        .collect();
    for chunk in rows.chunks(500) {
        db.exec(&format!("INSERT INTO big VALUES {}", chunk.join(", ")))
            .await;
    }
}

async fn dump(db: &TestDb) -> Vec<Vec<Option<String>>> {
    let sql = format!(
        "SELECT {}, {}, {}, {} FROM big ORDER BY id",
        db.txt("id"),
        db.txt("email"),
        db.txt("amount"),
        db.txt("token")
    );
    db.rows(&sql).await
}

/// Interrupted after some chunks (test hook and a deadline in the past), then
/// resumed by a fresh connection: every row is masked exactly once, identical
/// to a single uninterrupted run on an identical copy.
async fn interrupted_then_resumed(d: Dialect) {
    let r = rules(RULES);
    let a = TestDb::new(d).await;
    let b = TestDb::new(d).await;
    make_big(&a, 1000).await;
    make_big(&b, 1000).await;
    let original = dump(&a).await;

    a.begin("run-resume").await;
    let rep = a
        .target
        .run_with(
            "run-resume",
            &r,
            &salt(),
            far(),
            RunOptions {
                stop_after_chunks: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let RunOutcome::Incomplete {
        next_step,
        chunks_this_invocation,
    } = &rep.outcome
    else {
        panic!("{rep:?}")
    };
    assert!(
        next_step.starts_with("mask:") && next_step.ends_with(".big"),
        "{next_step}"
    );
    assert_eq!(*chunks_this_invocation, 3);
    assert_eq!(rep.tables[0].chunks, 3);
    assert_eq!(rep.tables[0].rows_before, Some(1000));
    assert!(rep.verification.is_none());
    assert_eq!(
        a.count("SELECT COUNT(*) FROM big WHERE token LIKE 'tok%'")
            .await,
        700
    );

    // Deadline already passed: stops before doing anything.
    let rep = a
        .target
        .run("run-resume", &r, &salt(), Instant::now())
        .await
        .unwrap();
    assert!(
        matches!(
            rep.outcome,
            RunOutcome::Incomplete {
                chunks_this_invocation: 0,
                ..
            }
        ),
        "{rep:?}"
    );
    assert_eq!(
        a.count("SELECT COUNT(*) FROM big WHERE token LIKE 'tok%'")
            .await,
        700
    );

    let rep = a
        .target
        .run_with(
            "run-resume",
            &r,
            &salt(),
            far(),
            RunOptions {
                stop_after_chunks: Some(4),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        matches!(
            rep.outcome,
            RunOutcome::Incomplete {
                chunks_this_invocation: 4,
                ..
            }
        ),
        "{rep:?}"
    );
    assert_eq!(
        a.count("SELECT COUNT(*) FROM big WHERE token LIKE 'tok%'")
            .await,
        300
    );

    // "Next invocation": a brand-new connection pool resumes.
    let fresh = a.other_target().await;
    let rep = fresh.run("run-resume", &r, &salt(), far()).await.unwrap();
    assert_eq!(rep.outcome, RunOutcome::Complete);
    assert_eq!(rep.tables[0].rows_masked, 1000);
    assert_eq!(rep.tables[0].chunks, 10);
    assert_eq!(rep.tables[0].rows_after, Some(1000));
    assert!(rep.verification.as_ref().unwrap().passed);
    fresh.close().await;

    b.begin("run-single").await;
    let rep_b = b
        .target
        .run("run-single", &r, &salt(), far())
        .await
        .unwrap();
    assert_eq!(rep_b.outcome, RunOutcome::Complete);

    let ma = dump(&a).await;
    let mb = dump(&b).await;
    assert_eq!(ma, mb, "interrupted+resumed run differs from a single run");
    // every row changed exactly once: token is the hash of the original
    for (o, m) in original.iter().zip(&ma) {
        assert_eq!(
            m[3].as_deref(),
            Some(oracle_hex("hash", o[3].as_deref().unwrap()).as_str())
        );
    }
    // Running again after completion is a no-op (all steps done).
    let again = a
        .target
        .run("run-resume", &r, &salt(), far())
        .await
        .unwrap();
    assert_eq!(again.outcome, RunOutcome::Complete);
    assert_eq!(dump(&a).await, ma);
    a.cleanup().await;
    b.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_then_resumed_mysql() {
    interrupted_then_resumed(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_then_resumed_postgres() {
    interrupted_then_resumed(Dialect::Postgres).await;
}

/// Two runners racing on the same run never mask a chunk twice.
async fn concurrent_runners_mask_once(d: Dialect) {
    let r = rules(RULES);
    let a = TestDb::new(d).await;
    make_big(&a, 1000).await;
    let original = dump(&a).await;
    a.begin("run-par").await;
    let t1 = a.other_target().await;
    let t2 = a.other_target().await;
    let s = salt();
    let (r1, r2) = tokio::join!(
        t1.run("run-par", &r, &s, far()),
        t2.run("run-par", &r, &s, far())
    );
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_eq!(r1.outcome, RunOutcome::Complete);
    assert_eq!(r2.outcome, RunOutcome::Complete);
    for (o, m) in original.iter().zip(&dump(&a).await) {
        assert_eq!(
            m[3].as_deref(),
            Some(oracle_hex("hash", o[3].as_deref().unwrap()).as_str())
        );
    }
    t1.close().await;
    t2.close().await;
    a.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runners_mask_once_mysql() {
    concurrent_runners_mask_once(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runners_mask_once_postgres() {
    concurrent_runners_mask_once(Dialect::Postgres).await;
}

const PAIRS_RULES: &str = r#"
[settings]
chunk_threshold = 100
chunk_size = 100
[tables.pairs.columns]
n = { strategy = "sql", expression = "{column} + 1" }
token = { strategy = "hash" }
"#;

/// Two runners racing on a table with a composite (int, text) key never
/// mask a chunk twice: `n` is masked with `{column} + 1`, so a row masked
/// twice would hold `orig + 2`.
async fn concurrent_runners_mask_once_composite_key(d: Dialect) {
    let a = TestDb::new(d).await;
    a.exec(
        "CREATE TABLE pairs (region INT NOT NULL, name VARCHAR(40) NOT NULL, n BIGINT NOT NULL, \
            orig BIGINT NOT NULL, token VARCHAR(64), PRIMARY KEY (region, name))",
    )
    .await;
    let rows: Vec<String> = (1..=1000)
        .map(|i| format!("({}, 'name-{i}', {i}, {i}, 'tok{i}')", i % 7))
        .collect();
    a.exec(&format!("INSERT INTO pairs VALUES {}", rows.join(", ")))
        .await;
    let r = rules(PAIRS_RULES);
    a.begin("run-par").await;
    let t1 = a.other_target().await;
    let t2 = a.other_target().await;
    let s = salt();
    let (r1, r2) = tokio::join!(
        t1.run("run-par", &r, &s, far()),
        t2.run("run-par", &r, &s, far())
    );
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_eq!(r1.outcome, RunOutcome::Complete);
    assert_eq!(r2.outcome, RunOutcome::Complete);
    // In place, PostgreSQL chunks this key by heap pages.
    let chunks = match d {
        Dialect::MySql => 10,
        Dialect::Postgres => {
            let step = format!("mask:{}.pairs", crate::places_fixture::default_schema(&a));
            pages_chunks(&cursor_of(&a, &step).await)
        }
    };
    assert_eq!(r1.tables[0].chunks, chunks, "{r1:?}");
    assert_eq!(r1.tables[0].rows_masked, 1000, "{r1:?}");
    assert_eq!(
        a.count("SELECT COUNT(*) FROM pairs WHERE n <> orig + 1")
            .await,
        0
    );
    let sql = format!("SELECT {}, token FROM pairs", a.txt("orig"));
    let masked = a.rows(&sql).await;
    assert_eq!(masked.len(), 1000);
    for m in &masked {
        let orig = m[0].as_deref().unwrap();
        assert_eq!(
            m[1].as_deref(),
            Some(oracle_hex("hash", &format!("tok{orig}")).as_str())
        );
    }
    t1.close().await;
    t2.close().await;
    a.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runners_mask_once_composite_key_mysql() {
    concurrent_runners_mask_once_composite_key(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runners_mask_once_composite_key_postgres() {
    concurrent_runners_mask_once_composite_key(Dialect::Postgres).await;
}
