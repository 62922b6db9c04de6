use std::time::{Duration, SystemTime};

use masking::{Begin, Dialect, LedgerOutcome, MaskError, RunState};

use crate::common::*;

/// Many concurrent `begin` calls on separate pools: exactly one wins.
async fn begin_is_race_safe(d: Dialect) {
    let db = TestDb::new(d).await;
    db.target.ensure_control_tables().await.unwrap();
    let mut targets = Vec::new();
    for _ in 0..6 {
        targets.push(db.other_target().await);
    }
    let lease = SystemTime::now() + Duration::from_secs(300);
    let mut handles = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let t = t.clone();
        handles.push(tokio::spawn(async move {
            t.begin("run-race", &format!("owner-{i}"), lease).await
        }));
    }
    let mut new = 0;
    let mut held = 0;
    for h in handles {
        match h.await.unwrap().unwrap() {
            Begin::New => new += 1,
            Begin::HeldByOther { owner, lease_until } => {
                assert!(owner.starts_with("owner-"));
                assert!(lease_until > SystemTime::now());
                held += 1
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((new, held), (1, 5));
    let status = db.target.status("run-race").await.unwrap().unwrap();
    assert_eq!(status.state, RunState::InProgress);
    let winner = status.lease_owner.clone().unwrap();

    // Wrong owner cannot finish; the winner can; a duplicate is AlreadyDone.
    let e = db
        .target
        .finish("run-race", "intruder", LedgerOutcome::Done { rows: 1 })
        .await
        .unwrap_err();
    assert!(matches!(e, MaskError::Ledger(_)), "{e}");
    db.target
        .finish("run-race", &winner, LedgerOutcome::Done { rows: 42 })
        .await
        .unwrap();
    // idempotent
    db.target
        .finish("run-race", &winner, LedgerOutcome::Done { rows: 42 })
        .await
        .unwrap();
    let s = db.target.status("run-race").await.unwrap().unwrap();
    assert_eq!((s.state, s.rows_affected), (RunState::Done, Some(42)));
    assert!(s.finished_at.is_some() && s.lease_until.is_none());
    let mut handles = Vec::new();
    for t in &targets {
        let t = t.clone();
        handles.push(tokio::spawn(async move {
            t.begin("run-race", "late", lease).await
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap().unwrap(), Begin::AlreadyDone);
    }
    for t in targets {
        t.close().await;
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn begin_is_race_safe_mysql() {
    begin_is_race_safe(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn begin_is_race_safe_postgres() {
    begin_is_race_safe(Dialect::Postgres).await;
}

/// Lease expiry, own-lease re-entry, failed runs resumable, concurrent
/// control-table creation on a fresh database.
async fn lease_lifecycle(d: Dialect) {
    let db = TestDb::new(d).await;
    let past = SystemTime::now() - Duration::from_secs(1);
    let future = SystemTime::now() + Duration::from_secs(300);
    assert_eq!(db.target.status("nope").await.unwrap(), None);
    assert_eq!(db.target.begin("r1", "a", past).await.unwrap(), Begin::New);
    // a's lease already expired: b takes over
    assert_eq!(
        db.target.begin("r1", "b", future).await.unwrap(),
        Begin::Resumed
    );
    // a cannot now, b's lease is valid
    assert!(
        matches!(db.target.begin("r1", "a", future).await.unwrap(), Begin::HeldByOther { ref owner, .. } if owner == "b")
    );
    // b re-entering its own lease resumes
    assert_eq!(
        db.target.begin("r1", "b", future).await.unwrap(),
        Begin::Resumed
    );
    db.target
        .renew_lease("r1", "b", future + Duration::from_secs(60))
        .await
        .unwrap();
    assert!(db.target.renew_lease("r1", "a", future).await.is_err());
    db.target
        .finish(
            "r1",
            "b",
            LedgerOutcome::Failed {
                error: "boom".into(),
            },
        )
        .await
        .unwrap();
    let s = db.target.status("r1").await.unwrap().unwrap();
    assert_eq!(
        (s.state, s.outcome.as_deref()),
        (RunState::Failed, Some("boom"))
    );
    // a failed run is resumable by anyone
    assert_eq!(
        db.target.begin("r1", "c", future).await.unwrap(),
        Begin::Resumed
    );
    assert!(db.target.begin("", "c", future).await.is_err());
    assert!(
        db.target
            .begin(&"x".repeat(256), "c", future)
            .await
            .is_err()
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_lifecycle_mysql() {
    lease_lifecycle(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_lifecycle_postgres() {
    lease_lifecycle(Dialect::Postgres).await;
}

/// A duplicate event for a finished run changes nothing.
async fn duplicate_run_changes_nothing(d: Dialect) {
    let db = TestDb::new(d).await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(100))")
        .await;
    db.exec("INSERT INTO t VALUES (1, 'a'), (2, 'b')").await;
    let r = rules("[tables.t.columns]\nv = { strategy = \"hash\" }\n");
    db.mask("run-dup", &r).await.unwrap();
    db.target
        .finish("run-dup", "tester", LedgerOutcome::Done { rows: 2 })
        .await
        .unwrap();
    let after_first = db.col("SELECT v FROM t ORDER BY id").await;
    assert_eq!(
        after_first[0].as_deref(),
        Some(oracle_hex("hash", "a").as_str())
    );
    // duplicate event
    let b = db
        .target
        .begin(
            "run-dup",
            "second",
            SystemTime::now() + Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(b, Begin::AlreadyDone);
    // even a careless caller that runs anyway is refused before any write
    let e = db
        .target
        .run("run-dup", &r, &salt(), far())
        .await
        .unwrap_err();
    assert!(matches!(e, MaskError::Ledger(_)), "{e}");
    assert!(e.is_permanent());
    assert_eq!(db.col("SELECT v FROM t ORDER BY id").await, after_first);
    // and an unknown run id is refused too
    let e = db
        .target
        .run("never-begun", &r, &salt(), far())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("begin"), "{e}");
    assert_eq!(db.col("SELECT v FROM t ORDER BY id").await, after_first);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_run_changes_nothing_mysql() {
    duplicate_run_changes_nothing(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_run_changes_nothing_postgres() {
    duplicate_run_changes_nothing(Dialect::Postgres).await;
}
