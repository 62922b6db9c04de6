use masking::{Dialect, RequestRecord};

use crate::common::*;

fn request(id: &str, operation: &str, outcome: &str) -> RequestRecord {
    RequestRecord {
        request_id: id.into(),
        operation: operation.into(),
        outcome: outcome.into(),
    }
}

/// An operator request is kept once, with its first outcome, and read back
/// in the order it was recorded.
async fn requests_are_recorded_once(d: Dialect) {
    let db = TestDb::new(d).await;
    let t = &db.target;
    let moved = request("req-1", "move", r#"{"settled":true,"moved":["a","b"]}"#);
    assert!(t.record_request(&moved).await.unwrap());
    let retried = request("req-1", "move", r#"{"settled":false}"#);
    assert!(
        !t.record_request(&retried).await.unwrap(),
        "a retry records nothing"
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let stop = request(
        "req-2",
        "stop-at",
        r#"{"position":"commit_time:2026-11-21T15:30:00"}"#,
    );
    assert!(t.record_request(&stop).await.unwrap());
    assert_eq!(t.requests().await.unwrap(), [moved, stop]);
    let err = t
        .record_request(&request("", "move", "{}"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("request needs an id"), "{err}");
    db.cleanup().await;
}

#[tokio::test]
async fn mysql_requests_are_recorded_once() {
    requests_are_recorded_once(Dialect::MySql).await;
}

#[tokio::test]
async fn postgres_requests_are_recorded_once() {
    requests_are_recorded_once(Dialect::Postgres).await;
}
