//! `{"operation": "record-request", ...}`: the task-starter's record of an
//! operator request it answered, kept in the ledger of the group's target.

use serde_json::{Value, json};
use tracing::info;

use super::{InvocationInfo, PostError, PostPorts, describe_group, settle};
use crate::config::Config;
use crate::ports::{
    Continuer, Notifier, PostRefreshHooks, ReplicationTasks, RequestRecord, RunLedger, ScheduleRule,
};

impl<D, R, N, L, H, C> PostPorts<'_, D, R, N, L, H, C>
where
    D: ReplicationTasks,
    R: ScheduleRule,
    N: Notifier,
    L: RunLedger,
    H: PostRefreshHooks,
    C: Continuer,
{
    /// Keep `request` in the ledger; the answer says whether it was new.
    /// Without a durable ledger (no target database) it is said so: the
    /// notification is then the only record.
    pub(crate) async fn record_request(
        &self,
        config: &Config,
        info: &InvocationInfo,
        request: &RequestRecord,
    ) -> Result<Value, PostError> {
        if !self.ledger.is_durable() {
            return Ok(json!({
                "recorded": false,
                "reason": "no target database: the request is on record in the notifications only",
            }));
        }
        let tasks = describe_group(config, self.dms).await?;
        let group = settle::context_for(tasks, false, info, None);
        let new = self
            .ledger
            .record_request(&group, request)
            .await
            .map_err(|error| PostError::Ledger {
                run_id: format!("request {}", request.request_id),
                error,
            })?;
        info!(request_id = %request.request_id, kind = %request.kind, new, "operator request recorded");
        Ok(json!({ "recorded": true, "new": new }))
    }
}

#[cfg(test)]
mod tests {
    use crate::post::tests::{A, World};

    const RECORD: &str = r#"{"operation": "record-request", "request_id": "req-1", "kind": "move",
        "outcome": {"settled": true, "rounds": []}}"#;

    /// The starter's record is kept once in a durable ledger; without one
    /// the answer says the notifications are the only record.
    #[tokio::test]
    async fn a_request_is_kept_once_in_the_ledger() {
        let w = World::new(&[A]);
        let without = w.deliver(RECORD).await.unwrap();
        assert_eq!(without.operation.as_ref().unwrap()["recorded"], false);
        assert!(w.ledger.inner.requests().is_empty());

        *w.ledger.durable.lock().unwrap() = true;
        let first = w.deliver(RECORD).await.unwrap();
        assert_eq!(first.operation.as_ref().unwrap()["new"], true, "{first:?}");
        let again = w.deliver(RECORD).await.unwrap();
        assert_eq!(again.operation.as_ref().unwrap()["new"], false);
        let kept = w.ledger.inner.requests();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].kind, "move");
        assert_eq!(kept[0].outcome["settled"], true);

        let bad = serde_json::json!({"operation": "record-request", "request_id": "req-2"});
        let err = crate::events::parse_invocation(&bad).unwrap_err();
        assert!(err.0.contains("missing field `kind`"), "{err}");
    }
}
