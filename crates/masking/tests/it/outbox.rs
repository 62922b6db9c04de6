use std::time::{Duration, SystemTime};

use masking::{Begin, Dialect, LedgerOutcome, OutboxMessage, RunState};

use crate::common::*;

fn message(run: &str, key: &str) -> OutboxMessage {
    OutboxMessage {
        run_id: run.into(),
        key: key.into(),
        subject: format!("dms-refresh: {key}"),
        body: format!("{{\"run\":\"{run}\",\"outcome\":\"{key}\"}}"),
    }
}

/// A message is kept once per run and outcome, claimed by one deliverer at
/// a time, and found again until it is marked sent.
async fn outbox_keeps_claims_and_sends_once(d: Dialect) {
    let db = TestDb::new(d).await;
    let t = &db.target;
    let soon = SystemTime::now() + Duration::from_secs(120);
    assert!(
        t.enqueue(&message("db_1/run-a", "succeeded"))
            .await
            .unwrap()
    );
    assert!(
        !t.enqueue(&message("db_1/run-a", "succeeded"))
            .await
            .unwrap(),
        "once per outcome"
    );
    // Messages are returned oldest first, by their millisecond stamp; two
    // kept within one millisecond would come back in key order instead.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(
        t.enqueue(&message("db_1/run-a", "failed:0001"))
            .await
            .unwrap()
    );
    assert!(
        t.enqueue(&message("db_2/run-a", "succeeded"))
            .await
            .unwrap()
    );

    // The prefix is literal: `_` is not a wildcard.
    let first = t.claim_unsent("db_1/", "invocation-1", soon).await.unwrap();
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(first[0], message("db_1/run-a", "succeeded"));
    let racing = t.claim_unsent("db_1/", "invocation-2", soon).await.unwrap();
    assert!(
        racing.is_empty(),
        "a claim in force is left to its holder: {racing:?}"
    );
    assert_eq!(
        t.claim_unsent("db_1/", "invocation-1", soon)
            .await
            .unwrap()
            .len(),
        2
    );

    t.mark_sent("db_1/run-a", "succeeded").await.unwrap();
    // The holder died before sending the second: after its claim expires,
    // another deliverer takes it over.
    let past = SystemTime::now() - Duration::from_secs(1);
    t.claim_unsent("db_1/", "invocation-1", past).await.unwrap();
    let taken = t.claim_unsent("db_1/", "invocation-3", soon).await.unwrap();
    assert_eq!(taken, vec![message("db_1/run-a", "failed:0001")]);
    t.mark_sent("db_1/run-a", "failed:0001").await.unwrap();
    assert!(
        t.claim_unsent("db_1/", "invocation-4", soon)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        t.claim_unsent("db_2/", "invocation-4", soon)
            .await
            .unwrap()
            .len(),
        1
    );
    db.cleanup().await;
}

/// The ledger tells a paused run and a permanent failure from a retryable
/// one; `begin` still resumes each.
async fn ledger_records_paused_and_permanent_failures(d: Dialect) {
    let db = TestDb::new(d).await;
    let t = &db.target;
    let lease = SystemTime::now() + Duration::from_secs(300);
    assert_eq!(t.begin("r-paused", "a", lease).await.unwrap(), Begin::New);
    t.finish("r-paused", "a", LedgerOutcome::Paused)
        .await
        .unwrap();
    assert_eq!(
        t.status("r-paused").await.unwrap().unwrap().state,
        RunState::Paused
    );
    assert_eq!(
        t.begin("r-paused", "b", lease).await.unwrap(),
        Begin::Resumed
    );

    assert_eq!(t.begin("r-bad", "a", lease).await.unwrap(), Begin::New);
    let error = "verification failed".to_owned();
    t.finish("r-bad", "a", LedgerOutcome::FailedPermanently { error })
        .await
        .unwrap();
    let status = t.status("r-bad").await.unwrap().unwrap();
    assert_eq!(status.state, RunState::FailedPermanently);
    assert_eq!(status.outcome.as_deref(), Some("verification failed"));
    assert_eq!(t.begin("r-bad", "b", lease).await.unwrap(), Begin::Resumed);
    db.cleanup().await;
}

#[tokio::test]
async fn mysql_outbox_keeps_claims_and_sends_once() {
    outbox_keeps_claims_and_sends_once(Dialect::MySql).await;
}

#[tokio::test]
async fn postgres_outbox_keeps_claims_and_sends_once() {
    outbox_keeps_claims_and_sends_once(Dialect::Postgres).await;
}

#[tokio::test]
async fn mysql_ledger_records_paused_and_permanent_failures() {
    ledger_records_paused_and_permanent_failures(Dialect::MySql).await;
}

#[tokio::test]
async fn postgres_ledger_records_paused_and_permanent_failures() {
    ledger_records_paused_and_permanent_failures(Dialect::Postgres).await;
}
