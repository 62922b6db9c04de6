//! The publish model on the real servers: developers never read raw rows,
//! readers see a whole copy, failures leave live alone, crashes publish
//! exactly once, rollback, and the place checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use masking::{Dialect, MaskError, Places, Publish, RunOptions, RunOutcome};

use crate::common::*;
use crate::places_fixture::*;

fn stop_before_publish() -> RunOptions {
    RunOptions {
        stop_before_step: Some("publish".into()),
        ..RunOptions::default()
    }
}

/// The developer is denied quarantine (and build) and reads a complete,
/// masked copy of `customers` customers in live.
async fn developer_sees(dev: &Developer, places: &Places, customers: usize, stage: &str) {
    for place in [&places.quarantine, &places.build] {
        let e = dev
            .try_rows(&format!("SELECT COUNT(*) FROM {place}.customers"))
            .await
            .expect_err(stage);
        if place == &places.quarantine {
            assert!(is_permission_denied(&e), "{stage}: {place}: {e}");
        }
    }
    let rows = dev
        .try_rows(&format!("SELECT email FROM {}.customers", places.live))
        .await
        .unwrap_or_else(|e| panic!("{stage}: {e}"));
    assert_eq!(rows.len(), customers, "{stage}");
    assert!(
        rows.iter().all(|r| r[0]
            .as_deref()
            .is_some_and(|e| e.ends_with("@example.invalid"))),
        "{stage}: unmasked email in live"
    );
    let orders = dev
        .try_rows(&format!("SELECT note FROM {}.orders", places.live))
        .await
        .unwrap_or_else(|e| panic!("{stage}: {e}"));
    assert_eq!(orders.len(), 2 * customers, "{stage}");
}

async fn developer_never_reads_raw_rows(d: Dialect) {
    let mut db = TestDb::new(d).await;
    let places = db.places("app");
    let dev = db.developer().await;
    let p = publish(&places, &format!("{}=SELECT", dev.grantee));
    load_quarantine(&db, &places, 20).await;
    assert_complete(&rewrite(&db, "run-1", RULES, &p).await.unwrap());
    developer_sees(&dev, &places, 20, "a previous copy is live").await;

    load_quarantine(&db, &places, 25).await;
    developer_sees(&dev, &places, 20, "quarantine loaded").await;

    let r = rewrite_with(&db, "run-2", RULES, &p, stop_before_publish())
        .await
        .unwrap();
    assert!(
        matches!(&r.outcome, RunOutcome::Incomplete { next_step, .. } if next_step == "publish"),
        "{r:?}"
    );
    developer_sees(&dev, &places, 20, "build complete").await;
    let e = dev
        .try_rows(&format!("SELECT COUNT(*) FROM {}.customers", places.build))
        .await
        .unwrap_err();
    assert!(is_permission_denied(&e), "build: {e}");

    let r = continue_rewrite(&db.target, "run-2", RULES, &p)
        .await
        .unwrap();
    assert_complete(&r);
    developer_sees(&dev, &places, 25, "published").await;
    dev.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developer_never_reads_raw_rows_mysql() {
    developer_never_reads_raw_rows(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developer_never_reads_raw_rows_postgres() {
    developer_never_reads_raw_rows(Dialect::Postgres).await;
}

/// Counts of every live table in one statement, until `stop`.
async fn read_counts_until(
    pool: Pool,
    live: String,
    stop: Arc<AtomicBool>,
) -> Vec<Result<(i64, i64, i64), String>> {
    let sql = format!(
        "SELECT (SELECT COUNT(*) FROM {live}.countries), (SELECT COUNT(*) FROM {live}.customers), (SELECT COUNT(*) FROM {live}.orders)"
    );
    let mut seen = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let q = sqlx::AssertSqlSafe(sql.clone());
        let r: Result<(i64, i64, i64), sqlx::Error> = match &pool {
            Pool::My(p) => sqlx::query_as(q).fetch_one(p).await,
            Pool::Pg(p) => sqlx::query_as(q).fetch_one(p).await,
        };
        seen.push(r.map_err(|e| e.to_string()));
    }
    seen
}

async fn readers_see_old_or_new_copy(d: Dialect) {
    let mut db = TestDb::new(d).await;
    let places = db.places("app");
    let p = publish(&places, "");
    load_quarantine(&db, &places, 20).await;
    assert_complete(&rewrite(&db, "run-1", RULES, &p).await.unwrap());
    load_quarantine(&db, &places, 21).await;
    rewrite_with(&db, "run-2", RULES, &p, stop_before_publish())
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(read_counts_until(
        db.pool.clone(),
        places.live.clone(),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = continue_rewrite(&db.target, "run-2", RULES, &p)
        .await
        .unwrap();
    assert_complete(&r);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = reader.await.unwrap();
    let (old, new) = ((2, 20, 40), (2, 21, 42));
    for s in &seen {
        match s {
            Ok(c) => assert!(*c == old || *c == new, "mixed copy seen: {c:?}"),
            Err(e) => panic!("reader failed during publish: {e}"),
        }
    }
    assert!(
        seen.contains(&Ok(old)) && seen.contains(&Ok(new)),
        "{} reads",
        seen.len()
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_old_or_new_copy_mysql() {
    readers_see_old_or_new_copy(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_old_or_new_copy_postgres() {
    readers_see_old_or_new_copy(Dialect::Postgres).await;
}

async fn failures_before_publish_leave_live_untouched(d: Dialect) {
    let mut db = TestDb::new(d).await;
    let places = db.places("app");
    let p = publish(&places, "");
    load_quarantine(&db, &places, 20).await;
    assert_complete(&rewrite(&db, "run-1", RULES, &p).await.unwrap());
    load_quarantine(&db, &places, 22).await;
    let live = dump_place(&db, &places.live).await;
    let retired = dump_place(&db, &places.retired).await;

    // Passes pre-flight, fails while copying: 9+ characters x 20 > VARCHAR(60).
    let too_long = RULES.replace(
        "name = { strategy = \"fake\", dictionary = \"full_name\" }",
        "name = { strategy = \"sql\", expression = \"REPEAT({column}, 20)\" }",
    );
    let e = rewrite(&db, "bad-copy", &too_long, &p).await.unwrap_err();
    assert!(matches!(e, MaskError::Database { .. }), "{e}");
    assert!(e.to_string().contains("copying"), "{e}");

    // Verification fails on build.
    let unmasked = RULES.replace(
        "email = { strategy = \"email\" }",
        "email = { strategy = \"sql\", expression = \"CONCAT('x-', {column})\", check = \"{column} LIKE '%@example.invalid'\" }",
    );
    let e = rewrite(&db, "bad-verify", &unmasked, &p).await.unwrap_err();
    assert!(e.to_string().contains("email:sql: 22 offending"), "{e}");

    // Stopped right before publishing.
    let r = rewrite_with(&db, "stopped", RULES, &p, stop_before_publish())
        .await
        .unwrap();
    assert!(matches!(r.outcome, RunOutcome::Incomplete { .. }), "{r:?}");

    assert_eq!(dump_place(&db, &places.live).await, live, "live changed");
    assert_eq!(dump_place(&db, &places.retired).await, retired);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_before_publish_leave_live_untouched_mysql() {
    failures_before_publish_leave_live_untouched(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_before_publish_leave_live_untouched_postgres() {
    failures_before_publish_leave_live_untouched(Dialect::Postgres).await;
}

/// Who is live and retired, per the publish report of a complete run.
fn runs(r: &masking::RunReport) -> (String, Option<String>) {
    let p = r.published.as_ref().unwrap();
    (p.live_run.clone(), p.retired_run.clone())
}

async fn crashes_publish_exactly_once(d: Dialect) {
    let mut db = TestDb::new(d).await;
    let places = db.places("app");
    let p = publish(&places, "");
    load_quarantine(&db, &places, 20).await;
    assert_complete(&rewrite(&db, "run-1", RULES, &p).await.unwrap());
    let copy1 = dump_place(&db, &places.live).await;

    // Crash between verify and publish, then a retry by a fresh process.
    load_quarantine(&db, &places, 21).await;
    rewrite_with(&db, "run-2", RULES, &p, stop_before_publish())
        .await
        .unwrap();
    assert_eq!(dump_place(&db, &places.live).await, copy1);
    let fresh = db.other_target().await;
    let r = continue_rewrite(&fresh, "run-2", RULES, &p).await.unwrap();
    assert_complete(&r);
    assert_eq!(runs(&r), ("run-2".into(), Some("run-1".into())));
    assert_eq!(count_of(&db, &places.live, "customers").await, 21);
    assert_eq!(dump_place(&db, &places.retired).await, copy1);
    let copy2 = dump_place(&db, &places.live).await;

    // Crash right after the swap, then a retry.
    load_quarantine(&db, &places, 22).await;
    let e = rewrite_with(
        &db,
        "run-3",
        RULES,
        &p,
        RunOptions {
            fail_after_publish_swap: true,
            ..RunOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(!e.is_permanent(), "{e}");
    let r = continue_rewrite(&fresh, "run-3", RULES, &p).await.unwrap();
    assert_complete(&r);
    assert_eq!(runs(&r), ("run-3".into(), Some("run-2".into())));
    assert_eq!(count_of(&db, &places.live, "customers").await, 22);
    assert_eq!(dump_place(&db, &places.retired).await, copy2);
    // Running the finished run again changes nothing.
    let again = continue_rewrite(&fresh, "run-3", RULES, &p).await.unwrap();
    assert_eq!(runs(&again), ("run-3".into(), Some("run-2".into())));
    assert_eq!(dump_place(&db, &places.retired).await, copy2);
    fresh.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_publish_exactly_once_mysql() {
    crashes_publish_exactly_once(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_publish_exactly_once_postgres() {
    crashes_publish_exactly_once(Dialect::Postgres).await;
}

async fn rollback_restores_the_previous_copy(d: Dialect) {
    let mut db = TestDb::new(d).await;
    let places = db.places("app");
    let dev = db.developer().await;
    let p = publish(&places, &format!("{}=SELECT", dev.grantee));
    let e = db.target.rollback(&p, "rb-0").await.unwrap_err();
    assert!(matches!(e, MaskError::Places(_)), "{e}");
    assert!(e.to_string().contains("nothing to roll back"), "{e}");

    load_quarantine(&db, &places, 20).await;
    assert_complete(&rewrite(&db, "run-1", RULES, &p).await.unwrap());
    let copy1 = dump_place(&db, &places.live).await;
    load_quarantine(&db, &places, 21).await;
    assert_complete(&rewrite(&db, "run-2", RULES, &p).await.unwrap());
    let copy2 = dump_place(&db, &places.live).await;

    let r = db.target.rollback(&p, "rb-1").await.unwrap();
    assert!(!r.repeated);
    assert_eq!(
        (r.live_run.as_deref(), r.retired_run.as_deref()),
        (Some("run-1"), Some("run-2"))
    );
    assert_eq!(dump_place(&db, &places.live).await, copy1);
    assert_eq!(dump_place(&db, &places.retired).await, copy2);
    developer_sees(&dev, &places, 20, "rolled back").await;

    let again = db.target.rollback(&p, "rb-1").await.unwrap();
    assert!(again.repeated);
    assert_eq!(again.live_run.as_deref(), Some("run-1"));
    assert_eq!(dump_place(&db, &places.live).await, copy1);

    let forward = db.target.rollback(&p, "rb-2").await.unwrap();
    assert_eq!(forward.live_run.as_deref(), Some("run-2"));
    assert_eq!(dump_place(&db, &places.live).await, copy2);
    developer_sees(&dev, &places, 21, "rolled forward").await;
    let report = db.target.check_places(&p).await.unwrap();
    assert_eq!(report.live_run.as_deref(), Some("run-2"));
    assert_eq!(report.retired_run.as_deref(), Some("run-1"));
    dev.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_previous_copy_mysql() {
    rollback_restores_the_previous_copy(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_previous_copy_postgres() {
    rollback_restores_the_previous_copy(Dialect::Postgres).await;
}

async fn check_places_refusals(d: Dialect) {
    let mut db = TestDb::new(d).await;
    let places = db.places("app");
    let dev = db.developer().await;
    let p = publish(&places, &format!("{}=SELECT", dev.grantee));

    let e = Places::new("app", "app", "old", "build").unwrap_err();
    assert!(e.to_string().contains("live and quarantine"), "{e}");
    let same = Publish {
        places: Places {
            build: places.retired.clone(),
            ..places.clone()
        },
        ..p.clone()
    };
    let e = db.target.check_places(&same).await.unwrap_err();
    assert!(matches!(e, MaskError::Config(_)), "{e}");
    assert!(e.to_string().contains("retired and build"), "{e}");

    let e = db.target.check_places(&p).await.unwrap_err();
    assert!(matches!(e, MaskError::Places(_)), "{e}");
    assert!(
        e.to_string().contains(&format!(
            "quarantine place `{}` does not exist",
            places.quarantine
        )),
        "{e}"
    );

    load_quarantine(&db, &places, 5).await;
    let ok = db.target.check_places(&p).await.unwrap();
    assert_eq!(ok.quarantine_tables, ["countries", "customers", "orders"]);
    assert!(!ok.live_exists && ok.live_run.is_none());

    let q = &places.quarantine;
    match d {
        Dialect::Postgres => {
            db.exec(&format!(
                "GRANT USAGE ON SCHEMA {q} TO {0}; GRANT SELECT ON ALL TABLES IN SCHEMA {q} TO {0}",
                dev.grantee
            ))
            .await
        }
        Dialect::MySql => {
            db.exec(&format!("GRANT SELECT ON {q}.* TO {}", dev.grantee))
                .await
        }
    }
    let e = db.target.check_places(&p).await.unwrap_err();
    let name = dev.grantee.trim_matches('\'').split('\'').next().unwrap();
    assert!(
        e.to_string().contains(name) && e.to_string().contains("can read the quarantine place"),
        "{e}"
    );
    // The rewrite refuses before writing anything.
    let e = rewrite(&db, "run-1", RULES, &p).await.unwrap_err();
    assert!(
        e.to_string().contains("can read the quarantine place"),
        "{e}"
    );
    assert!(dump_place(&db, &places.build).await.is_empty());
    dev.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_places_refusals_mysql() {
    check_places_refusals(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_places_refusals_postgres() {
    check_places_refusals(Dialect::Postgres).await;
}
